#!/usr/bin/env bash
# The lock and the tsval recorder as clsact filters (what kernels before 6.6
# get, forced here with TCPFERRY_TC=clsact), with traffic flowing: NS_B
# streams to NS_A over IPv4 (the lock drops at ingress), NS_A to NS_B over
# IPv6 (at egress).  tc sees our filters, status says clsact; while locked
# nothing of the peer's reaches A's TCP, the counters rise and the peer meets
# no RST; after unlock both streams arrive intact.  Attach again adds nothing;
# attach without TCPFERRY_TC keeps the filters (defined: a live clsact hook
# stays one, as a live ingress flavour does), TCPFERRY_TC=clsact moves tcx
# links to filters; detach removes our filters and the clsact qdisc if
# tcpferry made it (not one that was there, not one with a filter of someone
# else's).  Then a dump and a resume over the filters.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd socat nstat jq tc

plan 52

make_pair
make_bpffs
A() { in_ns "$NS_A" "$@"; }
TFA() { in_ns "$NS_A" "$TF" "$@"; }
TFC() { in_ns "$NS_A" env TCPFERRY_TC=clsact "$TF" "$@"; }
silently() { "$@" >/dev/null 2>&1; }

# The programs of the filters at a clsact hook (ingress, egress), in the
# order tc runs them: "tf_lock_tc_in tf_tsval_tc_in"; "" when there is none.
filters() { A tc filter show dev "$DEV_A" "$1" | grep -oE ' handle 0x[0-9a-f]+ [^ :]+' | awk '{ print $3 }' | xargs; }
has_clsact() { A tc qdisc show dev "$DEV_A" | grep -q '^qdisc clsact'; }
no_clsact() { ! has_clsact; }
# status: how each hook is attached, and the names of the programs the kernel runs there.
hows() { TFA -j status | jq -r --arg d "$DEV_A" '[.devices[] | select(.device == $d) | .hooks[] | "\(.hook):\(.how)"] | join(" ")'; }
progs() { TFA -j status | jq -r --arg d "$DEV_A" '[.devices[] | select(.device == $d) | .hooks[] | "\(.hook):\(.progs | join(","))"] | join(" ")'; }
BOTH_IN="tf_lock_tc_in tf_tsval_tc_in"
BOTH_OUT="tf_lock_tc_out tf_tsval_tc_out"
PROGS="tc-in:tf_lock_tc_in,tf_tsval_tc_in tc-out:tf_lock_tc_out,tf_tsval_tc_out"

is "$(in_ns "$NS_A" env TCPFERRY_TC=clasct "$TF" attach "$DEV_A" 2>&1)" \
	"tcpferry: attach $DEV_A: TCPFERRY_TC=clasct: expected clsact or tcx (or unset it)" \
	"a misspelt TCPFERRY_TC is refused, naming it"

# ---- the recorder first (tswatch --attach), then the lock -------------------------------

ok "tswatch --attach $DEV_A with TCPFERRY_TC=clsact" silently TFC tswatch --attach "$DEV_A"
at_exit "ip netns exec $NS_A $TF detach $DEV_A"
is "$(filters ingress) / $(filters egress)" "tf_tsval_tc_in / tf_tsval_tc_out" \
	"tc filter show: the recorder's filter at clsact ingress and egress"
ok "a clsact qdisc was made for it" has_clsact
out=$(TFC attach "$DEV_A" 2>&1)
note "$out"
ok "attach $DEV_A with TCPFERRY_TC=clsact: says clsact ($out)" \
	grep -q "ingress tc-in (clsact, prog [0-9]*, new), egress tc-out (clsact, prog [0-9]*, new)" <<<"$out"
is "$(filters ingress)" "$BOTH_IN" "tc filter show ingress: the lock's filter, then the recorder's"
is "$(filters egress)" "$BOTH_OUT" "tc filter show egress: the lock's filter, then the recorder's"
is "$(hows)" "tc-in:clsact tc-out:clsact" "status: clsact for both hooks"
is "$(progs)" "$PROGS" "status: the programs at each hook are the two filters, no tcx link"

# ---- two streams ----------------------------------------------------------------------------

. "$TF_ROOT/tests/helpers/streams.sh"
streams_expect

resets_b0=$(nstat_get "$NS_B" TcpEstabResets)
streams_both

recorded() { TFA -j tswatch --list --local "$1" --peer "$2" | jq -r '.connections[0] | "\(.out_packets > 0) \(.in_packets > 0) \(.out_max != null)"'; }
is "$(recorded "$L4" "$P4")" "true true true" "the recorder (clsact) has the IPv4 tuple: packets both ways, a tsval sent"
is "$(recorded "$L6" "$P6")" "true true true" "the recorder (clsact) has the IPv6 tuple"

# ---- locked ----------------------------------------------------------------------------------

ok "lock the IPv4 stream" quietly TFA lock add "$L4" "$P4"
ok "lock the IPv6 stream" quietly TFA lock add "$L6" "$P6"
sleep 0.3
size4=$(stat -c %s "$TMP/recv4")
size6=$(stat -c %s "$TMP/recv6")
counter() { TFA -j lock list | jq -r --arg l "$1" ".locks[] | select(.local == \$l) | .$2"; }
in4=$(counter "$L4" in_packets)
out6=$(counter "$L6" out_packets)
segs=$(nstat_get "$NS_A" TcpInSegs)
segs_b=$(nstat_get "$NS_B" TcpInSegs)
sleep 1.2
full=$(stat -c %s "$TMP/expect")
ok "the streams were running when locked ($size4, $size6 of $full bytes)" \
	test "$size4" -gt 0 -a "$size4" -lt "$full" -a "$size6" -gt 0 -a "$size6" -lt "$full"
is "$(($(nstat_get "$NS_A" TcpInSegs) - segs))" 0 "locked: A's TCP receives no segment (dropped at the ingress filter)"
is "$(stat -c %s "$TMP/recv4")" "$size4" "locked: no IPv4 byte reaches A"
is "$(stat -c %s "$TMP/recv6")" "$size6" "locked: no IPv6 byte reaches the peer"
# (a stall alone could come from the ingress filter dropping the peer's ACKs)
is "$(($(nstat_get "$NS_B" TcpInSegs) - segs_b))" 0 "  and the peer's TCP receives no segment of A's (dropped at the egress filter)"
in4b=$(counter "$L4" in_packets)
out6b=$(counter "$L6" out_packets)
ok "the ingress filter counts the peer's retransmits, rising ($in4 -> $in4b)" test "${in4b:-0}" -gt "${in4:-0}" -a "${in4:-0}" -gt 0
ok "the egress filter counts A's retransmits, rising ($out6 -> $out6b)" test "${out6b:-0}" -gt "${out6:-0}" -a "${out6:-0}" -gt 0

ok "unlock both" quietly bash -c "ip netns exec $NS_A $TF lock del $L4 $P4 && ip netns exec $NS_A $TF lock del $L6 $P6"
wait_for 20 test -s "$TMP/tx4.rc"
wait_for 20 test -s "$TMP/tx6.rc"
wait_for 10 bash -c "! kill -0 $rx4 2>/dev/null"
wait_for 10 bash -c "! kill -0 $rx6 2>/dev/null"
is "$(cat "$TMP/tx4.rc" "$TMP/tx6.rc" 2>/dev/null | xargs)" "0 0" "both senders finished without error"
ok "IPv4 stream arrived intact" cmp -s "$TMP/expect" "$TMP/recv4"
ok "IPv6 stream arrived intact" cmp -s "$TMP/expect" "$TMP/recv6"
# (the kernel counts no RST received: an RST on an established connection is a reset)
is "$(nstat_get "$NS_B" TcpEstabResets)" "$resets_b0" "no RST reached the peer: no connection reset there"

# ---- attach again, and without TCPFERRY_TC -----------------------------------------------------

out=$(TFC attach "$DEV_A" 2>&1)
ok "attach again with clsact: already attached ($out)" grep -q "already attached: ingress tc-in (clsact" <<<"$out"
silently TFC tswatch --attach "$DEV_A"
is "$(filters ingress) / $(filters egress)" "$BOTH_IN / $BOTH_OUT" "  still one filter of each per hook (and tswatch --attach again)"
out=$(TFA attach "$DEV_A" 2>&1)
ok "attach without TCPFERRY_TC: the clsact filters stay ($out)" grep -q "already attached: ingress tc-in (clsact" <<<"$out"
is "$(filters ingress) / $(filters egress)" "$BOTH_IN / $BOTH_OUT" "  tc: the same filters"
is "$(progs)" "$PROGS" "  and no tcx link beside them (status)"

# Back to tcx: detach, attach.  Then TCPFERRY_TC=clsact moves the links to filters.
# A kernel without tcx (before 6.6) gets clsact filters without being asked.
quietly TFA detach "$DEV_A"
quietly TFA attach "$DEV_A"
if kernel_has tcx; then
	is "$(hows)" "tc-in:tcx tc-out:tcx" "detach, attach without TCPFERRY_TC: tcx links"
	is "$(filters ingress)$(filters egress)" "" "  no filter left"
	ok "  and no clsact qdisc (tcpferry made it, detach removed it)" no_clsact
	quietly TFC attach "$DEV_A"
	is "$(hows)" "tc-in:clsact tc-out:clsact" "attach with TCPFERRY_TC=clsact over tcx links: moved to filters"
	is "$(filters ingress) / $(filters egress)" "$BOTH_IN / $BOTH_OUT" "  the lock's and the recorder's filters (the recorder moved too)"
	is "$(progs)" "$PROGS" "  and no tcx link left (status)"
else
	is "$(hows)" "tc-in:clsact tc-out:clsact" "no tcx here: detach, attach without TCPFERRY_TC gives clsact filters"
	is "$(filters ingress) / $(filters egress)" "$BOTH_IN / $BOTH_OUT" "  the lock's and the recorder's filters"
	is "$(progs)" "$PROGS" "  and no tcx link (status)"
	for t in "attach without TCPFERRY_TC: tcx links" "attach with TCPFERRY_TC=clsact over tcx links: moved to filters" \
		"  the recorder moved too"; do
		skip "tcx needs Linux 6.6" "$t"
	done
fi

# ---- detach ----------------------------------------------------------------------------------

ok "detach" quietly TFA detach "$DEV_A"
is "$(filters ingress)$(filters egress)" "" "tc filter show: none of our filters left"
ok "the clsact qdisc tcpferry made is gone" no_clsact
is "$(find "$TCPFERRY_BPFFS" -mindepth 2 | xargs)" "" "no pin and no marker left"

# A clsact qdisc that was there before stays.
A tc qdisc add dev "$DEV_A" clsact
quietly TFC attach "$DEV_A"
is "$(filters ingress)" "$BOTH_IN" "attach onto a clsact qdisc made by someone else"
quietly TFA detach "$DEV_A"
ok "detach: the qdisc that was there stays" has_clsact
is "$(filters ingress)$(filters egress)" "" "  without our filters"
A tc qdisc del dev "$DEV_A" clsact

# One tcpferry made, with a filter of someone else's on it when we leave: it stays.
quietly TFC attach "$DEV_A"
A tc filter add dev "$DEV_A" ingress protocol ip pref 40000 u32 match ip dst 192.0.2.99/32 flowid 1:1
quietly TFA detach "$DEV_A"
ok "detach with someone else's filter on the qdisc tcpferry made: the qdisc stays" has_clsact
is "$(A tc filter show dev "$DEV_A" ingress | grep -c 'u32.*fh 800::800')" 1 "  and so does their filter"
A tc filter del dev "$DEV_A" ingress pref 40000
# ... and the next detach, once theirs is gone, takes the qdisc away.
quietly TFC attach "$DEV_A"
quietly TFA detach "$DEV_A"
ok "  once it is gone, attach + detach remove the qdisc tcpferry made" no_clsact

# ---- dump and resume over the filters --------------------------------------------------------

N=3
quietly TFC attach "$DEV_A"
spawn "$NS_A" "$TMP/echo.out" "$HELPERS/tf-stream" echo "$ADDR_A" 7300
app=$SPAWNED
spawn "$NS_B" "$TMP/peer.out" "$HELPERS/tf-stream" many-peer "$ADDR_A" 7300 --count $N --rounds 2
peer=$SPAWNED
wait_for 20 grep -qs ready "$TMP/peer.out"
ok "dump with TCPFERRY_TC=clsact (the process is left stopped, locked)" silently TFC dump --pid "$app" --out "$TMP/img"
is "$(hows)" "tc-in:clsact tc-out:clsact" "  the dump kept the clsact filters"
kill -USR1 "$peer"	# round 1 goes out while the source is frozen: the filters drop it
sleep 0.5
dropped=$(TFA -j lock list | jq '[.locks[].in_packets] | add')
ok "  the peer's round is dropped at the ingress filter ($dropped packets)" test "${dropped:-0}" -ge "$N"
ok "resume" quietly TFA resume --pid "$app"
wait_for 10 grep -qs 'round 1 ok' "$TMP/peer.out"
kill -USR1 "$peer"
ok "every connection carries rounds 1 and 2 (the dropped one retransmitted)" wait "$peer"
quietly TFA detach "$DEV_A"
ok "detach: no filter, no qdisc" no_clsact

done_testing
