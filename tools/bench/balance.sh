#!/usr/bin/env bash
# The load balancer beside HAProxy (make bench, issue 14).  One lab
# (tests/helpers/handofflab.sh: a client C, a frontend F with the VIP, two
# backends b1 and b2 on one bridge), three cases in the same run, each size's
# runs interleaved (tcpferry, haproxy, direct; again, ...):
#
#   tf       `tcpferry balance` in F (one thread; --threads 1 where it has
#            the option), rule `match path /f/` to
#            pool b1 b2 (roundrobin, l2); each backend's `tcpferry receive
#            --serve --each -- busybox httpd -i`: the connection is handed
#            over, the backend answers the client directly
#   hap      HAProxy (Debian's) in F, mode http, the same rule and backends,
#            nbthread 1, no request log, option splice-response, maxconn 4000;
#            each backend's busybox httpd -i behind socat (TCP-LISTEN, fork,
#            nofork: one httpd a connection, as with --each)
#   direct   the client straight to b1's httpd (the floor)
#
# The frontend (balance or haproxy) runs on CPU $FE_CPU (taskset), the client
# (wrk, ttfb.py), the backends and the balancer's channels on $OTHER_CPU.
#
# Measured, per case and response size (1 KB .. 100 MB; `wrk -t1 -H
# 'Connection: close' --latency`): requests/s, MB/s (10^6 bytes read by the
# client), latency p50/p99; for the frontends, CPU per GB served (10^9 bytes):
#   the process's utime + stime (/proc/PID/stat; balance's own, not its
#   channels' children, which run on the backends' side), and the run time of
#   the BPF programs on F's eth0 (bpftool's run_time_ns, kernel.bpf_stats_enabled
#   set to 1 for the run and put back at exit).  Softirq (/proc/stat, per CPU)
#   is reported apart, per CPU: see tools/bench/README.md for why.
# Then connection setup to first byte at 100 and 1,000 concurrent clients
# (tools/bench/ttfb.py), p50/p99.
#
# Rows on stdout: METRIC N VALUE UNIT (N the response size in bytes, or the
# number of concurrent clients for ttfb_*).  QUICK=1: a few sizes, 1 s each.
set -u
RUN_ID=tfl$$
export RUN_ID
. "$(dirname "$0")/../../tests/lib.sh" >/dev/null
. "$TF_ROOT/tests/helpers/handofflab.sh"
BENCH_DIR=$TF_ROOT/tools/bench
QUICK=${QUICK:-0}

fail() {
	echo "balance.sh: $*" >&2
	exit 1
}
# The lab's helpers stop a test with TAP on stdout (a skip exits 0): here a
# failure, said on stderr, so that run.sh stops and says why.
bail_out() { fail "$*"; }
skip_all() { fail "$*"; }
for c in haproxy wrk socat busybox bpftool taskset python3 jq; do
	command -v "$c" >/dev/null 2>&1 || fail "$c missing; run make deps"
done
[ -x "$TF" ] || fail "$TF missing; run make"

if [ "$QUICK" = 1 ]; then
	SIZES=${BAL_SIZES:-1024 65536 1048576 104857600}
	SECONDS_EACH=1
	ROUNDS=1
	WAVES=1
else
	SIZES=${BAL_SIZES:-1024 16384 65536 262144 1048576 104857600}
	SECONDS_EACH=${BAL_SECONDS:-8}
	ROUNDS=${BAL_ROUNDS:-3}
	WAVES=${BAL_WAVES:-5}
fi
CONC=16                   # wrk's connections, up to 1 MB
CONC_BIG=${BAL_CONC_BIG:-4} # 100 MB
FE_CPU=0
OTHER_CPU=$(($(nproc) > 1 ? 1 : 0))
B1_ADDR=198.18.20.11
B2_ADDR=198.18.20.12
B1_ADDR6=fd00:7466:20::11
B2_ADDR6=fd00:7466:20::12
TF_PORT=8001
HAP_PORT=8002
BE_PORT=8080
HZ=$(getconf CLK_TCK)

# ---- the BPF statistics: on for the run, put back at exit (a global sysctl) --------------

BPF_STATS_OLD=$(sysctl -n kernel.bpf_stats_enabled) || fail "no kernel.bpf_stats_enabled"
if [ "$BPF_STATS_OLD" = 0 ]; then
	at_exit "sysctl -qw kernel.bpf_stats_enabled=0"
	sysctl -qw kernel.bpf_stats_enabled=1 || fail "cannot set kernel.bpf_stats_enabled"
fi
# 1,000 clients at once, and HAProxy's two sockets a connection: raise the
# open files limit to the hard one (without CAP_SYS_RESOURCE, no further).
ulimit -n "$(ulimit -Hn)" && [ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 8192 ] ||
	fail "the open files limit ($(ulimit -n), hard $(ulimit -Hn)) is below 8192"

# ---- the lab --------------------------------------------------------------------------------

NS_B1=${RUN_ID}b1
NS_B2=${RUN_ID}b2
hol_make >&2
hol_backend "$NS_B1" $B1_ADDR $B1_ADDR6 >&2
hol_backend "$NS_B2" $B2_ADDR $B2_ADDR6 >&2
make_bpffs
for ns in "$NS_C" "$NS_F" "$NS_B1" "$NS_B2"; do
	in_ns "$ns" sysctl -qw net.ipv4.ip_local_port_range="10000 60999" net.ipv4.tcp_tw_reuse=1 \
		net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192
done
in_ns "$NS_F" "$TF" --bpffs "$BPFFS/f" attach eth0 --tc >/dev/null || fail "attach on the frontend failed"
# The frontend's programs, by id (other tcpferry programs on this machine are
# not counted): those of the links attach pinned (lock and steer, tsval recorder).
FE_PROGS=$(find "$BPFFS/f/links" "$BPFFS/f/tsval-links" -type f -exec bpftool -j link show pinned {} \; | jq -r .prog_id | sort -u)
[ -n "$FE_PROGS" ] || fail "no BPF program attached to the frontend's eth0"

ROOT=$TMP/root
mkdir -p "$ROOT/f"
for s in 1024 $SIZES; do
	head -c "$s" /dev/urandom >"$ROOT/f/$s" || fail "cannot write $ROOT/f/$s"
done

# HAProxy's and the direct case's backends: busybox httpd -i, one a connection
# (socat's nofork: the accepted socket is httpd's stdin and stdout), listening
# on each backend's own address.
for b in 1 2; do
	ns=${RUN_ID}b$b
	addr=$([ $b = 1 ] && echo $B1_ADDR || echo $B2_ADDR)
	spawn "$ns" "$TMP/socat$b.log" taskset -c "$OTHER_CPU" socat \
		"TCP-LISTEN:$BE_PORT,bind=$addr,fork,reuseaddr,backlog=8192" "EXEC:busybox httpd -i -h $ROOT,nofork"
done

cat >"$TMP/balance.conf" <<EOF
# tools/bench/balance.sh
backend b1 addr $B1_ADDR mode l2 via taskset -c $OTHER_CPU ip netns exec $NS_B1 $TF receive --serve --each -- busybox httpd -i -h $ROOT
backend b2 addr $B2_ADDR mode l2 via taskset -c $OTHER_CPU ip netns exec $NS_B2 $TF receive --serve --each -- busybox httpd -i -h $ROOT
pool web roundrobin b1 b2
match path /f/ pool web
default status 404
EOF
# One thread (the frontend has one CPU): said so where balance has --threads.
THREADS=()
"$TF" balance --help 2>&1 | grep -q -- '--threads' && THREADS=(--threads 1)
taskset -c "$FE_CPU" ip netns exec "$NS_F" "$TF" --bpffs "$BPFFS/f" balance --config "$TMP/balance.conf" "${THREADS[@]}" \
	--listen "$VIP:$TF_PORT" --status-socket "$TMP/status.sock" >"$TMP/bal.out" 2>"$TMP/bal.err" &
BAL=$!
at_exit "kill $BAL; sleep 0.5; kill -9 $BAL"

cat >"$TMP/haproxy.cfg" <<EOF
# tools/bench/balance.sh: HAProxy as an HTTP reverse proxy, the same rule and backends
global
	nbthread 1
	maxconn 4000
	# no log: nothing is logged per request
defaults
	mode http
	maxconn 4000
	timeout connect 5s
	timeout client 60s
	timeout server 60s
	timeout http-request 10s
	# kernel splicing of the response bodies: forced, since splice-auto's
	# heuristics did not engage here (recvfrom/sendto of 16 KB, a third of the
	# throughput at five times the CPU per GB)
	$(case ${BAL_HAP_SPLICE:-response} in response) echo "option splice-response" ;; auto) echo "option splice-auto" ;; esac)
	http-reuse safe
frontend fe
	bind $VIP:$HAP_PORT
	acl files path_beg /f/
	http-request return status 404 unless files
	use_backend web if files
backend web
	balance roundrobin
	server b1 $B1_ADDR:$BE_PORT
	server b2 $B2_ADDR:$BE_PORT
EOF
haproxy -c -q -f "$TMP/haproxy.cfg" >&2 || fail "haproxy refuses its config"
taskset -c "$FE_CPU" ip netns exec "$NS_F" haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/hap.log" 2>&1 &
HAP=$!
at_exit "kill $HAP; sleep 0.5; kill -9 $HAP"

wait_for 20 grep -qx ready "$TMP/bal.out" || fail "balance is not ready: $(cat "$TMP/bal.out" "$TMP/bal.err")"
wait_for 10 sh -c "ip netns exec $NS_F ss -Htln | grep -q ':$HAP_PORT '" || fail "haproxy does not listen: $(cat "$TMP/hap.log")"
kill -0 "$HAP" 2>/dev/null || fail "haproxy exited: $(cat "$TMP/hap.log")"
for u in "$VIP:$TF_PORT" "$VIP:$HAP_PORT" "$B1_ADDR:$BE_PORT"; do
	in_ns "$NS_C" curl -sS --max-time 10 -o "$TMP/check" "http://$u/f/1024" && cmp -s "$TMP/check" "$ROOT/f/1024" ||
		fail "http://$u/f/1024 is not the file"
done

# ---- measuring --------------------------------------------------------------------------------

# cpu_ticks PID: the process's utime + stime (all its threads), clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# bpf_ns: the summed run time of the frontend's programs, ns.
bpf_ns() {
	local id t=0 v
	for id in $FE_PROGS; do
		v=$(bpftool -j prog show id "$id" | jq '.run_time_ns // 0') || v=0
		t=$((t + v))
	done
	echo $t
}
# stalls: retransmission timeouts and tail loss probes in the lab (every
# namespace's TCPTimeouts + TCPLossProbes): what a p99 far above the p50 is
# usually made of.
stalls() {
	local ns t=0
	for ns in "$NS_C" "$NS_F" "$NS_B1" "$NS_B2"; do
		t=$((t + $(nstat_get "$ns" TcpExtTCPTimeouts) + $(nstat_get "$ns" TcpExtTCPLossProbes)))
	done
	echo $t
}
# softirq CPU: that CPU's softirq ticks (/proc/stat).
softirq() { awk -v c="cpu$1" '$1 == c { print $8 }' /proc/stat; }

# load CASE SIZE ROUND: one wrk run; rows for CASE at SIZE.
load() {
	local case=$1 size=$2 url pid="" c=$CONC out t0 t1 c0 c1 b0 b1 r0 r1 s0a s0b s1a s1b
	local secs=$SECONDS_EACH
	[ "$size" -ge 100000000 ] && c=$CONC_BIG && [ "$QUICK" = 1 ] && secs=3
	case $case in
	tf) url=http://$VIP:$TF_PORT/f/$size pid=$BAL ;;
	hap) url=http://$VIP:$HAP_PORT/f/$size pid=$HAP ;;
	direct) url=http://$B1_ADDR:$BE_PORT/f/$size ;;
	esac
	[ -z "$pid" ] || c0=$(cpu_ticks "$pid")
	b0=$(bpf_ns) r0=$(stalls)
	s0a=$(softirq $FE_CPU) s1a=$(softirq $OTHER_CPU)
	t0=$(date +%s.%N)
	out=$(in_ns "$NS_C" taskset -c "$OTHER_CPU" wrk -t1 -c"$c" -d"${secs}s" --timeout 60s --latency \
		-H 'Connection: close' "$url" 2>&1) || fail "wrk $url failed: $out"
	t1=$(date +%s.%N)
	[ -z "$pid" ] || c1=$(cpu_ticks "$pid")
	b1=$(bpf_ns) r1=$(stalls)
	s0b=$(softirq $FE_CPU) s1b=$(softirq $OTHER_CPU)
	echo "$out" >>"$TMP/wrk.log"
	awk -v case="$case" -v size="$size" -v hz="$HZ" -v wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
		-v cpu=$((${c1:-0} - ${c0:-0})) -v fe="${pid:+1}" -v bpf=$((b1 - b0)) -v stalls=$((r1 - r0)) \
		-v fc=$FE_CPU -v oc=$OTHER_CPU -v sq0=$((s0b - s0a)) -v sq1=$((s1b - s1a)) '
	function ms(v) {    # wrk units: us ms s
		if (v ~ /us$/) return v * 0.001
		if (v ~ /ms$/) return v + 0
		if (v ~ /m$/) return v * 60000
		return v * 1000
	}
	function bytes(v) {
		if (v ~ /KB$/) return v * 1024
		if (v ~ /MB$/) return v * 1048576
		if (v ~ /GB$/) return v * 1073741824
		if (v ~ /TB$/) return v * 1099511627776
		return v + 0
	}
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	/ requests in / { req = $1; secs = $4 + 0; rd = bytes($5) }
	/^  Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
	/^  Non-2xx/ { err += $NF }
	END {
		if (secs <= 0 || req == "") { print "balance.sh: wrk printed no result" > "/dev/stderr"; exit 1 }
		gb = rd / 1e9
		printf "%s_rps\t%d\t%.1f\treq/s\n", case, size, req / secs
		printf "%s_mbps\t%d\t%.1f\tMB/s\n", case, size, rd / secs / 1e6
		if (req > 0) {    # none complete: a 100 MB run too short for a latency
			printf "%s_p50_ms\t%d\t%.3f\tms\n", case, size, p50
			printf "%s_p99_ms\t%d\t%.3f\tms\n", case, size, p99
		}
		printf "%s_errors\t%d\t%d\tcount\n", case, size, err
		printf "%s_stalls\t%d\t%d\tcount\n", case, size, stalls
		printf "%s_softirq%d_s_per_gb\t%d\t%.4f\ts/GB\n", case, fc, size, sq0 / hz / gb
		printf "%s_softirq%d_s_per_gb\t%d\t%.4f\ts/GB\n", case, oc, size, sq1 / hz / gb
		printf "%s_bpf_s_per_gb\t%d\t%.5f\ts/GB\n", case, size, bpf / 1e9 / gb
		if (fe) {
			p = cpu / hz
			# the frontend: its process, and the BPF programs for tcpferry only
			# (HAProxy needs none: the ones attached for tcpferry are not its cost)
			f = p + (case == "tf" ? bpf / 1e9 : 0)
			printf "%s_proc_s_per_gb\t%d\t%.4f\ts/GB\n", case, size, p / gb
			printf "%s_fe_s_per_gb\t%d\t%.4f\ts/GB\n", case, size, f / gb
			if (req > 0)
				printf "%s_fe_us_per_req\t%d\t%.2f\tus\n", case, size, 1e6 * f / req
			printf "%s_fe_util\t%d\t%.3f\tCPU\n", case, size, f / wall
		}
	}' <<<"$out" || fail "cannot read wrk's output: $out"
}

printf 'wrk_connections\t0\t%d\tcount\nwrk_connections_big\t0\t%d\tcount\n' "$CONC" "$CONC_BIG"
for size in $SIZES; do
	for ((r = 1; r <= ROUNDS; r++)); do
		for case in tf hap direct; do
			load $case "$size"
			echo "[$(date +%H:%M:%S)] balance: $case $size bytes round $r done" >&2
			sleep 0.5
		done
	done
done

# Connection setup to first byte (1 KB responses), N clients at once.
for n in 100 1000; do
	for case in tf hap direct; do
		: >"$TMP/ttfb-$case-$n"
	done
	for ((w = 1; w <= WAVES; w++)); do
		for case in tf hap direct; do
			case $case in
			tf) hp="$VIP $TF_PORT" ;;
			hap) hp="$VIP $HAP_PORT" ;;
			direct) hp="$B1_ADDR $BE_PORT" ;;
			esac
			# shellcheck disable=SC2086
			in_ns "$NS_C" taskset -c "$OTHER_CPU" python3 "$BENCH_DIR/ttfb.py" $hp /f/1024 "$n" >>"$TMP/ttfb-$case-$n" ||
				fail "ttfb.py $case $n failed"
			sleep 1
		done
	done
	for case in tf hap direct; do
		awk -v c="$case" -v n="$n" '
			$1 == "ttfb_p50_ms" { printf "%s_ttfb_p50_ms\t%d\t%s\tms\n", c, n, $2 }
			$1 == "ttfb_p99_ms" { printf "%s_ttfb_p99_ms\t%d\t%s\tms\n", c, n, $2 }
			$1 == "errors" { printf "%s_ttfb_errors\t%d\t%s\tcount\n", c, n, $2 }' "$TMP/ttfb-$case-$n"
	done
done

kill -0 "$BAL" 2>/dev/null || fail "balance died during the run: $(tail -5 "$TMP/bal.err")"
kill -0 "$HAP" 2>/dev/null || fail "haproxy died during the run: $(tail -5 "$TMP/hap.log")"
kill -TERM "$BAL"
wait "$BAL" 2>/dev/null
echo "[$(date +%H:%M:%S)] balance: its counters: $(tr '\n' ';' <"$TMP/bal.out")" >&2
