#!/usr/bin/env bash
# Where the lock's pins live.  Given a pin directory with no bpffs under it,
# attach and lock add mount one there themselves and say so; the mount is
# root-only (mode 0700), the pins in it are 0600 and its directories 0700,
# a second run mounts nothing more.  After detach and the test's own cleanup
# no mount is left.  And a dump that cannot attach the lock programs (the pin
# directory is in the way) fails before it touches the connection, in one line
# that says what failed, and the connection goes on.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd findmnt nsenter setpriv bpftool jq

plan 27

make_pair
# tcpferry in NS_A's network but the test's own mount namespace (ip netns exec
# would give it a fresh one, and a bpffs it mounts there would go with it).
TFN() { nsenter --net="/run/netns/$NS_A" "$TF" "$@"; }
PINS=$TMP/pins
mkdir -p "$PINS/plain"
chmod 0755 "$PINS" "$PINS/plain"
at_exit "umount -l $PINS/tcpferry"
at_exit "umount -l $PINS/plain"

# ---- attach mounts a bpffs on a directory it makes -----------------------------------------

DIR=$PINS/tcpferry
out=$(TFN --bpffs "$DIR" attach "$DEV_A" 2>&1)
rc=$?
at_exit "nsenter --net=/run/netns/$NS_A $TF --bpffs $DIR detach $DEV_A"
note "$out"
is "$rc" 0 "attach with --bpffs on a directory that is not there"
ok "says it mounted a bpffs there" grep -qF "mounted a bpffs on $DIR for the pins" <<<"$out"
is "$(findmnt -n -o FSTYPE --mountpoint "$DIR")" bpf "findmnt: a bpffs on $DIR"
ok "mounted with mode=700 ($(findmnt -n -o OPTIONS --mountpoint "$DIR"))" \
	bash -c "findmnt -n -o OPTIONS --mountpoint '$DIR' | tr , '\n' | grep -qx 'mode=700'"
# (the root of a bpffs has the sticky bit too: 1700)
perm() { printf '%o' $((0$(stat -c %a "$1") & 0777)); }
is "$(perm "$DIR")" 700 "the pin directory is root-only (0700)"
ndirs=$(find "$DIR" -mindepth 1 -type d | wc -l)
nfiles=$(find "$DIR" -type f | wc -l)
note "pins: $(cd "$DIR" && find . -mindepth 1 -printf '%p %m\n' | sort | xargs)"
ok "it made its directories ($ndirs) and pins ($nfiles): links, locks, the recorder's" \
	test "$ndirs" -ge 3 -a "$nfiles" -ge 6
is "$(find "$DIR" -mindepth 1 -type d ! -perm 0700 -printf '%p %m\n')" "" "every directory in it is 0700"
is "$(find "$DIR" -type f ! -name '*.debug' ! -perm 0600 -printf '%p %m\n')" "" \
	"every pin in it is 0600 (locks map, link pins, recorder maps)"
is "$(find "$DIR" -perm /077 -printf '%p %m\n')" "" "nothing in it for group or others (the kernel's *.debug files neither)"
ok "the lock table and the device's link pins are there" \
	bash -c "test -f $DIR/locks && ls $DIR/links/*/$DEV_A-tc-in $DIR/links/*/$DEV_A-tc-out >/dev/null"
if setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all true 2>/dev/null; then
	ok "another user cannot look inside" \
		bash -c "! setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all ls $DIR >/dev/null 2>&1"
else
	skip "setpriv cannot drop to uid 65534" "another user cannot look inside"
fi

out=$(TFN --bpffs "$DIR" attach "$DEV_A" 2>&1)
ok "attach again: mounts nothing more ($out)" bash -c "! grep -q mounted <<<\"\$0\"" "$out"
is "$(findmnt -rn -o TARGET | grep -cxF "$DIR")" 1 "one bpffs on $DIR, not two stacked"

# ---- lock add on an ordinary directory that is there ---------------------------------------------

out=$(TFN --bpffs "$PINS/plain" lock add 198.18.0.1:80 198.18.0.2:1 2>&1)
note "$out"
ok "lock add on an ordinary directory: mounts a bpffs on it and says so" \
	grep -qF "mounted a bpffs on $PINS/plain for the lock table" <<<"$out"
is "$(findmnt -n -o FSTYPE --mountpoint "$PINS/plain") $(perm "$PINS/plain") $(stat -c %a "$PINS/plain/locks")" \
	"bpf 700 600" "  a bpffs, 0700, the lock table pin 0600"

# ---- a dump that cannot attach ---------------------------------------------------------------------
# Something that is no directory pinned where the links' directory goes: the
# lock table can be made, the lock programs cannot be pinned.

mkdir "$DIR/blocked"
bpftool map create "$DIR/blocked/links" type array key 4 value 4 entries 1 name tf_in_the_way ||
	bail_out "bpftool cannot pin a map"
spawn "$NS_A" "$TMP/app.out" "$HELPERS/tf-stream" app "$ADDR_A" 7300 --state "$TMP/state" \
	--write $((1 << 20)) --then-exchange --peer-total $((1 << 20))
app=$SPAWNED
spawn "$NS_B" "$TMP/peer.out" "$HELPERS/tf-stream" peer "$ADDR_A" 7300 --first 65536 \
	--peer-total $((1 << 20)) --app-total $((1 << 20))
peer=$SPAWNED
wait_for 20 grep -qs ready "$TMP/peer.out" || diag "peer: $(cat "$TMP/peer.out")"

out=$(TFN --bpffs "$DIR/blocked" dump --pid "$app" --out "$TMP/img" 2>&1 >/dev/null)
rc=$?
note "$out"
is "$rc" 1 "dump fails when it cannot attach the lock programs"
ok "in one line naming the device, what is in the way and the way out ($out)" \
	bash -c "[ \$(wc -l <<<\"\$0\") -eq 1 ] && grep -qF 'device $DEV_A: pin directory $DIR/blocked/links: something else is there; remove it or pass another --bpffs' <<<\"\$0\"" "$out"
ok "and leaves no image behind" test ! -e "$TMP/img/conn-0001.tfc"
state=$(awk '{print $3}' "/proc/$app/stat")
ok "the process runs on (state $state)" test "$state" != T
kill -USR1 "$app"
kill -USR1 "$peer"
ok "the connection goes on: the peer got the app's whole stream" wait "$peer"
ok "and the app the peer's" wait "$app"

# ---- a device name with a dot ------------------------------------------------------------------------
# VLAN devices are named eth0.100; bpffs refuses pin names with a dot.
ip -n "$NS_A" link add v.7 type veth peer name v.8 && ip -n "$NS_A" link set v.7 up && ip -n "$NS_A" link set v.8 up
out=$(TFN --bpffs "$DIR" attach v.7 --tc 2>&1)
rc=$?
note "$out"
is "$rc" 0 "attach a device whose name has a dot (v.7)"
is "$(TFN --bpffs "$DIR" -j status | jq -r '.devices[] | select(.device == "v.7") | [.hooks[] | select(.alive) | .hook] | join(",")')" \
	"tc-in,tc-out" "status names it v.7, both hooks alive"
ok "its pins are named with ':' for the dot" bash -c "ls '$DIR/links/'*/ | grep -q '^v:7-tc-in\$'"
ok "tswatch --attach records on it too" quietly TFN --bpffs "$DIR" tswatch --attach v.7
ok "detach removes it all" bash -c "nsenter --net=/run/netns/$NS_A '$TF' --bpffs '$DIR' detach v.7 >/dev/null &&
	nsenter --net=/run/netns/$NS_A '$TF' --bpffs '$DIR' tswatch --detach v.7 >/dev/null && ! ls -R '$DIR' | grep -q 'v:7'"

# ---- nothing left behind ----------------------------------------------------------------------------

TFN --bpffs "$DIR" detach "$DEV_A" >/dev/null
umount "$DIR" && umount "$PINS/plain"
is "$(mounts_under "$TMP")" "" "after detach and the test's own cleanup, no mount is left under $TMP"

done_testing
