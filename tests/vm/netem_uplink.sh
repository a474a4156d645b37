#!/bin/bash
# Runs inside the test VM (tools/vm/run.sh): the gateway and the broker in two network namespaces
# joined by a veth pair, the link shaped by netem like 4G (150 ms +- 100 ms delay, 2% loss each
# way), then cut for 60 s and restored. The gateway replays a log at its recorded rate all along.
# Checks, with `outpost audit` on a capture made beside the broker:
#   - no gap: every reading ingested arrives (duplicates allowed), and the backlog drains;
#   - the cut is noticed within the progress watchdog (10 s here) plus a margin, not after 1.5 x
#     keepalive (60 s here);
#   - the gateway reconnects once the link is back.
set -euo pipefail
outpost=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
# The work directory is under the current one (the build tree, shared with the host), so its logs
# can be read after a failure; it is removed after a pass.
work=$(mktemp -d "$PWD/netem-work.XXXXXX")
# The outbox on the guest's own tmpfs: SQLite's WAL needs shared memory, which the 9p share lacks.
store=$(mktemp -d /tmp/netem-store.XXXXXX)
log() { echo "[vm-netem] $*"; }
fail() { echo "[vm-netem] FAIL: $*"; echo "--- outpost log (events)"; grep -v gateway.stats "$work/outpost.log" | tail -30; exit 1; }
wait_for() {  # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.5; done
}
in_gw() { ip netns exec gw "$@"; }
in_cloud() { ip netns exec cloud "$@"; }
last_stats() {  # FIELD of the last gateway.stats line
  /usr/bin/python3 -c 'import json,sys
v = None
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("event") == "gateway.stats": v = j.get(sys.argv[2])
print(v)' "$work/outpost.log" "$1"
}
event_time() {  # the wall time (s) of the first EVENT line after wall time AFTER
  /usr/bin/python3 -c 'import json,sys,datetime
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("event") != sys.argv[2]: continue
    t = datetime.datetime.strptime(j["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    if t > float(sys.argv[3]): print("%.3f" % t); break' "$work/outpost.log" "$1" "$2"
}

modprobe -a veth sch_netem
ip netns add gw
ip netns add cloud
ip link add gw0 type veth peer name cloud0
ip link set gw0 netns gw
ip link set cloud0 netns cloud
in_gw ip addr add 10.9.0.1/24 dev gw0
in_cloud ip addr add 10.9.0.2/24 dev cloud0
for ns in gw cloud; do ip netns exec $ns ip link set lo up; done
in_gw ip link set gw0 up
in_cloud ip link set cloud0 up
shape() {  # shape LOSS: 4G-like delay and jitter, LOSS on both ends
  in_gw tc qdisc replace dev gw0 root netem delay 150ms 100ms distribution normal loss "$1"
  in_cloud tc qdisc replace dev cloud0 root netem delay 150ms 100ms distribution normal loss "$1"
}
shape 2%

printf 'listener 1883 0.0.0.0\nallow_anonymous true\nmax_queued_messages 0\n' > "$work/mosquitto.conf"
in_cloud mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
wait_for 20 in_cloud mosquitto_pub -h 127.0.0.1 -q 1 -t probe -m x 2>/dev/null || fail "mosquitto did not start"
# The capture sits beside the broker (loopback in the cloud namespace: not shaped).
in_cloud mosquitto_sub -h 127.0.0.1 -q 1 -v -t 'site/#' -t 'outpost/#' -t probe > "$work/capture.txt" &
wait_for 20 bash -c "ip netns exec cloud mosquitto_pub -h 127.0.0.1 -q 1 -t probe -m x; grep -q '^probe' '$work/capture.txt'" \
  || fail "subscriber did not start"

# 120 s of BMS traffic at its recorded rate: before, during and after the cut.
/usr/bin/python3 "$repo/tools/gen_bms_log.py" --seconds 120 --out "$work/bms.log" --expected "$work/bms.jsonl"
expected=$(wc -l < "$work/bms.jsonl")
cat > "$work/site.json" <<JSON
{
  "gateway_id": "netem-gw",
  "broker": {"host": "10.9.0.2", "port": 1883, "keepalive_s": 40, "progress_timeout_s": 10,
             "connect_timeout_ms": 5000, "health_interval_s": 5},
  "outbox": {"path": "$store/outbox.db", "commit_interval_ms": 200},
  "stats_interval_s": 1,
  "buses": [{"name": "bms", "type": "candump_replay", "file": "$work/bms.log", "speed": 1.0}],
  "mappings": ["$repo/configs/demo/bms_mapping.json"]
}
JSON
# Not through in_gw: a function run in the background is a subshell, and $! would be its pid.
ip netns exec gw "$outpost" run --config "$work/site.json" 2> "$work/outpost.log" &
gw=$!
wait_for 30 grep -q '"uplink.connected"' "$work/outpost.log" || fail "the gateway did not connect over the shaped link"
sleep 20
acked_before=$(last_stats acknowledged)
[ "$acked_before" -gt 0 ] || fail "nothing was acknowledged over the shaped link in 20 s"
log "shaped link (150 ms +- 100 ms, 2% loss): $acked_before readings acknowledged in 20 s"

cut_at=$(date +%s.%N)
shape 100%
log "link cut"
sleep 60
shape 2%
restored_at=$(date +%s.%N)
log "link restored"
noticed=$(event_time uplink.disconnected "$cut_at")
[ -n "$noticed" ] || fail "the cut was never noticed"
took=$(/usr/bin/python3 -c "print('%.1f' % ($noticed - $cut_at))")
log "the cut was noticed after $took s (progress watchdog 10 s, keepalive 40 s)"
# Messages are in flight all the time (a reading every ~0.1 s): the watchdog fires 10 s after the
# last acknowledgement, which came at most one round trip (<= ~1 s with this jitter) before the cut.
/usr/bin/python3 -c "import sys; sys.exit(0 if $noticed - $cut_at <= 10 + 3 else 1)" \
  || fail "the cut took $took s to notice, more than the 10 s watchdog plus 3 s"

reconnected_after_restore() { [ -n "$(event_time uplink.connected "$restored_at")" ]; }
wait_for 120 reconnected_after_restore || true
reconnected=$(event_time uplink.connected "$restored_at")
[ -n "$reconnected" ] || fail "no reconnection within 120 s of the link coming back"
log "reconnected $(/usr/bin/python3 -c "print('%.1f' % ($reconnected - $restored_at))") s after the link came back"

# The replay ends 150 s after the start; then the backlog drains over the shaped link.
drained() { [ "$(last_stats staged)" = 0 ] && [ "$(last_stats outbox_rows)" = 0 ] && [ "$(last_stats inflight)" = 0 ] &&
            [ "$(last_stats committed)" -ge "$expected" ]; }
progress() { log "waiting for the drain: committed $(last_stats committed) of $expected, rows $(last_stats outbox_rows), in flight $(last_stats inflight), connected $(last_stats connected)"; }
drained_or_report() { drained && return 0; [ $((SECONDS % 20)) -lt 2 ] && progress; return 1; }
wait_for 240 drained_or_report || fail "the backlog did not drain: $(last_stats outbox_rows) rows left, $(last_stats committed) of $expected committed"
sleep 3
kill -INT "$gw"
wait "$gw" || fail "the gateway did not stop cleanly on SIGINT"

"$outpost" audit --capture "$work/capture.txt" --json > "$work/audit.json" 2> "$work/audit.log" || true
/usr/bin/python3 - "$work/audit.json" "$expected" <<'PY' || fail "audit: $(head -c 800 "$work/audit.json")"
import json, sys
g = json.load(open(sys.argv[1]))["gateways"]["netem-gw"]
expected = int(sys.argv[2])
print("[vm-netem] audit: %d readings received, %d distinct (%d expected), %d duplicates, %d missing, %d unexplained"
      % (g["readings"], g["distinct_readings"], expected, g["duplicates"], g["missing"], g["unexplained_missing"]))
sys.exit(0 if g["unexplained_missing"] == 0 and g["missing"] == 0 and g["distinct_readings"] >= expected else 1)
PY
log "PASS"
rm -rf "$work"
