#!/bin/sh
# Installs what Outpost needs from Debian 12 packages. `build` is enough to build and run the
# gateway; `test` adds what the test suite starts (broker, subscriber, sqlite3, python3, Prometheus, the VM, RabbitMQ);
# `bench` what tools/bench*.sh run (broker, python3 with paho-mqtt, valgrind, strace).
set -eu
what=${1:-build}
build="build-essential cmake pkg-config libmosquitto-dev libssl-dev libboost1.81-dev libsqlite3-dev nlohmann-json3-dev libsystemd-dev libzstd-dev zlib1g-dev"
run="mosquitto mosquitto-clients python3 time socat python3-pymodbus python3-serial python3-serial-asyncio python3-zstandard zstd"
test="libgtest-dev systemd sqlite3 openssl mbpoll libmodbus-dev python3-paho-mqtt prometheus linux-image-amd64 qemu-system-x86 busybox-static can-utils iproute2 kmod xz-utils cpio rabbitmq-server"
# The package and container tests (tests/package/): cpack's dpkg-shlibdeps and file, lintian, man; debootstrap and an engine.
package="dpkg-dev file lintian man-db debootstrap docker.io docker-compose"
bench="python3-paho-mqtt valgrind strace procps"
case $what in
  build) pkgs="$build" ;;
  demo)  pkgs="$build $run" ;;
  test)  pkgs="$build $run $test $package" ;;
  bench) pkgs="$build $run $bench" ;;
  *) echo "usage: $0 build|demo|test|bench" >&2; exit 2 ;;
esac
missing=$(for p in $pkgs; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
