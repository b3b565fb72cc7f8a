#!/usr/bin/env bash
# 1,000 connections of one process moved from host a to host b in one
# migration: the peer (tf-stream many-peer) holds 1,000 connections to an echo
# server on a's service address; tools/migrate.sh moves them all to a fresh
# echo process on b (tf-stream echo-continue, fed by tcpferry restore through
# LISTEN_FDS); then every connection echoes a numbered line exactly.  Then
# tcpferry migrate send moves all of them back to a over ssh (an sshd in a's
# namespace), and every connection echoes again.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/flowlab.sh"
. "$(dirname "$0")/../helpers/sshlab.sh"
need_root
need_built
need_cmd jq ss nstat ssh ssh-keygen /usr/sbin/sshd nsenter

N=${MANY:-1000}
plan 11
env=$("$TF_ROOT/tools/lab.sh" up --id "${RUN_ID:0:8}M") || bail_out "the lab did not come up"
eval "$env"
at_exit "$TF_ROOT/tools/lab.sh down --id ${RUN_ID:0:8}M"
export TCPFERRY_LAB=${RUN_ID:0:8}M

ip netns exec "$NS_A" "$HELPERS/tf-stream" echo "$SVC" 6000 >"$TMP/echo.log" 2>&1 &
app=$!
disown	# the lab teardown kills it
# Between the rounds every connection pings every 5 ms: the longest gap of
# round 2 is the pause the peer saw across the move.
ip netns exec "$NS_PEER" "$HELPERS/tf-stream" many-peer "$SVC" 6000 --count "$N" --rounds 3 --ping-ms 5 \
	>"$TMP/peer.log" 2>&1 &
peer=$!
wait_for 60 grep -qs ready "$TMP/peer.log" || bail_out "the peer never got its $N connections up: $(cat "$TMP/peer.log")"
is "$("$TF_ROOT/tools/lab.sh" exec a ss -tnH state established "( sport = :6000 )" | wc -l)" "$N" "$N connections established at a"
kill -USR1 "$peer"
wait_for 30 grep -qs "round 1 ok" "$TMP/peer.log"
ok "round 1 echoed on every connection at a" grep -q "round 1 ok" "$TMP/peer.log"

# What the peer did to recover (the pause's cause): its tail loss probes,
# retransmission timeouts and retransmitted segments since the last call.
recovery() {
	local c d out=
	for c in TcpExtTCPLossProbes TcpExtTCPTimeouts TcpRetransSegs; do
		d=$(nstat_get "$NS_PEER" "$c")
		out+="${c#Tcp} $((d - ${REC[$c]:-0})) "
		REC[$c]=$d
	done
	echo "$out"
}
declare -A REC
recovery >/dev/null
W=$LAB_WORK/move	# tmpfs: images are fsync()ed
"$TF_ROOT/tools/migrate.sh" --from a --to b --pid "$app" --work "$W" all -- "$HELPERS/tf-stream" echo-continue \
	>"$TMP/migrate.log" 2>&1
ok "all $N connections moved a -> b in one migration" test $? -eq 0
note "step times (ms): $(tr '\t\n' ' ,' <"$W/times")"
is "$(jq '.nudged' "$W/move.json" 2>/dev/null)" "$N" "all $N restored connections were unlocked and nudged on b"
kill -USR1 "$peer"
wait_for 30 grep -qs "round 2 ok" "$TMP/peer.log"
ok "round 2 echoed exactly on every one of the $N connections, now at b" grep -q "round 2 ok" "$TMP/peer.log"
note "pause at the peer (ms): $(sed -n 's/^round 2 ok max_gap_ms \([0-9.]*\).*/\1/p' "$TMP/peer.log")"
note "the peer's recovery over that move: $(recovery)"

# Back to a over ssh, all at once.
sshlab_up a
"$TF_ROOT/tools/lab.sh" exec a ip addr replace "$SVC/32" dev lo
to_b=$(cat "$W/to.pid")
"$TF_ROOT/tools/lab.sh" exec b "$TF" -j migrate send --pid "$to_b" --journal "$TMP/journal-b-sent" \
	--via "$(receive_via a)" --flip "ip -n $NS_RT route replace $SVC/32 via $A_ADDR" \
	-- "$HELPERS/tf-stream" echo-continue >"$TMP/send.json" 2>"$TMP/send.err"
ok "all $N connections moved b -> a over ssh by migrate send" test $? -eq 0
note "migrate send: $(jq -c .ms "$TMP/send.json" 2>/dev/null) $(tail -2 "$TMP/send.err")"
is "$(jq '.nudged' "$TMP/send.json" 2>/dev/null)" "$N" "all $N were unlocked and nudged on a"
is "$("$TF_ROOT/tools/lab.sh" exec a ss -tnH state established "( sport = :6000 )" | wc -l)" "$N" \
	"$N connections established at a again"
kill -USR1 "$peer"
ok "round 3 echoed exactly on every one of the $N connections, back at a" wait "$peer"
note "$(tail -1 "$TMP/peer.log")"
note "pause at the peer over ssh (ms): $(sed -n 's/^round 3 ok max_gap_ms \([0-9.]*\).*/\1/p' "$TMP/peer.log")"
note "the peer's recovery over that move: $(recovery)"
is "$(nstat_get "$NS_PEER" TcpEstabResets)" 0 "no connection of the peer was reset"
ok "no lock left on a or b" eval '[ "$(lock_count a)$(lock_count b)" = 00 ]'
done_testing
