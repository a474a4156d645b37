# Metrics and health over HTTP, and the outbox tools (label `observe` as well, so
# `ctest -L observe` runs them alone).
outpost_test(observe_app_tests app SOURCES app/prometheus_text_test.cpp app/http_routes_test.cpp
  app/http_server_test.cpp LIBS outpost_app outpost_test_support EXTRA_LABELS observe)
target_include_directories(observe_app_tests PRIVATE ${PROJECT_SOURCE_DIR}/app/src)
outpost_test(outbox_tools_tests outbox SOURCES outbox/outbox_tools_test.cpp
  LIBS outpost::outbox outpost_test_support SQLite::SQLite3 EXTRA_LABELS observe)
outpost_test(observe_integration_tests integration SOURCES integration/metrics_prometheus_test.cpp
  integration/outbox_tools_cli_test.cpp LIBS outpost_test_support EXTRA_LABELS observe)
