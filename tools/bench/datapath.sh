# shellcheck shell=bash
# Data path: TCP throughput between two network namespaces (iperf3) while N
# locks or rules that do not match the traffic are installed on the
# receiving side.  Sourced by run.sh; writes rows
#   tput METHOD N RUN GBIT_S Gbit/s        median of DP_RUNS iperf3 runs
#   install METHOD N 1 SECONDS s           time to install the N entries
#
# Methods, each on its own namespace pair so that all four exist at once and
# the iperf3 runs interleave (none, tcpferry, nft-rules, nft-set, none, ...):
#   none       nothing on the path
#   tcpferry   `tcpferry attach veth0 --tc --no-tsval` on the receiver, N locks
#              added with `tcpferry lock add --file -`
#   nft-rules  N connections as CRIU's rule pairs: N rules in an input chain and
#              N in an output chain, loaded in one `nft -f` batch
#   nft-set    CRIU's set: 2N elements, one lookup rule per direction
# Locked tuples are 198.18.0.2:5201 <-> 10.a.b.c:port; the traffic is
# 198.18.0.1 -> 198.18.0.2:5201, so nothing matches and every packet pays
# the full lookup.

DP_SIZES=(0 1000 100000 1000000)
DP_RUNS=9	# iperf3 on this VM swings ±15% run to run: medians of 9 rounds
DP_SECONDS=3
[ "${QUICK:-0}" = 1 ] && DP_SIZES=(0 100) && DP_RUNS=1 && DP_SECONDS=1

DP_METHODS=(none tcpferry nft-rules nft-set)
# The tsval recorder's throughput cost has its own measurement (tsval.sh).

declare -A DP_A DP_B

dp_install_none() { :; }

dp_install_tcpferry() { # B N TUPLES
	local b=$1 n=$2 max=() tsval=(--no-tsval)
	if [ "$n" -gt 60000 ]; then
		"$TF" attach --help 2>&1 | grep -q -- --max-locks ||
			die "tcpferry attach has no --max-locks; cannot hold $n locks"
		max=(--max-locks $((n + 1024)))
	fi
	in_ns "$b" "$TF" attach veth0 --tc "${max[@]}" "${tsval[@]}" >/dev/null ||
		die "tcpferry attach veth0 --tc ${tsval[*]} in $b failed"
	in_ns "$b" "$TF" status | grep -q '^veth0 .*tc-in' ||
		die "tcpferry attach veth0 --tc in $b left no tc ingress program (tcpferry status)"
	[ "$n" -eq 0 ] && return 0
	awk '{ printf "%s:%s %s:%s\n", $1, $2, $3, $4 }' "$3" |
		in_ns "$b" "$TF" lock add --file - >/dev/null || die "tcpferry lock add --file - ($n locks) in $b failed"
}

dp_install_nft-rules() {
	local b=$1
	{
		echo "add table ip tfbench"
		echo "add chain ip tfbench input { type filter hook input priority 0; }"
		echo "add chain ip tfbench output { type filter hook output priority 0; }"
		awk '{ printf "add rule ip tfbench input ip saddr %s tcp sport %s ip daddr %s tcp dport %s drop\n", $3, $4, $1, $2
		       printf "add rule ip tfbench output ip saddr %s tcp sport %s ip daddr %s tcp dport %s drop\n", $1, $2, $3, $4 }' "$3"
	} >"$BENCH_WORK/dp.nft"
	in_ns "$b" nft -f "$BENCH_WORK/dp.nft" || die "nft -f ($2 connections as rules) in $b failed"
}

dp_install_nft-set() {
	local b=$1
	{
		echo "add table ip tfbench"
		echo "add set ip tfbench conns { type ipv4_addr . inet_service . ipv4_addr . inet_service; }"
		echo "add chain ip tfbench input { type filter hook input priority 0; }"
		echo "add chain ip tfbench output { type filter hook output priority 0; }"
		echo "add rule ip tfbench input ip saddr . tcp sport . ip daddr . tcp dport @conns drop"
		echo "add rule ip tfbench output ip saddr . tcp sport . ip daddr . tcp dport @conns drop"
		awk '{ printf "add element ip tfbench conns { %s . %s . %s . %s }\n", $3, $4, $1, $2
		       printf "add element ip tfbench conns { %s . %s . %s . %s }\n", $1, $2, $3, $4 }' "$3"
	} >"$BENCH_WORK/dp.nft"
	in_ns "$b" nft -f "$BENCH_WORK/dp.nft" || die "nft -f ($2 connections as set elements) in $b failed"
}

# dp_iperf A: one iperf3 run from A to 198.18.0.2; prints Gbit/s.
dp_iperf() {
	local json
	json=$(in_ns "$1" iperf3 -c 198.18.0.2 -p 5201 -t "$DP_SECONDS" -O 1 -J 2>&1) ||
		die "iperf3 in $1 -> 198.18.0.2:5201 failed: $(echo "$json" | grep -m1 '"error"')"
	perl -MJSON::PP -e 'my $j = decode_json(join "", <STDIN>);
		printf "%.3f\n", $j->{end}{sum_received}{bits_per_second} / 1e9' <<<"$json" ||
		die "cannot read iperf3's JSON from $1"
}

bench_datapath() {
	local n m r p t0 tuples srv active
	for n in "${DP_SIZES[@]}"; do
		tuples=$BENCH_WORK/dp-tuples
		tuples "$n" 198.18.0.2 5201 >"$tuples"
		active=()
		for m in "${DP_METHODS[@]}"; do
			[ "${ONLY:-}" = netfilter ] && [[ $m == tcpferry* ]] && continue
			p=$(projected "install-$m" "$n")
			if over_cap "$p"; then
				skipped tput "$m" "$n" "not run: installing > $CAP_S s projected (${p%.*} s)"
				progress "data path N=$n $m: not run, installing projected at ${p%.*} s > cap $CAP_S s"
				continue
			fi
			new_pair
			DP_A[$m]=$PAIR_A DP_B[$m]=$PAIR_B
			[[ $m == tcpferry* ]] && export TCPFERRY_BPFFS=$BENCH_BPFFS/dp-$PAIR_B
			t0=$(now)
			"dp_install_$m" "$PAIR_B" "$n" "$tuples"
			t0=$(elapsed "$t0")
			[ "$m" != none ] && [ "$n" -gt 0 ] && result install "$m" "$n" 1 "$t0" s && remember "install-$m" "$n" "$t0"
			progress "data path N=$n $m: installed in $t0 s"
			# ip netns exec execs iperf3: $! is the server itself, not a subshell
			ip netns exec "$PAIR_B" iperf3 -s -B 198.18.0.2 -p 5201 >/dev/null 2>&1 &
			srv=$!
			track_pid "$srv"
			active+=("$m")
		done
		for m in "${active[@]}"; do
			wait_listen "${DP_B[$m]}" || die "iperf3 server in ${DP_B[$m]} did not start"
		done
		for ((r = 1; r <= DP_RUNS; r++)); do
			for m in "${active[@]}"; do
				t0=$(dp_iperf "${DP_A[$m]}") || exit 1
				result tput "$m" "$n" "$r" "$t0" Gbit/s
				progress "data path N=$n run $r $m: $t0 Gbit/s"
			done
		done
		# Tear the pairs down now: 1,000,000 entries per pair add up.
		bench_cleanup_pids
		for m in "${active[@]}"; do
			del_ns "${DP_A[$m]}"
			del_ns "${DP_B[$m]}"
			rm -rf "$BENCH_BPFFS/dp-${DP_B[$m]}" "$BENCH_BPFFS/dp-${DP_A[$m]}"
		done
		unset TCPFERRY_BPFFS
		rm -f "$tuples" "$BENCH_WORK/dp.nft"
	done
}

# wait_listen NS: until something listens on 198.18.0.2:5201 there.
wait_listen() {
	local i
	for ((i = 0; i < 100; i++)); do
		in_ns "$1" ss -Hltn 'sport = :5201' | grep -q . && return 0
		sleep 0.05
	done
	return 1
}
