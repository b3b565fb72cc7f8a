#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS TARGET...: make fuzz's runner.  Each target's
# libFuzzer binary ($BUILD/fuzz/TARGET) runs for SECONDS, one after the
# other (one core), starting from its seeds (tests/fuzz/corpus/TARGET), its
# regressions (tests/fuzz/regress/TARGET) and what earlier runs found
# ($BUILD/fuzz/corpus/TARGET, where new inputs go).  A crash, a sanitizer
# report, a leak, a timeout (over 10 s on one input) or running out of memory
# (2 GB) fails the run; the input that did it is copied to
# tests/fuzz/regress/TARGET/, where build/tests/fuzz/TARGET.t replays it in
# every make test from then on.  Fix the code, keep the file, commit both.
# Each target's log is $LOGDIR/TARGET.log (LOGDIR: $BUILD/fuzz), and its row
# of FUZZING.md's table $LOGDIR/TARGET.row (row.sh).  A run stopped with
# SIGINT (kill -INT) ends with its figures so far, as "interrupted".
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
case ${BUILD:=build-fuzz} in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
[ $# -ge 2 ] || { echo "usage: $0 SECONDS TARGET..." >&2; exit 2; }
secs=$1
shift
# Only the fuzzer's own reports count; a sanitizer report is a crash to it.
export ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

failed=()
for t in "$@"; do
	bin=$BUILD/fuzz/$t
	work=$BUILD/fuzz/corpus/$t
	art=$BUILD/fuzz/artifacts/$t
	regress=$ROOT/tests/fuzz/regress/$t
	log=${LOGDIR:-$BUILD/fuzz}/$t.log
	[ -x "$bin" ] || { echo "fuzz: $bin is not built" >&2; exit 2; }
	mkdir -p "$work" "$art" "$(dirname "$log")"
	rm -f "$art"/*
	dirs=("$work" "$ROOT/tests/fuzz/corpus/$t")
	[ -d "$regress" ] && dirs+=("$regress")
	start=$(date +%s)
	started=$(date -u +%Y-%m-%dT%H:%MZ)
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$art/" "${dirs[@]}" >"$log" 2>&1
	rc=$?
	shopt -s nullglob
	found=("$art"/*)
	shopt -u nullglob
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	took=$(($(date +%s) - start))
	if [ ${#found[@]} -eq 0 ] && grep -q 'libFuzzer: run interrupted' "$log"; then
		result=interrupted
	elif [ "$rc" -ne 0 ] || [ ${#found[@]} -gt 0 ]; then
		result="FAILED (exit $rc)"
	else
		result=ok
	fi
	"$ROOT/tests/fuzz/row.sh" "$t" "$log" "$started" "$took" "$result" >"${log%.log}.row"
	if [ "$result" = interrupted ]; then
		echo "fuzz: $t: interrupted after $took s (of $secs), ${runs:-?} inputs; log $log"
	elif [ "$result" != ok ]; then
		echo "fuzz: $t: FAILED (exit $rc) after $took s; log $log:" >&2
		grep -m1 -A40 -E '^==[0-9]+==|ERROR: libFuzzer|runtime error|fuzz property failed|ALARM|out-of-memory' \
			"$log" >&2
		mkdir -p "$regress"
		for f in "${found[@]}"; do
			cp "$f" "$regress/"
			echo "fuzz: $t: kept $regress/$(basename "$f") (replayed by make test from now on)" >&2
		done
		failed+=("$t")
	else
		echo "fuzz: $t: ok, ${runs:-?} inputs in ${secs} s, corpus $(find "$work" -type f | wc -l) files"
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: failed: ${failed[*]}" >&2
	exit 1
fi
