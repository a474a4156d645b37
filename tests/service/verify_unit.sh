#!/bin/sh
# usage: verify_unit.sh UNIT OUTPOST_BINARY
# Runs `systemd-analyze verify` on UNIT with OUTPOST_BINARY at /usr/bin/outpost (where the unit's
# ExecStart= names it), in a private mount namespace with an overlay on /usr/bin; fails on any
# output, since verify exits 0 on many problems. Exit 77 (skipped) where that cannot be arranged.
set -u
unit=$1
binary=$2
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze not installed (package systemd)"; exit 77; }
command -v unshare >/dev/null || { echo "SKIP: unshare not installed"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/upper" "$work/work" "$work/units"
cp "$unit" "$work/units/"
out="$work/verify.out"
unshare -m sh -c '
  set -e
  mount --make-rprivate /
  mount -t overlay overlay -o "lowerdir=/usr/bin,upperdir=$1/upper,workdir=$1/work" /usr/bin || exit 77
  cp "$2" /usr/bin/outpost
  cd "$1/units"
  systemd-analyze verify "$1/units/$(basename "$3")"
' sh "$work" "$binary" "$unit" >"$out" 2>&1
rc=$?
if [ $rc -eq 77 ] || grep -q "unshare failed" "$out"; then
  echo "SKIP: no private mount namespace with an overlay here:"; cat "$out"; exit 77
fi
if [ -s "$out" ] || [ $rc -ne 0 ]; then
  echo "systemd-analyze verify reported (exit $rc):"; cat "$out"; exit 1
fi
echo "systemd-analyze verify: no output, exit 0"
