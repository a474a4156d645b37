# Modbus end to end through the outpost binary: third-party slaves (pymodbus over a socat pty pair,
# Modbus TCP, RTU over TCP) and the simulated RS-485 line -> outpost run -> mosquitto -> mosquitto_sub.
# Uses the Modbus test helpers of tests/ingest/modbus_tests.cmake (pty pairs, pymodbus, the line
# simulator) beside the broker helpers.
outpost_test(modbus_pipeline_tests integration SOURCES integration/modbus_pipeline_test.cpp
  LIBS outpost_test_support modbus_test_support)
