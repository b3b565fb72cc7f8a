#!/usr/bin/env bash
# Bad images on the target are refused before the lock or any socket changes
# anything: during a live move (the demo's verified stream), the carried image
# is truncated, set to another format version, or edited (one payload byte);
# each time `migrate.sh restore` fails, b holds no lock and no socket of the
# connection, and the connection is still whole: carried again, the move completes.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../helpers/flowlab.sh"
need_root
need_built
need_cmd socat jq ss nstat python3

plan 14
flowlab_up
new_move
for s in prepare dump carry; do migrate $s >/dev/null 2>&1; done
img=$(ls "$MW"/dst/conn-*.tfc | head -1)
size=$(stat -c %s "$img")

damage() {
	case $1 in
	truncated) truncate -s $((size / 2)) "$img" ;;
	version) printf '\x02\x00' | dd of="$img" bs=1 seek=8 conv=notrunc status=none ;;
	edited) python3 -c '
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) - 40] ^= 0x01; open(p, "wb").write(b)' "$img" ;;
	esac
}
for kind in truncated version edited; do
	migrate carry >/dev/null 2>&1
	damage $kind
	migrate restore >"$MW.$kind" 2>&1
	ok "$kind image: restore refuses it" test $? -ne 0
	note "$(grep -m1 tcpferry "$MW.$kind")"
	is "$(lock_count b)" 0 "$kind image: no lock was taken on b"
	is "$("$TF_ROOT/tools/lab.sh" exec b ss -tanH "( sport = :5000 or dport = :5001 )" | wc -l)" 0 \
		"$kind image: no socket of the connection exists on b"
done
migrate carry >/dev/null 2>&1
migrate all >"$MW.all" 2>&1 && moved
ok "carried again, the move completes" test "$APP_HOST" = b
ok "the stream flows at b" flowing
ok "every byte verified, end to end" flow_finish
is "$(nstat_get "$NS_PEER" TcpEstabResets)" 0 "the peer's connections were never reset"
ok "no lock left on a or b" eval '[ "$(lock_count a)$(lock_count b)" = 00 ]'
done_testing
