# The gateway as a service (issue 12): signals, reload, sd_notify and the watchdog, the systemd
# unit. Label `service` (and `integration`: they start mosquitto and the outpost binary).
outpost_test(service_unit_tests app SOURCES service/signal_policy_test.cpp service/reload_plan_test.cpp
  service/progress_watch_test.cpp LIBS outpost_app)
outpost_test(service_tests service SOURCES service/systemd_notify_test.cpp service/signals_test.cpp
  service/reload_test.cpp LIBS outpost_test_support EXTRA_LABELS integration)
target_include_directories(service_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/integration)

# systemd-analyze verify prints problems but exits 0 on many of them: any output fails the test.
# It also wants the ExecStart binary at its path: the script lays the built one over /usr/bin in a
# private mount namespace (an overlay, so the host never sees it), or skips (77) where it cannot.
add_test(NAME service.unit_verify
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/service/verify_unit.sh ${PROJECT_SOURCE_DIR}/configs/systemd/outpost.service
          $<TARGET_FILE:outpost>)
set_tests_properties(service.unit_verify PROPERTIES LABELS "service" SKIP_RETURN_CODE 77 TIMEOUT 60)
