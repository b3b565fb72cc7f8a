#!/usr/bin/env bash
# A client that reuses its port: the backend still holds the last connection
# of that 4-tuple in TIME_WAIT (its server closed first), and a new
# connection with the same tuple is handed to it.  The restore's connect met
# that TIME_WAIT and failed ("4-tuple already in use"; handoff_gc.t saw it
# one time in a few thousand, when the client's port range came round; every
# time for a client without TCP timestamps, as here): the
# hand-off now clears the tuple's TIME_WAIT (SOCK_DESTROY; the peer reused
# the port, so that connection is over) and connects again.
#
# The hand-off lab, one backend (tools/tf-fileserver behind receive --serve
# --send-to: it closes first), tests/helpers/tf-frontend handing off two
# connections; the client binds the same source port for both.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/handofflab.sh"
need_root
need_built
need_cmd python3 ss

B1_ADDR=198.18.20.11
B2_ADDR=198.18.20.12
PORT=7320
CPORT=41321

plan 6

hol_make2
# A client without TCP timestamps (as Windows is by default): the backend's
# TIME_WAIT then has no timestamp to prove a new connection newer, and the
# kernel lets no connect() take its tuple over (tcp_twsk_unique).
in_ns "$NS_C" sysctl -qw net.ipv4.tcp_timestamps=0
mkdir -p "$TMP/root"
head -c 30000 /dev/urandom >"$TMP/root/f"
spawn "$NS_B2" "$TMP/fileserver.log" "$BUILD/tools/tf-fileserver" --listen "$TMP/srv.sock" --root "$TMP/root"
wait_for 10 test -S "$TMP/srv.sock" || bail_out "tf-fileserver did not listen"
spawn "$NS_F" "$TMP/fe.out" "$HELPERS/tf-frontend" "$VIP" "$PORT" 2 --batch 1 --bpffs "$BPFFS/f" \
	--backend "$B2_ADDR||l2|ip netns exec $NS_B2 $TF receive --serve --send-to $TMP/srv.sock"
wait_for 20 grep -qs ready "$TMP/fe.out" || bail_out "the frontend is not ready: $(cat "$TMP/fe.out")"

# get OUT: GET /f from source port CPORT, the answer read to EOF
get() {
	in_ns "$NS_C" timeout 20 python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(sys.argv[3])))
s.connect((sys.argv[1], int(sys.argv[2])))
s.sendall(b"GET /f HTTP/1.0\r\n\r\n")
data = b""
while True:
    c = s.recv(65536)
    if not c:
        break
    data += c
s.close()
sys.stdout.buffer.write(data.split(b"\r\n\r\n", 1)[1])' "$VIP" "$PORT" "$CPORT" >"$1"
}

ok "the first connection from port $CPORT gets the file, byte-exact" sh -c "$(declare -f get in_ns); NS_C=$NS_C VIP=$VIP PORT=$PORT CPORT=$CPORT; get $TMP/got1 && cmp -s $TMP/got1 $TMP/root/f"
wait_for 5 sh -c "ip netns exec $NS_B2 ss -tanH state time-wait '( dport = :$CPORT )' | grep -q ."
ok "  the backend holds that 4-tuple in TIME_WAIT (its server closed first)" \
	sh -c "ip netns exec $NS_B2 ss -tanH state time-wait '( dport = :$CPORT )' | grep -q ."
sleep 0.3
ok "the second connection, same 4-tuple, gets the file too, byte-exact" sh -c "$(declare -f get in_ns); NS_C=$NS_C VIP=$VIP PORT=$PORT CPORT=$CPORT; get $TMP/got2 && cmp -s $TMP/got2 $TMP/root/f"
wait "$SPAWNED"
is "$(grep -c '^handoff ok' "$TMP/fe.out")" 2 "  both were handed off (none failed: $(grep '^handoff failed' "$TMP/fe.out" | head -1 | cut -c1-200))"
is "$(nstat_get "$NS_C" TcpEstabResets)" 0 "no connection of the client was reset"
is "$(nstat_get "$NS_C" TcpExtPAWSEstab)" 0 "no PAWS drop at the client"
done_testing
