# shellcheck shell=bash
# Paced socat streams across make_pair's two namespaces, for the lock tests.
# Sourced after tests/lib.sh and make_pair ($TMP, $NS_A, $NS_B, $ADDR_A, $ADDR6_B).
#
#   streams_expect          LINES numbered lines (default 300) into $TMP/expect:
#                           what every stream must deliver, byte for byte
#   stream_in4 PORT TAG     the peer (NS_B) sends them over IPv4 to ADDR_A:PORT
#   stream_out6 PORT TAG    A sends them over IPv6 to [ADDR6_B]:PORT
#                           both: received into $TMP/recvTAG, the sender's exit
#                           status in $TMP/txTAG.rc, pids in RX_PID and TX_PID
#                           (killed at exit); 12 ms a line, so about 4 s
#   stream_tuple PORT       "LOCAL PEER" of that stream's connection, as A sees it
#   streams_both            stream_in4 5001 4 and stream_out6 5002 6, then waits until
#                           both are connected: rx4 and rx6 their receivers' pids,
#                           L4 P4 and L6 P6 their tuples; status 1 if they did not connect

LINES=${LINES:-300}

stream_line() { printf 'line %06d abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789\n' "$1"; }

stream_gen() {
	local i
	for ((i = 1; i <= LINES; i++)); do
		stream_line "$i"
		sleep 0.012
	done
}

streams_expect() {
	local i
	for ((i = 1; i <= LINES; i++)); do
		stream_line "$i"
	done >"$TMP/expect"
}

# stream_start RX_NS LISTEN TX_NS CONNECT TAG
stream_start() {
	# (ip netns exec execs socat: RX_PID is the receiver's own pid, so that
	# at_exit ends it; a shell function in the background would be a subshell
	# whose socat outlives the kill, holding the test's stdout open)
	ip netns exec "$1" socat -u "$2" OPEN:"$TMP/recv$5",creat,trunc &
	RX_PID=$!
	at_exit "kill $RX_PID"
	sleep 0.3
	(stream_gen | in_ns "$3" socat -u - "$4"; echo $? >"$TMP/tx$5.rc") &
	TX_PID=$!
	at_exit "kill $TX_PID"
}

stream_in4() { stream_start "$NS_A" TCP4-LISTEN:"$1",bind="$ADDR_A" "$NS_B" TCP4:"$ADDR_A":"$1" "$2"; }
stream_out6() { stream_start "$NS_B" TCP6-LISTEN:"$1",bind="[$ADDR6_B]" "$NS_A" TCP6:"[$ADDR6_B]":"$1" "$2"; }

stream_tuple() { in_ns "$NS_A" ss -tnH state established "( sport = :$1 or dport = :$1 )" | awk 'NR == 1 { print $3, $4 }'; }

stream_up() { [ -n "$(stream_tuple "$1")" ]; }

streams_both() {
	stream_in4 5001 4
	rx4=$RX_PID
	stream_out6 5002 6
	rx6=$RX_PID
	wait_for 5 stream_up 5001 && wait_for 5 stream_up 5002 || return 1
	sleep 0.5
	read -r L4 P4 <<<"$(stream_tuple 5001)"
	read -r L6 P6 <<<"$(stream_tuple 5002)"
	note "IPv4 tuple: $L4 $P4; IPv6 tuple: $L6 $P6"
}
