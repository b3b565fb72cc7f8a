#!/usr/bin/env bash
# Install what building, testing, the demo and the benchmarks need, from
# Debian 12 packages (make test-vm's qemu, busybox-static, cpio and xz-utils
# too).  Idempotent: installs only what is missing.  Needs root.
set -euo pipefail

pkgs=(make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config
      libcap-dev iproute2 socat iperf3 nftables iptables perl gnuplot-nox
      ethtool procps kmod jq python3 util-linux
      qemu-system-x86 busybox-static cpio xz-utils)

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
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
