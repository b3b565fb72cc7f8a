#!/usr/bin/env bash
# tcpferry check and tcpferry show, through the real binary: check's lines,
# its JSON and its exit status agree (and an unprivileged run is refused
# TCP_REPAIR); show prints the golden files exactly, as text and JSON, and
# names the file and the damage when an image is truncated or corrupt.
. "$(dirname "$0")/../lib.sh"
need_built
need_cmd perl

GOLDEN=$TF_ROOT/images/golden
plan 49

# json_ok FILE: FILE holds one valid JSON document.
json_ok() { perl -MJSON::PP -e 'local $/; decode_json(<STDIN>)' <"$1" 2>/dev/null; }
# json_get FILE PERL-EXPR: evaluate an expression over the document ($d).
json_get() { perl -MJSON::PP -e 'local $/; my $d = decode_json(<STDIN>); print eval($ARGV[0]) // "undef"' "$2" <"$1"; }

# ---- check ------------------------------------------------------------------------------

"$TF" check >"$TMP/check.txt" 2>"$TMP/check.err"
rc=$?
ok "check exits 0 or 1 (got $rc)" test "$rc" -le 1
ok "every line but the summary is ok or missing" \
	bash -c "head -n -1 '$TMP/check.txt' | grep -qv '^ok \|^missing ' && exit 1 || exit 0"
for f in CAP_NET_ADMIN CAP_BPF TCP_REPAIR TCP_REPAIR_WINDOW "TCP_TIMESTAMP usec" SO_BUF_LOCK \
	pidfd_getfd "bpf syscall" BTF bpffs "tc (clsact)" tcx XDP TCP-AO; do
	ok "check reports $f" grep -qF " $f " "$TMP/check.txt"
done
needed_missing=$(grep '^missing ' "$TMP/check.txt" | grep -vc ' optional: ')
if [ "$rc" -eq 0 ]; then
	is "$needed_missing" 0 "exit 0 means nothing needed is missing"
else
	ok "exit 1 means something needed is missing ($needed_missing)" test "$needed_missing" -gt 0
fi
if [ "$(id -u)" -eq 0 ]; then
	ok "as root, CAP_NET_ADMIN is ok" grep -q '^ok  *CAP_NET_ADMIN' "$TMP/check.txt"
else
	skip "not root" "as root, CAP_NET_ADMIN is ok"
fi

"$TF" -j check >"$TMP/check.json"
rcj=$?
ok "check -j is valid JSON" json_ok "$TMP/check.json"
is "$rcj" "$rc" "check -j exits as check does"
is "$(json_get "$TMP/check.json" 'scalar @$d')" 15 "check -j lists 15 features"
is "$(json_get "$TMP/check.json" 'join ",", map { $_->{ok} ? 1 : 0 } @$d')" \
	"$(head -n -1 "$TMP/check.txt" | awk '{ printf "%s%s", (NR > 1 ? "," : ""), ($1 == "ok") }')" \
	"check -j and the text agree on what is ok"
ok "every JSON entry has feature, ok and detail" \
	test "$(json_get "$TMP/check.json" 'scalar grep { defined $_->{feature} && defined $_->{ok} && length $_->{detail} } @$d')" = 15

if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
		"$TF" check >"$TMP/check-nobody.txt" 2>&1
	is "$?" 1 "check without privileges exits 1"
	ok "without privileges TCP_REPAIR is missing" grep -q '^missing  *TCP_REPAIR ' "$TMP/check-nobody.txt"
else
	skip "needs root and setpriv" "check without privileges exits 1"
	skip "needs root and setpriv" "without privileges TCP_REPAIR is missing"
fi

# ---- show --------------------------------------------------------------------------------

"$TF" show "$GOLDEN/v1-ipv4.tfc" >"$TMP/show.txt" 2>&1
is "$?" 0 "show of the golden image exits 0"
ok "show prints the tuple, state, usec clock, wire tsval, unsent split and options" bash -c "
	grep -q '192.0.2.1:443 -> 198.51.100.7:51234' '$TMP/show.txt' &&
	grep -q 'state  *ESTABLISHED' '$TMP/show.txt' &&
	grep -q 'ts clock  *1193047 (usec timestamps)' '$TMP/show.txt' &&
	grep -q 'ts wire  *1193057' '$TMP/show.txt' &&
	grep -q 'wscale  *snd 7, rcv 9' '$TMP/show.txt' &&
	grep -q 'send queue  *43 bytes: 38 sent and unacked, 5 unsent' '$TMP/show.txt' &&
	grep -q 'TCP_CONGESTION  *cubic' '$TMP/show.txt' &&
	grep -q 'SO_LINGER  *on, 5 s' '$TMP/show.txt'"

"$TF" -j show "$GOLDEN/v1-ipv4.tfc" >"$TMP/show.json"
ok "show -j is valid JSON" json_ok "$TMP/show.json"
is "$(json_get "$TMP/show.json" 'join " ", $d->{local}{address}, $d->{local}{port}, $d->{peer}{port}, $d->{state}')" \
	"192.0.2.1 443 51234 ESTABLISHED" "show -j has the endpoints and state"
is "$(json_get "$TMP/show.json" 'join " ", $d->{ts_clock}, ($d->{ts_usec} ? "usec" : "msec"), $d->{ts_wire}, $d->{outq_len}, $d->{unsent_len}')" \
	"1193047 usec 1193057 43 5" "show -j has the clock, wire tsval and queues"
is "$(json_get "$TMP/show.json" 'join ",", map { "$_->{name}=$_->{value}" } @{$d->{sockopts}}')" \
	"TCP_NODELAY=1,SO_KEEPALIVE=1,TCP_CONGESTION=cubic,SO_MARK=42,SO_LINGER=on, 5 s,SO_MAX_PACING_RATE=1000000" \
	"show -j lists the socket options by name and value"

"$TF" show "$GOLDEN" >"$TMP/dir.txt" 2>&1
is "$?" 0 "show of the golden dump directory exits 0"
is "$(grep -c '^image ' "$TMP/dir.txt")" 2 "show DIR prints both images"
ok "show DIR prints the index header" grep -q 'host golden-host, pid 4242' "$TMP/dir.txt"
"$TF" -p show --payload=16 "$GOLDEN" >"$TMP/dir.json"
ok "show -p DIR is valid JSON" json_ok "$TMP/dir.json"
is "$(json_get "$TMP/dir.json" 'join " ", $d->{host}, scalar @{$d->{connections}}, $d->{connections}[0]{inq_hex}')" \
	"golden-host 2 474554202f696e6465782e68746d6c20" "show -j DIR has the index and the first 16 payload bytes"
"$TF" show --payload "$GOLDEN/v1-ipv4.tfc" >"$TMP/payload.txt"
ok "show --payload hexdumps the queues" grep -q '|GET /index.html |' "$TMP/payload.txt"

# Damage: a truncated copy, a flipped bit, a directory missing an image.
head -c 300 "$GOLDEN/v1-ipv4.tfc" >"$TMP/cut.tfc"
"$TF" show "$TMP/cut.tfc" >/dev/null 2>"$TMP/cut.err"
is "$?" 1 "show of a truncated image exits 1"
ok "the error names the file and where it was cut" \
	grep -q "^tcpferry: image $TMP/cut.tfc: truncated at byte 300 (record INQ" "$TMP/cut.err"
perl -e 'local $/; my $b = <STDIN>; substr($b, 310, 1) ^= "\x04"; print $b' \
	<"$GOLDEN/v1-ipv4.tfc" >"$TMP/flip.tfc"
"$TF" show "$TMP/flip.tfc" >/dev/null 2>"$TMP/flip.err"
is "$?" 1 "show of a corrupt image exits 1"
ok "the error says bad crc in which record" grep -q "flip.tfc: bad crc in record INQ at offset" "$TMP/flip.err"
"$TF" -j show "$TMP/flip.tfc" >"$TMP/flip.json" 2>/dev/null
ok "with -j the error is JSON naming the file" \
	test "$(json_get "$TMP/flip.json" '$d->{error} =~ /flip.tfc: bad crc/ ? 1 : 0')" = 1

mkdir "$TMP/dump"
cp "$GOLDEN/index.tfi" "$GOLDEN/v1-ipv6.tfc" "$TMP/dump/"
"$TF" show "$TMP/dump" >"$TMP/partial.txt" 2>"$TMP/partial.err"
is "$?" 1 "show of a directory missing an image exits 1"
ok "the missing image is named and the other still shown" bash -c "
	grep -q 'image $TMP/dump/v1-ipv4.tfc: open: No such file' '$TMP/partial.err' &&
	grep -q '2001:db8::1' '$TMP/partial.txt'"

# ---- help and usage -----------------------------------------------------------------------

ok "show --help prints usage" bash -c "'$TF' show --help | grep -q '^Usage: tcpferry.* show '"
ok "check --help prints usage" bash -c "'$TF' check --help | grep -q '^Usage: tcpferry.* check'"
"$TF" show >/dev/null 2>&1
is "$?" 2 "show without an argument is a usage error"
# Every command that tcpferry --help lists has a --help of its own (exit 0,
# a Usage line naming it, on stdout) and a section in the man page.
cmds=$("$TF" --help | awk '/^Commands:/ { on = 1; next } on && NF == 0 { exit } on { print $1 }')
nohelp= noman=
for c in $cmds; do
	"$TF" "$c" --help 2>/dev/null | grep -q "^Usage: tcpferry.* $c" || nohelp="$nohelp $c"
	grep -q "^\.SS $c\b" "$TF_ROOT/user/cli/tcpferry.8" || noman="$noman $c"
done
ok "every command ($(echo $cmds)) has --help with its usage${nohelp:+; not:$nohelp}" test -n "$cmds" -a -z "$nohelp"
ok "every command has a section in tcpferry(8)${noman:+; not:$noman}" test -n "$cmds" -a -z "$noman"

done_testing
