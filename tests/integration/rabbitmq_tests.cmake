# Failover against a real clustered broker (issue 10): two RabbitMQ nodes (Debian's rabbitmq-server,
# MQTT plugin, MQTT 3.1.1) clustered on loopback; the gateway's node is stopped and it must move to
# the other with no gap in the audit. Needs root and rabbitmq-server (tools/install-deps.sh test);
# without them it skips and says why. About 90 s.
add_test(NAME integration.rabbitmq_cluster_failover
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/rabbitmq_cluster.py $<TARGET_FILE:outpost>)
set_tests_properties(integration.rabbitmq_cluster_failover PROPERTIES LABELS "integration;rabbitmq"
  TIMEOUT 240 SKIP_RETURN_CODE 77)
