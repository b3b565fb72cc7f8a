#!/usr/bin/env bash
# make demo's checks as a test: an unmodified socat on host a relays a live,
# verified stream (the peer's tf-flow client through socat to the peer's
# socat echo server); tools/migrate.sh moves both of socat's connections to
# host b mid-stream, into a fresh `socat FD:3 FD:4` fed by tcpferry restore.
# Every byte checked, no RST, no PAWS drop, no lock left, lock drops counted.
# Then the same with --ssh (migrate send over ssh, there and back).
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd socat jq ss nstat ssh /usr/sbin/sshd

plan 11
out=$TMP/demo.out
"$TF_ROOT/tools/demo.sh" >"$out" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
	sed 's/^/  /' "$out" | while read -r l; do note "$l"; done
else
	sed 's/^/  /' "$out" | while read -r l; do diag "$l"; done
fi
field() { sed -n "s/^$1: *//p" "$out"; }
ok "the demo passes its own checks" test "$rc" -eq 0
ok "the peer saw a pause, measured in ms" grep -Eq '^pause the peer saw: +[0-9.]+ ms' "$out"
is "$(field 'PAWS drops at the peer')" 0 "no PAWS drop at the peer"
is "$(field 'RSTs sent (peer, a, b)')" "0; peer connections reset: 0" "no RST sent by any host, the peer's connections never reset"
ok "the locks dropped packets (the peer kept sending)" test "$(field 'packets the locks dropped')" -gt 0
v=$(field 'bytes verified')
ok "every byte the peer sent came back, verified ($v)" awk '{ exit !($1 > 0 && $1 == $3) }' <<<"$v"
is "$(field 'locks left behind')" 0 "no lock left on a or b"

"$TF_ROOT/tools/demo.sh" --ssh --count 2 >"$out" 2>&1
rc=$?
sed 's/^/  /' "$out" | while read -r l; do [ "$rc" -eq 0 ] && note "$l" || diag "$l"; done
ok "make demo's --ssh run passes its checks (migrate send over ssh, a -> b -> a)" test "$rc" -eq 0
is "$(field 'how it moved')" "tcpferry migrate send over ssh (a and b share only the lab network)" \
	"  its report says how it moved"
is "$(field 'PAWS drops at the peer')$(field 'RSTs sent (peer, a, b)')" "00; peer connections reset: 0" \
	"  no PAWS drop, no RST"
is "$(field 'locks left behind')" 0 "  no lock left on a or b"
done_testing
