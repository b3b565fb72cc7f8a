#!/bin/busybox sh
# Stage 1 of make test-vm: the guest's /init, in a busybox initramfs that
# tools/vm/run.sh builds.  Loads virtio and 9p from the kernel package
# (lib/modules/order), mounts the host's root file system read-only and the
# work share, gives the new root its own proc, sys, dev, tmp and run, points
# the kernel's module loader at the package's modules, runs stage2.sh in a
# chroot and writes its exit status to the work share.  Then powers off (and
# if anything here fails: panic=-1 with qemu's -no-reboot ends qemu).

/bin/busybox --install -s /bin
export PATH=/bin:/sbin

fail() {
	echo "tcpferry-vm init: $*; the guest stops without an exit status" >&2
	sync
	poweroff -f
	exit 1
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
. /etc/tf-vm.conf

if grep -qw tf.probe=1 /proc/cmdline; then
	echo TF-VM-PROBE-OK
	poweroff -f
fi

for m in $(cat /lib/modules/order); do
	insmod "/lib/modules/$m" || echo "tcpferry-vm init: insmod $m failed" >&2
done

opts=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$opts,ro,cache=loose" hostroot /host ||
	fail "cannot mount the host's root (9p tag hostroot)"
mount -t 9p -o "$opts" work /work || fail "cannot mount the work share (9p tag work)"

R=/host
mount -t proc proc $R/proc || fail "cannot mount proc on the new root"
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
mount -t tmpfs -o mode=1777 tmpfs $R/tmp
mount -t tmpfs -o mode=0755 tmpfs $R/run
mount -t tmpfs -o mode=1777 tmpfs $R/var/tmp
mount -t bpf bpf $R/sys/fs/bpf
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup
mount -t tracefs tracefs $R/sys/kernel/tracing 2>/dev/null
mkdir -p $R/run/lock $R$TF_WORK_MNT $TF_WORK_MNT
mount -o bind /work $R$TF_WORK_MNT || fail "cannot bind the work share into the new root"
# The same path in this root too: the kernel may run the module loader here.
mount -o bind /work $TF_WORK_MNT

# Modules on demand (veth, sch_ingress, cls_bpf, nf_tables, ...): the host's
# modprobe over the package's modules (depmod -b ran on the host).
cat >/work/modprobe <<EOF
#!/bin/sh
log="\${0%/*}/modprobe.log"
if [ -d /host/usr/sbin ]; then	# the initramfs root (modprobe links to /bin/kmod)
	where=initramfs
	/bin/chroot /host /sbin/modprobe -d '$TF_KDIR' "\$@" 2>>"\$log"
else
	where=host
	/sbin/modprobe -d '$TF_KDIR' "\$@" 2>>"\$log"
fi
rc=\$?
echo "modprobe \$* (from the \$where root): exit \$rc" >>"\$log"
exit \$rc
EOF
chmod 0755 /work/modprobe
echo "$TF_WORK_MNT/modprobe" >/proc/sys/kernel/modprobe

# The static nodes of modules.devname (/dev/net/tun, /dev/fuse, ...), as
# kmod static-nodes makes them at a Debian boot: opening one loads its module.
grep -v '^#' "/host$TF_KDIR/lib/modules/$(uname -r)/modules.devname" 2>/dev/null |
while read -r _ node dev; do
	t=${dev%%[0-9]*}
	majmin=${dev#?}
	[ -e "$R/dev/$node" ] && continue
	mkdir -p "$R/dev/${node%/*}"
	mknod -m 0600 "$R/dev/$node" "$t" "${majmin%%:*}" "${majmin#*:}" 2>/dev/null
done
[ -e $R/dev/net/tun ] && chmod 0666 $R/dev/net/tun

hostname tcpferry-vm
chroot $R /sbin/ip link set lo up

chroot $R /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/tmp TERM=dumb LANG=C.UTF-8 TF_WORK="$TF_WORK_MNT" \
	/bin/bash "$TF_WORK_MNT/tree/tools/vm/stage2.sh"
echo $? >/work/status.tmp && mv /work/status.tmp /work/status
sync
umount $TF_WORK_MNT $R$TF_WORK_MNT 2>/dev/null
poweroff -f
