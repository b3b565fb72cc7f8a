#!/usr/bin/env bash
# 10,000 short connections handed off and closed, and the steer table ends
# empty: half close at the server first (HTTP/1.0 from tools/tf-fileserver
# over SCM_RIGHTS), half at the client first (an echo: `busybox cat`, one a
# connection, which ends when the client's FIN reaches it).  The frontend
# (tests/helpers/tf-frontend --batch) hands each wave of 500 off pipelined;
# the backends report each connection's end, its steer lingers (1 s here)
# and the frontend's gc removes it.  Every exchange byte-exact
# (tests/helpers/hoclient.py), no reset, no RST from the frontend, no lock
# left.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/handofflab.sh"
need_root
need_built
need_cmd busybox jq python3

TOTAL=${HANDOFF_GC_TOTAL:-10000}
WAVE=${HANDOFF_GC_WAVE:-500}
HALF=$((TOTAL / 2))
B1_ADDR=198.18.20.11
B1_ADDR6=fd00:7466:20::11
B2_ADDR=198.18.20.12
B2_ADDR6=fd00:7466:20::12

plan 12

hol_make2
tff() { in_ns "$NS_F" "$TF" --bpffs "$BPFFS/f" "$@"; }
ok "the frontend's programs attach (tc)" quietly tff attach eth0 --tc
ok "the steer table's FIN linger set to 1 s" quietly tff steer config --fin-linger 1
mkdir -p "$TMP/root"
head -c 3000 /dev/urandom >"$TMP/root/b2small"
in_ns "$NS_C" sysctl -qw net.ipv4.ip_local_port_range="10000 60999"
ulimit -n "$(ulimit -Hn)" 2>/dev/null

spawn "$NS_B2" "$TMP/fileserver.log" "$BUILD/tools/tf-fileserver" --listen "$TMP/srv.sock" --root "$TMP/root"
wait_for 10 test -S "$TMP/srv.sock" || bail_out "tf-fileserver did not listen"
VIA1="ip netns exec $NS_B1 $TF receive --serve --each -- busybox cat"
VIA2="ip netns exec $NS_B2 $TF receive --serve --send-to $TMP/srv.sock"

# round LABEL PORT MODE ARGS...: HALF connections through the frontend
round() {
	local label=$1 port=$2 fe t0
	shift 2
	# A deadline far past the queue of a wave: this is about the ends, not the latency (under
	# ASan a wave of 500 echo servers started one a connection takes seconds).
	spawn "$NS_F" "$TMP/fe-$port.out" "$HELPERS/tf-frontend" "$VIP" "$port" $HALF --batch $WAVE \
		--timeout-ms 30000 --bpffs "$BPFFS/f" --backend "$B1_ADDR|$B1_ADDR6|l2|$VIA1" --backend "$B2_ADDR|$B2_ADDR6|l2|$VIA2"
	fe=$SPAWNED
	wait_for 20 grep -qs ready "$TMP/fe-$port.out" || bail_out "$label: the frontend is not ready: $(cat "$TMP/fe-$port.out")"
	t0=$(date +%s.%N)
	in_ns "$NS_C" timeout 300 python3 "$TF_ROOT/tests/helpers/hoclient.py" "$VIP" "$port" $HALF $WAVE "$@" >"$TMP/client-$port.out" 2>&1
	ok "$label: $HALF connections, every exchange byte-exact" test $? = 0
	note "$(head -3 "$TMP/client-$port.out")"
	if [ -n "${HANDOFF_GC_DEBUG:-}" ]; then
		local lp
		lp=$(grep -o 'local port [0-9]*' "$TMP/client-$port.out" | head -1 | awk '{print $3}')
		if [ -n "$lp" ]; then
			note "client: $(in_ns "$NS_C" ss -tanoi "( sport = :$lp )")"
			note "b2: $(in_ns "$NS_B2" ss -tanoi "( dport = :$lp )")"
			note "f steer: $(tff -j steer list | jq -c --arg p "$C_ADDR:$lp" '.steers[] | select(.peer == $p)')"
			note "f: $(in_ns "$NS_F" ss -tanoi "( dport = :$lp )")"
		fi
	fi
	wait_for 30 sh -c "! kill -0 $fe 2>/dev/null" || { diag "$label: the frontend did not end: $(tail -5 "$TMP/fe-$port.out")"; kill "$fe"; }
	note "$label: $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)") s; frontend: $(grep -c '^handoff ok' "$TMP/fe-$port.out") handed off, $(grep '^latency\|^ended' "$TMP/fe-$port.out" | tr '\n' ' ')"
	is "$(grep -c '^handoff ok' "$TMP/fe-$port.out")" $HALF "$label: every one was handed off"
	grep -q '^handoff failed' "$TMP/fe-$port.out" && diag "$label: $(grep '^handoff failed' "$TMP/fe-$port.out" | head -3)"
	note "$label: the client's counters: $(in_ns "$NS_C" nstat -asz | awk '$2 > 0 && /Reset|PAWS|Retrans|RTO|Abort|Drop/ { printf "%s %s ", $1, $2 }')"
	ok "$label: the backends reported every end" grep -q "^ended $HALF\$" "$TMP/fe-$port.out"
}

round "server closes first (tf-fileserver)" 7401 http /b2small 3000
round "client closes first (echo)" 7402 echo
sleep 1.5	# the linger
quietly tff steer gc
is "$(tff -j steer list | jq '.steers | length')" 0 "the steer table is empty after the linger and gc"
is "$(tff -j lock list | jq '.locks | length')" 0 "no lock left"
is "$(nstat_get "$NS_C" TcpEstabResets)" 0 "no connection of the client was reset"
is "$(nstat_get "$NS_F" TcpOutRsts)" 0 "the frontend sent no RST"
done_testing
