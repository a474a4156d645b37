#!/bin/bash
# README command 1: the gateway on the demo site, with a local mosquitto as the "cloud".
# Two field buses: a recorded CAN log from the BMS, replayed as recorded, and a live Modbus RTU line
# (a pseudo-terminal pair made by socat) with a simulated PCS and grid meter on it (Debian's pymodbus,
# tools/modbus_sim.py) whose values change while the gateway polls them.
# A subscriber prints the readings as they arrive. Part way through, the broker is stopped for
# a few seconds and started again: the gateway keeps everything in its outbox and drains it
# when the broker is back. At the end, `outpost audit` (subscribed all along, with a persistent
# session so the outage costs it nothing) says what arrived: gaps, duplicates, losses and latency;
# its counts are set against the count the gateway sent.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
echo "== installing packages and building (the first build takes about 4 minutes on 2 cores)"
sh tools/install-deps.sh demo
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOUTPOST_BUILD_TESTS=OFF >/dev/null
cmake --build build-demo -j "$(nproc)" --target outpost >/dev/null

work=$(mktemp -d /tmp/outpost-demo.XXXXXX)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# The "cloud": mosquitto on loopback, keeping sessions across a restart so the viewer misses nothing.
cat > "$work/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence true
persistence_location $work/
autosave_interval 0
user root
max_queued_messages 0
CONF
start_broker() {
  mosquitto -c "$work/mosquitto.conf" >>"$work/mosquitto.log" 2>&1 & broker=$!; pids+=("$broker")
  wait_until 20 mosquitto_pub -h 127.0.0.1 -p "$port" -t outpost-demo/probe -n 2>/dev/null || { echo "mosquitto did not start"; exit 1; }
}
wait_until() {  # wait_until SECONDS COMMAND...: retries COMMAND every 0.2 s
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.2; done
}
start_broker

# The RS-485 line: a pty pair, the gateway on one end, the simulated devices on the other.
socat pty,raw,echo=0,link="$work/ttyRS485" pty,raw,echo=0,link="$work/ttySim" 2>>"$work/socat.log" &
pids+=("$!")
wait_until 10 test -e "$work/ttySim" -a -e "$work/ttyRS485" || { echo "socat did not make the pty pair"; exit 1; }
/usr/bin/python3 tools/modbus_sim.py serve "$work/ttySim" --baud 19200 >"$work/modbus_sim.log" 2>&1 &
pids+=("$!")
wait_until 20 grep -q 'modbus_sim: PCS' "$work/modbus_sim.log" || { echo "the Modbus simulator did not start:"; cat "$work/modbus_sim.log"; exit 1; }
echo "== Modbus RTU line $work/ttyRS485 (19200 8N1): simulated PCS (unit 1) and grid meter (unit 2)"

# The demo site, pointed at this broker, this line and a fresh outbox.
/usr/bin/python3 - "$root/configs/demo/site.json" "$work/site.json" "$port" "$work/outbox.db" "$root/configs/demo" "$work/ttyRS485" <<'PY'
import json, os, sys
src, dst, port, outbox, demo, tty = sys.argv[1:]
site = json.load(open(src))
site["broker"]["port"] = int(port)
site["outbox"]["path"] = outbox
for bus in site["buses"]:
    if bus["type"] == "candump_replay":
        bus["file"] = os.path.join(demo, bus["file"])
    elif bus["type"] == "modbus_rtu":
        bus["device"] = tty
site["mappings"] = [os.path.join(demo, m) for m in site["mappings"]]
json.dump(site, open(dst, "w"), indent=2)
PY

echo "== subscriber on 127.0.0.1:$port prints every reading (topic  payload)"
mosquitto_sub -h 127.0.0.1 -p "$port" -c -i outpost-demo-viewer -q 1 -t 'site/#' -F '  %t  %p' > "$work/received.txt" &
pids+=("$!")
wait_until 20 grep -q 'as outpost-demo-viewer' "$work/mosquitto.log" || { echo "the subscriber did not connect"; exit 1; }

echo "== outpost audit on 127.0.0.1:$port checks every gateway's sequence (report at the end)"
./build-demo/app/outpost audit --port "$port" --client-id outpost-demo-audit --json --log-format text \
  >"$work/audit.json" 2>"$work/audit.log" &
audit=$!; pids+=("$audit")
wait_until 20 grep -q 'audit.subscribed' "$work/audit.log" || { echo "the audit did not subscribe:"; cat "$work/audit.log"; exit 1; }

echo "== gateway: demo site (40 s of BMS traffic replayed as recorded; the PCS and the meter polled over Modbus RTU)"
./build-demo/app/outpost run --config "$work/site.json" --exit-after drain --log-format text 2>"$work/outpost.log" &
gateway=$!; pids+=("$gateway")
tail -n +1 -f --pid="$gateway" "$work/received.txt" & pids+=("$!")
( tail -n +1 -f --pid="$gateway" "$work/outpost.log" | grep --line-buffered -E 'uplink\.(connected|disconnected)|outbox\.|replay\.done|modbus\.(open|closed)' | sed -u 's/^/  [gateway] /' ) &
pids+=("$!")

sleep 12
echo "== taking the broker away for 8 seconds"
kill -TERM "$broker"; wait "$broker" 2>/dev/null || true
sleep 8
echo "== broker is back"
start_broker

wait "$gateway" || { echo "gateway failed:"; tail -20 "$work/outpost.log"; exit 1; }
sleep 1.5
kill -INT "$audit"  # the audit prints its report when interrupted
audit_rc=0; wait "$audit" || audit_rc=$?
/usr/bin/python3 - "$work/site.json" "$work/audit.json" "$audit_rc" "$work/received.txt" "$work/outpost.log" "$root/configs/demo/modbus_mapping.json" <<'PY'
import json, sys
site, audit_file, audit_rc, path, log, modbus_mapping = sys.argv[1:]
audit_rc = int(audit_rc)
summary = next(l for l in open(log) if "gateway.stop" in l)
def field(name):  # text log: key=value, objects as JSON
    start = summary.index(" " + name + "=") + len(name) + 2
    return json.JSONDecoder().raw_decode(summary[start:])[0]
sent, can_sent, modbus = field("committed"), field("readings"), field("modbus")
g = json.load(open(audit_file))["gateways"].get(json.load(open(site))["gateway_id"], {})
# The viewer's lines split what arrived by source: topics are site/<gateway>/<device>/..., the
# Modbus devices named in their mapping.
devices = {d["name"] for d in json.load(open(modbus_mapping))["modbus"]}
kind = {}
for line in open(path):
    parts = line.split(None, 1)
    if len(parts) == 2:
        kind[json.loads(parts[1])["seq"]] = "modbus" if parts[0].split("/")[2] in devices else "can"
by_kind = {k: sum(1 for v in kind.values() if v == k) for k in ("can", "modbus")}
distinct = g.get("distinct_readings", 0) + g.get("loss_records", 0)
outage = sum(1 for l in open(log) if "uplink.connect_failed" in l)
line = modbus["lines"]["rs485"]
lat = g.get("latency_s") or {}
gaps = g.get("gaps", [])
print("\n== summary (outpost audit, exit code %d)" % audit_rc)
print("  readings sent by the gateway:   %d (CAN %d, Modbus %d)" % (sent, can_sent, modbus["readings"]))
print("  readings received (distinct):   %d (CAN %d, Modbus %d)" % (g.get("distinct_readings", 0), by_kind["can"], by_kind["modbus"]))
print("  duplicates (same seq again):    %d (largest run %d)" % (g.get("duplicates", 0), g.get("largest_duplicate_run", 0)))
print("  gaps in the sequence:           %d (%d unexplained), loss records %d" % (
    len(gaps), len(g.get("unexplained_gaps", [])), g.get("loss_records", 0)))
if lat:
    print("  latency (receive - ts):         p50 %.3f s, p95 %.3f s, p99 %.3f s, max %.3f s" % (lat["p50"], lat["p95"], lat["p99"], lat["max"]))
print("  failed connection attempts during the outage: %d" % outage)
print("  Modbus line rs485: %d requests, %d responses, %d timeouts, %d CRC errors; %s" % (
    line["requests"], line["responses"], line["timeouts"], line["crc_errors"],
    ", ".join("%s breaker %s" % (n, d["breaker"]) for n, d in sorted(line["devices"].items()))))
# The audit sees gaps between what arrived; a lost tail shows only against the count sent.
sys.exit(1 if audit_rc != 0 or distinct < sent else 0)
PY
echo "  files: $work (outpost.log, received.txt, audit.json)"
