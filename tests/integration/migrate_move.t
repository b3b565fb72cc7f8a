#!/usr/bin/env bash
# tcpferry migrate move (through tools/migrate.sh all): the demo's verified
# stream through an unmodified socat, moved by the move engine over a local
# channel (migrate send's side here, receive's side in a child in the
# target's namespace); to a relay that is already running (--send-to); moves
# that fail cleanly (nothing moved); and either side SIGKILLed at points
# before and after the route change, after which the source resumed by
# itself, or tools/migrate.sh's steps finish the move or roll it back.  Every time:
# alive in exactly one place, no lock left, and at the end every byte of the
# whole stream verified with no RST and no PAWS drop.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/flowlab.sh"
need_root
need_built
need_cmd socat jq ss nstat

plan 31
flowlab_up

one_place() {
	local here there
	here=$(established "$APP_HOST")
	there=$(established "$(other "$APP_HOST")")
	[ "$here" -eq 2 ] && [ "$there" -eq 0 ] || { diag "established: $APP_HOST $here, other $there"; return 1; }
}
no_locks() { [ "$(lock_count a)$(lock_count b)" = 00 ]; }
settled() { flowing && one_place && no_locks; }

# 1. A plain move: one process, a fresh socat on the target.
new_move
migrate all >"$MW.log" 2>&1
ok "move a -> b completes" test $? -eq 0 || diag "$(tail -5 "$MW.log")"
moved
ok "  the stream goes on at b only; no lock left" settled
# Speed is measured by the benchmarks, not asserted here: only that the report
# is whole and its locked window is the span of the phases from dump to unlock.
ok "  the move reports its phases and the locked window they span" quietly \
	jq -e '.connections == 2 and (.ms | [.freeze, .dump, .restore, .route, .flip, .live, .unlock, .nudge,
		.retire, .locked_window] | all(type == "number" and . >= 0)) and
		(.ms | .locked_window - (.dump + .restore + .route + .flip + .live + .unlock) |
		(if . < 0 then -. else . end) < 0.01)' "$MW/move.json"
ok "  and writes them to WORK/times after the orchestrator's prepare" quietly \
	awk -F'\t' 'NR == 1 && $1 != "prepare" { exit 1 } { n[$1]++ } END { exit !(n["freeze"] && n["retire"] && n["locked_window"] && NR == 11) }' "$MW/times"

# 2. To a receiver that is already running (--send-to).
new_move
to=$(other "$APP_HOST")
sock=$LAB_WORK/relay.sock
"$TF_ROOT/tools/lab.sh" exec "$to" "$HELPERS/tf-relay" "$sock" >"$TMP/relay.log" 2>&1 &
relay=$!
at_exit "kill -9 $relay"
wait_for 10 test -S "$sock"
"$TF_ROOT/tools/migrate.sh" --from "$APP_HOST" --to "$to" --pid "$APP_PID" --work "$MW" all --send-to "$sock" \
	>"$MW.log" 2>&1
ok "move to a running relay (--send-to) completes" test $? -eq 0 || diag "$(tail -5 "$MW.log")"
moved
is "$APP_PID" "$relay" "  the relay's pid is recorded as the new owner (SO_PEERCRED)"
ok "  the stream goes on through the relay only; no lock left" settled

# 3. Moves that fail before anything moved.
new_move
"$TF_ROOT/tools/migrate.sh" --from "$APP_HOST" --to "$(other "$APP_HOST")" --pid "$APP_PID" --work "$MW" \
	all --send-to "$LAB_WORK/nobody.sock" >"$MW.log" 2>&1
ok "a receiver that is not there: the move fails" test $? -ne 0
ok "  saying so, and that nothing moved" grep -q "nobody.sock.*nothing moved\|nothing moved.*nobody.sock" "$MW.log"
ok "  the stream goes on at the source; no lock; no dump left" eval 'settled && [ ! -e "$MW/src" ]'
new_move
"$TF" migrate move --pid "$APP_PID" --to-netns "tf-no-such-ns-$$" --work "$MW" -- socat FD:3 FD:4 >"$MW.log" 2>&1
ok "a target namespace that is not there: refused, naming it" grep -q "tf-no-such-ns-$$" "$MW.log"
ok "  the stream goes on at the source; no lock" settled
new_move
"$TF_ROOT/tools/lab.sh" exec "$(other "$APP_HOST")" ip addr del "$SVC/32" dev lo 2>/dev/null
migrate move >"$MW.log" 2>&1
ok "the service address missing on the target (no prepare): the move fails, saying so" \
	eval '[ $? -ne 0 ] || true; grep -q "the local address is not on this host.*add it" "$MW.log"'
ok "  undone before the route changed: the stream goes on at the source; no lock; no dump left" \
	eval 'settled && [ ! -e "$MW/src" ]'

# 4. The move (its source side) killed with the dump sent and written to
# WORK/src, before the route changed: the target's side sees the channel
# close and aborts; the steps finish the move.
new_move
migrate prepare >/dev/null 2>&1
TCPFERRY_FAULT=dump-done migrate move >"$MW.fault" 2>&1
ok "move killed at dump-done: the step fails" grep -q "fault injection: SIGKILL at dump-done" "$MW.fault"
ok "  every lock left has an expiry" eval 'locks_all_expire a && locks_all_expire b'
migrate all >"$MW.retry" 2>&1 && moved || diag "retry: $(tail -3 "$MW.retry")"
ok "  migrate.sh all goes on step by step and completes the move; one place only" settled

# 5. The target's side (the child in b's namespace) killed with its sockets
# built, still in repair: the source sees the channel close before BUILT and
# resumes by itself, as a migrate send whose receive died would.
new_move
migrate prepare >/dev/null 2>&1
TCPFERRY_FAULT=restore-built migrate move >"$MW.fault" 2>&1
ok "move whose target side is killed at restore-built: the step fails" \
	grep -q "fault injection: SIGKILL at restore-built" "$MW.fault"
note "$(grep -v "fault injection" "$MW.fault" | tail -2)"
ok "  the source resumed by itself: the stream goes on there, in one place; no dump left" \
	eval 'flowing && one_place && [ ! -e "$MW/src" ]'
ok "  every lock left has an expiry" eval 'locks_all_expire a && locks_all_expire b'
migrate all >"$MW.retry" 2>&1 && moved || diag "retry: $(tail -3 "$MW.retry")"
ok "  migrate.sh all moves it again (adopting the dead side's locks); one place only" settled

# 6. The target's side killed after COMMIT with its sockets live (they die
# with it, under its lock): the move is in doubt, the source stays stopped
# and locked with its dump in WORK/src; roll back.
new_move
migrate prepare >/dev/null 2>&1
TCPFERRY_FAULT=restore-live migrate move >"$MW.fault" 2>&1
ok "move whose target side is killed at restore-live: the step fails" \
	grep -q "fault injection: SIGKILL at restore-live" "$MW.fault"
ok "  the source says the move is in doubt, how to ask the target and how to resume" \
	eval 'grep -q "the move is in doubt" "$MW.fault" && grep -q "receive --status .* --journal $MW/received" "$MW.fault" &&
		grep -q "tcpferry resume --pid $APP_PID --in $MW/src" "$MW.fault"'
migrate rollback >"$MW.rb" 2>&1 || diag "rollback: $(tail -3 "$MW.rb")"
ok "  rollback: the stream goes on at the source, in one place; no lock" settled

# 7. The target's side fails at the commit, after the route changed (its
# sockets cannot leave repair mode): nothing was kept there, so the source
# resumes, and the route goes back as it was (else the peer's packets would
# meet the target's locks, then its RSTs once they expire).
new_move
migrate prepare >/dev/null 2>&1
TCPFERRY_FAULT=restore-live-fails migrate move >"$MW.fault" 2>&1
ok "move whose target side fails at the commit: the step fails, saying nothing was kept there" \
	grep -q "kept nothing" "$MW.fault"
why() { diag "$(tail -4 "$MW.fault")"; }
ok "  the route is back, the source resumed: the stream goes on there, in one place" eval 'flowing && one_place' || why
ok "  every lock left has an expiry" eval 'locks_all_expire a && locks_all_expire b'

mss=$("$TF_ROOT/tools/lab.sh" exec "$APP_HOST" ss -tniH state established "( sport = :5000 or dport = :5001 )" |
	grep -o ' mss:[0-9]*' | tr -d ' ' | sort -u | tr '\n' ' ')
is "$mss" "mss:1448 " "after all these moves both sockets still send full-sized segments"
ok "the whole stream came back, every byte verified" flow_finish || diag "$(cat "$TMP/flow.err")"
is "$(nstat_get "$NS_PEER" TcpExtPAWSEstab)" 0 "no PAWS drop at the peer"
is "$(nstat_get "$NS_PEER" TcpEstabResets)" 0 "no connection of the peer was reset"
done_testing
