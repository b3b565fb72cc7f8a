#!/usr/bin/env bash
# dump --leave-running takes a snapshot while the connection is busy (a round
# trip every 2 ms) and lets it go on at the source: the peer sees every echo,
# the process is not left stopped, no lock stays, and the image is complete.
# The socket keeps the SO_REUSEADDR it had (the echo's accepted sockets inherit
# 1 from its listener), which repair mode clears on the way out.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd python3

plan 8

make_pair
make_bpffs
tfa() { in_ns "$NS_A" "$TF" --bpffs "$BPFFS/a" "$@"; }
tfa attach "$DEV_A" --tc >/dev/null || bail_out "cannot attach the lock programs on A"

spawn "$NS_A" "$TMP/echo.out" "$HELPERS/tf-stream" echo "$ADDR_A" 6001
app=$SPAWNED
spawn "$NS_B" "$TMP/ping.out" "$HELPERS/tf-stream" ping "$ADDR_A" 6001 --seconds 3
ping=$SPAWNED
sleep 1
fd=$(in_ns "$NS_A" ss -tnpH state established "( sport = :6001 )" |
	awk 'NR == 1 { match($5, /fd=[0-9]+/); print substr($5, RSTART + 3, RLENGTH - 3) }')
is "$(reuseaddr "$app" "$fd")" 1 "before: the app's connection (fd $fd) has SO_REUSEADDR 1"

ok "dump --leave-running" quietly tfa dump --pid "$app" --out "$TMP/img" --leave-running
state=$(awk '{print $3}' "/proc/$app/stat")
ok "the process runs on (state $state)" test "$state" != T
is "$(reuseaddr "$app" "$fd")" 1 "after: fd $fd still has SO_REUSEADDR 1"
ok "the peer's round trips went on through the dump" wait "$ping"
note "peer: $(tail -1 "$TMP/ping.out")"
ok "the image is complete and readable" quietly "$TF" show "$TMP/img"
is "$(tfa -j lock list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["locks"]))')" 0 \
	"no lock is left behind"
ok "the process is alive" kill -0 "$app"
done_testing
