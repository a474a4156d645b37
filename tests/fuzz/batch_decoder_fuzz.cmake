# Fuzz target for batch payloads (uplink: batch_decoder.hpp). Normal build: replays the seed corpus
# as a ctest (label `fuzz`); with -DOUTPOST_FUZZ=ON under clang it links libFuzzer (tools/fuzz.sh).
outpost_fuzz_target(batch_decoder outpost::uplink)
