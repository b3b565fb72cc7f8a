# shellcheck shell=bash
# Lock churn: lock then unlock N connections, for every method, interleaved
# run by run (A, B, C, A, B, C, ...) so that machine noise hits every side.
# Sourced by run.sh; writes "churn METHOD N RUN CONN_PER_S conn/s" rows.
#
# Netfilter and the tcpferry CLI run through churn_worker.sh inside a fresh
# network namespace per run.  tcpferry's library path comes from
#   build/tools/lock_bench churn N
# which must print (tab-separated, any order, other lines allowed):
#   lock_one    N  VALUE  conn/s   one map update + one delete per connection
#   lock_bulk   N  VALUE  conn/s   the bulk programs, loaded first (tools/bench/README.md)
# where VALUE is connections locked and unlocked per second.

CHURN_SIZES=(1 100 1000 10000 100000)
CHURN_RUNS=5     # per size; 3 when one run is projected past SLOW_S
SLOW_S=10
[ "${QUICK:-0}" = 1 ] && CHURN_SIZES=(1 100) && CHURN_RUNS=3

CHURN_WORKER_METHODS=(iptables nft-rule nft-set tcpferry-cli-one tcpferry-cli-bulk)
# lock_bench metric -> method name in the tables
declare -A LOCK_BENCH_CHURN=([lock_one]=tcpferry-lib-one [lock_bulk]=tcpferry-lib-bulk)

# churn_worker_run METHOD N RUN TUPLES: one run in a fresh namespace; records a row.
churn_worker_run() {
	local m=$1 n=$2 r=$3 tuples=$4 ns out rc pins
	ns=$(new_ns) || exit 1
	pins=$BENCH_BPFFS/churn-$ns
	out=$(TF=$TF TCPFERRY_BPFFS=$pins timeout $((CAP_S * 3)) \
		ip netns exec "$ns" "$BENCH_DIR/churn_worker.sh" "$m" "$tuples")
	rc=$?
	del_ns "$ns"
	rm -rf "$pins"
	[ $rc -eq 124 ] && die "churn $m, $n connections: run $r took more than $((CAP_S * 3)) s (cap $CAP_S s); raise CAP_S or check the machine"
	[ $rc -eq 0 ] || die "churn $m, $n connections: run $r failed (see above)"
	# shellcheck disable=SC2086 # "LOCK_S UNLOCK_S": split on purpose
	set -- $out
	local total
	total=$(awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", a + b }')
	result churn "$m" "$n" "$r" "$(awk -v n="$n" -v t="$total" 'BEGIN { printf "%.1f", n / t }')" conn/s
	echo "$total" >>"$BENCH_WORK/churn-$m-$n.s"
	progress "churn N=$n run $r $m: lock $1 s, unlock $2 s"
}

# churn_lib_run N RUN: lock_bench's figures for one run.
churn_lib_run() {
	local n=$1 r=$2 out metric got=0 value unit m
	out=$(timeout $((CAP_S * 3)) "$LOCK_BENCH" churn "$n") ||
		die "$LOCK_BENCH churn $n failed (exit $?)"
	while IFS=$'\t' read -r metric _ value unit; do
		m=${LOCK_BENCH_CHURN[$metric]:-}
		[ -n "$m" ] || continue
		[ "$unit" = conn/s ] || die "$LOCK_BENCH churn $n: $metric in '$unit', expected conn/s"
		result churn "$m" "$n" "$r" "$value" conn/s
		awk -v n="$n" -v v="$value" 'BEGIN { printf "%.6f\n", n / v }' >>"$BENCH_WORK/churn-$m-$n.s"
		got=$((got + 1))
	done <<<"$out"
	[ $got -eq ${#LOCK_BENCH_CHURN[@]} ] ||
		die "$LOCK_BENCH churn $n printed $got of the lines lock_one and lock_bulk (metric<TAB>N<TAB>conn/s value<TAB>conn/s); got: $(echo "$out" | head -3 | tr '\n\t' '| ')"
	progress "churn N=$n run $r tcpferry library: $(echo "$out" | awk -F'\t' '{ printf "%s %s %s; ", $1, $3, $4 }')"
}

bench_churn() {
	local n r m p tuples runs
	local -A nruns
	for n in "${CHURN_SIZES[@]}"; do
		tuples=$BENCH_WORK/tuples-$n
		tuples "$n" 198.18.0.1 8080 >"$tuples"
		local active=()
		for m in "${CHURN_WORKER_METHODS[@]}"; do
			[ "${ONLY:-}" = netfilter ] && [[ $m == tcpferry* ]] && continue
			p=$(projected "$m" "$n")
			if over_cap "$p"; then
				skipped churn "$m" "$n" "not run: > $CAP_S s projected (${p%.*} s)"
				progress "churn N=$n $m: not run, one run projected at ${p%.*} s > cap $CAP_S s"
				continue
			fi
			active+=("$m")
			nruns[$m]=$CHURN_RUNS
			awk -v s="${p:-0}" -v c="$SLOW_S" 'BEGIN { exit !(s > c) }' && nruns[$m]=3
		done
		runs=$CHURN_RUNS
		for ((r = 1; r <= runs; r++)); do
			[ "${ONLY:-}" = netfilter ] || churn_lib_run "$n" "$r"
			for m in "${active[@]}"; do
				[ "$r" -le "${nruns[$m]}" ] && churn_worker_run "$m" "$n" "$r" "$tuples"
			done
		done
		for m in "${active[@]}" "${LOCK_BENCH_CHURN[@]}"; do
			[ -f "$BENCH_WORK/churn-$m-$n.s" ] || continue
			remember "$m" "$n" "$(median <"$BENCH_WORK/churn-$m-$n.s")"
		done
		rm -f "$tuples"
	done
}
