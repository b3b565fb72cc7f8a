#!/usr/bin/env bash
# tcpferry migrate nudge: the probe and ACKs that prompt the peer after a move
# leave one shared raw socket per address family, with the connection's own
# address as their source (IP_PKTINFO / IPV6_PKTINFO).  What the peer's socket
# counts (segs_in, segs_out in TCP_INFO) shows that they reached it, as the
# connection's segments, over IPv4 and IPv6, and that the peer answers every
# nudge, also two within its 500 ms limit for out-of-window ACKs.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd jq

plan 12

make_pair
make_bpffs
# The connections use a second address of A's that source selection would
# not pick (a secondary IPv4 address, a deprecated IPv6 one): an ACK that
# left from the preferred source would miss the peer's socket.
in_ns "$NS_A" ip addr add 198.18.0.11/24 dev "$DEV_A"
in_ns "$NS_A" ip addr add fd00:7466::11/64 dev "$DEV_A" nodad preferred_lft 0
tfa() { in_ns "$NS_A" "$TF" "$@"; }
tfa attach "$DEV_A" --tc >/dev/null || bail_out "cannot attach the lock programs on A"

# peer_count FIELD PORT: the peer's TCP_INFO counter FIELD of its connection to PORT
peer_count() {
	in_ns "$NS_B" ss -tniH state established "( dport = :$2 )" | grep -o "$1:[0-9]*" | head -1 | cut -d: -f2
}

nudge_case() { # nudge_case NAME PORT IMG PID OPTS PACKETS TEXT
	local name=$1 port=$2 img=$3 prog=$4 opts=$5 n=$6 text=$7 in0 out0 in1 out1 js
	in0=$(peer_count segs_in "$port") out0=$(peer_count segs_out "$port")
	# shellcheck disable=SC2086
	js=$(tfa -j migrate nudge --in "$img" --pid "$prog" $opts 2>"$TMP/nudge-$name.err") ||
		diag "$(cat "$TMP/nudge-$name.err")"
	is "$(jq -c '[.connections, .packets]' <<<"$js")" "[1,$n]" "$name: migrate nudge: $text"
	# Well within the 500 ms in which the peer answers one out-of-window
	# pure ACK (net.ipv4.tcp_invalid_ratelimit): the probe carries a byte,
	# so each nudge is answered (with pure ACKs the second one was not).
	sleep 0.2
	in1=$(peer_count segs_in "$port") out1=$(peer_count segs_out "$port")
	ok "  the peer's socket got $n and answered (their source is the connection's address)" \
		test "$((in1 - in0))" -eq "$n" -a "$((out1 - out0))" -ge 1 ||
		diag "segs_in $in0 -> $in1, segs_out $out0 -> $out1"
}

run_case() { # run_case NAME ADDR PORT
	local name=$1 addr=$2 port=$3 app peer img=$TMP/img-$1 prog
	spawn "$NS_A" "$TMP/echo-$name.out" "$HELPERS/tf-stream" echo "$addr" "$port"
	app=$SPAWNED
	spawn "$NS_B" "$TMP/peer-$name.out" "$HELPERS/tf-stream" many-peer "$addr" "$port" --count 1 --rounds 1
	peer=$SPAWNED
	wait_for 20 grep -qs ready "$TMP/peer-$name.out" || bail_out "$name: the peer did not connect"

	ok "$name: dump --kill" quietly tfa dump --pid "$app" --kill --out "$img"
	# Not through a function: `f &` would make $! a subshell.  restore
	# execs the program, so $! becomes it.
	ip netns exec "$NS_A" "$TF" restore --in "$img" -- sleep 120 >"$TMP/restore-$name.out" 2>&1 &
	prog=$!
	at_exit "kill -9 $prog"
	wait_for 10 eval '[ "$(cat /proc/$prog/comm 2>/dev/null)" = sleep ]' ||
		bail_out "$name: restore did not hand the connection over: $(cat "$TMP/restore-$name.out")"
	# The window probe of the restore's repair-off has been answered by now.
	sleep 0.3
	nudge_case "$name" "$port" "$img" "$prog" "" 1 "one probe (SACK is on: no duplicate ACKs)"
	nudge_case "$name" "$port" "$img" "$prog" "--dupacks 3" 4 "--dupacks 3: the probe and 3 ACKs"
	is "$(nstat_get "$NS_B" TcpEstabResets)" 0 "$name: no connection of the peer was reset"
}

run_case ipv4 198.18.0.11 7410
run_case ipv6 fd00:7466::11 7411
done_testing
