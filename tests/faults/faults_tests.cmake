# The quick set of the fault-injection suite (tools/faults.sh quick), one test per case, label `faults`
# (and `vm` for the power cut, which boots QEMU). Needs root, mosquitto and python3-paho-mqtt.
# The full set (tools/faults.sh full) is run by hand; its figures are in the README.
# One fault case at a time (RESOURCE_LOCK), beside the rest of the suite: they pass with both cores
# busy (the suite's three-pass check runs them beside two CPU hogs).
set(_faults_cases kill9 broker damage fulldisk)
set(_faults_timeout_kill9 180)
set(_faults_timeout_broker 180)
set(_faults_timeout_damage 300)
set(_faults_timeout_fulldisk 400)
foreach(_case IN LISTS _faults_cases)
  add_test(NAME faults.${_case} COMMAND ${PROJECT_SOURCE_DIR}/tools/faults.sh quick ${_case})
  set_tests_properties(faults.${_case} PROPERTIES LABELS "faults"
    ENVIRONMENT "OUTPOST=$<TARGET_FILE:outpost>" TIMEOUT ${_faults_timeout_${_case}} RESOURCE_LOCK faults)
endforeach()
add_test(NAME faults.powercut COMMAND ${PROJECT_SOURCE_DIR}/tools/faults.sh quick powercut)
set_tests_properties(faults.powercut PROPERTIES LABELS "faults;vm"
  ENVIRONMENT "OUTPOST=$<TARGET_FILE:outpost>" TIMEOUT 600 RESOURCE_LOCK faults)
