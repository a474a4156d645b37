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

# A third-party slave built from Debian's libmodbus (libmodbus-dev).
pkg_check_modules(MODBUS REQUIRED IMPORTED_TARGET libmodbus)
add_executable(modbus_libmodbus_server ingest/modbus_support/libmodbus_server.cpp)
target_include_directories(modbus_libmodbus_server PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/ingest/modbus_support)
target_link_libraries(modbus_libmodbus_server PRIVATE PkgConfig::MODBUS outpost::core)

# Helpers for the integration tests: child processes, pty pairs, the pymodbus server script.
add_library(modbus_test_support STATIC ingest/modbus_support/peer_process.cpp
  ingest/modbus_support/line_simulator.cpp)
target_include_directories(modbus_test_support PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/ingest)
target_compile_definitions(modbus_test_support PRIVATE
  OUTPOST_MODBUS_SUPPORT_DIR="${CMAKE_CURRENT_SOURCE_DIR}/ingest/modbus_support"
  OUTPOST_LIBMODBUS_SERVER="$<TARGET_FILE:modbus_libmodbus_server>")
add_dependencies(modbus_test_support modbus_libmodbus_server)
target_link_libraries(modbus_test_support PUBLIC outpost::ingest Threads::Threads PRIVATE outpost_warnings)

# Masters and the tap against real third-party peers over ptys and loopback TCP.
outpost_test(modbus_ingest_integration_tests ingest SOURCES
  ingest/modbus_rtu_master_test.cpp
  ingest/modbus_tcp_master_test.cpp
  ingest/modbus_line_test.cpp
  ingest/modbus_rtu_tap_test.cpp
  LIBS modbus_test_support EXTRA_LABELS integration)

# The line-efficiency benchmark (tools/bench-modbus.sh): the RTU master through the simulated line.
add_executable(modbus_line_bench ${PROJECT_SOURCE_DIR}/tools/bench/modbus_line_bench.cpp)
target_link_libraries(modbus_line_bench PRIVATE modbus_test_support outpost_warnings)
