# shellcheck shell=bash
# Repair: dump and restore time per connection, beside the syscalls each
# connection costs (the floor).  Sourced by run.sh; writes
# "repair METRIC N RUN VALUE UNIT" rows.  The figures come from
#   build/tools/repair_bench N
# run inside a fresh network namespace (its connections stay on that
# namespace's loopback), which must print (tab-separated, other lines allowed):
#   dump_us     N  VALUE  us      dump time per connection
#   restore_us  N  VALUE  us      restore time per connection
#   syscalls    N  VALUE  count   syscalls per connection (dump + restore)
# Any further "metric N value unit" lines it prints are kept; report.pl
# reads its floor_* figures, its image_* and stream_* figures (a dump as one
# file per connection, and as one image stream file, written under $TMPDIR or
# /tmp) and its q64k_ / q1m_ queue cases (N = 1).  When $TMPDIR is not on a
# tmpfs, the sizes of REPAIR_STREAM_SIZES run once more with TMPDIR on one
# (/dev/shm), and their image_/stream_ rows are kept as tmpfs_image_...,
# tmpfs_stream_...: files against stream on a disk and in memory.

REPAIR_SIZES=(1 1000 10000)
REPAIR_RUNS=3
[ "${QUICK:-0}" = 1 ] && REPAIR_SIZES=(1 10) && REPAIR_RUNS=1

REPAIR_METRICS=(dump_us restore_us syscalls)
REPAIR_STREAM_SIZES=(1000 10000)
[ "${QUICK:-0}" = 1 ] && REPAIR_STREAM_SIZES=(10)
REPAIR_TMPFS=${REPAIR_TMPFS:-/dev/shm}

bench_repair() {
	local n r out metric line_n value unit got ns
	for n in "${REPAIR_SIZES[@]}"; do
		for ((r = 1; r <= REPAIR_RUNS; r++)); do
			ns=$(new_ns) || exit 1
			out=$(timeout $((CAP_S * 3)) ip netns exec "$ns" "$REPAIR_BENCH" "$n") ||
				die "$REPAIR_BENCH $n failed (exit $?)"
			del_ns "$ns"
			got=0
			while IFS=$'\t' read -r metric line_n value unit; do
				[ -n "$unit" ] && [ -n "$value" ] || continue
				result repair "$metric" "$line_n" "$r" "$value" "$unit"
				[[ " ${REPAIR_METRICS[*]} " == *" $metric "* ]] && got=$((got + 1))
			done <<<"$out"
			[ $got -eq ${#REPAIR_METRICS[@]} ] ||
				die "$REPAIR_BENCH $n printed $got of the lines ${REPAIR_METRICS[*]} (metric<TAB>N<TAB>value<TAB>unit); got: $(echo "$out" | head -3 | tr '\n\t' '| ')"
			progress "repair N=$n run $r: $(echo "$out" | awk -F'\t' '$1 ~ /^(dump_us|restore_us|syscalls)$/ { printf "%s %s %s; ", $1, $3, $4 }')"
		done
	done
	bench_repair_tmpfs
}

# The image phases again on a tmpfs, when the main run's were on a disk.
bench_repair_tmpfs() {
	local n r out metric line_n value unit ns dir
	[ "$(findmnt -n -o FSTYPE -T "${TMPDIR:-/tmp}" 2>/dev/null | head -1)" = tmpfs ] && return 0
	[ "$(findmnt -n -o FSTYPE -T "$REPAIR_TMPFS" 2>/dev/null | head -1)" = tmpfs ] ||
		{ progress "repair on tmpfs: $REPAIR_TMPFS is not a tmpfs; left out"; return 0; }
	for n in "${REPAIR_STREAM_SIZES[@]}"; do
		for ((r = 1; r <= REPAIR_RUNS; r++)); do
			ns=$(new_ns) || exit 1
			dir=$(mktemp -d "$REPAIR_TMPFS/tcpferry-bench.XXXXXX") || die "cannot make a directory in $REPAIR_TMPFS"
			out=$(TMPDIR=$dir timeout $((CAP_S * 3)) ip netns exec "$ns" "$REPAIR_BENCH" "$n") ||
				{ rmdir "$dir"; die "$REPAIR_BENCH $n (TMPDIR=$dir) failed (exit $?)"; }
			rmdir "$dir"
			del_ns "$ns"
			while IFS=$'\t' read -r metric line_n value unit; do
				[ -n "$unit" ] && [ -n "$value" ] || continue
				case $metric in image_* | stream_*) result repair "tmpfs_$metric" "$line_n" "$r" "$value" "$unit" ;; esac
			done <<<"$out"
			progress "repair on tmpfs N=$n run $r: $(echo "$out" | awk -F'\t' '$1 ~ /^(image|stream)_(write|read)_us$/ { printf "%s %s; ", $1, $3 }')"
		done
	done
}
