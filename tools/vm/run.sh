#!/bin/bash
# tools/vm/run.sh 'COMMAND'
#   Runs COMMAND (bash) as root inside a throw-away QEMU VM booted from this machine's Debian kernel,
#   for the tests that need what this machine's kernel lacks (vcan, netem). The VM's root is the
#   host's / (read-only, virtio-9p) and the repository is shared read-write at the same path, so
#   host-built binaries run unchanged. Prints the command's output, exits with its status
#   (124: timed out, 125: the guest never reported one).
# Environment: VM_MEM (MiB, 512), VM_CPUS (2), VM_TIMEOUT (s, 600), VM_CACHE (initramfs/vmlinux cache),
#   VM_DISK (a raw image attached as /dev/vda with cache=none: a SIGKILL of qemu is a pulled plug),
#   VM_NET=1 (a user-mode network card; the host is 10.0.2.2 inside, so a broker can stay outside).
set -u
[ $# -eq 1 ] || { echo "usage: $0 'COMMAND'" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
kver=${VM_KVER:-$(ls /lib/modules | sort -V | tail -n1)}
cache=${VM_CACHE:-${TMPDIR:-/tmp}/outpost-vm-$(id -u)}
mkdir -p "$cache" || exit 125
for tool in qemu-system-x86_64 busybox cpio xz modprobe; do
  command -v "$tool" >/dev/null || { echo "vm: $tool is missing (tools/install-deps.sh test installs it)" >&2; exit 125; }
done
[ -f "/boot/vmlinuz-$kver" ] || { echo "vm: no /boot/vmlinuz-$kver (install linux-image-amd64)" >&2; exit 125; }

init=$here/init.sh
initrd=$cache/initrd-$kver-$(md5sum < "$init" | cut -c1-8).cpio.gz
if [ ! -s "$initrd" ]; then
  stage=$(mktemp -d)
  mkdir -p "$stage"/{bin,dev,proc,sys,newroot,mod}
  cp "$(command -v busybox)" "$stage/bin/busybox"
  cp "$init" "$stage/init"; chmod +x "$stage/init"
  i=10
  # The modules that mount a virtio-9p root, in load order.
  for ko in $(modprobe -S "$kver" --show-depends -a virtio_pci 9pnet_virtio 9p | awk '$1 == "insmod" && !seen[$2]++ {print $2}'); do
    cp "$ko" "$stage/mod/$((i++))-${ko##*/}"
  done
  (cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) > "$initrd.$$" && mv "$initrd.$$" "$initrd"
  rm -rf "$stage"
fi

# Booting the uncompressed kernel directly (PVH) saves seconds under software emulation.
vmlinux=$cache/vmlinux-$kver
if [ ! -s "$vmlinux" ]; then
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "/boot/vmlinuz-$kver" | head -n1 | cut -d: -f1)
  if [ -n "$off" ] && tail -c +$((off + 1)) "/boot/vmlinuz-$kver" | xz -dc --single-stream > "$vmlinux.$$" 2>/dev/null; then
    mv "$vmlinux.$$" "$vmlinux"
  else
    rm -f "$vmlinux.$$"
  fi
fi
[ -s "$vmlinux" ] || vmlinux=/boot/vmlinuz-$kver

ctl=$(mktemp -d); trap 'rm -rf "$ctl"' EXIT
printf '%s\n' "$1" > "$ctl/cmd"
accel="-accel tcg,thread=multi -cpu max"
if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then accel="-accel kvm -cpu host"; fi
bios=(); [ -f /usr/share/qemu/qboot.rom ] && bios=(-bios /usr/share/qemu/qboot.rom)
extra=()
[ "${VM_NET:-0}" = 1 ] && extra+=(-netdev user,id=n0,restrict=off -device virtio-net-pci,netdev=n0)
[ -n "${VM_DISK:-}" ] && extra+=(-drive "file=$VM_DISK,if=virtio,cache=none,format=raw")

# shellcheck disable=SC2086
timeout "${VM_TIMEOUT:-600}" qemu-system-x86_64 $accel -M q35 -smp "${VM_CPUS:-2}" -m "${VM_MEM:-512}" \
  -nodefaults -no-user-config -display none -no-reboot "${bios[@]}" \
  -device isa-debug-exit,iobase=0xf4,iosize=1 -serial stdio </dev/null \
  -kernel "$vmlinux" -initrd "$initrd" \
  -append "console=ttyS0 quiet panic=-1 mitigations=off cryptomgr.notests vm_work=$repo vm_cwd=$PWD" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs local,path="$ctl",mount_tag=vmctl,security_model=none \
  -virtfs local,path="$repo",mount_tag=vmwork,security_model=none "${extra[@]}"
status=$?
[ $status -eq 124 ] && { echo "vm: timed out after ${VM_TIMEOUT:-600} s" >&2; exit 124; }
[ -s "$ctl/rc" ] || { echo "vm: the guest reported no exit status (qemu exited $status)" >&2; exit 125; }
exit "$(cat "$ctl/rc")"
