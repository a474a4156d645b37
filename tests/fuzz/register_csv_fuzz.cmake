# Fuzz target for CSV register lists (mapping). Normal build: replays the seed corpus as a ctest
# (label `fuzz`); with -DOUTPOST_FUZZ=ON under clang it links libFuzzer (tools/fuzz.sh, or by hand:
# build-fuzz/tests/fuzz/fuzz_register_csv -max_total_time=60 corpus-dir).
add_executable(fuzz_register_csv ${CMAKE_CURRENT_LIST_DIR}/register_csv_fuzz.cpp)
target_link_libraries(fuzz_register_csv PRIVATE outpost::mapping outpost_warnings)
if(OUTPOST_FUZZ)
  target_link_options(fuzz_register_csv PRIVATE -fsanitize=fuzzer)
else()
  target_sources(fuzz_register_csv PRIVATE ${CMAKE_CURRENT_LIST_DIR}/replay_main.cpp)
  add_test(NAME fuzz.register_csv_corpus
    COMMAND fuzz_register_csv ${CMAKE_CURRENT_LIST_DIR}/corpus/register_csv)
  set_tests_properties(fuzz.register_csv_corpus PROPERTIES LABELS fuzz)
endif()
