#!/bin/bash
# Fuzzes the parsers with libFuzzer (clang, from Debian) under AddressSanitizer and UBSan: configuration
# and mapping JSON, candump lines, DBC files, the CAN frame decoder, the Modbus RTU framer, listen-only
# sniffer, MBAP framer and transcripts, CSV register lists, and batch payloads (the uplink's decoder).
# (ctest's `fuzz.sanitized_corpora` replays the seed corpora under the same sanitizers in every test
# run, with g++.)
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60 s, every target)
# Each target starts from its seed corpus in tests/fuzz/corpus; new inputs go to build-fuzz/corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
all_targets="candump_line dbc frame_decoder json_config modbus_rtu_framer modbus_sniffer modbus_mbap_framer modbus_transcript register_csv batch_decoder"
targets=${*:2}
targets=${targets:-$all_targets}
for t in $targets; do
  case " $all_targets " in *" $t "*) ;; *) echo "unknown fuzz target $t (one of: $all_targets)"; exit 2 ;; esac
done
sh tools/install-deps.sh test
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOUTPOST_FUZZ=ON \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined" >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target $(for t in $targets; do printf 'fuzz_%s ' "$t"; done) >/dev/null
status=0
for t in $targets; do
  corpus=build-fuzz/corpus/$t
  mkdir -p "$corpus"
  cp -n tests/fuzz/corpus/$t/* "$corpus/" 2>/dev/null || true
  echo "== fuzz_$t for ${seconds}s"
  if ./build-fuzz/tests/fuzz/fuzz_$t -max_total_time="$seconds" -print_final_stats=1 "$corpus" \
       > "build-fuzz/fuzz_$t.log" 2>&1; then
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "build-fuzz/fuzz_$t.log" | tr '\n' ' '
    echo "corpus: $(ls "$corpus" | wc -l) inputs; no crash"
  else
    status=1
    echo "CRASH (see build-fuzz/fuzz_$t.log):"; grep -E 'ERROR|SUMMARY|Test unit written' "build-fuzz/fuzz_$t.log" | head -5
  fi
done
exit $status
