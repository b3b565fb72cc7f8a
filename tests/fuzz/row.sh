#!/usr/bin/env bash
# tests/fuzz/row.sh TARGET LOG STARTED SECONDS RESULT: one row of FUZZING.md's
# table from a libFuzzer log (run.sh's, with -print_final_stats=1): the target,
# the date it started (STARTED, UTC), this machine's kernel, how long it ran,
# the executions and exec/s, the coverage reached (the last cov: and ft:), the
# corpus (corp: units/bytes) and RESULT (ok, interrupted, or what failed).
set -u
[ $# -eq 5 ] || { echo "usage: $0 TARGET LOG STARTED SECONDS RESULT" >&2; exit 2; }
t=$1 log=$2 started=$3 secs=$4 result=$5
stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
last=$(grep -E '^#[0-9]+.* cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
printf '| %s | %s | %s | %s s | %s | %s | %s | %s | %s | %s |\n' "$t" "$started" "$(uname -r)" "$secs" \
	"$(stat number_of_executed_units)" "$(stat average_exec_per_sec)" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
