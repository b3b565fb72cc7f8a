#!/usr/bin/env bash
# Connections handed from a frontend to two backends for good, through the
# library call (tf_handoff) and the backends' `tcpferry receive --serve`
# (tests/helpers/handofflab.sh draws the lab: a client, the frontend with the
# VIP, two backends with the VIP on lo, one bridge).
#
# The frontend (tests/helpers/tf-frontend, a few lines around tf_handoff)
# accepts on VIP:PORT, reads each first HTTP request and hands the connection
# with those bytes put back in front to backend 1 (busybox httpd -i, one a
# connection: receive --serve --each) or backend 2 (tools/tf-fileserver over
# SCM_RIGHTS: receive --serve --send-to), each on one channel kept open.
# The client (curl) gets its answer from the backend directly: 1 KB and
# 100 MB, byte-exact (sha256), l2 and l3, IPv4 and IPv6.  Nothing is reset,
# nothing dropped for PAWS; the answer's bytes leave the backends, not the
# frontend; the client's packets cross the frontend's steer (its counters
# grow while a slow download runs); and once the connections end, the
# backends' reports leave the steer table empty, and no lock is left.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/handofflab.sh"
need_root
need_built
need_cmd curl sha256sum busybox jq

B1_ADDR=198.18.20.11
B2_ADDR=198.18.20.12
B1_ADDR6=fd00:7466:20::11
B2_ADDR6=fd00:7466:20::12

plan 67

hol_make
NS_B1=${RUN_ID}b1
NS_B2=${RUN_ID}b2
hol_backend "$NS_B1" $B1_ADDR $B1_ADDR6
hol_backend "$NS_B2" $B2_ADDR $B2_ADDR6
note "backends decapsulate l3 with $DECAP"
make_bpffs
tff() { in_ns "$NS_F" "$TF" --bpffs "$BPFFS/f" "$@"; }

mkdir -p "$TMP/root"
head -c 1024 /dev/urandom >"$TMP/root/b1small"
head -c $((100 * 1024 * 1024)) /dev/urandom >"$TMP/root/b1big"
cp "$TMP/root/b1small" "$TMP/root/b2small"
ln "$TMP/root/b1big" "$TMP/root/b2big"
SUM_BIG=$(sha256sum <"$TMP/root/b1big" | cut -d' ' -f1)
SUM_SMALL=$(sha256sum <"$TMP/root/b1small" | cut -d' ' -f1)

spawn "$NS_B2" "$TMP/fileserver.log" "$BUILD/tools/tf-fileserver" --listen "$TMP/srv.sock" --root "$TMP/root"
wait_for 10 test -S "$TMP/srv.sock" || bail_out "tf-fileserver did not listen: $(cat "$TMP/fileserver.log")"
VIA1="ip netns exec $NS_B1 $TF receive --serve --output $TMP/httpd.log --each -- busybox httpd -i -h $TMP/root"
VIA2="ip netns exec $NS_B2 $TF receive --serve --send-to $TMP/srv.sock"

tx_bytes() { in_ns "$1" cat /sys/class/net/eth0/statistics/tx_bytes; }
steers() { tff -j steer list | jq '.steers | length'; }
steer_packets() { tff -j steer list | jq '[.steers[].packets] | add // 0'; }

# run_case MODE FAMILY PORT
run_case() {
	local mode=$1 fam=$2 port=$3 label="$1 IPv$2" vip=$VIP url f fe b_tx0 f_tx0 b_tx f_tx p1 p2
	[ "$fam" = 6 ] && vip=$VIP6
	url="http://$vip:$port"
	[ "$fam" = 6 ] && url="http://[$vip]:$port"

	spawn "$NS_F" "$TMP/fe-$port.out" "$HELPERS/tf-frontend" "$vip" "$port" 5 --bpffs "$BPFFS/f" \
		--backend "$B1_ADDR|$B1_ADDR6|$mode|$VIA1" --backend "$B2_ADDR|$B2_ADDR6|$mode|$VIA2"
	fe=$SPAWNED
	wait_for 20 grep -qs ready "$TMP/fe-$port.out" || diag "$label: the frontend is not ready: $(cat "$TMP/fe-$port.out")"
	b_tx0=$(($(tx_bytes "$NS_B1") + $(tx_bytes "$NS_B2")))
	f_tx0=$(tx_bytes "$NS_F")
	for f in b1small b1big b2small b2big; do
		rm -f "$TMP/got-$f"
		ok "$label: curl $f through the VIP" in_ns "$NS_C" curl -sS --http1.0 --max-time 120 \
			-o "$TMP/got-$f" "$url/$f"
	done
	is "$(sha256sum <"$TMP/got-b1big" | cut -d' ' -f1)" "$SUM_BIG" "$label: 100 MB from backend 1 (httpd -i) byte-exact"
	is "$(sha256sum <"$TMP/got-b2big" | cut -d' ' -f1)" "$SUM_BIG" "$label: 100 MB from backend 2 (tf-fileserver) byte-exact"
	ok "$label: 1 KB from each byte-exact" sh -c "cmp -s $TMP/got-b1small $TMP/root/b1small && cmp -s $TMP/got-b2small $TMP/root/b1small"
	b_tx=$(($(tx_bytes "$NS_B1") + $(tx_bytes "$NS_B2") - b_tx0))
	f_tx=$(($(tx_bytes "$NS_F") - f_tx0))
	note "$label: on the wire meanwhile: backends sent $b_tx bytes, the frontend $f_tx"
	ok "$label: the answers left the backends, not the frontend" \
		test "$b_tx" -ge $((200 * 1024 * 1024)) -a "$f_tx" -lt $((b_tx / 10))
	# A slow download: the client's ACKs cross the frontend's steer meanwhile.
	spawn "$NS_C" "$TMP/slow-$port.err" curl -sS --http1.0 --max-time 60 --limit-rate 20M \
		-o "$TMP/got-slow" "$url/b2big"
	wait_for 10 sh -c "[ \"\$(ip netns exec $NS_F $TF --bpffs $BPFFS/f -j steer list | jq '.steers | length')\" -ge 1 ]"
	p1=$(steer_packets)
	sleep 1
	p2=$(steer_packets)
	ok "$label: the client's packets cross the frontend's steer ($p1, then $p2 a second later)" test "$p2" -gt "$p1"
	ok "$label: the slow download completes" wait "$SPAWNED"
	is "$(sha256sum <"$TMP/got-slow" | cut -d' ' -f1)" "$SUM_BIG" "$label: and is byte-exact"
	ok "$label: the frontend handed off all five, none failed" \
		test "$(grep -c '^handoff ok' "$TMP/fe-$port.out")" = 5
	wait "$fe"
	note "$label: $(grep '^handoff ok' "$TMP/fe-$port.out" | awk '{ s = s " " $(NF-1) } END { print "hand-off ms:" s }')"
	ok "$label: the backends reported each end (the frontend counted them: it exited)" \
		grep -q "^ended 5" "$TMP/fe-$port.out"
	note "$label: frontend: $(grep -v '^handoff ok' "$TMP/fe-$port.out" | tr '\n' ' ')"
	sleep 1.2	# the linger (steer config --fin-linger 1 below)
	quietly tff steer gc
	is "$(steers)" 0 "$label: after the linger, gc leaves the steer table empty"
	is "$(tff -j lock list | jq '.locks | length')" 0 "$label: no lock left"
}

# The frontend's programs at tc ingress (it would attach them itself on the
# first hand-off), so that the table is there to be set: a FIN linger of 1 s.
ok "the frontend's programs attach (tc)" quietly tff attach eth0 --tc
ok "the steer table's FIN linger set to 1 s" quietly tff steer config --fin-linger 1
run_case l2 4 7101
run_case l3 4 7102
run_case l2 6 7103
run_case l3 6 7104
ok "busybox httpd -i answered on backend 1 (it logs nothing: its requests were served)" test -s "$TMP/got-b1small"
ok "tf-fileserver served its requests on backend 2" grep -q "GET /b2big 200 104857600" "$TMP/fileserver.log"
is "$(nstat_get "$NS_C" TcpEstabResets)" 0 "no connection of the client was reset"
is "$(nstat_get "$NS_C" TcpExtPAWSEstab)" 0 "the client dropped nothing for PAWS"
is "$(nstat_get "$NS_F" TcpOutRsts)" 0 "the frontend sent no RST"
done_testing
