#!/bin/bash
# tools/vm/run.sh 'COMMAND'
#   Runs COMMAND (bash) as root inside a throw-away QEMU VM booted from one of this machine's Debian
#   kernels, for the tests that need what this machine's kernel lacks (vcan, netem). The VM's root
#   is the host's / (read-only, virtio-9p); the repository and the build directory are shared
#   read-write at their own paths (the guest mounts tmpfs on /tmp, /run and /var/tmp, which would
#   hide a build directory there), so host-built binaries run unchanged. Prints the command's
#   output, exits with its status (124: timed out, 125: the guest never reported one, or no
#   usable kernel).
# The kernel: the newest in /lib/modules that has what the tests need (CAN: can, can_raw, vcan;
#   netem: sch_netem; veth; the 9p root: virtio_pci, 9pnet_virtio, 9p) and a /boot/vmlinuz. A cloud
#   kernel (linux-image-cloud-amd64) lacks CAN and 9p and is passed over; with none usable, the
#   script says so and names the package to install (linux-image-amd64).
# Environment: VM_KVER (use this kernel version, e.g. 6.1.0-28-amd64; refused with the missing
#   modules named if it lacks any), VM_MEM (MiB, 512), VM_CPUS (2), VM_TIMEOUT (s, 600), VM_CACHE
#   (initramfs/vmlinux cache), VM_SHARE (more directories to share read-write, ':'-separated),
#   VM_BUILD_DIR (the build directory; by default the nearest directory above the current one
#   holding a CMakeCache.txt, which is what ctest runs tests in),
#   VM_DISK (a raw image attached as /dev/vda with cache=none: a SIGKILL of qemu is a pulled plug),
#   VM_NET=1 (a user-mode network card; the host is 10.0.2.2 inside, so a broker can stay outside).
#   For the harness's own test (tests/vm/kernel_choice.sh): VM_DRY_RUN=1 prints the kernel and the
#   shares it would use and exits; VM_ROOT looks for /lib/modules and /boot under another root.
set -u
[ $# -eq 1 ] || { echo "usage: $0 'COMMAND'" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
for tool in qemu-system-x86_64 busybox cpio xz modprobe; do
  command -v "$tool" >/dev/null || { echo "vm: $tool is missing (tools/install-deps.sh test installs it)" >&2; exit 125; }
done

# What a kernel lacks for these tests, one word per missing piece (nothing: it will do).
root=${VM_ROOT:-}
needed_modules="virtio_pci 9pnet_virtio 9p can can_raw vcan sch_netem veth"
kernel_lacks() {
  local k=$1 m
  [ -f "$root/boot/vmlinuz-$k" ] || echo "/boot/vmlinuz-$k"
  for m in $needed_modules; do
    modprobe -d "${root:-/}" -S "$k" --show-depends "$m" >/dev/null 2>&1 || echo "$m"
  done
}
if [ -n "${VM_KVER:-}" ]; then
  kver=$VM_KVER
  lacks=$(kernel_lacks "$kver" | tr '\n' ' ')
  if [ -n "$lacks" ]; then
    echo "vm: VM_KVER=$kver cannot run these tests; it lacks: $lacks(Debian's linux-image-amd64 has all of it)" >&2
    exit 125
  fi
else
  kver=
  for k in $(ls "$root/lib/modules" 2>/dev/null | sort -rV); do
    lacks=$(kernel_lacks "$k" | tr '\n' ' ')
    if [ -z "$lacks" ]; then kver=$k; break; fi
    echo "vm: passing over kernel $k (lacks: ${lacks% })" >&2
  done
  if [ -z "$kver" ]; then
    echo "vm: no kernel in /lib/modules has CAN (can, can_raw, vcan), netem, veth and a 9p root (virtio_pci," \
         "9pnet_virtio, 9p); install Debian's standard kernel: apt-get install linux-image-amd64" >&2
    exit 125
  fi
fi
cache=${VM_CACHE:-${TMPDIR:-/tmp}/outpost-vm-$(id -u)}
mkdir -p "$cache" || exit 125

# Directories shared read-write at their own paths: the repository, the build directory, VM_SHARE,
# and the current directory if the guest's tmpfs mounts would hide it. A directory inside another
# shared one is covered by it.
build_dir=${VM_BUILD_DIR:-}
if [ -z "$build_dir" ]; then
  d=$PWD
  while [ "$d" != / ]; do
    [ -f "$d/CMakeCache.txt" ] && { build_dir=$d; break; }
    d=$(dirname "$d")
  done
fi
case $PWD in /tmp|/tmp/*|/run|/run/*|/var/tmp|/var/tmp/*) hidden_cwd=$PWD ;; *) hidden_cwd= ;; esac
shares=()
extra_shares=${VM_SHARE:-}
for d in "$repo" $build_dir ${extra_shares//:/ } $hidden_cwd; do
  [ -d "$d" ] || { echo "vm: cannot share $d: not a directory" >&2; exit 125; }
  d=$(cd "$d" && pwd -P)
  case $d in *[[:space:]]*) echo "vm: cannot share \"$d\": paths travel on the kernel command line, no spaces" >&2; exit 125 ;; esac
  covered=
  for s in "${shares[@]}"; do
    case $d/ in "$s"/*) covered=1 ;; esac
  done
  [ -n "$covered" ] && continue
  kept=()
  for s in "${shares[@]}"; do
    case $s/ in "$d"/*) ;; *) kept+=("$s") ;; esac
  done
  shares=("${kept[@]}" "$d")
done
if [ "${VM_DRY_RUN:-0}" = 1 ]; then
  echo "kernel $kver"
  for d in "${shares[@]}"; do echo "share $d"; done
  exit 0
fi

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

share_devices=()
i=0
for d in "${shares[@]}"; do
  share_devices+=(-virtfs "local,path=$d,mount_tag=vmshare$i,security_model=none,multidevs=remap")
  i=$((i + 1))
done

# shellcheck disable=SC2086
timeout "${VM_TIMEOUT:-600}" qemu-system-x86_64 $accel -M q35 -smp "${VM_CPUS:-2}" -m "${VM_MEM:-512}" \
  -nodefaults -no-user-config -display none -no-reboot "${bios[@]}" \
  -device isa-debug-exit,iobase=0xf4,iosize=1 -serial stdio </dev/null \
  -kernel "$vmlinux" -initrd "$initrd" \
  -append "console=ttyS0 quiet panic=-1 mitigations=off cryptomgr.notests vm_shares=$(IFS=:; echo "${shares[*]}") vm_cwd=$PWD" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -virtfs local,path="$ctl",mount_tag=vmctl,security_model=none "${share_devices[@]}" "${extra[@]}"
status=$?
[ $status -eq 124 ] && { echo "vm: timed out after ${VM_TIMEOUT:-600} s" >&2; exit 124; }
[ -s "$ctl/rc" ] || { echo "vm: the guest reported no exit status (qemu exited $status)" >&2; exit 125; }
exit "$(cat "$ctl/rc")"
