# Modbus register mapping: value decoding, the mapper, the loader's "modbus" section, CSV import.
# Only header helpers from tests/support (config_issues.hpp): this binary does not wait for the
# whole program to build.
outpost_test(modbus_mapping_tests mapping SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/modbus_register_value_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/modbus_mapper_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/modbus_register_csv_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/modbus_loader_test.cpp
  LIBS outpost::mapping)
target_include_directories(modbus_mapping_tests PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../support)
target_compile_definitions(modbus_mapping_tests PRIVATE
  OUTPOST_SOURCE_DIR="${PROJECT_SOURCE_DIR}" OUTPOST_MAPPING_FIXTURES="${CMAKE_CURRENT_LIST_DIR}/fixtures")
