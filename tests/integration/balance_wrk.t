#!/usr/bin/env bash
# `tcpferry balance` under a load generator: wrk through the VIP, keep-alive
# off (each request a new connection, so each one a hand-off), for a few
# seconds with 32 connections at once, two loops (--threads 2), two backends
# in one pool (b1 l2, b2 l3; busybox httpd -i).  Every response is a 200 of
# the right length, both backends served, the balancer's count of hand-offs
# is wrk's count of requests (give or take those wrk cut at its end), nothing
# was refused or left in doubt, and neither the frontend nor a backend sent
# an RST.  (wrk's own close of its last connections may reset them: the
# client's counters are not checked.)  Throughput is the bench's business
# (tools/bench/balance.sh), not this test's.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/handofflab.sh"
need_root
need_built
need_cmd wrk jq nstat busybox

B1_ADDR=198.18.20.11
B2_ADDR=198.18.20.12
PORT=7310
SECS=4

plan 7

hol_make2
mkdir -p "$TMP/root"
head -c 4096 /dev/urandom >"$TMP/root/f"
in_ns "$NS_C" sysctl -qw net.ipv4.ip_local_port_range="10000 60999" net.ipv4.tcp_tw_reuse=1
cat >"$TMP/balance.conf" <<EOF
backend b1 addr $B1_ADDR mode l2 via ip netns exec $NS_B1 $TF receive --serve --each -- busybox httpd -i -h $TMP/root
backend b2 addr $B2_ADDR mode l3 via ip netns exec $NS_B2 $TF receive --serve --each -- busybox httpd -i -h $TMP/root
pool both roundrobin b1 b2
default pool both
EOF
ok "balance --threads 2 says ready" hol_balance bal --threads 2 --config "$TMP/balance.conf" --listen "$VIP:$PORT"

in_ns "$NS_C" wrk -t2 -c32 -d${SECS}s --latency -H 'Connection: close' "http://$VIP:$PORT/f" >"$TMP/wrk.out" 2>&1
note "$(grep -E 'requests in|Requests/sec|Latency|50%|99%|Socket errors|Non-2xx' "$TMP/wrk.out" | tr -s ' ')"
reqs=$(awk '/requests in/ {print $1}' "$TMP/wrk.out")
ok "wrk through the VIP: $SECS s of requests, a new connection each" test "${reqs:-0}" -gt 50
ok "  every response a 200 (no Non-2xx line), no connect, read or timeout error" \
	sh -c "! grep -q 'Non-2xx' $TMP/wrk.out && ! grep -Eq 'Socket errors: connect [1-9]|read [1-9]|timeout [1-9]' $TMP/wrk.out"

"$TF" balance status -j --status-socket "$TMP/bal.sock" >"$TMP/status.json"
handed=$(jq '.listener.handed_off' "$TMP/status.json")
ok "  the balancer handed off as many ($handed; wrk counted $reqs, and cut at most its 32 open ones)" \
	test "$handed" -ge "$reqs" -a "$handed" -le $((reqs + 32))
is "$(jq -c '[(.backends[] | .handed_off > 0), ([.backends[] | .refused + .in_doubt] | add), .listener.no_backend]' "$TMP/status.json")" \
	'[true,true,0,0]' "  both backends served; none refused, none in doubt, no 503"
is "$(jq -c '[.loops[] | (.handed_off > 0)]' "$TMP/status.json")" '[true,true]' "  from both loops"
is "$(nstat_get "$NS_F" TcpOutRsts) $(nstat_get "$NS_B1" TcpOutRsts) $(nstat_get "$NS_B2" TcpOutRsts)" "0 0 0" \
	"neither the frontend nor a backend sent an RST"
done_testing
