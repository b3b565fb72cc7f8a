#!/usr/bin/env bash
# tcpferry tswatch on real connections between two namespaces (A, B over a
# veth), watching A's device:
#   reuse  two connections in turn on one 4-tuple (the first ends with an RST,
#          so no TIME_WAIT holds the tuple): each gets its own "first" event,
#          no regression, exit 0
#   lost   tswatch is stopped (SIGSTOP) while 2,500 connections come and go,
#          so the ring buffer fills: tswatch reports the lost events and exits
#          4, not 0 -- "no regression seen" is no answer when events were lost
#   opts   --duration 1 ends tswatch by itself (exit 0); --max-jump 300 reports
#          the step of a connection idle for 0.6 s (-j); in text, a regression
#          (crafted ACKs) names the tuple and both tsvals, and exits 3
#   stale  a tswatch killed with SIGKILL leaves the recorder's watchers count
#          up, so the recorder keeps filling the ring; a regression it records
#          then is no business of the next tswatch, which must exit 0
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd python3

plan 15

json_field() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

make_pair
make_bpffs

# A server on B that takes connections and closes them: PORT.
serve() {
	spawn "$NS_B" "$TMP/serve-$1.out" python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(4096)
while True:
    c, _ = s.accept()
    c.recv(16)
    c.close()' "$1"
	wait_for 5 sh -c "ip netns exec $NS_B ss -Hltn 'sport = :$1' | grep -q ."
}

# craft SPORT TSVAL...: bare ACKs from A:SPORT to B:9009 with these tsvals,
# through a raw socket (the kernel adds the IP header; B answers with an RST).
craft() {
	in_ns "$NS_A" python3 -c '
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
for ts in sys.argv[3:]:
    opts = struct.pack("!BBBBII", 1, 1, 8, 10, int(ts), 0)
    hdr = struct.pack("!HHIIBBHHH", int(sys.argv[2]), 9009, 1, 1, (20 + len(opts)) // 4 << 4, 0x10,
                      65535, 0, 0)
    s.sendto(hdr + opts, (sys.argv[1], 0))' "$ADDR_B" "$@"
}

# tswatch LABEL ARGS...: tswatch -j on A's device in the background ($TSW_PID), JSON in $TSW
# (text with TSW_FMT=).
tswatch() {
	local l=$1
	shift
	TSW=$TMP/tsw-$l.json
	ip netns exec "$NS_A" "$TF" ${TSW_FMT--j} tswatch "$DEV_A" "$@" >"$TSW" 2>"$TMP/tsw-$l.err" &
	TSW_PID=$!
	at_exit "kill -9 $TSW_PID"
	wait_for 10 grep -qs watching "$TMP/tsw-$l.err" || diag "$l: tswatch: $(cat "$TMP/tsw-$l.err")"
}

# ended: a --duration 1 tswatch ($TSW_PID) has ended within 5 s; else it is stopped, false.
ended() {
	wait_for 5 sh -c "! kill -0 $TSW_PID 2>/dev/null" && return 0
	kill -INT "$TSW_PID"
	return 1
}

# ---- reuse: a new connection on the same 4-tuple -------------------------------------
serve 9001
tswatch reuse --local "$ADDR_A:41001"
in_ns "$NS_A" python3 -c '
import socket, struct, sys, time
for i in range(2):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 41001))
    s.connect((sys.argv[1], 9001))
    s.send(b"x")
    time.sleep(0.2)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()	# an RST: the tuple is free at once
    time.sleep(0.2)' "$ADDR_B" || diag "reuse: the client failed"
kill -INT "$TSW_PID"
wait "$TSW_PID"
rc=$?
is "$rc" 0 "reuse: tswatch exits 0 (no regression, nothing lost)"
is "$(json_field "$TSW" 'sum(1 for e in d["events"] if e["kind"] == "first" and e["dir"] == "in")')" 2 \
	"reuse: each connection on the tuple has its own 'first' event from the peer"
is "$(json_field "$TSW" 'd["regressions"]')" 0 "reuse: no regression"

# ---- lost: the ring buffer fills while tswatch does not read -----------------------------
serve 9002
tswatch lost --quiet
kill -STOP "$TSW_PID"
in_ns "$NS_A" python3 -c '
import socket, sys
for i in range(2500):	# 2 "first" events each; the ring holds about 3,600
    s = socket.create_connection((sys.argv[1], 9002))
    s.close()' "$ADDR_B" || diag "lost: the client failed"
kill -CONT "$TSW_PID"
kill -INT "$TSW_PID"
wait "$TSW_PID"
rc=$?
is "$rc" 4 "lost: tswatch exits 4 (no regression seen, but events were lost)"
lost=$(json_field "$TSW" 'd["events_lost"]')
ok "lost: tswatch -j counts the lost events ($lost)" test "$lost" -gt 0
ok "lost: the warning names the lost events" grep -q "events lost" "$TMP/tsw-lost.err"
is "$(json_field "$TSW" 'd["regressions"]')" 0 "lost: no regression among what it read"

# ---- opts: --duration, --max-jump, the text of a regression ------------------------------
serve 9003
# The jump is watched to its end (SIGINT after the client): a --duration
# window could close before a slow client's late send.
tswatch jump --quiet --max-jump 300
in_ns "$NS_A" python3 -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], 9003))
time.sleep(0.6)	# the next tsval is ~600 ms after the handshake ACK
s.send(b"x")
s.recv(16)' "$ADDR_B" || diag "opts: the client failed"
kill -INT "$TSW_PID"
wait "$TSW_PID"
rc_jump=$?
jumps=$(json_field "$TSW" 'sum(1 for e in d["events"] if e["kind"] == "jump" and e["dir"] == "out" and e["delta"] > 300)')
tswatch duration --quiet --duration 1
ok "opts: --duration 1 ends tswatch by itself" ended
is "$rc_jump" 0 "opts: a tswatch that saw jumps exits 0 (jumps are no error)"
ok "opts: --max-jump 300 reports the 600 ms step out ($jumps jump events, -j)" test "$jumps" -ge 1
TSW_FMT= tswatch text --quiet --duration 1
craft 41902 100000 500
ended
wait "$TSW_PID"
rc=$?
is "$rc" 3 "opts: a crafted regression: exit 3"
ok "opts: the text line names the tuple and both tsvals" \
	grep -q "^REGRESSION  out $ADDR_A:41902 -> $ADDR_B:9009  tsval 500 after max 100000 " "$TSW"
ok "opts: the summary counts it" grep -q "^tswatch: 1 regression(s)" "$TSW"

# ---- stale: events a killed tswatch left in the ring ------------------------------------
tswatch killed --quiet
kill -9 "$TSW_PID"
wait "$TSW_PID" 2>/dev/null
craft 41901 100000 500	# a regression, recorded while nobody reads
sleep 0.1
tswatch stale --duration 1
ended
wait "$TSW_PID"
rc=$?
is "$rc" 0 "stale: a tswatch after a killed one exits 0 (the regression before its start is not its)"
is "$(json_field "$TSW" 'len(d["events"])')" 0 "stale: and reports none of the killed one's events"

done_testing
