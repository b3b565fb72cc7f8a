#!/usr/bin/env bash
# tcpferry resume rolls a finished dump back at the source: the process that
# dump left stopped, with its sockets in repair mode and locked, continues with
# its connections where they were, and no lock stays.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd python3

N=3
plan 7

make_pair
make_bpffs
tfa() { in_ns "$NS_A" "$TF" --bpffs "$BPFFS/a" "$@"; }
nlocks() { tfa -j lock list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["locks"]))'; }
tfa attach "$DEV_A" --tc >/dev/null || bail_out "cannot attach the lock programs on A"

spawn "$NS_A" "$TMP/echo.out" "$HELPERS/tf-stream" echo "$ADDR_A" 7300
app=$SPAWNED
spawn "$NS_B" "$TMP/peer.out" "$HELPERS/tf-stream" many-peer "$ADDR_A" 7300 --count $N --rounds 2
peer=$SPAWNED
wait_for 20 grep -q ready "$TMP/peer.out"

ok "dump (the process is left stopped, its sockets in repair mode)" quietly tfa dump --pid "$app" --out "$TMP/img"
is "$(nlocks)" "$N" "each connection is locked"
kill -USR1 "$peer"	# round 1 goes out while the source is frozen: the lock drops it
sleep 0.3
ok "resume" quietly tfa resume --pid "$app"
is "$(nlocks)" 0 "no lock is left"
ok "the process runs again" test "$(awk '{print $3}' "/proc/$app/stat")" != T
wait_for 10 grep -q 'round 1 ok' "$TMP/peer.out"
kill -USR1 "$peer"
ok "every connection carries both rounds (the dropped one retransmitted)" wait "$peer"
is "$(nstat_get "$NS_B" TcpEstabResets)" 0 "no connection of the peer was reset"
done_testing
