# Shared by tools/bench*.sh (sourced, not run): the build, a work directory removed on exit, a
# loopback broker stopped on exit, free ports and site configurations.
# Callers set `set -euo pipefail` and cd to the repository root first.

root=$PWD
bench_py=$root/tools/bench
py=/usr/bin/python3

# bench_build TARGET...: a Release build of the targets in build-bench (niced: the machine is shared).
bench_build() {
  sh tools/install-deps.sh bench
  mkdir -p build-bench
  if ! { nice -n 10 cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DOUTPOST_BUILD_TESTS=OFF &&
         nice -n 10 cmake --build build-bench -j "$(nproc)" --target "$@"; } > build-bench/bench-build.log 2>&1; then
    tail -30 build-bench/bench-build.log >&2
    return 1
  fi
  bin=$root/build-bench/app/outpost
  bare=$root/build-bench/tools/outpost_bare_baselines
}

# bench_workdir: $work, removed with everything in it when the script ends (set BENCH_KEEP=1 to keep
# it); the broker and any process registered with bench_track are stopped first.
bench_tracked=()
bench_track() { bench_tracked+=("$1"); }
bench_cleanup() {
  local pid
  for pid in "${bench_tracked[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${bench_tracked[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${work:-}" ] && [ -d "$work" ]; then
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "(work files kept in $work)"; else rm -rf "$work"; fi
  fi
}
bench_workdir() {
  work=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/outpost-bench.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_broker: a mosquitto on a free loopback port ($port), without persistence, stopped on exit.
start_broker() {
  port=$(free_port)
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\n' "$port" \
    > "$work/mosquitto.conf"
  mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
  broker=$!
  bench_track "$broker"
  local i
  for i in $(seq 50); do
    "$py" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$port" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "mosquitto did not start:" >&2; cat "$work/mosquitto.log" >&2; return 1
}

# bench_start TARGET...: the build of TARGETs, the work directory and the broker, for a bench that needs all three.
bench_start() {
  bench_build "$@"
  bench_workdir
  start_broker
}

# site FILE [options of tools/bench/site.py]: a site configuration for the benchmark.
site() { "$py" "$bench_py/site.py" --root "$root" --out "$@"; }

# gateway_field LOG KEY [EVENT]: a number from the gateway.stop line (or EVENT's last line).
gateway_field() {
  "$py" -c 'import json,sys
v = None
for l in open(sys.argv[1]):
    try: j = json.loads(l)
    except ValueError: continue
    if j.get("event") == sys.argv[3]: v = j.get(sys.argv[2])
print(v)' "$1" "$2" "${3:-gateway.stop}"
}
