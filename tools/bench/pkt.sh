# shellcheck shell=bash
# Per-packet cost of tcpferry's ingress program with N non-matching locks in
# its table, from BPF_PROG_TEST_RUN with a repeat count.  Sourced by run.sh;
# writes "pkt METRIC N RUN NS ns" rows.  The figures come from
#   build/tools/lock_bench pkt N
# which must print (tab-separated, any order, other lines allowed):
#   pkt_xdp        N  VALUE  ns   the ingress program, XDP flavour
#   pkt_tc         N  VALUE  ns   the ingress program, tc flavour
#   pkt_xdp_empty  N  VALUE  ns   a program that returns XDP_PASS at once:
#   pkt_tc_empty   N  VALUE  ns   the floor, "no program at all"
# VALUE is nanoseconds per packet (the kernel's duration / repeat).  Further
# pkt_* lines in ns (pkt_xdp_drop: a locked tuple's packet) are kept too.

PKT_SIZES=(0 1000 100000 1000000)
PKT_RUNS=5
[ "${QUICK:-0}" = 1 ] && PKT_SIZES=(0 100) && PKT_RUNS=2

PKT_METRICS=(pkt_xdp pkt_tc pkt_xdp_empty pkt_tc_empty)

bench_pkt() {
	local n r out metric value unit got ns
	ns=$(new_ns) || exit 1
	for n in "${PKT_SIZES[@]}"; do
		for ((r = 1; r <= PKT_RUNS; r++)); do
			out=$(TCPFERRY_BPFFS=$BENCH_BPFFS/pkt timeout $((CAP_S * 3)) \
				ip netns exec "$ns" "$LOCK_BENCH" pkt "$n") ||
				die "$LOCK_BENCH pkt $n failed (exit $?)"
			got=0
			while IFS=$'\t' read -r metric _ value unit; do
				[[ $metric == pkt_* ]] || continue
				[ "$unit" = ns ] || die "$LOCK_BENCH pkt $n: $metric in '$unit', expected ns"
				result pkt "$metric" "$n" "$r" "$value" ns
				[[ " ${PKT_METRICS[*]} " == *" $metric "* ]] && got=$((got + 1))
			done <<<"$out"
			[ $got -eq ${#PKT_METRICS[@]} ] ||
				die "$LOCK_BENCH pkt $n printed $got of the lines ${PKT_METRICS[*]} (metric<TAB>N<TAB>value<TAB>ns); got: $(echo "$out" | head -4 | tr '\n\t' '| ')"
			progress "per packet N=$n run $r: $(echo "$out" | awk -F'\t' '{ printf "%s %s %s; ", $1, $3, $4 }')"
		done
	done
	rm -rf "$BENCH_BPFFS/pkt"
	del_ns "$ns"
}
