#!/usr/bin/env bash
# tests/fuzz/long.sh SECONDS TARGET...: the long runs FUZZING.md reports
# (make fuzz-long): each target through run.sh for SECONDS (3600), JOBS (2)
# at a time, under nice -n 19 (the machine is shared), in the order given.
# Each run's log and row stay in $BUILD/fuzz/long/ (LOGDIR); at the end the
# rows of FUZZING.md's table are printed, in that order.  A crash fails, as
# in make fuzz, and its input is kept in tests/fuzz/regress/TARGET.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case ${BUILD:=build-fuzz} in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export BUILD
export LOGDIR=${LOGDIR:-$BUILD/fuzz/long}
[ $# -ge 2 ] || { echo "usage: $0 SECONDS TARGET..." >&2; exit 2; }
secs=$1
shift
jobs=${JOBS:-2}
mkdir -p "$LOGDIR"

failed=0
running=0
for t in "$@"; do
	if [ "$running" -ge "$jobs" ]; then
		wait -n || failed=1
		running=$((running - 1))
	fi
	rm -f "$LOGDIR/$t.row"
	echo "fuzz-long: $t for $secs s from $(date -u +%H:%M) UTC (log $LOGDIR/$t.log)"
	nice -n 19 "$ROOT/tests/fuzz/run.sh" "$secs" "$t" &
	running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
	wait -n || failed=1
	running=$((running - 1))
done

echo "| target | started (UTC) | kernel | ran | executions | exec/s | cov | ft | corpus | result |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for t in "$@"; do
	cat "$LOGDIR/$t.row" 2>/dev/null || echo "| $t | | | | | | | | | no row: see $LOGDIR/$t.log |"
done
exit $failed
