#!/usr/bin/env bash
# A server that takes its connections from tcpferry (tf_handoff_accept): the
# example tools/tf-fileserver.  Two unmodified curl clients on B ask A's
# app for a file; the app accepts and never reads, so each request waits in
# its socket's receive queue.  The app is dumped (the images carry the
# requests) and the sockets restored with --send-to into tf-fileserver,
# which reads each request as if it had just arrived and answers it with
# sendfile(2): both downloads byte-exact, no connection reset.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd python3 curl sha256sum

plan 9

make_pair
make_bpffs
tfa() { in_ns "$NS_A" "$TF" --bpffs "$BPFFS/a" "$@"; }
tfa attach "$DEV_A" --tc >/dev/null || bail_out "cannot attach the lock programs on A"

mkdir -p "$TMP/root"
head -c 10485760 /dev/urandom >"$TMP/root/blob"
head -c 1024 /dev/urandom >"$TMP/root/small"

# The app: accepts two connections and holds them, reading nothing.
spawn "$NS_A" "$TMP/app.out" python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 7200))
s.listen(8)
print("listening", flush=True)
held = [s.accept()[0] for _ in range(2)]
print("accepted", flush=True)
time.sleep(600)' "$ADDR_A"
app=$SPAWNED
wait_for 10 grep -qs listening "$TMP/app.out" || bail_out "the app did not listen: $(cat "$TMP/app.out")"
for f in blob small; do
	spawn "$NS_B" "$TMP/curl-$f.err" curl -sS --http1.0 --max-time 120 -o "$TMP/got-$f" \
		"http://$ADDR_A:7200/$f"
	eval "curl_$f=\$SPAWNED"
done
wait_for 10 grep -qs accepted "$TMP/app.out" || bail_out "the app did not accept both: $(cat "$TMP/app.out")"
# Both requests are in the app's receive queues (ss: Recv-Q > 0).
wait_for 10 sh -c "[ \$(ip netns exec $NS_A ss -tnH state established '( sport = :7200 )' | awk '\$1 > 0' | wc -l) -eq 2 ]" ||
	diag "requests not queued yet: $(in_ns "$NS_A" ss -tn '( sport = :7200 )')"

spawn "$NS_A" "$TMP/server.log" "$TF_ROOT/build/tools/tf-fileserver" --listen "$TMP/srv.sock" --root "$TMP/root"
server=$SPAWNED
wait_for 10 test -S "$TMP/srv.sock" || bail_out "tf-fileserver did not listen: $(cat "$TMP/server.log")"
is "$(stat -c %a "$TMP/srv.sock")" 600 "the hand-off socket is 0600"

ok "dump the app (--kill)" quietly tfa dump --pid "$app" --out "$TMP/img" --kill
ok "restore --send-to tf-fileserver" quietly tfa restore --in "$TMP/img" --send-to "$TMP/srv.sock"
ok "curl's 10 MB download completes" wait "$curl_blob"
ok "curl's 1 KB download completes" wait "$curl_small"
is "$(sha256sum <"$TMP/got-blob" | cut -d' ' -f1)" "$(sha256sum <"$TMP/root/blob" | cut -d' ' -f1)" \
	"10 MB byte-exact (sha256)"
ok "1 KB byte-exact" cmp -s "$TMP/got-small" "$TMP/root/small"
ok "the server read each request the client sent before the move, and logged it with the image's name" \
	eval 'grep -q "conn-000[12] $ADDR_B:[0-9]* -> $ADDR_A:7200 GET /blob 200 10485760" "$TMP/server.log" &&
	      grep -q "GET /small 200 1024" "$TMP/server.log"'
is "$(nstat_get "$NS_B" TcpEstabResets)" 0 "no connection of the client was reset"
kill "$server"
done_testing
