# Fuzz target for CSV register lists (mapping). Normal build: replays the seed corpus as a ctest
# (label `fuzz`); with -DOUTPOST_FUZZ=ON under clang it links libFuzzer (tools/fuzz.sh, or by hand:
# build-fuzz/tests/fuzz/fuzz_register_csv -max_total_time=60 corpus-dir).
outpost_fuzz_target(register_csv outpost::mapping)
