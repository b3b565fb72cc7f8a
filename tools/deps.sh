#!/usr/bin/env bash
# Install what building, testing, the demo and the benchmarks need, from
# Debian 12 packages (make test-vm's qemu, busybox-static, cpio and xz-utils
# too).  Idempotent: installs only what is missing.  Needs root.
set -euo pipefail

# libclang-rt-14-dev: clang's sanitizer runtimes and libFuzzer (make test-asan, make fuzz).
# haproxy and wrk: make bench's load balancer part (tools/bench/balance.sh) runs
# HAProxy in a namespace of its own making, and wrk as the client.
pkgs=(make gcc clang llvm libclang-rt-14-dev libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config
      libcap-dev iproute2 socat iperf3 nftables iptables perl gnuplot-nox
      ethtool procps kmod jq python3 openssl util-linux openssh-server openssh-client strace curl
      qemu-system-x86 busybox-static cpio xz-utils haproxy wrk)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing ${missing[*]}; run as root (apt-get install) or install them yourself" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages with a daemon (openssh-server, haproxy) must not start it: the tests
# start their own sshd, the bench its own haproxy, in namespaces they make, and
# nothing listens here.
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && made_policy=1
fi
trap '[ -z "$made_policy" ] || rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# policy-rc.d covers invoke-rc.d and deb-systemd-invoke; should a package's
# service have started all the same, stop it (by its unit, or its pid file).
for svc in haproxy; do
	[[ " ${missing[*]} " == *" $svc "* ]] || continue
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
		echo "deps: the $svc package started its service; stopping it"
		systemctl stop "$svc" || true
	elif [ -s "/run/$svc.pid" ] && kill -0 "$(cat "/run/$svc.pid")" 2>/dev/null; then
		echo "deps: the $svc package started its daemon; stopping it"
		kill "$(cat "/run/$svc.pid")" || true
	fi
done
