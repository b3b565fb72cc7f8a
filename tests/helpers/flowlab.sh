# shellcheck shell=bash
# Sourced by the migrate_* tests after tests/lib.sh: a lab (tools/lab.sh) with
# the demo's live stream -- the peer's tf-flow client -> unmodified socat relay
# on host a -> the peer's socat echo server -- and helpers to move it.
#
#   flowlab_up            lab + programs; $APP_PID, $APP_HOST, $CLIENT
#   migrate STEP...       tools/migrate.sh from $APP_HOST to the other host,
#                         work dir $MW (set by new_move), program socat FD:3 FD:4
#   new_move              a fresh work dir $MW for the next move
#   moved                 after a completed move: $APP_HOST/$APP_PID follow it
#   flowing               the echo arrives again (waits up to 10 s)
#   lock_count HOST / locks_all_expire HOST
#   established HOST      the relay's established connections on HOST
#   flow_finish           stop the client; 0 if every byte came back

flowlab_up() {
	local env
	env=$("$TF_ROOT/tools/lab.sh" up --id "${RUN_ID:0:8}L") || bail_out "the lab did not come up"
	eval "$env"
	at_exit "$TF_ROOT/tools/lab.sh down --id ${RUN_ID:0:8}L"
	export TCPFERRY_LAB=${RUN_ID:0:8}L
	ip netns exec "$NS_PEER" socat TCP-LISTEN:5001,reuseaddr,fork PIPE >"$TMP/echo.log" 2>&1 &
	ip netns exec "$NS_A" socat TCP-LISTEN:5000,bind="$SVC",reuseaddr \
		TCP:"$PEER_ADDR":5001,bind="$SVC" >"$TMP/socat-a.log" 2>&1 &
	APP_PID=$!
	APP_HOST=a
	sleep 0.2
	ip netns exec "$NS_PEER" "$HELPERS/tf-flow" client "$SVC" 5000 --status "$TMP/status" \
		>"$TMP/flow.log" 2>"$TMP/flow.err" &
	CLIENT=$!
	MOVES=0
	flowing || bail_out "the stream never started: $(cat "$TMP/flow.err")"
}

other() { [ "$1" = a ] && echo b || echo a; }
new_move() {
	MOVES=$((MOVES + 1))
	MW=$LAB_WORK/move$MOVES	# tmpfs: images are fsync()ed
}
migrate() {
	"$TF_ROOT/tools/migrate.sh" --from "$APP_HOST" --to "$(other "$APP_HOST")" --pid "$APP_PID" \
		--work "$MW" --ttl "${MIGRATE_TTL:-30}" "$@" -- socat FD:3 FD:4
}
moved() {
	APP_PID=$(cat "$MW/to.pid")
	APP_HOST=$(other "$APP_HOST")
}
recv_bytes() { awk '{print $1+0}' "$TMP/status" 2>/dev/null; }
flowing() {
	local since i
	since=$(recv_bytes)
	for ((i = 0; i < 1000; i++)); do
		kill -0 "$CLIENT" 2>/dev/null || return 1
		local now
		now=$(recv_bytes)
		[ "${now:-0}" -gt "$((${since:-0} + 8192))" ] && return 0
		sleep 0.01
	done
	return 1
}
host_tf() { local h=$1; shift; "$TF_ROOT/tools/lab.sh" exec "$h" "$TF" "$@"; }
lock_count() { host_tf "$1" -j lock list | jq '.locks | length'; }
# Every lock on HOST has an expiry (none can outlive it).
locks_all_expire() { host_tf "$1" -j lock list | jq -e '[.locks[] | select(.expires_ns == 0)] | length == 0' >/dev/null; }
established() {
	"$TF_ROOT/tools/lab.sh" exec "$1" ss -tnH state established "( sport = :5000 or dport = :5001 )" | wc -l
}
flow_finish() {
	kill -USR2 "$CLIENT"
	wait "$CLIENT"
}
