#!/bin/bash
# Saturated buses: four replayed CAN buses at 8,000 frames/s each, six signals a frame, every signal
# published, into an empty outbox drained at QoS 1 by a loopback mosquitto. Two runs: without a
# quota, then with a small max_rows so that eviction happens. Each reports offered, read and
# committed readings/s, acknowledged msgs/s during the saturation and alone afterwards (same run),
# backlog growth, CPU and RSS of the outpost process, and outbox.evicted log lines a second.
#   tools/bench-saturated.sh [--rounds N] [--seconds S] [--tail S] [--buses N] [--rate FRAMES_PER_S]
#                            [--quota ROWS] [--no-quota-run] [--link JSON] [--backlog READINGS] [--room]
#                            (default 3 rounds, 20 s, 10 s, 4 buses, 8000, 300000, no backlog)
# Each round runs both modes (no quota, then the quota), each a run of its own with its ratio taken
# within that run; the summary gives each mode's median ratio and the spread over the rounds (one
# run is not a measurement on a machine whose speed drifts between runs).
# --link gives the site a "link" section, e.g. '{"batch": {"encoding": "cbor"}}': batches publish
# many readings a message, and "acknowledged" counts readings either way. --backlog stores that many
# readings first (broker away), so that the drain works on a backlog during the saturation too.
# --room first runs the load with the broker away, for the cores ingest alone takes, and then prints
# the ratio the rest of the machine's cores leave room for: (cores - ingest) / (outpost + broker
# draining alone), and the same for the outbox's one writer thread: (1 - its share on ingest) / (its
# share draining alone). The broker shares this machine's cores; on a gateway it is across the link.
# Also: tools/bench.sh --saturated [...]. Targets: committed >= 0.99 of offered; drain during the
# saturation >= 0.8x the drain alone (the median of the rounds); with the quota reached, the same
# and <= 1 eviction line a second.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3 seconds=20 tail=10 buses=4 rate=8000 quota=300000 quota_run=1 link= backlog=0 room=0 window=
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --tail) tail=$2; shift 2 ;;
    --buses) buses=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --quota) quota=$2; shift 2 ;;
    --no-quota-run) quota_run=0; shift ;;
    --link) link=$2; shift 2 ;;
    --backlog) backlog=$2; shift 2 ;;
    --room) room=1; shift ;;
    --window) window=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
case $rounds in ''|*[!0-9]*|0) echo "--rounds must be a positive integer" >&2; exit 2 ;; esac
. tools/bench/common.sh
bench_start outpost
common=(--bin "$bin" --root "$root" --work "$work" --port "$port" --buses "$buses" --rate "$rate"
        --seconds "$seconds" --tail "$tail" --broker-pid "$broker")
[ -n "$link" ] && common+=(--link "$link")
[ -n "$window" ] && common+=(--window "$window")
[ "$backlog" -gt 0 ] && common+=(--backlog "$backlog")
if [ "$room" = 1 ]; then
  echo "== ingest alone, the broker away: the same load, for the cores it takes"
  "$py" tools/bench/saturated.py "${common[@]}" --name ingest --ingest-only --tail 1
  common+=(--ingest-cpu "$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["cpu_saturated"])' "$work/ingest.result.json")")
  common+=(--ingest-writer "$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["writer_busy_saturated"])' "$work/ingest.result.json")")
fi
for r in $(seq 1 "$rounds"); do
  echo "== round $r of $rounds, no quota: $buses buses x $rate frames/s x 6 signals for $seconds s, then $tail s of drain alone"
  "$py" tools/bench/saturated.py "${common[@]}" --name "free-$r"
  rm -f "$work/free-$r.db"*  # a stored backlog takes GBs
  if [ "$quota_run" = 1 ]; then
    echo "== round $r of $rounds, max_rows $quota (eviction): the same load"
    "$py" tools/bench/saturated.py "${common[@]}" --name "quota-$r" --max-rows "$quota"
    rm -f "$work/quota-$r.db"*
  fi
done
"$py" tools/bench/saturated_summary.py "$work" "$rounds"
