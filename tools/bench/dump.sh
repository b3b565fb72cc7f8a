#!/usr/bin/env bash
# tools/bench/dump.sh: the whole `tcpferry dump` of N idle connections held by
# one process, as a user runs it (process start, libbpf, everything), beside
# its phases.  Prints tab-separated "metric N value unit" lines:
#
#   dump_ms        N  ms   `tcpferry dump --pid P --out DIR --leave-running`,
#                          wall time from fork to exit, median of RUNS, DIR on
#                          ext4 (/var/tmp: the index's syncfs waits for the disk)
#   dump_nolock_ms N  ms   the same with --no-lock
#   dump_min_ms    N  ms   the fastest of the runs (the machine is shared: the
#                          minimum is the least disturbed)
#   dump_tmpfs_ms, dump_tmpfs_nolock_ms, dump_tmpfs_min_ms, dump_tmpfs_max_ms
#                          the same, DIR on tmpfs (/dev/shm)
#   cpu_ms, cpu_nolock_ms  N  ms  the CPU time (user + system) of tmpfs dumps:
#                          what they cost however loaded the machine is;
#                          perf stat's task-clock (runs of their own), or
#                          without perf the shell's times (10 ms steps)
#   lock_us, lock_cpu_us   N  us  the lock's share a connection: (tmpfs with
#                          the lock - tmpfs --no-lock) / N, wall and CPU
#   phase_<name>   N  ms   the median of each phase the dump reports with
#                          TCPFERRY_PHASES set (user/move/phase.h), tmpfs, with
#                          the lock; phase_exec is what the process spends
#                          before main() and after its last mark (wall - total)
#   cpu_<name>     N  ms   the CPU time of each phase (the thread's clock:
#                          what it costs, however loaded the machine is);
#                          cpu_total
#   syscalls       N  count  the dump's system calls (strace -f -c), with the lock
#   floor_dump_us  N  us   repair_bench's floor: repair on + the getsockopts, no
#                          lock, no images, no process to stop (a libsoccr-like
#                          loop), per connection
#
# Setup, before any clock: a netns pair (tests/lib.sh make_pair), the lock
# programs attached on A (tcpferry attach DEV --tc), an echo server on A
# (tf-stream echo) holding N connections from one tf-stream many-peer on B.
# The runs of the variants are interleaved (lock, no lock, tmpfs lock, tmpfs
# no lock, tmpfs lock with the phase marks, tmpfs lock and no lock under perf
# stat, then again).
#
#   tools/bench/dump.sh [N...]      default 100 1000 10000; RUNS=9
#   QUICK=1                         N = 100, RUNS = 3, no strace
# Needs root; builds nothing (make first).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNS=${RUNS:-9}
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(100 1000 10000)
if [ "${QUICK:-0}" = 1 ]; then RUNS=3; SIZES=(100); fi
. "$ROOT/tests/lib.sh"
need_root
need_built
REPAIR_BENCH=${REPAIR_BENCH:-$ROOT/build/tools/repair_bench}

row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
minimum() { sort -g | head -1; }

make_pair
make_bpffs
TFA=("$TF" -n "$NS_A" --bpffs "$BPFFS/a")
"${TFA[@]}" attach "$DEV_A" --tc >/dev/null || bail_out "cannot attach the lock programs on A"
DISK=$(mktemp -d /var/tmp/tfbench-dump.XXXXXX)
SHM=$(mktemp -d /dev/shm/tfbench-dump.XXXXXX)
at_exit "rm -rf $DISK $SHM"

# children_cpu VAR: the CPU time (user + system, us, millisecond steps) of
# every child this shell has waited for, from the times builtin, into VAR
# (no subshell: a forked one would count its own children, none)
children_cpu() {
	local _ u s x
	times >"$TMP/times"
	{ read -r _ _; read -r u s; } <"$TMP/times"
	for x in u s; do
		local t=${!x} m sec
		m=${t%%m*}
		sec=${t#*m}
		sec=${sec%s}
		printf -v "$x" '%d' "$(( (10#$m * 60000 + 10#${sec/[.,]/}) * 1000 ))"
	done
	printf -v "$1" '%d' "$((u + s))"
}

# one_dump VARIANT DIR ARGS...: one dump; appends "wall_us cpu_us" to
# $TMP/VARIANT (VARIANT phases: with TCPFERRY_PHASES, "wall_us phases...")
one_dump() {
	local v=$1 dir=$2 t0 t1 c0 c1 line
	shift 2
	rm -rf "$dir/out"
	children_cpu c0
	t0=${EPOCHREALTIME/[.,]/}
	if [ "$v" = phases ]; then
		TCPFERRY_PHASES=1 "${TFA[@]}" dump --pid "$app" --out "$dir/out" --leave-running "$@" \
			>/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; bail_out "dump ($v) failed"; }
	elif [ "${v%cpu}" != "$v" ]; then
		# perf's task-clock: the CPU time to the microsecond (times counts in ticks)
		perf stat -x, -e task-clock -o "$TMP/perf" "${TFA[@]}" dump --pid "$app" --out "$dir/out" \
			--leave-running "$@" >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; bail_out "dump ($v) failed"; }
		awk -F, '$3 == "task-clock" { printf "%d\n", $1 * 1000 }' "$TMP/perf" >>"$TMP/$v"
		return
	else
		"${TFA[@]}" dump --pid "$app" --out "$dir/out" --leave-running "$@" \
			>/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; bail_out "dump ($v) failed"; }
	fi
	t1=${EPOCHREALTIME/[.,]/}
	children_cpu c1
	if [ "$v" = phases ]; then
		line=$(sed -n 's/^tcpferry phases (us wall cpu): //p' "$TMP/err")
		echo "$((10#$t1 - 10#$t0)) $line" >>"$TMP/$v"
	else
		echo "$((10#$t1 - 10#$t0)) $((c1 - c0))" >>"$TMP/$v"
	fi
}

# CPU from perf stat's task-clock where perf works, else from times (10 ms steps)
PERF=0
perf stat -x, -e task-clock -o /dev/null true >/dev/null 2>&1 && PERF=1

port=6000
for n in "${SIZES[@]}"; do
	port=$((port + 1))
	spawn "$NS_A" "$TMP/echo.$n" "$HELPERS/tf-stream" echo "$ADDR_A" "$port"
	app=$SPAWNED
	spawn "$NS_B" "$TMP/peer.$n" "$HELPERS/tf-stream" many-peer "$ADDR_A" "$port" --count "$n" --rounds 1
	peer=$SPAWNED
	wait_for 120 grep -qs ready "$TMP/peer.$n" || bail_out "peer of $n: $(cat "$TMP/peer.$n")"
	rm -f "$TMP"/lock "$TMP"/nolock "$TMP"/tlock "$TMP"/tnolock "$TMP"/phases "$TMP"/lockcpu "$TMP"/nolockcpu
	one_dump warm "$SHM"	# page cache, the first attach of the table
	for ((r = 0; r < RUNS; r++)); do
		one_dump lock "$DISK"
		one_dump nolock "$DISK" --no-lock
		one_dump tlock "$SHM"
		one_dump tnolock "$SHM" --no-lock
		one_dump phases "$SHM"
		if [ "$PERF" = 1 ]; then
			one_dump lockcpu "$SHM"
			one_dump nolockcpu "$SHM" --no-lock
		fi
	done
	ms() { awk '{ printf "%.2f", $1 / 1000 }'; }
	m_lock=$(cut -d' ' -f1 "$TMP/tlock" | median)
	m_nolock=$(cut -d' ' -f1 "$TMP/tnolock" | median)
	if [ "$PERF" = 1 ]; then
		c_lock=$(median <"$TMP/lockcpu")
		c_nolock=$(median <"$TMP/nolockcpu")
	else
		c_lock=$(cut -d' ' -f2 "$TMP/tlock" | median)
		c_nolock=$(cut -d' ' -f2 "$TMP/tnolock" | median)
	fi
	row dump_ms "$n" "$(cut -d' ' -f1 "$TMP/lock" | median | ms)" ms
	row dump_nolock_ms "$n" "$(cut -d' ' -f1 "$TMP/nolock" | median | ms)" ms
	row dump_min_ms "$n" "$(cut -d' ' -f1 "$TMP/lock" | minimum | ms)" ms
	row dump_tmpfs_ms "$n" "$(echo "$m_lock" | ms)" ms
	row dump_tmpfs_nolock_ms "$n" "$(echo "$m_nolock" | ms)" ms
	row dump_tmpfs_min_ms "$n" "$(cut -d' ' -f1 "$TMP/tlock" | minimum | ms)" ms
	row dump_tmpfs_max_ms "$n" "$(cut -d' ' -f1 "$TMP/tlock" | sort -g | tail -1 | ms)" ms
	row cpu_ms "$n" "$(echo "$c_lock" | ms)" ms
	row cpu_nolock_ms "$n" "$(echo "$c_nolock" | ms)" ms
	row lock_us "$n" "$(awk -v a="$m_lock" -v b="$m_nolock" -v n="$n" 'BEGIN { printf "%.2f", (a - b) / n }')" us
	row lock_cpu_us "$n" "$(awk -v a="$c_lock" -v b="$c_nolock" -v n="$n" 'BEGIN { printf "%.2f", (a - b) / n }')" us
	# The phases (tmpfs, with the lock, their own runs: the marks cost a
	# little): the median of each, wall and CPU.
	awk '{ for (i = 2; i + 2 <= NF; i += 3) { if (!($i in seen)) { seen[$i] = 1; order[++k] = $i }
	         print $i, $(i + 1), $(i + 2); if ($i == "total") t = $(i + 1) }
	       print "exec", $1 - t, "-" }
	     END { for (i = 1; i <= k; i++) print "ORDER", order[i] }' "$TMP/phases" >"$TMP/ph"
	for p in $(awk '$1 == "ORDER" { print $2 }' "$TMP/ph") exec; do
		row "phase_$p" "$n" "$(awk -v p="$p" '$1 == p { print $2 }' "$TMP/ph" | median |
			awk '{ printf "%.3f", $1 / 1000 }')" ms
		[ "$p" = exec ] && continue
		row "cpu_$p" "$n" "$(awk -v p="$p" '$1 == p { print $3 }' "$TMP/ph" | median |
			awk '{ printf "%.3f", $1 / 1000 }')" ms
	done
	if [ "${QUICK:-0}" != 1 ] && command -v strace >/dev/null; then
		rm -rf "$SHM/out"
		strace -f -c -o "$TMP/strace" "${TFA[@]}" dump --pid "$app" --out "$SHM/out" --leave-running \
			>/dev/null 2>&1 || bail_out "dump under strace failed"
		row syscalls "$n" "$(awk '$NF == "total" { print $4 }' "$TMP/strace")" count
		cp "$TMP/strace" "${STRACE_OUT:-/dev/null}.$n" 2>/dev/null || true
	fi
	kill -9 "$app" "$peer" 2>/dev/null
	wait "$app" "$peer" 2>/dev/null
done
if [ -x "$REPAIR_BENCH" ] && [ "${QUICK:-0}" != 1 ]; then
	for n in "${SIZES[@]}"; do
		[ "$n" -le 1000 ] || continue
		ns=${RUN_ID}f$n
		make_ns "$ns"
		ip netns exec "$ns" "$REPAIR_BENCH" "$n" 2>/dev/null |
			awk -F'\t' -v n="$n" '$1 == "floor_dump_us" || $1 == "dump_us" { print $1 "\t" n "\t" $3 "\t" $4 }'
	done
fi
exit 0
