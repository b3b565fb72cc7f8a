# shellcheck shell=bash
# Sourced by tests/lib.sh, tools/demo.sh and tools/bench/run.sh: a run records
# what it makes, so that the next run's sweep (tests/sweep.sh) removes it if
# this one is killed outright (SIGKILL: no EXIT trap runs).
#
#   run_record ID     sweep the runs killed before, then record this shell as
#                     run ID's owner; TCPFERRY_TEST_RECORD (exported) is its list,
#                     which tools/lab.sh writes too.  Not root: nothing recorded.
#                     A run already recorded (TCPFERRY_TEST_RECORD set: the demo
#                     inside a test) keeps its owner's record.
#   owned KIND WHAT   before making it: netns NAME, dir PATH, file PATH
#   run_record_done   at a clean exit, after the cleanup: the record goes, unless
#                     a namespace it names is still there (the next sweep retries)

run_record() {
	[ -z "${TCPFERRY_TEST_RECORD:-}" ] || return 0
	[ "$(id -u)" -eq 0 ] || return 0
	"$(dirname "${BASH_SOURCE[0]}")/sweep.sh" --record "$1" $$ || return 1
	TCPFERRY_TEST_RECORD=${TCPFERRY_TEST_RUNS:-/run/tcpferry-tests}/$1.list
	_RUN_RECORD_MINE=$TCPFERRY_TEST_RECORD
	export TCPFERRY_TEST_RECORD
}

owned() { [ -z "${TCPFERRY_TEST_RECORD:-}" ] || echo "$1 $2" >>"$TCPFERRY_TEST_RECORD"; }

run_record_done() {
	local kind what
	[ -n "${_RUN_RECORD_MINE:-}" ] && [ -f "$_RUN_RECORD_MINE" ] || return 0
	while read -r kind what; do
		[ "$kind" != netns ] || [ ! -e "/run/netns/$what" ] || return 0
	done <"$_RUN_RECORD_MINE"
	rm -f "$_RUN_RECORD_MINE" "${_RUN_RECORD_MINE%.list}.pid"
}
