#!/usr/bin/env bash
# `tcpferry balance` on the hand-off lab (tests/helpers/handofflab.sh: a
# client, the frontend with the VIP, backends with the VIP on lo, one
# bridge; b1 steered l2, b2 l3).  The balancer reads each first request (peeked: it
# stays in the socket, and the image carries it), routes it by the config's
# rules and hands the connection to the chosen backend's `tcpferry receive
# --serve`, on one channel a backend opened at start:
#
#   b1      busybox httpd -i (receive --serve --each), its own files; l2
#   b2      tools/tf-fileserver (receive --serve --send-to), other files; l3 (IPIP)
#   b3      a backend without the VIP: it refuses every hand-off; later its
#           service is killed (the channel breaks) and its channel reopened
#           once the test lets it (its command fails while b3-hold exists)
#   dead    a channel that never opens (via false): down from the start
#   late    b1 again, on a channel whose command fails until the test lets it:
#           down at start, opened again later (every 5 s, off the loop)
#
#   match host two.test     pool two     b2
#   match path /one/        pool one     b1
#   match host mixed.test   pool mixed   dead, b2: dead gets nothing, b2 serves
#   match path /retry/      pool retry   b3, b1: b3 refuses, b1 serves
#   match path /late/       pool late    late: 503, then once its channel opened, served
#   match path /none/       pool none    b3 alone: refused, 503 from the balancer
#   default status 404                   anything else
#
# The balancer runs two loops (--threads 2): each has its own listener
# (SO_REUSEPORT) and its own channel to each backend, so each backend runs
# two `receive --serve`, and each loop opens its own again.  The counters
# are the loops' sums, and the two loops' shares add up to them.
#
# curl through the VIP (IPv4 and IPv6) gets each backend's own file
# byte-exact; a malformed head gets 400, an oversized one 431, a slow one
# 408; `balance status -j` has the counters; SIGHUP reloads the rules (and
# refuses a changed backend line); no client connection is reset;
# it keeps only the capabilities it needs (and channels reopened under them
# work); on SIGTERM the balancer exits 0
# with its counters (dead: down, nothing submitted; b3: refused), its
# channels' `receive --serve` are gone, and once the steers' linger passed
# the steer table is empty and no lock is left.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/handofflab.sh"
need_root
need_built
need_cmd curl busybox jq nstat

B1_ADDR=198.18.20.11
B2_ADDR=198.18.20.12
B3_ADDR=198.18.20.13
B1_ADDR6=fd00:7466:20::11
B2_ADDR6=fd00:7466:20::12
B3_ADDR6=fd00:7466:20::13
PORT=7201
LOOPS=2

plan 54

hol_make
NS_B1=${RUN_ID}b1
NS_B2=${RUN_ID}b2
NS_B3=${RUN_ID}b3
hol_backend "$NS_B1" $B1_ADDR $B1_ADDR6
hol_backend "$NS_B2" $B2_ADDR $B2_ADDR6
hol_backend "$NS_B3" $B3_ADDR $B3_ADDR6
# b3 has no VIP: its receive --serve cannot build the connection and refuses.
ip -n "$NS_B3" addr del "$VIP/32" dev lo
ip -n "$NS_B3" addr del "$VIP6/128" dev lo
make_bpffs
tff() { in_ns "$NS_F" "$TF" --bpffs "$BPFFS/f" "$@"; }

# Each backend's files are its own (random: byte-exact means from that backend).
mkdir -p "$TMP/root1/one" "$TMP/root1/retry" "$TMP/root2"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$TMP/root1/one/b1file"
head -c 100000 /dev/urandom >"$TMP/root1/retry/b1retry"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$TMP/root2/b2file"
head -c 100000 /dev/urandom >"$TMP/root2/b2mixed"

spawn "$NS_B2" "$TMP/fileserver.log" "$BUILD/tools/tf-fileserver" --listen "$TMP/srv.sock" --root "$TMP/root2"
wait_for 10 test -S "$TMP/srv.sock" || bail_out "tf-fileserver did not listen: $(cat "$TMP/fileserver.log")"

cat >"$TMP/balance.conf" <<EOF
# the lab's backends (tests/integration/balance_lab.t)
backend b1 addr $B1_ADDR addr6 $B1_ADDR6 mode l2 via ip netns exec $NS_B1 $TF receive --serve --output $TMP/b1.log --each -- busybox httpd -i -h $TMP/root1
backend b2 addr $B2_ADDR addr6 $B2_ADDR6 mode l3 via ip netns exec $NS_B2 $TF receive --serve --output $TMP/b2.log --send-to $TMP/srv.sock
backend b3 addr $B3_ADDR addr6 $B3_ADDR6 mode l2 via test ! -e $TMP/b3-hold && exec ip netns exec $NS_B3 $TF receive --serve --output $TMP/b3.log --each -- busybox httpd -i -h $TMP/root1
backend dead addr $B3_ADDR mode l2 via false
backend late addr $B1_ADDR mode l2 via test -e $TMP/late-up && exec ip netns exec $NS_B1 $TF receive --serve --output $TMP/late.log --each -- busybox httpd -i -h $TMP/root1
pool one roundrobin b1
pool two roundrobin b2
pool mixed roundrobin dead b2
pool retry roundrobin b3 b1
pool none roundrobin b3
pool late roundrobin late

match host two.test pool two
match path /one/ pool one
match host mixed.test pool mixed
match path /late/ pool late
# the IPv6 listener here, the IPv4 one a --listen flag
listen [$VIP6]:$PORT
EOF

# The frontend's programs at tc ingress, and a FIN linger of 3 s (the balancer
# would attach them itself on its first hand-off; long enough for the checks
# of each steer's mode below).
ok "the frontend's programs attach (tc)" quietly tff attach eth0 --tc
ok "the steer table's FIN linger set to 3 s" quietly tff steer config --fin-linger 3

# The rest of the rules as --rule flags: they follow the file's lines.
BAL_OPTS=-v hol_balance bal --config "$TMP/balance.conf" \
	--rule 'match path /retry/ pool retry' --rule 'match path /none/ pool none' --rule 'default status 404' \
	--listen "$VIP:$PORT" --request-timeout-ms 1500 \
	--threads $LOOPS || true
ok "balance says ready once it listens" has_line "$TMP/bal.out" '^ready$' "$TMP/bal.err"
# Once it listens it keeps net_admin, bpf and sys_admin (the default --caps), with no_new_privs.
is "$(awk '/^(CapEff|CapPrm|CapBnd|CapInh|NoNewPrivs):/ {printf "%s%s ", $1, $2}' /proc/$BAL/status)" \
	"CapInh:0000000000000000 CapPrm:0000008000201000 CapEff:0000008000201000 CapBnd:0000008000201000 NoNewPrivs:1 " \
	"balance keeps net_admin, bpf and sys_admin, in every set, with no_new_privs"
ok "the dead backend is down from the start, and said so" \
	grep -q "backend dead is down (it takes no hand-offs; tried again every 5 s)" "$TMP/bal.err"

URL="http://$VIP:$PORT"
URL6="http://[$VIP6]:$PORT"
fetch() { in_ns "$NS_C" curl -sS --max-time 30 "$@"; }

ok "Host two.test: curl gets b2's file" fetch -H 'Host: two.test' -o "$TMP/got-b2file" "$URL/b2file"
ok "  byte-exact (tf-fileserver on b2)" cmp -s "$TMP/got-b2file" "$TMP/root2/b2file"
ok "  steered l3 (b2's mode), while its steer lingers" sh -c "ip netns exec $NS_F $TF --bpffs $BPFFS/f -j steer list |
	jq -e '[.steers[] | select(.backend | startswith(\"$B2_ADDR\"))] | length > 0 and all(.mode == \"l3\")' >/dev/null"
ok "path /one/: curl gets b1's file" fetch -o "$TMP/got-b1file" "$URL/one/b1file"
ok "  byte-exact (busybox httpd on b1)" cmp -s "$TMP/got-b1file" "$TMP/root1/one/b1file"
ok "  steered l2 (b1's mode)" sh -c "ip netns exec $NS_F $TF --bpffs $BPFFS/f -j steer list |
	jq -e '[.steers[] | select(.backend | startswith(\"$B1_ADDR\"))] | length > 0 and all(.mode == \"l2\")' >/dev/null"
ok "path /one/ over IPv6: b1's file" fetch -o "$TMP/got-b1file6" "$URL6/one/b1file"
ok "  byte-exact" cmp -s "$TMP/got-b1file6" "$TMP/root1/one/b1file"
ok "Host two.test over IPv6: b2's file" fetch -H 'Host: two.test' -o "$TMP/got-b2file6" "$URL6/b2file"
ok "  byte-exact" cmp -s "$TMP/got-b2file6" "$TMP/root2/b2file"
for i in 1 2 3; do
	rm -f "$TMP/got-mixed"
	fetch -H 'Host: mixed.test' -o "$TMP/got-mixed" "$URL/b2mixed" && cmp -s "$TMP/got-mixed" "$TMP/root2/b2mixed" ||
		break
done
ok "Host mixed.test (pool: dead, b2), three times: b2 serves each, byte-exact" \
	cmp -s "$TMP/got-mixed" "$TMP/root2/b2mixed"
ok "path /retry/ (pool: b3 refuses, b1): b1 serves, byte-exact" \
	sh -c "ip netns exec $NS_C curl -sS --max-time 30 -o $TMP/got-retry $URL/retry/b1retry && cmp -s $TMP/got-retry $TMP/root1/retry/b1retry"
ok "  b3's refusal was retried on b1" grep -q "to backend b3: .*; trying the next" "$TMP/bal.err"
is "$(fetch -o /dev/null -w '%{http_code}' "$URL/none/x")" 503 "path /none/ (pool: b3 alone, refused): 503 from the balancer"
is "$(fetch -o "$TMP/got-404" -w '%{http_code}' "$URL/nowhere")" 404 "no rule matches: the configured status (404)"
ok "  with its body" grep -q "no backend for this request" "$TMP/got-404"
is "$(fetch -o /dev/null -w '%{http_code}' -H 'Host: one.test' "$URL/two/")" 404 "Host one.test, path /two/: no rule either"

# Bad requests: the reader's answers, counted.
raw() { in_ns "$NS_C" timeout 10 bash -c "exec 3<>/dev/tcp/$VIP/$PORT; printf '$1' >&3; cat <&3" | head -1 | tr -d '\r'; }
is "$(raw 'GET / HTTP/1.1\r\nNoColonHere\r\n\r\n')" "HTTP/1.1 400 Bad Request" "a header line without a colon: 400"
is "$(fetch -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)" "$URL/one/b1file")" 431 \
	"a head over 16 KB: 431"
is "$(raw 'GET /one/b1file HTTP/1.1\r\n')" "HTTP/1.1 408 Request Timeout" "no complete head within --request-timeout-ms: 408"

"$TF" balance status -j --status-socket "$TMP/bal.sock" >"$TMP/status.json"
"$TF" balance status --status-socket "$TMP/bal.sock" >"$TMP/status.txt"
ok "balance status without -j: the exit report's lines" \
	sh -c "grep -q '^accepted [0-9]* decided ' $TMP/status.txt && grep -q '^backend b1 up submitted ' $TMP/status.txt && grep -q '^rule 1 pool two matches 2' $TMP/status.txt"
ok "balance status -j: the running balancer's counters" quietly jq -e . "$TMP/status.json"
is "$(jq -c '[.listener.handed_off, .listener.status_400, .listener.status_408, .listener.status_431, ([.backends[] | select(.up | not) | .name])]' "$TMP/status.json")" \
	'[8,1,1,1,["dead","late"]]' "  8 handed off, one each of 400, 408 and 431; dead and late are the backends down"
is "$(jq -c '[.rules[].matches]' "$TMP/status.json")" '[2,2,3,0,1,1]' "  each rule's matches"
is "$(jq -c '[.threads, (.loops | length), ([.loops[].handed_off] | add), ([.loops[].accepted] | add) == .listener.accepted]' \
	"$TMP/status.json")" "[$LOOPS,$LOOPS,8,true]" "  $LOOPS loops, whose shares add up to the sums"
note "each loop's share: $(jq -c '.loops' "$TMP/status.json")"

# A channel that opens late (its command fails until late-up exists): tried again every 5 s.
mkdir -p "$TMP/root1/late"
head -c 100000 /dev/urandom >"$TMP/root1/late/b1late"
is "$(fetch -o /dev/null -w '%{http_code}' "$URL/late/b1late")" 503 "path /late/ while its backend's channel is down: 503"
# opened: how many loops said that backend $1's channel is open again.
opened() { grep -c "backend $1: its channel is open again" "$TMP/bal.err"; }
touch "$TMP/late-up"
wait_for 12 test "$(opened late)" -ge $LOOPS
is "$(opened late)" $LOOPS "the late backend's channel is opened again by each loop (off the loop)"
ok "  and it serves /late/, byte-exact" \
	sh -c "ip netns exec $NS_C curl -sS --max-time 30 -o $TMP/got-late $URL/late/b1late && cmp -s $TMP/got-late $TMP/root1/late/b1late"

# A channel that breaks: b3's service (the one process in its namespace) killed,
# and held down until the /retry/ below (on a loaded machine a reopening 5 s
# later came before it, and b3 refused it once more).
touch "$TMP/b3-hold"
pids=$(ip netns pids "$NS_B3")
is "$(echo $pids | wc -w)" $LOOPS "b3's channels reach one receive --serve a loop in its namespace"
kill -9 $pids
down() { grep -c "backend $1: its channel is down" "$TMP/bal.err"; }
wait_for 10 test "$(down b3)" -ge $LOOPS
is "$(down b3)" $LOOPS "each loop sees its b3 channel break, and says so"
rm -f "$TMP/got-retry"
ok "  /retry/ goes straight to b1 meanwhile, byte-exact" \
	sh -c "ip netns exec $NS_C curl -sS --max-time 30 -o $TMP/got-retry $URL/retry/b1retry && cmp -s $TMP/got-retry $TMP/root1/retry/b1retry"
rm "$TMP/b3-hold"
wait_for 12 test "$(opened b3)" -ge $LOOPS
is "$(opened b3)" $LOOPS "  and each loop opens its b3 channel again"

# SIGHUP: the file and the flags read again; a backend's line may not change.
mkdir -p "$TMP/root1/new"
head -c 100000 /dev/urandom >"$TMP/root1/new/b1new"
is "$(fetch -o /dev/null -w '%{http_code}' "$URL/new/b1new")" 404 "path /new/: no rule for it yet"
echo "match path /new/ pool one" >>"$TMP/balance.conf"
kill -HUP "$BAL"
wait_for 5 grep -q "SIGHUP: reloaded" "$TMP/bal.err"
ok "SIGHUP reloads the rules" grep -q "SIGHUP: reloaded (6 pools, 7 rules)" "$TMP/bal.err"
ok "  path /new/ goes to b1 now, byte-exact" \
	sh -c "ip netns exec $NS_C curl -sS --max-time 30 -o $TMP/got-new $URL/new/b1new && cmp -s $TMP/got-new $TMP/root1/new/b1new"
sed -i -e '/^backend b1 /s/mode l2/mode l3/' -e '/^match path .new/d' "$TMP/balance.conf"
kill -HUP "$BAL"
wait_for 5 grep -q "reload: backend b1 changed" "$TMP/bal.err"
ok "a reload that changes a backend's line is refused, and says why" \
	grep -q "reload: backend b1 changed, or was added or removed: .*nothing was reloaded" "$TMP/bal.err"
rm -f "$TMP/got-new"
ok "  the rules stay as they were: /new/ still goes to b1" \
	sh -c "ip netns exec $NS_C curl -sS --max-time 30 -o $TMP/got-new $URL/new/b1new && cmp -s $TMP/got-new $TMP/root1/new/b1new"

kill -TERM "$BAL"
wait "$BAL"
is "$?" 0 "SIGTERM: balance exits 0"
note "balance's counters: $(tr '\n' ';' <"$TMP/bal.out")"
ok "it counted 12 hand-offs, 3 answers of 404, 2 of 503 and one each of 400, 408 and 431" \
	has_line "$TMP/bal.out" "^accepted 20 decided 17 handed_off 12 no_match 3 no_backend 2 retried 2 status_400 1 status_408 1 status_431 1$"
ok "dead: down, nothing submitted" grep -q "^backend dead down submitted 0 handed_off 0 " "$TMP/bal.out"
ok "b2: 5 handed off (two.test twice, mixed.test three times)" \
	grep -q "^backend b2 up submitted 5 handed_off 5 refused 0 " "$TMP/bal.out"
ok "b1: 6 handed off (/one/ twice, /retry/ twice, /new/ twice)" \
	grep -q "^backend b1 up submitted 6 handed_off 6 refused 0 " "$TMP/bal.out"
ok "b3: refused both it was offered" has_line "$TMP/bal.out" "^backend b3 up submitted 2 handed_off 0 refused 2 " "$TMP/bal.err"
ok "its channels' receive --serve ended with it (nothing left on b1, late's included, and b3)" \
	wait_for 10 sh -c "[ -z \"\$(ip netns pids $NS_B1)\" ] && [ -z \"\$(ip netns pids $NS_B3)\" ]"
is "$(nstat_get "$NS_C" TcpEstabResets)" 0 "no connection of the client was reset"
is "$(nstat_get "$NS_F" TcpOutRsts)" 0 "the frontend sent no RST"
sleep 3.2	# the linger
quietly tff steer gc
is "$(tff -j steer list | jq '.steers | length')" 0 "after the linger, gc leaves the steer table empty"
is "$(tff -j lock list | jq '.locks | length')" 0 "no lock left"
ok "its status socket is gone" test ! -e "$TMP/bal.sock"
done_testing
