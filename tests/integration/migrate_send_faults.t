#!/usr/bin/env bash
# tcpferry migrate send over ssh, every fault: the source tool, the target tool
# and the ssh channel each killed at every fault point a move passes, and the
# channel's stream cut or damaged at random places.
#
# The fault points are not listed here: a first move, with TCPFERRY_FAULT_TRACE
# on both sides (user/move/fault.h), says which points the source and the
# target pass, in order.  For each point, the side that passes it pauses there
# (TCPFERRY_PAUSE) and the test kills (a) the source's tcpferry, (b) the
# target's, (c) the ssh client of the channel; then it settles the move as a
# user would from what the tools said (a move that failed: nothing to do; the
# source tool killed: its journal, `tcpferry resume` and the --unflip by hand;
# in doubt: the target's `receive --status` over ssh, then kill the source or
# flip back and `resume --in`) and checks: the stream flows in exactly one
# place, every lock left expires, the peer saw no RST and no PAWS drop, and a
# move after it (the retry) completes.  Each step that fails (fault_fails)
# fails once too.
#
# Then tf-cut (tests/helpers/tf-cut.c) in --via cuts the source's stream, or
# flips one bit of it, at a random place among the frames up to the dump's
# END (seeds printed: TF_CUT_SEEDS="S ..." replays them): refused before any
# socket is built at the target, naming what and the way out, and the source
# resumed.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/flowlab.sh"
. "$(dirname "$0")/../helpers/sshlab.sh"
. "$(dirname "$0")/../helpers/sendlab.sh"
need_root
need_built
need_cmd socat jq ss nstat ssh ssh-keygen /usr/sbin/sshd nsenter
[ -x "$HELPERS/tf-cut" ] || bail_out "$HELPERS/tf-cut is not built; run make"

T0=$SECONDS
flowlab_up
sshlab_up a b
sshlab_mux	# every move over one kept connection, but those whose ssh is killed
for h in a b; do "$TF_ROOT/tools/lab.sh" exec $h ip addr replace "$SVC/32" dev lo; done
TTL=20
N=0	# the runs, each with files $TMP/f$N.*

# The peer's counters: any RST or PAWS drop since the last look is named.
RST0=$(nstat_get "$NS_PEER" TcpEstabResets)
PAWS0=$(nstat_get "$NS_PEER" TcpExtPAWSEstab)
# peer_clean [rst|paws]: no reset and no PAWS drop at the peer (or only the one) since the last look.
peer_clean() {
	local rst paws bad=0
	rst=$(nstat_get "$NS_PEER" TcpEstabResets)
	paws=$(nstat_get "$NS_PEER" TcpExtPAWSEstab)
	[ "${1:-rst}" = rst ] && [ "$rst" != "$RST0" ] && bad=1
	[ "${1:-paws}" = paws ] && [ "$paws" != "$PAWS0" ] && bad=1
	[ $bad = 1 ] && diag "at the peer since the last look: $((rst - RST0)) reset(s), $((paws - PAWS0)) PAWS drop(s)"
	[ "${1:-rst}" = rst ] && RST0=$rst
	[ "${1:-paws}" = paws ] && PAWS0=$paws
	return $bad
}
# After a move with no fault.  (Until move protocol 2 a plain move now and
# then cost the peer 3 PAWS drops, 3 of 16 moves: the target took its clock
# skew from HELLO, read only once its tcpferry had started, and the
# timestamp rule's elapsed time came out 0.)
after_plain_move() {
	ok "  no RST at the peer after it" peer_clean rst
	ok "  no PAWS drop at the peer after it" peer_clean paws
}
locks_expire() { locks_all_expire a && locks_all_expire b; }
# After a fault and its settling: no PAWS drop.  (A TODO for a while: a
# source killed at dump-locked and settled by kill -CONT, its dump locks left
# to expire, cost the peer a PAWS drop in two runs; none since resume settles
# such a source itself, in every run since, so it is a check again.)
after_fault_paws() {
	ok "  no PAWS drop at the peer" peer_clean paws
}

# The target's receive of this run (its command line names this run's journal).
receiver() { pgrep -f "$TF --bpffs [^ ]* receive --journal $TMP/journal-$1( |$)" | tail -1; }
no_receiver() { [ -z "$(receiver "$1")" ]; }
is_stopped() { [ -n "$1" ] && ps -o stat= -p "$1" 2>/dev/null | grep -q '^T'; }
# The ssh client of a migrate send (pid $1): its child (sh -c, which may exec ssh), or that one's.
ssh_of() {
	local p c
	for p in $(pgrep -P "$1"); do
		[ "$(cat /proc/$p/comm 2>/dev/null)" = ssh ] && { echo "$p"; return; }
		for c in $(pgrep -P "$p"); do
			[ "$(cat /proc/$c/comm 2>/dev/null)" = ssh ] && { echo "$c"; return; }
		done
	done
}
# lap [WHAT]: the seconds since the last lap, noted in $LAPS as "WHAT N.N".
lap() {
	local now=${EPOCHREALTIME/,/.}
	[ -n "${1:-}" ] && LAPS="$LAPS, $1 $(awk -v a="$_lap" -v b="$now" 'BEGIN { printf "%.1f", b - a }')" || LAPS=
	_lap=$now
}
# The tcpferry that a background `send` (subshell $1) became, once it has.
tool_of() {
	local p
	for p in "$1" $(pgrep -P "$1"); do
		[ "$(cat /proc/$p/comm 2>/dev/null)" = tcpferry ] && { echo "$p"; return 0; }
	done
	return 1
}
# The last state in a journal file.
last_state() { tail -1 "$1" 2>/dev/null | cut -f1; }
newest_journal() { ls -t "$1"/*.state 2>/dev/null | head -1; }

# settle FROM RC SOURCE_KILLED: after a faulted move from FROM (exit RC of
# migrate send), what a user does next, from what the tools said; sets
# APP_HOST/APP_PID and OUTCOME.  1 if the tools said nothing to go by.
settle() {
	local from=$1 rc=$2 killed=$3 to id st dir jn
	to=$(other "$from")
	local json=$TMP/f$N.json err=$TMP/f$N.err
	if [ "$rc" = 0 ]; then
		cp "$json" "$TMP/send.json"
		sent_to
		OUTCOME="moved all the same"
		return 0
	fi
	if grep -q "the move is in doubt" "$json" "$err"; then
		id=$(sed -n 's/.*migrate send \([^:]*\): the move is in doubt.*/\1/p' "$json" "$err" | head -1)
		dir=$(grep -ho 'tcpferry resume --pid [0-9]* --in [^ "]*' "$json" "$err" | head -1 | awk '{print $6}')
		settle_doubt "$from" "$id" "$dir"
		return
	fi
	if [ "$killed" = 1 ]; then
		# The source's tool died: its journal says how far it got.
		jn=$(newest_journal "$TMP/journal-$from-sent")
		st=$(last_state "$jn")
		id=$(basename "$jn" .state)
		if ! is_stopped "$APP_PID"; then
			OUTCOME="source killed at '$st' before the freeze: it goes on"
		elif [ "$st" = committing ]; then
			settle_doubt "$from" "$id" ""
			return
		else
			[ "$st" = flipped ] && eval "$(flip_to "$from")"
			rollback "$from" || return 1
			OUTCOME="source killed at '$st': rolled back ($([ "$st" = flipped ] && echo "unflip and ")$ROLLBACK)"
		fi
		return 0
	fi
	grep -qE "nothing moved[:;] pid $APP_PID goes on at the source" "$err" "$json" ||
		{ diag "failed, not in doubt, and no word of where it is: $(tail -3 "$err")"; return 1; }
	OUTCOME="refused, resumed by itself"
}

# settle_doubt FROM ID DIR: ask the target over ssh, then kill the source or roll back.
settle_doubt() {
	local from=$1 id=$2 dir=$3 to st pid
	to=$(other "$from")
	st=$("$TF_ROOT/tools/lab.sh" exec "$from" $(ssh_cmd "$to") "$TF" receive --status "$id" \
		--journal "$TMP/journal-$to" 2>"$TMP/f$N.status")
	pid=$(sed -n 's/.*\tcommitted\tpid \([0-9]*\),.*/\1/p' <<<"$st")
	if [ "$(cut -f2 <<<"$st")" = committed ] && [ -z "$pid" ]; then
		diag "receive --status: committed, but to whom? '$st'"
		return 1
	elif [ -n "$pid" ]; then
		kill -KILL "$APP_PID"	# as the error says; its locks expire
		APP_HOST=$to APP_PID=$pid
		OUTCOME="in doubt, the target committed: source killed"
	else
		eval "$(flip_to "$from")"
		rollback "$from" "$dir" || return 1
		OUTCOME="in doubt, the target at '$(cut -f2 <<<"$st")': flipped back and resumed"
	fi
}

# rollback HOST [DIR]: tcpferry resume of the stopped source there (--in DIR),
# or what its refusal says to do instead (kill -CONT: nothing was in repair).
rollback() {
	local cont
	ROLLBACK="resume"
	host_tf "$1" resume --pid "$APP_PID" ${2:+--in "$2"} >"$TMP/f$N.resume" 2>&1 && return 0
	cont=$(grep -o "continue it yourself: kill -CONT $APP_PID" "$TMP/f$N.resume") ||
		{ diag "resume: $(cat "$TMP/f$N.resume")"; return 1; }
	kill -CONT "$APP_PID"
	ROLLBACK="resume refused: ${cont#continue it yourself: }"
}

# retry: a move with no fault, from wherever the stream is.
retry() {
	send -- >"$TMP/send.json" 2>"$TMP/f$N.retry.err" || { diag "$(tail -3 "$TMP/f$N.retry.err")"; return 1; }
	sent_to
	settled
}

# ---- the fault points, from a traced move -------------------------------------

N=$((N + 1))
RECEIVE_ENV="TCPFERRY_FAULT_TRACE=$TMP/trace-target" \
	send TCPFERRY_FAULT_TRACE="$TMP/trace-source" -- >"$TMP/send.json" 2>"$TMP/f$N.err"
ok "a traced move a -> b completes" test $? -eq 0 || diag "$(tail -5 "$TMP/f$N.err")"
sent_to
SRC_POINTS=$(awk '$1 == "point" && !seen[$2]++ { print $2 }' "$TMP/trace-source" 2>/dev/null)
DST_POINTS=$(awk '$1 == "point" && !seen[$2]++ { print $2 }' "$TMP/trace-target" 2>/dev/null)
SRC_FAILS=$(awk '$1 == "fails" && !seen[$2]++ { print $2 }' "$TMP/trace-source" 2>/dev/null)
DST_FAILS=$(awk '$1 == "fails" && !seen[$2]++ { print $2 }' "$TMP/trace-target" 2>/dev/null)
note "source's points:" $SRC_POINTS "(fails:" $SRC_FAILS")"
note "target's points:" $DST_POINTS "(fails:" $DST_FAILS")"
ok "  the trace names points on both sides, the protocol's and dump's and restore's" eval \
	'grep -q "^send-" <<<"$SRC_POINTS" && grep -q "^dump-" <<<"$SRC_POINTS" &&
	 grep -q "^receive-" <<<"$DST_POINTS" && grep -q "^restore-" <<<"$DST_POINTS"'
ok "  the stream flows at b only" settled
after_plain_move

# fault POINT SIDE VICTIM: a move from $APP_HOST paused at POINT (on SIDE:
# source or target), VICTIM (source, target, ssh) killed there.
fault() {
	local point=$1 side=$2 victim=$3 from=$APP_HOST to job sender paused rx sshp rc killed=0
	to=$(other "$from")
	N=$((N + 1))
	lap
	local mux=1
	[ "$victim" = ssh ] && mux=0	# a connection of its own, killed
	if [ "$side" = source ]; then
		SSH_MUX=$mux RECEIVE_ENV= send TCPFERRY_PAUSE="$point" -- >"$TMP/f$N.json" 2>"$TMP/f$N.err" &
	else
		SSH_MUX=$mux RECEIVE_ENV="TCPFERRY_PAUSE=$point" send -- >"$TMP/f$N.json" 2>"$TMP/f$N.err" &
	fi
	job=$!
	wait_for 20 eval 'sender=$(tool_of "$job")'
	if [ "$side" = source ]; then
		wait_for 20 is_stopped "$sender"
		paused=$sender
	else
		wait_for 20 eval 'rx=$(receiver "$to"); is_stopped "$rx"'
		paused=$(receiver "$to")
	fi
	if ! is_stopped "$paused"; then
		ok "$point ($side), $victim killed: the $side paused there" false
		diag "$(tail -3 "$TMP/f$N.err")"
		kill -CONT "$paused" 2>/dev/null
		wait "$job"
		return
	fi
	lap paused
	rx=$(receiver "$to")
	sshp=$(ssh_of "$sender")
	case $victim in
	source) kill -KILL "$sender"; killed=1 ;;
	target) kill -KILL "$rx" ;;
	ssh) kill -KILL "$sshp" ;;
	esac
	kill -CONT "$paused" 2>/dev/null
	wait "$job"
	rc=$?
	lap ended
	wait_for 30 no_receiver "$to" || diag "the target's receive did not end"
	lap "target ended"
	OUTCOME="(unsettled)"
	ok "$point ($side), $victim killed: settled from what the tools said" settle "$from" "$rc" "$killed"
	ok "  $OUTCOME: alive in one place ($APP_HOST), flowing" settled
	why "$TMP/f$N.json" "$TMP/f$N.err"
	ok "  every lock left expires; no RST at the peer" eval 'locks_expire && peer_clean rst'
	after_fault_paws
	lap settled
	ok "  a retry moves it ($APP_HOST -> $(other "$APP_HOST"))" retry
	lap retried
	after_plain_move
	note "times: ${LAPS# }"
}

# TF_FAULTS="REGEX" runs only the points (and victims: "point/victim") it matches.
for p in $SRC_POINTS; do
	for v in source target ssh; do
		grep -qE "${TF_FAULTS:-.}" <<<"$p/$v" && fault "$p" source "$v"
	done
done
for p in $DST_POINTS; do
	for v in source target ssh; do
		grep -qE "${TF_FAULTS:-.}" <<<"$p/$v" && fault "$p" target "$v"
	done
done

# Each step that can be made to fail, once.
for p in $SRC_FAILS $DST_FAILS; do
	grep -qE "${TF_FAULTS:-.}" <<<"$p" || continue
	N=$((N + 1))
	from=$APP_HOST
	if grep -qx "$p" <<<"$SRC_FAILS"; then
		RECEIVE_ENV= send TCPFERRY_FAULT="$p" -- >"$TMP/f$N.json" 2>"$TMP/f$N.err"
	else
		RECEIVE_ENV="TCPFERRY_FAULT=$p" send -- >"$TMP/f$N.json" 2>"$TMP/f$N.err"
	fi
	rc=$?
	ok "$p fails: the move fails, settled from what the tools said" eval '[ $rc -ne 0 ] && settle "$from" $rc 0'
	ok "  $OUTCOME: alive in one place ($APP_HOST), flowing" settled
	why "$TMP/f$N.json" "$TMP/f$N.err"
	ok "  every lock left expires; no RST at the peer" eval 'locks_expire && peer_clean rst'
	after_fault_paws
done
note "fault points: $((SECONDS - T0)) s"

# ---- the stream cut or damaged ------------------------------------------------

# The source's frames up to the dump's END (type 4), from a move through tf-cut.
N=$((N + 1))
VIA="$HELPERS/tf-cut --log $TMP/f$N.cut -- $(receive_via "$(other "$APP_HOST")")" \
	send -- >"$TMP/send.json" 2>"$TMP/f$N.err"
ok "a move through tf-cut (nothing damaged) completes" test $? -eq 0 || diag "$(tail -3 "$TMP/f$N.err")"
sent_to
FRAMES=$(awk '$1 == "frame" && $4 == 4 { print $2; exit }' "$TMP/f$N.cut")
ok "  its log counts the source's frames up to the dump's END ($FRAMES)" test "${FRAMES:-0}" -ge 5
FRAMES=${FRAMES:-7}
settled && after_plain_move

# damaged MODE SEED: a move through tf-cut --MODE with SEED.
damaged() {
	local mode=$1 seed=$2 from=$APP_HOST to id jn what
	to=$(other "$from")
	N=$((N + 1))
	VIA="$HELPERS/tf-cut --log $TMP/f$N.cut --seed $seed --frames $FRAMES --$mode -- $(receive_via "$to")" \
		send -- --reply-timeout-ms 4000 >"$TMP/f$N.json" 2>"$TMP/f$N.err"
	rc=$?
	what=$(grep -E "^(cut|flip) " "$TMP/f$N.cut")
	ok "$mode, seed $seed ($what): the move fails" test "$rc" -ne 0
	ok "  the error names the frame or the channel, and the way out" \
		eval 'jq -r .error "$TMP/f$N.json" | grep -E "(frame|channel|crc|malformed).*nothing moved: pid [0-9]+ goes on at the source; move it again" >/dev/null'
	id=$(jq -r '.error // empty' "$TMP/f$N.json" | grep -o "migrate send [^ :]*" | head -1 | cut -d' ' -f3)
	jn=$TMP/journal-$to/$id.state
	ok "  the target built nothing (its journal: ${id:+$(cut -f1 "$jn" 2>/dev/null | tr '\n' ' ')})" \
		eval '! grep -q "^built" "$jn" 2>/dev/null && { [ ! -e "$jn" ] || [ "$(last_state "$jn")" = aborted ]; }'
	ok "  the source resumed: alive in one place ($APP_HOST), flowing" settled
	why "$TMP/f$N.json" "$TMP/f$N.err" "$TMP/f$N.cut"
	ok "  every lock left expires; no RST at the peer" eval 'locks_expire && peer_clean rst'
	after_fault_paws
}

SEEDS=${TF_CUT_SEEDS:-$(for i in 1 2 3 4 5 6 7 8; do echo $((RANDOM * 32768 + RANDOM)); done)}
note "seeds: $SEEDS (TF_CUT_SEEDS=\"...\" replays them)"
i=0
for s in $SEEDS; do
	i=$((i + 1))
	damaged "$([ $((i % 2)) = 1 ] && echo cut || echo flip)" "$s"
done

host_tf a lock gc >/dev/null
host_tf b lock gc >/dev/null
ok "the stream came back whole, every byte verified" flow_finish || diag "$(cat "$TMP/flow.err")"
note "$((SECONDS - T0)) s"
done_testing
