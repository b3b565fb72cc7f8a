# shellcheck shell=bash
# Per-packet cost of the tsval recorder's tc egress program (issue 4) with N
# other connections recorded, from BPF_PROG_TEST_RUN with a repeat count.
# Sourced by run.sh; writes "tsval METRIC N RUN NS ns" rows.  The figures come from
#   build/tools/tsval_bench N
# which must print (tab-separated, other lines allowed):
#   tsval_out_ts    N  VALUE  ns   a packet with NOP NOP TS (the fast path), recorded
#   tsval_tc_empty  N  VALUE  ns   a tc program that only returns: the floor
# Further tsval_* lines in ns (tsval_out_walk, tsval_out_nots, ...) are kept too.

TSVAL_SIZES=(0 1000 1000000)
TSVAL_RUNS=5
[ "${QUICK:-0}" = 1 ] && TSVAL_SIZES=(0 100) && TSVAL_RUNS=2

TSVAL_METRICS=(tsval_out_ts tsval_tc_empty)

bench_tsval() {
	local n r ns
	ns=$(new_ns) || exit 1
	for n in "${TSVAL_SIZES[@]}"; do
		for ((r = 1; r <= TSVAL_RUNS; r++)); do
			ns_rows tsval tsval_ "$n" "$r" tsval "${TSVAL_METRICS[@]}" -- \
				ip netns exec "$ns" "$TSVAL_BENCH" "$n"
		done
	done
	del_ns "$ns"
}
