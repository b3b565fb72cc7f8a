#!/usr/bin/env bash
# tcpferry resume rolls a finished dump back at the source: the process that
# dump left stopped, with its sockets in repair mode and locked, continues with
# its connections where they were, and no lock stays.  First dump --fd takes
# one connection of the process, and only that one.  resume --in gives each
# socket back the SO_REUSEADDR repair mode cleared (1: the echo's listener had it).
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd python3

N=3
plan 15

make_pair
make_bpffs
tfa() { in_ns "$NS_A" "$TF" --bpffs "$BPFFS/a" "$@"; }
nlocks() { tfa -j lock list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["locks"]))'; }
tfa attach "$DEV_A" --tc >/dev/null || bail_out "cannot attach the lock programs on A"

spawn "$NS_A" "$TMP/echo.out" "$HELPERS/tf-stream" echo "$ADDR_A" 7300
app=$SPAWNED
spawn "$NS_B" "$TMP/peer.out" "$HELPERS/tf-stream" many-peer "$ADDR_A" 7300 --count $N --rounds 3
peer=$SPAWNED
wait_for 20 grep -qs ready "$TMP/peer.out"

# dump --fd: one connection of the N, the others are left alone.
read -r one_local one_peer one_fd < <(in_ns "$NS_A" ss -tnpH state established "( sport = :7300 )" |
	awk 'NR == 1 { match($5, /fd=[0-9]+/); print $3, $4, substr($5, RSTART + 3, RLENGTH - 3) }')
is "$(reuseaddr "$app" "$one_fd")" 1 "fd $one_fd has SO_REUSEADDR 1"
ok "dump --fd $one_fd" quietly tfa dump --pid "$app" --fd "$one_fd" --out "$TMP/one"
is "$("$TF" -j show "$TMP/one" | python3 -c '
import json, sys
cs = json.load(sys.stdin)["connections"]
print(len(cs), *("%s:%d %s:%d" % (c["local"]["address"], c["local"]["port"], c["peer"]["address"],
			      c["peer"]["port"]) for c in cs))')" "1 $one_local $one_peer" \
	"the dump holds fd $one_fd's connection only ($one_local $one_peer)"
is "$(tfa -j lock list | python3 -c '
import json, sys
print(*(l["local"] + " " + l["peer"] for l in json.load(sys.stdin)["locks"]))')" "$one_local $one_peer" \
	"only its tuple is locked"
is "$(tfa -j resume --pid "$app" --in "$TMP/one" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(r["resumed"], *(c["fd"] for c in r["connections"]))')" "1 $one_fd" \
	"resume finds fd $one_fd alone in repair mode: the others were never touched"
is "$(reuseaddr "$app" "$one_fd")" 1 "resume --in put fd $one_fd's SO_REUSEADDR back to 1"
kill -USR1 "$peer"
ok "then every connection carries round 1" wait_for 10 grep -qs 'round 1 ok' "$TMP/peer.out"

ok "dump (the process is left stopped, its sockets in repair mode)" quietly tfa dump --pid "$app" --out "$TMP/img"
is "$(nlocks)" "$N" "each connection is locked"
kill -USR1 "$peer"	# round 2 goes out while the source is frozen: the lock drops it
sleep 0.3
ok "resume --in" quietly tfa resume --pid "$app" --in "$TMP/img"
is "$(in_ns "$NS_A" ss -tnpH state established "( sport = :7300 )" |
	awk '{ match($5, /fd=[0-9]+/); print substr($5, RSTART + 3, RLENGTH - 3) }' |
	while read -r fd; do reuseaddr "$app" "$fd"; done | sort -u)" 1 "every connection has SO_REUSEADDR 1 again"
is "$(nlocks)" 0 "no lock is left"
ok "the process runs again" test "$(awk '{print $3}' "/proc/$app/stat")" != T
wait_for 10 grep -qs 'round 2 ok' "$TMP/peer.out"
kill -USR1 "$peer"
ok "every connection carries rounds 2 and 3 (the dropped one retransmitted)" wait "$peer"
is "$(nstat_get "$NS_B" TcpEstabResets)" 0 "no connection of the peer was reset"
done_testing
