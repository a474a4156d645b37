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

# The VM harness itself: which kernel it boots (a cloud kernel beside the standard one, VM_KVER)
# and what it shares with the guest (a build directory outside the repository). Runs on the host
# without booting anything; label `vm` with the tests that do boot.
add_test(NAME vm.kernel_choice COMMAND bash ${PROJECT_SOURCE_DIR}/tests/vm/kernel_choice.sh)
set_tests_properties(vm.kernel_choice PROPERTIES LABELS "vm" TIMEOUT 60)
