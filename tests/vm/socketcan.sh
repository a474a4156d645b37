#!/bin/bash
# Runs inside the test VM (tools/vm/run.sh): the gateway reads vcan0 live and publishes to a
# mosquitto inside the VM, checked by an independent subscriber. Three checks in one boot:
#   1. canplayer replays a log onto vcan0: exactly the expected readings arrive, with their values;
#   2. vcan0 goes down mid-stream and comes back: the gateway reopens on its own, says so in its
#      log and counters, and what is sent after the link is back arrives;
#   3. a burst at the fastest rate vcan allows: the gateway keeps up or counts the kernel's drops,
#      and everything it accepted is delivered.
# Between 1 and 2, more checks on vcan1 with gateways of their own: J1939 masks through the kernel
# filter (1d), and a mapping with more rules than the kernel takes filters (1e).
set -euo pipefail
outpost=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
gen=$repo/tools/gen_bms_log.py
log() { echo "[vm-test] $*"; }
fail() { echo "[vm-test] FAIL: $*"; echo "--- outpost log (events)"; grep -v gateway.stats "$work/outpost.log" | tail -40; exit 1; }
wait_for() {  # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.2; done
}
count_site() { grep -c '^site/' "$work/sub.txt" || true; }
site_at_least() { [ "$(count_site)" -ge "$1" ]; }
opens_at_least() { [ "$(grep -c '"event":"socketcan.open"' "$work/outpost.log")" -ge "$1" ]; }
drained() {  # the last gateway.stats line shows an empty outbox, nothing staged or in flight
  /usr/bin/python3 -c 'import json,sys
v = None
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("event") == "gateway.stats": v = (j["outbox_rows"], j["staged"], j["inflight"])
sys.exit(0 if v == (0, 0, 0) else 1)' "$work/outpost.log"
}
stats_field() {  # the last gateway.stats (or stop) line's socketcan.bms.FIELD
  /usr/bin/python3 -c 'import json,sys
v = None
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("event") in ("gateway.stats", "gateway.stop"):
        v = j["socketcan"]["bms"][sys.argv[2]] if sys.argv[2] in j["socketcan"]["bms"] else j[sys.argv[2]]
print(v)' "$work/outpost.log" "$1"
}
top_field() {
  /usr/bin/python3 -c 'import json,sys
v = None
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("event") in ("gateway.stats", "gateway.stop"): v = j[sys.argv[2]]
print(v)' "$work/outpost.log" "$1"
}

modprobe -a can can_raw vcan
ip link add dev vcan0 type vcan
ip link set vcan0 mtu 72   # CAN FD capable
ip link set vcan0 up
ip link add dev vcan1 type vcan
ip link set vcan1 up

printf 'listener 1883 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n' > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
# mosquitto_sub gives up at once when the broker is not listening yet, so wait for the broker first.
wait_for 20 mosquitto_pub -p 1883 -q 1 -t probe -m x 2>/dev/null || fail "mosquitto did not start"
mosquitto_sub -p 1883 -q 1 -v -t 'site/#' -t probe > "$work/sub.txt" &
wait_for 20 bash -c "mosquitto_pub -p 1883 -q 1 -t probe -m x; grep -q '^probe' '$work/sub.txt'" || fail "subscriber did not start"

cat > "$work/site.json" <<JSON
{
  "gateway_id": "vm-gw",
  "broker": {"host": "127.0.0.1", "port": 1883, "backoff": {"initial_ms": 100, "max_ms": 1000}},
  "outbox": {"path": "$work/outbox.db", "commit_interval_ms": 50},
  "stats_interval_s": 1,
  "buses": [{"name": "bms", "type": "socketcan", "interface": "vcan0"},
            {"name": "aux", "type": "socketcan", "interface": "vcan1"}],
  "mappings": ["$repo/configs/demo/bms_mapping.json"]
}
JSON
"$outpost" run --config "$work/site.json" 2> "$work/outpost.log" &
gw=$!
wait_for 20 opens_at_least 2 || fail "the gateway did not open vcan0 and vcan1"

# 1. Live frames with known values.
/usr/bin/python3 "$gen" --seconds 30 --interface vcan0 --out "$work/a.log" --expected "$work/a.jsonl"
a=$(wc -l < "$work/a.jsonl")
canplayer -I "$work/a.log" -t -g 1
wait_for 30 site_at_least "$a" || fail "only $(count_site) of $a readings arrived"
/usr/bin/python3 "$repo/tests/vm/check_readings.py" "$work/sub.txt" "$work/a.jsonl" vm-gw 1 || fail "wrong readings"
log "1. canplayer: $a readings arrived with the right values"
# A CAN FD frame on vcan0 (its MTU allows FD): 0x1E10 * 0.1 = 769.6 V.
cansend vcan0 100##1101E50FBA0C30000
wait_for 20 grep -q '"value":769.6,' "$work/sub.txt" || fail "the CAN FD frame was not decoded"
# A frame on the second interface: no rule maps bus aux, so it is read and counted as unmapped.
cansend vcan1 123#00
wait_for 20 grep -q '"aux":{[^}]*"frames":1' "$work/outpost.log" || fail "vcan1 was not read"
log "1b. CAN FD frame decoded; a second interface read at the same time"
# Error frames become bus state: error-passive, bus-off, then restarted (error-active again).
cansend vcan0 20000004#0010000000000000
wait_for 20 grep -q '"state":"error_passive"' "$work/outpost.log" || fail "error-passive not reported"
cansend vcan0 20000040#0000000000000000
wait_for 20 grep -q '"state":"bus_off"' "$work/outpost.log" || fail "bus-off not reported"
cansend vcan0 20000100#0000000000000000
wait_for 20 grep -q '"reason":"controller restarted"' "$work/outpost.log" || fail "restart not reported"
bus_counters() {  # the last stats line's socketcan.bms counters that the bus-state check names
  /usr/bin/python3 -c 'import json,sys
v = None
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("event") == "gateway.stats":
        b = j["socketcan"]["bms"]
        v = " ".join("%s=%s" % (k, b.get(k)) for k in sys.argv[2:])
print(v)' "$work/outpost.log" bus_off error_frames error_passive kernel_drops opens read_errors restarted
}
wanted="bus_off=1 error_frames=3 error_passive=1 kernel_drops=0 opens=1 read_errors=0 restarted=1"
counters_ok() { [ "$(bus_counters)" = "$wanted" ]; }
wait_for 20 counters_ok || fail "bus state counters: $(bus_counters), expected $wanted"
log "1c. error frames: error-passive, bus-off and restarted reported as bus state and counted"

# 1d. Kernel filters honour id masks: a second gateway on the DBC example (J1939 PGN 0xFEF1 from
#     any source address) reads vcan1; frames from two source addresses and one other PGN.
sed "s#\"mapping.json\"#\"$repo/configs/dbc-example/mapping.json\"#; s#\"can0\"#\"vcan1\"#; s#/tmp/outpost-dbc-example#$work/dbc#; s#\"port\": 1883 }#\"port\": 1883, \"client_id\": \"dbc-gw\" }#" \
  "$repo/configs/dbc-example/site.json" > "$work/dbc-site.json"
"$outpost" run --config "$work/dbc-site.json" 2> "$work/dbc.log" &
dbc_gw=$!
wait_for 20 grep -q '"event":"socketcan.open"' "$work/dbc.log" || fail "the DBC gateway did not open vcan1"
cansend vcan1 18FEF1A3#FF38000000000000
cansend vcan1 18FEF1B7#0190000000000000
cansend vcan1 18FEF2A3#0190000000000000
wait_for 20 bash -c "[ \$(grep -c '^site/dbc-example/inverter_status/ac_power' '$work/sub.txt') -ge 2 ]" ||
  { cat "$work/dbc.log"; fail "J1939 frames from two source addresses did not both arrive"; }
grep -q '"value":-20,"unit":"kW","can_id":"0x18FEF1A3"' "$work/sub.txt" || fail "ac_power from source 0xA3 wrong"
grep -q '"value":40,"unit":"kW","can_id":"0x18FEF1B7"' "$work/sub.txt" || fail "ac_power from source 0xB7 wrong"
kill -TERM $dbc_gw; wait $dbc_gw || true
[ "$(grep -c '^site/dbc-example/' "$work/sub.txt")" -eq 2 ] || fail "the other PGN must not be published"
grep '"event":"gateway.stop"' "$work/dbc.log" | grep -q '"bms":{[^}]*"frames":2,' ||
  fail "the DBC gateway's socket should have received exactly the 2 matching frames (kernel filter)"
log "1d. J1939 rule with an id mask: both source addresses passed the kernel filter, another PGN did not"

# 1e. More CAN rules than the kernel takes filters (CAN_RAW_FILTER_MAX, 512): 600 standard ids (every
#     other id from 0x100) and 100 extended ones, on vcan1. The bus opens with merged filters (ids
#     differing in the 2 lowest bits share one: 300 + 25), mapped frames arrive, unmapped ones are
#     dropped: those far from every rule by the kernel, the neighbours of mapped ids by the mapper.
/usr/bin/python3 - "$work/many.json" <<'PY'
import json, sys
sig = [{"name": "v", "start_bit": 0, "length": 16}]
can = [{"name": "m%d" % i, "id": 0x100 + 2 * i, "bus": "bms", "signals": sig} for i in range(600)]
can += [{"name": "x%d" % i, "id": 0x18FF0000 + i, "extended": True, "bus": "bms", "signals": sig} for i in range(100)]
json.dump({"defaults": {"topic": "site/many/{message}/{signal}"}, "can": can}, open(sys.argv[1], "w"))
PY
cat > "$work/many-site.json" <<JSON
{
  "gateway_id": "many-gw",
  "broker": {"host": "127.0.0.1", "port": 1883, "client_id": "many-gw"},
  "outbox": {"path": "$work/many.db", "commit_interval_ms": 50},
  "stats_interval_s": 1,
  "buses": [{"name": "bms", "type": "socketcan", "interface": "vcan1"}],
  "mappings": ["$work/many.json"]
}
JSON
"$outpost" check --config "$work/many-site.json" > "$work/many-check.txt" || { cat "$work/many-check.txt"; fail "check refused 700 rules"; }
grep -q 'bus "bms": 700 CAN ids/masks exceed the kernel.s 512 filters: merged into 325 kernel filters' "$work/many-check.txt" ||
  { cat "$work/many-check.txt"; fail "check did not report the merged filters"; }
"$outpost" run --config "$work/many-site.json" 2> "$work/many.log" &
many_gw=$!
wait_for 20 grep -q '"event":"socketcan.open"' "$work/many.log" || { cat "$work/many.log"; fail "700 rules: the bus did not open"; }
grep '"event":"socketcan.open"' "$work/many.log" | grep -q '"filter_mode":"merged"' || fail "700 rules: filters not merged"
grep '"event":"socketcan.open"' "$work/many.log" | grep -q '"kernel_filters":325' || fail "700 rules: not 325 kernel filters"
[ "$(grep -c '"event":"socketcan.filters_merged"' "$work/many.log")" -eq 1 ] || fail "700 rules: the merge not logged once"
! grep -q '"event":"socketcan.open_failed"' "$work/many.log" || fail "700 rules: an open failed"
# Unmapped first: far from every rule (the kernel drops them), then beside mapped ids (the mapper does).
cansend vcan1 7F0#0100
cansend vcan1 050#0100
cansend vcan1 18AA0000#0100
cansend vcan1 101#0100
cansend vcan1 2A3#0100
# Mapped: v = the first two bytes, little-endian.
cansend vcan1 100#0100
cansend vcan1 2A0#D007
cansend vcan1 5AE#FFFF
cansend vcan1 18FF0000#2A00
cansend vcan1 18FF0063#0001
many_count() { grep -c '^site/many/' "$work/sub.txt" || true; }
many_at_least() { [ "$(many_count)" -ge "$1" ]; }
wait_for 30 many_at_least 5 || { grep '^site/many/' "$work/sub.txt"; fail "700 rules: only $(many_count) of 5 readings arrived"; }
for expected in 'site/many/m0/v .*"value":1[,}]' 'site/many/m208/v .*"value":2000[,}]' 'site/many/m599/v .*"value":65535[,}]' \
                'site/many/x0/v .*"value":42[,}]' 'site/many/x99/v .*"value":256[,}]'; do
  grep -q "^$expected" "$work/sub.txt" || fail "700 rules: missing $expected"
done
kill -TERM $many_gw; wait $many_gw || fail "the 700-rule gateway did not stop cleanly"
[ "$(many_count)" -eq 5 ] || fail "700 rules: $(many_count) readings, expected exactly 5"
read -r frames unmapped <<< "$(/usr/bin/python3 -c 'import json,sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("event") == "gateway.stop": print(j["socketcan"]["bms"]["frames"], j["unmapped_frames"])' "$work/many.log")"
[ "$frames" = 7 ] || fail "700 rules: the socket read $frames frames, expected 7 (5 mapped, 2 beside them; 3 far ones filtered by the kernel)"
[ "$unmapped" = 2 ] || fail "700 rules: $unmapped unmapped frames, expected 2"
log "1e. 700 rules: bus opened with 325 merged kernel filters; 5 mapped frames published, 2 unmapped neighbours dropped by the mapper, 3 far ones by the kernel"

# 2. The interface goes down mid-stream and comes back.
cansend vcan0 100#001E50FBA0C30000
ip link set vcan0 down
! cansend vcan0 100#001E50FBA0C30000 2>/dev/null || fail "cansend on a down interface should fail"
wait_for 20 grep -q '"state":"down"' "$work/outpost.log" || fail "the gateway did not notice vcan0 going down"
sleep 1
ip link set vcan0 up
wait_for 30 opens_at_least 3 || fail "the gateway did not reopen vcan0"
before=$(count_site)
/usr/bin/python3 "$gen" --seconds 10 --interface vcan0 --out "$work/b.log" --expected "$work/b.jsonl"
b=$(wc -l < "$work/b.jsonl")
canplayer -I "$work/b.log" -t -g 1
wait_for 30 site_at_least $((before + b)) || fail "after the link came back only $(( $(count_site) - before )) of $b arrived"
/usr/bin/python3 "$repo/tests/vm/check_readings.py" "$work/sub.txt" "$work/b.jsonl" vm-gw $((a + 8 + 1)) || fail "wrong readings after the link came back"
wait_for 15 grep -q '"read_errors":[1-9]' "$work/outpost.log" || fail "read_errors not counted"
log "2. link down/up: reopened on its own, $b readings after it"

# 3. A burst as fast as vcan takes it: 0x100 frames (4 readings each).
burst=40000
frames_before=$(stats_field frames)
cangen vcan0 -g 0 -I 100 -L 8 -D i -n $burst
sleep 2
# The kernel reports its drop count with the next frame it delivers: send one more.
cansend vcan0 100#001E50FBA0C30000
burst=$((burst + 1))
wait_for 120 drained || fail "the backlog did not drain after the burst"
kill -TERM $gw; wait $gw || fail "the gateway did not stop cleanly"
frames=$(stats_field frames); drops=$(stats_field kernel_drops)
got=$((frames - frames_before))
[ $((got + drops)) -eq $burst ] || fail "burst: $got frames read + $drops kernel drops != $burst sent"
committed=$(top_field committed); acked=$(top_field acknowledged)
[ "$committed" -eq "$acked" ] || fail "committed $committed != acknowledged $acked"
sleep 1
received=$(count_site)
[ "$received" -ge "$committed" ] || fail "subscriber saw $received of $committed committed readings"
log "3. burst of $burst frames: $got read, $drops dropped by the kernel (counted), $committed readings committed, $acked acknowledged, $received received"
log "PASS"
