#!/usr/bin/env bash
# dump lists the sockets before it stops the process (to attach and open the
# lock table while the process runs) and again once it is stopped, and dumps
# what is there then.  TCPFERRY_PAUSE=dump-listed holds the dump between the
# two: meanwhile one connection closes (the app closes its fd on the peer's
# FIN) and another is accepted.  The dump must take the new one and not the
# closed one (the dump's copy keeps that socket open, in CLOSE_WAIT: taken, it
# would be a connection the app no longer has); then resume, and both
# connections the app has carry a round.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd python3

plan 9

make_pair
make_bpffs
tfa() { in_ns "$NS_A" "$TF" --bpffs "$BPFFS/a" "$@"; }
tfa attach "$DEV_A" --tc >/dev/null || bail_out "cannot attach the lock programs on A"
# The app's connections on port 7400: "local peer", one a line, sorted.
app_conns() {
	in_ns "$NS_A" ss -tnpH state established "( sport = :7400 )" | grep "pid=$app," | awk '{ print $3, $4 }' | sort
}

spawn "$NS_A" "$TMP/echo.out" "$HELPERS/tf-stream" echo "$ADDR_A" 7400
app=$SPAWNED
spawn "$NS_B" "$TMP/gone.out" "$HELPERS/tf-stream" many-peer "$ADDR_A" 7400 --count 1 --rounds 1
gone=$SPAWNED
spawn "$NS_B" "$TMP/stays.out" "$HELPERS/tf-stream" many-peer "$ADDR_A" 7400 --count 1 --rounds 1
stays=$SPAWNED
wait_for 20 grep -qs ready "$TMP/gone.out" && wait_for 20 grep -qs ready "$TMP/stays.out" ||
	bail_out "the peers did not connect"
wait_for 10 test "$(app_conns | wc -l)" = 2 || bail_out "the app does not hold 2 connections"
before=$(app_conns)

TCPFERRY_PAUSE=dump-listed tfa -v dump --pid "$app" --out "$TMP/img" >"$TMP/dump.out" 2>"$TMP/dump.err" &
dumper=$!
ok "the dump pauses with the sockets listed" \
	wait_for 10 grep -qs "SIGSTOP at dump-listed" "$TMP/dump.err"
tf_pid=$(sed -n 's/.*SIGSTOP at dump-listed (pid \([0-9]*\)).*/\1/p' "$TMP/dump.err")
wait_for 10 test "$(awk '{print $3}' "/proc/$tf_pid/stat" 2>/dev/null)" = T || bail_out "tcpferry did not stop"

# The gap: one connection closes, one is accepted, while the app runs.
kill -9 "$gone"
spawn "$NS_B" "$TMP/new.out" "$HELPERS/tf-stream" many-peer "$ADDR_A" 7400 --count 1 --rounds 1
new=$SPAWNED
wait_for 20 grep -qs ready "$TMP/new.out" || bail_out "the new peer did not connect"
after=$(app_conns)
closed=$(comm -23 <(echo "$before") <(echo "$after"))
accepted=$(comm -13 <(echo "$before") <(echo "$after"))
ok "meanwhile the app closed one connection and accepted one" \
	test "$(wc -l <<<"$closed")" = 1 -a -n "$closed" -a "$(wc -l <<<"$accepted")" = 1 -a -n "$accepted"

kill -CONT "$tf_pid"
wait "$dumper"
is "$?" 0 "the dump succeeds"
note "$(cat "$TMP/dump.err")"
ok "and says so (-v): the closed one skipped, the accepted one taken too" \
	eval 'grep -q -- "-> ${closed#* }): skipped: closed" "$TMP/dump.err" &&
		grep -q -- "-> ${accepted#* }): taken too" "$TMP/dump.err"'
is "$("$TF" -j show "$TMP/img" | python3 -c '
import json, sys
for c in json.load(sys.stdin)["connections"]:
    print("%s:%d %s:%d" % (c["local"]["address"], c["local"]["port"], c["peer"]["address"], c["peer"]["port"]))' |
	sort)" "$after" \
	"it took the connections the app has once stopped: the accepted one, not the closed one"
is "$(tfa -j lock list | python3 -c '
import json, sys
print(*sorted(l["local"] + " " + l["peer"] for l in json.load(sys.stdin)["locks"]), sep="\n")')" "$after" \
	"exactly those are locked"
ok "resume" quietly tfa resume --pid "$app" --in "$TMP/img"
kill -USR1 "$stays" "$new"
ok "the connection that stayed carries a round" wait "$stays"
ok "the accepted one carries a round" wait "$new"
done_testing
