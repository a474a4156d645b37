# Modbus parsers (ingest): the RTU master's framer, the listen-only sniffer, the MBAP framer and
# transcripts for `outpost decode`. Same pattern as the other targets: the seed corpus replays in
# ctest (label `fuzz`) in the normal build; libFuzzer with -DOUTPOST_FUZZ=ON (tools/fuzz.sh).
foreach(target modbus_rtu_framer modbus_sniffer modbus_mbap_framer modbus_transcript)
  outpost_fuzz_target(${target} outpost::ingest)
endforeach()
