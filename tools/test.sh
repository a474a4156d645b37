#!/bin/sh
# README command 2: install, build with warnings as errors, run the whole suite with ctest.
# Exits non-zero when any test fails; ctest prints its summary either way.
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh test
build=${OUTPOST_BUILD_DIR:-build-ci}
# Line tables only (-g1): a backtrace or a sanitizer report still names file and line, and the
# build takes a quarter less than with full debug information.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DOUTPOST_WERROR=ON -DOUTPOST_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j "$(nproc)"
cd "$build"
# As root, the tests that mount (in a private mount namespace) must not skip.
[ "$(id -u)" -eq 0 ] && export OUTPOST_REQUIRE_MOUNT=1
# One `cpu` slot per core (tests/CMakeLists.txt): every test takes one except those that mostly
# wait (for TTLs, backoffs, watchdogs), which run beside the others instead of keeping a core idle.
cores=$(nproc)
printf '{"version": {"major": 1, "minor": 0}, "local": [{"cpu": [{"id": "0", "slots": %d}]}]}\n' "$cores" \
  > cpu-slots.json
ctest --output-on-failure --timeout 600 -j "$((cores + 6))" --resource-spec-file cpu-slots.json "$@"
