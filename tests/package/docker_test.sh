#!/bin/bash
# The container image from docker/, built and run on this machine's own Debian 12 base:
#  1. debootstrap --variant=minbase bookworm from the Debian mirror configured in /etc/apt, then
#     `docker import` (no registry is reachable here);
#  2. an isolated dockerd (its own data/exec roots and socket under the test's temp dir, no iptables,
#     no bridge; builds and containers use the host network);
#  3. docker build of the runtime image and of the compose demo's broker and Modbus simulator
#     images. Given the suite's build tree, the runtime image installs the .deb cpack makes from it
#     (PACKAGE=prebuilt: the gateway is compiled once per suite, not again in the image), and the
#     Dockerfile's build stage is checked as far as its dependencies: the build-deps stage's
#     apt-get, then CMake configured in it (every package it needs found). Without a build tree, or
#     with OUTPOST_DOCKER_FULL=1, the image compiles the gateway itself, as `docker build` does;
#  4. in containers: `outpost version`, `outpost check` on the packaged and the example sites, then the
#     demo site (BMS log replayed, PCS and meter polled over RTU-over-TCP from the simulator container)
#     against the broker container, audited by sequence number: every committed reading was received
#     or is still in the outbox volume; `docker stop` ends the gateway cleanly (exit code 0);
#  5. docker-compose config on docker/compose.yaml;
# then stops dockerd and removes everything it made. Nothing is cached outside the temp dir.
#   docker_test.sh SOURCE_DIR VERSION [BUILD_DIR]
set -euo pipefail
src=$1 version=$2 build_tree=${3:-}
[ "${OUTPOST_DOCKER_FULL:-0}" = 1 ] && build_tree=""
[ -z "$build_tree" ] || command -v cpack >/dev/null || build_tree=""
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap and dockerd)"
command -v debootstrap >/dev/null || skip "debootstrap is missing (tools/install-deps.sh test installs it)"
dockerd=$(command -v dockerd || true)
[ -n "$dockerd" ] || skip "dockerd is missing (Debian's docker.io; tools/install-deps.sh test installs it)"
# Debian's client matches its engine and has BuildKit built in (a newer client wants the buildx plugin).
docker=/usr/bin/docker
[ -x "$docker" ] || docker=$(command -v docker || true)
[ -n "$docker" ] || skip "the docker client is missing"

# The configured Debian mirror: the first deb822 stanza or one-line entry for bookworm.
mirror=$( (cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null || true) | awk '
  /^[[:space:]]*$/ { if (uris != "" && suites ~ /(^| )bookworm( |$)/ && !found) { print uris; found = 1 } uris = ""; suites = ""; next }
  /^URIs:/ { uris = $2 } /^Suites:/ { $1 = ""; suites = $0 }
  /^deb[[:space:]]/ { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i ~ /:\/\//) { if ($(i+1) == "bookworm" && !found) { print $i; found = 1 } break } }
  END { if (uris != "" && suites ~ /(^| )bookworm( |$)/ && !found) print uris }' | head -1)
[ -n "$mirror" ] || skip "no Debian bookworm mirror configured in /etc/apt"

# Everything the test makes lives on a tmpfs in a mount namespace of its own: dpkg's fsyncs cost
# nothing there, removing a gigabyte of image layers is one umount, and if the test is killed the
# namespace (and the memory) goes with its last process, never leaving a mount on the host.
if [ -z "${OUTPOST_DOCKER_TEST_NS:-}" ] && command -v unshare >/dev/null; then
  OUTPOST_DOCKER_TEST_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
work=$(mktemp -d /tmp/outpost-docker.XXXXXX)
tmpfs=""
if [ -n "${OUTPOST_DOCKER_TEST_NS:-}" ] && mount -t tmpfs -o size=8g,mode=0700 outpost-docker-test "$work"; then tmpfs=1; fi
sock=$work/docker.sock
dpid=""
d() { "$docker" -H "unix://$sock" "$@"; }
cleanup() {
  set +e
  local start=$SECONDS
  if [ -n "$dpid" ]; then
    d ps -aq | xargs -r "$docker" -H "unix://$sock" rm -f >/dev/null 2>&1
    kill -TERM "$dpid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$dpid" 2>/dev/null
    wait "$dpid" 2>/dev/null
  fi
  # Whatever dockerd or debootstrap left mounted under the temp dir, deepest first.
  findmnt -rn -o TARGET | grep "^$work/" | sort -r | xargs -r -n1 umount -l 2>/dev/null
  local stopped=$SECONDS
  [ -n "$tmpfs" ] && umount -l "$work"
  rm -rf "$work"
  echo "cleanup: engine stopped in $((stopped - start)) s, files removed in $((SECONDS - stopped)) s"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() {  # fail MESSAGE [LOG...]: the tail of each log named
  echo "FAIL: $1"; shift
  for f in "$@"; do [ -s "$work/$f" ] && { echo "--- $f (tail)"; tail -40 "$work/$f"; }; done
  exit 1
}
t0=$SECONDS
stamp() { echo "[$((SECONDS - t0)) s] $*"; }

# 1. The base image.
stamp "debootstrap bookworm from $mirror${tmpfs:+ (on a tmpfs)}"
nice debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || fail "debootstrap" debootstrap.log

# 2. The engine, under nice: builds and containers are its children.
nice "$dockerd" --data-root "$work/data" --exec-root "$work/exec" -H "unix://$sock" --pidfile "$work/dockerd.pid" \
  --iptables=false --ip6tables=false --bridge=none >"$work/dockerd.log" 2>&1 &
dpid=$!
for _ in $(seq 150); do d version >/dev/null 2>&1 && break; kill -0 "$dpid" 2>/dev/null || fail "dockerd exited" dockerd.log; sleep 0.2; done
d version >/dev/null 2>&1 || fail "dockerd did not answer" dockerd.log
# What debootstrap downloaded stays out of the image (the Dockerfile runs apt-get update anyway).
rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/cache/apt/*.bin "$work"/rootfs/var/lib/apt/lists/*
tar -C "$work/rootfs" -c . | d import - outpost-test/base:bookworm >/dev/null || fail "docker import"
rm -rf "$work/rootfs"
stamp "base image imported ($(d image inspect -f '{{.Size}}' outpost-test/base:bookworm) bytes)"

# 3. The images.
context=$src package=build
if [ -n "$build_tree" ]; then
  # The sources as committed (no build trees) and the suite's own package in prebuilt/.
  context=$work/context
  mkdir -p "$context/prebuilt"
  if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$src" && git ls-files -z | xargs -0 tar -c) | tar -x -C "$context"
  else
    tar -C "$src" --exclude='./build*' --exclude=./.git -c . | tar -x -C "$context"
  fi
  cpack --config "$build_tree/CPackConfig.cmake" -G DEB -B "$work/cpack" >"$work/cpack.log" 2>&1 || fail "cpack" cpack.log
  cp "$work"/cpack/outpost_*.deb "$context/prebuilt/"
  package=prebuilt
  stamp "the suite's package: $(basename "$work"/cpack/outpost_*.deb)"
fi
build() {  # build TARGET TAG
  local start=$SECONDS
  DOCKER_BUILDKIT=1 d build --network host --progress plain --build-arg BASE=outpost-test/base:bookworm \
    --build-arg JOBS=2 --build-arg PACKAGE=$package --target "$1" -t "$2" -f "$src/docker/Dockerfile" "$context" \
    >"$work/build-$1.log" 2>&1 || return 1
  stamp "built $2 in $((SECONDS - start)) s: $(d image inspect -f '{{.Size}}' "$2") bytes"
}
# The demo's two small images download while the gateway's builds.
build demo-mosquitto outpost-test/mosquitto & small1=$!
build demo-modbus-sim outpost-test/modbus-sim & small2=$!
if [ -n "$build_tree" ]; then
  build build-deps outpost-test/build-deps || fail "docker build --target build-deps" build-build-deps.log
  # The build stage's dependencies: CMake finds everything it needs in the build-deps image.
  d run --rm --network none -v "$context:/src:ro" outpost-test/build-deps \
    cmake -S /src -B /tmp/build -DCMAKE_BUILD_TYPE=Release -DOUTPOST_BUILD_TESTS=OFF >"$work/configure.log" 2>&1 \
    || fail "CMake configure in the build-deps image (a build dependency missing from the Dockerfile?)" configure.log
  stamp "the build stage's dependencies: CMake configured in the build-deps image"
fi
build runtime outpost-test/outpost || fail "docker build --target runtime" build-runtime.log
wait $small1 || fail "docker build --target demo-mosquitto" build-demo-mosquitto.log
wait $small2 || fail "docker build --target demo-modbus-sim" build-demo-modbus-sim.log

# 4. The gateway in its container.
run() { d run --rm --network none "$@"; }
[ "$(run outpost-test/outpost version)" = "outpost $version" ] || fail "outpost version in the image: $(run outpost-test/outpost version)"
[ "$(run --entrypoint id outpost-test/outpost -un)" = outpost ] || fail "the image does not run as the outpost user"
run --entrypoint dpkg-query outpost-test/outpost -W -f '${Status} ${Version}' outpost | grep -qx "install ok installed $version" \
  || fail "the outpost package is not installed in the image"
run outpost-test/outpost check --config /etc/outpost/site.json >"$work/check.log" 2>&1 || fail "check on /etc/outpost/site.json" check.log
for site in demo modbus-example dbc-example; do
  run outpost-test/outpost check --config /usr/share/doc/outpost/examples/$site/site.json >"$work/check.log" 2>&1 \
    || fail "check on examples/$site" check.log
done
run outpost-test/outpost check --config /usr/share/doc/outpost/examples/demo/bms_mapping.json >"$work/check.log" 2>&1 \
  && fail "check accepted a mapping file as a site"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mqtt=$(free_port) modbus=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$mqtt" >"$work/mosquitto.conf"
d run -d --name outpost-test-mosquitto --network host -v "$work/mosquitto.conf:/etc/mosquitto/conf.d/demo.conf:ro" \
  outpost-test/mosquitto >/dev/null
d run -d --name outpost-test-modbus --network host -e PORT="$modbus" outpost-test/modbus-sim >/dev/null
sub() { d exec outpost-test-mosquitto "$@"; }
for _ in $(seq 100); do sub mosquitto_pub -p "$mqtt" -t probe -n 2>/dev/null && break; sleep 0.2; done
# The compose demo's site, pointed at these ports on the host network, the log replayed at full speed.
/usr/bin/python3 - "$src/docker/demo/site.json" "$work/site.json" "$mqtt" "$modbus" <<'PY'
import json, sys
src, dst, mqtt, modbus = sys.argv[1:]
site = json.load(open(src))
site["broker"].update(host="127.0.0.1", port=int(mqtt))
for bus in site["buses"]:
    if bus["name"] == "bms":
        bus["speed"] = "max"
    else:
        bus.update(host="127.0.0.1", port=int(modbus))
json.dump(site, open(dst, "w"), indent=2)
PY
chmod 644 "$work/site.json"
d run -d --name outpost-test-viewer --network host outpost-test/mosquitto \
  mosquitto_sub -p "$mqtt" -i viewer -q 1 -t 'site/#' -F '%t %p' >/dev/null
gw_args=(--network host -v "$work/site.json:/etc/outpost/site.json:ro" -v outpost-test-outbox:/var/lib/outpost)
d run -d --name outpost-test-gateway "${gw_args[@]}" outpost-test/outpost >/dev/null
stamp "gateway running on the demo site"
count() {  # count modbus|can|all: readings the viewer printed (Modbus devices: pcs and meter)
  d logs outpost-test-viewer 2>/dev/null | awk -v want="$1" '{ split($1, t, "/"); m = (t[3] == "pcs" || t[3] == "meter") }
    want == "all" || (want == "modbus" && m) || (want == "can" && !m) { n++ } END { print n + 0 }'
}
for _ in $(seq 150); do [ "$(count modbus)" -ge 20 ] && [ "$(count can)" -gt 0 ] && break; sleep 0.2; done
# The devices go away, so nothing new is read; what was read drains; then docker stop (SIGTERM).
d rm -f outpost-test-modbus >/dev/null
prev=-1; for _ in $(seq 50); do n=$(count all); [ "$n" = "$prev" ] && break; prev=$n; sleep 0.4; done
d stop -t 30 outpost-test-gateway >/dev/null
rc=$(d inspect -f '{{.State.ExitCode}}' outpost-test-gateway)
d logs outpost-test-gateway >"$work/gateway.log" 2>&1
[ "$rc" = 0 ] || fail "the gateway exited $rc after docker stop" gateway.log
sleep 1
d logs outpost-test-viewer >"$work/received.txt" 2>/dev/null
run -v outpost-test-outbox:/var/lib/outpost -v "$work/site.json:/etc/outpost/site.json:ro" outpost-test/outpost \
  outbox stats --config /etc/outpost/site.json >"$work/stats.json" 2>"$work/stats.log" || fail "outbox stats on the volume" stats.log
/usr/bin/python3 - "$work/received.txt" "$work/gateway.log" "$work/stats.json" <<'PY' || fail "audit" gateway.log
import json, sys
received, log, stats = sys.argv[1:]
stop = next(json.loads(l) for l in open(log) if '"gateway.stop"' in l)
committed = stop["committed"]
seqs, modbus, can = set(), 0, 0
for line in open(received):
    topic, payload = line.split(" ", 1)
    seqs.add(json.loads(payload)["seq"])
    if topic.split("/")[2] in ("pcs", "meter"): modbus += 1
    else: can += 1
rows = json.load(open(stats))["rows"]
missing = set(range(1, committed + 1)) - seqs
print("committed %d, received %d distinct (CAN %d, Modbus %d), still in the outbox %d, missing %d"
      % (committed, len(seqs), can, modbus, rows, len(missing)))
assert committed > 0 and can > 0 and modbus > 0, "both buses must have delivered"
assert seqs <= set(range(1, committed + 1)), "a seq above what was committed"
assert len(missing) == rows, "readings neither received nor kept in the outbox"
PY
stamp "demo site delivered through the containers"

# 5. The compose file parses (docker-compose v1 validates without an engine).
if command -v docker-compose >/dev/null; then
  (cd "$src/docker" && OUTPOST_BASE=outpost-test/base:bookworm docker-compose -f compose.yaml config -q) >"$work/compose.log" 2>&1 \
    || fail "docker-compose config on docker/compose.yaml" compose.log
  stamp "docker/compose.yaml valid"
else
  /usr/bin/python3 -c 'import sys, yaml; c = yaml.safe_load(open(sys.argv[1])); assert set(c["services"]) >= {"mosquitto", "modbus-sim", "outpost"}' \
    "$src/docker/compose.yaml" || fail "docker/compose.yaml"
  stamp "docker/compose.yaml parses (docker-compose is not installed: YAML only)"
fi
stamp "docker test passed (${tmpfs:+tmpfs }$(df -m --output=used "$work" | tail -1 | tr -d " ") MB used at the end)"
