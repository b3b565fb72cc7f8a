#!/usr/bin/env bash
# One test in the guest, for prove --exec (tools/vm/stage2.sh):
#
#   one-test.sh SECONDS TEST
#
# Runs TEST in a process group of its own.  After SECONDS it is ended (TERM,
# then KILL 10 s later) and exits 124.  When it ends, whatever it left running
# in its group is named on stderr and killed: a leftover that holds the TAP
# pipe open (a receiver whose sender died) would stall prove, and with it
# the whole run.
limit=${1:?one-test.sh SECONDS TEST}
shift
set -m	# background jobs get process groups of their own

"$@" &
pid=$!
(
	sleep "$limit"
	echo "# one-test.sh: $* still running after $limit s: ended" >&2
	kill -TERM -- -"$pid"
	sleep 10
	kill -KILL -- -"$pid"
) >/dev/null &
watchdog=$!
disown "$watchdog"
wait "$pid"
rc=$?
left=$(ps -o pid=,stat= -g "$pid" 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }' | xargs)
if [ -n "$left" ]; then
	echo "# one-test.sh: $* left running: $(ps -o pid=,args= -p "${left// /,}" | cut -c1-100 | xargs -d '\n' | sed 's/  */ /g'); killed" >&2
	kill -KILL -- -"$pid" 2>/dev/null
fi
[ "$SECONDS" -ge "$limit" ] && rc=124
kill -KILL -- -"$watchdog" 2>/dev/null
exit "$rc"
