#!/usr/bin/env bash
# A restore whose 4-tuple a live socket of this host owns (the source still
# running: a dump with --leave-running restored on its own host, or a restore
# on the wrong host) is refused before it locks anything: a lock there would
# drop the live connection's packets (for ever with --lock-ttl 0).  A stream
# flows through the tuple the whole time, and keeps arriving at the peer.
# The dumped source stopped in repair mode is refused too, and the dump's lock
# stays.  A socket that takes the tuple between the check and the lock (the
# race) loses the restore's lock again when the restore fails.  migrate move
# to a namespace where the tuple is live is refused before it locks or stops.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd python3 socat ss

plan 27

make_pair
make_bpffs
tfa() { in_ns "$NS_A" "$TF" --bpffs "$BPFFS/a" "$@"; }
nlocks() { tfa -j lock list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["locks"]))'; }
lock_reasons() { tfa -j lock list | python3 -c 'import json,sys; print(" ".join(l["reason"] for l in json.load(sys.stdin)["locks"]))'; }
tfa attach "$DEV_A" --tc >/dev/null || bail_out "cannot attach the lock programs on A"

# The peer (B) receives; A's sender writes a line every 10 ms for a minute.
in_ns "$NS_B" socat -u TCP4-LISTEN:7100,bind="$ADDR_B",reuseaddr OPEN:"$TMP/recv",creat,trunc &
rx=$!
at_exit "kill $rx"
sleep 0.3
cat >"$TMP/sender.py" <<'PY'
import socket, sys, time
s = socket.create_connection((sys.argv[1], 7100))
for i in range(6000):
    s.sendall(b"line %06d abcdefghijklmnopqrstuvwxyz\n" % i)
    time.sleep(0.01)
PY
spawn "$NS_A" "$TMP/sender.out" python3 "$TMP/sender.py" "$ADDR_B"
app=$SPAWNED
wait_for 5 test -s "$TMP/recv" || bail_out "the stream did not start"

size() { stat -c %s "$TMP/recv"; }
# Bytes keep arriving at the peer: the file grows within a second, twice.
flowing() {
	local a b c
	a=$(size); sleep 0.5; b=$(size); sleep 0.5; c=$(size)
	[ "$b" -gt "$a" ] && [ "$c" -gt "$b" ] || { diag "peer got $a, $b, $c bytes"; return 1; }
}

ok "dump --leave-running" quietly tfa dump --pid "$app" --out "$TMP/img" --leave-running
tuple=$(in_ns "$NS_A" ss -tnH state established "( dport = :7100 )" | awk 'NR == 1 { print $3 " -> " $4 }')
note "the live tuple: $tuple"

for ttl in 0 60; do
	tfa restore --in "$TMP/img" --lock-ttl "$ttl" -- true >"$TMP/r$ttl.out" 2>"$TMP/r$ttl.err"
	rc=$?
	note "$(cat "$TMP/r$ttl.err")"
	ok "restore --lock-ttl $ttl on the source's host fails (exit $rc), naming the image, the tuple and its live owner" \
		eval '[ $rc -eq 1 ] && grep -qF "tcpferry: restore $TMP/img/conn-0001.tfc: $tuple: this 4-tuple is already in use on this host by a live socket (ESTABLISHED, pid $app python3)" "$TMP/r$ttl.err"'
	ok "  it says nothing was locked, and how to go on" \
		eval 'grep -q "nothing was locked or restored: the connection is alive here .*restore it on another host" "$TMP/r$ttl.err" &&
			grep -q "failed; nothing was sent to any peer, and no lock was taken here\." "$TMP/r$ttl.err"'
	is "$(nlocks)" 0 "  no lock is left on the live tuple (lock list -j)"
	ok "  the live stream keeps flowing: bytes keep arriving at the peer" flowing
done

# The source stopped in repair mode by a plain dump: its socket still owns the
# tuple (the kernel would refuse the connect), so the restore is refused
# before it locks, and the dump's own lock (no expiry) is not touched.
ok "dump (the source stopped, in repair mode, locked)" quietly tfa dump --pid "$app" --out "$TMP/img2" --lock-ttl 0
a=$(size)
tfa restore --in "$TMP/img2" -- true 2>"$TMP/r2.err"
rc=$?
note "$(cat "$TMP/r2.err")"
ok "restore while the dumped source is alive and stopped fails (exit $rc), saying kill it first" \
	eval '[ $rc -eq 1 ] && grep -qF "(ESTABLISHED, pid $app python3, stopped)" "$TMP/r2.err" &&
		grep -q "if pid $app is the dumped source (in repair mode it sends nothing), kill it first" "$TMP/r2.err"'
is "$(lock_reasons)" "dump" "  the dump's lock stays, and no restore lock was added"
is "$(size)" "$a" "  the peer got nothing meanwhile (the source is stopped and locked)"
ok "resume rolls the dump back" quietly tfa resume --pid "$app" --in "$TMP/img2"
ok "  the stream flows again" flowing
is "$(nlocks)" 0 "  and no lock is left"

# The race: nothing owns the tuple when the restore checks, a socket takes it
# before the restore's connect.  The restore fails, and drops its own lock
# again, since a live socket owns the tuple now.
kill -9 "$app"
in_ns "$NS_A" ss -K -tnH state all "( dport = :7100 )" >/dev/null 2>&1
in_ns "$NS_B" ss -K -tnH state all "( sport = :7100 )" >/dev/null 2>&1
kill "$rx" 2>/dev/null
lport=$(awk '{ print $1 }' <<<"$tuple"); lport=${lport##*:}
TCPFERRY_PAUSE=restore-locked tfa restore --in "$TMP/img" --lock-ttl 0 -- true >"$TMP/race.out" 2>"$TMP/race.err" &
restore=$!
at_exit "kill -9 $restore"
wait_for 10 grep -q "SIGSTOP at restore-locked" "$TMP/race.err"
paused=$(sed -n 's/.*SIGSTOP at restore-locked (pid \([0-9]*\)).*/\1/p' "$TMP/race.err")
at_exit "kill -9 ${paused:-$restore}"
ok "the paused restore holds a lock on the free tuple" test "$(lock_reasons)" = restore
# While it is paused, a program of A connects with exactly that tuple.
in_ns "$NS_B" socat -u TCP4-LISTEN:7100,bind="$ADDR_B",reuseaddr OPEN:"$TMP/recv2",creat,trunc &
rx2=$!
at_exit "kill $rx2"
sleep 0.3
cat >"$TMP/racer.py" <<'PY'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.connect((sys.argv[3], 7100))   # SYN_SENT at once; the lock drops the SYNs until it goes
s.sendall(b"the racer got through\n")
s.close()
PY
spawn "$NS_A" "$TMP/racer.out" python3 "$TMP/racer.py" "$ADDR_A" "$lport" "$ADDR_B"
racer=$SPAWNED
wait_for 5 eval 'in_ns "$NS_A" ss -tnH state syn-sent "( dport = :7100 )" | grep -q .'
kill -CONT "$paused"
wait "$restore"
rc=$?
note "$(grep -v SIGSTOP "$TMP/race.err")"
ok "the restore fails on the taken tuple (exit $rc)" \
	eval '[ $rc -eq 1 ] && grep -q "this 4-tuple is already in use on this host" "$TMP/race.err"'
ok "  and drops its own lock again, saying why" \
	eval 'grep -q "dropped again: a live socket here owns it (SYN_SENT, pid $racer python3)" "$TMP/race.err"'
is "$(nlocks)" 0 "  no lock is left"
ok "  the racing connection gets through" wait_for 10 grep -qs "the racer got through" "$TMP/recv2"

# migrate move into a namespace where the tuple is live: refused before any
# lock is taken or the process stopped.
in_ns "$NS_B" socat -u TCP4-LISTEN:7100,bind="$ADDR_B",reuseaddr OPEN:"$TMP/recv3",creat,trunc &
rx3=$!
at_exit "kill $rx3"
sleep 0.3
spawn "$NS_A" "$TMP/sender3.out" python3 "$TMP/sender.py" "$ADDR_B"
app3=$SPAWNED
wait_for 5 test -s "$TMP/recv3"
"$TF" migrate move --pid "$app3" --to-netns "$NS_A" --from-bpffs "$BPFFS/a" --to-bpffs "$BPFFS/a" \
	--work "$TMP/mw" -- true >"$TMP/mm.out" 2>&1
rc=$?
note "$(cat "$TMP/mm.out")"
ok "migrate move into a namespace where the tuple is live fails (exit $rc), saying so, nothing moved" \
	eval '[ $rc -ne 0 ] && grep -q "migrate move .*: prepare: the other side aborted: .*this 4-tuple is already in use on this host by a live socket .*; nothing was locked here: " "$TMP/mm.out" &&
		grep -q "nothing moved: pid $app3 goes on at the source" "$TMP/mm.out"'
is "$(nlocks)" 0 "  no lock is left"

# migrate send to a receive where the tuple is live (the same host): the
# target refuses at prepare, before it locks anything or the source freezes.
# send_to NS BPFFS OUT [RECEIVE_OPTION...]: migrate send app3 to a receive in NS; its exit status in rc.
send_to() {
	local ns=$1 fs=$2 out=$3
	shift 3
	in_ns "$NS_A" "$TF" --bpffs "$BPFFS/a" migrate send --pid "$app3" --journal "$TMP/js" \
		--via "ip netns exec $ns $TF --bpffs $fs receive $* --journal $TMP/jr" -- true >"$out" 2>&1
	rc=$?
	note "$(cat "$out")"
}
send_to "$NS_A" "$BPFFS/a" "$TMP/ms.out"
ok "migrate send to a target where the tuple is live fails (exit $rc): the target says so at prepare" \
	eval '[ $rc -ne 0 ] && grep -q "this 4-tuple is already in use on this host by a live socket (ESTABLISHED, pid $app3 python3); nothing was locked here" "$TMP/ms.out"'
is "$(nlocks)" 0 "  no lock is left"
ok "  the stream goes on" eval 'a=$(stat -c %s "$TMP/recv3"); sleep 0.5; [ "$(stat -c %s "$TMP/recv3")" -gt "$a" ]'
# And to a target without the IPv4 local address, --freebind or not: refused at
# prepare, saying to add it (an IPv4 connect needs it, freebind or not).
send_to "$NS_B" "$BPFFS/b" "$TMP/ms2.out" --freebind
ok "migrate send to a receive --freebind without the IPv4 address fails (exit $rc) at prepare, saying to add it" \
	eval '[ $rc -ne 0 ] && grep -q "the local address is not on this host (Cannot assign requested address); add it before the move (an IPv4 connect needs it here, even with --freebind)" "$TMP/ms2.out"'
done_testing
