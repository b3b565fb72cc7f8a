# shellcheck shell=bash
# Sourced by every integration test: TAP output, cleanup on exit, and test
# hosts as network namespaces that the test makes (and always removes).
#
#   . "$(dirname "$0")/../lib.sh"
#   need_root; need_cmd socat
#   plan 3
#   make_pair            # $NS_A and $NS_B, veth between them, v4 + v6 addresses
#   ok "peer got every byte" cmp a b
#   done_testing
#
# Names are unique to the run (tf<pid><random>), so two runs never collide and
# a second run after a crash is not confused by leftovers.  Addresses come from
# 198.18.0.0/15 and fd00:7466::/32 and exist only inside the test's namespaces.
#
# A run killed outright (SIGKILL: no EXIT trap) is cleaned up by the next one.
# As root, each run records itself in /run/tcpferry-tests ($TCPFERRY_TEST_RUNS):
# RUN_ID.pid, its pid and start time; RUN_ID.list, each namespace (make_ns,
# and tools/lab.sh's through $TCPFERRY_TEST_RECORD) and directory ($TMP, a
# lab's work directory) before it is made.  Every run starts with
# tests/sweep.sh (so does `make test`), which removes what the records of
# runs whose pid is gone name (the processes in those namespaces, the mounts
# under those directories, such as make_bpffs's) and says so on stderr as a
# TAP diag; it touches nothing unrecorded and nothing of a live run.  A clean
# exit removes the record last.

set -u

TF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The build under test: $BUILD (make passes its own, e.g. build-asan; relative
# to the source tree), its tcpferry unless $TF names another.  Exported, so
# the tools a test runs (lab.sh, migrate.sh, demo.sh) use the same binaries.
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TF_ROOT/$BUILD ;; esac
TF=${TF:-$BUILD/tcpferry}
HELPERS=$BUILD/tests/helpers
export BUILD TF
RUN_ID=${RUN_ID:-tf$$$((RANDOM % 100))}

_tap_n=0
_tap_fail=0
_tap_plan=-1
_cleanups=()

# ---- TAP -------------------------------------------------------------------------

plan() { _tap_plan=$1; echo "1..$1"; }
# diag: why something failed, on stderr so that prove shows it (as Test::More
# does); note: what a passing run measured, on stdout (prove -v shows it).
diag() { printf '%s\n' "$*" | sed 's/^/# /' >&2; }
note() { printf '%s\n' "$*" | sed 's/^/# /'; }

skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

# ok DESCRIPTION COMMAND [ARGS...]: passes when the command succeeds.
ok() {
	local desc=$1
	shift
	_tap_n=$((_tap_n + 1))
	if "$@"; then
		echo "ok $_tap_n - $desc"
	else
		echo "not ok $_tap_n - $desc"
		_tap_fail=$((_tap_fail + 1))
	fi
}

# todo REASON DESCRIPTION COMMAND [ARGS...]: as ok, for a known bug not fixed
# yet: a failure is "not ok ... # TODO REASON", which prove reports and does
# not fail on; a pass is "ok ... # TODO REASON" (prove: the TODO may go).
todo() {
	local reason=$1 desc=$2
	shift 2
	_tap_n=$((_tap_n + 1))
	if "$@"; then
		echo "ok $_tap_n - $desc # TODO $reason"
	else
		echo "not ok $_tap_n - $desc # TODO $reason"
	fi
}

# is GOT WANT DESCRIPTION
is() {
	_tap_n=$((_tap_n + 1))
	if [ "$1" = "$2" ]; then
		echo "ok $_tap_n - $3"
	else
		echo "not ok $_tap_n - $3"
		diag "  got:  '$1'"
		diag "  want: '$2'"
		_tap_fail=$((_tap_fail + 1))
	fi
}

# quietly CMD...: CMD with its stdout thrown away (for `ok "x" quietly cmd`;
# a redirect after `ok` would swallow the TAP line too).
quietly() { "$@" >/dev/null; }

# has_line FILE REGEX [ALSO...]: FILE has a line matching the basic regex,
# or FILE and each ALSO go out as a diag (for `ok "x" has_line ...`: ok's
# own status is its TAP line's, so an `ok ... || diag` never shows anything).
has_line() {
	local f=$1 re=$2
	shift 2
	grep -q -- "$re" "$f" && return 0
	for f in "$f" "$@"; do diag "$f:" "$(cat "$f")"; done
	return 1
}

skip() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $2 # SKIP $1"
}

bail_out() {
	echo "Bail out! $*"
	exit 255
}

done_testing() {
	[ "$_tap_plan" -lt 0 ] && echo "1..$_tap_n"
	[ "$_tap_fail" -eq 0 ]
}

# expect_error WANT_STATUS PATTERN CMD...: CMD fails with that exit status and
# an error (stderr) matching the extended regex PATTERN; the error is noted.
expect_error() {
	local want=$1 pattern=$2 out status
	shift 2
	out=$("$@" 2>&1 >/dev/null)
	status=$?
	note "$out"
	[ "$status" = "$want" ] || { diag "exit $status, want $want"; return 1; }
	grep -qE -- "$pattern" <<<"$out" || { diag "no match for: $pattern"; return 1; }
}

# ---- cleanup ----------------------------------------------------------------------

# at_exit CMD...: run at exit, last registered first, whatever happened.
at_exit() { _cleanups+=("$*"); }

_run_cleanups() {
	local i
	# A second INT or TERM (a timeout's, a ^C again) must not cut the
	# cleanup short: that left namespaces (and the programs in them) behind.
	trap '' INT TERM HUP PIPE
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[$i]}" >/dev/null 2>&1 || true
	done
	_cleanups=()
	[ -z "${TMP:-}" ] || rm -rf "$TMP"
	# Last: a cleanup cut short (SIGKILL), or a namespace it could not
	# remove, leaves the record for the next sweep.
	run_record_done
	true
}
trap _run_cleanups EXIT
# A signal ends the run through the EXIT trap.  HUP and PIPE too: a test
# whose reader (prove) was killed dies of SIGPIPE at its next line of TAP,
# and an untrapped SIGPIPE skips the EXIT trap (namespaces, pinned programs
# and bpffs mounts were left behind so).
trap 'exit 130' INT TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

. "$TF_ROOT/tests/run_record.sh"
# Sweep the runs killed before, then record this one.  Without root a test
# makes nothing to record (it skips).
TCPFERRY_TEST_RECORD=
run_record "$RUN_ID" || bail_out "tests/sweep.sh could not record run $RUN_ID"
TMP=$(mktemp -d "/tmp/$RUN_ID.XXXXXX")
owned dir "$TMP"
chmod 0700 "$TMP"

# ---- requirements -----------------------------------------------------------------

need_root() {
	[ "$(id -u)" -eq 0 ] || skip_all "needs root (network namespaces, TCP_REPAIR)"
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_all "needs $c (make deps installs it)"
	done
}

# kernel_has FEATURE: `tcpferry check` says FEATURE is ok on this kernel (tcx,
# TCP-AO, "TCP_TIMESTAMP usec", ...).  A test that needs a feature older
# kernels lack takes the other path, or skips naming it: "tcx needs Linux 6.6".
kernel_has() {
	"$TF" -j check 2>/dev/null | jq -e --arg f "$1" 'any(.[]; .feature == $f and .ok)' >/dev/null
}

need_built() {
	[ -x "$TF" ] || bail_out "$TF is not built; run make"
}

# ---- hosts --------------------------------------------------------------------------

# make_ns NAME: a fresh namespace with lo up; removed at exit.
make_ns() {
	owned netns "$1"
	ip netns add "$1" || bail_out "cannot create netns $1"
	at_exit "ip netns del $1"
	ip -n "$1" link set lo up
}

in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# spawn NS OUT CMD...: run CMD in NS in the background, output to OUT; its
# pid in $SPAWNED (the command's own: ip netns exec execs it), killed at exit.
spawn() {
	local ns=$1 out=$2
	shift 2
	ip netns exec "$ns" "$@" >"$out" 2>&1 &
	SPAWNED=$!
	at_exit "kill -9 $SPAWNED"
}

# make_pair: two hosts joined by a veth pair.
#   NS_A (198.18.0.1, fd00:7466::1, dev $DEV_A) <-> NS_B (198.18.0.2, fd00:7466::2, dev $DEV_B)
make_pair() {
	NS_A=${RUN_ID}a
	NS_B=${RUN_ID}b
	DEV_A=veth0
	DEV_B=veth0
	ADDR_A=198.18.0.1
	ADDR_B=198.18.0.2
	ADDR6_A=fd00:7466::1
	ADDR6_B=fd00:7466::2
	make_ns "$NS_A"
	make_ns "$NS_B"
	ip link add "${RUN_ID}x" netns "$NS_A" type veth peer name "${RUN_ID}y" netns "$NS_B" ||
		bail_out "cannot create veth pair"
	ip -n "$NS_A" link set "${RUN_ID}x" name "$DEV_A"
	ip -n "$NS_B" link set "${RUN_ID}y" name "$DEV_B"
	ip -n "$NS_A" addr add "$ADDR_A/24" dev "$DEV_A"
	ip -n "$NS_B" addr add "$ADDR_B/24" dev "$DEV_B"
	ip -n "$NS_A" addr add "$ADDR6_A/64" dev "$DEV_A" nodad
	ip -n "$NS_B" addr add "$ADDR6_B/64" dev "$DEV_B" nodad
	ip -n "$NS_A" link set "$DEV_A" up
	ip -n "$NS_B" link set "$DEV_B" up
}

# make_bpffs: a bpffs of the test's own ($BPFFS), unmounted at exit.  Pins
# under /sys/fs/bpf would vanish with each `ip netns exec` (fresh /sys).
make_bpffs() {
	BPFFS=$TMP/bpffs
	mkdir -p "$BPFFS"
	mount -t bpf bpf "$BPFFS" || skip_all "cannot mount bpffs (needs a kernel with BPF)"
	at_exit "umount -l $BPFFS"
	export TCPFERRY_BPFFS=$BPFFS/tcpferry
}

# drop_bpffs: unmount make_bpffs's bpffs now (at_exit does it too, quietly), so
# that a test can check that nothing of it is left.
drop_bpffs() { umount "$BPFFS"; }

# mounts_under DIR: the mount points at or below DIR, one a line.
mounts_under() { findmnt -rn -o TARGET | awk -v d="$1" '$0 == d || index($0, d "/") == 1'; }

# nstat_get NS COUNTER: the absolute value of a counter in a namespace.
nstat_get() {
	local v
	v=$(ip netns exec "$1" nstat -asz "$2" 2>/dev/null | awk -v c="$2" '$1 == c { print $2 }')
	echo "${v:-0}"
}

# reuseaddr PID FD: SO_REUSEADDR of PID's socket FD, read through a copy of it
# (pidfd_getfd: the process does nothing; ss cannot show it).
reuseaddr() {
	python3 - "$1" "$2" <<'PY'
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.syscall(438, os.pidfd_open(int(sys.argv[1])), int(sys.argv[2]), 0)  # pidfd_getfd
if fd < 0:
    sys.exit("pidfd_getfd: " + os.strerror(ctypes.get_errno()))
print(socket.socket(fileno=fd).getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR))
PY
}

# wait_for SECONDS CMD...: poll until CMD succeeds.
wait_for() {
	local limit=$1 i
	shift
	for ((i = 0; i < limit * 20; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}
