#!/bin/busybox sh
# PID 1 of the test VM: mount the host's root read-only and the shared directories (repository,
# build directory) read-write over virtio-9p, switch into the host's bash, run the command,
# report its status, power off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
stty -onlcr
mount -t proc proc /proc
mount -t sysfs sys /sys
for m in /mod/*.ko; do insmod "$m"; done
R=/newroot
o=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o $o,ro,cache=loose hostroot $R || { echo "vm: cannot mount the host root"; exit 1; }
for d in tmp run var/tmp; do mount -t tmpfs -o mode=1777 tmpfs $R/$d; done
mount --move /dev $R/dev; mount --move /proc $R/proc; mount --move /sys $R/sys
mkdir -p $R/dev/pts $R/dev/shm $R/run/vm
# What udev would add: bash's process substitution needs /dev/fd.
ln -sf /proc/self/fd $R/dev/fd; ln -sf /proc/self/fd/0 $R/dev/stdin
ln -sf /proc/self/fd/1 $R/dev/stdout; ln -sf /proc/self/fd/2 $R/dev/stderr
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t 9p -o $o vmctl $R/run/vm
# The read-write shares (repository, build directory, ...), at their host paths, in the order
# run.sh lists them (vmshare0, vmshare1, ...); mounted after the tmpfs mounts, so a build
# directory under /tmp stays visible.
i=0
IFS=:
for d in $vm_shares; do
  mkdir -p "$R$d" 2>/dev/null
  mount -t 9p -o $o "vmshare$i" "$R$d" || echo "vm: cannot mount $d"
  i=$((i + 1))
done
unset IFS
ip link set lo up
hostname outpost-vm
exec switch_root $R /bin/bash -c "
  export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp
  cd \"\$vm_cwd\" && bash /run/vm/cmd </dev/null; echo \$? > /run/vm/rc
  printf x | dd of=/dev/port bs=1 seek=244 count=1 status=none"
