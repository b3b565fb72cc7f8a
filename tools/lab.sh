#!/usr/bin/env bash
# tools/lab.sh: a small network of test hosts, as network namespaces.
#
#   tools/lab.sh up [--id ID] [--dir DIR]   build it; prints its variables (eval-able)
#   tools/lab.sh down [--id ID]             tear it down (also half-built ones)
#   tools/lab.sh exec HOST CMD [ARGS...]    run CMD on peer|rt|a|b, TCPFERRY_BPFFS set
#   tools/lab.sh env [--id ID]              print its variables again
#   tools/lab.sh list                       the labs that exist
#
#        peer (198.18.10.2, fd00:7466:10::2)
#          |  eth0
#         rt (router: .10.1, .11.1, .12.1, fd00:7466:1x::1; forwards both)
#        /  \
#   a (.11.2)  b (.12.2)          service address 198.19.0.10/32 and
#   (fd00:7466:11::2, :12::2)      fd00:7466:19::10/128 on a's lo, routed by rt
#                                 via a; moving it to b is `ip addr` on a and b
#                                 plus `ip route replace` on rt.
#
# Every host has its own bpffs mount (its own lock table and pins); a and b have
# the lock programs attached to eth0 (tc).  Names are unique to the run
# (ID, default tfl + 7 hex digits from the pid and chance); the variables are kept in
# ${TCPFERRY_LAB_DIR:-/run/tcpferry-lab}/ID.env, and "current" names the last
# lab brought up, so `exec` and `down` need no --id for a human with one lab
# (TCPFERRY_LAB=ID picks another one for `exec`, `down` and `env`).
# `up` tears everything down again if any step fails.  Run by a test
# (TCPFERRY_TEST_RECORD set by tests/lib.sh), `up` first writes each namespace,
# its work directory and its env file to the test's record, so that a test
# killed outright does not leak the lab (tests/sweep.sh removes it).
set -u

LAB_DIR=${TCPFERRY_LAB_DIR:-/run/tcpferry-lab}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case ${BUILD:=build} in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac	# make BUILD=...
TF=${TF:-$BUILD/tcpferry}

# owned KIND WHAT: into the run's record, before it is made (tests/sweep.sh).
. "$ROOT/tests/run_record.sh"

die() {
	echo "lab: $*" >&2
	exit 1
}

usage() {
	sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

# The variables of a lab, written to its env file and printed by `up`/`env`.
lab_vars() {
	local id=$1 dir=$2
	cat <<EOF
LAB_ID=$id
LAB_WORK=$dir
NS_PEER=$id-peer
NS_RT=$id-rt
NS_A=$id-a
NS_B=$id-b
DEV=eth0
PEER_ADDR=198.18.10.2
RT_PEER=198.18.10.1
A_ADDR=198.18.11.2
RT_A=198.18.11.1
B_ADDR=198.18.12.2
RT_B=198.18.12.1
SVC=198.19.0.10
PEER_ADDR6=fd00:7466:10::2
RT_PEER6=fd00:7466:10::1
A_ADDR6=fd00:7466:11::2
RT_A6=fd00:7466:11::1
B_ADDR6=fd00:7466:12::2
RT_B6=fd00:7466:12::1
SVC6=fd00:7466:19::10
BPFFS_A=$dir/bpffs-a/tcpferry
BPFFS_B=$dir/bpffs-b/tcpferry
BPFFS_PEER=$dir/bpffs-peer/tcpferry
BPFFS_RT=$dir/bpffs-rt/tcpferry
EOF
}

load() {
	local id=${1:-}
	if [ -z "$id" ]; then
		[ -r "$LAB_DIR/current" ] || die "no lab is up (tools/lab.sh up), or give --id"
		id=$(cat "$LAB_DIR/current")
	fi
	[ -r "$LAB_DIR/$id.env" ] || die "lab $id: no $LAB_DIR/$id.env; is it up? (tools/lab.sh list)"
	# shellcheck disable=SC1090
	. "$LAB_DIR/$id.env"
}

# link NS1 NAME1 ADDR1 ADDR1_6 NS2 NAME2 ADDR2 ADDR2_6: a veth pair between two
# hosts (/24 and /64 each; no DAD: the addresses are ours alone).
link() {
	local t1=tfl$RANDOM t2=tfr$RANDOM
	ip link add "$t1" netns "$1" type veth peer name "$t2" netns "$5" || return 1
	ip -n "$1" link set "$t1" name "$2" && ip -n "$5" link set "$t2" name "$6" &&
		ip -n "$1" addr add "$3/24" dev "$2" && ip -n "$5" addr add "$7/24" dev "$6" &&
		ip -n "$1" addr add "$4/64" dev "$2" nodad && ip -n "$5" addr add "$8/64" dev "$6" nodad &&
		ip -n "$1" link set "$2" up && ip -n "$5" link set "$6" up
}

host_bpffs() {
	local host=$1
	case $host in
	a) echo "$BPFFS_A" ;;
	b) echo "$BPFFS_B" ;;
	peer) echo "${BPFFS_PEER:-}" ;;
	rt) echo "${BPFFS_RT:-}" ;;
	*) echo "" ;;
	esac
}

host_ns() {
	case $1 in
	peer) echo "$NS_PEER" ;;
	rt) echo "$NS_RT" ;;
	a) echo "$NS_A" ;;
	b) echo "$NS_B" ;;
	*) die "unknown host '$1': peer, rt, a or b" ;;
	esac
}

build() {
	local ns
	for ns in "$NS_PEER" "$NS_RT" "$NS_A" "$NS_B"; do
		owned netns "$ns"
		ip netns add "$ns" || return 1
		ip -n "$ns" link set lo up || return 1
		ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 ||
			return 1
	done
	link "$NS_PEER" eth0 "$PEER_ADDR" "$PEER_ADDR6" "$NS_RT" eth0 "$RT_PEER" "$RT_PEER6" || return 1
	link "$NS_A" eth0 "$A_ADDR" "$A_ADDR6" "$NS_RT" eth1 "$RT_A" "$RT_A6" || return 1
	link "$NS_B" eth0 "$B_ADDR" "$B_ADDR6" "$NS_RT" eth2 "$RT_B" "$RT_B6" || return 1
	ip netns exec "$NS_RT" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
	ip -n "$NS_PEER" route add default via "$RT_PEER" || return 1
	ip -n "$NS_A" route add default via "$RT_A" || return 1
	ip -n "$NS_B" route add default via "$RT_B" || return 1
	ip -n "$NS_PEER" -6 route add default via "$RT_PEER6" || return 1
	ip -n "$NS_A" -6 route add default via "$RT_A6" || return 1
	ip -n "$NS_B" -6 route add default via "$RT_B6" || return 1
	# The service lives on a: its addresses on a's lo, routed there by rt.
	ip -n "$NS_A" addr add "$SVC/32" dev lo || return 1
	ip -n "$NS_A" addr add "$SVC6/128" dev lo nodad || return 1
	ip -n "$NS_RT" route add "$SVC/32" via "$A_ADDR" || return 1
	ip -n "$NS_RT" -6 route add "$SVC6/128" via "$A_ADDR6" || return 1
	# A bpffs per host, so that tcpferry run through `exec` (ip netns exec,
	# whose /sys is its own) pins where the pins outlive the command.
	local h fs
	for h in peer rt a b; do
		fs=$(dirname "$(host_bpffs $h)")
		mkdir -p "$fs" && mount -t bpf bpf "$fs" || return 1
	done
	for h in a b; do
		ip netns exec "$(host_ns $h)" "$TF" --bpffs "$(host_bpffs $h)" attach eth0 --tc >/dev/null || return 1
	done
}

cmd_up() {
	local id="" dir=""
	while [ $# -gt 0 ]; do
		case $1 in
		--id) id=$2; shift 2 ;;
		--dir) dir=$2; shift 2 ;;
		*) usage 2 ;;
		esac
	done
	[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, bpffs)"
	[ -x "$TF" ] || die "$TF is not built; run make"
	# 7 hex digits of pid and chance: 10 characters whatever pid_max is
	id=${id:-tfl$(printf '%07x' $(((($$ << 10) | (RANDOM & 1023)) & 0xfffffff)))}
	[ ${#id} -le 10 ] || die "--id $id: at most 10 characters (device and netns names)"
	ip netns list | grep -q "^$id-" && die "lab $id exists already; tools/lab.sh down --id $id"
	mkdir -p "$LAB_DIR" && chmod 0700 "$LAB_DIR"
	# tmpfs where there is one: images are fsync()ed, and that should not be the pause
	local base=/tmp
	[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
	if [ -z "$dir" ]; then
		dir=$(mktemp -d "$base/$id.lab.XXXXXX") || die "cannot make a work directory in $base"
		owned dir "$dir"	# only one we made: down removes no other
	fi
	mkdir -p "$dir"
	owned file "$LAB_DIR/$id.env"
	lab_vars "$id" "$dir" >"$LAB_DIR/$id.env"
	load "$id"
	if ! build >"$dir/up.log" 2>&1; then
		cat "$dir/up.log" >&2
		cmd_down --id "$id" >/dev/null 2>&1
		die "lab $id: could not be built (see above); everything was removed again"
	fi
	echo "$id" >"$LAB_DIR/current"
	cat "$LAB_DIR/$id.env"
}

cmd_down() {
	local id=${TCPFERRY_LAB:-}
	[ "${1:-}" = --id ] && id=$2
	load "$id"
	local ns pid fs
	# Processes first (they hold sockets and pins), then mounts, then hosts.
	for ns in "$NS_PEER" "$NS_RT" "$NS_A" "$NS_B"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -9 "$pid" 2>/dev/null
		done
	done
	for ns in "$NS_A" "$NS_B"; do
		[ -e "/run/netns/$ns" ] && ip netns exec "$ns" "$TF" --bpffs \
			"$([ "$ns" = "$NS_A" ] && echo "$BPFFS_A" || echo "$BPFFS_B")" detach eth0 >/dev/null 2>&1
	done
	for fs in "$BPFFS_A" "$BPFFS_B" "${BPFFS_PEER:-}" "${BPFFS_RT:-}"; do
		[ -n "$fs" ] && umount -l "$(dirname "$fs")" 2>/dev/null
	done
	for ns in "$NS_PEER" "$NS_RT" "$NS_A" "$NS_B"; do
		[ -e "/run/netns/$ns" ] && ip netns del "$ns"
	done
	case $LAB_WORK in /tmp/"$LAB_ID".lab.* | /dev/shm/"$LAB_ID".lab.*) rm -rf "$LAB_WORK" ;; esac
	rm -f "$LAB_DIR/$LAB_ID.env"
	[ "$(cat "$LAB_DIR/current" 2>/dev/null)" = "$LAB_ID" ] && rm -f "$LAB_DIR/current"
	return 0
}

cmd_exec() {
	local host=${1:-}
	[ -n "$host" ] && [ $# -ge 2 ] || usage 2
	shift
	load "${TCPFERRY_LAB:-}"
	local ns fs
	ns=$(host_ns "$host")
	fs=$(host_bpffs "$host")
	if [ -n "$fs" ]; then
		exec ip netns exec "$ns" env TCPFERRY_BPFFS="$fs" "$@"
	fi
	exec ip netns exec "$ns" "$@"
}

case ${1:-} in
up) shift; cmd_up "$@" ;;
down) shift; cmd_down "$@" ;;
exec) shift; cmd_exec "$@" ;;
env) shift; if [ "${1:-}" = --id ]; then load "$2"; else load "${TCPFERRY_LAB:-}"; fi; cat "$LAB_DIR/$LAB_ID.env" ;;
list) ls "$LAB_DIR" 2>/dev/null | sed -n 's/\.env$//p' ;;
-h | --help | help) usage 0 ;;
*) usage 2 ;;
esac
