# SocketCAN pieces that need no CAN kernel (filter planning, frame conversion, the bus-state
# machine, the recvmsg control buffer, socket options on an ordinary socket): unit tests on any
# host. What needs vcan runs in the VM (tests/vm/socketcan.sh, label `vm`).
outpost_test(can_ingest_tests ingest SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/can_filter_plan_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/can_frame_conversion_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/can_bus_state_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/can_receive_control_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/can_socket_options_test.cpp
  LIBS outpost::ingest)
