#!/bin/bash
# The VM harness's kernel choice and shares, on the host (VM_DRY_RUN: nothing boots). A fake root
# holds a newer cloud kernel (no CAN, no 9p, as linux-image-cloud-amd64) beside this machine's
# standard one: run.sh must pass over the cloud kernel, refuse it by VM_KVER naming what it lacks,
# and with only the cloud kernel say which package to install. A build directory under /tmp
# (hidden by the guest's tmpfs) must be shared.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
run=$repo/tools/vm/run.sh
fail() { echo "FAIL: $*"; exit 1; }
standard=
for k in $(ls /lib/modules | sort -rV); do
  if [ -f "/boot/vmlinuz-$k" ] && modprobe -S "$k" --show-depends vcan >/dev/null 2>&1; then standard=$k; break; fi
done
[ -n "$standard" ] || { echo "SKIP: no kernel with CAN installed (apt-get install linux-image-amd64)"; exit 0; }
root=$(mktemp -d); trap 'rm -rf "$root"' EXIT
cloud=99.0.0-1-cloud-amd64   # sorts above any real version
mkdir -p "$root/lib/modules/$cloud/kernel" "$root/boot"
printf 'kernel/virtio_pci.ko:\n' > "$root/lib/modules/$cloud/modules.dep"
: > "$root/lib/modules/$cloud/modules.builtin"
: > "$root/boot/vmlinuz-$cloud"
cd "$root"

# Only the cloud kernel: no usable kernel, and the message names the package.
if VM_ROOT=$root VM_DRY_RUN=1 "$run" true > out 2> err; then fail "a cloud kernel alone was accepted: $(cat out)"; fi
grep -q "install Debian's standard kernel: apt-get install linux-image-amd64" err || fail "no advice: $(cat err)"
grep -q "passing over kernel $cloud (lacks: .*vcan" err || fail "the cloud kernel's gaps not named: $(cat err)"

# Beside the standard kernel: the newest usable one is chosen.
ln -s "/lib/modules/$standard" "$root/lib/modules/$standard"
ln -s "/boot/vmlinuz-$standard" "$root/boot/vmlinuz-$standard"
VM_ROOT=$root VM_DRY_RUN=1 "$run" true > out 2> err || fail "no kernel chosen: $(cat err)"
grep -qx "kernel $standard" out || fail "expected kernel $standard, got: $(cat out)"

# VM_KVER is honoured, and refused with what is missing.
if VM_ROOT=$root VM_KVER=$cloud VM_DRY_RUN=1 "$run" true > out 2> err; then fail "VM_KVER=$cloud accepted"; fi
grep -q "VM_KVER=$cloud cannot run these tests; it lacks: .*9p .*can .*vcan .*sch_netem" err || fail "$(cat err)"
VM_ROOT=$root VM_KVER=$standard VM_DRY_RUN=1 "$run" true > out 2> err || fail "VM_KVER=$standard refused: $(cat err)"
grep -qx "kernel $standard" out || fail "$(cat out)"

# Shares: the repository, a build directory under /tmp found from the current directory, VM_SHARE;
# nothing twice, nothing inside another share.
mkdir -p "$root/build/tests" "$root/extra"
: > "$root/build/CMakeCache.txt"
(cd "$root/build/tests" && VM_ROOT=$root VM_DRY_RUN=1 VM_SHARE="$root/extra:$repo/tools" "$run" true) > out 2> err ||
  fail "$(cat err)"
real_root=$(cd "$root" && pwd -P)
grep -qx "share $repo" out || fail "repository not shared: $(cat out)"
grep -qx "share $real_root/build" out || fail "build directory not shared: $(cat out)"
grep -qx "share $real_root/extra" out || fail "VM_SHARE not shared: $(cat out)"
[ "$(grep -c '^share' out)" -eq 3 ] || fail "$repo/tools is inside the repository: $(cat out)"
echo "PASS: kernel $standard chosen over $cloud; shares $(grep -c '^share' out)"
