#!/usr/bin/env bash
# A dump that fails after it has locked and read the connection (the image
# does not fit: --out is a 64 KiB tmpfs, the app's receive queue holds 1 MiB)
# undoes itself: the lock is gone, repair mode is off, the process runs on, and
# the connection carries both streams to the end, byte-exact; its socket has
# the SO_REUSEADDR it had (1, from the app's listener), which repair mode cleared.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd python3

plan 10

make_pair
make_bpffs
tfa() { in_ns "$NS_A" "$TF" --bpffs "$BPFFS/a" "$@"; }
tfa attach "$DEV_A" --tc >/dev/null || bail_out "cannot attach the lock programs on A"
mkdir -p "$TMP/small"
mount -t tmpfs -o size=64k tmpfs "$TMP/small" || skip_all "cannot mount a tmpfs"
at_exit "umount -l $TMP/small"

FIRST=$((1 << 20))
spawn "$NS_A" "$TMP/app.out" "$HELPERS/tf-stream" app "$ADDR_A" 7200 --state "$TMP/state" \
	--rcvbuf $((8 << 20)) --write $((2 << 20)) --then-exchange --peer-total $((4 << 20))
app=$SPAWNED
spawn "$NS_B" "$TMP/peer.out" "$HELPERS/tf-stream" peer "$ADDR_A" 7200 --first "$FIRST" \
	--peer-total $((4 << 20)) --app-total $((2 << 20))
peer=$SPAWNED
wait_for 20 grep -qs ready "$TMP/peer.out" || diag "peer: $(cat "$TMP/peer.out")"

fd=$(in_ns "$NS_A" ss -tnpH state established "( sport = :7200 )" |
	awk 'NR == 1 { match($5, /fd=[0-9]+/); print substr($5, RSTART + 3, RLENGTH - 3) }')
is "$(reuseaddr "$app" "$fd")" 1 "before: the app's connection (fd $fd) has SO_REUSEADDR 1"
out=$(tfa dump --pid "$app" --out "$TMP/small/img" 2>&1 >/dev/null)
status=$?
note "$out"
is "$status" 1 "the dump fails"
ok "and says the image did not fit, naming it" grep -q "conn-0001.tfc.*No space left" <<<"$out"
ok "and leaves no image behind" test ! -e "$TMP/small/img"
ok "and says it was undone" grep -q "dump undone" <<<"$out"
is "$(tfa -j lock list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["locks"]))')" 0 \
	"no lock is left"
state=$(awk '{print $3}' "/proc/$app/stat")
ok "the process runs on (state $state)" test "$state" != T
is "$(reuseaddr "$app" "$fd")" 1 "fd $fd has SO_REUSEADDR 1 again"

# The app now sends its stream and reads the peer's; both check every byte.
kill -USR1 "$app"
kill -USR1 "$peer"
ok "the peer got the app's whole stream and sent its own" wait "$peer"
ok "the app got the peer's whole stream" wait "$app"
note "app: $(cat "$TMP/app.out")"
done_testing
