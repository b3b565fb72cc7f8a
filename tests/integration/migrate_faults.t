#!/usr/bin/env bash
# Faults during a live move (the demo's verified stream through an unmodified
# socat relay): the tool SIGKILLed at every injection point of dump and of
# restore (TCPFERRY_FAULT, user/move/fault.h), and restores that fail because
# the service address is missing on the target or the 4-tuple is taken there.
# After each: every lock left has an expiry; then a retry (or a rollback) of
# tools/migrate.sh brings the stream back, alive in exactly one place.  At the
# end every byte of the whole stream is verified, with no RST and no PAWS drop.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/flowlab.sh"
need_root
need_built
need_cmd socat jq ss nstat

DUMP_POINTS="dump-stopped dump-locked dump-repaired dump-images dump-done"
RESTORE_POINTS="restore-checked restore-locked restore-built restore-live restore-unlocked"
plan 45
flowlab_up

# Alive in exactly one place: the relay's 2 connections on one host, 0 on the other.
paws() { nstat_get "$NS_PEER" TcpExtPAWSEstab; }
one_place() {
	local here there
	here=$(established "$APP_HOST")
	there=$(established "$(other "$APP_HOST")")
	[ "$here" -eq 2 ] && [ "$there" -eq 0 ] || { diag "established: $APP_HOST $here, other $there"; return 1; }
}

i=0
for p in $DUMP_POINTS; do
	i=$((i + 1))
	new_move
	migrate prepare >/dev/null 2>&1
	TCPFERRY_FAULT=$p migrate dump >"$MW.fault" 2>&1
	[ "$(paws)" -gt 0 ] && diag "PAWS drops at the peer so far: $(paws) (before dump case $p)"
	ok "dump killed at $p: the step fails" grep -q "fault injection: SIGKILL at $p" "$MW.fault"
	ok "dump killed at $p: every lock left on $APP_HOST has an expiry" locks_all_expire "$APP_HOST"
	if [ $((i % 2)) -eq 1 ]; then
		migrate rollback >"$MW.rb" 2>&1
		ok "dump killed at $p: rollback; the stream goes on at the source, in one place" \
			eval 'flowing && one_place && [ "$(lock_count a)$(lock_count b)" = 00 ]'
	else
		migrate all >"$MW.retry" 2>&1 && moved || diag "retry: $(tail -3 "$MW.retry")"
		ok "dump killed at $p: a retry completes the move; the stream goes on at $APP_HOST only" \
			eval 'flowing && one_place && [ "$(lock_count a)$(lock_count b)" = 00 ]'
	fi
done

for p in $RESTORE_POINTS; do
	new_move
	for s in prepare dump carry; do migrate $s >/dev/null 2>&1; done
	TCPFERRY_FAULT=$p migrate restore >"$MW.fault" 2>&1
	[ "$(paws)" -gt 0 ] && diag "PAWS drops at the peer so far: $(paws) (before restore case $p)"
	ok "restore killed at $p: the step fails" grep -q "fault injection: SIGKILL at $p" "$MW.fault"
	ok "restore killed at $p: every lock on a and b has an expiry" eval 'locks_all_expire a && locks_all_expire b'
	migrate all >"$MW.retry" 2>&1 && moved || diag "retry: $(tail -3 "$MW.retry")"
	ok "restore killed at $p: a retry completes the move; the stream goes on at $APP_HOST only" \
		eval 'flowing && one_place && [ "$(lock_count a)$(lock_count b)" = 00 ]'
done

# The service address missing on the target: restore fails, nothing moves;
# the orchestrator adds it (prepare) and retries.
new_move
for s in dump carry; do migrate $s >/dev/null 2>&1; done
migrate restore >"$MW.noaddr" 2>&1
rc=$?
ok "restore without the address on the target fails (exit $rc), saying the address is not there" \
	eval '[ $rc -ne 0 ] && grep -q "^tcpferry: restore .*: bind .*: address not on this host; add it" "$MW.noaddr" &&
		grep -q "restore on $(other "$APP_HOST") failed; the locks stay" "$MW.noaddr"'
ok "  and the target's locks have an expiry" locks_all_expire "$(other "$APP_HOST")"
migrate all >"$MW.retry" 2>&1 && moved || diag "retry: $(tail -3 "$MW.retry")"
ok "  prepare + retry completes the move; one place only" eval 'flowing && one_place'

# The same, rolled back instead: the connection goes on at the source.
new_move
for s in dump carry; do migrate $s >/dev/null 2>&1; done
migrate restore >/dev/null 2>&1
migrate rollback >"$MW.rb" 2>&1
ok "restore without the address, rolled back: the stream goes on at the source" \
	eval 'flowing && one_place && [ "$(lock_count a)$(lock_count b)" = 00 ]'

# A socket that cannot leave repair mode: the restore fails with the advice
# and keeps the target's locks (peers retransmit instead of meeting an RST);
# the sockets are closed in repair mode, and a retry completes the move.
new_move
for s in prepare dump carry; do migrate $s >/dev/null 2>&1; done
to=$(other "$APP_HOST")
"$TF_ROOT/tools/lab.sh" exec "$to" env TCPFERRY_FAULT=restore-live-fails \
	"$TF" restore --in "$MW/dst" -- true >"$MW.livefail" 2>&1
rc=$?
ok "restore whose socket cannot leave repair mode fails (exit $rc), saying so, with the way out" \
	eval '[ $rc -eq 1 ] && grep -q "leaving repair mode: fault injection" "$MW.livefail" &&
		grep -q "Retry: tcpferry restore --in $MW/dst" "$MW.livefail"'
ok "  the target's locks stay ($(lock_count "$to")), with an expiry" \
	eval '[ "$(lock_count "$to")" -ge 2 ] && locks_all_expire "$to"'
is "$(established "$to")" 0 "  no restored socket is left established on the target"
migrate all >"$MW.retry" 2>&1 && moved || diag "retry: $(tail -3 "$MW.retry")"
ok "  a retry completes the move; one place only" eval 'flowing && one_place && [ "$(lock_count a)$(lock_count b)" = 00 ]'

# The 4-tuple taken on the target (by another restore's live sockets): a plain
# restore is refused; migrate.sh's restore clears them under the lock and succeeds.
# The other restore is held at restore-live while the plain one runs: killed
# there instead, its sockets may be gone before the plain restore looks (a
# socket closed with unread data is reset and freed at once).
new_move
for s in prepare dump carry; do migrate $s >/dev/null 2>&1; done
TCPFERRY_PAUSE=restore-live migrate restore >/dev/null 2>&1 &
held=$!
held_state() { ps -o stat= -p "$(cat "$MW/to.pid" 2>/dev/null)" 2>/dev/null | cut -c1; }
wait_for 20 eval '[ "$(held_state)" = T ]' || diag "the first restore did not stop at restore-live"
to=$(other "$APP_HOST")
"$TF_ROOT/tools/lab.sh" exec "$to" "$TF" restore --in "$MW/dst" --keep-lock -- true >"$MW.taken" 2>&1
rc=$?
ok "restore onto a taken 4-tuple is refused (exit $rc), saying the address is in use" \
	eval '[ $rc -eq 1 ] && grep -q "^tcpferry: restore .*: this 4-tuple is already in use on this host" "$MW.taken" &&
		grep -q "restore of $MW/dst failed; nothing was sent to any peer" "$MW.taken"'
note "$(head -2 "$MW.taken")"
kill -KILL "$(cat "$MW/to.pid")"
wait "$held"
migrate all >"$MW.retry" 2>&1 && moved || diag "retry: $(tail -3 "$MW.retry")"
ok "  migrate.sh restore clears the leftovers and completes the move" eval 'flowing && one_place'

ok "the whole stream came back, every byte verified" flow_finish
note "$(tail -1 "$TMP/flow.log")"
is "$(nstat_get "$NS_PEER" TcpExtPAWSEstab)" 0 "no PAWS drop at the peer"
is "$(nstat_get "$NS_PEER" TcpEstabResets)" 0 "the peer's connections were never reset"
is "$(nstat_get "$NS_PEER" TcpOutRsts)" 0 "the peer sent no RST"
# Leftover sockets of a killed restore are destroyed under the lock: their RSTs
# are counted by the target's TcpOutRsts but die in its egress lock.
note "TcpOutRsts a $(nstat_get "$NS_A" TcpOutRsts) b $(nstat_get "$NS_B" TcpOutRsts) (leftovers destroyed under the lock)"
ok "no lock left on a or b" eval '[ "$(lock_count a)$(lock_count b)" = 00 ]'
done_testing
