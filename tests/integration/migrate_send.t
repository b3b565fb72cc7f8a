#!/usr/bin/env bash
# tcpferry migrate send / receive: moves between hosts that share nothing but
# the lab network, the channel an ssh session to an sshd in the target's
# namespace (keys made here).  The demo's verified streams (IPv4 and IPv6,
# each through an unmodified socat) move a -> b and back; the source's
# tcpferry never enters b's namespace.  Then the failures: a target without
# the local address, a corrupt image, a protocol version the target does not
# know, the source tool, the target tool and the ssh connection killed at the
# protocol's steps, and a commit whose answer is lost (in doubt, then
# settled).  After each: alive in exactly one place, nothing locked that does
# not expire, and at the end every byte verified, no RST, no PAWS drop.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/flowlab.sh"
. "$(dirname "$0")/../helpers/sshlab.sh"
. "$(dirname "$0")/../helpers/sendlab.sh"
need_root
need_built
need_cmd socat jq ss nstat ssh ssh-keygen /usr/sbin/sshd nsenter strace

plan 55
flowlab_up
sshlab_up a b
# The IPv6 stream beside the demo's: peer's tf-flow -> socat on a ([SVC6]:5002) -> peer's echo.
ip netns exec "$NS_PEER" socat TCP6-LISTEN:5003,reuseaddr,fork PIPE >"$TMP/echo6.log" 2>&1 &
# -t 30: at the end, socat waits for the whole echo after the client's EOF (its
# default half a second is too short for what a busy lab holds in flight).
ip netns exec "$NS_A" socat -t 30 TCP6-LISTEN:5002,bind="[$SVC6]",reuseaddr \
	TCP6:"[$PEER_ADDR6]":5003,bind="[$SVC6]" >"$TMP/socat6.log" 2>&1 &
APP6_PID=$!
APP6_HOST=a
sleep 0.2
ip netns exec "$NS_PEER" "$HELPERS/tf-flow" client "$SVC6" 5002 --status "$TMP/status6" \
	>"$TMP/flow6.log" 2>"$TMP/flow6.err" &
CLIENT6=$!
recv6() { awk '{print $1+0}' "$TMP/status6" 2>/dev/null; }
flowing6() {
	local since now i
	since=$(recv6)
	for ((i = 0; i < 1000; i++)); do
		kill -0 "$CLIENT6" 2>/dev/null || return 1
		now=$(recv6)
		[ "${now:-0}" -gt "$((${since:-0} + 8192))" ] && return 0
		sleep 0.01
	done
	return 1
}
ok "the IPv6 stream runs through a" flowing6

# Both service addresses on both hosts' lo: the route at rt decides where they
# live (as tools/migrate.sh's prepare does), so the target has its local
# addresses before the move.
for h in a b; do
	"$TF_ROOT/tools/lab.sh" exec $h ip addr replace "$SVC/32" dev lo
	"$TF_ROOT/tools/lab.sh" exec $h ip addr replace "$SVC6/128" dev lo nodad
done

established6() {
	"$TF_ROOT/tools/lab.sh" exec "$1" ss -tnH state established "( sport = :5002 or dport = :5003 )" | wc -l
}
# 1. a -> b over ssh, IPv4; under strace: the source never enters b.
# (LeakSanitizer cannot work in a traced process: off for this one under make test-asan.)
"$TF_ROOT/tools/lab.sh" exec a env ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
	strace -f -qq -e trace=openat,open,setns -o "$TMP/strace" \
	"$TF" -j migrate send --pid "$APP_PID" --journal "$TMP/journal-a-sent" --via "$(receive_via b)" --ttl 20 \
	--flip "$(flip_to b)" -- socat FD:3 FD:4 >"$TMP/send.json" 2>"$TMP/send.err"
ok "migrate send a -> b over ssh (IPv4) completes" test $? -eq 0 || diag "$(tail -5 "$TMP/send.err")"
sent_to
ok "  the stream goes on at b only; no lock left" eval 'settled && no_locks'
ok "  the report says where it went and its phases" quietly jq -e '.connections == 2 and .nudged == 2 and
	(.target | length > 0) and (.ms | [.connect, .prepare, .freeze, .dump, .send, .build, .flip, .commit,
	.retire, .locked_window] | all(type == "number" and . >= 0))' "$TMP/send.json"
main=$(awk 'NR == 1 {print $1}' "$TMP/strace")
ok "  the source's tcpferry never opened b's namespace nor called setns (its --flip's ip -n may)" \
	eval '! grep -E "/run/netns/$NS_B|^$main .*setns\(" "$TMP/strace" >/dev/null'
why <(grep -E "/run/netns/$NS_B|^$main .*setns\(" "$TMP/strace" | head -5)
ok "  b's journal says committed" eval '"$TF" receive --status --journal "$TMP/journal-b" | grep -q "committed"'

# 2. IPv6, a -> b.
"$TF_ROOT/tools/lab.sh" exec a "$TF" -j migrate send --pid "$APP6_PID" --journal "$TMP/journal-a-sent" \
	--via "$(receive_via b)" --ttl 20 --flip "$(flip6_to b)" -- socat -t 30 FD:3 FD:4 >"$TMP/send6.json" 2>"$TMP/send6.err"
ok "migrate send a -> b over ssh (IPv6) completes" test $? -eq 0 || diag "$(tail -5 "$TMP/send6.err")"
APP6_PID=$(jq -r .to_pid "$TMP/send6.json")
ok "  the IPv6 stream goes on at b only" eval 'flowing6 && [ "$(established6 b)" -eq 2 ] && [ "$(established6 a)" -eq 0 ]'

# 3. And back, b -> a.
send -- >"$TMP/send.json" 2>"$TMP/send.err"
ok "migrate send b -> a over ssh completes" test $? -eq 0 || diag "$(tail -5 "$TMP/send.err")"
sent_to
ok "  the stream goes on at a only; no lock left" eval 'settled && no_locks'

# 3b. a -> b on one machine's way: the socket of b's `receive --listen-unix`, no command.
ip netns exec "$NS_B" "$TF" --bpffs "$BPFFS_B" receive --listen-unix "$TMP/recv-b.sock" --journal "$TMP/journal-b" \
	>"$TMP/recv-unix.log" 2>&1 &
RUNIX=$!
at_exit "kill -9 $RUNIX 2>/dev/null"
wait_for 10 test -S "$TMP/recv-b.sock"
VIA="unix:$TMP/recv-b.sock" send -- >"$TMP/send.json" 2>"$TMP/send.err"
ok "migrate send a -> b through unix:PATH (b's receive --listen-unix) completes" test $? -eq 0 ||
	diag "$(tail -5 "$TMP/send.err" "$TMP/recv-unix.log")"
sent_to
ok "  the stream goes on at b only; no lock left" eval 'settled && no_locks'
kill -TERM "$RUNIX"
wait "$RUNIX"
runix_rc=$?
ok "  SIGTERM ends the listener (0) and removes its socket" eval '[ $runix_rc = 0 ] && [ ! -e "$TMP/recv-b.sock" ]'
send -- >"$TMP/send.json" 2>"$TMP/send.err"
ok "  and back to a over ssh" test $? -eq 0 || diag "$(tail -5 "$TMP/send.err")"
sent_to

# 4. Refused before anything is frozen: the target lacks the local address.
"$TF_ROOT/tools/lab.sh" exec b ip addr del "$SVC/32" dev lo
send -- >"$TMP/send.json" 2>"$TMP/send.err"
ok "a target without the local address: the move fails" test $? -ne 0
ok "  naming the address, the host and the way out" grep -q "$SVC:[0-9]* -> .*not on this host.*add it" "$TMP/send.err"
why "$TMP/send.json" "$TMP/send.err"
ok "  nothing moved: the stream goes on at a; no lock" eval 'settled && no_locks'
"$TF_ROOT/tools/lab.sh" exec b ip addr replace "$SVC/32" dev lo

# A receive that allows only another program (an ssh forced command would).
RECEIVE_OPTS="--allow /usr/bin/true" send -- >"$TMP/send.json" 2>"$TMP/send.err"
ok "a program the target's receive --allow does not list: refused before the freeze, naming it" \
	grep -q "the program socat is not one that this host's receive allows (--allow)" "$TMP/send.json"
why "$TMP/send.json" "$TMP/send.err"
ok "  nothing moved: the stream goes on at a; no lock" eval 'settled && no_locks'

# 5. A corrupt image, a version the target does not know: refused before any socket is built.
send TCPFERRY_FAULT=send-corrupt-image -- >"$TMP/send.json" 2>"$TMP/send.err"
ok "an image with a flipped bit: the move fails" test $? -ne 0
ok "  the target names the frame and the check" grep -q "receive .*the dump.*frame 3.*crc" "$TMP/send.err"
why "$TMP/send.err"
ok "  the source resumed: the stream goes on at a, in one place" settled
ok "  b's journal says aborted, before anything was built" \
	eval '"$TF" receive --status --journal "$TMP/journal-b" | tail -n +1 | grep -q aborted'
ok "  every lock left has an expiry" eval 'locks_all_expire a && locks_all_expire b'
send TCPFERRY_FAULT=send-bad-version -- >"$TMP/send.json" 2>"$TMP/send.err"
ok "a protocol version the target does not know: refused, saying both versions" \
	grep -q "version 99; this tcpferry speaks version [0-9]*" "$TMP/send.err"
ok "  nothing moved: the stream goes on at a" settled

# 6. The source tool killed: before the freeze (it goes on), after the dump (roll back).
send TCPFERRY_FAULT=send-prepared -- >"$TMP/send.json" 2>"$TMP/send.err"
ok "source killed after prepare: nothing was frozen, the stream goes on at a" settled
ok "  b's receive saw the channel close and aborted" \
	eval 'wait_for 10 sh -c "\"$TF\" receive --status --journal \"$TMP/journal-b\" | grep -q aborted"'
ok "  every lock left has an expiry" eval 'locks_all_expire a && locks_all_expire b'
send TCPFERRY_FAULT=send-sent -- >"$TMP/send.json" 2>"$TMP/send.err"
ok "source killed with the images sent: the move fails" grep -q "SIGKILL at send-sent" "$TMP/send.err"
ok "  the connections are nowhere live (a stopped in repair, b aborted)" stalled
"$TF_ROOT/tools/lab.sh" exec a "$TF" resume --pid "$APP_PID" >"$TMP/resume.log" 2>&1
ok "  tcpferry resume at a rolls it back: one place, flowing" settled || diag "$(cat "$TMP/resume.log")"
ok "  every lock left has an expiry" eval 'locks_all_expire a && locks_all_expire b'

# 7. The target tool killed: before its build (the source resumes by itself) and at the commit.
RECEIVE_ENV=TCPFERRY_FAULT=receive-received send -- >"$TMP/send.json" 2>"$TMP/send.err"
ok "target killed after reading the images: the move fails" test $? -ne 0
ok "  the source resumed by itself: one place, flowing" settled
ok "  saying why, from the target" grep -q "the other side aborted.*receive-received\|channel closed" "$TMP/send.json"
why "$TMP/send.json" "$TMP/send.err"
RECEIVE_ENV=TCPFERRY_FAULT=receive-built send -- >"$TMP/send.json" 2>"$TMP/send.err"
ok "target killed with its sockets built (still in repair): the move fails before the commit" \
	grep -q "waiting for BUILT: the channel closed" "$TMP/send.json"
why "$TMP/send.json" "$TMP/send.err"
ok "  the source resumed; one place, flowing" settled
# (A longer expiry: the target's locks must outlast the settling, or a peer's
# packet reaching b after they expire, before the flip back, meets an RST.)
TTL=120 RECEIVE_ENV=TCPFERRY_FAULT=receive-committing send -- >"$TMP/send.json" 2>"$TMP/send.err"
ok "target killed after COMMIT arrived: the source says the move is in doubt" \
	grep -q "the move is in doubt" "$TMP/send.json"
why "$TMP/send.json" "$TMP/send.err"
ok "  and names the status command and both ways to settle it" \
	eval 'grep -q "receive --status" "$TMP/send.json" && grep -q "tcpferry resume --pid $APP_PID --in" "$TMP/send.json"'
id=$(sed -n 's/.*migrate send \([^:]*\): the move is in doubt.*/\1/p' "$TMP/send.json")
st=$("$TF_ROOT/tools/lab.sh" exec a $(ssh_cmd b) "$TF" receive --status "$id" --journal "$TMP/journal-b" 2>"$TMP/status.err" | cut -f2)
is "$st" committing "  the target's journal, asked over ssh, says it stopped at committing (not committed)"
why <(echo "id '$id'") "$TMP/status.err" "$TMP/send.json"
ok "  the connection is live nowhere meanwhile (nothing arrives for a second)" stalled
dir=$(grep -o 'tcpferry resume --pid [0-9]* --in [^ "]*' "$TMP/send.json" | awk '{print $6}')
eval "$(flip_to a)"
"$TF_ROOT/tools/lab.sh" exec a "$TF" resume --pid "$APP_PID" --in "$dir" >"$TMP/resume.log" 2>&1
host_tf b lock flush >/dev/null	# the target's locks of the move that did not happen
ok "  settled as aborted (flip back, resume --in): one place, flowing" settled
why <(echo "dir '$dir'") "$TMP/resume.log"

# 8. The ssh connection killed while the source waits for the build.
RECEIVE_ENV=TCPFERRY_PAUSE=receive-received send -- >"$TMP/send.json" 2>"$TMP/send.err" &
sender=$!
wait_for 20 pgrep -f "$TMP/ssh_root_key.*TCPFERRY_PAUSE=receive-received" >/dev/null
wait_for 20 sh -c "pgrep -f 'tcpferry --bpffs $BPFFS_B receive' | xargs -r ps -o stat= -p | grep -q T"
pkill -f "^ssh .*$TMP/ssh_root_key.*TCPFERRY_PAUSE=receive-received"
wait "$sender"
ok "ssh killed mid-move: the move fails" test $? -ne 0
pkill -CONT -f "tcpferry --bpffs $BPFFS_B receive"
ok "  the source resumed: one place, flowing" settled
ok "  every lock left has an expiry" eval 'locks_all_expire a && locks_all_expire b'

# 9. With 2% loss on the router in both directions, the channel's packets included.
ip netns exec "$NS_RT" nft -f - <<-NFT
	table inet tfloss_$RUN_ID {
		chain loss { type filter hook forward priority 0; numgen random mod 100 < 2 drop; }
	}
NFT
at_exit "ip netns exec $NS_RT nft delete table inet tfloss_$RUN_ID"
send -- >"$TMP/send.json" 2>"$TMP/send.err"
ok "with 2% loss: migrate send a -> b completes" test $? -eq 0
why "$TMP/send.json" "$TMP/send.err"
sent_to
ok "  the stream goes on at b only" settled
send -- >"$TMP/send.json" 2>"$TMP/send.err"
ok "  and back to a" test $? -eq 0 || diag "$(tail -5 "$TMP/send.err")"
sent_to
ok "  the stream goes on at a only" settled
ip netns exec "$NS_RT" nft delete table "inet tfloss_$RUN_ID"

# Both streams, whole.
host_tf a lock gc >/dev/null
host_tf b lock gc >/dev/null
ok "no lock left on either host (expired ones gone by gc)" no_locks
ok "the IPv4 stream came back, every byte verified" flow_finish || diag "$(cat "$TMP/flow.err")"
kill -USR2 "$CLIENT6"
ok "the IPv6 stream came back, every byte verified" wait "$CLIENT6"
why "$TMP/flow6.err" "$TMP/flow6.log"
is "$(nstat_get "$NS_PEER" TcpExtPAWSEstab)" 0 "no PAWS drop at the peer"
is "$(nstat_get "$NS_PEER" TcpEstabResets)" 0 "no connection of the peer was reset"
done_testing
