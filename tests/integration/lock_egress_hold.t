#!/usr/bin/env bash
# A lock held longer than 7.5 s on a live sender: A streams to the peer over
# IPv6 while the egress lock drops every segment for 10 s.  The sender must
# see loss (and back off), not a local drop: TC_ACT_SHOT at egress reads as
# local congestion, and TCP then probes every 500 ms without backing off
# and kills the socket with ETIMEDOUT after 15 probes (about 7.5 s), on
# every kernel.  After unlock the stream arrives intact.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd socat jq

plan 4

make_pair
make_bpffs
TFA() { in_ns "$NS_A" "$TF" "$@"; }
quietly TFA attach "$DEV_A" || bail_out "attach $DEV_A failed"
at_exit "ip netns exec $NS_A $TF detach $DEV_A"

. "$TF_ROOT/tests/helpers/streams.sh"
LINES=1500	# 18 s of stream: it runs through the whole lock
streams_expect
streams_both || bail_out "the streams did not connect"

ok "lock the IPv6 stream at A's egress" quietly TFA lock add "$L6" "$P6"
sleep 10
out=$(TFA -j lock list | jq -r --arg l "$L6" '.locks[] | select(.local == $l) | .out_packets')
note "egress drops in 10 s: $out"
# Backing off from a 200 ms RTO: a handful.  Probing every 500 ms and at each write: hundreds.
ok "A's TCP backed off while locked ($out segments dropped in 10 s)" test "${out:-0}" -gt 0 -a "${out:-0}" -lt 60
quietly TFA lock del "$L6" "$P6"
wait_for 180 test -s "$TMP/tx6.rc"	# minutes under TCG (make test-vm)
is "$(cat "$TMP/tx6.rc" 2>/dev/null)" 0 "the sender survived a 10 s lock (no ETIMEDOUT)"
wait_for 60 bash -c "! kill -0 $rx6 2>/dev/null"
ok "the stream arrived intact" cmp -s "$TMP/expect" "$TMP/recv6"

done_testing
