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
	bench_tsval_tput
}

# ---- the recorder's throughput cost ------------------------------------------------
# TCP throughput between two namespaces with and without the recorder, on one
# pair: the lock program stays attached on both ends, the recorder (egress and
# ingress, both ends: the sender's egress carries the data it parses) is
# attached and detached between runs.  Both iperf3 ends run on CPU 0, so the
# transfer is CPU-bound on one core and every nanosecond per packet shows; on
# this 2-core VM unpinned runs swing ±25%.  Rounds run off on on off, then on
# off off on, so drift cancels; a round's ratio is its on runs over its off
# runs.  Then one more run with the recorder, through build/tools/bpf_runtime,
# which reads the recorder's own run time from the kernel's BPF statistics:
# its share of the CPU time the transfer used, measured in place.  That run
# is not in the ratio: with the statistics on, every BPF program run also
# pays for two clock reads.
# Rows: tsvaltput off|on 0 ROUND GBIT_S Gbit/s (the mean of the round's two runs),
#       tsvaltput insitu_share|insitu_ns|insitu_kpps 0 ROUND VALUE UNIT.
TT_ROUNDS=12
TT_SECONDS=2
[ "${QUICK:-0}" = 1 ] && TT_ROUNDS=1 && TT_SECONDS=1

# tt_recorder A B on|off
tt_recorder() {
	local ns op=--attach out
	[ "$3" = off ] && op=--detach
	for ns in "$1" "$2"; do
		# (quiet: "already attached" when two runs in a row have it)
		out=$(in_ns "$ns" "$TF" --bpffs "$BENCH_BPFFS/tt-$ns" tswatch "$op" veth0 2>&1) ||
			die "tcpferry tswatch $op veth0 in $ns failed: $out"
	done
}

# tt_run A STATSFILE|-: one iperf3 run from A; prints Gbit/s.
tt_run() {
	local json wrap=()
	[ "$2" != - ] && wrap=("$BPF_RUNTIME" tf_tsval_tc_ --)
	json=$(in_ns "$1" taskset -c 0 "${wrap[@]}" iperf3 -c 198.18.0.2 -p 5201 -t "$TT_SECONDS" -O 1 -J \
		2>"$BENCH_WORK/tt.err") ||
		die "iperf3 in $1 -> 198.18.0.2:5201 failed: $(echo "$json" | grep -m1 '"error"') $(cat "$BENCH_WORK/tt.err")"
	[ "$2" != - ] && cat "$BENCH_WORK/tt.err" >>"$2"
	perl -MJSON::PP -e 'my $j = decode_json(join "", <STDIN>);
		printf "%.3f\n", $j->{end}{sum_received}{bits_per_second} / 1e9' <<<"$json" ||
		die "cannot read iperf3's JSON from $1"
}

bench_tsval_tput() {
	local a b r srv order s x stats
	need_exe "$BPF_RUNTIME" "make"
	new_pair
	a=$PAIR_A b=$PAIR_B
	for s in "$a" "$b"; do
		in_ns "$s" "$TF" --bpffs "$BENCH_BPFFS/tt-$s" attach veth0 --tc --no-tsval >/dev/null ||
			die "tcpferry attach veth0 --tc --no-tsval in $s failed"
	done
	ip netns exec "$b" taskset -c 0 iperf3 -s -B 198.18.0.2 -p 5201 >/dev/null 2>&1 &
	srv=$!
	track_pid "$srv"
	wait_listen "$b" || die "iperf3 server in $b did not start"
	for ((r = 1; r <= TT_ROUNDS; r++)); do
		order="off on on off"
		[ $((r % 2)) = 0 ] && order="on off off on"
		declare -A sum=([off]=0 [on]=0)
		stats=$BENCH_WORK/tt-stats-$r
		: >"$stats"
		for s in $order; do
			tt_recorder "$a" "$b" "$s"
			x=$(tt_run "$a" -) || exit 1
			sum[$s]=$(awk -v a="${sum[$s]}" -v b="$x" 'BEGIN { print a + b }')
			progress "tsval throughput round $r, recorder $s: $x Gbit/s"
		done
		tt_recorder "$a" "$b" on
		x=$(tt_run "$a" "$stats") || exit 1
		progress "tsval throughput round $r, recorder on, BPF statistics on: $x Gbit/s"
		tt_recorder "$a" "$b" off
		for s in off on; do
			result tsvaltput "$s" 0 "$r" "$(awk -v a="${sum[$s]}" 'BEGIN { printf "%.3f", a / 2 }')" Gbit/s
		done
		# The run with the statistics: the recorder's in-place cost.
		awk -v r="$r" -v s="$TT_SECONDS" '
			$1 == "bpf_runs" { n += $2 } $1 == "bpf_ns" { ns += $2 } $1 == "cpu_busy_ns" { busy += $2 }
			END {
				if (!n || !busy) exit 1
				printf "tsvaltput\tinsitu_share\t0\t%s\t%.3f\t%%\n", r, 100 * ns / busy
				printf "tsvaltput\tinsitu_ns\t0\t%s\t%.1f\tns\n", r, ns / n
				printf "tsvaltput\tinsitu_kpps\t0\t%s\t%.1f\tkpps\n", r, n / (s + 1) / 1000
			}' "$stats" >>"$BENCH_WORK/results.tsv" ||
			die "bpf_runtime reported no run of the recorder in round $r: $(cat "$stats")"
	done
	bench_cleanup_pids
	del_ns "$a"
	del_ns "$b"
	rm -rf "$BENCH_BPFFS/tt-$a" "$BENCH_BPFFS/tt-$b"
}
