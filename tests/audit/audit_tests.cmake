# `outpost audit`: the core with transcripts (label audit), and the command against a real
# mosquitto and the outpost binary (labels audit;integration).
outpost_test(audit_tests audit SOURCES audit/seq_ranges_test.cpp audit/capture_line_test.cpp
  audit/sequence_audit_test.cpp audit/batch_audit_test.cpp audit/capture_reader_test.cpp
  LIBS outpost_audit outpost::uplink)
outpost_test(audit_integration_tests audit SOURCES integration/audit_test.cpp LIBS outpost_test_support
  EXTRA_LABELS integration)
