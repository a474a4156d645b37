#!/bin/bash
# Modbus RTU line efficiency: polls per second the RTU master achieves through the simulated
# RS-485 line (bytes delayed at the baud rate) at 9600 and 115200 baud, against the physical
# bound for the same requests, in alternating rounds; prints median, spread and the ratio.
#   tools/bench-modbus.sh [ROUNDS] [SECONDS_PER_RUN] [REGISTERS]     (default 5 4 10)
# Run it on a quiet machine: the simulator and the master each need a core on time.
set -euo pipefail
cd "$(dirname "$0")/.."
sh tools/install-deps.sh test
cmake -S . -B build-bench-modbus -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench-modbus -j "$(nproc)" --target modbus_line_bench >/dev/null
exec ./build-bench-modbus/tests/modbus_line_bench "${1:-5}" "${2:-4}" "${3:-10}"
