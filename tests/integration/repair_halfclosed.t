#!/usr/bin/env bash
# Half-closed connections are carried too.  A process holds a connection in
# CLOSE_WAIT (the peer closed its side; the process still has to read the
# rest and answer), FIN_WAIT2 (the process closed its side; the peer still
# sends), FIN_WAIT1 (our FIN not acknowledged: a lock dropped it; or not even
# sent: queued behind data the peer's full window holds back) or LAST_ACK.
# dump --kill takes it, restore rebuilds it in the same state for a new
# program (fin_replay.h), and both ends see every byte, each EOF exactly once
# and no reset.  tests/helpers/tf-halfclose checks every byte it reads.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd jq

plan 37

make_pair
make_bpffs
tfa() { in_ns "$NS_A" "$TF" "$@"; }
tfa attach "$DEV_A" --tc >/dev/null || bail_out "cannot attach the lock programs on A"
# B's lock drops what A sends, after A sent it: A's FIN is sent, not acked.
# (A lock on A itself drops it at tc egress, where TCP counts it unsent.)
tfb() { in_ns "$NS_B" "$TF" --bpffs "$BPFFS/b" "$@"; }
tfb attach "$DEV_B" --tc >/dev/null || bail_out "cannot attach the lock programs on B"
HC=$HELPERS/tf-halfclose

# ss's state of A's end of the connection on PORT (CLOSE-WAIT, FIN-WAIT-2, ...)
state_at_a() { in_ns "$NS_A" ss -tnH state all "( sport = :$1 )" | awk '{ print $1; exit }'; }
in_state() { [ "$(state_at_a "$1")" = "$2" ]; }
# B's end of the connection to A's PORT as "LOCAL PEER"
tuple_at_b() { in_ns "$NS_A" ss -tnH state all "( sport = :$1 )" | awk '{ print $5, $4; exit }'; }
# close_wait_unread PORT N: A's end is in CLOSE-WAIT with N bytes unread.
# ss's Recv-Q is rcv_nxt - copied_seq, which counts the peer's FIN too.
# (A check of N alone never matched: it waited its whole 10 s, which under
# TCG outlasted the app's own 60 s timeout.)
close_wait_unread() {
	in_ns "$NS_A" ss -tnH state close-wait "( sport = :$1 )" | awk -v n="$(($2 + 1))" '$1 == n' | grep -q .
}
image_field() { "$TF" -j show "$1"/conn-*.tfc | jq -r "$2"; }

# start NAME PORT APP-ACTIONS... -- PEER-ARGS...: the app on A (listening) and
# the peer on B (connecting); $APP and $PEER are their pids.
start() {
	local name=$1 port=$2 addr=$3 app=() peer=()
	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do app+=("$1"); shift; done
	shift
	peer=("$@")
	# No `timeout` wrapper anywhere: dump and at_exit need the pid that holds
	# the socket (tf-halfclose ends itself after 60 s).
	spawn "$NS_A" "$TMP/$name.app" "$HC" listen "$addr" "$port" "${app[@]}"
	APP=$SPAWNED
	wait_for 5 eval "in_ns $NS_A ss -tlnH '( sport = :$port )' | grep -q ."
	ip netns exec "$NS_B" "$HC" connect "$addr" "$port" "${peer[@]}" >"$TMP/$name.peer" 2>&1 &
	PEER=$!
	at_exit "kill -9 $PEER"
}

# restore_to NAME IMG ARGS...: restore on A, handing the connection to
# tf-halfclose fd 3 ARGS; $PROG is its pid (restore execs it).
restore_to() {
	local name=$1 img=$2
	shift 2
	ip netns exec "$NS_A" "$TF" restore --in "$img" -- "$HC" fd 3 "$@" \
		>"$TMP/$name.prog" 2>&1 </dev/null &
	PROG=$!
	at_exit "kill -9 $PROG"
}

# The connection checks of every case: dump, the state in the image.
dump_case() { # NAME PORT STATE
	local img=$TMP/img-$1
	tfa dump --pid "$APP" --kill --out "$img" >"$TMP/$1.dump" 2>&1
	ok "$1: dump --kill takes the $3 connection" test $? -eq 0 || diag "$(cat "$TMP/$1.dump")"
	is "$(image_field "$img" .state)" "$3" "$1: the image says $3"
}

# ---- CLOSE_WAIT: the peer sent its request and closed; the app had read 5 bytes ----
close_wait_case() { # NAME ADDR PORT
	local name=$1 addr=$2 port=$3
	start "$name" "$port" "$addr" skip:5 touch:"$TMP/$name.ready" pause -- send:100000 shut eof:6000
	wait_for 10 test -e "$TMP/$name.ready"
	ok "$name: A holds the connection in CLOSE-WAIT, 99995 bytes unread" wait_for 10 close_wait_unread "$port" 99995
	dump_case "$name" "$port" CLOSE_WAIT
	restore_to "$name" "$TMP/img-$name" --rx-offset 5 eof:100000 send:6000 shut
	ok "$name: the new program reads the other 99995 bytes, then the peer's EOF, and answers" wait "$PROG" ||
		diag "$(cat "$TMP/$name.prog")"
	ok "$name: the peer reads the whole answer, then our EOF" wait "$PEER" || diag "$(cat "$TMP/$name.peer")"
}
close_wait_case cw4 "$ADDR_A" 7501
close_wait_case cw6 "$ADDR6_A" 7502

# ---- FIN_WAIT2: the app sent its greeting and closed its side; the peer sends later ----
start fw2 7503 "$ADDR_A" send:3000 shut touch:"$TMP/fw2.ready" pause -- \
	eof:3000 touch:"$TMP/fw2.peer" wait:"$TMP/fw2.go" send:50000 shut
wait_for 10 test -e "$TMP/fw2.peer"
ok "fw2: A holds the connection in FIN-WAIT-2 (once the peer's ACK of our FIN is in)" wait_for 5 in_state 7503 FIN-WAIT-2
dump_case fw2 7503 FIN_WAIT2
restore_to fw2 "$TMP/img-fw2" --tx-offset 3000 eof:50000
ok "fw2: the rebuilt socket is in FIN-WAIT-2 again" wait_for 5 in_state 7503 FIN-WAIT-2
touch "$TMP/fw2.go"
ok "fw2: the new program reads all the peer sends after the move, then its EOF" wait "$PROG" ||
	diag "$(cat "$TMP/fw2.prog")"
ok "fw2: the peer saw the greeting and one EOF" wait "$PEER" || diag "$(cat "$TMP/fw2.peer")"

# ---- FIN_WAIT1: the greeting and our FIN went out, into B's lock (unacknowledged) ----
start fw1 7504 "$ADDR_A" skip:1000 touch:"$TMP/fw1.ready" wait:"$TMP/fw1.shut" send:3000 shut pause -- \
	send:1000 eof:3000 touch:"$TMP/fw1.peer" wait:"$TMP/fw1.go" send:20000 shut
wait_for 10 test -e "$TMP/fw1.ready"
# shellcheck disable=SC2046
quietly tfb lock add $(tuple_at_b 7504) --ttl 60 || bail_out "fw1: cannot lock the tuple on B"
touch "$TMP/fw1.shut"
ok "fw1: A holds the connection in FIN-WAIT-1 (B's lock drops the FIN)" wait_for 5 in_state 7504 FIN-WAIT-1
dump_case fw1 7504 FIN_WAIT1
is "$(image_field "$TMP/img-fw1" '[.outq_len, .unsent_len, .fin_unsent] | @text')" "[3000,0,false]" \
	"fw1: the 3000 greeting bytes are in flight, our FIN was sent"
restore_to fw1 "$TMP/img-fw1" --rx-offset 1000 --tx-offset 3000 eof:21000
wait_for 10 eval "in_ns $NS_A ss -tnH state fin-wait-1 '( sport = :7504 )' | grep -q ."
# shellcheck disable=SC2046
quietly tfb lock del $(tuple_at_b 7504)
ok "fw1: once B unlocks, the greeting and our FIN reach the peer (retransmitted)" wait_for 15 test -e "$TMP/fw1.peer"
touch "$TMP/fw1.go"
ok "fw1: the new program reads the rest the peer sends, then its EOF" wait "$PROG" ||
	diag "$(cat "$TMP/fw1.prog")"
ok "fw1: the peer read the greeting and one EOF" wait "$PEER" || diag "$(cat "$TMP/fw1.peer")"

# ---- FIN_WAIT1 with our FIN not sent: it waits behind data a full window holds back ----
start unsent 7505 "$ADDR_A" fill shut touch:"$TMP/unsent.ready" pause -- \
	--rcvbuf 2048 wait:"$TMP/unsent.go" eof
wait_for 10 test -e "$TMP/unsent.ready"
filled=$(awk '/^filled/ { print $2 }' "$TMP/unsent.app")
ok "unsent: A holds the connection in FIN-WAIT-1 behind ${filled:-?} bytes the peer has no room for" \
	in_state 7505 FIN-WAIT-1
dump_case unsent 7505 FIN_WAIT1
ok "unsent: the image says our FIN is queued behind unsent bytes" \
	eval "[ \"\$(image_field '$TMP/img-unsent' '.fin_unsent and .unsent_len > 0')\" = true ]"
restore_to unsent "$TMP/img-unsent" pause
wait_for 10 eval "in_ns $NS_A ss -tnH state fin-wait-1 '( sport = :7505 )' | grep -q ."
touch "$TMP/unsent.go"
ok "unsent: the peer reads every byte, then one EOF" wait "$PEER" || diag "$(cat "$TMP/unsent.peer")"
is "$(awk '/^got/ { print $2 }' "$TMP/unsent.peer")" "$filled" "unsent: as many bytes as the app wrote"

# ---- LAST_ACK: the peer closed, the app answered and closed, into B's lock ----
start lastack 7506 "$ADDR_A" eof:2000 touch:"$TMP/lastack.ready" wait:"$TMP/lastack.shut" send:4000 shut pause -- \
	send:2000 shut eof:4000
wait_for 10 test -e "$TMP/lastack.ready"
# shellcheck disable=SC2046
quietly tfb lock add $(tuple_at_b 7506) --ttl 60 || bail_out "lastack: cannot lock the tuple on B"
touch "$TMP/lastack.shut"
ok "lastack: A holds the connection in LAST-ACK" wait_for 5 in_state 7506 LAST-ACK
dump_case lastack 7506 LAST_ACK
is "$(image_field "$TMP/img-lastack" '[.outq_len, .fin_unsent] | @text')" "[4000,false]" \
	"lastack: the 4000 answer bytes are in flight, our FIN was sent"
restore_to lastack "$TMP/img-lastack" --rx-offset 2000 --tx-offset 4000 pause
ok "lastack: the rebuilt socket is in LAST-ACK again" wait_for 5 in_state 7506 LAST-ACK
# shellcheck disable=SC2046
quietly tfb lock del $(tuple_at_b 7506)
ok "lastack: the peer reads the whole answer, then our EOF" wait "$PEER" || diag "$(cat "$TMP/lastack.peer")"

is "$(nstat_get "$NS_B" TcpEstabResets)" 0 "no connection of the peer was reset"
is "$(nstat_get "$NS_A" TcpOutRsts)$(nstat_get "$NS_B" TcpOutRsts)" 00 "no RST was sent by either host"
done_testing
