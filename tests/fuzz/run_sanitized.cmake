# ctest `fuzz.sanitized_corpora`: configures and builds tests/fuzz/sanitizers (the fuzz targets under
# ASan and UBSan, in BINARY_DIR, incrementally after the first run), then replays every target's
# corpus. Any sanitizer report fails the test (UBSan does not recover; ASan aborts).
#   cmake -DSOURCE_DIR=<outpost> -DBINARY_DIR=<dir> [-DJOBS=2] -P run_sanitized.cmake
if(NOT JOBS)
  set(JOBS 2)
endif()
string(TIMESTAMP started "%s")
execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/fuzz/sanitizers -B ${BINARY_DIR}
          -DOUTPOST_SOURCE_DIR=${SOURCE_DIR} -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_COMPILER=${CXX}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the sanitizer build failed:\n${out}")
endif()
execute_process(COMMAND nice ${CMAKE_COMMAND} --build ${BINARY_DIR} -j ${JOBS}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the sanitizer build failed:\n${out}")
endif()
string(TIMESTAMP built "%s")
math(EXPR build_s "${built} - ${started}")

set(ENV{ASAN_OPTIONS} "abort_on_error=0:detect_leaks=0:strict_string_checks=1:detect_stack_use_after_return=1")
set(ENV{UBSAN_OPTIONS} "print_stacktrace=1:halt_on_error=1")
file(GLOB corpora LIST_DIRECTORIES true ${SOURCE_DIR}/tests/fuzz/corpus/*)
set(failed "")
set(count 0)
foreach(corpus ${corpora})
  get_filename_component(target ${corpus} NAME)
  if(NOT EXISTS ${BINARY_DIR}/fuzz_${target})
    message(FATAL_ERROR "no sanitizer build of fuzz_${target} for corpus ${corpus}")
  endif()
  execute_process(COMMAND ${BINARY_DIR}/fuzz_${target} ${corpus}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(STRIP "${out}" out)
  message(STATUS "fuzz_${target} (ASan+UBSan): ${out} -> exit ${rc}")
  if(NOT rc EQUAL 0 OR err MATCHES "runtime error|AddressSanitizer")
    list(APPEND failed ${target})
    message("${err}")
  endif()
  math(EXPR count "${count} + 1")
endforeach()
string(TIMESTAMP done "%s")
math(EXPR replay_s "${done} - ${built}")
message(STATUS "${count} corpora replayed under ASan+UBSan; build ${build_s} s, replay ${replay_s} s")
if(failed)
  message(FATAL_ERROR "sanitizer findings in: ${failed}")
endif()
