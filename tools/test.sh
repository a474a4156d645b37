#!/bin/sh
# README command 2: install, build with warnings as errors, run the whole suite with ctest.
# Exits non-zero when any test fails; ctest prints its summary either way.
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh test
build=${OUTPOST_BUILD_DIR:-build-ci}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOUTPOST_WERROR=ON -DOUTPOST_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j "$(nproc)"
cd "$build"
ctest --output-on-failure --timeout 600 -j "$(nproc)" "$@"
