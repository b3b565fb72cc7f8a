#!/usr/bin/env bash
# A response larger than the first flight, written and closed at once: the
# backend's server sends 64 KB and closes before the frontend's FLIPPED
# comes, so its socket is in FIN_WAIT1 with most of the answer unsent, and
# the client's ACKs of the first flight met the frontend's lock (they came
# between the backend's LIVE and the flip).  The nudge at FLIPPED must still
# go out (it was skipped for any state but ESTABLISHED), or the answer
# waits for the backend's retransmit timer: about a second a connection.
#
# The hand-off lab, one backend (tools/tf-fileserver behind receive --serve
# --send-to: sendfile, then close), tests/helpers/tf-frontend.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/handofflab.sh"
need_root
need_built
need_cmd python3

B1_ADDR=198.18.20.11
B2_ADDR=198.18.20.12
PORT=7330
N=5

plan 5

hol_make2
mkdir -p "$TMP/root"
head -c 65536 /dev/urandom >"$TMP/root/f"
spawn "$NS_B2" "$TMP/fileserver.log" "$BUILD/tools/tf-fileserver" --listen "$TMP/srv.sock" --root "$TMP/root"
wait_for 10 test -S "$TMP/srv.sock" || bail_out "tf-fileserver did not listen"
# The frontend stops itself when LIVE comes (TCPFERRY_PAUSE), before the
# flip: the race of a busy frontend, made certain.
spawn "$NS_F" "$TMP/fe.out" env TCPFERRY_PAUSE=handoff-live "$HELPERS/tf-frontend" "$VIP" "$PORT" "$N" --batch 1 \
	--bpffs "$BPFFS/f" --backend "$B2_ADDR||l2|ip netns exec $NS_B2 $TF receive --serve --send-to $TMP/srv.sock"
FE=$SPAWNED
wait_for 20 grep -qs ready "$TMP/fe.out" || bail_out "the frontend is not ready: $(cat "$TMP/fe.out")"

stopped() { [ "$(awk '{ print $3 }' "/proc/$FE/stat" 2>/dev/null)" = T ]; }
slowest=0
for i in $(seq 1 "$N"); do
	in_ns "$NS_C" timeout 20 python3 "$TF_ROOT/tests/helpers/http-get.py" "$VIP" "$PORT" /f "$TMP/got.$i" &
	client=$!
	wait_for 10 stopped || bail_out "the frontend did not stop at LIVE ($i)"
	# The backend's server has the socket: it writes 64 KB and closes while
	# the client's ACKs of the first flight meet the lock.
	sleep 0.05
	t0=$(date +%s%N)
	kill -CONT "$FE"
	wait "$client" || true
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "$ms" >>"$TMP/ms"
	[ "$ms" -gt "$slowest" ] && slowest=$ms
	cmp -s "$TMP/got.$i" "$TMP/root/f" || echo "$i" >>"$TMP/bad"
done
wait "$FE" || true
diag "after the flip, ms: $(tr '\n' ' ' <"$TMP/ms")"
is "$(grep -c '^handoff ok' "$TMP/fe.out")" "$N" "all $N were handed off"
ok "every answer, byte-exact" test ! -e "$TMP/bad"
# Without the nudge the rest of the answer waited about a second (the
# restored socket's retransmit timer); with it, a few ms.
ok "each answer was complete within 500 ms of the flip (slowest: $slowest ms)" test "$slowest" -lt 500
is "$(nstat_get "$NS_C" TcpEstabResets)" 0 "no connection of the client was reset"
is "$(nstat_get "$NS_C" TcpExtPAWSEstab)" 0 "no PAWS drop at the client"
done_testing
