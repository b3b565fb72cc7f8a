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
# reads its floor_* figures, its image_* figures (the image files, written
# under $TMPDIR or /tmp) and its q64k_ / q1m_ queue cases (N = 1).

REPAIR_SIZES=(1 1000 10000)
REPAIR_RUNS=3
[ "${QUICK:-0}" = 1 ] && REPAIR_SIZES=(1 10) && REPAIR_RUNS=1

REPAIR_METRICS=(dump_us restore_us syscalls)

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
}
