#!/usr/bin/env bash
# Install what building, testing, the demo and the benchmarks need, from
# Debian 12 packages (make test-vm's qemu, busybox-static, cpio and xz-utils
# too).  Idempotent: installs only what is missing.  Needs root.
set -euo pipefail

# libclang-rt-14-dev: clang's sanitizer runtimes and libFuzzer (make test-asan, make fuzz).
pkgs=(make gcc clang llvm libclang-rt-14-dev libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config
      libcap-dev iproute2 socat iperf3 nftables iptables perl gnuplot-nox
      ethtool procps kmod jq python3 openssl util-linux openssh-server openssh-client strace curl
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
# Packages with a daemon (openssh-server) must not start it: the tests start
# their own sshd in a namespace they make, and nothing listens here.
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && made_policy=1
fi
trap '[ -z "$made_policy" ] || rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
