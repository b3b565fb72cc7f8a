#!/usr/bin/env bash
# `tcpferry balance` routing what it does not terminate: TLS by the SNI of
# the ClientHello (read, not consumed: the backend terminates TLS, as
# HAProxy's req.ssl_sni in TCP mode), and another protocol by its first bytes.
# The hand-off lab (tests/helpers/handofflab.sh), two backends:
#
#   b1   tls-inetd.py (receive --serve --each): HTTPS, the test's certificate; l2
#   b2   the same server, other files; l3 (IPIP)
#   hi   on b2 too: a line protocol ("SAY hello" -> "b2 heard: SAY hello"); l3
#
#   match sni one.tls.test     pool one     b1
#   match sni *.two.test       pool two     b2
#   match prefix SAY           pool hi      hi
#   default status 503
#
# curl --resolve with the test's CA gets each backend's file byte-exact, the
# response headers naming the backend and the SNI it saw; a ClientHello for
# an unknown name, or one without SNI, is closed (no rule, and it is not
# HTTP: no status to answer with); the line protocol is answered by b2.  The
# balancer attaches the lock programs itself (nothing did before it), under
# the capabilities it kept (--caps net_admin,bpf,sys_admin, given here).
# No client connection is reset, and the counters say what came in.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/handofflab.sh"
need_root
need_built
need_cmd curl openssl python3 jq nstat

B1_ADDR=198.18.20.11
B2_ADDR=198.18.20.12
B1_ADDR6=fd00:7466:20::11
B2_ADDR6=fd00:7466:20::12
PORT=7443

plan 22

hol_make2
tff() { in_ns "$NS_F" "$TF" --bpffs "$BPFFS/f" "$@"; }

# A CA and a certificate for every name the test asks for (made here, for a day).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "/CN=tcpferry test CA" \
	-keyout "$TMP/ca.key" -out "$TMP/ca.pem" 2>/dev/null &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=one.tls.test" \
		-keyout "$TMP/srv.key" -out "$TMP/srv.csr" 2>/dev/null &&
	printf 'subjectAltName=DNS:one.tls.test,DNS:a.two.test,DNS:unknown.test\n' >"$TMP/san.ext" &&
	openssl x509 -req -in "$TMP/srv.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial -days 1 \
		-extfile "$TMP/san.ext" -out "$TMP/srv.pem" 2>/dev/null ||
	bail_out "openssl could not make the test's certificates"

mkdir -p "$TMP/root1" "$TMP/root2"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$TMP/root1/file"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$TMP/root2/file"
printf 'read l; echo "b2 heard: $l"\n' >"$TMP/hi.sh"
TLSD="python3 $TF_ROOT/tests/helpers/tls-inetd.py"
cat >"$TMP/balance.conf" <<EOF
backend b1 addr $B1_ADDR addr6 $B1_ADDR6 mode l2 via ip netns exec $NS_B1 $TF receive --serve --output $TMP/b1.log --each -- $TLSD b1 $TMP/srv.pem $TMP/srv.key $TMP/root1
backend b2 addr $B2_ADDR addr6 $B2_ADDR6 mode l3 via ip netns exec $NS_B2 $TF receive --serve --output $TMP/b2.log --each -- $TLSD b2 $TMP/srv.pem $TMP/srv.key $TMP/root2
backend hi addr $B2_ADDR mode l3 via ip netns exec $NS_B2 $TF receive --serve --output $TMP/hi.log --each -- sh $TMP/hi.sh
pool one roundrobin b1
pool two roundrobin b2
pool hi roundrobin hi
match sni one.tls.test pool one
match sni *.two.test pool two
match prefix SAY pool hi
default status 503
EOF

# The lock programs on the frontend's eth0, by tcpferry's account (bpftool 7.1 does not list tcx).
progs_on_eth0() { tff -j status 2>/dev/null | jq '[.devices[]? | select(.device == "eth0") | .hooks[] | select(.alive)] | length' | grep . || echo 0; }
is "$(progs_on_eth0)" 0 "no program is attached on the frontend's eth0 before the balancer runs"

ok "balance says ready" hol_balance bal --threads 1 --config "$TMP/balance.conf" --caps net_admin,bpf,sys_admin \
	--listen "$VIP:$PORT" --listen "[$VIP6]:$PORT" --request-timeout-ms 2000
BAL=$BAL_PID
ok "  and keeps the capabilities it was told to" \
	grep -q "balance: keeps net_admin,sys_admin,bpf of its capabilities (the rest dropped; no_new_privs)" "$TMP/bal.err"

https() {	# NAME ADDR OUT [curl options]: the headers to OUT.hdr
	local name=$1 addr=$2 out=$3
	shift 3
	in_ns "$NS_C" curl -sS --max-time 30 --cacert "$TMP/ca.pem" --resolve "$name:$PORT:$addr" \
		-D "$out.hdr" -o "$out" "$@" "https://$name:$PORT/file"
}
hdr() { tr -d '\r' <"$1.hdr" | sed -n "s/^$2: //Ip"; }

ok "SNI one.tls.test: curl gets b1's file over TLS" https one.tls.test $VIP "$TMP/got1"
ok "  byte-exact" cmp -s "$TMP/got1" "$TMP/root1/file"
is "$(hdr "$TMP/got1" X-Backend) $(hdr "$TMP/got1" X-SNI)" "b1 one.tls.test" "  served by b1, which saw the SNI one.tls.test"
ok "  the balancer attached the lock programs itself, under its kept capabilities" \
	test "$(progs_on_eth0)" -gt 0
ok "SNI a.two.test (*.two.test): b2's file" https a.two.test $VIP "$TMP/got2"
ok "  byte-exact" cmp -s "$TMP/got2" "$TMP/root2/file"
is "$(hdr "$TMP/got2" X-Backend) $(hdr "$TMP/got2" X-SNI)" "b2 a.two.test" "  served by b2 (l3), SNI a.two.test"
ok "over IPv6, SNI one.tls.test: b1's file, byte-exact" \
	sh -c "$(declare -f https in_ns); NS_C=$NS_C TMP=$TMP PORT=$PORT; https one.tls.test $VIP6 $TMP/got6 && cmp -s $TMP/got6 $TMP/root1/file"
is "$(hdr "$TMP/got6" X-Backend)" b1 "  served by b1"

https unknown.test $VIP "$TMP/got-unknown" 2>"$TMP/unknown.err"
is "$?" 35 "SNI unknown.test (no rule, not HTTP): closed before the handshake (curl: 35, a TLS connect error)"
ok "  and no backend got it" sh -c "! grep -q unknown.test $TMP/b1.log $TMP/b2.log"
in_ns "$NS_C" timeout 10 openssl s_client -connect "$VIP:$PORT" -noservername -CAfile "$TMP/ca.pem" \
	</dev/null >"$TMP/nosni.out" 2>&1
ok "a ClientHello without SNI: closed, no handshake" grep -q "no peer certificate available" "$TMP/nosni.out"

is "$(in_ns "$NS_C" timeout 10 bash -c "exec 3<>/dev/tcp/$VIP/$PORT; printf 'SAY hello\n' >&3; cat <&3")" \
	"b2 heard: SAY hello" "first bytes SAY: the line protocol's backend on b2 answers"
is "$(in_ns "$NS_C" timeout 10 bash -c "exec 3<>/dev/tcp/$VIP/$PORT; printf 'SA' >&3; sleep 0.3; printf 'Y again\n' >&3; cat <&3")" \
	"b2 heard: SAY again" "  and when SAY comes in two segments (SA, then Y): the balancer waits for the rule's whole prefix"

"$TF" balance status -j --status-socket "$TMP/bal.sock" >"$TMP/status.json"
is "$(jq -c '[.rules[].matches]' "$TMP/status.json")" '[2,1,2]' "status: the rules matched 2, 1 and 2 times"
is "$(jq -c '[.listener.handed_off, .listener.tls, .listener.other]' "$TMP/status.json")" '[5,5,2]' \
	"  5 handed off; 5 ClientHellos and two of another protocol read"

kill -TERM "$BAL"
wait "$BAL"
is "$?" 0 "SIGTERM: balance exits 0"
is "$(nstat_get "$NS_C" TcpEstabResets) $(nstat_get "$NS_C" TcpOutRsts)" "0 0" "no connection of the client was reset, nor did it reset one"
is "$(tff -j lock list | jq ".locks | length")" 0 "no lock left on the frontend"
done_testing
