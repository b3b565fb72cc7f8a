#!/usr/bin/env bash
# A backend's own health check (`receive --serve --check CMD`), as the
# balancer sees it.  The hand-off lab (tests/helpers/handofflab.sh), one pool
# of two backends, round robin:
#
#   b1   busybox httpd -i, its files; checked by $TMP/check1.sh every 300 ms
#   b2   the same, other bytes; no check
#
# check1.sh passes, then fails (exit 1): the balancer says b1's check fails,
# with the reason, `status -j` says healthy false, and every new connection
# goes to b2 while the channel stays up; it passes again: b1 serves again.
# Then the check hangs (sleep 30): a run that outlasts the interval is killed
# and fails.  No client connection is reset, no request gets a 503.  And
# systemd's Type=notify hears READY=1, RELOADING=1 and STOPPING=1.  One loop
# (--threads 1): round robin counts per loop, and each loop has its own
# channel, so its own check.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/handofflab.sh"
need_root
need_built
need_cmd curl busybox jq nstat

B1_ADDR=198.18.20.11
B2_ADDR=198.18.20.12
PORT=7290

plan 16

hol_make2

mkdir -p "$TMP/root1" "$TMP/root2"
head -c 20000 /dev/urandom >"$TMP/root1/f"
head -c 20000 /dev/urandom >"$TMP/root2/f"
# check1 WHAT: the check's next runs do WHAT (replaced whole: a run never reads half a file)
check1() { printf '#!/bin/sh\n%s\n' "$1" >"$TMP/check1.new" && chmod +x "$TMP/check1.new" && mv "$TMP/check1.new" "$TMP/check1.sh"; }
check1 'exit 0'
cat >"$TMP/balance.conf" <<EOF
backend b1 addr $B1_ADDR mode l2 via ip netns exec $NS_B1 $TF receive --serve --output $TMP/b1.log --check $TMP/check1.sh --check-interval-ms 300 --each -- busybox httpd -i -h $TMP/root1
backend b2 addr $B2_ADDR mode l3 via ip netns exec $NS_B2 $TF receive --serve --output $TMP/b2.log --each -- busybox httpd -i -h $TMP/root2
pool both roundrobin b1 b2
default pool both
EOF
# systemd's side of Type=notify: a datagram socket that writes down what it hears.
python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as f:
    while True:
        f.write(s.recv(4096).decode() + "\n")
        f.flush()' "$TMP/notify.sock" "$TMP/notify.log" &
at_exit "kill $!"
wait_for 5 test -S "$TMP/notify.sock"
export NOTIFY_SOCKET=$TMP/notify.sock
ok "balance says ready" hol_balance bal --threads 1 --config "$TMP/balance.conf" --listen "$VIP:$PORT"
unset NOTIFY_SOCKET
BAL=$BAL_PID
wait_for 5 grep -qs READY=1 "$TMP/notify.log"
is "$(tr '\n' ' ' <"$TMP/notify.log")" "READY=1 " "  and tells systemd so (NOTIFY_SOCKET: READY=1)"

whose() { if cmp -s "$1" "$TMP/root1/f"; then echo b1; elif cmp -s "$1" "$TMP/root2/f"; then echo b2; else echo bad; fi; }
# fetches N: whose bytes each of N fetches got, sorted and counted ("3 b1 3 b2")
fetches() {
	local i
	for i in $(seq "$1"); do
		rm -f "$TMP/got"
		in_ns "$NS_C" curl -sS --max-time 10 -o "$TMP/got" "http://$VIP:$PORT/f"
		whose "$TMP/got"
	done | sort | uniq -c | awk '{print $1, $2}' | paste -sd' '
}
status() { "$TF" balance status -j --status-socket "$TMP/bal.sock"; }

sleep 1
is "$(fetches 6)" "3 b1 3 b2" "both healthy: six fetches, three from each"
check1 'exit 1'
wait_for 10 grep -q "backend b1: its check fails" "$TMP/bal.err"
ok "b1's check fails: the balancer says so, with the reason" \
	grep -q "backend b1: its check fails (\`$TMP/check1.sh\` exited 1); it takes no hand-offs" "$TMP/bal.err"
is "$(status | jq -c '[.backends[] | [.name, .up, .healthy]]')" '[["b1",true,false],["b2",true,true]]' \
	"  status: b1's channel up but unhealthy"
is "$(fetches 6)" "6 b2" "  six fetches meanwhile: all from b2"
check1 'exit 0'
wait_for 10 grep -q "backend b1: its check passes again" "$TMP/bal.err"
ok "its check passes again (two runs in a row): said so" grep -q "backend b1: its check passes again" "$TMP/bal.err"
is "$(fetches 4)" "2 b1 2 b2" "  b1 serves again: four fetches, two from each"
check1 'sleep 30'
wait_for 10 grep -q "backend b1: its check fails (\`$TMP/check1.sh\` did not end within the interval)" "$TMP/bal.err"
ok "a check that hangs is killed at the interval and fails" \
	grep -q "backend b1: its check fails (\`$TMP/check1.sh\` did not end within the interval)" "$TMP/bal.err"
is "$(fetches 2)" "2 b2" "  and b1 gets nothing meanwhile"
check1 'exit 0'

is "$(status | jq '.listener.no_backend')" 0 "no request got a 503"
kill -HUP "$BAL"
wait_for 5 grep -q "SIGHUP: reloaded" "$TMP/bal.err"
kill -TERM "$BAL"
wait "$BAL"
is "$?" 0 "SIGHUP, then SIGTERM: balance exits 0"
wait_for 5 grep -qs STOPPING=1 "$TMP/notify.log"
is "$(tr '\n' ' ' <"$TMP/notify.log")" "READY=1 RELOADING=1 READY=1 STOPPING=1 " \
	"  systemd heard: ready, reloading and ready again around the SIGHUP, stopping"
ok "  its channels' receive --serve ended with it, their checks too" \
	wait_for 10 sh -c "[ -z \"\$(ip netns pids $NS_B1)\" ]"
is "$(nstat_get "$NS_C" TcpEstabResets)" 0 "no connection of the client was reset"

# An l3 backend whose host cannot unwrap the steer's IPIP (its tunnel device
# down): refused at its channel's WELCOME, naming the way out, rather than
# taking hand-offs whose client packets it would drop.
# (the kernel's tunnel device down, or tcpferry's BPF decap taken off)
if [ "${DECAP#the kernel}" != "$DECAP" ]; then
	ip -n "$NS_B2" link set tfin down
else
	in_ns "$NS_B2" tc filter del dev eth0 ingress
fi
hol_balance nodecap --threads 1 --rule "$(sed -n 2p "$TMP/balance.conf")" --rule 'pool p roundrobin b2' --rule 'default pool p' \
	--listen "$VIP:$((PORT + 1))" 2>/dev/null || true	# it exits: not ready
wait_for 10 grep -qs "no backend's channel opened" "$TMP/nodecap.err"
ok "an l3 backend with no IPIP decap: refused, saying how to make one there" \
	grep -q "backend b2 is down .*mode l3, but that host takes no IPIP packets.*ip link add tfin type ipip external" \
	"$TMP/nodecap.err"
done_testing
