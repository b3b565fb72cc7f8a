# shellcheck shell=bash
# Sourced by the hand-off tests, after lib.sh: a VIP on a frontend and on its
# backends, one segment (a bridge in a namespace of its own).
#
#   client (C) ---+
#   frontend (F) -+- bridge br0 in namespace S; 198.18.20.0/24, fd00:7466:20::/64
#   backends B1.. +
#
# The VIP is on F's lo (the client routes it via F) and on each backend's lo
# (which does not answer ARP for it: arp_ignore=1, arp_announce=2, as LVS-DR
# backends are set up).  For l3 a backend decapsulates with the kernel's
# tunnel devices (ipip / ip6tnl external) where it has them, else with
# tcpferry's BPF decap (bpf/decap.bpf.c).  The client's MTU is 1400, so that
# the 20 or 40 bytes of the outer header fit.
#
#   hol_make                      S, F and C ($NS_S $NS_F $NS_C)
#   hol_port NS ADDR ADDR6        NS's eth0 on the bridge
#   hol_backend NS ADDR ADDR6     a backend: the namespace, its port, VIP on lo, ARP settings, decap
#   hol_make2                     hol_make, backends $NS_B1 and $NS_B2, make_bpffs
#   hol_balance NAME ARGS...      tcpferry balance on the frontend, waited for
VIP=198.19.0.20
VIP6=fd00:7466:19::20
F_ADDR=198.18.20.1
C_ADDR=198.18.20.3
F_ADDR6=fd00:7466:20::1
C_ADDR6=fd00:7466:20::3

hol_port() {
	local ns=$1 p=${1: -2}
	ip link add "${RUN_ID}${p}x" netns "$ns" type veth peer name "${RUN_ID}${p}y" netns "$NS_S" || return 1
	ip -n "$ns" link set "${RUN_ID}${p}x" name eth0 &&
		ip -n "$NS_S" link set "${RUN_ID}${p}y" master br0 up &&
		ip -n "$ns" addr add "$2/24" dev eth0 && ip -n "$ns" addr add "$3/64" dev eth0 nodad &&
		ip -n "$ns" link set eth0 up
}

hol_make() {
	NS_S=${RUN_ID}s
	NS_F=${RUN_ID}f
	NS_C=${RUN_ID}c
	make_ns "$NS_S"
	make_ns "$NS_F"
	make_ns "$NS_C"
	ip -n "$NS_S" link add br0 type bridge && ip -n "$NS_S" link set br0 up || bail_out "cannot make the bridge"
	hol_port "$NS_F" $F_ADDR $F_ADDR6 && hol_port "$NS_C" $C_ADDR $C_ADDR6 || bail_out "cannot make the veth ports"
	ip -n "$NS_C" link set eth0 mtu 1400
	ip -n "$NS_C" route add "$VIP/32" via $F_ADDR
	ip -n "$NS_C" -6 route add "$VIP6/128" via $F_ADDR6
	ip -n "$NS_F" addr add "$VIP/32" dev lo
	ip -n "$NS_F" addr add "$VIP6/128" dev lo nodad
}

# DECAP says how the last backend decapsulates.
hol_backend() {
	local ns=$1
	make_ns "$ns"
	hol_port "$ns" "$2" "$3" || bail_out "cannot make $ns's port"
	ip -n "$ns" addr add "$VIP/32" dev lo
	ip -n "$ns" addr add "$VIP6/128" dev lo nodad
	in_ns "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
		net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
	if ip -n "$ns" link add tfin type ipip external 2>/dev/null &&
		ip -n "$ns" link add tfin6 type ip6tnl external 2>/dev/null; then
		ip -n "$ns" link set tfin up && ip -n "$ns" link set tfin6 up
		in_ns "$ns" sysctl -qw net.ipv4.conf.tfin.rp_filter=0
		DECAP="the kernel's ipip and ip6tnl devices"
	else
		in_ns "$ns" tc qdisc add dev eth0 clsact &&
			in_ns "$ns" tc filter add dev eth0 ingress bpf direct-action obj "$BUILD/bpf/decap.bpf.o" sec tc ||
			bail_out "cannot decapsulate on $ns: no ipip / ip6tnl in this kernel, and the BPF decap did not attach"
		DECAP="tcpferry's BPF decap (this kernel has no ipip / ip6tnl)"
	fi
}

# hol_balance NAME ARGS...: `tcpferry balance ARGS` on the frontend, its
# stdout and stderr in $TMP/NAME.out and .err, its status socket
# $TMP/NAME.sock; BAL_PID (and BAL) is its pid (killed at exit); BAL_OPTS
# go before `balance` (-v).  Returns once it says ready, or 1 after a diag
# of what it said.
hol_balance() {
	local name=$1
	shift
	# shellcheck disable=SC2086
	ip netns exec "$NS_F" "$TF" --bpffs "$BPFFS/f" ${BAL_OPTS:-} balance --status-socket "$TMP/$name.sock" "$@" \
		>"$TMP/$name.out" 2>"$TMP/$name.err" &
	BAL_PID=$!
	BAL=$BAL_PID
	at_exit "kill -9 $BAL_PID 2>/dev/null"
	wait_for 30 grep -qsx ready "$TMP/$name.out" && return 0
	diag "$(cat "$TMP/$name.out" "$TMP/$name.err")"
	return 1
}

# hol_make2: hol_make, then backends $NS_B1 and $NS_B2 at B1_ADDR, B1_ADDR6
# and B2_ADDR, B2_ADDR6 (the caller's; the v6 ones default to ::11 and ::12),
# and the test's bpffs (make_bpffs).
hol_make2() {
	hol_make
	NS_B1=${RUN_ID}b1
	NS_B2=${RUN_ID}b2
	hol_backend "$NS_B1" "$B1_ADDR" "${B1_ADDR6:-fd00:7466:20::11}"
	hol_backend "$NS_B2" "$B2_ADDR" "${B2_ADDR6:-fd00:7466:20::12}"
	make_bpffs
}
