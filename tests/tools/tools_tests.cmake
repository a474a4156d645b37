# tools/outpost_decode.py, the reference decoder, against the gateway's own decoder: the same
# payloads through both (batch_decode_dump is the C++ side), label `tools`.
add_executable(batch_decode_dump ${CMAKE_CURRENT_LIST_DIR}/batch_decode_dump.cpp)
target_link_libraries(batch_decode_dump PRIVATE outpost::uplink outpost_warnings)
add_test(NAME tools.outpost_decode
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/outpost_decode_test.py $<TARGET_FILE:batch_decode_dump>)
set_tests_properties(tools.outpost_decode PROPERTIES LABELS "tools;uplink" TIMEOUT 300)
