#!/usr/bin/env bash
# tools/migrate.sh: move a process's live TCP connections from one lab host
# to another, as an orchestrator would, one idempotent step at a time.
#
#   tools/migrate.sh [--lab ID] --from a --to b --pid PID --work DIR [--ttl SEC]
#                    [--no-nudge] [--steps] [--send-to PATH] STEP [-- CMD [ARGS...]]
#
# STEP is one of these, or `all`: prepare, then `move` (one process does the
# rest; the lab's hosts share this machine), or with --steps -- and always
# for a move cut short -- each of dump carry restore flip unlock retire in
# turn.
#
#   move      tcpferry migrate move: dump, carry, restore, flip, unlock and
#             retire by the move engine (migrate send's side in FROM's
#             namespace, receive's side in a child in TO's, over a
#             socketpair), so no program starts inside the locked window.  It
#             keeps the work directory as the steps do (src, to.pid, unlocked,
#             retired; its journals in sent/ and received/): a move cut short
#             goes on with them (status), or rollback.
#             --send-to PATH: the sockets go to a receiver already running on
#             TO (a unix socket), instead of a fresh CMD (move only).
#
#   prepare   on TO: the service address on lo (harmless before the route
#             points there; done first, so it is off the critical path)
#   dump      on FROM: stop PID at an idle moment (tcpferry migrate freeze),
#             then tcpferry dump: each connection locked (expiry --ttl), put in
#             repair mode and written to WORK/src.  PID stays stopped with its
#             sockets in repair mode, so it can still be rolled back.
#   carry     copy WORK/src to WORK/dst (the images travelling to TO; here one
#             file system, in real life scp/rsync)
#   restore   on TO: sockets left over by a failed restore are destroyed
#             under the lock (their RST dies there), then `tcpferry restore
#             --keep-lock -- CMD` locks the tuples on TO (expiry --ttl),
#             rebuilds the connections, takes them out of repair mode and execs
#             CMD with them as fds 3, 4, ...  The new pid goes to WORK/to.pid.
#   flip      on the router: the service route points at TO; FROM drops the
#             address.  The peer's packets now reach TO's lock.
#   unlock    on TO: `tcpferry migrate nudge --unlock` drops the locks (repair
#             is off by now) and prompts each peer (--no-nudge: only unlock)
#   retire    on FROM: PID killed (its sockets are in repair mode: no FIN, no
#             RST), FROM's locks dropped
#   rollback  before unlock: everything back to FROM.  TO's sockets destroyed
#             under the lock and its process killed, the route and address
#             back, FROM's sockets out of repair and PID resumed
#             (tcpferry resume), every lock dropped.
#   status    what the work directory says has happened
#
# Every step can be run again: it checks what is there and does only what is
# missing.  A step that fails leaves the locks in place (they expire after
# --ttl, default 30 s); the way on is to run the step again, or `rollback`.
# Per-step times (ms) are appended to WORK/times as "STEP<TAB>MS" (by
# tcpferry migrate move itself for its phases).
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case ${BUILD:=build} in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac	# make BUILD=...
TF=${TF:-$BUILD/tcpferry}
LAB=${TCPFERRY_LAB:-}
FROM="" TO="" PID="" WORK="" TTL=30 NUDGE=1 STEP="" STEPS=0 SEND_TO=""
CMD=()

die() {
	echo "migrate: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case $1 in
	--lab) LAB=$2; shift 2 ;;
	--from) FROM=$2; shift 2 ;;
	--to) TO=$2; shift 2 ;;
	--pid) PID=$2; shift 2 ;;
	--work) WORK=$2; shift 2 ;;
	--ttl) TTL=$2; shift 2 ;;
	--no-nudge) NUDGE=0; shift ;;
	--steps) STEPS=1; shift ;;
	--send-to) SEND_TO=$2; shift 2 ;;
	-h | --help) sed -n '2,50p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	--) shift; CMD=("$@"); break ;;
	-*) die "unknown option $1; see --help" ;;
	*) STEP=$1; shift ;;
	esac
done
[ -n "$STEP" ] && [ -n "$FROM" ] && [ -n "$TO" ] && [ -n "$WORK" ] ||
	die "needs --from, --to, --work and a STEP; see --help"
[ "$FROM" != "$TO" ] || die "--from and --to are both $FROM"
# shellcheck disable=SC1090
eval "$(TCPFERRY_LAB=$LAB "$ROOT/tools/lab.sh" env)" || die "no lab (tools/lab.sh up)"
mkdir -p "$WORK" || die "cannot create $WORK"
[ -z "$PID" ] && [ -r "$WORK/from.pid" ] && PID=$(cat "$WORK/from.pid")
[ -n "$PID" ] && echo "$PID" >"$WORK/from.pid"

ns_of() { case $1 in a) echo "$NS_A" ;; b) echo "$NS_B" ;; *) die "host $1: a or b" ;; esac; }
fs_of() { case $1 in a) echo "$BPFFS_A" ;; b) echo "$BPFFS_B" ;; esac; }
addr_of() { case $1 in a) echo "$A_ADDR" ;; b) echo "$B_ADDR" ;; esac; }
on() { # on HOST CMD...: run CMD on a host (its own pin directory)
	local h=$1
	shift
	ip netns exec "$(ns_of "$h")" env TCPFERRY_BPFFS="$(fs_of "$h")" "$@"
}
tf() { local h=$1; shift; on "$h" "$TF" "$@"; }
# The clock is bash's own: timing forks nothing (the stream being moved
# shares these cores).
timed() { # timed NAME CMD...: run CMD, append its time in ms to WORK/times
	local name=$1 t0 us rc
	shift
	t0=${EPOCHREALTIME/[.,]/}
	"$@"
	rc=$?
	us=$((10#${EPOCHREALTIME/[.,]/} - 10#$t0))
	printf '%s\t%d.%03d\n' "$name" $((us / 1000)) $((us % 1000)) >>"$WORK/times"
	return $rc
}
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
state_of() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null; }

# "LOCAL PEER" per connection, from the dump's index (WORK/tuples).
write_tuples() { # [DIR]: default WORK/src
	"$TF" -j show "${1:-$WORK/src}" | jq -r '
		def ep: if (.address | test(":")) then "[\(.address)]:\(.port)" else "\(.address):\(.port)" end;
		.connections[] | "\(.local | ep) \(.peer | ep)"' >"$WORK/tuples.tmp"
	[ -s "$WORK/tuples.tmp" ] || return 1
	mv "$WORK/tuples.tmp" "$WORK/tuples"
}

# Destroy TO's sockets of our tuples (a failed restore's leftovers, or a
# rollback): only while TO holds their locks, so the RST they send dies there.
destroy_on_to() {
	local l p
	on "$TO" ss -tnH state all src "$SVC" | grep -q . || return 0
	tuples
	lock_to
	while read -r l p; do
		on "$TO" ss -K -tnH state all src "$l" dst "$p" >/dev/null 2>&1
	done <"$WORK/tuples"
}

lock_to() { # every tuple locked on TO (already locked ones are fine)
	tf "$TO" lock add --file "$WORK/tuples" --ttl "$TTL" --reason restore >/dev/null 2>&1
	local n
	n=$(tf "$TO" -j lock list | jq '.locks | length')
	[ "${n:-0}" -ge "$(wc -l <"$WORK/tuples")" ] || die "prepare: only ${n:-0} of $(wc -l <"$WORK/tuples") tuples locked on $TO"
}

step_dump() {
	[ -r "$WORK/src/index.tfi" ] && return 0
	[ -n "$PID" ] || die "dump: --pid is needed"
	alive "$PID" || die "dump: pid $PID is gone and there is no complete dump in $WORK/src"
	mkdir -p "$WORK/src"
	tf "$FROM" migrate freeze --pid "$PID" || die "dump: pid $PID could not be frozen; nothing changed"
	tf "$FROM" -j dump --pid "$PID" --out "$WORK/src" --lock-ttl "$TTL" >"$WORK/dump.json" ||
		die "dump failed (see above); pid $PID continues at $FROM unless the tool itself died: then run dump again, or rollback"
}

tuples() { # WORK/tuples, written from the dump the first time it is needed
	[ -s "$WORK/tuples" ] || write_tuples || die "cannot read the tuples of $WORK/src"
}

step_carry() {
	[ -r "$WORK/src/index.tfi" ] || die "carry: no complete dump in $WORK/src; run dump"
	rm -rf "$WORK/dst.tmp"
	cp -a "$WORK/src" "$WORK/dst.tmp" && rm -rf "$WORK/dst" && mv "$WORK/dst.tmp" "$WORK/dst" ||
		die "carry: copying $WORK/src failed"
}

step_prepare() {
	ip -n "$(ns_of "$TO")" addr replace "$SVC/32" dev lo || die "prepare: cannot add $SVC on $TO"
}

step_flip() {
	ip -n "$NS_RT" route replace "$SVC/32" via "$(addr_of "$TO")" || die "flip: route change failed"
	ip -n "$(ns_of "$FROM")" addr del "$SVC/32" dev lo 2>/dev/null
	return 0
}

restored_pid() { # the live process restore handed the sockets to, if any
	local p
	p=$(cat "$WORK/to.pid" 2>/dev/null)
	alive "$p" || return 1
	case $(cat "/proc/$p/comm" 2>/dev/null) in tcpferry | ip | env | bash | "") return 1 ;; esac
	echo "$p"
}

step_restore() {
	[ -r "$WORK/dst/index.tfi" ] || die "restore: no images in $WORK/dst; run carry"
	restored_pid >/dev/null && return 0
	[ ${#CMD[@]} -gt 0 ] || die "restore: give the program after --, e.g. -- socat FD:3 FD:4"
	destroy_on_to
	# Not through a shell function: `f &` would make $! a subshell, not the program.
	ip netns exec "$(ns_of "$TO")" env TCPFERRY_BPFFS="$(fs_of "$TO")" \
		"$TF" restore --in "$WORK/dst" --keep-lock --lock-ttl "$TTL" -- "${CMD[@]}" \
		>"$WORK/restore.out" 2>"$WORK/restore.err" </dev/null &
	local p=$! i
	echo "$p" >"$WORK/to.pid"
	# Done when the pid has become CMD (exec), failed when it is gone.
	for ((i = 0; i < 20000; i++)); do
		restored_pid >/dev/null && return 0
		alive "$p" && [ "$(state_of "$p")" != Z ] || break
		sleep 0.0005
	done
	cat "$WORK/restore.err" >&2
	die "restore on $TO failed; the locks stay (expiry ${TTL}s): fix the cause and run restore again, or rollback"
}

step_unlock() {
	local p
	p=$(restored_pid) || die "unlock: no restored process on $TO; run restore first"
	if [ "$NUDGE" = 1 ]; then
		tf "$TO" -j migrate nudge --unlock --in "$WORK/dst" --pid "$p" >"$WORK/unlock.json" 2>"$WORK/unlock.err" || { cat "$WORK/unlock.json" "$WORK/unlock.err" >&2; false; } ||
			die "unlock: nudge --unlock failed; run unlock again (the locks expire after ${TTL}s anyway)"
	else
		tuples
		tf "$TO" -j lock list >"$WORK/locks-to.json" 2>/dev/null	# what the locks dropped, for reports
		tf "$TO" lock del --file "$WORK/tuples" >/dev/null 2>&1
	fi
	touch "$WORK/unlocked"
}

step_retire() {
	[ -e "$WORK/unlocked" ] || die "retire: the connections are not live on $TO yet (run unlock), or rollback"
	if alive "$PID"; then
		kill -9 "$PID"
		local i
		# Gone, or a zombie (its sockets are closed by then; the reaper is not us).
		for ((i = 0; i < 1000; i++)); do
			alive "$PID" && [ "$(state_of "$PID")" != Z ] || break
			sleep 0.002
		done
	fi
	tuples
	tf "$FROM" -j lock list >"$WORK/locks-from.json" 2>/dev/null
	tf "$FROM" lock del --file "$WORK/tuples" >/dev/null 2>&1
	touch "$WORK/retired"
}

step_rollback() {
	[ -e "$WORK/unlocked" ] && die "rollback: the connections are live on $TO already; migrate them back instead"
	alive "$PID" || die "rollback: pid $PID is gone at $FROM; the way on is forward: run restore again"
	if [ -r "$WORK/src/index.tfi" ]; then
		tuples
		lock_to
		destroy_on_to
	fi
	local p
	p=$(cat "$WORK/to.pid" 2>/dev/null)
	alive "$p" && kill -9 "$p"
	rm -f "$WORK/to.pid"
	on "$FROM" ip addr replace "$SVC/32" dev lo
	ip -n "$NS_RT" route replace "$SVC/32" via "$(addr_of "$FROM")"
	on "$TO" ip addr del "$SVC/32" dev lo 2>/dev/null
	# The source's sockets out of repair mode (a window probe prompts each
	# peer), their SO_REUSEADDR back from the images, their locks on FROM
	# dropped, the process continued.
	local in=()
	[ -r "$WORK/src/index.tfi" ] && in=(--in "$WORK/src")
	tf "$FROM" resume --pid "$PID" "${in[@]}" >/dev/null || kill -CONT "$PID"
	[ -s "$WORK/tuples" ] && tf "$TO" lock del --file "$WORK/tuples" >/dev/null 2>&1
	rm -rf "$WORK/src" "$WORK/dst" "$WORK/tuples"
	return 0
}

step_move() {
	[ -e "$WORK/retired" ] && return 0
	[ -e "$WORK/src" ] || [ -e "$WORK/dst" ] &&
		die "move: $WORK holds a move cut short; see what happened (status), then go on with its steps or rollback"
	[ -n "$PID" ] || die "move: --pid is needed"
	local nudge=() to=(-- "${CMD[@]}")
	[ "$NUDGE" = 1 ] || nudge=(--no-nudge)
	[ -n "$SEND_TO" ] && to=(--send-to "$SEND_TO")
	[ ${#CMD[@]} -gt 0 ] || [ -n "$SEND_TO" ] ||
		die "move: give the program after --, e.g. -- socat FD:3 FD:4, or --send-to PATH"
	env -u TCPFERRY_BPFFS "$TF" -j migrate move --pid "$PID" --to-netns "$(ns_of "$TO")" \
		--from-bpffs "$(fs_of "$FROM")" --to-bpffs "$(fs_of "$TO")" --work "$WORK" --ttl "$TTL" \
		--route "$SVC/32" --via "$(addr_of "$TO")" --route-netns "$NS_RT" "${nudge[@]}" \
		"${to[@]}" >"$WORK/move.json" 2>"$WORK/move.err" </dev/null || {
		{ jq -r '"tcpferry: " + (.error // empty)' "$WORK/move.json" 2>/dev/null; cat "$WORK/move.err"; } >&2
		die "move failed (see above)"
	}
	# The route is at TO: FROM's copy of the address goes (as flip does).
	# Nothing else runs here: the moved stream picks up on these cores now.
	# The move wrote its phase times to WORK/times itself; what the locks
	# dropped is in WORK/move.json.
	ip -n "$(ns_of "$FROM")" addr del "$SVC/32" dev lo 2>/dev/null
	return 0
}

step_status() {
	echo "from $FROM pid ${PID:-?} ($(alive "$PID" && echo "alive, state $(state_of "$PID")" || echo gone))"
	echo "dump: $([ -r "$WORK/src/index.tfi" ] && echo complete || echo none)"
	echo "carried: $([ -r "$WORK/dst/index.tfi" ] && echo yes || echo no)"
	echo "restored: $(restored_pid || echo no)"
	echo "unlocked: $([ -e "$WORK/unlocked" ] && echo yes || echo no)"
	echo "retired: $([ -e "$WORK/retired" ] && echo yes || echo no)"
}

case $STEP in
all)
	# One process for a fresh move; a move cut short, or --steps, goes on
	# step by step (each step does only what is missing).
	steps="prepare move"
	[ "$STEPS" = 1 ] || [ -e "$WORK/src" ] || [ -e "$WORK/dst" ] && steps="prepare dump carry restore flip unlock retire"
	for s in $steps; do
		if [ "$s" = move ]; then step_move || exit 1; else timed "$s" "step_$s" || exit 1; fi
	done
	;;
move) step_move ;;
dump | carry | prepare | flip | restore | unlock | retire | rollback) timed "$STEP" "step_$STEP" ;;
status) step_status ;;
*) die "unknown step $STEP; see --help" ;;
esac
