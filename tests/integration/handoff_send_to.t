#!/usr/bin/env bash
# restore --send-to: the restored sockets go to a process that is already
# running, over a unix socket (SCM_RIGHTS), with the "tcpferry-fds N NAME..."
# line beside them.  The receiver (python3, knowing nothing of tcpferry but
# that line) then echoes on them, and the peer checks the echoes.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd python3

N=3
plan 6

make_pair
make_bpffs
tfa() { in_ns "$NS_A" "$TF" --bpffs "$BPFFS/a" "$@"; }
tfa attach "$DEV_A" --tc >/dev/null || bail_out "cannot attach the lock programs on A"

spawn "$NS_A" "$TMP/echo.out" "$HELPERS/tf-stream" echo "$ADDR_A" 7100
app=$SPAWNED
spawn "$NS_B" "$TMP/peer.out" "$HELPERS/tf-stream" many-peer "$ADDR_A" 7100 --count $N --rounds 1
peer=$SPAWNED
wait_for 20 grep -qs ready "$TMP/peer.out"
ok "dump --kill" quietly tfa dump --pid "$app" --out "$TMP/img" --kill

cat >"$TMP/receiver.py" <<'PY'
import os, select, socket, sys
path, out = sys.argv[1], sys.argv[2]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
conn, _ = srv.accept()
msg, fds, _, _ = socket.recv_fds(conn, 65536, 253)
words = msg.decode().split()
open(out, "w").write("%s %d %s\n" % (words[1], len(fds), " ".join(words[2:])))
socks = [socket.socket(fileno=fd) for fd in fds]
open(out + ".ready", "w").close()
while socks:
    r, _, _ = select.select(socks, [], [], 30)
    if not r:
        break
    for s in r:
        d = s.recv(4096)
        if not d:
            socks.remove(s)
            s.close()
        else:
            s.sendall(d)
PY
spawn "$NS_A" "$TMP/receiver.log" python3 "$TMP/receiver.py" "$TMP/fds.sock" "$TMP/received"
wait_for 10 test -S "$TMP/fds.sock"

ok "restore --send-to hands the sockets over" quietly tfa restore --in "$TMP/img" --send-to "$TMP/fds.sock"
wait_for 10 test -e "$TMP/received.ready"
read -r count nfds names <"$TMP/received"
is "$count $nfds" "$N $N" "the receiver got $N fds and the line that counts them"
is "$names" "conn-0001 conn-0002 conn-0003" "the line names them after their images"
kill -USR1 "$peer"
ok "every connection echoes through the receiving process" wait "$peer"
is "$(nstat_get "$NS_B" TcpEstabResets)" 0 "no connection of the peer was reset"
done_testing
