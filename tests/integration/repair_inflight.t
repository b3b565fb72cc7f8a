#!/usr/bin/env bash
# A connection between two namespaces with data in flight both ways at dump
# time is dumped, the app killed, and the socket restored into a new process.
# Both directions then deliver exactly the rest of their stream, checked byte
# by byte by offset, and no RST is seen.  In every case the app's receive queue
# holds 3 MiB it never read.  Its send side is in one of two states, each its
# own connection (one connection cannot show both at once: the ACK that closes
# the window also acks all that was in flight, unless the peer shrinks its
# window; the zerowin note shows 0 segments unacked):
#
#  locked:   bytes sent but never acked, and unsent bytes behind them.  The
#            peer is kept quiet by the BPF lock on its own host (the app's data
#            leaves A but is never acked: a drop at A's own egress would make
#            TCP count it as not sent), so the app's sender stops at its
#            congestion window (its send window is still open).
#  zerowin:  unsent bytes behind a closed window.  The peer, with a small fixed
#            receive buffer, stops reading: it takes what fits, then
#            advertises window 0, and the app's socket shows snd_wnd 0 before
#            the dump.  The image's window record must say snd_wnd 0.
#
# Dump takes the lock on A and restore adopts and drops it once the socket has
# left repair mode.  Each host has its own pin directory, hence its own lock
# table.  Both cases run for IPv4, IPv6, and a v4-mapped IPv6 socket (app
# listens on [::]).
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd ss nstat python3

plan 87

PEER_FIRST=$((3 * 1024 * 1024))      # in the app's receive queue at dump time
PEER_TOTAL=$((8 * 1024 * 1024))
APP_TOTAL=$((6 * 1024 * 1024))       # written at once: most of it stays in the send queue
PEER_RCVBUF=$((128 * 1024))         # zerowin: the peer's buffer, far less than the app writes

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

# The app socket's "KEY:VALUE" field from ss -tin on A (snd_wnd, unacked,
# notsent); empty when ss leaves it out.
app_ss_info() { in_ns "$NS_A" ss -tinH state established "( sport = :$1 )"; }
app_ss_field() { app_ss_info "$1" | grep -o "\b$2:[0-9]*" | head -1 | cut -d: -f2; }
# ss prints snd_wnd only when it is not 0 (this kernel reports it: the locked
# case's note shows it open), so: TCP info shown, no snd_wnd, unsent bytes queued.
app_window_closed() {
	local info
	info=$(app_ss_info "$1")
	grep -q "rtt:" <<<"$info" && ! grep -q "snd_wnd:" <<<"$info" &&
		[ "$(app_ss_field "$1" notsent)" -gt 0 ] 2>/dev/null
}

# run_case MODE LABEL LISTEN CONNECT PORT; MODE is locked or zerowin (see top).
run_case() {
	local mode=$1 label=$2-$1 listen=$3 connect=$4 port=$5
	local dir=$TMP/img-$label state=$TMP/state-$label
	local app_pid peer_pid rest_pid peer_opts=()

	[ "$mode" = zerowin ] && peer_opts=(--rcvbuf "$PEER_RCVBUF")
	spawn "$NS_A" "$TMP/app0-$label.out" "$HELPERS/tf-stream" app "$listen" "$port" --state "$state" \
		--rcvbuf $((16 << 20)) --sndbuf $((16 << 20)) --write "$APP_TOTAL"
	app_pid=$SPAWNED
	spawn "$NS_B" "$TMP/peer-$label.out" "$HELPERS/tf-stream" peer "$connect" "$port" \
		--first "$PEER_FIRST" --peer-total "$PEER_TOTAL" --app-total "$APP_TOTAL" "${peer_opts[@]}"
	peer_pid=$SPAWNED
	wait_for 20 grep -qs ready "$TMP/peer-$label.out" || diag "peer never got ready: $(cat "$TMP/peer-$label.out")"

	local ss_line app_ep peer_ep rst0 peer_held=0 unacked
	ss_line=$(in_ns "$NS_A" ss -tnH state established "( sport = :$port )" | sed 's/\[::ffff:\([0-9.]*\)\]/\1/g')
	app_ep=$(awk '{print $3}' <<<"$ss_line")
	peer_ep=$(awk '{print $4}' <<<"$ss_line")
	rst0=$(nstat_get "$NS_A" TcpOutRsts)
	# locked: quiet the peer on its own host: A's data leaves, nothing comes back.
	[ "$mode" = locked ] && { tfb lock add "$peer_ep" "$app_ep" >/dev/null || diag "lock on B failed"; }
	kill -USR1 "$app_pid"
	wait_for 10 test -s "$state"
	if [ "$mode" = zerowin ]; then
		ok "$label: the app's socket shows snd_wnd 0 before the dump (the peer stopped reading)" \
			wait_for 20 app_window_closed "$port"
		app_window_closed "$port" || diag "$label: ss -tin on A: $(app_ss_info "$port")"
		# What the peer took before its window closed: the rest must be in the image.
		unacked=$(app_ss_field "$port" unacked)
		peer_held=$(in_ns "$NS_B" ss -tnH state established "( dport = :$port )" | awk '{print $1}')
		note "$label: before the dump: the peer holds $peer_held unread;" \
			"the app has ${unacked:-0} segments unacked," \
			"$(app_ss_field "$port" notsent) bytes unsent"
	fi

	ok "$label: dump --kill" dump_json "$TMP/dump-$label.json" --pid "$app_pid" --out "$dir" --kill
	wait "$app_pid" 2>/dev/null
	ok "$label: the lock is still held after the dump" test "$(lock_lines | wc -l)" = 1
	# The lock programs see wire packets: a v4-mapped socket's lock is an IPv4 tuple.
	is "$(lock_lines | awk '{print $1, $2}')" "$app_ep $peer_ep" \
		"$label: the lock is keyed by the tuple on the wire ($app_ep $peer_ep)"
	"$TF" -j show "$dir" | python3 -c '
import json, sys
c = json.load(sys.stdin)["connections"][0]
w = c["window"]
print(c["inq_len"], c["outq_len"], c["unsent_len"], w["snd_wnd"] if w else "none")' >"$TMP/queues-$label" ||
		echo "0 0 0 none" >"$TMP/queues-$label"
	read -r inq outq unsent snd_wnd <"$TMP/queues-$label"
	written=$(cat "$state")
	note "$label: image: recv queue $inq, send queue $outq (unsent $unsent), snd_wnd $snd_wnd; the app wrote $written"
	is "$inq" "$PEER_FIRST" "$label: the image holds the 3 MiB the app had not read"
	if [ "$mode" = locked ]; then
		# Nothing the app wrote was acked (the peer is locked): all of it is in the image.
		ok "$label: the image's send queue holds all the app wrote, at least 2 MiB" \
			test "$outq" = "$written" -a "$written" -ge $((2 << 20))
		ok "$label: the image holds sent-but-unacked bytes" test "$((outq - unsent))" -gt 0
		ok "$label: the image holds unsent bytes behind them (the congestion window is full)" \
			test "$unsent" -gt 0
	else
		# What the peer acked left the send queue; the rest of what was written is in the image.
		ok "$label: the image's send queue holds all the app wrote but the peer's $peer_held, at least 2 MiB" \
			test "$((outq + peer_held))" = "$written" -a "$outq" -ge $((2 << 20))
		is "$snd_wnd" 0 "$label: the image's window record says the peer's window is closed (snd_wnd 0)"
		ok "$label: the image holds unsent bytes behind the closed window" test "$unsent" -gt 0
	fi

	spawn "$NS_A" "$TMP/app-$label.out" "$TF" --bpffs "$BPFFS/a" restore --in "$dir" -- \
		"$HELPERS/tf-stream" app-continue --state "$state" \
		--peer-total "$PEER_TOTAL" --app-total "$APP_TOTAL"
	rest_pid=$SPAWNED
	ok "$label: restore drops the lock once the socket is live" wait_for 10 no_locks
	[ "$mode" = locked ] && tfb lock del "$peer_ep" "$app_ep" >/dev/null
	# The peer reads again (zerowin: its window opens only now).
	kill -USR1 "$peer_pid"

	ok "$label: the peer received exactly the app's stream, and sent its own" wait "$peer_pid"
	ok "$label: the restored app received exactly the peer's stream, and sent its own" wait "$rest_pid"
	note "$label: peer: $(tail -1 "$TMP/peer-$label.out")  app: $(tail -1 "$TMP/app-$label.out")"
	is "$(($(nstat_get "$NS_A" TcpOutRsts) - rst0))" 0 "$label: the app's host sent no RST"
	is "$(nstat_get "$NS_B" TcpEstabResets)" 0 "$label: the peer's connection was never reset"
	is "$(nstat_get "$NS_B" TcpExtPAWSEstab)" 0 "$label: the peer dropped nothing for PAWS"
	ok "$label: the image files are 0600" test "$(stat -c %a "$dir/conn-0001.tfc")" = 600
}

run_case locked ipv4 "$ADDR_A" "$ADDR_A" 5001
run_case locked ipv6 "$ADDR6_A" "$ADDR6_A" 5002
run_case locked v4mapped "::" "$ADDR_A" 5003
run_case zerowin ipv4 "$ADDR_A" "$ADDR_A" 5004
run_case zerowin ipv6 "$ADDR6_A" "$ADDR6_A" 5005
run_case zerowin v4mapped "::" "$ADDR_A" 5006

done_testing
