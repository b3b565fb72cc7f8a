#!/usr/bin/env bash
# The errors a user meets with dump and restore: each one line that names the
# object and the way out, exit status 1 (2 for bad usage), and nothing changed.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd python3 setpriv

plan 36

make_pair
make_bpffs
tfa() { in_ns "$NS_A" "$TF" --bpffs "$BPFFS/a" "$@"; }
tfb() { in_ns "$NS_B" "$TF" --bpffs "$BPFFS/b" "$@"; }
nlocks() { "$@" -j lock list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["locks"]))'; }

nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"; }

ok "dump as an unprivileged user says which capability is missing" \
	expect_error 1 "dump needs CAP_NET_ADMIN" nobody "$TF" dump --pid 1 --out "$TMP/x"
ok "restore as an unprivileged user says which capability is missing" \
	expect_error 1 "restore needs CAP_NET_ADMIN" nobody "$TF" restore --in "$TMP/x" -- true
ok "dump of a pid that does not exist" expect_error 1 "pid 2147483: no such process" \
	"$TF" dump --pid 2147483 --out "$TMP/x"
ok "dump without --out is a usage error" expect_error 2 "needs --pid and --out" "$TF" dump --pid 1
ok "restore without a program or --send-to is a usage error" \
	expect_error 2 "either -- CMD or --send-to" "$TF" restore --in "$TMP/x"

# A process holding a file, a listening TCP socket and a UDP socket, at known fds.
cat >"$TMP/holder.py" <<'PY'
import socket, sys, time
f = open(sys.argv[1] + ".file", "w")
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
open(sys.argv[1], "w").write("%d %d %d\n" % (f.fileno(), l.fileno(), u.fileno()))
time.sleep(60)
PY
python3 "$TMP/holder.py" "$TMP/fds" &
holder=$!
at_exit "kill -9 $holder"
wait_for 10 test -s "$TMP/fds"
read -r file_fd listen_fd udp_fd <"$TMP/fds"
ok "dump --fd of a regular file" expect_error 1 "fd $file_fd: not a socket" \
	"$TF" dump --pid "$holder" --fd "$file_fd" --out "$TMP/d1" --no-lock
ok "dump --fd of a listening socket" expect_error 1 "fd $listen_fd: listening socket" \
	"$TF" dump --pid "$holder" --fd "$listen_fd" --out "$TMP/d2" --no-lock
ok "dump --fd of a UDP socket" expect_error 1 "fd $udp_fd: not a TCP socket" \
	"$TF" dump --pid "$holder" --fd "$udp_fd" --out "$TMP/d3" --no-lock
ok "dump --fd of an fd the process does not have" expect_error 1 "fd 999: no such file descriptor" \
	"$TF" dump --pid "$holder" --fd 999 --out "$TMP/d5" --no-lock
ok "dump of a process with no connection" expect_error 1 "no TCP connection to take" \
	"$TF" dump --pid "$holder" --out "$TMP/d4" --no-lock
ok "  the --out directory it made is gone again" test ! -e "$TMP/d4"
mkdir "$TMP/mine"
"$TF" dump --pid "$holder" --out "$TMP/mine" --no-lock 2>/dev/null
ok "  a --out directory the user made stays, though empty" test -d "$TMP/mine"
ok "the refused process was not left stopped" test "$(awk '{print $3}' "/proc/$holder/stat")" != T

# A connection still being made (SYN_SENT: nobody at 198.18.0.99 answers ARP)
# cannot be carried; a dump that leaves it behind says so without -v.
cat >"$TMP/connecting.py" <<'PY'
import socket, sys, time
s = socket.socket(); s.setblocking(False); s.connect_ex(("198.18.0.99", 80))
open(sys.argv[1], "w").write("%d\n" % s.fileno())
time.sleep(60)
PY
ip netns exec "$NS_A" python3 "$TMP/connecting.py" "$TMP/syn_fd" &
connecting=$!
at_exit "kill -9 $connecting"
wait_for 10 test -s "$TMP/syn_fd"
ok "dump says which connection it leaves behind, and why" \
	expect_error 1 "fd $(cat "$TMP/syn_fd"): left behind .*SYN_SENT: the handshake has not finished" \
	tfa dump --pid "$connecting" --out "$TMP/d6" --no-lock

# A real connection A <-> B, snapshotted while it runs on.
tfa attach "$DEV_A" --tc >/dev/null
tfb attach "$DEV_B" --tc >/dev/null
spawn "$NS_A" "$TMP/echo.out" "$HELPERS/tf-stream" echo "$ADDR_A" 7000
app=$SPAWNED
spawn "$NS_B" "$TMP/peer.out" "$HELPERS/tf-stream" many-peer "$ADDR_A" 7000 --count 1 --rounds 1
peer=$SPAWNED
wait_for 20 grep -qs ready "$TMP/peer.out"
ok "dump --leave-running of a live connection" quietly tfa dump --pid "$app" --out "$TMP/img" --leave-running
ok "a second dump into the same directory is refused" expect_error 1 "already holds a dump" \
	tfa dump --pid "$app" --out "$TMP/img"

ok "restore to a program that does not exist is refused before anything is restored" \
	expect_error 1 "no-such-program-tf: not found in PATH" tfa restore --in "$TMP/img" -- no-such-program-tf
ok "restore --send-to a socket nobody listens on is refused before anything is restored" \
	expect_error 1 "nothing restored.*listening" tfa restore --in "$TMP/img" --send-to "$TMP/nobody.sock"
is "$(nlocks tfa)" 0 "  (no lock was taken for either)"
ok "restore while the 4-tuple is still in use here" expect_error 1 "already in use on this host" \
	tfa restore --in "$TMP/img" -- true
ok "the failed restore says how to retry or roll back" expect_error 1 "Retry: tcpferry restore" \
	tfa restore --in "$TMP/img" -- true
tfa lock flush >/dev/null

ok "restore on a host without the local address" expect_error 1 "address not on this host.*--freebind" \
	tfb restore --in "$TMP/img" -- true
is "$(nlocks tfb)" 1 "the failed restore keeps its lock (the peer retransmits instead of meeting an RST)"
tfb lock flush >/dev/null

# Damaged images are refused before any lock or socket: the lock table stays empty.
cp -r "$TMP/img" "$TMP/bad"
python3 -c '
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x10
open(p, "wb").write(b)' "$TMP/bad/conn-0001.tfc"
ok "a flipped bit in an image is refused, naming the file" expect_error 1 "conn-0001.tfc" \
	tfa restore --in "$TMP/bad" -- true
size=$(stat -c %s "$TMP/img/conn-0001.tfc")
head -c $((size - 7)) "$TMP/img/conn-0001.tfc" >"$TMP/bad/conn-0001.tfc"
ok "a truncated image is refused, naming the file" expect_error 1 "conn-0001.tfc.*trunc" \
	tfa restore --in "$TMP/bad" -- true
is "$(nlocks tfa)" 0 "refusing damaged images took no lock"
ok "a directory without a dump is refused" expect_error 1 "index.tfi" tfa restore --in "$TMP" -- true

kill -USR1 "$peer"
ok "the source connection is untouched by all of this" wait "$peer"
ok "restore --help works" quietly "$TF" restore --help
ok "a malformed tuple is refused before any lock table or bpffs is made" \
	expect_error 2 "expected ADDR:PORT" "$TF" --bpffs "$BPFFS/fresh" lock add 198.18.0.1 198.18.0.2:80
ok "  (nothing was created)" test ! -e "$BPFFS/fresh"

# ip netns exec gives the command a mount namespace and a /sys of its own: a
# bpffs mounted there would vanish with the command, and the attach with it.
NS_N=${RUN_ID}n
make_ns "$NS_N"
ip -n "$NS_N" link add v0 type veth peer name v1 && ip -n "$NS_N" link set v0 up && ip -n "$NS_N" link set v1 up
ok "attach under ip netns exec with no bpffs refuses to mount one that would vanish, and says what to do" \
	expect_error 1 "mount namespace of its own.*tcpferry -n NETNS" in_ns "$NS_N" env -u TCPFERRY_BPFFS "$TF" attach v0 --tc
ok "tcpferry -n NETNS attach enters only the network namespace" \
	quietly "$TF" -n "$NS_N" --bpffs "$BPFFS/n" attach v0 --tc
link=$("$TF" -n "$NS_N" --bpffs "$BPFFS/n" -j status | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(str(h["link_id"]) for x in d["devices"] if x["device"] == "v0" for h in x["hooks"] if h["alive"]))')
ok "  and the attach lasts: a later command sees v0's hooks alive ($link)" test -n "$link"
ok "  and so does the kernel: bpftool shows the link" bpftool link show id "${link%% *}"
ok "-n with a namespace that does not exist names it and where to look" \
	expect_error 1 "netns ${RUN_ID}nosuch: cannot open /run/netns/${RUN_ID}nosuch.*ip netns list" "$TF" -n "${RUN_ID}nosuch" status
"$TF" -n "$NS_N" --bpffs "$BPFFS/n" detach v0 >/dev/null 2>&1
done_testing
