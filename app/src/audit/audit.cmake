# `outpost audit` (app/src/audit/): the cloud-side completeness check. Its own library so its tests
# link only it; its headers are internal to app (include them as "audit/...").
add_library(outpost_audit STATIC
  ${CMAKE_CURRENT_LIST_DIR}/seq_ranges.cpp
  ${CMAKE_CURRENT_LIST_DIR}/payload_decoder.cpp
  ${CMAKE_CURRENT_LIST_DIR}/sequence_audit.cpp
  ${CMAKE_CURRENT_LIST_DIR}/audit_report.cpp
  ${CMAKE_CURRENT_LIST_DIR}/capture_line.cpp
  ${CMAKE_CURRENT_LIST_DIR}/capture_reader.cpp
  ${CMAKE_CURRENT_LIST_DIR}/mqtt_subscriber.cpp
  ${CMAKE_CURRENT_LIST_DIR}/audit_command.cpp)
target_include_directories(outpost_audit PUBLIC ${CMAKE_CURRENT_LIST_DIR}/..)
target_link_libraries(outpost_audit
  PUBLIC outpost::core nlohmann_json::nlohmann_json
  PRIVATE outpost::uplink PkgConfig::MOSQUITTO outpost_warnings)
# audit_command.cpp uses the exit codes of outpost/app/commands.hpp.
target_include_directories(outpost_audit PRIVATE ${PROJECT_SOURCE_DIR}/app/include)
