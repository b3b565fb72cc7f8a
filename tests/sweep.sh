#!/usr/bin/env bash
# tests/sweep.sh: remove what test runs killed outright (SIGKILL, a CI
# timeout) left behind: their network namespaces, with the programs attached
# inside, the processes in them, their bpffs mounts and their directories.
#
#   tests/sweep.sh                        sweep (make test, before the suite)
#   tests/sweep.sh --record RUN_ID PID    sweep, then record RUN_ID as PID's run
#                                         (tests/lib.sh, as it starts)
#
# The records are in ${TCPFERRY_TEST_RUNS:-/run/tcpferry-tests}: RUN_ID.pid
# holds the owner's pid and its start time (field 22 of /proc/PID/stat, so
# that a reused pid is not taken for the owner), RUN_ID.list what the run
# makes, one a line, each written before it is made (tests/lib.sh's own,
# tools/lab.sh's through $TCPFERRY_TEST_RECORD):
#   netns NAME   a network namespace (/run/netns/NAME) and the processes in it
#   dir PATH     a directory /tmp/X or /dev/shm/X, and every mount below it
#   file PATH    a file under /run, /tmp or /dev/shm
# A record whose owner is gone (or a zombie) is swept: the processes in its
# namespaces killed, the mounts under its directories unmounted, then its
# namespaces, directories and files removed, then the record, each said on
# stderr as a TAP diag.  Nothing that no record names is touched, nor anything
# of a live run.  Sweeps hold RUNS/.lock, so two never sweep one record, and a
# record is written under it too.
set -u

RUNS=${TCPFERRY_TEST_RUNS:-/run/tcpferry-tests}

diag() { printf '# sweep: %s\n' "$*" >&2; }

# start_time PID: PID's start time in clock ticks; fails for no such process
# or a zombie (a killed test that prove has not reaped yet is gone too).
start_time() {
	local s f
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }	# after the command name, which may hold spaces
	read -r -a f <<<"$s"
	[ "${f[0]}" != Z ] || return 1
	echo "${f[19]}"
}

alive() {
	local now
	now=$(start_time "$1") && [ "$now" = "$2" ]
}

# What a record may name: a slip in one must not remove anything else.
valid() {
	case $1 in
	netns) [[ $2 =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] ;;
	dir) [[ $2 =~ ^/(tmp|dev/shm)/[A-Za-z0-9][A-Za-z0-9._-]*$ ]] ;;
	file) [[ $2 =~ ^/(run|tmp|dev/shm)/[A-Za-z0-9._/-]+$ && $2 != *..* ]] ;;
	*) false ;;
	esac
}

# sweep_run ID: sweep the run ID if its owner is gone.
sweep_run() {
	local id=$1 pid="" start="" kind what p m
	local -a netns=() dirs=() files=() done=()
	read -r pid start 2>/dev/null <"$RUNS/$id.pid"
	[ -n "$pid" ] && alive "$pid" "$start" && return 0
	if [ -r "$RUNS/$id.list" ]; then
		while read -r kind what; do
			valid "$kind" "$what" || { diag "run $id: ignored a bad record line: $kind $what"; continue; }
			case $kind in
			netns) netns+=("$what") ;;
			dir) dirs+=("$what") ;;
			file) files+=("$what") ;;
			esac
		done <"$RUNS/$id.list"
	fi
	# Processes first (they hold sockets, pins and mounts), then mounts,
	# then the namespaces (their devices and tc/XDP links go with them).
	for what in "${netns[@]}"; do
		for p in $(ip netns pids "$what" 2>/dev/null); do
			kill -9 "$p" 2>/dev/null && done+=("pid $p (in $what)")
		done
	done
	for what in "${dirs[@]}"; do
		for m in $(findmnt -rn -o TARGET | awk -v d="$what" 'index($0, d "/") == 1' | sort -r); do
			umount -l "$m" 2>/dev/null && done+=("mount $m")
		done
	done
	for what in "${netns[@]}"; do
		[ -e "/run/netns/$what" ] && ip netns del "$what" 2>/dev/null && done+=("netns $what")
	done
	for what in "${dirs[@]}"; do
		[ -d "$what" ] && rm -rf --one-file-system "$what" && done+=("dir $what")
	done
	for what in "${files[@]}"; do
		[ -f "$what" ] && rm -f "$what" && done+=("file $what")
	done
	rm -f "$RUNS/$id.list" "$RUNS/$id.pid"
	if [ ${#done[@]} -gt 0 ]; then
		diag "run $id (pid $pid, gone) left $(printf '%s, ' "${done[@]}" | sed 's/, $//'): removed"
	fi
}

sweep() {
	local f
	local -A seen=()
	for f in "$RUNS"/*.pid "$RUNS"/*.list; do
		[ -e "$f" ] || continue
		f=${f##*/}
		f=${f%.*}
		[ -z "${seen[$f]:-}" ] || continue
		seen[$f]=1
		sweep_run "$f"
	done
}

# record ID PID: ID is PID's run from now on (an empty list).
record() {
	local id=$1 pid=$2 start old="" old_start=""
	[[ $id =~ ^[A-Za-z0-9._-]+$ ]] || { echo "sweep: bad run id '$id'" >&2; return 2; }
	start=$(start_time "$pid") || { echo "sweep: no process $pid" >&2; return 2; }
	read -r old old_start 2>/dev/null <"$RUNS/$id.pid"
	if [ -n "$old" ] && alive "$old" "$old_start"; then
		echo "sweep: run id $id is live pid $old's already" >&2
		return 1
	fi
	: >"$RUNS/$id.list" &&
		echo "$pid $start" >"$RUNS/$id.pid.new" && mv -f "$RUNS/$id.pid.new" "$RUNS/$id.pid"
}

[ "$(id -u)" -eq 0 ] || exit 0	# nothing a non-root run could have made
mkdir -p "$RUNS" && chmod 0700 "$RUNS" || exit 1
exec 9>"$RUNS/.lock"
flock -w 60 9 || { echo "sweep: $RUNS/.lock held for 60 s; not swept" >&2; exit 1; }
sweep
case ${1:-} in
--record) record "$2" "$3" ;;
'') ;;
*) sed -n '5,7p' "$0" >&2; exit 2 ;;
esac
