# shellcheck shell=bash
# Sourced after tests/lib.sh, flowlab.sh and sshlab.sh by the tests of
# `tcpferry migrate send` (migrate_send.t, migrate_send_faults.t): the IPv4
# app of flowlab moved between a and b over ssh, and the checks after a move.
#
#   flip_to HOST / flip6_to HOST   the --flip that routes the service (IPv4 /
#                                  IPv6) to HOST, as a command line
#   send [ENV...] -- ARGS          migrate send -j of $APP_PID from $APP_HOST
#                                  to the other host, over ssh ($VIA instead
#                                  of receive_via if set), the journal in
#                                  $TMP/journal-HOST-sent, --ttl ${TTL:-20},
#                                  --flip and --unflip, then ARGS, then the
#                                  program (socat FD:3 FD:4)
#   sent_to                        after a completed send: $APP_PID/$APP_HOST
#                                  follow $TMP/send.json
#   no_locks / one_place / settled the lock tables empty / the relay's two
#                                  connections established on $APP_HOST only
#                                  / flowing and in one place
#   stalled                        no echoed byte for a second
#   why FILE...                    the files as diagnostics, after a failed check

addr_of() { [ "$1" = a ] && echo "$A_ADDR" || echo "$B_ADDR"; }
addr6_of() { [ "$1" = a ] && echo "$A_ADDR6" || echo "$B_ADDR6"; }
flip_to() { echo "ip -n $NS_RT route replace $SVC/32 via $(addr_of "$1")"; }
flip6_to() { echo "ip -n $NS_RT -6 route replace $SVC6/128 via $(addr6_of "$1")"; }

no_locks() { [ "$(lock_count a)$(lock_count b)" = 00 ]; }
one_place() {
	local here there
	here=$(established "$APP_HOST")
	there=$(established "$(other "$APP_HOST")")
	[ "$here" -eq 2 ] && [ "$there" -eq 0 ] || { diag "established: $APP_HOST $here, other $there"; return 1; }
}
settled() { flowing && one_place; }
# stalled: no echoed byte for a second (after half a second for what was in flight).
stalled() { local r; sleep 0.5; r=$(recv_bytes); sleep 1; [ "$(recv_bytes)" = "$r" ]; }

send() {
	local to env=()
	to=$(other "$APP_HOST")
	while [ "$1" != -- ]; do env+=("$1"); shift; done
	shift
	"$TF_ROOT/tools/lab.sh" exec "$APP_HOST" env "${env[@]}" "$TF" -j migrate send --pid "$APP_PID" \
		--journal "$TMP/journal-$APP_HOST-sent" --via "${VIA:-$(receive_via "$to")}" --ttl "${TTL:-20}" \
		--flip "$(flip_to "$to")" --unflip "$(flip_to "$APP_HOST")" "$@" -- socat FD:3 FD:4
}
why() { [ "$_tap_fail" -gt "${_why_seen:-0}" ] && diag "$(cat "$@" 2>&1 | cut -c1-600)"; _why_seen=$_tap_fail; }
sent_to() {
	APP_PID=$(jq -r .to_pid "$TMP/send.json")
	APP_HOST=$(other "$APP_HOST")
}
