#!/bin/bash
# tools/faults.sh [full|quick] [CASE...]
#   The fault-injection suite of issue 6, against the real gateway, a real mosquitto and an independent
#   subscriber (tools/faults/subscriber.py, paho-mqtt). Cases:
#     kill9     kill -9 under load with a replayed log, restarted each time (full 50, quick 5)
#     broker    broker stopped and restarted while the gateway drains (full 20, quick 3)
#     damage    the damage matrix on a copy of a filled outbox (full 13 cases, quick 4)
#     fulldisk  a small tmpfs fills up; broker comes back while it stays full; SIGTERM; space returns
#     powercut  QEMU VM killed (-9) with the outbox on a virtio disk, broker on the host (full 20, quick 2)
#   Prints each trial, a result line per case and a summary table; exits 1 if a case failed.
#   Needs root (tmpfs and bind mounts, in a mount namespace of its own; chattr). Environment: OUTPOST (the binary; default build-faults or
#   build), FAULTS_WORK (work directory; default a fresh /tmp/outpost-faults.XXXXXX, kept for inspection).
set -euo pipefail
cd "$(dirname "$0")/.."
set_=${1:-quick}; shift || true
case $set_ in full|quick) ;; *) echo "usage: $0 [full|quick] [kill9 broker damage fulldisk powercut]" >&2; exit 2;; esac
[ "$(id -u)" -eq 0 ] || { echo "faults: must run as root (tmpfs, bind mounts, chattr)" >&2; exit 2; }
# Every mount (tmpfs, bind) is made in a private mount namespace of this run: the host's mount table
# never changes, and nothing stays mounted if the run is killed.
if [ -z "${OUTPOST_FAULTS_NS:-}" ]; then
  OUTPOST_FAULTS_NS=1 exec unshare --mount --propagation private "$0" "$set_" "$@"
fi
outpost=${OUTPOST:-}
if [ -z "$outpost" ]; then
  for b in build-faults build; do [ -x "$b/app/outpost" ] && { outpost=$PWD/$b/app/outpost; break; }; done
fi
[ -x "$outpost" ] || { echo "faults: no outpost binary (set OUTPOST or build the outpost target)" >&2; exit 2; }
for tool in mosquitto mosquitto_pub; do
  command -v $tool >/dev/null || { echo "faults: $tool is missing (tools/install-deps.sh test)" >&2; exit 2; }
done
/usr/bin/python3 -c 'import paho.mqtt.client' 2>/dev/null || { echo "faults: python3-paho-mqtt is missing" >&2; exit 2; }
work=${FAULTS_WORK:-$(mktemp -d /tmp/outpost-faults.XXXXXX)}
mkdir -p "$work"
echo "faults: $set_ set, binary $outpost, work directory $work"
rc=0
/usr/bin/python3 tools/faults/faults.py "$outpost" "$work" "$set_" "$@" || rc=$?
# A directory of our own is removed when every case passed; kept (and named) otherwise.
if [ -z "${FAULTS_WORK:-}" ]; then
  if [ "$rc" -eq 0 ]; then rm -rf "$work"; else echo "faults: work directory kept: $work"; fi
fi
exit "$rc"
