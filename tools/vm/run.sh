#!/usr/bin/env bash
# make test-vm: the test suite on Debian's own kernel package, in qemu.
#
#   tools/vm/run.sh [--kernel 6.1|6.12|VERSION] [--timeout SECONDS] [TEST...]
#
# Boots linux-image-<kernel>-amd64-unsigned (downloaded with apt-get download,
# unpacked and kept under the cache dir, keyed by its version) with a busybox
# initramfs (tools/vm/init.sh) that loads virtio and 9p from that package,
# mounts the host's root file system read-only over 9p and a writable work
# share (a fresh temp dir, removed at the end), and runs tools/vm/stage2.sh
# inside: prove over TEST... (paths in the tree; default every test) as root.
# The tree is copied into the work share and built there on the host first
# (the BPF objects are built once, CO-RE, and loaded by the guest's kernel).
#
# The guest's exit status (prove's) is written to the work share and becomes
# this script's.  A guest that hangs is killed by timeout(1); the guest
# kernel runs with panic=-1 and qemu with -no-reboot, so a panic ends qemu.
# Nothing in the guest touches the host: the root share is read-only, the
# guest has no network device, and the work share is deleted afterwards.
#
# Environment:
#   TCPFERRY_VM_CACHE    cache dir (default $XDG_CACHE_HOME/tcpferry-vm, or
#                        /var/cache/tcpferry-vm as root, ~/.cache/tcpferry-vm)
#   TCPFERRY_VM_KVM=1    try KVM first (a short boot probe; TCG if it fails).
#                        Default TCG: this machine's /dev/kvm hangs stock kernels.
#   TCPFERRY_VM_MEM      guest memory in MiB (2048)
#   TCPFERRY_VM_SMP      guest CPUs (1)
#   TCPFERRY_VM_TEST_TIMEOUT  seconds one test may take in the guest (900)
#   TCPFERRY_VM_OUT      where results are copied (build/vm/<kernel version>)
#   PROVE_FLAGS          passed to prove in the guest (default --timer)
#   WERROR               passed to make for the build (default 1)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VM=$ROOT/tools/vm
KERNEL=6.1
TIMEOUT=3600
die() { echo "test-vm: $*" >&2; exit 2; }
say() { echo "test-vm: $*" >&2; }

while [ $# -gt 0 ]; do
	case $1 in
	--kernel) KERNEL=${2:?--kernel needs a version}; shift 2 ;;
	--kernel=*) KERNEL=${1#*=}; shift ;;
	--timeout) TIMEOUT=${2:?--timeout needs seconds}; shift 2 ;;
	--timeout=*) TIMEOUT=${1#*=}; shift ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	--) shift; break ;;
	-*) die "unknown option $1 (see tools/vm/run.sh --help)" ;;
	*) break ;;
	esac
done
TESTS=("$@")
case $TIMEOUT in ''|*[!0-9]*) die "--timeout $TIMEOUT: expected whole seconds" ;; esac

for c in qemu-system-x86_64 cpio gzip readelf dpkg-deb apt-get apt-cache depmod modprobe xz timeout make; do
	command -v "$c" >/dev/null 2>&1 || die "needs $c: run make deps (tools/deps.sh installs it)"
done
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] && ! readelf -l "$BUSYBOX" 2>/dev/null | grep -q 'program interpreter' ||
	die "needs a static busybox at $BUSYBOX: apt-get install busybox-static (make deps)"
[ "$(id -u)" -eq 0 ] || die "needs root: the tests in the guest run as root and the guest shares / with passthrough"

if [ -n "${TCPFERRY_VM_CACHE:-}" ]; then
	CACHE=$TCPFERRY_VM_CACHE
elif [ -n "${XDG_CACHE_HOME:-}" ]; then
	CACHE=$XDG_CACHE_HOME/tcpferry-vm
else
	CACHE=/var/cache/tcpferry-vm
fi
mkdir -p "$CACHE/dl" || die "cannot create the cache dir $CACHE (set TCPFERRY_VM_CACHE)"

# ---- the kernel package ----------------------------------------------------------

# The newest linux-image-<KERNEL>...-amd64-unsigned apt knows, e.g. 6.1 ->
# linux-image-6.1.0-50-amd64-unsigned, 6.12 -> linux-image-6.12.107+deb12-amd64-unsigned.
pick_package() {
	local k=$1 re
	re="^linux-image-$(printf '%s' "$k" | sed 's/[.+]/\\&/g')([.-][0-9][^ ]*)?-amd64-unsigned\$"
	apt-cache search --names-only "^linux-image-$k" 2>/dev/null | awk '{ print $1 }' |
		grep -E "$re" | grep -v -e '-rt-' -e '-cloud-' |
		sed 's/^linux-image-//; s/-unsigned$//' | sort -V | tail -n 1
}

KVER=$(pick_package "$KERNEL")
if [ -z "$KVER" ]; then
	# Offline, or apt's lists are old: a version already in the cache will do.
	KVER=$(find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name "$KERNEL*-amd64" -printf '%f\n' |
		grep -v -e '-rt-' -e '-cloud-' | sort -V | tail -n 1 || true)
	[ -n "$KVER" ] || die "no linux-image-$KERNEL*-amd64-unsigned package is known to apt: run apt-get update (apt-cache search linux-image-$KERNEL lists them), or pass --kernel with one it lists"
	say "apt knows no linux-image-$KERNEL*; using the cached $KVER"
fi
KDIR=$CACHE/$KVER
if [ ! -e "$KDIR/.ready" ]; then
	pkg=linux-image-$KVER-unsigned
	deb=$(find "$CACHE/dl" -maxdepth 1 -name "${pkg}_*.deb" | sort -V | tail -n 1)
	if [ -z "$deb" ]; then
		say "downloading $pkg into $CACHE/dl"
		(cd "$CACHE/dl" && apt-get download -q "$pkg" 2>&1 | grep -v 'unsandboxed' >&2) ||
			die "apt-get download $pkg failed: run apt-get update, and check that the package is still in the archive (apt-cache policy $pkg)"
		deb=$(find "$CACHE/dl" -maxdepth 1 -name "${pkg}_*.deb" | sort -V | tail -n 1)
		[ -n "$deb" ] || die "apt-get download $pkg left no .deb in $CACHE/dl"
	fi
	say "unpacking $(basename "$deb") into $KDIR"
	rm -rf "$KDIR.tmp"
	mkdir -p "$KDIR.tmp"
	dpkg-deb -x "$deb" "$KDIR.tmp" || die "dpkg-deb -x $deb failed (a partial download? remove it and retry)"
	depmod -b "$KDIR.tmp" "$KVER" || die "depmod -b $KDIR.tmp $KVER failed"
	rm -rf "$KDIR"
	mv "$KDIR.tmp" "$KDIR"
	touch "$KDIR/.ready"
fi
VMLINUZ=$KDIR/boot/vmlinuz-$KVER
MODDIR=$KDIR/lib/modules/$KVER
[ -r "$VMLINUZ" ] || die "$VMLINUZ is missing: remove $KDIR and retry"

# ---- the work share ---------------------------------------------------------------

WORK=$(mktemp -d /tmp/tcpferry-vm.XXXXXX)
QEMU_PID=
cleanup() {
	[ -n "$QEMU_PID" ] && kill -9 "$QEMU_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chmod 0755 "$WORK"

say "copying the tree to the work share and building it there"
mkdir -p "$WORK/tree"
tar -C "$ROOT" --exclude=./.git --exclude=./build -cf - . | tar -C "$WORK/tree" -xf -
make -s -C "$WORK/tree" WERROR="${WERROR:-1}" -j"$(nproc)" all >"$WORK/build.log" 2>&1 || {
	tail -n 30 "$WORK/build.log" >&2
	die "make all failed in the work share's copy of the tree (the log is above)"
}

# ---- the initramfs ------------------------------------------------------------------

# virtio, the PCI transport and 9p, in the order they load: modprobe reads the
# package's own modules.dep; a module the kernel has built in shows as builtin.
INITRD=$WORK/initrd
mkdir -p "$INITRD"/{bin,sbin,etc,proc,sys,dev,host,work,lib/modules}
cp "$BUSYBOX" "$INITRD/bin/busybox"
cp "$VM/init.sh" "$INITRD/init"
chmod 0755 "$INITRD/init"
: >"$INITRD/lib/modules/order"
modprobe -d "$KDIR" -S "$KVER" -a --show-depends virtio_pci 9pnet_virtio 9p >"$WORK/deps" 2>&1 ||
	die "modprobe --show-depends virtio_pci 9pnet_virtio 9p failed for $KVER: $(head -n 2 "$WORK/deps")"
while read -r kind path _; do
	[ "$kind" = insmod ] || continue
	name=$(basename "$path")
	name=${name%.xz}
	name=${name%.zst}
	grep -qx "$name" "$INITRD/lib/modules/order" && continue
	case $path in
	*.xz) xz -dc "$path" >"$INITRD/lib/modules/$name" ;;
	*.zst) zstd -qdc "$path" >"$INITRD/lib/modules/$name" ;;
	*) cp "$path" "$INITRD/lib/modules/$name" ;;
	esac
	echo "$name" >>"$INITRD/lib/modules/order"
done <"$WORK/deps"
builtin=$(awk '$1 == "builtin" { printf "%s ", $2 }' "$WORK/deps")
say "kernel $KVER: initramfs modules $(tr '\n' ' ' <"$INITRD/lib/modules/order")${builtin:+(built in: $builtin)}"

cat >"$INITRD/etc/tf-vm.conf" <<EOF
TF_KDIR='$KDIR'
TF_WORK_MNT=/tmp/tcpferry-vm
EOF
(cd "$INITRD" && find . | cpio -o -H newc --quiet) | gzip -1 >"$WORK/initrd.img"

printf '%s\n' "${TESTS[@]}" >"$WORK/tests"
printf '%s\n' "${PROVE_FLAGS---timer}" >"$WORK/prove_flags"
echo "${TCPFERRY_VM_TEST_TIMEOUT:-900}" >"$WORK/test_timeout"

# ---- qemu ---------------------------------------------------------------------------------

qemu_cmd() {	# ACCEL APPEND...
	local accel=$1
	shift
	local cpu=max
	[ "$accel" = kvm ] && cpu=host
	QEMU=(qemu-system-x86_64 -nodefaults -no-reboot -display none -monitor none
	      -accel "$accel" -cpu "$cpu" -smp "${TCPFERRY_VM_SMP:-1}" -m "${TCPFERRY_VM_MEM:-2048}"
	      -chardev stdio,id=con,signal=on -serial chardev:con
	      -kernel "$VMLINUZ" -initrd "$WORK/initrd.img"
	      -append "console=ttyS0 panic=-1 oops=panic loglevel=4 $*"
	      -fsdev local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap
	      -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
	      -fsdev local,id=work,path="$WORK",security_model=passthrough,multidevs=remap
	      -device virtio-9p-pci,fsdev=work,mount_tag=work)
}

ACCEL=tcg
if [ "${TCPFERRY_VM_KVM:-0}" = 1 ]; then
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		qemu_cmd kvm tf.probe=1
		say "probing KVM (a boot that must print its marker within 30 s)"
		if timeout -k 5 30 "${QEMU[@]}" </dev/null 2>&1 | grep -q TF-VM-PROBE-OK; then
			ACCEL=kvm
		else
			say "KVM did not boot $KVER within 30 s: using TCG"
		fi
	else
		say "TCPFERRY_VM_KVM=1 but /dev/kvm is not there or not usable: using TCG"
	fi
fi
qemu_cmd "$ACCEL"
say "booting $KVER under ${ACCEL^^} (timeout ${TIMEOUT} s)${TESTS[*]:+, tests: ${TESTS[*]}}"
start=$(date +%s)
rc=0
timeout -k 10 "$TIMEOUT" "${QEMU[@]}" </dev/null &
QEMU_PID=$!
wait "$QEMU_PID" || rc=$?
QEMU_PID=
secs=$(($(date +%s) - start))

OUT=${TCPFERRY_VM_OUT:-$ROOT/build/vm/$KVER}
mkdir -p "$OUT"
for f in prove.log check.txt check.json uname modprobe.log; do
	[ -e "$WORK/$f" ] && cp "$WORK/$f" "$OUT/"
done
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
	die "the guest did not finish within ${TIMEOUT} s and was killed (pass --timeout, or TESTS=... for fewer tests); what it printed is above"
fi
if [ ! -s "$WORK/status" ]; then
	die "the guest ended after ${secs} s without writing its exit status (qemu exit $rc: a panic, the guest's init failed, or qemu was killed; its console is above)"
fi
status=$(cat "$WORK/status")
say "kernel $(cat "$WORK/uname" 2>/dev/null || echo "$KVER"), ${ACCEL^^}, ${secs} s: $(tail -n 1 "$WORK/prove.log" 2>/dev/null) (exit $status); logs in $OUT"
exit "$status"
