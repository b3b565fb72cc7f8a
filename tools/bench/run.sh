#!/usr/bin/env bash
# make bench: every benchmark, a table on the terminal, BENCHMARKS.md and the
# plots in tools/bench/results/.  Needs root (network namespaces, BPF).
#
#   make bench          full run (about 25 minutes on 2 cores, 10 of them the
#                       balance part); rewrites
#                       BENCHMARKS.md and tools/bench/results/ at the end
#   make bench-quick    QUICK=1: tiny sizes, proves the harness runs (CI);
#                       writes to $BENCH_OUT (default /tmp/tcpferry-bench-quick)
#
# Environment:
#   CAP_S=60         a size whose single run is projected past this many
#                    seconds is not run (and the table says so)
#   ONLY=netfilter   only the netfilter side (while tcpferry's tools are not
#                    built); a partial report, written to $BENCH_OUT, never to
#                    BENCHMARKS.md
#   SKIP="repair"    leave out whole benchmarks (churn pkt tsval datapath repair dump migrate handoff balance),
#                    deliberately: the report says which, in its first lines
#   BENCH_OUT=DIR    where a quick or partial report goes
#
# The harness stops with a message naming the missing tool rather than
# report a partial table: it needs iptables (nf_tables), nft, iperf3,
# gnuplot, build/tcpferry, build/tools/lock_bench, build/tools/repair_bench
# and build/tools/tsval_bench; the balance part haproxy, wrk, socat and busybox.
set -u

. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/churn.sh"
. "$BENCH_DIR/pkt.sh"
. "$BENCH_DIR/datapath.sh"
. "$BENCH_DIR/repair.sh"
. "$BENCH_DIR/tsval.sh"

QUICK=${QUICK:-0}
ONLY=${ONLY:-}
SKIP=${SKIP:-}
case $ONLY in
'' | netfilter) ;;
*) die "ONLY=$ONLY: the only partial run is ONLY=netfilter" ;;
esac
PARTS=()
ALL_PARTS="churn pkt tsval datapath repair dump migrate handoff balance"
for p in $ALL_PARTS; do
	[[ " $SKIP " == *" $p "* ]] && continue
	[ -n "$ONLY" ] && { [ "$p" = pkt ] || [ "$p" = tsval ] || [ "$p" = repair ] || [ "$p" = dump ] || [ "$p" = migrate ] || [ "$p" = handoff ] || [ "$p" = balance ]; } && continue
	PARTS+=("$p")
done
for p in $SKIP; do
	[[ " $ALL_PARTS " == *" $p "* ]] || die "SKIP=$SKIP: '$p' is none of $ALL_PARTS"
done
wants() { [[ " ${PARTS[*]} " == *" $1 "* ]]; }

# ---- before anything runs: every tool or nothing -----------------------------------------

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, netfilter inside them, BPF); run: sudo make bench"
need_cmd ip "iproute2"
need_cmd iptables "iptables"
iptables -V 2>/dev/null | grep -q nf_tables ||
	die "iptables is not the nf_tables backend ($(iptables -V 2>&1)); run: update-alternatives --set iptables /usr/sbin/iptables-nft"
need_cmd nft "nftables"
need_cmd iperf3 "iperf3"
need_cmd gnuplot "gnuplot-nox"
need_cmd tc "iproute2"
need_cmd timeout "coreutils"
perl -MJSON::PP -e 1 2>/dev/null || die "perl's JSON::PP missing; run make deps (perl)"
if [ -z "$ONLY" ]; then
	if wants churn || wants datapath; then
		need_exe "$TF" "the tcpferry CLI"
		"$TF" lock --help >/dev/null 2>&1 || die "$TF has no 'lock' command yet; run make (issue 3)"
		"$TF" attach --help >/dev/null 2>&1 || die "$TF has no 'attach' command yet; run make (issue 3)"
	fi
	if wants churn || wants pkt; then
		need_exe "$LOCK_BENCH" "tcpferry's lock churn and per-packet benchmark, tools/lock_bench.c"
	fi
	if wants tsval; then
		need_exe "$TSVAL_BENCH" "the tsval recorder's per-packet benchmark, tools/tsval_bench.c; or SKIP=tsval"
		need_exe "$BPF_RUNTIME" "the in-place BPF run time reader, tools/bpf_runtime.c; or SKIP=tsval"
		need_cmd taskset "util-linux"
	fi
	if wants migrate; then
		need_exe "$TF" "the tcpferry CLI"
		need_cmd socat "socat"
		need_cmd jq "jq"
		need_exe "$TF_ROOT/build/tests/helpers/tf-flow" "the lab's stream client, tests/helpers/tf-flow.c; or SKIP=migrate"
	fi
	if wants handoff; then
		need_exe "$TF_ROOT/build/tests/helpers/tf-frontend" "the hand-off test frontend, tests/helpers/tf-frontend.c; or SKIP=handoff"
		need_exe "$TF_ROOT/build/tools/tf-fileserver" "the example server, tools/tf-fileserver.c; or SKIP=handoff"
		need_cmd python3 "python3"
	fi
	if wants balance; then
		need_exe "$TF" "the tcpferry CLI"
		need_cmd haproxy "haproxy; or SKIP=balance"
		need_cmd wrk "wrk; or SKIP=balance"
		need_cmd socat "socat"
		need_cmd busybox "busybox-static"
		need_cmd bpftool "bpftool"
		need_cmd jq "jq"
		need_cmd python3 "python3"
		need_cmd taskset "util-linux"
	fi
	if wants repair; then
		need_exe "$REPAIR_BENCH" "the dump and restore benchmark, tools/repair_bench.c; or SKIP=repair"
	fi
	if wants dump; then
		need_exe "$TF" "the tcpferry CLI"
		need_exe "$TF_ROOT/build/tests/helpers/tf-stream" "the echo server and its peers, tests/helpers/tf-stream.c; or SKIP=dump"
	fi
fi

# ---- where things go ------------------------------------------------------------------------

finish() {
	trap '' INT TERM HUP PIPE
	if [ -n "${BENCH_WORK:-}" ]; then
		bench_cleanup
		rm -rf "$BENCH_WORK"
	fi
	run_record_done
}
trap finish EXIT
trap 'exit 130' INT TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE
# A run killed outright leaves its record: the next run's sweep (or make test's) removes what it made.
. "$TF_ROOT/tests/run_record.sh"
run_record "tcpferry-bench-$$" || die "tests/sweep.sh could not record this run"
BENCH_WORK=$(mktemp -d /tmp/tcpferry-bench.XXXXXX)
owned dir "$BENCH_WORK"
chmod 0700 "$BENCH_WORK"
: >"$BENCH_WORK/results.tsv"

if [ "$QUICK" = 1 ] || [ -n "$ONLY" ]; then
	OUT=${BENCH_OUT:-/tmp/tcpferry-bench-$([ "$QUICK" = 1 ] && echo quick || echo partial)}
	MD=$OUT/BENCHMARKS.md
	PLOTS=$OUT
	PLOTREF=.
else
	OUT=$TF_ROOT
	MD=$TF_ROOT/BENCHMARKS.md
	PLOTS=$BENCH_DIR/results
	PLOTREF=tools/bench/results
fi

bench_bpffs

# Measure copies of tcpferry's binaries: the tree is shared, and a rebuild in
# the middle of a 15-minute run must not swap (or break) what is measured.
mkdir -p "$BENCH_WORK/bin"
for v in TF LOCK_BENCH REPAIR_BENCH TSVAL_BENCH BPF_RUNTIME; do
	if [ -x "${!v}" ]; then
		cp "${!v}" "$BENCH_WORK/bin/" || die "cannot copy ${!v}"
		printf -v "$v" '%s' "$BENCH_WORK/bin/$(basename "${!v}")"
	fi
done

# ---- the machine ------------------------------------------------------------------------------

first_line() { "$@" 2>&1 | head -1; }
{
	printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf 'commit\t%s\n' "$(git -C "$TF_ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$TF_ROOT" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
	printf 'CPU\t%s\n' "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	printf 'cores\t%s\n' "$(nproc)"
	printf 'memory\t%s\n' "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	printf 'kernel\t%s\n' "$(uname -r)"
	printf 'distribution\t%s\n' "$(. /etc/os-release && echo "$PRETTY_NAME") ($(cat /etc/debian_version 2>/dev/null))"
	printf 'nft\t%s\n' "$(first_line nft -v)"
	printf 'iptables\t%s\n' "$(first_line iptables -V)"
	printf 'clang\t%s\n' "$(first_line clang --version)"
	printf 'gcc\t%s\n' "$(first_line gcc --version)"
	printf 'libbpf\t%s\n' "$(dpkg-query -W -f='${Version}' libbpf-dev 2>/dev/null) (libbpf-dev)"
	printf 'bpftool\t%s\n' "$(first_line bpftool version)"
	printf 'iperf3\t%s\n' "$(first_line iperf3 --version)"
	printf 'gnuplot\t%s\n' "$(first_line gnuplot --version)"
	! command -v haproxy >/dev/null || printf 'haproxy\t%s\n' "$(haproxy -v | awk 'NR == 1 { print $3 }')"
	! command -v wrk >/dev/null || printf 'wrk\t%s\n' "$(wrk -v 2>&1 | awk 'NR == 1 { print $2 }')"
	# repair_bench writes its images there, fsynced: the file system is in the figures
	printf 'temporary files\t%s\n' "${TMPDIR:-/tmp}, $(findmnt -n -o FSTYPE -T "${TMPDIR:-/tmp}" 2>/dev/null || stat -f -c %T "${TMPDIR:-/tmp}")"
} >"$BENCH_WORK/machine.tsv"

# ---- the benchmarks -------------------------------------------------------------------------

# script_rows PART OUT: a bench script's "METRIC N VALUE UNIT" lines as rows of PART (run 1).
script_rows() {
	local metric n value unit
	while IFS=$'\t' read -r metric n value unit; do
		[ -n "$unit" ] || continue
		result "$1" "$metric" "$n" 1 "$value" "$unit"
	done <<<"$2"
}

# Live migration in the lab (tools/bench/migrate.sh, issue 5): rows "migrate METRIC N 1 VALUE UNIT".
bench_migrate() {
	local out
	progress "migrate: $([ "$QUICK" = 1 ] && echo 10 || echo 100) moves of the demo's stream, then 1,000 connections at once"
	out=$(QUICK=$QUICK "$BENCH_DIR/migrate.sh") || die "tools/bench/migrate.sh failed"
	script_rows migrate "$out"
	progress "migrate: $(tr '\n\t' '; ' <<<"$out" | head -c 300)"
}

# The whole dump as a user runs it (tools/bench/dump.sh, issue 12): rows "dump METRIC N 1 VALUE UNIT".
bench_dump() {
	local out
	progress "dump: tcpferry dump --leave-running of $([ "$QUICK" = 1 ] && echo 100 || echo '100, 1,000 and 10,000') idle connections"
	out=$(QUICK=$QUICK TF=$TF REPAIR_BENCH=$REPAIR_BENCH "$BENCH_DIR/dump.sh") || die "tools/bench/dump.sh failed"
	script_rows dump "$out"
	progress "dump: $(grep -E '^(dump_tmpfs_ms|cpu_ms|lock_cpu_us)' <<<"$out" | tr '\n\t' '; ' | head -c 300)"
}

# The hand-off's latency (tools/bench/handoff.sh, issue 13): rows "handoff METRIC N 1 VALUE UNIT".
bench_handoff() {
	local out
	progress "handoff: one at a time, then $([ "$QUICK" = 1 ] && echo 100 || echo 1,000) in flight"
	out=$(QUICK=$QUICK "$BENCH_DIR/handoff.sh") || die "tools/bench/handoff.sh failed"
	script_rows handoff "$out"
	progress "handoff: $(tr '\n\t' '; ' <<<"$out" | head -c 300)"
}

# tcpferry balance beside HAProxy and a direct connection (tools/bench/balance.sh,
# issue 14): rows "balance METRIC N 1 VALUE UNIT", N the response size (or the
# concurrent clients of ttfb_*).
bench_balance() {
	local out
	progress "balance: tcpferry balance, HAProxy and direct, $([ "$QUICK" = 1 ] && echo '4 sizes, 1 s each' || echo '6 sizes, 3 rounds of 8 s'); then first byte at 100 and 1,000 clients"
	out=$(QUICK=$QUICK TF=$TF "$BENCH_DIR/balance.sh") || die "tools/bench/balance.sh failed"
	script_rows balance "$out"
	progress "balance: $(grep -E '^(tf|hap)_(mbps|fe_s_per_gb)'$'\t''104857600' <<<"$out" | tr '\n\t' '; ' | head -c 300)"
}

start=$(now)
progress "bench: $([ "$QUICK" = 1 ] && echo quick || echo full) run of ${PARTS[*]}${ONLY:+, only $ONLY}; cap $CAP_S s per run; work in $BENCH_WORK"
for p in "${PARTS[@]}"; do
	"bench_$p"
done
minutes=$(awk -v s="$(elapsed "$start")" 'BEGIN { printf "%.0f", s / 60 + 0.5 }')

{
	printf 'quick\t%s\n' "$QUICK"
	printf 'only\t%s\n' "$ONLY"
	printf 'skip\t%s\n' "$SKIP"
	printf 'cap_s\t%s\n' "$CAP_S"
	printf 'minutes\t%s\n' "$minutes"
	printf 'dp_seconds\t%s\n' "$DP_SECONDS"
	printf 'dp_runs\t%s\n' "$DP_RUNS"
	printf 'pkt_runs\t%s\n' "$PKT_RUNS"
	printf 'repair_runs\t%s\n' "$REPAIR_RUNS"
	printf 'tsval_runs\t%s\n' "$TSVAL_RUNS"
	printf 'tt_rounds\t%s\n' "$TT_ROUNDS"
	printf 'tt_seconds\t%s\n' "$TT_SECONDS"
} >"$BENCH_WORK/config.tsv"

# ---- the report: built aside, moved in place only when complete ------------------------------

mkdir -p "$BENCH_WORK/report"
if ! "$BENCH_DIR/report.pl" "$BENCH_WORK" "$BENCH_WORK/report/BENCHMARKS.md" "$BENCH_WORK/report" "$PLOTREF"; then
	cp "$BENCH_WORK/results.tsv" /tmp/tcpferry-bench-results.tsv
	die "the report could not be written; raw rows kept in /tmp/tcpferry-bench-results.tsv"
fi
# The raw rows and what report.pl needs beside them, so the report can be
# written again from a committed run (see report.pl).
cp "$BENCH_WORK/results.tsv" "$BENCH_WORK/machine.tsv" "$BENCH_WORK/config.tsv" "$BENCH_WORK/report/"
mkdir -p "$PLOTS"
rm -f "$PLOTS"/*.png "$PLOTS"/*.tsv
cp "$BENCH_WORK"/report/*.png "$BENCH_WORK"/report/*.tsv "$PLOTS/"
cp "$BENCH_WORK/report/BENCHMARKS.md" "$MD"
progress "bench: done in $minutes min; wrote $MD and $PLOTS/"
