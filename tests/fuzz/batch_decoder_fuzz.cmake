# Fuzz target for batch payloads (uplink: batch_decoder.hpp). Normal build: replays the seed corpus
# as a ctest (label `fuzz`); with -DOUTPOST_FUZZ=ON under clang it links libFuzzer (tools/fuzz.sh).
add_executable(fuzz_batch_decoder ${CMAKE_CURRENT_LIST_DIR}/batch_decoder_fuzz.cpp)
target_link_libraries(fuzz_batch_decoder PRIVATE outpost::uplink outpost_warnings)
if(OUTPOST_FUZZ)
  target_link_options(fuzz_batch_decoder PRIVATE -fsanitize=fuzzer)
else()
  target_sources(fuzz_batch_decoder PRIVATE ${CMAKE_CURRENT_LIST_DIR}/replay_main.cpp)
  add_test(NAME fuzz.batch_decoder_corpus
    COMMAND fuzz_batch_decoder ${CMAKE_CURRENT_LIST_DIR}/corpus/batch_decoder)
  set_tests_properties(fuzz.batch_decoder_corpus PROPERTIES LABELS fuzz)
endif()
