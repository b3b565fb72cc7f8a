#!/usr/bin/env bash
# A connection to a VIP handed from the frontend to a backend by hand, and
# then steered there: the steer's data path in a real network.
#
# The lab (tests/helpers/handofflab.sh): a client C, the frontend F with the
# VIP, one backend B with the VIP on lo, one bridge.
#
# Each case: the client connects to VIP:PORT (tf-stream app on F) and sends
# 64 KiB, which F's socket acks and keeps unread; F dumps the socket (--kill:
# the app is gone), B restores it from the image into tf-stream app-continue,
# F adds the steer and deletes the lock the dump left (the flip); then the
# client sends 4 MiB more, all of which cross F's ingress program to B, and B
# writes 4 MiB straight to the client.  Both ends check every byte by its
# offset.  No RST at the client (TcpEstabResets) or from F, the steer counted
# the packets, F sent far less than B's answer (the answer did not cross it),
# and `bpftool map dump` prints the entry by field.  Then the client's FIN
# starts the entry's linger, and after it the entry is gone by gc.  All four
# (l2, l3; IPv4, IPv6) at tc ingress; XDP: see below.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/handofflab.sh"
need_root
need_built
need_cmd ss nstat jq bpftool setpriv

FIRST=$((64 * 1024))
PEER_TOTAL=$((4 * 1024 * 1024 + FIRST))
APP_TOTAL=$((4 * 1024 * 1024))
B_ADDR=198.18.20.2
B_ADDR6=fd00:7466:20::2

plan 58

hol_make
NS_B=${RUN_ID}b
hol_backend "$NS_B" $B_ADDR $B_ADDR6
note "backend decapsulates l3 with $DECAP"

make_bpffs
tff() { in_ns "$NS_F" "$TF" --bpffs "$BPFFS/f" "$@"; }
tfb() { in_ns "$NS_B" "$TF" --bpffs "$BPFFS/b" "$@"; }
ok "the frontend's programs attach (tc)" quietly tff attach eth0 --tc
ok "the backend's attach (restore locks there)" quietly tfb attach eth0 --tc

tx_bytes() { in_ns "$1" cat /sys/class/net/eth0/statistics/tx_bytes; }
steer_json() { tff -j steer list | jq -c --arg p "$1" '.steers[] | select(.peer == $p)'; }

restored() {
	[ -n "$(in_ns "$NS_B" ss -tnH state established "( sport = :$1 )")" ] &&
		[ "$(tfb -j lock list | jq '.locks | length')" = 0 ]
}

# run_case MODE FAMILY PORT
run_case() {
	local mode=$1 fam=$2 port=$3 label="$HOOK $1 IPv$2"
	local vip=$VIP c_addr=$C_ADDR b_addr=$B_ADDR dir=$TMP/img-$port state=$TMP/state-$port
	local app peer rest ss_line local_ep peer_ep f_tx0 b_tx0 f_rst0 e
	if [ "$fam" = 6 ]; then
		vip=$VIP6 c_addr=$C_ADDR6 b_addr=$B_ADDR6
	fi

	spawn "$NS_F" "$TMP/app-$port.out" "$HELPERS/tf-stream" app "$vip" "$port" --state "$state"
	app=$SPAWNED
	wait_for 5 sh -c "ip netns exec $NS_F ss -tlnH '( sport = :$port )' | grep -q ."
	spawn "$NS_C" "$TMP/peer-$port.out" "$HELPERS/tf-stream" peer "$vip" "$port" \
		--first $FIRST --peer-total $PEER_TOTAL --app-total $APP_TOTAL
	peer=$SPAWNED
	wait_for 20 grep -qs ready "$TMP/peer-$port.out" || diag "$label: client not ready: $(cat "$TMP/peer-$port.out")"
	ss_line=$(in_ns "$NS_F" ss -tnH state established "( sport = :$port )")
	local_ep=$(awk '{print $3}' <<<"$ss_line")
	peer_ep=$(awk '{print $4}' <<<"$ss_line")
	echo 0 >"$state"	# the app wrote nothing before the hand-off
	f_tx0=$(tx_bytes "$NS_F")
	b_tx0=$(tx_bytes "$NS_B")

	ok "$label: dump at the frontend ($local_ep $peer_ep)" quietly tff dump --pid "$app" --out "$dir" --kill
	wait "$app" 2>/dev/null
	ok "$label: the image directory is 0700, the image 0600" \
		test "$(stat -c %a "$dir")" = 700 -a "$(stat -c %a "$dir/conn-0001.tfc")" = 600
	spawn "$NS_B" "$TMP/rest-$port.out" "$TF" --bpffs "$BPFFS/b" restore --in "$dir" -- \
		"$HELPERS/tf-stream" app-continue --state "$state" --peer-total $PEER_TOTAL --app-total $APP_TOTAL
	rest=$SPAWNED
	# Restored: the socket is there and out of repair (the restore's lock on B is gone).
	wait_for 20 restored "$port" || diag "$label: no restored socket on B: $(cat "$TMP/rest-$port.out")"
	ok "$label: steer add --mode $mode to $b_addr" quietly tff steer add "$local_ep" "$peer_ep" --to "$b_addr" \
		--mode "$mode"
	ok "$label: the dump's lock deleted: the flip" quietly tff lock del "$local_ep" "$peer_ep"

	f_rst0=$(nstat_get "$NS_F" TcpOutRsts)
	kill -USR1 "$peer"
	ok "$label: the client got the backend's 4 MiB and sent its own, every byte right" wait "$peer"
	ok "$label: the backend's restored socket got every byte the client sent" wait "$rest"
	note "$label: client: $(tail -1 "$TMP/peer-$port.out"); backend: $(tail -1 "$TMP/rest-$port.out")"
	e=$(steer_json "$peer_ep")
	note "$label: steer: $e"
	ok "$label: the steer counted the client's packets (more than 4 MiB of them)" \
		test "$(jq .packets <<<"$e")" -gt 100 -a "$(jq .bytes <<<"$e")" -gt $((PEER_TOTAL - FIRST))
	local f_tx=$(($(tx_bytes "$NS_F") - f_tx0)) b_tx=$(($(tx_bytes "$NS_B") - b_tx0))
	note "$label: sent on the wire meanwhile: frontend $f_tx bytes, backend $b_tx bytes"
	# F sent on what it steered (plus the outer headers), never the 4 MiB answer.
	ok "$label: the answer came from the backend, not through the frontend" \
		test "$b_tx" -ge "$APP_TOTAL" -a "$f_tx" -lt $(($(jq .bytes <<<"$e") + APP_TOTAL / 4))
	is "$(($(nstat_get "$NS_F" TcpOutRsts) - f_rst0))" 0 "$label: the frontend sent no RST"
	is "$(nstat_get "$NS_C" TcpEstabResets)" 0 "$label: no connection of the client was reset"
	# The client closed (FIN) after the stream: the entry lingers, then gc removes it.
	ok "$label: the client's FIN started the entry's linger" test "$(jq .fin_seen <<<"$e")" = true
}

# The FIN linger short, so that gc can be shown at the end of each case.
quietly tff steer config --fin-linger 1 || diag "steer config failed"
HOOK=tc	# the frontend's ingress flavour, in the case labels
run_case l2 4 7001
run_case l3 4 7002
ok "bpftool map dump prints the steer entries by field" \
	sh -c "bpftool map dump pinned '$BPFFS/f/steers' | grep -q next_hop_mac"
is "$(tff -j status | jq -c '.steer_table | [.steers, .max_steers]')" "[2,65536]" \
	"status shows the steer table's fill (2 of 65536)"
ok "  and says so in words" sh -c "ip netns exec $NS_F $TF --bpffs $BPFFS/f status | grep -q '2 of 65536 steers'"
sleep 1.2
ok "after the linger gc removes both entries" sh -c "[ \"\$(ip netns exec $NS_F $TF --bpffs $BPFFS/f -j steer gc | jq .removed)\" = 2 ]"
run_case l2 6 7003
run_case l3 6 7004
sleep 1.2
ok "and the IPv6 ones" sh -c "[ \"\$(ip netns exec $NS_F $TF --bpffs $BPFFS/f -j steer gc | jq .removed)\" = 2 ]"
is "$(tff -j steer list | jq '.steers | length')" 0 "the steer table is empty"

# The same through XDP is not run here: with native XDP on the frontend's
# veth, XDP_TX'd frames (xdp_tx counted, no xdp_tx_errors) never reached the
# bridge's port (GRO on there for its NAPI; TSO, GSO, checksum offload off at
# the client) in this lab, while a lone SYN did.  Not understood yet; XDP's
# data path is checked byte by byte by tests/bpf/steer_test_run.t.
skip "XDP_TX to a veth peer on a bridge loses the frames in this lab (see the comment)" \
	"the hand-off through the XDP flavour"
is "$(nstat_get "$NS_C" TcpExtPAWSEstab)" 0 "the client dropped nothing for PAWS"
ok "a full steer table is refused, naming its size and --max-steers" \
	expect_error 1 "steer table full \(1 entries\).*--max-steers" sh -c "
		ip netns exec $NS_F $TF --bpffs $BPFFS/tiny steer add $VIP:80 $C_ADDR:1 --to $B_ADDR --mode l2 --max-steers 1 >/dev/null &&
		ip netns exec $NS_F $TF --bpffs $BPFFS/tiny steer add $VIP:80 $C_ADDR:2 --to $B_ADDR --mode l2"
ok "a backend off the segment in l2 mode is refused, naming the way out" \
	expect_error 1 "backend 192.0.2.7: route to 192.0.2.7: .*add a route to it" \
	tff steer add "$VIP:80" "$C_ADDR:3" --to 192.0.2.7 --mode l2
ok "steer without root's CAP_BPF says which capability" \
	expect_error 1 "steer needs CAP_BPF" setpriv --inh-caps=-all --bounding-set=-all --reuid=65534 "$TF" steer list
ok "steer del of a tuple not steered says so" \
	expect_error 1 "steer del $VIP:80 -> $C_ADDR:9: not steered" tff steer del "$VIP:80" "$C_ADDR:9"
done_testing
