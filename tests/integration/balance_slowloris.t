#!/usr/bin/env bash
# `tcpferry balance` under a slowloris attack, on the hand-off lab
# (tests/helpers/handofflab.sh): 10,000 slow clients (tests/helpers/
# tf-slowloris.c: each sends an HTTP head a few bytes at a time and never
# ends it) wait in the balancer's two loops (--threads 2) for their first
# request, and meanwhile a fast client (curl) through the same VIP gets its
# file from the backend (busybox httpd -i, l2):
#
#   start       ready; a second balancer on the address is refused; one
#               without --threads has a loop a CPU of its mask (taskset: 1)
#   baseline    20 fetches without the slow clients: byte-exact, their time
#               to first byte; the hand-offs land from both loops
#   attack      10,000 slow clients connected, all pending (both loops hold
#               some: SO_REUSEPORT spread them)
#   fast        5 fetches while they are all pending: byte-exact, each one's
#               time to first byte under max(1 s, 10 x the baseline's median)
#               (a loop that waited even 1 ms on each slow client's segment
#               took 4.9 s for the first: its clients' segments queue up)
#   timeout     every slow client gets 408 at --request-timeout-ms, and the
#               counters say so (status_408, pending 0)
#
# No connection of the client namespace is reset (TcpEstabResets: the fast
# client's and the slow ones'), the frontend sends no RST, and on SIGTERM
# the balancer exits 0 with the sums of both loops.  SLOW=N runs another
# count.  The limits it needs are checked in its own namespaces (the client's
# ephemeral ports: several source addresses when one has too few; the
# frontend's accept and SYN backlogs) and its own processes (open files).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/handofflab.sh"
need_root
need_built
need_cmd curl busybox jq nstat

SLOW=${SLOW:-10000}
FAST=5
BASE=20
LOOPS=2
TIMEOUT_MS=15000
PORT=7202
B1_ADDR=198.18.20.11
B1_ADDR6=fd00:7466:20::11

# Open files: the balancer and the helper each hold one a slow client.  This
# shell's limit is what both inherit (it raises no other process's).
want=$((SLOW + 1000))
[ "$(ulimit -Hn)" -ge $want ] || ulimit -Hn $want 2>/dev/null ||
	skip_all "$SLOW slow clients need $want open files; the hard limit is $(ulimit -Hn) (ulimit -Hn)"
ulimit -Sn "$(ulimit -Hn)"

plan 24

t_start=$(date +%s.%N)
hol_make
NS_B1=${RUN_ID}b1
hol_backend "$NS_B1" $B1_ADDR $B1_ADDR6
make_bpffs

# The client's ephemeral ports (its own namespace): one source address holds
# half its range to one VIP:port at the most (connect prefers even ports),
# so the slow clients come from as many addresses as that takes (at least 2).
read -r lo hi < <(in_ns "$NS_C" sysctl -n net.ipv4.ip_local_port_range)
per=$(((hi - lo + 1) / 2))
n_src=$(((SLOW + per - 1) / per))
[ $n_src -ge 2 ] || n_src=2
from=
for ((i = 0; i < n_src; i++)); do
	a=198.18.20.$((40 + i))
	ip -n "$NS_C" addr add "$a/24" dev eth0
	from=${from:+$from,}$a
done
# The frontend's backlogs (its own namespace) bound the connects in flight.
somaxconn=$(in_ns "$NS_F" sysctl -n net.core.somaxconn)
synq=$(in_ns "$NS_F" sysctl -n net.ipv4.tcp_max_syn_backlog)
batch=256
[ "$somaxconn" -ge $batch ] || batch=$somaxconn
[ "$synq" -ge $batch ] || batch=$synq
note "client ports $lo-$hi: $SLOW slow clients from $n_src addresses ($from); frontend somaxconn $somaxconn," \
	"tcp_max_syn_backlog $synq: $batch connects in flight; open files $(ulimit -n)"

mkdir -p "$TMP/root/fast"
head -c $((1024 * 1024)) /dev/urandom >"$TMP/root/fast/file"

backend="backend b1 addr $B1_ADDR mode l2 via ip netns exec $NS_B1 $TF receive --serve --output $TMP/b1.log --each -- busybox httpd -i -h $TMP/root"
hol_balance bal --rule "$backend" --rule 'pool web roundrobin b1' --rule 'default pool web' \
	--listen "$VIP:$PORT" --threads $LOOPS --request-timeout-ms $TIMEOUT_MS || true
ok "balance --threads $LOOPS says ready once its loops listen" has_line "$TMP/bal.out" '^ready$' "$TMP/bal.err"
ok "a second balancer on the same address is refused (not taken into the SO_REUSEPORT group)" \
	expect_error 1 "listen $VIP:$PORT: .*another balancer or server listens there" \
	ip netns exec "$NS_F" "$TF" --bpffs "$BPFFS/f" balance --threads 1 --listen "$VIP:$PORT" \
	--rule "$backend" --rule 'pool web roundrobin b1' --rule 'default pool web' --status-socket "$TMP/status2.sock"
# Without --threads: a loop a CPU of its affinity mask (one, by taskset), on another port.
ip netns exec "$NS_F" taskset -c 0 "$TF" --bpffs "$BPFFS/f" balance --listen "$VIP:$((PORT + 1))" \
	--rule "$backend" --rule 'pool web roundrobin b1' --rule 'default pool web' --status-socket "$TMP/status1.sock" \
	>"$TMP/bal1.out" 2>&1 &
BAL1=$!
at_exit "kill -9 $BAL1"
wait_for 30 grep -qsx ready "$TMP/bal1.out"
is "$("$TF" balance status -j --status-socket "$TMP/status1.sock" | jq -c '[.threads, (.loops | length)]')" "[1,1]" \
	"without --threads, a loop a CPU of its affinity mask (taskset -c 0: one)"
kill -TERM $BAL1
wait $BAL1

status() { "$TF" balance status -j --status-socket "$TMP/bal.sock"; }
# fetch OUT: the file through the VIP; prints its time to first byte (s).
fetch() {
	rm -f "$1"
	in_ns "$NS_C" curl -sS --max-time 60 -o "$1" -w '%{time_starttransfer}\n' "http://$VIP:$PORT/fast/file"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Baseline: no slow client.
: >"$TMP/base.times"
bad=0
for ((i = 0; i < BASE; i++)); do
	fetch "$TMP/got" >>"$TMP/base.times" && cmp -s "$TMP/got" "$TMP/root/fast/file" || bad=$((bad + 1))
done
is $bad 0 "baseline: $BASE fetches through the VIP, each byte-exact"
base=$(median <"$TMP/base.times")
bound=$(awk -v b="$base" 'BEGIN { print (10 * b > 1) ? 10 * b : 1 }')
note "baseline time to first byte: median $base s, max $(sort -g "$TMP/base.times" | tail -1) s; the bound: $bound s"
status >"$TMP/status0.json"
is "$(jq -c '[.threads, .listener.handed_off, ([.loops[] | select(.handed_off > 0)] | length)]' "$TMP/status0.json")" \
	"[$LOOPS,$BASE,$LOOPS]" "  $BASE handed off, from both loops"
note "each loop's share: $(jq -c '.loops' "$TMP/status0.json")"

# The attack.
t0=$(date +%s.%N)
spawn "$NS_C" "$TMP/slow.out" "$HELPERS/tf-slowloris" --to "$VIP:$PORT" --count $SLOW --from "$from" \
	--batch $batch --every-ms 1000 --bytes 2
SLOWPID=$SPAWNED
wait_for 120 grep -q "^connected [0-9]* failed" "$TMP/slow.out"
t1=$(date +%s.%N)
is "$(grep "^connected [0-9]* failed" "$TMP/slow.out")" "connected $SLOW failed 0" "$SLOW slow clients connected"
connect_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
note "they connected in $connect_s s (their request timeout: $((TIMEOUT_MS / 1000)) s)"
pending() { status | jq -r '.listener.pending'; }
wait_for 10 test "$(pending)" = $SLOW
ts=$(date +%s.%N)
status >"$TMP/status1.json"
note "balance status answered in $(awk -v a="$ts" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }') s with them all pending"
is "$(jq -r '.listener.pending' "$TMP/status1.json")" $SLOW "  all $SLOW pending in the balancer"
is "$(jq -c '[.loops[] | select(.pending > 0)] | length' "$TMP/status1.json")" $LOOPS \
	"  in both loops (the kernel spread them)"
note "each loop's share: $(jq -c '.loops' "$TMP/status1.json")"

# The fast client, while they are all pending.
: >"$TMP/fast.times"
bad=0
for ((i = 0; i < FAST; i++)); do
	fetch "$TMP/got" >>"$TMP/fast.times" && cmp -s "$TMP/got" "$TMP/root/fast/file" || bad=$((bad + 1))
done
t2=$(date +%s.%N)
is $bad 0 "with $SLOW slow clients pending: $FAST fetches, each byte-exact"
fast=$(sort -g "$TMP/fast.times" | tail -1)
note "time to first byte with $SLOW slow clients pending: median $(median <"$TMP/fast.times") s, max $fast s" \
	"(each: $(tr '\n' ' ' <"$TMP/fast.times"))"
ok "  each one's time to first byte (the longest: $fast s) is under max(1 s, 10 x the baseline's $base s) = $bound s" \
	awk -v f="$fast" -v b="$bound" 'BEGIN { exit !(f < b) }'
status >"$TMP/status2.json"
is "$(jq -c '[.listener.pending, .listener.status_408, .listener.handed_off]' "$TMP/status2.json")" \
	"[$SLOW,0,$((BASE + FAST))]" "  meanwhile every slow client still waits, none answered; $((BASE + FAST)) handed off"
ok "  the fast fetches ended before the slow clients' timeout (else raise TIMEOUT_MS)" \
	awk -v a="$t0" -v b="$t2" -v t=$TIMEOUT_MS 'BEGIN { exit !((b - a) * 1000 < t) }'

# Their timeout: 408 each, then our FIN; the helper closes after it, and exits once all are closed.
wait_for $((TIMEOUT_MS / 1000 + 60)) grep -q "^connected .* reset" "$TMP/slow.out"
t3=$(date +%s.%N)
note "the slow clients' answers: $(tail -1 "$TMP/slow.out") ($(awk -v a="$t0" -v b="$t3" 'BEGIN { printf "%.1f", b - a }') s after the first connect)"
is "$(grep "reset" "$TMP/slow.out")" "connected $SLOW answered_408 $SLOW answered_other 0 closed 0 reset 0" \
	"each slow client got 408 (and our FIN), none was reset"
wait_for 10 test "$(pending)" = 0
status >"$TMP/status3.json"
is "$(jq -c '[.listener.pending, .listener.status_408, .listener.timeout_closed, .listener.closed_early, .listener.refused_full]' "$TMP/status3.json")" \
	"[0,$SLOW,0,0,0]" "  the counters: none pending, $SLOW answered 408, none closed otherwise"
is "$(jq '[.loops[].accepted] | add' "$TMP/status3.json")" $((SLOW + BASE + FAST)) \
	"  the loops accepted $((SLOW + BASE + FAST)) in all"

bad=0
fetch "$TMP/got" >/dev/null && cmp -s "$TMP/got" "$TMP/root/fast/file" || bad=1
is $bad 0 "after the attack a fetch is byte-exact still"
is "$(nstat_get "$NS_C" TcpEstabResets)" 0 "no connection of the client namespace was reset (fast or slow)"
is "$(nstat_get "$NS_F" TcpOutRsts)" 0 "the frontend sent no RST"

kill -TERM "$BAL"
wait "$BAL"
is "$?" 0 "SIGTERM: balance exits 0"
total=$((SLOW + BASE + FAST + 1))
ok "its counters are both loops' sums: $total accepted, $((BASE + FAST + 1)) handed off, $SLOW answered 408" \
	has_line "$TMP/bal.out" \
	"^accepted $total decided $((BASE + FAST + 1)) handed_off $((BASE + FAST + 1)) no_match 0 no_backend 0 retried 0 status_400 0 status_408 $SLOW status_431 0$"
ok "  b1: up in both loops, every hand-off its" \
	grep -q "^backend b1 up submitted $((BASE + FAST + 1)) handed_off $((BASE + FAST + 1)) refused 0 " "$TMP/bal.out"
is "$(grep -c warning "$TMP/bal.err")" 0 "  and no warning"
grep -m 10 warning "$TMP/bal.err" | while read -r l; do diag "$l"; done
ok "its channels' receive --serve ended with it" wait_for 10 sh -c "[ -z \"\$(ip netns pids $NS_B1)\" ]"
ok "the status socket is gone" test ! -e "$TMP/bal.sock"
note "the test took $(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }') s"
done_testing
