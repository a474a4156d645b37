#!/bin/bash
# README command 1: the gateway on the demo site, with a local mosquitto as the "cloud".
# A subscriber prints the readings as they arrive. Part way through, the broker is stopped for
# a few seconds and started again: the gateway keeps everything in its outbox and drains it
# when the broker is back. At the end, readings received are counted against readings sent.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
echo "== installing packages and building (first run takes a minute)"
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

# The demo site, pointed at this broker and a fresh outbox.
/usr/bin/python3 - "$root/configs/demo/site.json" "$work/site.json" "$port" "$work/outbox.db" "$root/configs/demo" <<'PY'
import json, sys
src, dst, port, outbox, demo = sys.argv[1:]
site = json.load(open(src))
site["broker"]["port"] = int(port)
site["outbox"]["path"] = outbox
site["buses"][0]["file"] = demo + "/bms.log"
site["mappings"] = [demo + "/bms_mapping.json"]
json.dump(site, open(dst, "w"), indent=2)
PY

echo "== subscriber on 127.0.0.1:$port prints every reading (topic  payload)"
mosquitto_sub -h 127.0.0.1 -p "$port" -c -i outpost-demo-viewer -q 1 -t 'site/#' -F '  %t  %p' > "$work/received.txt" &
pids+=("$!")
wait_until 20 grep -q 'as outpost-demo-viewer' "$work/mosquitto.log" || { echo "the subscriber did not connect"; exit 1; }

echo "== gateway: demo site (40 s of BMS traffic, replayed as recorded)"
./build-demo/app/outpost run --config "$work/site.json" --exit-after drain --log-format text 2>"$work/outpost.log" &
gateway=$!; pids+=("$gateway")
tail -n +1 -f --pid="$gateway" "$work/received.txt" & pids+=("$!")
( tail -n +1 -f --pid="$gateway" "$work/outpost.log" | grep --line-buffered -E 'uplink\.(connected|disconnected)|outbox\.|replay\.done' | sed -u 's/^/  [gateway] /' ) &
pids+=("$!")

sleep 12
echo "== taking the broker away for 8 seconds"
kill -TERM "$broker"; wait "$broker" 2>/dev/null || true
sleep 8
echo "== broker is back"
start_broker

wait "$gateway" || { echo "gateway failed:"; tail -20 "$work/outpost.log"; exit 1; }
sleep 1.5
summary=$(grep 'gateway.stop' "$work/outpost.log")
sent=$(echo "$summary" | sed -n 's/.* committed=\([0-9]*\).*/\1/p')
/usr/bin/python3 - "$work/received.txt" "$sent" "$work/outpost.log" <<'PY'
import json, sys
path, sent, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seqs = []
for line in open(path):
    parts = line.split(None, 1)
    if len(parts) == 2:
        seqs.append(json.loads(parts[1])["seq"])
missing = sorted(set(range(1, sent + 1)) - set(seqs))
outage = sum(1 for l in open(log) if "uplink.connect_failed" in l)
print("\n== summary")
print("  readings sent by the gateway:   %d" % sent)
print("  readings received (distinct):   %d" % len(set(seqs)))
print("  duplicates (same seq again):    %d" % (len(seqs) - len(set(seqs))))
print("  missing:                        %d %s" % (len(missing), missing[:10] if missing else ""))
print("  failed connection attempts during the outage: %d" % outage)
sys.exit(1 if missing else 0)
PY
echo "  files: $work (outpost.log, received.txt)"
