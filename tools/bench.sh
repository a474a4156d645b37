#!/bin/bash
# The benchmark: Outpost against the bare libraries, each figure and its ceiling measured alternately
# (outpost, bare, outpost, bare, ...) so that both see the same moments of a noisy machine.
#   tools/bench.sh [--rounds N] [READINGS]     (default 3 rounds, 1000000 readings; any count works)
#   tools/bench.sh --saturated [...]           four CAN buses at 8,000 frames/s: tools/bench-saturated.sh
# Prints, for each figure, the median and spread (min-max) over the rounds of Outpost and of the bare
# ceiling, and the ratio of the medians against the target. Related: tools/bench-start.sh (exec to
# first PUBLISH with a 5M-row backlog after an unclean stop), tools/bench-callgrind.sh (instructions
# per drained message).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3 n=1000000
while [ $# -gt 0 ]; do
  case $1 in
    --saturated) shift; exec tools/bench-saturated.sh "$@" ;;
    --rounds) rounds=$2; shift 2 ;;
    --rounds=*) rounds=${1#*=}; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) n=$1; shift ;;
  esac
done
case $n in ''|*[!0-9]*|0) echo "READINGS must be a positive integer" >&2; exit 2 ;; esac
case $rounds in ''|*[!0-9]*|0) echo "--rounds must be a positive integer" >&2; exit 2 ;; esac
. tools/bench/common.sh
bench_start outpost outpost_bare_baselines
dead_port=$(free_port)
results=$work/results
mkdir -p "$results"

frames=$(( (n * 3 + 10) / 11 ))  # the fast log carries 11 readings per 3 frames
[ "$frames" -ge 1 ] || frames=1
echo "== generating a $frames-frame log ($n readings)"
"$py" tools/gen_bms_log.py --fast --frames "$frames" --out "$work/big.log"

# run_outpost NAME EXIT_AFTER: NAME.log (JSON lines), NAME.rss (KiB), NAME.exec (wall clock at exec).
run_outpost() {
  "$py" -c 'import os,sys,time; open(sys.argv[1],"w").write(repr(time.time())); os.execv(sys.argv[2], sys.argv[2:])' \
    "$work/$1.exec" /usr/bin/time -f %M -o "$work/$1.rss" "$bin" run --config "$work/$1.json" --exit-after "$2" \
    2> "$work/$1.log"
}
per_s() { "$py" -c 'import sys; a, s = float(sys.argv[1]), float(sys.argv[2]); print(round(a / s) if s > 0 else 0)' "$1" "$2"; }
json_rate() { "$py" -c 'import json,sys; print(json.load(sys.stdin)["per_s"])'; }
# ms from exec to the first publish: the wall clock at exec against the uplink.first_publish line's ts.
first_ms() {
  "$py" - "$work/$1.exec" "$work/$1.log" <<'PY'
import json, sys
from datetime import datetime
t0 = float(open(sys.argv[1]).read())
for line in open(sys.argv[2]):
    j = json.loads(line)
    if j.get("event") == "uplink.first_publish":
        print(round((datetime.fromisoformat(j["ts"].replace("Z", "+00:00")).timestamp() - t0) * 1000, 1))
        break
else:
    print("None")
PY
}
fresh_copy() { rm -f "$work/$1" "$work/$1-wal" "$work/$1-shm" "$work/$1".*; cp "$work/full.db" "$work/$1"; }

echo "== durable ingest, $rounds rounds: outpost (parse, decode, map, commit; broker unreachable), then bare SQLite"
echo "   (batched inserts of the outbox's schema, batch 2000, WAL, synchronous=FULL)"
site "$work/ingest.json" --port "$dead_port" --outbox "$work/outbox.db" --bus "bms:$work/big.log:max"
for r in $(seq "$rounds"); do
  rm -f "$work"/outbox.db*
  run_outpost ingest ingest
  per_s "$(gateway_field "$work/ingest.log" readings)" "$(gateway_field "$work/ingest.log" ingest_s)" >> "$results/ingest.outpost"
  cat "$work/ingest.rss" >> "$results/rss.ingest"
  [ "$r" = 1 ] && cp "$work/outbox.db" "$work/full.db"
  rm -f "$work"/bare.db*
  /usr/bin/time -f %M -o "$work/bare.rss" "$bare" sqlite "$n" 2000 "$work/bare.db" | json_rate >> "$results/ingest.bare"
  cat "$work/bare.rss" >> "$results/rss.bare_ingest"
  echo "   round $r: outpost $(tail -1 "$results/ingest.outpost"), bare $(tail -1 "$results/ingest.bare") readings/s"
done
rm -f "$work"/outbox.db* "$work"/bare.db*
rows=$(gateway_field "$work/ingest.log" committed)

# The bare publisher drains a copy of the very outbox Outpost drains: the same topics, payloads, QoS,
# retain flags and MQTT 5 user properties, a window of 256, batched deletes.
echo "== drain of the $rows-message backlog at QoS 1, $rounds rounds: outpost, then the bare libmosquitto publisher"
site "$work/drain.json" --port "$port" --outbox "$work/drain.db"
for r in $(seq "$rounds"); do
  fresh_copy drain.db
  run_outpost drain drain
  per_s "$(gateway_field "$work/drain.log" acknowledged)" "$(gateway_field "$work/drain.log" elapsed_s)" >> "$results/drain.outpost"
  first_ms drain >> "$results/first.outpost"
  cat "$work/drain.rss" >> "$results/rss.drain"
  fresh_copy bare-drain.db
  /usr/bin/time -f %M -o "$work/bare.rss" "$bare" drain 0 256 "$port" "$work/bare-drain.db" | json_rate >> "$results/drain.bare"
  cat "$work/bare.rss" >> "$results/rss.bare_drain"
  echo "   round $r: outpost $(tail -1 "$results/drain.outpost"), bare $(tail -1 "$results/drain.bare") msgs/s"
done

"$py" tools/bench/summary.py "$results" "$n" "$rounds"
