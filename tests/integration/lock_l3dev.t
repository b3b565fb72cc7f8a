#!/usr/bin/env bash
# The lock on a device without a link-layer header, with traffic flowing: two
# namespaces joined by a tun "wire" (tf-tunwire: a tun device in each, packets
# copied between them, bare IP as on ipip, gre or wireguard).  NS_B streams to
# NS_A over IPv4 (the lock drops at tc ingress) and NS_A streams to NS_B over
# IPv6 (the lock drops at tc egress).  attach picks the L3 flavour at tc;
# while locked the counters rise and nothing arrives, the peer meets no RST,
# and after unlock both streams go on and arrive intact.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd socat nstat jq
[ -c /dev/net/tun ] || skip_all "no /dev/net/tun (tun devices)"

plan 17

NS_A=${RUN_ID}a
NS_B=${RUN_ID}b
make_ns "$NS_A"
make_ns "$NS_B"
DEV=tftun0
ADDR_A=198.18.1.1
ADDR_B=198.18.1.2
ADDR6_A=fd00:7467::1
ADDR6_B=fd00:7467::2
# The wire must outlive the test (at_exit ends it): under TCG the test takes
# minutes, and with the wire's default 120 s the streams never finished.
spawn "$NS_A" "$TMP/wire.out" "$HELPERS/tf-tunwire" "$NS_A" "$DEV" "$NS_B" "$DEV" --timeout 1000
wired() { grep -qs ready "$TMP/wire.out"; }
wait_for 5 wired || bail_out "tf-tunwire: $(cat "$TMP/wire.out")"
for side in "$NS_A $ADDR_A $ADDR_B $ADDR6_A $ADDR6_B" "$NS_B $ADDR_B $ADDR_A $ADDR6_B $ADDR6_A"; do
	read -r ns me peer me6 peer6 <<<"$side"
	ip -n "$ns" addr add "$me" peer "$peer" dev "$DEV"
	ip -n "$ns" addr add "$me6/64" dev "$DEV" nodad
	ip -n "$ns" link set "$DEV" up
done
make_bpffs
A() { in_ns "$NS_A" "$@"; }
TFA() { in_ns "$NS_A" "$TF" "$@"; }

# ---- attach ------------------------------------------------------------------------------

out=$(TFA attach "$DEV" 2>&1)
rc=$?
at_exit "ip netns exec $NS_A $TF detach $DEV"
note "$out"
is "$rc" 0 "attach $DEV"
tc_how=clsact	# before 6.6 there is no tcx: attach takes clsact filters
kernel_has tcx && tc_how=tcx
is "$(TFA -j status | jq -r --arg d "$DEV" '.devices[] | select(.device == $d) | "\(.l3) \([.hooks[] | "\(.hook)/\(.how)"] | join(","))"')" \
	"true tc-in/$tc_how,tc-out/$tc_how" "status: no link-layer header, the lock at tc ingress and egress ($tc_how)"
ok "status (text) says so" bash -c "ip netns exec $NS_A $TF status | grep -q '^$DEV (ifindex [0-9]*, no link-layer header)'"

# ---- two streams ------------------------------------------------------------------------------

. "$TF_ROOT/tests/helpers/streams.sh"
streams_expect

resets_a0=$(nstat_get "$NS_A" TcpEstabResets)
resets_b0=$(nstat_get "$NS_B" TcpEstabResets)
ok "both streams connect across the wire (IPv4 and IPv6)" streams_both

# ---- locked ------------------------------------------------------------------------------------

ok "lock the IPv4 stream ($L4 $P4)" quietly TFA lock add "$L4" "$P4"
ok "lock the IPv6 stream ($L6 $P6)" quietly TFA lock add "$L6" "$P6"
sleep 0.3
size4=$(stat -c %s "$TMP/recv4")
size6=$(stat -c %s "$TMP/recv6")
sleep 1.2
full=$(stat -c %s "$TMP/expect")
ok "the streams were running when locked ($size4, $size6 of $full bytes)" \
	test "$size4" -lt "$full" -a "$size6" -lt "$full" -a "$size4" -gt 0 -a "$size6" -gt 0
is "$(stat -c %s "$TMP/recv4")" "$size4" "locked: no IPv4 byte reaches the local receiver"
is "$(stat -c %s "$TMP/recv6")" "$size6" "locked: no IPv6 byte reaches the peer"
counter() { TFA -j lock list | jq -r --arg l "$1" '.locks[] | select(.local == $l) | .'"$2"; }
in4=$(counter "$L4" in_packets)
out6=$(counter "$L6" out_packets)
ok "IPv4: the peer's packets are dropped and counted at tc ingress ($in4)" test "${in4:-0}" -gt 0
ok "IPv6: our own packets are dropped and counted at tc egress ($out6)" test "${out6:-0}" -gt 0

# ---- unlocked ------------------------------------------------------------------------------------

note "unlocking ${SECONDS} s into the test"
ok "unlock both" bash -c "ip netns exec $NS_A $TF lock del $L4 $P4 >/dev/null && ip netns exec $NS_A $TF lock del $L6 $P6 >/dev/null"
grew() { [ "$(stat -c %s "$TMP/recv4")" -gt "$size4" ] && [ "$(stat -c %s "$TMP/recv6")" -gt "$size6" ]; }
ok "bytes flow again both ways" wait_for 5 grew
# Generous: under TCG (make test-vm) the tun relay and the senders' backoff
# after 1.5 s locked take minutes, not seconds.
wait_for 180 test -s "$TMP/tx4.rc"
wait_for 180 test -s "$TMP/tx6.rc"
wait_for 60 bash -c "! kill -0 $rx4 2>/dev/null"
wait_for 60 bash -c "! kill -0 $rx6 2>/dev/null"
note "the streams ended ${SECONDS} s into the test"
ok "IPv4 stream arrived intact" cmp -s "$TMP/expect" "$TMP/recv4"
ok "IPv6 stream arrived intact" cmp -s "$TMP/expect" "$TMP/recv6"
is "$(nstat_get "$NS_B" TcpEstabResets)" "$resets_b0" "no connection reset in the peer's namespace"
is "$(nstat_get "$NS_A" TcpEstabResets)" "$resets_a0" "no connection reset in the local namespace"

done_testing
