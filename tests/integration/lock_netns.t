#!/usr/bin/env bash
# The BPF lock between two network namespaces, with traffic flowing all the
# time: NS_B streams to NS_A over IPv4 (the lock drops at ingress) and NS_A
# streams to NS_B over IPv6 (the lock drops at egress).  While locked, no byte
# arrives and the drop counters rise; after unlock both streams go on and
# arrive intact, and no connection was reset.  Then: bpftool sees the lock map
# by field name; attach / detach / re-attach keep exactly one program per
# hook and leave nothing behind; bulk, gc and flush; and the errors a user
# meets (bad tuple, unknown device, table full, not root) say what is wrong.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd socat ss nstat bpftool jq setpriv nsenter

plan 91

make_pair
make_bpffs
A() { in_ns "$NS_A" "$@"; }
TFA() { in_ns "$NS_A" "$TF" "$@"; }

. "$TF_ROOT/tests/helpers/streams.sh"
streams_expect

# ---- attach -----------------------------------------------------------------------

ok "attach $DEV_A" TFA attach "$DEV_A"
at_exit "ip netns exec $NS_A $TF detach $DEV_A"
resets_a0=$(nstat_get "$NS_A" TcpEstabResets)
resets_b0=$(nstat_get "$NS_B" TcpEstabResets)

# ---- two streams -------------------------------------------------------------------

# IPv4: peer (NS_B) -> local (NS_A).  IPv6: local (NS_A) -> peer (NS_B).
streams_both

# ---- locked --------------------------------------------------------------------------

resets_b=$(nstat_get "$NS_B" TcpEstabResets)
out=$(TFA lock add "$L4" "$P4" 2>&1)
ok "lock the IPv4 stream ($L4 $P4)" test $? -eq 0
ok "  with the programs attached here: no warning ($out)" eval '! grep -q warning <<<"$out"'
ok "lock the IPv6 stream ($L6 $P6)" TFA lock add "$L6" "$P6"
sleep 0.3
size4=$(stat -c %s "$TMP/recv4")
size6=$(stat -c %s "$TMP/recv6")
insegs_a=$(nstat_get "$NS_A" TcpInSegs)
sleep 1.2
# A stalled receiver alone proves little (dropping our own ACKs stalls the
# sender too): nothing of the peer's may reach A's TCP at all.
is "$(($(nstat_get "$NS_A" TcpInSegs) - insegs_a))" 0 "locked: A's TCP receives no segment (the peer's retransmits die at ingress)"
full=$(stat -c %s "$TMP/expect")
ok "the streams were still running when locked ($size4, $size6 of $full bytes)" \
	test "$size4" -lt "$full" -a "$size6" -lt "$full" -a "$size4" -gt 0 -a "$size6" -gt 0
is "$(stat -c %s "$TMP/recv4")" "$size4" "locked: no IPv4 byte reaches the local receiver"
is "$(stat -c %s "$TMP/recv6")" "$size6" "locked: no IPv6 byte reaches the peer"
# No RST reaches the peer: one it accepted would reset its connection (the
# kernel has no counter of RSTs received: there is no TcpInRsts).
is "$(nstat_get "$NS_B" TcpEstabResets)" "$resets_b" "locked: no RST reaches the peer (its TcpEstabResets stays)"
is "$(in_ns "$NS_B" ss -tnH state established '( dport = :5001 or sport = :5002 )' | wc -l)" 2 \
	"locked: the peer still has both connections established"

TFA -j lock list >"$TMP/list.json"
counter() { jq -r --arg l "$1" --arg p "$2" ".locks[] | select(.local == \$l and .peer == \$p) | .$3" "$TMP/list.json"; }
in4=$(counter "$L4" "$P4" in_packets)
out6=$(counter "$L6" "$P6" out_packets)
ok "IPv4: the peer's packets are dropped and counted at ingress ($in4)" test "${in4:-0}" -gt 0
ok "IPv6: our own packets are dropped and counted at egress ($out6)" test "${out6:-0}" -gt 0
ok "lock list shows bytes too" test "$(counter "$L4" "$P4" in_bytes)" -gt "$((in4 * 40))"
ok "lock list (text) names both tuples" \
	bash -c "ip netns exec $NS_A $TF lock list | grep -F -- '$L4' | grep -qF -- '$P4' &&
		 ip netns exec $NS_A $TF lock list | grep -F -- '$L6' | grep -qF -- '$P6'"
# The peer's retransmits back off (0.2, 0.6, 1.4, 3.0 s after the lock...):
# the next one may be more than a second away.
in4_now() { TFA -j lock list | jq -r --arg l "$L4" '.locks[] | select(.local == $l) | .in_packets'; }
wait_for 8 eval '[ "$(in4_now)" -gt "$in4" ]'
in4b=$(in4_now)
ok "counters keep rising while the peer retransmits ($in4 -> $in4b)" test "${in4b:-0}" -gt "$in4"

bpftool map dump pinned "$TCPFERRY_BPFFS/locks" >"$TMP/dump.txt" 2>&1
ok "bpftool map dump shows the key by field name" grep -q '"local_addr"' "$TMP/dump.txt"
ok "bpftool map dump shows peer_port and in_packets" \
	bash -c "grep -q '\"peer_port\"' $TMP/dump.txt && grep -q '\"in_packets\"' $TMP/dump.txt"
port4=$(printf '%d' "$(( (${P4##*:} >> 8) | ((${P4##*:} & 255) << 8) ))")
ok "bpftool map dump shows the locked tuple (peer port ${P4##*:} as $port4 in network order)" \
	grep -q "\"peer_port\": $port4," "$TMP/dump.txt"

# ---- unlocked --------------------------------------------------------------------------

ok "unlock the IPv4 stream" TFA lock del "$L4" "$P4"
ok "unlock the IPv6 stream" TFA lock del "$L6" "$P6"
wait_for 20 test -s "$TMP/tx4.rc"
wait_for 20 test -s "$TMP/tx6.rc"
is "$(cat "$TMP/tx4.rc" 2>/dev/null)" 0 "IPv4 sender finished without error"
is "$(cat "$TMP/tx6.rc" 2>/dev/null)" 0 "IPv6 sender finished without error"
wait_for 10 bash -c "! kill -0 $rx4 2>/dev/null"
wait_for 10 bash -c "! kill -0 $rx6 2>/dev/null"
ok "IPv4 stream arrived intact after the lock" cmp -s "$TMP/expect" "$TMP/recv4"
ok "IPv6 stream arrived intact after the lock" cmp -s "$TMP/expect" "$TMP/recv6"
is "$(nstat_get "$NS_B" TcpEstabResets)" "$resets_b0" "no connection reset in the peer's namespace"
is "$(nstat_get "$NS_A" TcpEstabResets)" "$resets_a0" "no connection reset in the local namespace"

# ---- lock table errors and bulk -----------------------------------------------------------

out=$(TFA lock add "$L4" "$P4" 2>&1; TFA lock add "$L4" "$P4" 2>&1)
ok "locking twice says already locked" grep -q "already locked (by manual" <<<"$out"
TFA lock del "$L4" "$P4" >/dev/null
out=$(TFA lock del "$L4" "$P4" 2>&1)
ok "unlocking an unlocked tuple says not locked" grep -q "not locked" <<<"$out"

out=$(TFA lock add 198.18.0.300:80 198.18.0.2:1 2>&1)
rc=$?
ok "bad tuple syntax: usage error naming the address ($out)" \
	bash -c "[ $rc -eq 2 ] && grep -q \"'198.18.0.300' is not an IPv4 address\" <<<\"\$0\"" "$out"
out=$(TFA lock add 198.18.0.1 198.18.0.2:1 2>&1)
ok "missing port: says what is expected ($out)" grep -q "expected ADDR:PORT" <<<"$out"

for ((i = 1; i <= 1000; i++)); do echo "198.18.0.1:80 198.18.0.2:$((10000 + i))"; done >"$TMP/bulk"
ok "bulk lock of 1000 tuples" bash -c "ip netns exec $NS_A $TF lock add --file - <$TMP/bulk | grep -q 'locked 1000 of 1000'"
out=$(head -3 "$TMP/bulk" | TFA lock add --file - 2>&1)
ok "bulk lock of locked tuples says so" grep -q "198.18.0.1:80 -> 198.18.0.2:10001: already locked" <<<"$out"
is "$(TFA -j status | jq .lock_table.locks)" 1000 "status counts 1000 locks"
ok "bulk unlock of 1000 tuples" bash -c "ip netns exec $NS_A $TF lock del --file $TMP/bulk | grep -q 'unlocked 1000 of 1000'"
# A list of 100 (one update per tuple) holding a tuple locked before: it is reported and kept.
TFA lock add 198.18.0.1:80 198.18.0.2:30050 --reason dump >/dev/null
old50() { TFA -j lock list | jq -r '.locks[] | select(.peer == "198.18.0.2:30050") | "\(.reason) \(.since_ns)"'; }
before=$(old50)
seq 30001 30100 | sed 's/^/198.18.0.1:80 198.18.0.2:/' >"$TMP/bulk100"
out=$(TFA lock add --file "$TMP/bulk100" 2>&1)
ok "bulk of 100 with one locked before: it is reported ($(tail -1 <<<"$out"))" \
	eval 'grep -q "30050: already locked" <<<"$out" && grep -q "locked 99 of 100" <<<"$out"'
is "$(old50)" "$before" "  and keeps its reason and start time"
TFA lock del --file "$TMP/bulk100" >/dev/null
ok "lock with --ttl 0.2" TFA lock add 198.18.0.1:80 198.18.0.2:99 --ttl 0.2 --reason dump
ok "lock without expiry" TFA lock add 198.18.0.1:80 198.18.0.2:98
sleep 0.3
is "$(TFA -j lock gc | jq .removed)" 1 "gc removes only the expired lock"
is "$(TFA -j lock flush | jq .removed)" 1 "flush removes the rest"
# An expired lock drops nothing: a new lock replaces it (one add, a list, the kernel's bulk).
reason_of() { TFA -j lock list | jq -r --arg p "198.18.0.2:$1" '.locks[] | select(.peer == $p) | "\(.reason) \(.expires_ns)"'; }
TFA lock add 198.18.0.1:80 198.18.0.2:97 --ttl 0.1 --reason dump >/dev/null
TFA lock add 198.18.0.1:80 198.18.0.2:30050 --ttl 0.1 --reason dump >/dev/null
TFA lock add 198.18.0.1:80 198.18.0.2:20050 --ttl 0.1 --reason dump >/dev/null
sleep 0.3
out=$(TFA lock add 198.18.0.1:80 198.18.0.2:97 --reason restore 2>&1)
ok "lock over an expired lock: it is replaced ($out)" test $? -eq 0
is "$(reason_of 97)" "restore 0" "  with the new reason and no expiry"
out=$(TFA lock add --file "$TMP/bulk100" --reason restore 2>&1)
ok "bulk of 100 over an expired lock: all 100 locked ($(tail -1 <<<"$out"))" grep -q "locked 100 of 100" <<<"$out"
is "$(reason_of 30050)" "restore 0" "  the expired one replaced"
seq 20001 21100 | sed 's/^/198.18.0.1:80 198.18.0.2:/' >"$TMP/bulk1100"
out=$(TFA lock add --file "$TMP/bulk1100" --reason restore 2>&1)
ok "kernel bulk of 1,100 over an expired lock: all locked ($(tail -1 <<<"$out"))" grep -q "locked 1100 of 1100" <<<"$out"
is "$(reason_of 20050)" "restore 0" "  the expired one replaced"
TFA lock flush >/dev/null

# Table full: a table of two, in a second pin directory.
SMALL=$BPFFS/small
out=$(env TCPFERRY_BPFFS="$SMALL" "$TF" lock add 10.0.0.1:1 10.0.0.2:1 --max-locks 2 2>&1)
ok "lock table of 2 entries" test $? -eq 0
ok "  no device attached to it: a warning says the lock drops nothing ($out)" \
	grep -qF 'warning: no device in this network namespace has the lock programs attached: the lock drops nothing until `tcpferry attach DEV`' <<<"$out"
env TCPFERRY_BPFFS="$SMALL" "$TF" lock add 10.0.0.1:1 10.0.0.2:2 >/dev/null 2>&1
out=$(env TCPFERRY_BPFFS="$SMALL" "$TF" lock add 10.0.0.1:1 10.0.0.2:3 2>&1)
ok "table full: says so and how to get out ($out)" grep -q "table full (2 entries); raise --max-locks" <<<"$out"
out=$(env TCPFERRY_BPFFS="$SMALL" "$TF" lock add 10.0.0.1:1 10.0.0.2:9 --max-locks 5 2>&1)
ok "--max-locks on an existing table: a warning says it is ignored ($out)" \
	grep -qF "the lock table already exists with 2 entries: --max-locks 5 ignored" <<<"$out"
printf '10.0.0.1:1 10.0.0.2:%d\n' 4 5 6 >"$TMP/three"
out=$(env TCPFERRY_BPFFS="$SMALL" "$TF" lock add --file "$TMP/three" 2>&1)
ok "bulk into a full table: refused as a whole ($out)" grep -q "table full" <<<"$out"
# From 1,024 tuples on the CLI loads the lock_bulk kernel programs: all or nothing too.
seq 100 8299 | sed 's/^/10.0.0.1:1 10.0.0.2:/' >"$TMP/many"
out=$(env TCPFERRY_BPFFS="$SMALL" "$TF" lock add --file "$TMP/many" 2>&1)
ok "bulk of 8,200 into a full table: refused as a whole ($out)" grep -q "table full (2 entries)" <<<"$out"
is "$(env TCPFERRY_BPFFS="$SMALL" "$TF" -j lock list | jq '.locks | length')" 2 "  and none of the 8,200 stayed"
# ... and a lock that is there already is reported and kept, not overwritten.
TFA lock add 198.18.0.1:80 198.18.0.2:20005 --reason dump >/dev/null
{ seq 20001 28200 | sed 's/^/198.18.0.1:80 198.18.0.2:/'; echo "198.18.0.1:80 198.18.0.2:20001"; } >"$TMP/bulk2"
out=$(TFA lock add --file "$TMP/bulk2" 2>&1)
ok "bulk of 8,201 with one locked before and one repeated: both reported" \
	eval 'grep -q "20005: already locked" <<<"$out" && grep -q "20001: already locked" <<<"$out" && grep -q "locked 8199 of 8201" <<<"$out"'
is "$(TFA -j lock list | jq -r '.locks[] | select(.peer == "198.18.0.2:20005") | .reason')" dump \
	"  the lock that was there keeps its reason"
out=$(TFA lock del --file "$TMP/bulk2" 2>&1)
ok "bulk unlock of the 8,201: 8,200 unlocked, the repeat not locked any more" \
	eval 'grep -q "unlocked 8200 of 8201" <<<"$out" && grep -q "20001: not locked" <<<"$out"'

# Unknown device, not root.
out=$(TFA attach nosuchdev0 2>&1)
ok "unknown device: says so ($out)" grep -q "nosuchdev0: no such device" <<<"$out"
if setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all true 2>/dev/null &&
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all test -x "$TF"; then
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$TF" lock list 2>&1)
	ok "not root: lock list says which capability ($out)" grep -q "needs CAP_BPF; run it as root" <<<"$out"
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$TF" attach lo 2>&1)
	ok "not root: attach says which capability ($out)" grep -q "needs CAP_NET_ADMIN" <<<"$out"
else
	skip "$TF is not reachable by uid 65534" "not root: lock list"
	skip "$TF is not reachable by uid 65534" "not root: attach"
fi

# ---- one program per hook, and nothing left behind ---------------------------------------------
# attach puts the lock program and the tsval recorder on each tc hook (the
# recorder stays at tc when ingress is XDP).  The kernel's own list of the
# programs at each hook, by name: one lock program and one recorder, never more,
# whatever attach, re-attach, a switch of flavour or a new process did before.

LOCK_TC="tc-in:tf_lock_tc_in,tf_tsval_tc_in tc-out:tf_lock_tc_out,tf_tsval_tc_out"
LOCK_XDP="xdp:tf_lock_xdp tc-out:tf_lock_tc_out,tf_tsval_tc_out"
hooks_of() { jq -r --arg d "$1" '[.devices[] | select(.device == $d) | .hooks[] | "\(.hook):\(.progs | sort | join(","))"] | join(" ")'; }
hooks() { TFA -j status | hooks_of "$DEV_A"; }
is "$(hooks)" "$LOCK_TC" "after the streams: lock + recorder on tc ingress and egress, by name"
TFA attach "$DEV_A" >/dev/null
TFA attach "$DEV_A" >/dev/null
is "$(hooks)" "$LOCK_TC" "attach twice: still one lock program and one recorder per hook"
TFA attach --xdp "$DEV_A" >/dev/null
is "$(hooks)" "$LOCK_XDP" "switch to XDP: the lock leaves tc ingress, one XDP program"
ok "ip link shows the XDP program" bash -c "ip -n $NS_A link show $DEV_A | grep -q 'prog/xdp'"
TFA attach --xdp "$DEV_A" >/dev/null
is "$(hooks)" "$LOCK_XDP" "XDP again: nothing added"
TFA attach --tc "$DEV_A" >/dev/null
is "$(hooks)" "$LOCK_TC" "back to tc: XDP gone, one lock program on tc ingress"
ok "ip link shows no XDP program" bash -c "! ip -n $NS_A link show $DEV_A | grep -q 'prog/xdp'"
TFA detach "$DEV_A" >/dev/null
TFA attach "$DEV_A" >/dev/null
is "$(hooks)" "$LOCK_TC" "detach + attach: one lock program and one recorder per hook"
TFA attach --no-tsval "$DEV_A" >/dev/null
is "$(hooks)" "$LOCK_TC" "attach --no-tsval over an attachment: the recorder stays, once"
# The lock runs first on its tc hooks, also when the recorder came first: a
# program before it could pass a locked connection's packet with a final verdict.
TFA detach "$DEV_A" >/dev/null
TFA tswatch --attach "$DEV_A" >/dev/null 2>&1
TFA attach --no-tsval "$DEV_A" >/dev/null
in_order() { TFA -j status | jq -r --arg d "$DEV_A" '[.devices[] | select(.device == $d) | .hooks[] | "\(.hook):\(.progs | join(","))"] | join(" ")'; }
is "$(in_order)" "$LOCK_TC" "recorder attached first, then the lock: the lock runs first on each tc hook"

# The other namespace's veth0 (same name, same bpffs) is a device of its own.
in_ns "$NS_B" "$TF" attach "$DEV_B" >/dev/null
at_exit "ip netns exec $NS_B $TF detach $DEV_B"
is "$(in_ns "$NS_B" "$TF" -j status | hooks_of "$DEV_B")" \
	"$LOCK_TC" "same device name in another namespace: attached there too"
is "$(hooks)" "$LOCK_TC" "... and this namespace's attachment is untouched"
in_ns "$NS_B" "$TF" detach "$DEV_B" >/dev/null
is "$(hooks)" "$LOCK_TC" "detaching there leaves this one"

# A device without a link-layer header gets the L3 flavour, at tc only.
if ip -n "$NS_A" tuntap add dev tftun0 mode tun 2>/dev/null; then
	ip -n "$NS_A" link set tftun0 up
	ok "attach a tun device" TFA attach tftun0
	is "$(TFA -j status | jq -r '.devices[] | select(.device == "tftun0") | "\(.l3) \([.hooks[].hook] | join(","))"')" \
		"true tc-in,tc-out" "tun device: no link-layer header, tc hooks"
	out=$(TFA attach --xdp tftun0 2>&1)
	ok "tun device: --xdp refused with a way out ($out)" grep -q "no Ethernet header, XDP cannot serve it; use --tc" <<<"$out"
	ok "detach the tun device" TFA detach tftun0
else
	for t in "attach a tun device" "tun device hooks" "tun device --xdp refused" "detach the tun device"; do
		skip "no tun support (ip tuntap)" "$t"
	done
fi

# The device's type and kind come from this process's namespace: nsenter --net
# (like migrate move's setns) keeps the /sys of the namespace it came from, where
# the tun device does not exist and a device of the namespace's name may be
# another one (here a veth named after this host's NIC).
NSE() { nsenter --net="/run/netns/$NS_A" "$TF" "$@"; }
if ip -n "$NS_A" tuntap add dev tftun1 mode tun 2>/dev/null; then
	ip -n "$NS_A" link set tftun1 up
	is "$(NSE -j attach tftun1 | jq -r .l3)" "true" "after setns (nsenter, host's /sys): tun attached with the L3 flavour"
	out=$(NSE attach --xdp tftun1 2>&1)
	ok "after setns: --xdp refused on the tun device ($out)" grep -q "no Ethernet header" <<<"$out"
	NSE detach tftun1 >/dev/null
else
	skip "no tun support (ip tuntap)" "after setns: tun device L3 flavour"
	skip "no tun support (ip tuntap)" "after setns: --xdp refused on tun"
fi
nic=
for d in /sys/class/net/*; do
	[ -e "$d/device" ] && { nic=${d##*/}; break; }
done
if [ -n "$nic" ] && ip -n "$NS_A" link add "$nic" type veth peer name tfpeer0; then
	ip -n "$NS_A" link set "$nic" up
	ip -n "$NS_A" link set tfpeer0 up
	is "$(NSE -j attach "$nic" | jq -r '"\(.ingress.hook) \(.ingress.how)"')" \
		"$(TFA -j attach "$DEV_A" | jq -r '"\(.ingress.hook) \(.ingress.how)"')" \
		"after setns: a veth named like the host's NIC $nic is a virtual device (tc, as $DEV_A)"
	NSE detach "$nic" >/dev/null
	ip -n "$NS_A" link del "$nic"
else
	skip "no NIC on this host to borrow a name from" "after setns: veth named like a NIC"
fi
ids=$(TFA -j status | jq -r '.devices[].hooks[].prog_id')
ok "detach" TFA detach "$DEV_A"
is "$(TFA detach "$DEV_A")" "$DEV_A: nothing attached" "detach again: nothing attached"
out=$(TFA detach nosuchdev0 2>&1)
rc=$?
is "$rc $out" "1 tcpferry: detach nosuchdev0: no such device in this network namespace (see ip link)" \
	"detach of a device that does not exist: an error naming it"
if ip -n "$NS_A" link add tfgone0 type veth peer name tfgone1; then
	TFA attach tfgone0 >/dev/null
	ip -n "$NS_A" link del tfgone0
	out=$(TFA detach tfgone0 2>&1)
	rc=$?
	ok "detach of a deleted device: its pins are removed, said so ($out)" \
		eval '[ $rc -eq 0 ] && grep -q "^tfgone0: device gone; removed its pins" <<<"$out"'
else
	skip "cannot make a veth" "detach of a deleted device"
fi
is "$(ls -A "$TCPFERRY_BPFFS/links")" "" "no link pin left"
gone() { for id in $ids; do bpftool prog show id "$id" >/dev/null 2>&1 && return 1; done; return 0; }
ok "the programs are gone from the kernel" wait_for 5 gone
ok "no qdisc was added" bash -c "! tc -n $NS_A qdisc show dev $DEV_A | grep -q clsact"
# detach leaves the lock table (with its locks, for other devices and the next
# attach) and the recorder's maps, and nothing that belongs to a device.
is "$(find "$TCPFERRY_BPFFS" -mindepth 2)" "" "no link pin left, the recorder's neither"
is "$(find "$TCPFERRY_BPFFS" -mindepth 1 -maxdepth 1 ! -type d -printf '%f ' | tr ' ' '\n' | sort | xargs)" \
	"locks steer_cfg steers tsval_cfg tsval_events tsval_stats tsvals" \
	"the pin directory keeps only the lock and steer tables and the recorder's maps"
is "$(TFA -j status | jq -c '[.lock_table.locks, (.devices | length)]')" "[0,0]" \
	"status: no lock, no device"
ok "the test's own cleanup unmounts its bpffs" drop_bpffs
is "$(mounts_under "$TMP")" "" "no mount of the test is left under $TMP"

done_testing
