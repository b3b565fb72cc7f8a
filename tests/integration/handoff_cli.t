#!/usr/bin/env bash
# `tcpferry handoff`: a running process's connection given to a backend by
# the command.  The process (a few lines of python on the frontend) accepts,
# reads the request head into a file and holds the socket; the command hands
# it to the backend's `receive --serve --each -- busybox httpd -i`, with the
# head put back in front (--prepend-file), and the client gets its file from
# the backend.  Refusals (the tuple locked or steered already, a prepend longer than what
# was received, no capabilities, bad arguments) leave the connection with the
# process, which then answers it itself.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/handofflab.sh"
need_root
need_built
need_cmd curl busybox jq python3 setpriv

B_ADDR=198.18.20.11
B_ADDR6=fd00:7466:20::11

plan 18

hol_make
NS_B=${RUN_ID}b1
hol_backend "$NS_B" $B_ADDR $B_ADDR6
make_bpffs
tff() { in_ns "$NS_F" "$TF" --bpffs "$BPFFS/f" "$@"; }
ok "the frontend's programs attach (tc)" quietly tff attach eth0 --tc
mkdir -p "$TMP/root"
head -c $((1024 * 1024)) /dev/urandom >"$TMP/root/file"
VIA="ip netns exec $NS_B $TF receive --serve --output $TMP/httpd.log --each -- busybox httpd -i -h $TMP/root"

# app PORT: accepts one connection, reads its request head into TMP/head-PORT,
# prints "fd N", and on SIGUSR1 answers it itself ("HTTP/1.0 200 ... app").
app() {
	spawn "$NS_F" "$TMP/app-$1.out" python3 -c '
import signal, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
head = b""
while b"\r\n\r\n" not in head:
    head += c.recv(4096)
open(sys.argv[3], "wb").write(head)
print("fd", c.fileno(), flush=True)
def answer(*_):
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\napp")
    c.close()
    sys.exit(0)
signal.signal(signal.SIGUSR1, answer)
time.sleep(60)' "$VIP" "$1" "$TMP/head-$1"
	APP=$SPAWNED
	wait_for 10 grep -qs listening "$TMP/app-$1.out" || bail_out "the app did not listen"
	spawn "$NS_C" "$TMP/curl-$1.out" curl -sS --http1.0 --max-time 30 --local-port $((20000 + $1)) \
		-o "$TMP/got-$1" "http://$VIP:$1/file"
	CURL=$SPAWNED
	wait_for 10 grep -qs "^fd" "$TMP/app-$1.out" || bail_out "the app read no request"
	FD=$(awk '/^fd/ { print $2 }' "$TMP/app-$1.out")
	TUPLE="$VIP:$1 $C_ADDR:$((20000 + $1))"
}

ok "handoff --help prints its usage" sh -c "'$TF' handoff --help | grep -q 'Usage: tcpferry handoff'"
ok "handoff without --to is a usage error naming what is needed" \
	expect_error 2 "handoff: --pid, --fd, --to and --via are needed" "$TF" handoff --pid 1 --fd 3
ok "handoff without CAP_BPF says which capability" \
	expect_error 1 "handoff needs CAP_NET_ADMIN" setpriv --inh-caps=-all --bounding-set=-all --reuid=65534 \
	"$TF" handoff --pid 1 --fd 3 --to $B_ADDR --via true

app 7301
out=$(tff handoff --pid "$APP" --fd "$FD" --to $B_ADDR --mode l2 --via "$VIA" --prepend-file "$TMP/head-7301" --kill)
ok "handoff --pid --fd --prepend-file --kill: the backend has it ($out)" grep -q "handed off pid $APP fd $FD to backend $B_ADDR" <<<"$out"
wait "$APP" 2>/dev/null	# reaped here: the shell's "Killed" notice stays out of the output
ok "  the client got its file from the backend" wait "$CURL"
ok "  byte-exact" cmp -s "$TMP/got-7301" "$TMP/root/file"
ok "  the process was killed" sh -c "! kill -0 $APP 2>/dev/null"
is "$(tff -j lock list | jq '.locks | length')" 0 "  no lock left"

app 7302
quietly tff lock add $TUPLE --ttl 30
ok "handoff of a tuple locked already is refused, saying so" \
	expect_error 1 "locked already" tff handoff --pid "$APP" --fd "$FD" --to $B_ADDR --mode l2 --via "$VIA"
quietly tff lock del $TUPLE
quietly tff steer add $TUPLE --to $B_ADDR --mode l2 2>/dev/null
ok "handoff of a tuple steered already is refused, saying so" \
	expect_error 1 "steered already" tff handoff --pid "$APP" --fd "$FD" --to $B_ADDR --mode l2 --via "$VIA"
quietly tff steer del $TUPLE
head -c 100000 /dev/zero >"$TMP/long"
ok "a prepend longer than what was received is refused, with the counts" \
	expect_error 1 "a prepend of 100000 bytes, but only [0-9]+ were received" \
	tff handoff --pid "$APP" --fd "$FD" --to $B_ADDR --mode l2 --via "$VIA" --prepend-file "$TMP/long"
is "$(tff -j lock list | jq '.locks | length') $(tff -j steer list | jq "[.steers[] | select(.local == \"$VIP:7302\")] | length")" \
	"0 0" "  no lock and no steer left by the refusals"
kill -USR1 "$APP"
ok "the refused connection is still the process's: it answers itself" wait "$CURL"
is "$(cat "$TMP/got-7302")" app "  the client got the process's own answer"
ok "handoff of a process that is not there names it" \
	expect_error 1 "handoff pid 999999" tff handoff --pid 999999 --fd 3 --to $B_ADDR --via "$VIA"

is "$(nstat_get "$NS_C" TcpEstabResets)" 0 "no connection of the client was reset"
is "$(nstat_get "$NS_F" TcpOutRsts)" 0 "the frontend sent no RST"
done_testing
