#!/usr/bin/env bash
# Soak: the demo's live, verified stream through an unmodified socat, moved
# back and forth between hosts a and b many times (50 under make test;
# SOAK=1, as `make soak` sets, 1,000): not one byte lost or duplicated, no RST,
# no PAWS drop at the peer, no lock left behind, every migration resumed.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd socat jq ss nstat

N=50
[ -n "${SOAK:-}" ] && N=1000
plan 5
out=$TMP/soak.out
"$TF_ROOT/tools/demo.sh" --count "$N" --tsv "$TMP/soak.tsv" >"$out" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
	tail -12 "$out" | while read -r l; do note "$l"; done
else # all of it, on stderr: CI shows only that
	tail -60 "$out" | while read -r l; do diag "$l"; done
fi
field() { sed -n "s/^$1: *//p" "$out"; }
ok "$N migrations a <-> b, every check passed" test "$rc" -eq 0
is "$(($(wc -l <"$TMP/soak.tsv") - 1))" "$N" "every migration resumed the stream"
is "$(field 'PAWS drops at the peer')" 0 "no PAWS drop at the peer"
is "$(field 'RSTs sent (peer, a, b)')" "0; peer connections reset: 0" "no RST"
is "$(field 'locks left behind')" 0 "no lock left behind"
done_testing
