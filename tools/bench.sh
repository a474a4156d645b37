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

site() {  # site NAME BROKER_PORT OUTBOX BUS_ENABLED
  /usr/bin/python3 - "$root" "$work/$1.json" "$2" "$3" "$4" "$work/big.log" <<'PY'
import json, sys
root, dst, port, outbox, enabled, log = sys.argv[1:]
json.dump({
  "gateway_id": "bench-gw",
  "broker": {"host": "127.0.0.1", "port": int(port), "backoff": {"initial_ms": 100, "max_ms": 1000},
             "inflight_window": 256},
  "outbox": {"path": outbox, "max_rows": 5000000, "max_bytes": 4294967296, "commit_batch": 2000,
             "commit_interval_ms": 200},
  "stats_interval_s": 1,
  "buses": [{"name": "bms", "type": "candump_replay", "file": log, "speed": "max", "enabled": enabled == "1"}],
  "mappings": [root + "/configs/demo/bms_mapping.json"],
}, open(dst, "w"))
PY
}
run_outpost() {  # run_outpost NAME EXIT_AFTER -> NAME.log (JSON lines), NAME.rss (KiB)
  /usr/bin/time -f %M -o "$work/$1.rss" "$bin" run --config "$work/$1.json" --exit-after "$2" 2> "$work/$1.log"
}
field() {  # field NAME KEY: a number from the gateway.stop line
  /usr/bin/python3 -c 'import json,sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("event") == sys.argv[2]: print(j[sys.argv[3]])' "$work/$1.log" "${3:-gateway.stop}" "$2"
}

echo "== 1/5 bare SQLite batched inserts (batch 2000, WAL, synchronous=FULL)"
bare_sqlite=$("$bare" sqlite "$n" 2000 "$work/bare.db" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["per_s"])')
echo "== 2/5 outpost durable ingest (parse, decode, map, commit; broker unreachable)"
site ingest "$dead_port" "$work/outbox.db" 1
run_outpost ingest ingest
ingest_rate=$(/usr/bin/python3 -c "print(round($(field ingest readings) / $(field ingest ingest_s)))")
# The bare publisher drains a copy of this very outbox: the same messages, topics and flags.
cp "$work/outbox.db" "$work/bare-drain.db"
echo "== 3/5 outpost drain of the $n-message backlog at QoS 1"
site drain "$port" "$work/outbox.db" 0
run_outpost drain drain
drain_rate=$(/usr/bin/python3 -c "print(round($(field drain acknowledged) / $(field drain elapsed_s)))")
first_ms=$(field drain ms_since_start uplink.first_publish)
echo "== 4/5 bare libmosquitto drain of the same messages (single thread, window 256, batched deletes)"
bare_drain=$("$bare" drain 0 256 "$port" "$work/bare-drain.db" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["per_s"])')
echo "== 5/5 outpost ingest and drain at once"
site both "$port" "$work/both.db" 1
run_outpost both drain
both_rate=$(/usr/bin/python3 -c "print(round($(field both acknowledged) / $(field both elapsed_s)))")
peak_backlog=$(/usr/bin/python3 -c 'import json,sys
print(max([json.loads(l).get("outbox_rows", 0) for l in open(sys.argv[1]) if "gateway.stats" in l] or [0]))' "$work/both.log")

/usr/bin/python3 - "$n" "$bare_sqlite" "$ingest_rate" "$bare_drain" "$drain_rate" "$both_rate" "$first_ms" \
  "$(cat "$work/ingest.rss")" "$(cat "$work/drain.rss")" "$(cat "$work/both.rss")" "$peak_backlog" <<'PY'
import sys
n, bare_sqlite, ingest, bare_drain, drain, both, first_ms, rss_i, rss_d, rss_b, peak = sys.argv[1:]
bare_sqlite, ingest, bare_drain, drain, both = map(float, (bare_sqlite, ingest, bare_drain, drain, both))
mb = lambda kib: int(kib) / 1024
def row(name, value, ceiling, ratio, target, ok):
    print("%-44s %12s %14s %8s  %-14s %s" % (name, value, ceiling, ratio, target, "ok" if ok else "BELOW TARGET"))
print("\n%-44s %12s %14s %8s  %-14s" % ("figure (%s readings)" % n, "outpost", "bare ceiling", "ratio", "target"))
row("durable ingest, readings/s", "%.0f" % ingest, "%.0f" % bare_sqlite, "%.2fx" % (ingest / bare_sqlite), ">= 0.5x", ingest >= 0.5 * bare_sqlite)
row("drain of the backlog at QoS 1, msgs/s", "%.0f" % drain, "%.0f" % bare_drain, "%.2fx" % (drain / bare_drain), ">= 0.8x", drain >= 0.8 * bare_drain)
row("ingest and drain at once, readings/s", "%.0f" % both, "-", "-", ">= 50000", both >= 50000)
row("start with the backlog to first publish, ms", "%.0f" % float(first_ms), "-", "-", "< 500", float(first_ms) < 500)
row("peak RSS: ingest / drain / both, MB", "%.1f/%.1f/%.1f" % (mb(rss_i), mb(rss_d), mb(rss_b)), "-", "-", "<= 16", max(mb(rss_i), mb(rss_d), mb(rss_b)) <= 16)
print("%-44s %12s" % ("peak backlog while ingesting and draining", peak))
PY
echo "(work files in $work)"
