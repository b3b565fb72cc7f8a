#!/usr/bin/env bash
# A client that reuses its port: the backend still holds the last connection
# of that 4-tuple in TIME_WAIT (its server closed first), and a new
# connection with the same tuple is handed to it.  The restore's connect met
# that TIME_WAIT and failed ("4-tuple already in use"; handoff_gc.t saw it
# one time in a few thousand, when the client's port range came round; every
# time for a client without TCP timestamps, as here): the
# hand-off now clears the tuple's TIME_WAIT (SOCK_DESTROY; the peer reused
# the port, so that connection is over) and connects again.
#
# The hand-off lab, one backend (tools/tf-fileserver behind receive --serve
# --send-to: it closes first), tests/helpers/tf-frontend handing off two
# connections; the client binds the same source port for both.
#
# Then a tuple whose steer expired (its FIN linger or idle time over) but is
# still in the table, because gc runs at most once a second: the programs
# treat it as absent, so the client's new SYN reaches the frontend, and the
# hand-off must replace the entry, not refuse "steered already"
# (handoff_gc.t's rare failure under load).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/handofflab.sh"
need_root
need_built
need_cmd python3 ss

B1_ADDR=198.18.20.11
B2_ADDR=198.18.20.12
PORT=7320
CPORT=41321

plan 9

hol_make2
# A client without TCP timestamps (as Windows is by default): the backend's
# TIME_WAIT then has no timestamp to prove a new connection newer, and the
# kernel lets no connect() take its tuple over (tcp_twsk_unique).
in_ns "$NS_C" sysctl -qw net.ipv4.tcp_timestamps=0
mkdir -p "$TMP/root"
head -c 30000 /dev/urandom >"$TMP/root/f"
spawn "$NS_B2" "$TMP/fileserver.log" "$BUILD/tools/tf-fileserver" --listen "$TMP/srv.sock" --root "$TMP/root"
wait_for 10 test -S "$TMP/srv.sock" || bail_out "tf-fileserver did not listen"
spawn "$NS_F" "$TMP/fe.out" "$HELPERS/tf-frontend" "$VIP" "$PORT" 4 --batch 1 --bpffs "$BPFFS/f" \
	--backend "$B2_ADDR||l2|ip netns exec $NS_B2 $TF receive --serve --send-to $TMP/srv.sock"
wait_for 20 grep -qs ready "$TMP/fe.out" || bail_out "the frontend is not ready: $(cat "$TMP/fe.out")"

# get_ok OUT SPORT: GET /f from source port SPORT, the body in OUT and the same as the file's
get_ok() { in_ns "$NS_C" timeout 20 python3 "$TF_ROOT/tests/helpers/http-get.py" --sport "$2" "$VIP" "$PORT" /f "$1" && cmp -s "$1" "$TMP/root/f"; }

ok "the first connection from port $CPORT gets the file, byte-exact" get_ok $TMP/got1 $CPORT
wait_for 5 sh -c "ip netns exec $NS_B2 ss -tanH state time-wait '( dport = :$CPORT )' | grep -q ."
ok "  the backend holds that 4-tuple in TIME_WAIT (its server closed first)" \
	sh -c "ip netns exec $NS_B2 ss -tanH state time-wait '( dport = :$CPORT )' | grep -q ."
sleep 0.3
ok "the second connection, same 4-tuple, gets the file too, byte-exact" get_ok $TMP/got2 $CPORT
# gc ran at the first hand-off, and runs again at one that comes a second
# after its last run: this one, a second after the second connection.
sleep 1.1
ok "a connection from port $((CPORT + 1)) gets the file (the frontend's steer gc ran at it)" get_ok "$TMP/got3" $((CPORT + 1))
t_gc=$(date +%s%N)
# An entry for the next tuple that expires at once, left in the table.
ip netns exec "$NS_F" "$TF" --bpffs "$BPFFS/f" steer add "$VIP:$PORT" "$C_ADDR:$((CPORT + 2))" --to "$B2_ADDR" \
	--mode l2 --idle-timeout 0.05 >/dev/null
sleep 0.15
left=$(ip netns exec "$NS_F" "$TF" --bpffs "$BPFFS/f" -j steer list | grep -o ":$((CPORT + 2))\"" | wc -l)
ok "a connection on a tuple whose expired steer is still in the table is handed off (the entry replaced)" get_ok "$TMP/got4" $((CPORT + 2))
gap_ms=$((($(date +%s%N) - t_gc) / 1000000))
# Within the second after gc's last run the entry was still there at the
# hand-off; later, gc may have removed it first (then this case proved less).
[ "$gap_ms" -lt 1000 ] || diag "the hand-off came ${gap_ms} ms after gc's last run: gc may have removed the entry first"
is "$left" 1 "  the expired entry was in the table before it ($gap_ms ms after gc's last run)"
wait "$SPAWNED"
is "$(grep -c '^handoff ok' "$TMP/fe.out")" 4 "  all four were handed off (none failed: $(grep '^handoff failed' "$TMP/fe.out" | head -1 | cut -c1-200))"
is "$(nstat_get "$NS_C" TcpEstabResets)" 0 "no connection of the client was reset"
is "$(nstat_get "$NS_C" TcpExtPAWSEstab)" 0 "no PAWS drop at the client"
done_testing
