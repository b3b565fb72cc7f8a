#!/usr/bin/env bash
# A backend of `tcpferry balance` dies under load.  The hand-off lab
# (tests/helpers/handofflab.sh), one pool of two backends, round robin:
#
#   b1   busybox httpd -i (receive --serve --each); l2
#   b2   the same, its own files (same names, other bytes); l3
#
# Six slow downloads (4 MB at 400 KB/s) are handed off, three to each; a
# loop of small fetches runs beside them.  Then b2 dies as a host does: its
# link goes down first (no packet from it again, no RST), then every process
# in it is killed (its channel's `receive --serve` among them).  The balancer
# sees the channel break and says so; from then on every new connection goes
# to b1, served byte-exact; the three downloads handed to b1 before are not
# touched (complete, byte-exact), nor is any small fetch but those b2 was
# serving when it died; no client connection is reset.  Then the frontend
# dies (kill -9) with two downloads handed off, on a unix: channel to b1's
# `receive --serve --listen-unix`: they complete, byte-exact.  Last, a
# backend host goes silent (frozen): the channel's heartbeat finds it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/handofflab.sh"
need_root
need_built
need_cmd curl busybox jq nstat

B1_ADDR=198.18.20.11
B2_ADDR=198.18.20.12
B1_ADDR6=fd00:7466:20::11
B2_ADDR6=fd00:7466:20::12
PORT=7280
SLOW=6

plan 20

hol_make2

mkdir -p "$TMP/root1" "$TMP/root2"
for r in 1 2; do
	head -c $((4 * 1024 * 1024)) /dev/urandom >"$TMP/root$r/big"
	head -c 50000 /dev/urandom >"$TMP/root$r/small"
done
cat >"$TMP/balance.conf" <<EOF
backend b1 addr $B1_ADDR mode l2 via ip netns exec $NS_B1 $TF receive --serve --output $TMP/b1.log --each -- busybox httpd -i -h $TMP/root1
backend b2 addr $B2_ADDR mode l3 via test ! -e $TMP/b2-dead && exec ip netns exec $NS_B2 $TF receive --serve --output $TMP/b2.log --each -- busybox httpd -i -h $TMP/root2
pool both roundrobin b1 b2
default pool both
EOF
ok "balance says ready" hol_balance bal --threads 1 --config "$TMP/balance.conf" --listen "$VIP:$PORT"
BAL=$BAL_PID

URL="http://$VIP:$PORT"
# Which backend's bytes a fetched file is: b1, b2, or "bad".
whose() {
	if cmp -s "$1" "$TMP/root1/$2"; then echo b1; elif cmp -s "$1" "$TMP/root2/$2"; then echo b2; else echo bad; fi
}
for i in $(seq $SLOW); do
	in_ns "$NS_C" curl -sS --max-time 40 --limit-rate 400k -o "$TMP/slow.$i" "$URL/big" 2>"$TMP/slow.$i.err" &
	echo $! >"$TMP/slow.$i.pid"
	at_exit "kill -9 $! 2>/dev/null"
	sleep 0.1
done
# The small fetches beside them, each one's curl status and whose bytes, until told to stop.
(
	n=0
	while [ ! -e "$TMP/stop-small" ]; do
		n=$((n + 1))
		in_ns "$NS_C" curl -sS --max-time 10 -o "$TMP/small.$n" "$URL/small" 2>>"$TMP/small.err"
		echo "$n $? $(whose "$TMP/small.$n" small)" >>"$TMP/small.log"
	done
) &
LOOP=$!
at_exit "kill -9 $LOOP 2>/dev/null"
sleep 2
ok "the slow downloads and the small fetches are under way" \
	test "$(jq '.backends | map(.handed_off) | add' <<<"$("$TF" balance status -j --status-socket "$TMP/bal.sock")")" -ge $((SLOW + 2))

# b2 dies: the link first (a dead host sends nothing, not even an RST), then its processes.
touch "$TMP/b2-dead"	# its channel's command fails from now on: the host is gone
ip -n "$NS_B2" link set eth0 down
kill -9 $(ip netns pids "$NS_B2") 2>/dev/null
wait_for 10 grep -q "backend b2: its channel is down" "$TMP/bal.err"
ok "the balancer sees b2's channel break, and says so" grep -q "backend b2: its channel is down" "$TMP/bal.err"

sleep 1
touch "$TMP/stop-small"
wait "$LOOP"
before=$(wc -l <"$TMP/small.log")
bad=0
for i in $(seq 10); do
	rm -f "$TMP/after"
	in_ns "$NS_C" curl -sS --max-time 10 -o "$TMP/after" "$URL/small" && [ "$(whose "$TMP/after" small)" = b1 ] ||
		bad=$((bad + 1))
done
is "$bad" 0 "ten new connections after it: all served by b1, byte-exact"
note "small fetches while b2 died: $before, $(awk '$2 != 0 || $3 == "bad"' "$TMP/small.log" | wc -l) of them failed ($(awk '{print $3}' "$TMP/small.log" | sort | uniq -c | tr '\n' ' '))"
# A fetch that failed was b2's when it died: what it got is the start of b2's file.
failed=0 foreign=0
while read -r n rc who; do
	[ "$rc" = 0 ] && [ "$who" != bad ] && continue
	failed=$((failed + 1))
	size=$(stat -c %s "$TMP/small.$n" 2>/dev/null || echo 0)
	cmp -s -n "$size" "$TMP/small.$n" "$TMP/root2/small" && [ "$size" -gt 0 ] || foreign=$((foreign + 1))
done <"$TMP/small.log"
[ "$foreign" = 0 ] || diag "$(grep -v ' 0 b[12]$' "$TMP/small.log"; cat "$TMP/small.err"; grep -v "handed off to" "$TMP/bal.err")"
is "$foreign" 0 "  no small fetch failed but one that b2 was serving when it died ($failed of those)"

# The downloads: those b1 had are whole; those b2 had died with it.
b1_slow=()
for i in $(seq $SLOW); do
	# A download on b1 ends by itself (4 MB at 400 KB/s: ~11 s); one on b2 hangs until --max-time.
	pid=$(cat "$TMP/slow.$i.pid")
	for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; [ "$(stat -c %s "$TMP/slow.$i" 2>/dev/null)" = $((4 * 1024 * 1024)) ] && break; done
done
sleep 1
for i in $(seq $SLOW); do
	[ "$(whose "$TMP/slow.$i" big)" = b1 ] && b1_slow+=("$i")
done
is "${#b1_slow[@]}" $((SLOW / 2)) "the downloads b1 had ($((SLOW / 2)), round robin) completed, byte-exact"
is "$(nstat_get "$NS_C" TcpEstabResets) $(nstat_get "$NS_C" TcpOutRsts)" "0 0" \
	"no client connection was reset (those on b2 only wait: it sends nothing)"

"$TF" balance status -j --status-socket "$TMP/bal.sock" >"$TMP/status.json"
is "$(jq -c '[.backends[] | [.name, .up]]' "$TMP/status.json")" '[["b1",true],["b2",false]]' "status: b1 up, b2 down"
is "$(jq '.listener.no_backend' "$TMP/status.json")" 0 "  no client got a 503"
for i in $(seq $SLOW); do kill -9 "$(cat "$TMP/slow.$i.pid")" 2>/dev/null; done
kill -TERM "$BAL"
wait "$BAL"
is "$?" 0 "SIGTERM: balance exits 0"
ok "  it counted the hand-offs to b2 that its death took back as refused and retried, none in doubt" \
	grep -q "^backend b2 down submitted [0-9]* handed_off [0-9]* refused [0-9]* submit_failed [0-9]* in_doubt 0" "$TMP/bal.out" ||
	diag "$(cat "$TMP/bal.out")"

# The frontend dies instead (kill -9): what it handed off already lives on,
# in the backend's sockets and the steers it left in the kernel.  This
# balancer reaches b1 on one machine's way: a unix socket (via unix:PATH) of
# a `receive --serve --listen-unix` in b1's namespace.
spawn "$NS_B1" "$TMP/b1unix.err" "$TF" receive --serve --listen-unix "$TMP/b1.sock" --output "$TMP/b1unix.log" \
	--each -- busybox httpd -i -h "$TMP/root1"
B1UNIX=$!
at_exit "kill -9 $B1UNIX 2>/dev/null"
wait_for 10 test -S "$TMP/b1.sock"
is "$(stat -c %a "$TMP/b1.sock" 2>/dev/null)" 600 "receive --serve --listen-unix: its socket is there, mode 0600"
hol_balance bal2 --threads 1 --rule "backend b1 addr $B1_ADDR mode l2 via unix:$TMP/b1.sock" \
	--rule 'pool b1only roundrobin b1' --rule 'default pool b1only' --listen "$VIP:$PORT"
BAL2=$BAL_PID
for i in 1 2; do
	rm -f "$TMP/late.$i"
	in_ns "$NS_C" curl -sS --max-time 40 --limit-rate 400k -o "$TMP/late.$i" "$URL/big" 2>"$TMP/late.$i.err" &
	eval "LATE$i=\$!"
	at_exit "kill -9 $! 2>/dev/null"
done
wait_for 10 sh -c "[ \"\$(\"$TF\" balance status -j --status-socket $TMP/bal2.sock | jq .listener.handed_off)\" = 2 ]"
sleep 1
kill -9 "$BAL2"
wait "$BAL2" 2>/dev/null
wait "$LATE1" "$LATE2"
ok "the frontend killed mid-download: both downloads it handed to b1 complete, byte-exact" \
	sh -c "cmp -s $TMP/late.1 $TMP/root1/big && cmp -s $TMP/late.2 $TMP/root1/big"
is "$(nstat_get "$NS_C" TcpEstabResets) $(nstat_get "$NS_C" TcpOutRsts)" "0 0" "  no client connection was reset"
kill -TERM "$B1UNIX"
wait "$B1UNIX"
is "$?" 0 "receive --listen-unix: SIGTERM ends it with 0"
ok "  and removes its socket" test ! -e "$TMP/b1.sock"

# A backend host that goes silent without closing its channel (frozen: every
# process in it stopped, as a hung host or ssh session would be): the
# channel's heartbeat finds it (a ping on the quiet channel, no answer
# within the 2 s deadline), and it takes no hand-off until it answers again.
hol_balance bal3 --threads 1 --rule "$(sed -n 1p "$TMP/balance.conf")" \
	--rule 'pool b1only roundrobin b1' --rule 'default pool b1only' --listen "$VIP:$PORT"
BAL3=$BAL_PID
frozen=$(ip netns pids "$NS_B1")
at_exit "kill -CONT $frozen 2>/dev/null"
kill -STOP $frozen
t0=$(date +%s%N)
wait_for 10 grep -q "backend b1: its channel is down (no answer to a heartbeat" "$TMP/bal3.err"
ok "b1 frozen: the heartbeat finds its channel silent, and says so" \
	grep -q "backend b1: its channel is down (no answer to a heartbeat within 2000 ms" "$TMP/bal3.err" ||
	diag "$(cat "$TMP/bal3.err")"
note "found silent after $((($(date +%s%N) - t0) / 1000000)) ms (a ping after 1 s of quiet, 2 s for its answer, polled once a second)"
is "$(in_ns "$NS_C" curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$URL/small")" 503 \
	"  a new connection meanwhile gets 503 at once (b1 alone in its pool), not a wait"
kill -CONT $frozen
wait_for 12 grep -q "backend b1: its channel is open again" "$TMP/bal3.err"
rm -f "$TMP/again"
ok "  once it answers again its channel is opened again, and it serves, byte-exact" \
	sh -c "ip netns exec $NS_C curl -sS --max-time 10 -o $TMP/again $URL/small && cmp -s $TMP/again $TMP/root1/small"
kill -TERM "$BAL3"
wait "$BAL3"
is "$?" 0 "  SIGTERM: balance exits 0"
done_testing
