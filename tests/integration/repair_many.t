#!/usr/bin/env bash
# 1,000 connections of one process (an echo server in NS_A, talking to 1,000
# clients of one peer process in NS_B) are dumped with the lock, the server
# killed, and all of them restored into a new process that gets them as fds
# 3..1002 (LISTEN_FDS).  Every connection then echoes two more rounds.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd nstat python3

N=${N:-1000}
plan 8

make_pair
make_bpffs
tfa() { in_ns "$NS_A" "$TF" --bpffs "$BPFFS/a" "$@"; }
tfa attach "$DEV_A" --tc >/dev/null || bail_out "cannot attach the lock programs on A"

spawn "$NS_A" "$TMP/echo.out" "$HELPERS/tf-stream" echo "$ADDR_A" 6000
app=$SPAWNED
spawn "$NS_B" "$TMP/peer.out" "$HELPERS/tf-stream" many-peer "$ADDR_A" 6000 --count "$N" --rounds 2
peer=$SPAWNED
wait_for 60 grep -qs ready "$TMP/peer.out" || diag "peer: $(cat "$TMP/peer.out")"
# A SYN that raced the server's listen() was refused with an RST: count from here.
rst0=$(nstat_get "$NS_A" TcpOutRsts)

start=$(date +%s%N)
ok "dump of $N connections" quietly tfa dump --pid "$app" --out "$TMP/img" --kill
dumped=$(date +%s%N)
wait "$app" 2>/dev/null
is "$(find "$TMP/img" -name 'conn-*.tfc' | wc -l)" "$N" "$N images written"

# The program is exec'd in place of restore (same pid), through a shell that
# records the socket-activation variables it got.
spawn "$NS_A" "$TMP/restored.out" "$TF" --bpffs "$BPFFS/a" restore --in "$TMP/img" -- \
	sh -c 'echo "$LISTEN_PID $$ $LISTEN_FDS $LISTEN_FDNAMES" >"$0.new" && mv "$0.new" "$0"; exec "$1" echo-continue' \
	"$TMP/listen.env" "$HELPERS/tf-stream"
restored_pid=$SPAWNED
no_locks() { [ "$(tfa -j lock list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["locks"]))')" = 0 ]; }
ok "restore of $N connections drops every lock" wait_for 60 no_locks
restored=$(date +%s%N)
wait_for 10 test -e "$TMP/listen.env"
read -r listen_pid sh_pid listen_fds listen_fdnames <"$TMP/listen.env"
ok "LISTEN_PID is the program's pid ($listen_pid; shell \$\$ $sh_pid, spawned $restored_pid)" \
	test "$listen_pid" = "$sh_pid" -a "$listen_pid" = "$restored_pid"
is "$listen_fds $listen_fdnames" "$N $(seq -f 'conn-%04g' 1 "$N" | paste -sd:)" \
	"LISTEN_FDNAMES has one image name per fd: conn-0001:conn-0002:..."
note "dump $(((dumped - start) / 1000000)) ms, restore $(((restored - dumped) / 1000000)) ms for $N connections"

kill -USR1 "$peer"
wait_for 30 grep -qs 'round 1 ok' "$TMP/peer.out"
kill -USR1 "$peer"
ok "all $N connections echo two more rounds after the move" wait "$peer"
note "peer: $(tail -1 "$TMP/peer.out")"
is "$(($(nstat_get "$NS_A" TcpOutRsts) - rst0))" 0 "no RST from the app's host"
is "$(nstat_get "$NS_B" TcpEstabResets)" 0 "no connection of the peer was reset"
done_testing
