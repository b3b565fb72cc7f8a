#!/usr/bin/env bash
# Hand-offs that fail, and what the client sees: its connection is served by
# the frontend again (the test frontend answers 503 on a connection it took
# back: proof that it is live and its own) or by the backend, never both,
# never reset.  The lab of handoff_lab.t with one backend (B) that has the
# VIP and one (X) that has not; the backend's `receive --serve` is killed at
# its fault points (TCPFERRY_FAULT, user/move/fault.h).
#
#   X without the VIP            refused at the build: 503 from the frontend
#   B's server not listening     refused at the hand-over: 503
#   B killed with the socket built (serve-built): taken back: 503
#   B killed after the hand-over, before LIVE (serve-handed): in doubt; the
#                                frontend keeps the lock; the user settles
#                                it by dropping the lock (the steer takes
#                                over) and the client gets its file
#   B killed after LIVE (serve-live): handed off; the file comes, unnudged
#   the channel closed before (B's service gone): refused at submit: 503
#   a full steer table           refused at submit: 503
# After each: no lock left (but the in-doubt one, until settled), and the
# steer table holds only live hand-offs' entries.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/handofflab.sh"
need_root
need_built
need_cmd curl busybox jq

B_ADDR=198.18.20.11
B_ADDR6=fd00:7466:20::11
X_ADDR=198.18.20.13
X_ADDR6=fd00:7466:20::13

plan 28

hol_make
NS_B=${RUN_ID}b1
NS_X=${RUN_ID}x1
hol_backend "$NS_B" $B_ADDR $B_ADDR6
hol_backend "$NS_X" $X_ADDR $X_ADDR6
ip -n "$NS_X" addr del "$VIP/32" dev lo
make_bpffs
tff() { in_ns "$NS_F" "$TF" --bpffs "$BPFFS/f" "$@"; }
ok "the frontend's programs attach (tc)" quietly tff attach eth0 --tc

mkdir -p "$TMP/root"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$TMP/root/b1file"

locks() { tff -j lock list | jq '.locks | length'; }
steers() { tff -j steer list | jq '.steers | length'; }

# attempt LABEL PORT VIA BACKEND: one connection through a frontend whose
# backend BACKEND is reached by VIA; once the frontend is done, OUT is its
# line, TUPLE the connection's; curl runs on (CURL its pid): got CODE.
attempt() {
	local label=$1 port=$2 via=$3 lport=$((20000 + $2))
	spawn "$NS_F" "$TMP/fe-$port.out" "$HELPERS/tf-frontend" "$VIP" "$port" 1 --bpffs "$BPFFS/f" \
		--timeout-ms 1000 --backend "$4|$B_ADDR6|l2|$via"
	FE=$SPAWNED
	wait_for 20 grep -qs "ready\|tf-frontend:" "$TMP/fe-$port.out" || diag "$label: the frontend is not ready"
	CURL=
	grep -qs ready "$TMP/fe-$port.out" || { wait "$FE"; OUT=$(cat "$TMP/fe-$port.out"); return; }
	spawn "$NS_C" "$TMP/curl-$port.out" curl -sS --http1.0 --max-time 30 --local-port $lport \
		-o "$TMP/got-$port" -w 'HTTP %{http_code}\n' "http://$VIP:$port/b1file"
	CURL=$SPAWNED
	TUPLE="$VIP:$port $C_ADDR:$lport"
	wait "$FE"
	OUT=$(cat "$TMP/fe-$port.out")
	note "$label: frontend: $OUT"
}

# got PORT: curl's HTTP code in CODE, once it is done.
got() {
	wait "$CURL"
	note "curl: $(cat "$TMP/curl-$1.out"); the client's PAWS drops so far: $(nstat_get "$NS_C" TcpExtPAWSEstab)"
	CODE=$(sed -n 's/^HTTP //p' "$TMP/curl-$1.out")
}

# taken_back LABEL: the frontend answered the client itself, and left nothing behind.
taken_back() {
	got "$3"
	is "$CODE" 503 "$1: the client got the frontend's own 503 (its connection is live there)"
	ok "$1: the frontend says why, naming the backend" grep -q "handoff failed .*backend $B_ADDR\|handoff failed .*$2" <<<"$OUT"
	is "$(locks) $(steers)" "0 0" "$1: no lock and no steer left"
}

# serve NS [FAULT]: the channel command of NS's hand-off service (busybox httpd -i)
serve() { echo "ip netns exec $1 env TCPFERRY_FAULT=${2:-} $TF receive --serve --output $TMP/httpd.log --each -- busybox httpd -i -h $TMP/root"; }

attempt "backend without the VIP" 7201 "$(serve "$NS_X")" $X_ADDR
got 7201
is "$CODE" 503 "backend without the VIP: the client got the frontend's 503"
ok "backend without the VIP: the refusal names the backend and the missing address" \
	grep -q "handoff failed.*backend $X_ADDR: the backend cannot rebuild it:.*$VIP" <<<"$OUT"
is "$(locks) $(steers)" "0 0" "backend without the VIP: no lock and no steer left"

attempt "backend's server down" 7202 "ip netns exec $NS_B $TF receive --serve --send-to $TMP/nobody.sock" $B_ADDR
taken_back "backend's server down" "hand-over on the backend failed" 7202

attempt "backend killed with the socket built" 7203 "$(serve "$NS_B" serve-built)" $B_ADDR
taken_back "backend killed with the socket built" "channel" 7203

attempt "backend killed after the hand-over, before LIVE" 7204 "$(serve "$NS_B" serve-handed)" $B_ADDR
ok "in doubt: the frontend says so and how to settle it" grep -q "in doubt.*lock del" <<<"$OUT"
is "$(locks)" 1 "in doubt: the tuple stays locked (the client's packets reach neither side)"
ok "settled as the message says: the lock dropped, the steer takes over" quietly tff lock del $TUPLE
got 7204
is "$CODE" 200 "in doubt, settled: the client got its file from the backend"
ok "  byte-exact" cmp -s "$TMP/got-7204" "$TMP/root/b1file"

attempt "backend killed after LIVE" 7205 "$(serve "$NS_B" serve-live)" $B_ADDR
got 7205
is "$CODE" 200 "backend killed after LIVE: the client got its file from the backend"
ok "  byte-exact" cmp -s "$TMP/got-7205" "$TMP/root/b1file"
ok "  the frontend counted it handed off" grep -q "^handoff ok" <<<"$OUT"
is "$(locks)" 0 "  no lock left"

# The channel closed before the hand-off: the backend's service exits at once.
attempt "channel down" 7206 "true" $B_ADDR
ok "channel down: the frontend did not start (no hand-off service answered)" \
	grep -q "no hand-off service answered" "$TMP/fe-7206.out"

quietly tff steer flush
tfs() { in_ns "$NS_F" "$TF" --bpffs "$BPFFS/t" "$@"; }
quietly tff detach eth0
ok "a frontend table of one steer entry" \
	sh -c "ip netns exec $NS_F $TF --bpffs $BPFFS/t steer add $VIP:1 $C_ADDR:1 --to $B_ADDR --mode l2 --max-steers 1 >/dev/null 2>&1"
ok "  attached" quietly tfs attach eth0 --tc
spawn "$NS_F" "$TMP/fe-full.out" "$HELPERS/tf-frontend" "$VIP" 7207 1 --bpffs "$BPFFS/t" \
	--backend "$B_ADDR|$B_ADDR6|l2|$(serve "$NS_B")"
FE=$SPAWNED
wait_for 20 grep -qs ready "$TMP/fe-full.out"
CODE=$(in_ns "$NS_C" curl -sS --http1.0 --max-time 30 -o /dev/null -w '%{http_code}' "http://$VIP:7207/b1file" 2>/dev/null)
wait "$FE"
is "$CODE" 503 "steer table full: the client got the frontend's 503"
ok "  the refusal names the table's size and --max-steers" grep -q "steer table full (1 entries).*--max-steers" "$TMP/fe-full.out"
is "$(tfs -j lock list | jq '.locks | length')" 0 "  no lock left"

is "$(nstat_get "$NS_C" TcpEstabResets)" 0 "no connection of the client was reset"
is "$(nstat_get "$NS_C" TcpExtPAWSEstab)" 0 "the client dropped nothing for PAWS"
is "$(nstat_get "$NS_F" TcpOutRsts)" 0 "the frontend sent no RST"
done_testing
