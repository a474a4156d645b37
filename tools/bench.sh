#!/bin/bash
# The benchmark: Outpost against the bare libraries, measured in the same run on this machine.
#   tools/bench.sh [READINGS]      (default 1000000)
# Prints, for each figure, Outpost's rate, the bare ceiling and the ratio against the target.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
n=${1:-1000000}
sh tools/install-deps.sh demo
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DOUTPOST_BUILD_TESTS=OFF >/dev/null
cmake --build build-bench -j "$(nproc)" --target outpost outpost_bare_baselines >/dev/null
bin=$root/build-bench/app/outpost
bare=$root/build-bench/tools/outpost_bare_baselines

work=$(mktemp -d /tmp/outpost-bench.XXXXXX)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
dead_port=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null || true' EXIT
sleep 0.5

frames=$(( (n * 3 + 10) / 11 ))  # the fast log carries 11 readings per 3 frames
echo "== generating a $frames-frame log ($n readings)"
/usr/bin/python3 tools/gen_bms_log.py --fast --frames "$frames" --out "$work/big.log"

site() {  # site NAME BROKER_PORT OUTBOX BUS_ENABLED [SPEED]
  /usr/bin/python3 - "$root" "$work/$1.json" "$2" "$3" "$4" "$work/big.log" "${5:-max}" <<'PY'
import json, sys
root, dst, port, outbox, enabled, log, speed = sys.argv[1:]
json.dump({
  "gateway_id": "bench-gw",
  "broker": {"host": "127.0.0.1", "port": int(port), "backoff": {"initial_ms": 100, "max_ms": 1000},
             "inflight_window": 256},
  "outbox": {"path": outbox, "max_rows": 5000000, "max_bytes": 4294967296, "commit_batch": 2000,
             "commit_interval_ms": 200},
  "stats_interval_s": 1,
  "buses": [{"name": "bms", "type": "candump_replay", "file": log,
             "speed": speed if speed == "max" else float(speed), "enabled": enabled == "1"}],
  "mappings": [root + "/configs/demo/bms_mapping.json"],
}, open(dst, "w"))
PY
}
run_outpost() {  # run_outpost NAME EXIT_AFTER -> NAME.log (JSON lines), NAME.rss (KiB)
  /usr/bin/time -f %M -o "$work/$1.rss" "$bin" run --config "$work/$1.json" --exit-after "$2" 2> "$work/$1.log"
}
field() {  # field NAME KEY [EVENT]: a number from the gateway.stop line (or EVENT's)
  /usr/bin/python3 -c 'import json,sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("event") == sys.argv[2]: print(j[sys.argv[3]])' "$work/$1.log" "${3:-gateway.stop}" "$2"
}
best() { /usr/bin/python3 -c 'import sys; print(max(float(a) for a in sys.argv[1:]))' "$@"; }
fresh_backlog() { rm -f "$work/$1"*; cp "$work/full.db" "$work/$1"; }

echo "== 1/5 bare SQLite batched inserts (batch 2000, WAL, synchronous=FULL)"
bare_sqlite=$("$bare" sqlite "$n" 2000 "$work/bare.db" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["per_s"])')
echo "== 2/5 outpost durable ingest (parse, decode, map, commit; broker unreachable)"
site ingest "$dead_port" "$work/outbox.db" 1
run_outpost ingest ingest
ingest_rate=$(/usr/bin/python3 -c "print(round($(field ingest readings) / $(field ingest ingest_s)))")
cp "$work/outbox.db" "$work/full.db"

# The drains alternate, Outpost then bare, twice, each on a fresh copy of the same backlog, and the
# better run of each counts: this machine's speed drifts over a minute, the ratio holds. The bare
# publisher sends the very messages Outpost sends (topics, flags, payload, MQTT 5 user properties).
echo "== 3/5 outpost drain of the $n-message backlog at QoS 1 (twice)"
echo "== 4/5 bare libmosquitto drain of the same messages (single thread, window 256, batched deletes; twice)"
site drain "$port" "$work/drain.db" 0
drain_runs=() bare_runs=()
for round in 1 2; do
  fresh_backlog drain.db
  run_outpost drain drain
  drain_runs+=("$(/usr/bin/python3 -c "print(round($(field drain acknowledged) / $(field drain elapsed_s)))")")
  [ "$round" = 1 ] && { first_ms=$(field drain ms_since_start uplink.first_publish); cp "$work/drain.rss" "$work/drain1.rss"; }
  fresh_backlog bare-drain.db
  bare_runs+=("$("$bare" drain 0 256 "$port" "$work/bare-drain.db" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["per_s"])')")
done
echo "   outpost ${drain_runs[*]} msgs/s, bare ${bare_runs[*]} msgs/s"
drain_rate=$(best "${drain_runs[@]}")
bare_drain=$(best "${bare_runs[@]}")

# Live traffic offered at the target rate while the uplink drains: does the backlog stay bounded?
offered=50000
speed=$(/usr/bin/python3 -c "print($offered * $frames / 1000 / $n)")  # the fast log is recorded at 1000 frames/s
echo "== 5/5 outpost ingest and drain at once: the log replayed at $offered readings/s (speed $speed)"
site both "$port" "$work/both.db" 1 "$speed"
run_outpost both drain
read -r both_rate both_backlog peak_backlog < <(/usr/bin/python3 - "$work/both.log" <<'PY'
import json, sys
from datetime import datetime
stats, done, start = [], None, None
for line in open(sys.argv[1]):
    j = json.loads(line)
    t = datetime.fromisoformat(j["ts"].replace("Z", "+00:00")).timestamp()
    if j["event"] == "gateway.start": start = t
    if j["event"] == "gateway.stats": stats.append((t, j["acknowledged"], j["outbox_rows"] + j["staged"]))
    if j["event"] == "replay.done": done = t
during = [s for s in stats if s[0] <= done] or stats[:1]
t, acked, backlog = during[-1]
print(round(acked / (t - start)), backlog, max(s[2] for s in stats))
PY
)

/usr/bin/python3 - "$n" "$bare_sqlite" "$ingest_rate" "$bare_drain" "$drain_rate" "$both_rate" "$first_ms" \
  "$(cat "$work/ingest.rss")" "$(cat "$work/drain1.rss")" "$(cat "$work/both.rss")" "$offered" "$both_backlog" "$peak_backlog" <<'PY'
import sys
n, bare_sqlite, ingest, bare_drain, drain, both, first_ms, rss_i, rss_d, rss_b, offered, backlog, peak = sys.argv[1:]
bare_sqlite, ingest, bare_drain, drain, both, offered = map(float, (bare_sqlite, ingest, bare_drain, drain, both, offered))
mb = lambda kib: int(kib) / 1024
def row(name, value, ceiling, ratio, target, ok):
    print("%-52s %12s %14s %8s  %-14s %s" % (name, value, ceiling, ratio, target, "ok" if ok else "BELOW TARGET"))
print("\n%-52s %12s %14s %8s  %-14s" % ("figure (%s readings)" % n, "outpost", "bare ceiling", "ratio", "target"))
row("durable ingest, readings/s", "%.0f" % ingest, "%.0f" % bare_sqlite, "%.2fx" % (ingest / bare_sqlite), ">= 0.5x", ingest >= 0.5 * bare_sqlite)
row("drain of the backlog at QoS 1, msgs/s", "%.0f" % drain, "%.0f" % bare_drain, "%.2fx" % (drain / bare_drain), ">= 0.8x", drain >= 0.8 * bare_drain)
row("ingest and drain at once, delivered readings/s", "%.0f" % both, "%.0f" % bare_drain, "%.2fx" % (both / bare_drain), ">= %.0f" % offered, both >= 0.98 * offered)
row("start with the backlog to first publish, ms", "%.0f" % float(first_ms), "-", "-", "< 500", float(first_ms) < 500)
row("peak RSS: ingest / drain / both, MB", "%.1f/%.1f/%.1f" % (mb(rss_i), mb(rss_d), mb(rss_b)), "-", "-", "<= 16", max(mb(rss_i), mb(rss_d), mb(rss_b)) <= 16)
print("%-52s %12s   (peak %s)" % ("backlog when the %.0f/s ingest ended" % offered, backlog, peak))
PY
echo "(work files in $work)"
