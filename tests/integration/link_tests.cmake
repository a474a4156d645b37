# The 4G link (issue 11's acceptance), label `link` (select them with `ctest -L '^link$'`: a plain `-L link`
# also matches `uplink`). One script, one ctest test per check:
#   link.live_first     a 100,001-reading backlog drained through a link capped with tc (128 kbit/s, in a
#                       network namespace of the test's own) while a live bus replays: live readings within
#                       the bound that follows from the configured numbers, the backlog still draining, no gap
#   link.budget         a daily byte budget smaller than the traffic: priorities below 8 held, expired with
#                       loss records, the audit explains every gap, the link counters agree
#   link.ttl            readings past their priority's TTL when the broker comes back are never sent, and
#                       exactly those are counted and covered by expired_ttl loss records
#   link.kill9_batched  cbor + zstd batches through 10 SIGKILLs of the gateway and 2 broker restarts
#   link.budget_drain   `--exit-after drain` stops once a budget hold has let everything expire
# Each needs root and mosquitto (live_first also unshare, ip and tc) and otherwise skips with the reason.
# budget, ttl and budget_drain wait for expiry: the gateway sweeps held rows outbox.expiry_grace_s after
# their TTL and publishes an expiry loss record two outbox.loss_window_s after it was written (both 10 s
# in these sites, 60 s by default).
foreach(check live_first budget ttl kill9_batched budget_drain)
  add_test(NAME link.${check}
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/link_budget.py ${check} $<TARGET_FILE:outpost>)
  set_tests_properties(link.${check} PROPERTIES LABELS "link;integration" SKIP_RETURN_CODE 77)
endforeach()
set_tests_properties(link.live_first PROPERTIES TIMEOUT 300)
set_tests_properties(link.budget PROPERTIES TIMEOUT 480)
set_tests_properties(link.ttl PROPERTIES TIMEOUT 360)
set_tests_properties(link.kill9_batched PROPERTIES TIMEOUT 300)
set_tests_properties(link.budget_drain PROPERTIES TIMEOUT 300)
# Mostly waiting: started first, they overlap the rest of the suite instead of lengthening it.
set_tests_properties(link.budget link.ttl link.budget_drain PROPERTIES COST 10000)
