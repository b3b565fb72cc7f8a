#!/usr/bin/env bash
# Options a new user gets wrong, and what tcpferry says: each refusal one line
# that names the object, what is wrong and the way out, exit 2 for bad usage
# (1 when the request itself cannot be done), and nothing changed.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd python3 findmnt

plan 34

# ---- --bpffs on a directory that holds something -------------------------------------
# A dump directory given to --bpffs by mistake: a bpffs mounted over it would
# hide its images (and the next restore would fail with EPERM).
mkdir -m 0700 "$TMP/dump"
cp "$TF_ROOT"/images/golden/* "$TMP/dump/"
at_exit "umount -l $TMP/dump"
ok "--bpffs on a non-empty directory that is no bpffs is refused, saying why and what to give instead" \
	expect_error 1 "lock add: pin directory $TMP/dump: $TMP/dump is no bpffs and not empty \(it holds '.*' and [0-9]+ more\), .*give --bpffs an empty directory or one on a bpffs" \
	"$TF" --bpffs "$TMP/dump" lock add 198.18.0.1:80 198.18.0.2:5000
is "$(mounts_under "$TMP/dump")" "" "  nothing was mounted there"
ok "  and the dump's files are all still there" cmp -s "$TMP/dump/index.tfi" "$TF_ROOT/images/golden/index.tfi"
ok "  status says so too, and mounts nothing" \
	eval '"$TF" --bpffs "$TMP/dump/" status >/dev/null 2>&1; [ -z "$(mounts_under "$TMP/dump")" ]'
mkdir -m 0700 "$TMP/empty"
at_exit "umount -l $TMP/empty"
ok "an empty directory still gets a bpffs of its own (lock add works)" \
	quietly "$TF" --bpffs "$TMP/empty" lock add 198.18.0.1:80 198.18.0.2:5000
is "$(mounts_under "$TMP/empty")" "$TMP/empty" "  mounted there"
ok "--bpffs '' is refused" expect_error 2 "^tcpferry: --bpffs needs a directory, not an empty value" "$TF" --bpffs "" status
ok "--bpffs= likewise" expect_error 2 "^tcpferry: --bpffs needs a directory" "$TF" --bpffs= status

# ---- global options without their value ---------------------------------------------------
ok "-n without a value says so (not 'unknown command')" \
	expect_error 2 "^tcpferry: -n needs a value \(a network namespace\)" "$TF" -n
ok "--netns before -- without a value likewise" \
	expect_error 2 "^tcpferry: --netns needs a value" "$TF" status --netns -- x
ok "--bpffs without a value says so" \
	expect_error 2 "^tcpferry: --bpffs needs a value \(a pin directory\)" "$TF" status --bpffs
ok "-n '' is refused" expect_error 2 "^tcpferry: -n needs a network namespace, not an empty value" "$TF" -n "" status

# ---- restore: the local address, the route, and what the failure says of the locks ----------
# The golden dump (192.0.2.1:443 -> 198.51.100.7:51234, and an IPv6 one) in a
# namespace with a route to both peers but neither local address.
make_bpffs
NS=${RUN_ID}f
make_ns "$NS"
ip -n "$NS" link add v0 type veth peer name v1
ip -n "$NS" link set v0 up && ip -n "$NS" link set v1 up
ip -n "$NS" addr add 198.51.100.1/24 dev v0
ip -n "$NS" addr add 2001:db8::3/64 dev v0 nodad
mkdir -m 0700 "$TMP/golden"
install -m 0600 "$TF_ROOT"/images/golden/* "$TMP/golden/"
tfn() { "$TF" -n "$NS" --bpffs "$BPFFS/n" "$@"; }
nlocks() { tfn -j lock list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["locks"]))'; }
ok "restore without the IPv4 local address says to add it, not --freebind" \
	expect_error 1 "bind 192.0.2.1:443: address not on this host; add it \(ip addr add 192.0.2.1/32 dev lo, .*--freebind would not do\)" \
	tfn restore --in "$TMP/golden" -- true
ok "  a second time: that the 2 locks it found stay" \
	expect_error 1 "failed; nothing was sent to any peer, and the 2 lock\(s\) it found here \(taken before it\) stay" \
	tfn restore --in "$TMP/golden" -- true
tfn lock flush >/dev/null
ok "  with --lock-ttl 0: that the 2 locks it took stay, with no expiry" \
	expect_error 1 "failed; nothing was sent to any peer, and the 2 lock\(s\) taken here stay \(no expiry\)" \
	tfn restore --in "$TMP/golden" --lock-ttl 0 -- true
tfn lock flush >/dev/null
# --freebind: the bind succeeds, the connect fails with ENETUNREACH although the
# peer has a route: the kernel routes an IPv4 connect only from a local address.
ok "restore --freebind without the IPv4 local address (a route to the peer present) says what to add" \
	expect_error 1 "connect 198.51.100.7:51234 from 192.0.2.1:443: the local address is not on this host; --freebind got the bind past that, but the kernel routes an IPv4 connect only from a local address: add it \(ip addr add 192.0.2.1/32 dev lo" \
	tfn restore --in "$TMP/golden" --freebind -- true
tfn lock flush >/dev/null
ip -n "$NS" route del 198.51.100.0/24 dev v0
ok "restore with no route to the peer says so" \
	expect_error 1 "lock 192.0.2.1:443 -> 198.51.100.7:51234: route to 198.51.100.7:51234: Network is unreachable" \
	tfn restore --in "$TMP/golden" -- true
ok "  and that no lock was taken (none was)" \
	expect_error 1 "failed; nothing was sent to any peer, and no lock was taken here\. Retry: .* on the source host\.$" \
	tfn restore --in "$TMP/golden" -- true
is "$(nlocks)" 0 "  indeed none"
ok "  and no socket is left" test -z "$(ip netns exec "$NS" ss -tanH)"

# ---- one option or the other, one step name -----------------------------------------------
ok "attach --xdp --tc is refused: pick one" \
	expect_error 2 "^tcpferry: attach: --xdp and --tc exclude each other: pick one" tfn attach v1 --xdp --tc
ok "  and nothing was attached to v1" eval '! tfn -j status | grep -q "\"v1\""'
ok "attach --tc --tc is fine" quietly tfn attach v1 --tc --tc
ok "migrate bogus names the unknown step first" \
	expect_error 2 "^tcpferry: migrate: unknown step 'bogus': freeze, nudge or move" "$TF" migrate bogus
ok "  with --pid too" expect_error 2 "unknown step 'bogus'" "$TF" migrate bogus --pid 1

# ---- lock add --ttl 0 means never, as --lock-ttl 0 does ----------------------------------------
ok "lock add --ttl 0 is a lock that never expires" quietly tfn lock add 198.51.100.1:80 198.51.100.9:5000 --ttl 0
is "$(tfn -j lock list | python3 -c 'import json,sys; print([l["expires_ns"] for l in json.load(sys.stdin)["locks"]])')" \
	"[0]" "  (lock list: expires_ns 0, no expiry)"
ok "lock add --ttl -1 is refused, saying what 0 means" \
	expect_error 2 "lock: --ttl '-1': expected seconds, 0 for a lock that never expires" \
	tfn lock add 198.51.100.1:81 198.51.100.9:5000 --ttl -1
tfn lock flush >/dev/null

# ---- dump --fd of a unix socket -------------------------------------------------------------------
cat >"$TMP/unix.py" <<'PY'
import socket, sys, time
a, b = socket.socketpair()
open(sys.argv[1], "w").write("%d\n" % a.fileno())
time.sleep(60)
PY
python3 "$TMP/unix.py" "$TMP/unix_fd" &
holder=$!
at_exit "kill -9 $holder"
wait_for 10 test -s "$TMP/unix_fd"
ufd=$(cat "$TMP/unix_fd")
ok "dump --fd of a unix socket says it is one, not 'address family 1'" \
	expect_error 1 "^tcpferry: dump pid $holder fd $ufd: a unix socket, not TCP \(only TCP connections can be carried\)" \
	"$TF" dump --pid "$holder" --fd "$ufd" --out "$TMP/du" --no-lock

# ---- resume only what a dump stopped -------------------------------------------------------------
sleep 60 &
stopped=$!
at_exit "kill -9 $stopped"
kill -STOP "$stopped"
ok "resume of a process no dump stopped is refused, and says how to continue it by hand" \
	expect_error 1 "^tcpferry: resume pid $stopped: no socket of it is in repair mode or under a dump's lock, so no dump here stopped it; nothing done .*kill -CONT $stopped$" \
	"$TF" resume --pid "$stopped"
is "$(awk '{ print $3 }' "/proc/$stopped/stat")" T "  it was not continued (someone else stopped it)"
ok "resume --in a dump of another pid is refused" \
	expect_error 1 "resume --pid $stopped --in $TMP/golden: that dump is of pid 4242, not $stopped; nothing done" \
	"$TF" resume --pid "$stopped" --in "$TMP/golden"
# A dump that died before repair mode: its index names the pid, no socket is in repair mode.
mkdir -m 0700 "$TMP/idx"
python3 - "$TMP/idx/index.tfi" "$stopped" <<'PY'
import struct, sys, zlib
def rec(t, flags, p):
    h = struct.pack("<HHI", t, flags, len(p)) + p
    return h + struct.pack("<I", zlib.crc32(h))
hdr = b"\x89TFI\r\n\x1a\n" + struct.pack("<HH", 1, 0)
f = hdr + struct.pack("<I", zlib.crc32(hdr))
f += rec(0x20, 1, struct.pack("<IQH", int(sys.argv[2]), 0, 1) + b"t")
f += rec(0x01, 1, struct.pack("<II", 1, zlib.crc32(f)))
open(sys.argv[1], "wb").write(f)
PY
chmod 0600 "$TMP/idx/index.tfi"
ok "resume --in a dump whose index names the pid continues it" quietly "$TF" resume --pid "$stopped" --in "$TMP/idx"
running() { [ "$(awk '{ print $3 }' "/proc/$1/stat")" != T ]; }
ok "  (it runs)" wait_for 5 running "$stopped"
done_testing
