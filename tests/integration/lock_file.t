#!/usr/bin/env bash
# lock add|del --file F reads bounded input (issue 16, finding 4): a line
# longer than 4096 bytes, a NUL byte, or more tuples than the lock table can
# hold stop the read at once, with one line naming the file, the line and the
# limit.  /dev/zero (one endless line) used to grow the process by 2.5 GB in
# 6 s; now it is refused at its 4097th byte, under a 64 MB address space
# limit and a 10 s timeout.  Lines up to the limit, comments and blank lines
# still work.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd timeout

plan 16

NS=${RUN_ID}l
make_ns "$NS"
make_bpffs
TFL() { ip netns exec "$NS" "$TF" "$@"; }
TFL lock list >/dev/null 2>&1

# An instrumented tcpferry (make test-asan) reserves terabytes of shadow
# memory, so ulimit -v cannot bound it; ASan's own allocation limit does.
if grep -q __asan_init "$TF"; then
	bounded() { ASAN_OPTIONS="${ASAN_OPTIONS:-}:max_allocation_size_mb=64:allocator_may_return_null=0" \
		timeout 10 "$@"; }
else
	bounded() { (ulimit -v 65536 && exec timeout 10 "$@"); }
fi

# fails_with WANT_RC WANT_MESSAGE CMD...: CMD (a program: run bounded) exits
# WANT_RC and says WANT_MESSAGE (a fixed string).
fails_with() {
	local rc=$1 want=$2 out got
	shift 2
	out=$(bounded "$@" 2>&1 </dev/null)
	got=$?
	[ "$got" -eq "$rc" ] || { diag "exit $got, expected $rc: $out"; return 1; }
	grep -qF -- "$want" <<<"$out" || { diag "no '$want' in: $out"; return 1; }
}

ok "lock add --file /dev/zero: refused at line 1, within 64 MB and 10 s" \
	fails_with 2 "tcpferry: lock add --file /dev/zero: line 1: longer than 4096 bytes; one tuple a line" \
	ip netns exec "$NS" "$TF" lock add --file /dev/zero
ok "lock del --file /dev/zero: the same" \
	fails_with 2 "tcpferry: lock del --file /dev/zero: line 1: longer than 4096 bytes; one tuple a line" \
	ip netns exec "$NS" "$TF" lock del --file /dev/zero
ok "lock add --file - on /dev/zero: the same, naming -" \
	fails_with 2 "tcpferry: lock add --file -: line 1: longer than 4096 bytes; one tuple a line" \
	bash -c 'exec "$@" </dev/zero' - ip netns exec "$NS" "$TF" lock add --file -
is "$(TFL -j lock list | jq '.locks | length')" 0 "  nothing was locked"

# A long line after good ones: the line number counts comments and blank lines.
{
	echo "# two tuples, then a line of 5000 bytes"
	echo "198.18.0.1:80 198.18.0.2:1"
	echo
	head -c 5000 /dev/zero | tr '\0' x
	echo
	echo "198.18.0.1:80 198.18.0.2:2"
} >"$TMP/long"
ok "a 5000-byte line 4: refused, naming file and line" \
	fails_with 2 "lock add --file $TMP/long: line 4: longer than 4096 bytes" ip netns exec "$NS" "$TF" lock add --file "$TMP/long"
is "$(TFL -j lock list | jq '.locks | length')" 0 "  none of the file's tuples was locked"

# Exactly 4096 bytes is a line like any other (a tuple padded with blanks).
pad=$(printf '%*s' $((4096 - 25)) '')
printf '198.18.0.1:80%s198.18.0.2:3\n' "$pad" >"$TMP/4096"
is "$(head -1 "$TMP/4096" | tr -d '\n' | wc -c)" 4096 "  (the padded line is 4096 bytes)"
ok "a 4096-byte tuple line is taken" eval 'TFL lock add --file "$TMP/4096" 2>/dev/null | grep -q "locked 1 of 1"'
printf '198.18.0.1:80%s 198.18.0.2:3\n' "$pad" >"$TMP/4097"
ok "a 4097-byte one is not" fails_with 2 "line 1: longer than 4096 bytes" ip netns exec "$NS" "$TF" lock del --file "$TMP/4097"
ok "the last line needs no newline" eval 'printf "198.18.0.1:80 198.18.0.2:3" | TFL lock del --file - | grep -q "unlocked 1 of 1"'

printf '198.18.0.1:80 198.18.0.2:4\n198.18.0.1:80\0 198.18.0.2:5\n' >"$TMP/nul"
ok "a NUL byte: refused, naming the line" \
	fails_with 2 "lock add --file $TMP/nul: line 2: a NUL byte; expected text, one tuple a line" \
	ip netns exec "$NS" "$TF" lock add --file "$TMP/nul"
printf '198.18.0.1:80 198.18.0.2:4 198.18.0.2:5\n' >"$TMP/three"
ok "three words: expected LOCAL PEER" \
	fails_with 2 "lock add --file $TMP/three: line 1: expected \"LOCAL PEER\"" ip netns exec "$NS" "$TF" lock add --file "$TMP/three"
printf '\n# x\n198.18.0.1:80 198.18.0.300:1\n' >"$TMP/bad"
ok "a bad address: the line and the address" \
	fails_with 2 "lock add --file $TMP/bad: line 3: lock 198.18.0.1:80 198.18.0.300:1: '198.18.0.300:1': '198.18.0.300' is not an IPv4 address" \
	ip netns exec "$NS" "$TF" lock add --file "$TMP/bad"

# More tuples than the table (65536 entries, the default) can hold.
seq 1 65537 | awk '{ printf "198.18.0.%d:80 198.18.0.2:%d\n", int($1 / 60000) + 1, $1 % 60000 + 1 }' >"$TMP/many"
ok "65,537 tuples for a table of 65,536: refused at line 65537" \
	fails_with 2 "lock add --file $TMP/many: line 65537: more than 65536 tuples, as many as the lock table can hold; split the file" \
	ip netns exec "$NS" "$TF" lock add --file "$TMP/many"
head -65536 "$TMP/many" >"$TMP/full"
ok "65,536 are read (and locked)" eval 'TFL lock add --file "$TMP/full" 2>/dev/null | grep -q "locked 65536 of 65536"'
ok "  and unlocked" eval 'TFL lock del --file "$TMP/full" | grep -q "unlocked 65536 of 65536"'
done_testing
