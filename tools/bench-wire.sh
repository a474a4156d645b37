#!/bin/bash
# Bytes on the wire per reading, for the 4G budget: the demo site's CAN traffic (configs/demo's BMS
# mapping, tools/gen_bms_log.py's frames) for one simulated hour at its real rates, published in each
# format to a loopback mosquitto:
#   json        one JSON message per reading (the default)
#   json-batch  batched JSON
#   cbor-batch  batched compact (CBOR)
#   cbor-zstd   batched compact, zstd-compressed
# The hour is replayed 60 times faster with every delay of the gateway (commit interval, batch delay)
# 60 times shorter, so batches hold what they would hold in real time. Bytes are measured on the
# gateway's socket (TCP_INFO: TCP payload both ways, retransmissions included, plus 52 bytes of IP
# and TCP header per segment). A subscriber captures every message and the reference decoder
# (tools/outpost_decode.py) checks that every format carries the same readings: seq, topic,
# timestamp, value, unit and text, each of them.
#   tools/bench-wire.sh [--seconds S] [--delay-ms D]   (default 3600 s of traffic, 10000 ms batch delay)
# Also printed: a naive publisher's bytes for the same readings, estimated (MQTT 3.1.1, a payload of
# only ts, value and unit, as many TCP/IP headers a message as measured for one message per reading).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=3600 delay=10000 speed=60
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --delay-ms) delay=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
. tools/bench/common.sh
bench_start outpost
echo "== generating $seconds s of the demo's CAN traffic"
"$py" tools/gen_bms_log.py --seconds "$seconds" --out "$work/hour.log" > /dev/null
"$py" "$bench_py/wire_bytes.py" --root "$root" --bin "$bin" --work "$work" --port "$port" --log "$work/hour.log" \
  --speed "$speed" --delay-ms "$delay"
