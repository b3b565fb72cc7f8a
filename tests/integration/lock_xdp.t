#!/usr/bin/env bash
# The lock at XDP, with traffic flowing: NS_B streams to NS_A over a veth pair
# whose NS_A end has the lock at XDP (veth has native XDP).  While locked, the
# peer's packets are dropped and counted and nothing arrives; the peer meets no
# RST; after unlock the stream goes on and arrives intact.  What attach says
# about the XDP mode is what the kernel has (ip link: xdp or xdpgeneric).
# Then a device without native XDP (a bridge): attach --xdp falls back to
# generic XDP and says so, and status shows it.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd socat nstat jq

plan 20

make_pair
make_bpffs
A() { in_ns "$NS_A" "$@"; }
TFA() { in_ns "$NS_A" "$TF" "$@"; }

# ip link's word for the XDP mode on a device: xdp (native), xdpgeneric, or none.
link_xdp_mode() { ip -n "$1" -o link show "$2" | grep -oE ' (xdp|xdpgeneric|xdpoffload|xdpmulti) ' | tr -d ' '; }

# ---- attach --xdp on veth ----------------------------------------------------------

out=$(TFA attach --xdp "$DEV_A" 2>&1)
rc=$?
at_exit "ip netns exec $NS_A $TF detach $DEV_A"
note "$out"
is "$rc" 0 "attach --xdp $DEV_A"
said=$(grep -oE 'xdp-(native|generic)' <<<"$out" | head -1)
case $said in
xdp-native) want=xdp ;;
xdp-generic) want=xdpgeneric ;;
*) want="(attach named no XDP mode)" ;;
esac
is "$(link_xdp_mode "$NS_A" "$DEV_A")" "$want" "attach said $said: ip link shows the same mode"
is "$said" xdp-native "veth has native XDP: attach used it"
is "$(TFA -j status | jq -r --arg d "$DEV_A" '.devices[] | select(.device == $d) | .hooks[] | select(.hook == "xdp") | .how')" \
	"$said" "status shows the same mode"

# ---- a stream from the peer ---------------------------------------------------------------

. "$TF_ROOT/tests/helpers/streams.sh"
streams_expect

resets_b0=$(nstat_get "$NS_B" TcpEstabResets)
aborts_b0=$(in_ns "$NS_B" nstat -asz | awk '$1 ~ /^TcpExtTCPAbort/ { n += $2 } END { print n + 0 }')
stream_in4 5001 ""
rx=$RX_PID
tuple() { stream_tuple 5001; }
has_tuple() { [ -n "$(tuple)" ]; }
wait_for 5 has_tuple
sleep 0.5
read -r L P <<<"$(tuple)"
note "tuple: $L $P"

# ---- locked ----------------------------------------------------------------------------------

ok "lock the stream ($L $P)" quietly TFA lock add "$L" "$P"
counter() { TFA -j lock list | jq -r --arg l "$L" '.locks[] | select(.local == $l) | .in_packets'; }
sleep 0.3
size=$(stat -c %s "$TMP/recv")
in1=$(counter)
segs1=$(nstat_get "$NS_A" TcpInSegs)
sleep 1.2
in2=$(counter)
segs2=$(nstat_get "$NS_A" TcpInSegs)
full=$(stat -c %s "$TMP/expect")
ok "the stream was running when locked ($size of $full bytes)" test "$size" -gt 0 -a "$size" -lt "$full"
is "$(stat -c %s "$TMP/recv")" "$size" "locked: no byte arrives"
ok "the peer's packets are dropped and counted at XDP ($in1)" test "${in1:-0}" -gt 0
ok "the counter keeps rising while the peer retransmits ($in1 -> $in2)" test "${in2:-0}" -gt "${in1:-0}"
is "$segs2" "$segs1" "  and not one of those retransmits reached TCP in the local namespace (TcpInSegs)"
ok "the peer still has the connection" bash -c "ip netns exec $NS_B ss -tnH state established '( dport = :5001 )' | grep -q ."

# ---- unlocked ----------------------------------------------------------------------------------

ok "unlock" TFA lock del "$L" "$P"
grew() { [ "$(stat -c %s "$TMP/recv")" -gt "$size" ]; }
ok "bytes flow again after unlock" wait_for 5 grew
wait_for 20 test -s "$TMP/tx.rc"
is "$(cat "$TMP/tx.rc" 2>/dev/null)" 0 "the sender finished without error"
wait_for 10 bash -c "! kill -0 $rx 2>/dev/null"
ok "the stream arrived intact" cmp -s "$TMP/expect" "$TMP/recv"
is "$(nstat_get "$NS_B" TcpEstabResets)" "$resets_b0" "no connection reset at the peer (TcpEstabResets)"
is "$(in_ns "$NS_B" nstat -asz | awk '$1 ~ /^TcpExtTCPAbort/ { n += $2 } END { print n + 0 }')" "$aborts_b0" \
	"no connection aborted at the peer (TcpExtTCPAbort*)"

# ---- a device without native XDP: generic, said so ------------------------------------------
# A bridge has an Ethernet header but no ndo_bpf (dummy would do too, where it exists).

if ip -n "$NS_A" link add tfbr0 type bridge 2>/dev/null; then
	ip -n "$NS_A" link set tfbr0 up
	out=$(TFA attach --xdp tfbr0 2>&1)
	rc=$?
	note "$out"
	ok "attach --xdp on a bridge: says generic XDP, and why ($out)" \
		bash -c "[ $rc -eq 0 ] && grep -q 'tfbr0: no native XDP in its driver (.*): generic XDP' <<<\"\$0\"" "$out"
	is "$(link_xdp_mode "$NS_A" tfbr0)" xdpgeneric "ip link shows xdpgeneric"
	ok "status shows xdp-generic" bash -c "ip netns exec $NS_A $TF status | grep -q '^tfbr0 .*: xdp xdp-generic prog'"
	TFA detach tfbr0 >/dev/null
else
	for t in "attach --xdp on a bridge" "ip link shows xdpgeneric" "status shows xdp-generic"; do
		skip "no bridge devices in this kernel" "$t"
	done
fi

done_testing
