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
# The same program once steers are in use (issue 13), N steer entries:
#   build/tools/lock_bench steer N   (steer_* lines, "steer" rows; see lock_bench.c)
STEER_SIZES=(1000 1000000)
[ "${QUICK:-0}" = 1 ] && PKT_SIZES=(0 100) && PKT_RUNS=2 && STEER_SIZES=(100)
STEER_METRICS=(steer_xdp_miss steer_tc_miss steer_xdp_lock steer_tc_lock steer_xdp_l2 steer_tc_l2
	steer_xdp_tx_empty steer_xdp_l3_1x steer_tc_l3_1x steer_xdp_empty_1x steer_tc_empty_1x)

PKT_METRICS=(pkt_xdp pkt_tc pkt_xdp_empty pkt_tc_empty)

bench_pkt() {
	local n r ns
	ns=$(new_ns) || exit 1
	for n in "${PKT_SIZES[@]}"; do
		for ((r = 1; r <= PKT_RUNS; r++)); do
			ns_rows pkt pkt_ "$n" "$r" "per packet" "${PKT_METRICS[@]}" -- \
				env TCPFERRY_BPFFS="$BENCH_BPFFS/pkt" ip netns exec "$ns" "$LOCK_BENCH" pkt "$n"
		done
	done
	for n in "${STEER_SIZES[@]}"; do
		for ((r = 1; r <= PKT_RUNS; r++)); do
			ns_rows steer steer_ "$n" "$r" "steer per packet" "${STEER_METRICS[@]}" -- \
				ip netns exec "$ns" "$LOCK_BENCH" steer "$n"
		done
	done
	rm -rf "$BENCH_BPFFS/pkt"
	del_ns "$ns"
}
