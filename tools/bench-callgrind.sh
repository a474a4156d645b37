#!/bin/bash
# Instructions per drained message: outpost's drain of an N-row backlog and the bare libmosquitto
# publisher's drain of the very same rows (tools/bench/bare_baselines.cpp: same topics, payloads,
# properties, window 256, batched deletes), each under valgrind --tool=callgrind against a loopback
# mosquitto (not under valgrind). The fixed cost of a run (exec, open, connect, exit) is measured on
# a backlog of a few rows and subtracted, so the figure is the marginal cost of one message.
#   tools/bench-callgrind.sh [N]        (default 20000; a few minutes)
# Target: outpost <= 1.3x the bare drain's instructions per message. Under callgrind each run is
# ~50x slower, so both drains commit their deletes in smaller batches than at full speed (both are
# timed at 200 ms); the ratio is what carries over. BENCH_KEEP=1 keeps the profiles for
# callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
case $n in ''|*[!0-9]*|0) echo "N must be a positive integer" >&2; exit 2 ;; esac
. tools/bench/common.sh
bench_start outpost outpost_bare_baselines
dead_port=$(free_port)

# backlog NAME READINGS: an outbox NAME.db of about READINGS rows, written by outpost itself.
backlog() {
  local frames=$(( ($2 * 3 + 10) / 11 ))
  "$py" tools/gen_bms_log.py --fast --frames "$frames" --out "$work/$1.log"
  site "$work/$1-ingest.json" --port "$dead_port" --outbox "$work/$1.db" --bus "bms:$work/$1.log:max"
  "$bin" run --config "$work/$1-ingest.json" --exit-after ingest 2> "$work/$1-ingest.log"
  gateway_field "$work/$1-ingest.log" committed
}
fresh() { rm -f "$work/run.db" "$work/run.db-wal" "$work/run.db-shm" "$work/run.db".*; cp "$work/$1.db" "$work/run.db"; }
# total Ir of a callgrind profile
instructions() { sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$1" | head -1; }
callgrind() {  # callgrind OUT COMMAND...
  local out=$1; shift
  nice -n 5 valgrind --tool=callgrind --callgrind-out-file="$out" "$@" > "$out.stdout" 2> "$out.stderr" ||
    { tail -20 "$out.stderr" >&2; return 1; }
}

echo "== backlogs: $n rows, and a few rows for the fixed cost"
big=$(backlog big "$n")
small=$(backlog small 8)
echo "   $big rows and $small rows"
site "$work/drain.json" --port "$port" --outbox "$work/run.db"

declare -A ir
for size in small big; do
  echo "== callgrind: outpost drain of the $size backlog"
  fresh "$size"
  callgrind "$work/outpost-$size.cg" "$bin" run --config "$work/drain.json" --exit-after drain
  ir[outpost-$size]=$(instructions "$work/outpost-$size.cg")
  echo "== callgrind: bare drain of the $size backlog"
  fresh "$size"
  callgrind "$work/bare-$size.cg" "$bare" drain 0 256 "$port" "$work/run.db"
  ir[bare-$size]=$(instructions "$work/bare-$size.cg")
done

"$py" - "$big" "$small" "${ir[outpost-big]}" "${ir[outpost-small]}" "${ir[bare-big]}" "${ir[bare-small]}" <<'PY'
import sys
big, small, ob, os_, bb, bs = map(int, sys.argv[1:])
o, b = (ob - os_) / (big - small), (bb - bs) / (big - small)
print("\ninstructions per drained message (%d messages, fixed cost of a %d-row run subtracted)" % (big, small))
print("  outpost %10.0f   (whole run %.0f/msg, fixed %.1f M)" % (o, ob / big, os_ / 1e6))
print("  bare    %10.0f   (whole run %.0f/msg, fixed %.1f M)" % (b, bb / big, bs / 1e6))
print("  ratio   %10.2fx  target <= 1.3x  %s" % (o / b, "ok" if o / b <= 1.3 else "ABOVE TARGET"))
PY
echo
echo "outpost's most expensive functions (self, whole run):"
callgrind_annotate "$work/outpost-big.cg" 2>/dev/null | grep -E '^ *[0-9,]+ +\(' | grep -v 'PROGRAM TOTALS' |
  head -12 | cut -c1-160
