#!/usr/bin/env bash
# Restore runs as root and rebuilds what a dump directory says: it reads only
# plain files (a fifo does not hang it, a symbolic link is not followed, to
# /etc/shadow or anywhere) that root or the user running it owns and that
# nobody else can write, in a directory nobody else can write (sticky or
# not: in /tmp another user could plant a hard link to a file root owns).
# Each refusal is one line naming the file and the fix, exit 1, before
# anything touches the kernel: no lock table, no lock, no socket.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd setpriv timeout ss

plan 36

NS=${RUN_ID}t
make_ns "$NS"
make_bpffs
GOLDEN=$TF_ROOT/images/golden

# fresh NAME: a pristine copy of the golden dump (index + 2 images) in $TMP/NAME, 0700.
fresh() {
	rm -rf "${TMP:?}/$1"
	mkdir -m 0700 "$TMP/$1"
	install -m 0600 "$GOLDEN"/index.tfi "$GOLDEN"/v1-ipv4.tfc "$GOLDEN"/v1-ipv6.tfc "$TMP/$1/"
	D=$TMP/$1
}
n=0
# refused PATTERN -- restore of $D is refused (exit 1, PATTERN) within 10 s, and
# touched nothing: no bpffs pin directory made, no TCP socket in the namespace.
refused() {
	local pattern=$1 out rc
	n=$((n + 1))
	out=$(timeout 10 ip netns exec "$NS" "$TF" --bpffs "$BPFFS/r$n" restore --in "$D" -- true 2>&1)
	rc=$?
	note "$out"
	[ "$rc" -eq 1 ] || { diag "exit $rc"; return 1; }
	grep -qE -- "$pattern" <<<"$out" || { diag "no match for: $pattern"; return 1; }
	[ ! -e "$BPFFS/r$n" ] || { diag "the lock table was made"; return 1; }
	[ -z "$(ip netns exec "$NS" ss -tanH)" ] || { diag "sockets: $(ip netns exec "$NS" ss -tanH)"; return 1; }
}
# show_refused PATTERN TARGET: show is refused likewise, within 10 s.
show_refused() {
	local out rc
	out=$(timeout 10 "$TF" show "$2" 2>&1)
	rc=$?
	[ "$rc" -eq 1 ] && grep -qE -- "$1" <<<"$out" || { diag "exit $rc: $out"; return 1; }
}

# The control: a pristine copy is read, and the restore goes on to the kernel
# (it makes the lock table, then finds no route to the golden images' peers).
fresh ok
ok "a pristine dump directory is shown" quietly "$TF" show "$D"
n=$((n + 1))
ip netns exec "$NS" "$TF" --bpffs "$BPFFS/r$n" restore --in "$D" -- true >"$TMP/ctl.out" 2>&1
note "$(cat "$TMP/ctl.out")"
ok "  and its restore gets past reading (so the checks below are what refuse)" \
	eval 'grep -q "route to 198.51.100.7" "$TMP/ctl.out" && [ -e "$BPFFS/r$n" ]'

# ---- not a regular file ------------------------------------------------------------
fresh fifo
rm "$D/v1-ipv4.tfc" && mkfifo -m 0600 "$D/v1-ipv4.tfc"
ok "restore with a fifo for an image does not hang: refused, naming it" \
	refused "^tcpferry: restore: image $D/v1-ipv4.tfc: not a regular file \(a fifo\); a dump directory holds only the files tcpferry wrote$"
ok "show DIR likewise" show_refused "v1-ipv4.tfc: not a regular file \(a fifo\)" "$D"
ok "show IMAGE likewise" show_refused "v1-ipv4.tfc: not a regular file \(a fifo\)" "$D/v1-ipv4.tfc"
fresh fifoix
rm "$D/index.tfi" && mkfifo -m 0600 "$D/index.tfi"
ok "restore with a fifo for the index does not hang" refused "index $D/index.tfi: not a regular file \(a fifo\)"
ok "show DIR likewise" show_refused "index.tfi: not a regular file \(a fifo\)" "$D"
fresh log
mkfifo -m 0600 "$D/restore.log"
ok "show of a dump directory whose restore.log is a fifo does not hang" quietly timeout 10 "$TF" show "$D/v1-ipv4.tfc" -j
fresh dir
rm "$D/v1-ipv6.tfc" && mkdir -m 0700 "$D/v1-ipv6.tfc"
ok "a directory for an image is refused" refused "v1-ipv6.tfc: not a regular file \(a directory\)"

# ---- symbolic links -------------------------------------------------------------------
fresh link
ln -sf /etc/shadow "$D/v1-ipv4.tfc"
ok "an image that is a symlink (to /etc/shadow) is not followed" \
	refused "image $D/v1-ipv4.tfc: a symbolic link, not a regular file; .*put the file itself there"
ok "show IMAGE likewise" show_refused "a symbolic link" "$D/v1-ipv4.tfc"
fresh linkok
mv "$D/v1-ipv4.tfc" "$D/real.tfc" && ln -s real.tfc "$D/v1-ipv4.tfc"
ok "  also one to a good image in the same directory" refused "v1-ipv4.tfc: a symbolic link"
fresh linkix
ln -sf /etc/shadow "$D/index.tfi"
ok "an index that is a symlink is not followed" refused "index $D/index.tfi: a symbolic link"
ok "show DIR likewise" show_refused "index.tfi: a symbolic link" "$D"

# ---- modes -----------------------------------------------------------------------------
fresh d777
chmod 0777 "$D"
ok "a dump directory of mode 0777 is refused, with the chmod that fixes it" \
	refused "^tcpferry: restore: index $D/index.tfi: directory $D: writable by every user \(mode 0777\): .*chmod go-w $D$"
ok "show DIR likewise" show_refused "directory $D: writable by every user" "$D"
ok "show IMAGE in it likewise" show_refused "directory $D: writable by every user" "$D/v1-ipv4.tfc"
fresh d770
chmod 0770 "$D"
ok "a group-writable dump directory is refused" refused "directory $D: writable by its group \(mode 0770\)"
fresh f666
chmod 0666 "$D/v1-ipv6.tfc"
ok "an image of mode 0666 is refused, with the chmod that fixes it" \
	refused "^tcpferry: restore: image $D/v1-ipv6.tfc: writable by every user \(mode 0666\): .*chmod go-w $D/v1-ipv6.tfc$"
ok "show IMAGE likewise" show_refused "writable by every user \(mode 0666\)" "$D/v1-ipv6.tfc"
fresh f620
chmod 0620 "$D/index.tfi"
ok "a group-writable index is refused" refused "index $D/index.tfi: writable by its group \(mode 0620\)"
fresh sticky
chmod 1777 "$D"
ok "a sticky directory others may write to (as /tmp) is refused too" \
	refused "directory $D: writable by every user \(mode 1777\)"

# ---- owners ------------------------------------------------------------------------------
fresh own
chown 65534 "$D/v1-ipv4.tfc"
ok "an image owned by another user (nobody) is refused, with the chown that fixes it" \
	refused "^tcpferry: restore: image $D/v1-ipv4.tfc: owned by uid 65534( \(nobody\))?, not by root or you \(uid 0\): .*chown 0 $D/v1-ipv4.tfc$"
ok "show IMAGE likewise" show_refused "owned by uid 65534" "$D/v1-ipv4.tfc"
fresh ownix
chown 65534 "$D/index.tfi"
ok "an index owned by another user is refused" refused "index $D/index.tfi: owned by uid 65534"
fresh owndir
chown 65534 "$D"
ok "a dump directory owned by another user is refused" refused "directory $D: owned by uid 65534"

# ---- a stream file (restore --in FILE): the same rules --------------------------------------
mkdir -m 0700 "$TMP/streams"
printf 'not a stream' >"$TMP/streams/s.tfs" && chmod 0600 "$TMP/streams/s.tfs"
D=$TMP/streams/s.tfs
ok "control: a stream file of ours is read (and refused for what it holds)" refused "stream $D: frame 1 at offset 0"
chmod 0666 "$D"
ok "a stream file of mode 0666 is refused, with the chmod that fixes it" \
	refused "stream $D: writable by every user \(mode 0666\): .*chmod go-w $D"
chmod 0600 "$D" && chown 65534 "$D"
ok "a stream file owned by another user is refused" refused "stream $D: owned by uid 65534"
chown 0 "$D" && ln -s s.tfs "$TMP/streams/l.tfs"
D=$TMP/streams/l.tfs
ok "a stream file that is a symlink is not followed" refused "stream $D: a symbolic link, not a regular file or a fifo"
chmod 0777 "$TMP/streams"
D=$TMP/streams/s.tfs
ok "a stream file in a directory others may write to is refused" refused "stream $D: directory $TMP/streams: writable by every user"

# The user running tcpferry is trusted with what it owns (nobody here, without root).
U=$(mktemp -d /tmp/"$RUN_ID"u.XXXXXX)
at_exit "rm -rf $U"
install -m 0600 "$GOLDEN"/index.tfi "$GOLDEN"/v1-ipv4.tfc "$GOLDEN"/v1-ipv6.tfc "$U/"
chown -R 65534:65534 "$U"
chmod 0700 "$U"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"; }
ok "a user's own dump directory is read by that user" quietly nobody "$TF" show "$U"
chown 0 "$U/v1-ipv4.tfc" && chmod 0644 "$U/v1-ipv4.tfc"
ok "  and a file root owns in it too" quietly nobody "$TF" show "$U/v1-ipv4.tfc"
chown 1 "$U/v1-ipv6.tfc" && chmod 0644 "$U/v1-ipv6.tfc"
out=$(nobody "$TF" show "$U/v1-ipv6.tfc" 2>&1)
ok "  but not one a third user owns" grep -q "owned by uid 1.*not by root or you (uid 65534).*chown 65534" <<<"$out"
note "$out"

ok "the golden images are still read as they are in the tree" quietly "$TF" show "$GOLDEN"
ok "no lock table was made by any refused restore" eval '[ "$(cd "$BPFFS" && echo r*)" = r1 ]'
done_testing
