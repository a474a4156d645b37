#!/bin/bash
# Reconnect latency: the time from a broker coming back to the gateway's next connection, with the
# default backoff (500 ms doubling to 30 s, full jitter), for outages of 10 s and 5 min, 10 runs
# each (in parallel: about 6 minutes in all).
#   tools/bench-reconnect.sh [--runs N] [--outage S]...   (defaults: 10 runs; 10 and 300 s)
# The bound from the policy: at most the backoff ceiling reached during the outage, itself at most
# the cap (30 s); a short outage leaves the ceiling low.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=10 outages=()
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --outage) outages+=(--outage "$2"); shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#outages[@]} -gt 0 ] || outages=(--outage 10 --outage 300)
. tools/bench/common.sh
bench_build outpost
"$py" tools/bench/reconnect_latency.py --bin "$bin" --repo "$root" --runs "$runs" "${outages[@]}"
