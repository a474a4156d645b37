#!/bin/bash
# Runs inside the power-cut VM (tools/vm/run.sh with VM_DISK and VM_NET=1): the outbox on the virtio disk (ext4), the broker
# on the host (10.0.2.2 through QEMU's user-mode network). The host kills QEMU while this runs.
#   powercut-inside.sh OUTPOST SITE WORK [drain]
# WORK is on the shared work directory: the gateway's log goes there, and after a `drain` run the
# outbox stats too.
set -u
outpost=$1 site=$2 work=$3 mode=${4:-}
modprobe -a virtio_net virtio_blk ext4 2>/dev/null
ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up
mkdir -p /tmp/d
mount -t ext4 -o data=ordered /dev/vda /tmp/d || { echo "powercut: cannot mount the disk"; exit 3; }
echo "booted $(date +%s.%N)" >> "$work/boots.txt"
if [ "$mode" = drain ]; then
  "$outpost" run --config "$site" --exit-after drain 2>> "$work/outpost.log"
  rc=$?
  "$outpost" outbox stats --config "$site" > "$work/stats.json" 2>> "$work/outpost.log"
  umount /tmp/d
  exit $rc
fi
exec "$outpost" run --config "$site" 2>> "$work/outpost.log"
