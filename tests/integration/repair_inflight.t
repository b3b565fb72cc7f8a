#!/usr/bin/env bash
# A connection between two namespaces with data in flight both ways at dump
# time -- unread bytes in the app's receive queue (3 MiB), bytes the app sent
# that the peer never acked, and bytes it could not send yet (the peer's window
# is closed: it stopped reading) -- is dumped, the app killed, and the socket
# restored into a new process.  Both directions then deliver exactly the rest
# of their stream, checked byte by byte by offset, and no RST is seen.
#
# The peer is kept quiet by the BPF lock on its own host (so the app's data
# leaves A but is never acked: a drop at A's own egress would make TCP count
# it as not sent), while dump takes the lock on A and restore adopts and drops
# it once the socket has left repair mode.  Each host has its own pin
# directory, hence its own lock table.
# Runs for IPv4, IPv6, and a v4-mapped IPv6 socket (app listens on [::]).
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd ss nstat python3

plan 42

PEER_FIRST=$((3 * 1024 * 1024))      # in the app's receive queue at dump time
PEER_TOTAL=$((8 * 1024 * 1024))
APP_TOTAL=$((6 * 1024 * 1024))       # written at once: some unacked, the rest unsent

make_pair
make_bpffs
tfa() { in_ns "$NS_A" "$TF" --bpffs "$BPFFS/a" "$@"; }
tfb() { in_ns "$NS_B" "$TF" --bpffs "$BPFFS/b" "$@"; }
tfa attach "$DEV_A" --tc >/dev/null || bail_out "cannot attach the lock programs on A"
tfb attach "$DEV_B" --tc >/dev/null || bail_out "cannot attach the lock programs on B"

# The locks on A, as "LOCAL PEER DROPPED" lines.
lock_lines() {
	tfa -j lock list | python3 -c '
import json, sys
for l in json.load(sys.stdin)["locks"]:
    print(l["local"], l["peer"], l["in_packets"] + l["out_packets"])'
}
no_locks() { [ -z "$(lock_lines)" ]; }

dump_json() {
	local out=$1
	shift
	tfa -j dump "$@" >"$out"
}

run_case() {
	local label=$1 listen=$2 connect=$3 port=$4
	local dir=$TMP/img-$label state=$TMP/state-$label
	local app_pid peer_pid rest_pid

	spawn "$NS_A" "$TMP/app0-$label.out" "$HELPERS/tf-stream" app "$listen" "$port" --state "$state" \
		--rcvbuf $((16 << 20)) --sndbuf $((16 << 20)) --write "$APP_TOTAL"
	app_pid=$SPAWNED
	spawn "$NS_B" "$TMP/peer-$label.out" "$HELPERS/tf-stream" peer "$connect" "$port" \
		--first "$PEER_FIRST" --peer-total "$PEER_TOTAL" --app-total "$APP_TOTAL"
	peer_pid=$SPAWNED
	wait_for 20 grep -qs ready "$TMP/peer-$label.out" || diag "peer never got ready: $(cat "$TMP/peer-$label.out")"

	# Quiet the peer on its own host: A's data leaves, nothing comes back.
	local ss_line app_ep peer_ep rst0
	ss_line=$(in_ns "$NS_A" ss -tnH state established "( sport = :$port )" | sed 's/\[::ffff:\([0-9.]*\)\]/\1/g')
	app_ep=$(awk '{print $3}' <<<"$ss_line")
	peer_ep=$(awk '{print $4}' <<<"$ss_line")
	rst0=$(nstat_get "$NS_A" TcpOutRsts)
	tfb lock add "$peer_ep" "$app_ep" >/dev/null || diag "lock on B failed"
	kill -USR1 "$app_pid"
	wait_for 10 test -s "$state"

	ok "$label: dump --kill" dump_json "$TMP/dump-$label.json" --pid "$app_pid" --out "$dir" --kill
	wait "$app_pid" 2>/dev/null
	ok "$label: the lock is still held after the dump" test "$(lock_lines | wc -l)" = 1
	# The lock programs see wire packets: a v4-mapped socket's lock is an IPv4 tuple.
	is "$(lock_lines | awk '{print $1, $2}')" "$app_ep $peer_ep" \
		"$label: the lock is keyed by the tuple on the wire ($app_ep $peer_ep)"
	"$TF" -j show "$dir" | python3 -c '
import json, sys
c = json.load(sys.stdin)["connections"][0]
print(c["inq_len"], c["outq_len"], c["unsent_len"])' >"$TMP/queues-$label" ||
		echo "0 0 0" >"$TMP/queues-$label"
	read -r inq outq unsent <"$TMP/queues-$label"
	written=$(cat "$state")
	note "$label: image: recv queue $inq, send queue $outq (unsent $unsent); the app wrote $written"
	is "$inq" "$PEER_FIRST" "$label: the image holds the 3 MiB the app had not read"
	# Nothing the app wrote was acked (the peer is locked): all of it is in the image.
	ok "$label: the image's send queue holds all the app wrote, at least 2 MiB" \
		test "$outq" = "$written" -a "$written" -ge $((2 << 20))
	ok "$label: the image holds sent-but-unacked bytes" test "$((outq - unsent))" -gt 0
	ok "$label: the image holds unsent bytes (peer's window closed)" test "$unsent" -gt 0

	spawn "$NS_A" "$TMP/app-$label.out" "$TF" --bpffs "$BPFFS/a" restore --in "$dir" -- \
		"$HELPERS/tf-stream" app-continue --state "$state" \
		--peer-total "$PEER_TOTAL" --app-total "$APP_TOTAL"
	rest_pid=$SPAWNED
	ok "$label: restore drops the lock once the socket is live" wait_for 10 no_locks
	tfb lock del "$peer_ep" "$app_ep" >/dev/null
	kill -USR1 "$peer_pid"

	ok "$label: the peer received exactly the app's stream, and sent its own" wait "$peer_pid"
	ok "$label: the restored app received exactly the peer's stream, and sent its own" wait "$rest_pid"
	note "$label: peer: $(tail -1 "$TMP/peer-$label.out")  app: $(tail -1 "$TMP/app-$label.out")"
	is "$(($(nstat_get "$NS_A" TcpOutRsts) - rst0))" 0 "$label: the app's host sent no RST"
	is "$(nstat_get "$NS_B" TcpEstabResets)" 0 "$label: the peer's connection was never reset"
	is "$(nstat_get "$NS_B" TcpExtPAWSEstab)" 0 "$label: the peer dropped nothing for PAWS"
	ok "$label: the image files are 0600" test "$(stat -c %a "$dir/conn-0001.tfc")" = 600
}

run_case ipv4 "$ADDR_A" "$ADDR_A" 5001
run_case ipv6 "$ADDR6_A" "$ADDR6_A" 5002
run_case v4mapped "::" "$ADDR_A" 5003

done_testing
