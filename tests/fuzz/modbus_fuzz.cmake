# Modbus parsers (ingest): the RTU master's framer, the listen-only sniffer, the MBAP framer and
# transcripts for `outpost decode`. Same pattern as the other targets: the seed corpus replays in
# ctest (label `fuzz`) in the normal build; libFuzzer with -DOUTPOST_FUZZ=ON (tools/fuzz.sh).
foreach(target modbus_rtu_framer modbus_sniffer modbus_mbap_framer modbus_transcript)
  add_executable(fuzz_${target} ${target}_fuzz.cpp)
  target_link_libraries(fuzz_${target} PRIVATE outpost::ingest outpost_warnings)
  if(OUTPOST_FUZZ)
    target_link_options(fuzz_${target} PRIVATE -fsanitize=fuzzer)
  else()
    target_sources(fuzz_${target} PRIVATE replay_main.cpp)
    add_test(NAME fuzz.${target}_corpus COMMAND fuzz_${target} ${CMAKE_CURRENT_SOURCE_DIR}/corpus/${target})
    set_tests_properties(fuzz.${target}_corpus PROPERTIES LABELS fuzz)
  endif()
endforeach()
