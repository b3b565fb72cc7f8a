#!/usr/bin/env bash
# tests/sanitized.sh CMD...: run CMD (make test-asan runs prove) with the
# sanitizers set up for every instrumented process it starts, and fail if any
# of them reported anything.
#
# Reports go to files in $BUILD/sanitizer/ rather than to stderr: a test that
# expects a command to fail (cli_errors.t) would otherwise take an ASan abort
# for the failure it wanted, and a test that throws stderr away would hide it.
# Any file there after the run fails it, and the first reports are printed.
#
# LeakSanitizer runs (detect_leaks=1): it stops the process's threads with
# ptrace at exit, which works for every process the tests start except one
# that is itself traced (strace, gdb): that one dies with "LeakSanitizer does
# not work under ptrace", which counts as a report too.  A test that runs
# tcpferry under strace (migrate_send.t) turns leak checking off for that one
# process (ASAN_OPTIONS=...:detect_leaks=0); ASan and UBSan still check it.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case ${BUILD:=build-asan} in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
dir=$BUILD/sanitizer
rm -rf "$dir"
mkdir -p "$dir"

# halt_on_error + exitcode: a report ends the process (never a silent go-on);
# the log file is what the run is judged by.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:exitcode=99:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$dir/report${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=99:log_path=$dir/report${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="exitcode=99${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

"$@"
rc=$?

shopt -s nullglob
reports=("$dir"/*)
if [ ${#reports[@]} -gt 0 ]; then
	for f in "${reports[@]:0:3}"; do
		echo "==== $f" >&2
		head -60 "$f" >&2
	done
	echo "sanitized: ${#reports[@]} sanitizer report(s) in $dir (the first ones above)" >&2
	[ "$rc" -eq 0 ] && rc=1
fi
exit "$rc"
