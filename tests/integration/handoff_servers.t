#!/usr/bin/env bash
# Unmodified servers taking restored connections, each reading the request
# its client sent before the move.  Two curl clients on B ask A's app for a
# file; the app accepts and never reads, so each request waits in its
# socket's receive queue.  The app is dumped (the images carry the requests)
# and the sockets restored into a server that answers them as if they had
# just arrived:
#   - SCM_RIGHTS: tools/tf-fileserver (tf_handoff_accept, sendfile(2)),
#     through restore --send-to;
#   - exec, one server a connection (inetd, systemd Accept=yes): busybox
#     httpd -i, through restore --each.
# Both downloads byte-exact each time, no connection reset.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd python3 curl sha256sum busybox

plan 16

make_pair
make_bpffs
tfa() { in_ns "$NS_A" "$TF" --bpffs "$BPFFS/a" "$@"; }
tfa attach "$DEV_A" --tc >/dev/null || bail_out "cannot attach the lock programs on A"

mkdir -p "$TMP/root"
head -c 10485760 /dev/urandom >"$TMP/root/blob"
head -c 1024 /dev/urandom >"$TMP/root/small"

# asked PORT: an app on A:PORT that accepts two connections and holds them
# reading nothing, and a curl on B for each file, whose requests wait there.
asked() {
	local port=$1 f
	spawn "$NS_A" "$TMP/app-$port.out" python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(8)
print("listening", flush=True)
held = [s.accept()[0] for _ in range(2)]
print("accepted", flush=True)
time.sleep(600)' "$ADDR_A" "$port"
	APP=$SPAWNED
	wait_for 10 grep -qs listening "$TMP/app-$port.out" || bail_out "the app did not listen: $(cat "$TMP/app-$port.out")"
	for f in blob small; do
		rm -f "$TMP/got-$f"
		spawn "$NS_B" "$TMP/curl-$f.err" curl -sS --http1.0 --max-time 120 -o "$TMP/got-$f" \
			"http://$ADDR_A:$port/$f"
		eval "CURL_$f=\$SPAWNED"
	done
	wait_for 10 grep -qs accepted "$TMP/app-$port.out" || bail_out "the app did not accept both"
	wait_for 10 sh -c "[ \$(ip netns exec $NS_A ss -tnH state established '( sport = :$port )' | awk '\$1 > 0' | wc -l) -eq 2 ]" ||
		diag "requests not queued yet: $(in_ns "$NS_A" ss -tn "( sport = :$port )")"
}

# served LABEL: both downloads complete, byte-exact.
served() {
	ok "$1: curl's 10 MB download completes" wait "$CURL_blob"
	ok "$1: curl's 1 KB download completes" wait "$CURL_small"
	is "$(sha256sum <"$TMP/got-blob" | cut -d' ' -f1)" "$(sha256sum <"$TMP/root/blob" | cut -d' ' -f1)" \
		"$1: 10 MB byte-exact (sha256)"
	ok "$1: 1 KB byte-exact" cmp -s "$TMP/got-small" "$TMP/root/small"
}

# ---- SCM_RIGHTS: tf-fileserver -----------------------------------------------------

asked 7200
spawn "$NS_A" "$TMP/server.log" "$TF_ROOT/build/tools/tf-fileserver" --listen "$TMP/srv.sock" --root "$TMP/root"
server=$SPAWNED
wait_for 10 test -S "$TMP/srv.sock" || bail_out "tf-fileserver did not listen: $(cat "$TMP/server.log")"
is "$(stat -c %a "$TMP/srv.sock")" 600 "the hand-off socket is 0600"
ok "dump the app (--kill)" quietly tfa dump --pid "$APP" --out "$TMP/img1" --kill
ok "restore --send-to tf-fileserver" quietly tfa restore --in "$TMP/img1" --send-to "$TMP/srv.sock"
served tf-fileserver
ok "tf-fileserver read each request sent before the move, and logged it with the image's name" \
	eval 'grep -q "conn-000[12] $ADDR_B:[0-9]* -> $ADDR_A:7200 GET /blob 200 10485760" "$TMP/server.log" &&
	      grep -q "GET /small 200 1024" "$TMP/server.log"'
kill "$server"

# ---- exec, one a connection: busybox httpd -i ------------------------------------------

asked 7201
out=$(tfa restore --in "$TMP/none" --each 2>&1)
ok "restore --each without a CMD: a usage error that says what is missing ($out)" grep -q "give the CMD after --" <<<"$out"
ok "dump the app (--kill)" quietly tfa dump --pid "$APP" --out "$TMP/img2" --kill
ok "restore --each -- busybox httpd -i" quietly tfa restore --in "$TMP/img2" --each -- busybox httpd -i -h "$TMP/root"
served "busybox httpd -i"

is "$(nstat_get "$NS_B" TcpEstabResets)" 0 "no connection of the client was reset"
done_testing
