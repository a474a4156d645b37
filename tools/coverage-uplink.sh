#!/bin/bash
# Line coverage of the uplink's delivery state machine and error domain by their transcript tests
# (tests/uplink/delivery_machine_test.cpp), measured with gcov. Prints one figure per file.
#   tools/coverage-uplink.sh
set -euo pipefail
cd "$(dirname "$0")/.."
sh tools/install-deps.sh test
root=$PWD
work=$(mktemp -d /tmp/outpost-coverage.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
nice g++ -std=c++20 -O0 --coverage -I"$root/core/include" -I"$root/outbox/include" -I"$root/uplink/include" \
  "$root/uplink/src/delivery_machine.cpp" "$root/uplink/src/uplink_error.cpp" "$root/uplink/src/inflight_window.cpp" \
  "$root/core/src/backoff.cpp" "$root/core/src/log.cpp" "$root/tests/uplink/delivery_machine_test.cpp" \
  -lgtest -lgtest_main -pthread -o transcripts
./transcripts --gtest_brief=1 >/dev/null 2>&1
gcov -n transcripts-delivery_machine.gcda transcripts-uplink_error.gcda 2>/dev/null |
  awk '/^File .*uplink\/src\//{f=$2} /^Lines executed/ && f{print f, $0; f=""}'
