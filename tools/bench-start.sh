#!/bin/bash
# Instant start: exec to the first PUBLISH on the wire with a large backlog after an unclean stop.
#   tools/bench-start.sh [--rounds N] [--no-drain] [--damage] [ROWS]  (default 3 rounds, 5000000 rows)
# Builds the backlog with outpost itself (a generated log ingested with the broker away, so the store
# has its meta, epochs and positions rows), then starts a second ingest and kills it with SIGKILL
# half-way: the stop is unclean. Each round then starts outpost against a minimal MQTT listener
# (tools/bench/first_publish.py) that timestamps the first PUBLISH packet and kills outpost again,
# so every round starts after an unclean stop. Finally (unless --no-drain) the whole backlog is
# drained to a loopback mosquitto, reporting the drain rate and the maximum RSS during it. With
# --damage a page in the middle of the store is zeroed first: the drain reports when the damage
# was found and the file quarantined, and how many rows were salvaged and recorded as lost.
# Target: exec to first PUBLISH < 500 ms at 5M rows; RSS <= 16 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3 rows=5000000 drain=1 damage=0
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --no-drain) drain=0; shift ;;
    --damage) damage=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) rows=$1; shift ;;
  esac
done
case $rows in ''|*[!0-9]*|0) echo "ROWS must be a positive integer" >&2; exit 2 ;; esac
. tools/bench/common.sh
bench_build outpost
bench_workdir
dead_port=$(free_port)
db=$work/outbox.db

frames=$(( (rows * 3 + 10) / 11 ))  # 11 readings (rows) per 3 frames
echo "== building a $rows-row outbox: a $frames-frame log ingested by outpost with the broker away"
"$py" tools/gen_bms_log.py --fast --frames "$frames" --out "$work/backlog.log"
site "$work/ingest.json" --port "$dead_port" --outbox "$db" --bus "bms:$work/backlog.log:max"
t=$(date +%s.%N)
"$bin" run --config "$work/ingest.json" --exit-after ingest 2> "$work/ingest.log"
rm -f "$work/backlog.log"
echo "   $(gateway_field "$work/ingest.log" committed) rows committed in $("$py" -c "import time; print(round(time.time() - $t, 1))") s"

echo "== unclean stop: SIGKILL during a further ingest"
# Another interface name makes another log (another replay position), ingested from its start.
"$py" tools/gen_bms_log.py --fast --frames 300000 --interface can1 --out "$work/more.log"
site "$work/more.json" --port "$dead_port" --outbox "$db" --bus "bms:$work/more.log:max"
"$bin" run --config "$work/more.json" 2> "$work/more.log.json" &
gw=$!
bench_track "$gw"
# Kill once the store has grown by a few commits (or after 10 s at most).
for _ in $(seq 100); do
  sleep 0.1
  [ "$(stat -c %s "$db-wal" 2>/dev/null || echo 0)" -gt 2000000 ] && break
done
kill -9 "$gw"
wait "$gw" 2>/dev/null || true
grep -q '"gateway.stop"' "$work/more.log.json" && { echo "the ingest ended before the kill" >&2; exit 1; }
rm -f "$work/more.log"
echo "   killed with $(( $(stat -c %s "$db-wal" 2>/dev/null || echo 0) / 1048576 )) MiB of WAL; store $(( $(stat -c %s "$db") / 1048576 )) MiB"

echo "== exec to first PUBLISH on the wire, $rounds rounds (each after a SIGKILL)"
lport=$(free_port)
site "$work/start.json" --port "$lport" --outbox "$db"
: > "$work/first.txt"
for r in $(seq "$rounds"); do
  "$py" tools/bench/first_publish.py --port "$lport" -- "$bin" run --config "$work/start.json" \
    2> "$work/start$r.log" | tee -a "$work/first.txt" | sed "s/^/   round $r: /"
done

if [ "$damage" = 1 ]; then
  # One page in the middle of the file zeroed (after the SIGKILL of the last round): the drain
  # below must find it (a fetch or the background check), quarantine the file and salvage the rest.
  page=$(od -An -tu1 -j16 -N2 "$db" | awk '{ s = $1 * 256 + $2; print s == 1 ? 65536 : s }')
  pages=$(( $(stat -c %s "$db") / page ))
  dd if=/dev/zero of="$db" bs="$page" seek=$(( pages / 2 )) count=1 conv=notrunc status=none
  echo "== page $(( pages / 2 )) of $pages zeroed"
  drain=1
fi
if [ "$drain" = 1 ]; then
  echo "== drain of the whole backlog after the unclean stop (loopback mosquitto, window 256)"
  start_broker
  site "$work/drain.json" --port "$port" --outbox "$db"
  /usr/bin/time -f '%M %U %S %e' -o "$work/drain.time" "$bin" run --config "$work/drain.json" --exit-after drain \
    2> "$work/drain.log"
fi

"$py" - "$work" "$rows" "$drain" "$damage" <<'PY'
import json, os, statistics, sys
from datetime import datetime
work, rows, drain, damage = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] == "1"
firsts = [json.loads(l) for l in open(os.path.join(work, "first.txt")) if l.strip()]
ms = [f["exec_to_publish_ms"] for f in firsts if "exec_to_publish_ms" in f]
def events(path, name):
    return [j for j in map(json.loads, open(path)) if j.get("event") == name]
own = []
for r in range(1, len(firsts) + 1):
    fp = events(os.path.join(work, "start%d.log" % r), "uplink.first_publish")
    own += [fp[0]["ms_since_start"]] if fp else []
opened = events(os.path.join(work, "start1.log"), "outbox.open")
print("\n%s rows, unclean stop%s" % (rows, " (outbox.open: rows %s, checked %s)" % (opened[0].get("rows"), opened[0].get("checked")) if opened else ""))
if ms:
    print("exec to first PUBLISH on the wire, ms: median %.1f  spread %.1f-%.1f  target < 500  %s"
          % (statistics.median(ms), min(ms), max(ms), "ok" if statistics.median(ms) < 500 else "ABOVE TARGET"))
    if own:
        print("  (the gateway's own uplink.first_publish ms_since_start: %s)" % ", ".join("%.1f" % x for x in own))
else:
    print("no PUBLISH measured: %s" % firsts)
if drain:
    rss, user, sys_, wall = open(os.path.join(work, "drain.time")).read().split()
    stop = events(os.path.join(work, "drain.log"), "gateway.stop")[-1]
    rate = stop["acknowledged"] / stop["elapsed_s"] if stop["elapsed_s"] else 0
    print("drain: %d msgs acknowledged in %.1f s, %.0f msgs/s, CPU user %s s sys %s s, max RSS %.1f MB (target <= 16)"
          % (stop["acknowledged"], stop["elapsed_s"], rate, user, sys_, int(rss) / 1024))
if damage:
    path = os.path.join(work, "drain.log")
    ts = lambda j: datetime.fromisoformat(j["ts"].replace("Z", "+00:00")).timestamp()
    start = [json.loads(l) for l in open(path) if l.startswith("{")][:1]  # the run's first log line
    q = events(path, "outbox.quarantined")
    if not q:
        print("damaged store: NOT quarantined")
    else:
        q = q[0]
        print("damaged store: quarantined %.1f s after the first log line (%s), %d rows salvaged, %d recorded lost (quarantined)"
              % (ts(q) - ts(start[0]) if start else -1, "while running" if q.get("while_running") else "at start",
                 q.get("salvaged", 0), q.get("lost_estimate", 0)))
PY
