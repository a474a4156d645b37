# Modbus ingest: the Sans-I/O protocol core (unit tests with byte transcripts), the masters and the
# listen-only tap against third-party peers over pty pairs and TCP (label `integration` as well).
outpost_test(modbus_ingest_tests ingest SOURCES
  ingest/modbus_pdu_test.cpp
  ingest/modbus_rtu_framer_test.cpp
  ingest/modbus_mbap_framer_test.cpp
  ingest/modbus_rtu_sniffer_test.cpp
  ingest/modbus_poll_planner_test.cpp
  ingest/modbus_poll_scheduler_test.cpp
  ingest/modbus_poll_engine_test.cpp
  ingest/modbus_transcript_test.cpp
  LIBS outpost::ingest)
target_include_directories(modbus_ingest_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/ingest)
