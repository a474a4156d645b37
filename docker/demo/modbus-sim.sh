#!/bin/sh
# A pty pair stands for the RS-485 line: the simulated devices on one end, and socat on the other
# end bridging it to TCP port ${PORT:-4001} (RTU frames over TCP, one client at a time).
set -eu
port=${PORT:-4001}
dir=$(mktemp -d)
socat pty,raw,echo=0,link="$dir/line" pty,raw,echo=0,link="$dir/devices" &
while [ ! -e "$dir/line" ] || [ ! -e "$dir/devices" ]; do sleep 0.1; done
python3 /usr/local/bin/modbus_sim.py serve "$dir/devices" --baud 19200 &
exec socat TCP-LISTEN:"$port",reuseaddr,fork FILE:"$dir/line",raw,echo=0
