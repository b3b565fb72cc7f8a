#!/usr/bin/env bash
# Timestamps across a migration between hosts.  Three namespaces: A (source),
# C (target) and the peer B, with a veth to each.  An echo app on A serves the
# address SVC (a /32 on lo); the peer on B pings it.  The connection is dumped
# on A (--kill), SVC moves to C and B's route with it, and the socket is
# restored on C.  B, which never moves, watches every tsval with
# `tcpferry tswatch` on both its devices and counts PAWS drops with nstat.
#
# A connection's clock offset is random, from its addresses and, on kernels
# with 'tcp: secure_seq: add back ports to TS offset' (stable updates of
# 2026; Debian's 6.1 since 6.1.192), its ports: without it every connection
# between two addresses has the same offset all boot long.  So the nofixup
# case retries the peer's connection from a fresh source address each time
# until its clock is ahead of the bare clock: then a socket on the bare
# clock is certainly behind.
#
# Cases:
#   fixup      timestamps on: no PAWS drop, no tswatch regression, ping goes on
#   nofixup    restore --no-ts-fixup (the socket keeps the bare host clock):
#              PAWS drops and a tswatch regression -- the check can fail.
#   paced      the app paces (SO_MAX_PACING_RATE, 4 bytes/s): after its first
#              10 segments each 18-byte echo waits 4.5 s for its departure
#              time, and the ACKs it sends meanwhile carry that future time;
#              the dump (2 s in) finds the recorder's wire tsval ahead of
#              TCP_TIMESTAMP, and the migration still has no PAWS drop
#   usec       A's route to B has `features tcp_usec_ts`: the image's clock has
#              the usec flag and the restored socket (on C, whose route has no
#              such feature) still sends microsecond tsvals
#   tsoff      net.ipv4.tcp_timestamps=0 on A: no option, nothing recorded,
#              the migration works
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd nstat python3

plan 38

PEER=198.18.0.2

# ---- hosts -------------------------------------------------------------------

# make_trio LABEL: $NA $NB $NC; A-veth0 198.18.0.1 <-> B-veth0 198.18.0.2,
# C-veth0 198.18.1.1 <-> B-veth1 198.18.1.2.  A bpffs per host.
make_trio() {
	local l=$1
	NA=${RUN_ID}${l}a NB=${RUN_ID}${l}b NC=${RUN_ID}${l}c
	make_ns "$NA"
	make_ns "$NB"
	make_ns "$NC"
	ip link add "${RUN_ID}${l}x" netns "$NA" type veth peer name "${RUN_ID}${l}y" netns "$NB" ||
		bail_out "cannot create veth pair"
	ip link add "${RUN_ID}${l}z" netns "$NC" type veth peer name "${RUN_ID}${l}w" netns "$NB" ||
		bail_out "cannot create veth pair"
	ip -n "$NA" link set "${RUN_ID}${l}x" name veth0
	ip -n "$NB" link set "${RUN_ID}${l}y" name veth0
	ip -n "$NC" link set "${RUN_ID}${l}z" name veth0
	ip -n "$NB" link set "${RUN_ID}${l}w" name veth1
	ip -n "$NA" addr add 198.18.0.1/24 dev veth0
	ip -n "$NB" addr add 198.18.0.2/24 dev veth0
	ip -n "$NC" addr add 198.18.1.1/24 dev veth0
	ip -n "$NB" addr add 198.18.1.2/24 dev veth1
	for ns in "$NA" "$NB" "$NC"; do
		ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
		for d in veth0 veth1; do
			ip -n "$ns" link show "$d" >/dev/null 2>&1 || continue
			ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$d.rp_filter=0"
			ip -n "$ns" link set "$d" up
		done
	done
	# B's addresses: PEER, and the fresh sources of NEED_AHEAD's tries
	ip -n "$NC" route add 198.18.0.0/24 via 198.18.1.2 dev veth0
	mkdir -p "$BPFFS/$l"
}

tfa() { in_ns "$NA" "$TF" --bpffs "$BPFFS/$L/a" "$@"; }
tfb() { in_ns "$NB" "$TF" --bpffs "$BPFFS/$L/b" "$@"; }

# add_svc: the app's address on A, and B's route to it through A.
add_svc() {
	SVC=198.18.9.1
	ip -n "$NA" addr add "$SVC/32" dev lo
	ip -n "$NB" route add "$SVC/32" via 198.18.0.1 dev veth0
}

# conn_clock_ahead PORT: how far (ms, signed) the app's clock for the peer's
# current connection to SVC:PORT runs ahead of the bare TCP clock: the
# largest tsval B received from it minus CLOCK_MONOTONIC.  The kernel gives
# each connection a random offset (see the top), so this can only be read
# once the connection exists.
conn_clock_ahead() {
	local me
	me=$(in_ns "$NB" ss -tnH state established dst "$SVC:$1" | awk '{print $3}' | head -1)
	[ -n "$me" ] || { echo 0; return; }
	tfb -j tswatch --list --local "$me" --peer "$SVC:$1" | python3 -c '
import json, sys, time
c = json.load(sys.stdin)["connections"]
if not c or c[0]["in_max"] is None:
    print(0)
else:
    d = (c[0]["in_max"] - int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1000)) % 2**32
    print(d - 2**32 if d >= 2**31 else d)'
}

# route_usec NS DST DEV: a /32 route with RTAX_FEATURE_TCP_USEC_TS (Debian 12's
# iproute2 6.1 only knows `features ecn`, so the rtnetlink request is made here).
route_usec() {
	in_ns "$1" python3 - "$2" "$3" <<'EOF'
import socket, struct, sys
dst, dev = sys.argv[1], sys.argv[2]
def rta(t, data):
    l = 4 + len(data)
    return struct.pack("=HH", l, t) + data + b"\0" * ((4 - l % 4) % 4)
metrics = rta(12, struct.pack("=I", 1 << 4))          # RTAX_FEATURES: TCP_USEC_TS
body = struct.pack("=BBBBBBBBI", socket.AF_INET, 32, 0, 0, 254, 3, 253, 1, 0)
body += rta(1, socket.inet_aton(dst)) + rta(4, struct.pack("=i", socket.if_nametoindex(dev)))
body += rta(8 | 0x8000, metrics)                         # RTA_METRICS, nested
msg = struct.pack("=IHHII", 16 + len(body), 24, 1 | 4 | 0x400 | 0x200, 1, 0) + body
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
s.send(msg)
err = struct.unpack("=i", s.recv(4096)[16:20])[0]
sys.exit(0 if err == 0 else 1)
EOF
}

json_field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

# ---- one migration -------------------------------------------------------------

# migrate LABEL PORT [restore options...]: sets RC_TSWATCH, PAWS, IMG, TSW (tswatch JSON), PING_RC,
# PING_LOCAL (the peer's end of the migrated connection)
migrate() {
	local l=$1 port=$2
	shift 2
	local dir=$TMP/img-$l app ping tsw rest
	L=$l

	tfa tswatch --attach veth0 2>/dev/null || diag "$l: recorder on A failed"
	spawn "$NA" "$TMP/app-$l.out" "$HELPERS/tf-stream" echo "$SVC" "$port" ${PACING:+--pacing-rate "$PACING"}
	app=$SPAWNED
	TSW=$TMP/tsw-$l.json
	ip netns exec "$NB" "$TF" --bpffs "$BPFFS/$l/b" -j tswatch veth0 veth1 --quiet --peer "$SVC:$port" \
		>"$TSW" 2>"$TMP/tsw-$l.err" &
	tsw=$!
	at_exit "kill -9 $tsw"
	wait_for 10 grep -qs watching "$TMP/tsw-$l.err" || diag "$l: tswatch: $(cat "$TMP/tsw-$l.err")"
	# With NEED_AHEAD: a connection whose clock runs ahead of the bare clock
	# (a new ping from a new source address, hence a new offset, until one
	# does: 1 in 2).  A new port alone gives the same offset on older kernels.
	for try in $(seq 1 20); do
		if [ -n "${NEED_AHEAD:-}" ]; then
			ip -n "$NB" addr add "198.18.0.$((100 + try))/32" dev veth0
			ip -n "$NB" route replace "$SVC/32" via 198.18.0.1 dev veth0 src "198.18.0.$((100 + try))"
		fi
		spawn "$NB" "$TMP/ping-$l.out" "$HELPERS/tf-stream" ping "$SVC" "$port" --seconds 3 --until-usr1 1
		ping=$SPAWNED
		sleep 2
		[ -z "${NEED_AHEAD:-}" ] && break
		ahead=$(conn_clock_ahead "$port")
		note "$l: try $try: the connection's clock is $ahead ms ahead of the bare clock"
		[ "$ahead" -gt 60000 ] && break
		kill -9 "$ping"
		wait "$ping" 2>/dev/null
	done
	PING_LOCAL=$(in_ns "$NB" ss -tnH state established dst "$SVC:$port" | awk '{print $3}' | head -1)

	IMG=$dir/conn-0001.tfc
	tfa dump --pid "$app" --out "$dir" --kill >/dev/null 2>"$TMP/dump-$l.err" || diag "$l: dump: $(cat "$TMP/dump-$l.err")"
	kill -9 "$app" 2>/dev/null	# gone already after a successful dump --kill
	wait "$app" 2>/dev/null
	ip -n "$NA" addr del "$SVC/32" dev lo
	ip -n "$NC" addr add "$SVC/32" dev lo
	# C locked before the route points at it, as an orchestrator does (the
	# restore adopts the lock): a retransmit reaching C before the restore
	# has locked would meet an RST.
	in_ns "$NC" "$TF" --bpffs "$BPFFS/$l/c" attach veth0 >/dev/null
	in_ns "$NC" "$TF" --bpffs "$BPFFS/$l/c" lock add "$SVC:$port" "$PING_LOCAL" --ttl 60 >/dev/null 2>&1 ||
		diag "$l: lock add on C failed"
	ip -n "$NB" route replace "$SVC/32" via 198.18.1.1 dev veth1
	spawn "$NC" "$TMP/rest-$l.out" "$TF" --bpffs "$BPFFS/$l/c" -v restore --in "$dir" "$@" -- \
		"$HELPERS/tf-stream" echo-continue
	rest=$SPAWNED
	# The pings go on until the restore is done (its program runs, or it
	# failed), and 3 s more: however slow the dump and restore (under TCG),
	# they must cross the move.
	wait_for 60 sh -c "[ \"\$(cat /proc/$rest/comm 2>/dev/null)\" != tcpferry ]" ||
		diag "$l: the restore is still running after 60 s"
	[ -n "${USEC_PROBE:-}" ] && { sleep 1; $USEC_PROBE; }	# while the pings still flow
	kill -USR1 "$ping" 2>/dev/null

	if wait_for 20 sh -c "! kill -0 $ping 2>/dev/null"; then
		wait "$ping"
		PING_RC=$?
	else
		PING_RC=timeout
	fi
	kill -INT "$tsw"
	wait "$tsw"
	RC_TSWATCH=$?
	PAWS=$(($(nstat_get "$NB" TcpExtPAWSEstab) + $(nstat_get "$NB" TcpExtPAWSOldAck)))
	note "$l: ping: $(tail -1 "$TMP/ping-$l.out"); restore: $(grep -h TCP_TIMESTAMP "$TMP/rest-$l.out")"
	note "$l: tswatch exit $RC_TSWATCH, PAWS drops at the peer: $PAWS"
}

make_bpffs

# ---- timestamps on, with the fix-up ---------------------------------------------
make_trio fx
add_svc
# NEED_AHEAD: the bare clock on C is behind the connection's, so that the
# fix-up, not the luck of the offsets, is what keeps the tsvals going forward.
NEED_AHEAD=1 migrate fx 7001
is "$PING_RC" 0 "fixup: the peer's pings went on across the migration"
is "$PAWS" 0 "fixup: no PAWSEstab/PAWSOldAck at the peer"
is "$RC_TSWATCH" 0 "fixup: tswatch saw no regression (exit 0)"
is "$(json_field "$TSW" 'd["regressions"]')" 0 "fixup: tswatch -j counts 0 regressions"
is "$(json_field "$TSW" "sum(1 for c in d['connections'] if c['local'] == '$PING_LOCAL')")" 1 \
	"fixup: tswatch followed the connection ($PING_LOCAL)"
# A never sent a tsval at or above the TCP_TIMESTAMP the restore chose (the
# wire tsval and A's clock at the dump, plus the time since and a margin):
# B's largest tsval from SVC is at or above it only if C's socket reached B.
chosen=$(sed -n 's/.*TCP_TIMESTAMP \([0-9]*\) .*/\1/p' "$TMP/rest-fx.out" | head -1)
in_max=$(json_field "$TSW" "[c['in_max'] for c in d['connections'] if c['local'] == '$PING_LOCAL'][0]")
ok "fixup: tswatch saw the restored side's tsvals after the move (B's in_max $in_max, restored from ${chosen:-none})" \
	test -n "$chosen" -a $(((in_max - ${chosen:-0}) & 0x80000000)) = 0
ok "fixup: the image holds the wire tsval from A's recorder" \
	test "$("$TF" -j show "$IMG" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ts_wire"] is not None)')" = True
ok "restore -j/-v prints the TCP_TIMESTAMP chosen" grep -q "TCP_TIMESTAMP [0-9]* (dumped clock" "$TMP/rest-fx.out"
# Bit 0 of a ms clock before 6.7 is the clock's own: read as the usec flag,
# it added the elapsed time in us to a ms clock (seconds became hours).
is "$("$TF" -j show "$IMG" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ts_usec"])')" False \
	"fixup: the image says ms timestamps (no route here has usec ones)"
step=$("$TF" -j show "$IMG" | python3 -c '
import json, sys
d = json.load(sys.stdin)
base = d["ts_clock"]
w = d["ts_wire"]
if w is not None and (w - base) % 2**32 < 2**31:
    base = w
print(((int(sys.argv[1]) - base + 2**31) % 2**32) - 2**31)' "${chosen:-0}")
ok "fixup: the value chosen is max(wire, clock) plus the time since the dump, in ms (+$step)" \
	test "$step" -ge 0 -a "$step" -lt 60000
is "$("$TF" -j show "$IMG" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ts_restored"]["ts"])')" "$chosen" \
	"show -j: ts_restored is the TCP_TIMESTAMP the restore set (from restore.log)"
ok "show: prints the value restored and its offset from C's clock" \
	sh -c "'$TF' show '$IMG' | grep -q 'ts restored  $chosen at .* offset [-+][0-9]* from that host'"
is "$(stat -c %a "$(dirname "$IMG")/restore.log")" 600 "restore.log is created 0600"

# ---- the same without the fix-up: the check must fail -------------------------------
make_trio nf
add_svc
NEED_AHEAD=1 migrate nf 7002 --no-ts-fixup
ok "nofixup: the peer counted PAWS drops ($PAWS)" test "$PAWS" -gt 0
is "$RC_TSWATCH" 3 "nofixup: tswatch exits 3 (a regression was seen)"
ok "nofixup: tswatch -j reports the regression with both tsvals" \
	test "$(json_field "$TSW" 'sum(1 for e in d["events"] if e["kind"] == "regression" and e["dir"] == "in" and e["delta"] < 0)')" -ge 1
ok "nofixup: the peer's pings stalled" test "$PING_RC" != 0

# ---- a paced flow: the wire is ahead of the clock -----------------------------------
make_trio pc
add_svc
PACING=4 migrate pc 7003
ahead=$("$TF" -j show "$IMG" | python3 -c '
import json, sys
d = json.load(sys.stdin)
w = d["ts_wire"]
print(-1 if w is None else ((w - d["ts_clock"] + 2**31) % 2**32) - 2**31)')
note "paced: wire tsval - dumped clock = $ahead ms"
ok "paced: the recorder caught a wire tsval ahead of TCP_TIMESTAMP (+$ahead ms)" test "$ahead" -gt 0
ok "paced: the restore started at or above the wire tsval" \
	python3 -c '
import json, re, subprocess, sys
d = json.loads(subprocess.check_output([sys.argv[1], "-j", "show", sys.argv[2]]))
m = re.search(r"TCP_TIMESTAMP (\d+)", open(sys.argv[3]).read())
v = int(m.group(1))
sys.exit(0 if d["ts_wire"] is None or (v - d["ts_wire"]) % 2**32 < 2**31 else 1)' "$TF" "$IMG" "$TMP/rest-pc.out"
is "$PING_RC" 0 "paced: the peer's pings went on"
is "$PAWS" 0 "paced: no PAWS drop at the peer"
is "$RC_TSWATCH" 0 "paced: tswatch saw no regression"
PACING=

# ---- usec timestamps ------------------------------------------------------------------
make_trio us
add_svc
# tcpferry check says whether this kernel has them; a kernel that has them
# but refuses the route fails the case, it does not skip it.
usec_ok=
kernel_has "TCP_TIMESTAMP usec" && usec_ok=1
if [ -n "$usec_ok" ] && route_usec "$NA" "$PEER" veth0; then
	# After the move: how fast the restored side's tsvals advance at the peer.
	usec_rate() {
		local a b
		a=$(tfb -j tswatch --list --peer "$SVC:7004" | python3 -c 'import json,sys; print(json.load(sys.stdin)["connections"][0]["in_max"])')
		sleep 1
		b=$(tfb -j tswatch --list --peer "$SVC:7004" | python3 -c 'import json,sys; print(json.load(sys.stdin)["connections"][0]["in_max"])')
		USEC_STEP=$(((b - a) & 0xffffffff))
	}
	USEC_STEP=0
	USEC_PROBE=usec_rate migrate us 7004
	USEC_PROBE=
	is "$("$TF" -j show "$IMG" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ts_usec"])')" True \
		"usec: the image's clock has the usec flag"
	ok "usec: the restored socket's TCP_TIMESTAMP keeps bit 0" \
		python3 -c 'import re,sys; sys.exit(0 if int(re.search(r"TCP_TIMESTAMP (\d+)", open(sys.argv[1]).read()).group(1)) & 1 else 1)' "$TMP/rest-us.out"
	ok "usec: after the move the peer sees tsvals advance ~1e6 a second ($USEC_STEP)" test "$USEC_STEP" -gt 100000
	is "$PING_RC" 0 "usec: the peer's pings went on"
	is "$PAWS" 0 "usec: no PAWS drop at the peer"
	is "$RC_TSWATCH" 0 "usec: tswatch saw no regression"
else
	for t in "image usec flag" "bit 0 kept" "usec rate" "pings" "PAWS" "tswatch"; do
		if [ -n "$usec_ok" ]; then
			ok "usec: $t (the kernel has usec timestamps, but refused a route with features tcp_usec_ts)" false
		else
			skip "usec TCP timestamps (TCP_TIMESTAMP usec, RTAX_FEATURE_TCP_USEC_TS) need Linux 6.7" "usec: $t"
		fi
	done
fi

# ---- timestamps off -------------------------------------------------------------------
make_trio to
add_svc
in_ns "$NA" sysctl -qw net.ipv4.tcp_timestamps=0
migrate to 7005
is "$PING_RC" 0 "tsoff: the peer's pings went on across the migration"
is "$("$TF" -j show "$IMG" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ts_wire"])')" None \
	"tsoff: the image has no wire tsval"
# Only the peer's SYN carries the option (A answered without it): A never sent a
# tsval, and B never received one.
is "$(tfa -j tswatch --list --local "$SVC:7005" | python3 -c 'import json,sys; print([c["out_max"] for c in json.load(sys.stdin)["connections"]])')" "[None]" \
	"tsoff: A's recorder recorded no tsval sent by A"
is "$(json_field "$TSW" '[c["in_max"] for c in d["connections"]]')" "[None]" "tsoff: B's recorder saw no tsval from A (or C)"
is "$PAWS" 0 "tsoff: no PAWS drop"
is "$RC_TSWATCH" 0 "tsoff: tswatch exit 0"

# ---- cleanup checks -----------------------------------------------------------------------
ok "tswatch removed the recorder it attached on B" test ! -e "$BPFFS/to/b/tsval-links/$(in_ns "$NB" stat -Lc %i /proc/self/ns/net)/veth0-out"
ok "bpftool dumps A's tsval map by field name" sh -c "bpftool map dump pinned '$BPFFS/fx/a/tsvals' | grep -q out_max"
ok "tswatch --help" quietly "$TF" tswatch --help
tfa tswatch --detach veth0 >/dev/null 2>&1
ok "tswatch --detach removed A's recorder links" test -z "$(ls "$BPFFS/to/a/tsval-links" 2>/dev/null)"

done_testing
