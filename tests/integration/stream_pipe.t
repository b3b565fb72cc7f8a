#!/usr/bin/env bash
# The image stream: a dump goes through a pipe into a restore, with no file in
# between (`dump --out - | restore --in - -- socat ...`), and the connection
# goes on byte for byte in socat.  A cut stream (head -c) makes the restore
# fail before it takes any lock or makes any socket, and names the frame and
# its offset; the dump side then still holds the connections and resumes them.
# A dump whose reader is gone (EPIPE) is a failed dump, undone on the spot.
# dump --out FIFO writes into a FIFO that show reads; dump --out FILE.tfs
# writes one file (0600) that restore --in reads.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd python3 socat

plan 32

make_pair
make_bpffs
tfa() { in_ns "$NS_A" "$TF" --bpffs "$BPFFS/a" "$@"; }
locks() { tfa -j lock list | python3 -c 'import json,sys; print(*sorted(l["reason"] for l in json.load(sys.stdin)["locks"]))'; }
running() { test "$(awk '{print $3}' "/proc/$1/stat")" != T; }
gone() { [ ! -e "/proc/$1/stat" ] || [ "$(awk '{print $3}' "/proc/$1/stat")" = Z ]; }
# holder PORT: the programs holding the established connections of local port PORT.
holder() { in_ns "$NS_A" ss -tnpH state established "( sport = :$1 )" | grep -o '(("[^"]*"' | sort -u | tr -d '(")'; }
tfa attach "$DEV_A" --tc >/dev/null || bail_out "cannot attach the lock programs on A"

# ---- 0. show of a stream, and what --out refuses ---------------------------------------------
GOLDEN=$TF_ROOT/images/golden/v1-dump.tfs
is "$("$TF" -j show - <"$GOLDEN" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["stream"], d["pid"], len(d["connections"]))')" \
	"- 4242 2" "show -j - reads the golden stream on standard input: pid 4242, 2 connections"
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[300] ^= 1; open(sys.argv[2], "wb").write(b)' \
	"$GOLDEN" "$TMP/bad.tfs"
"$TF" show "$TMP/bad.tfs" >/dev/null 2>"$TMP/bad.err"
ok "show of a damaged stream fails, naming the frame, its offset and the damage" \
	sh -c '[ "$(wc -l <"$1")" = 1 ] && grep -q "frame 3 at offset 267: .*bad crc" "$1"' sh "$TMP/bad.err" ||
	diag "$(cat "$TMP/bad.err")"
: >"$TMP/plain"
"$TF" --bpffs "$BPFFS/a" dump --pid $$ --out "$TMP/plain" 2>"$TMP/plain.err"
ok "dump --out an existing file that is not a stream file is refused" \
	grep -q "is a file; --out takes a directory, a new NAME.tfs stream file, or -" "$TMP/plain.err"
cp "$GOLDEN" "$TMP/old.tfs"
"$TF" --bpffs "$BPFFS/a" dump --pid $$ --out "$TMP/old.tfs" 2>"$TMP/old.err"
ok "dump --out an existing NAME.tfs is refused, the file untouched" \
	sh -c 'grep -q "already exists; a stream file is never overwritten" "$1" && cmp -s "$2" "$3"' \
	sh "$TMP/old.err" "$GOLDEN" "$TMP/old.tfs"

# ---- 1. dump --out - | restore --in - -- socat: one connection, byte for byte ----------
spawn "$NS_A" "$TMP/echo1.out" "$HELPERS/tf-stream" echo "$ADDR_A" 7400
app1=$SPAWNED
spawn "$NS_B" "$TMP/peer1.out" "$HELPERS/tf-stream" many-peer "$ADDR_A" 7400 --count 1 --rounds 3
peer1=$SPAWNED
wait_for 20 grep -qs ready "$TMP/peer1.out" || bail_out "peer 1: $(cat "$TMP/peer1.out")"
kill -USR1 "$peer1"
wait_for 10 grep -qs 'round 1 ok' "$TMP/peer1.out" || bail_out "round 1 before the move failed"

# restore execs socat, which echoes the connection (fd 3) through cat.
spawn "$NS_A" "$TMP/pipe1.out" sh -c '"$1" --bpffs "$2" -j dump --pid "$3" --out - --kill 2>"$4.dump" |
	"$1" --bpffs "$2" restore --in - -- socat FD:3 EXEC:cat' \
	sh "$TF" "$BPFFS/a" "$app1" "$TMP/pipe1"
ok "dump --out - | restore --in -: the source is killed" wait_for 20 gone "$app1"
no_locks() { [ -z "$(locks)" ]; }
ok "and the restore drops its locks" wait_for 20 no_locks || diag "$(cat "$TMP/pipe1.out" "$TMP/pipe1.dump")"
wait_for 5 sh -c '[ "$(holder 7400)" = socat ]' 2>/dev/null
is "$(holder 7400)" socat "socat holds the connection"
ok "the dump's JSON went to stderr, not into the stream" \
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d["stream"] != "standard output" or len(d["connections"]) != 1)' "$TMP/pipe1.dump"
kill -USR1 "$peer1"
wait_for 10 grep -qs 'round 2 ok' "$TMP/peer1.out"
kill -USR1 "$peer1"
ok "the connection echoes rounds 2 and 3 through socat, byte for byte" wait "$peer1"
is "$(nstat_get "$NS_B" TcpEstabResets)" 0 "no connection of the peer was reset"

# ---- 2. a cut stream: refused before any lock or socket; the source resumes -------------
spawn "$NS_A" "$TMP/echo2.out" "$HELPERS/tf-stream" echo "$ADDR_A" 7401
app2=$SPAWNED
spawn "$NS_B" "$TMP/peer2.out" "$HELPERS/tf-stream" many-peer "$ADDR_A" 7401 --count 3 --rounds 5
peer2=$SPAWNED
wait_for 20 grep -qs ready "$TMP/peer2.out" || bail_out "peer 2: $(cat "$TMP/peer2.out")"
kill -USR1 "$peer2"
wait_for 10 grep -qs 'round 1 ok' "$TMP/peer2.out"

# The rest of the stream is read and dropped, so the dump itself succeeds.
in_ns "$NS_A" bash -c '"$1" --bpffs "$2" dump --pid "$3" --out - 2>"$4.dump" | { head -c 700; cat >/dev/null; } |
	"$1" --bpffs "$2" restore --in - -- true 2>"$4.restore"; echo "${PIPESTATUS[*]}" >"$4.rc"' \
	bash "$TF" "$BPFFS/a" "$app2" "$TMP/cut"
is "$(cat "$TMP/cut.rc")" "0 0 1" "a stream cut after 700 bytes: the dump succeeds, the restore fails"
ok "saying nothing was restored" grep -q "nothing was restored" "$TMP/cut.restore"
ok "naming the frame and its offset" grep -q "frame [0-9]* at offset [0-9]*: truncated" "$TMP/cut.restore"
ok "and the way out" grep -q "roll back there with tcpferry resume" "$TMP/cut.restore"
is "$(wc -l <"$TMP/cut.restore")" 1 "in one line"
is "$(locks)" "dump dump dump" "no lock of the restore's: only the dump's three"
is "$(in_ns "$NS_A" ss -tnH state established "( sport = :7401 )" | wc -l)" 3 \
	"no socket of the restore's: the three connections of the source only"
ok "resume at the source" quietly tfa resume --pid "$app2"
ok "the process runs again" running "$app2"
kill -USR1 "$peer2"
ok "every connection carries round 2 at the source" wait_for 10 grep -qs 'round 2 ok' "$TMP/peer2.out"

# A dump killed at the fault point dump-images: the restore gets every CONN, no END.
in_ns "$NS_A" bash -c 'TCPFERRY_FAULT=dump-images "$1" --bpffs "$2" dump --pid "$3" --out - 2>/dev/null |
	"$1" --bpffs "$2" restore --in - -- true 2>"$4.restore"' bash "$TF" "$BPFFS/a" "$app2" "$TMP/fault"
ok "a dump killed before END: the restore refuses the stream (no END frame, 3 of 3 connections in)" \
	grep -q "no END frame (3 of 3 connections in)" "$TMP/fault.restore" || diag "$(cat "$TMP/fault.restore")"
is "$(locks)" "dump dump dump" "and takes no lock"
ok "resume at the source" quietly tfa resume --pid "$app2"
kill -USR1 "$peer2"
ok "every connection carries round 3 at the source" wait_for 10 grep -qs 'round 3 ok' "$TMP/peer2.out"

# ---- 3. a reader that is gone: the dump fails and is undone -----------------------------
# Its stdout a pipe whose read end is closed before it starts: EPIPE for sure.
in_ns "$NS_A" python3 -c '
import os, sys
r, w = os.pipe()
os.close(r)
os.dup2(w, 1)
os.execvp(sys.argv[1], sys.argv[1:])' "$TF" --bpffs "$BPFFS/a" dump --pid "$app2" --out - 2>"$TMP/epipe.err"
echo $? >"$TMP/epipe.rc"
is "$(cat "$TMP/epipe.rc")" 1 "dump --out - into a closed pipe fails (exit 1)"
ok "saying the reader is gone, and that the dump is undone" \
	sh -c 'grep -q "the reader is gone" "$1" && grep -q "dump undone" "$1"' sh "$TMP/epipe.err" ||
	diag "$(cat "$TMP/epipe.err")"
ok "nothing is locked and the process runs" sh -c '[ -z "$1" ] && [ "$(awk "{print \$3}" /proc/$2/stat)" != T ]' \
	sh "$(locks)" "$app2"

# ---- 4. a FIFO: dump --out FIFO --leave-running, show FIFO reads it ---------------------------
mkfifo "$TMP/fifo"
"$TF" -j show "$TMP/fifo" >"$TMP/fifo.json" 2>&1 &
show=$!
at_exit "kill -9 $show"
ok "dump --out FIFO --leave-running" quietly tfa dump --pid "$app2" --out "$TMP/fifo" --leave-running ||
	kill "$show"	# it would wait for a writer for ever
wait "$show"
ok "show FIFO reads the whole stream: 3 connections of port 7401" python3 -c '
import json, sys
cs = json.load(open(sys.argv[1]))["connections"]
sys.exit(len(cs) != 3 or any(c["local"]["port"] != 7401 for c in cs))' "$TMP/fifo.json" ||
	diag "$(cat "$TMP/fifo.json")"

# ---- 5. dump --out FILE.tfs, restore --in FILE.tfs -------------------------------------------
ok "dump --out FILE.tfs" quietly tfa dump --pid "$app2" --out "$TMP/d.tfs" --kill
ok "one file, 0600, no temporary left" sh -c '[ "$(stat -c %a "$1")" = 600 ] && [ -z "$(ls "$2" | grep tmp-)" ]' \
	sh "$TMP/d.tfs" "$TMP"
spawn "$NS_A" "$TMP/restored.out" "$TF" --bpffs "$BPFFS/a" restore --in "$TMP/d.tfs" -- "$HELPERS/tf-stream" echo-continue
wait_for 20 test -z "$(locks)"
kill -USR1 "$peer2"
wait_for 10 grep -qs 'round 4 ok' "$TMP/peer2.out"
kill -USR1 "$peer2"
ok "restore --in FILE.tfs: every connection echoes rounds 4 and 5" wait "$peer2"
done_testing
