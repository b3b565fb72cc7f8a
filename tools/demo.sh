#!/usr/bin/env bash
# tools/demo.sh: `make demo`.  A live TCP stream moves from host a to host b
# mid-stream, and the peer sees nothing but a short pause.
#
#   tools/demo.sh [--count N] [--tsv FILE] [--quiet] [--no-nudge] [--steps]
#                 [--receiver socat|relay] [--ssh]
#
# In a fresh lab (tools/lab.sh): the peer runs an echo server (socat) and a
# client (tests/helpers/tf-flow) that streams a pattern to the service address
# and checks every echoed byte; on a, an unmodified socat relays the
# client's connection to the echo server (two connections, both bound to the
# service address).  tools/migrate.sh then moves socat's connections to b
# (a fresh, unmodified `socat FD:3 FD:4` fed by tcpferry restore), and with
# --count N back and forth N times.  At the end the client stops, checks that
# the whole stream came back, and the report says: the pause the peer saw,
# packets the locks dropped, PAWS drops and RSTs (all hosts), bytes verified.
# A move's pause is the longest gap between echoed bytes at the peer from
# just before migrate.sh starts until the stream flows again.
# --steps moves with tools/migrate.sh's separate steps instead of one
# `tcpferry migrate move`.  --receiver relay hands the connections to a
# relay already running on the target (tests/helpers/tf-relay, restore's
# --send-to), so no program start falls inside the pause.
# --ssh moves as between two machines: `tcpferry migrate send` on the source
# over ssh to `tcpferry receive` on the target (an sshd in each host's
# namespace, keys made for the run, both stopped at the end).
# --tsv FILE gets one line per migration: i from to pause_ms, the step or
# phase times (ms) and the locked window (ms).
# Exit status 0 only if every check passed.  Everything is removed at exit.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case ${BUILD:=build} in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac	# make BUILD=...
TF=${TF:-$BUILD/tcpferry}
FLOW=$BUILD/tests/helpers/tf-flow
COUNT=1 TSV="" QUIET=0 NUDGE="" STEPS="" RECEIVER=socat SSH=0
RELAY=$BUILD/tests/helpers/tf-relay

while [ $# -gt 0 ]; do
	case $1 in
	--count) COUNT=$2; shift 2 ;;
	--tsv) TSV=$2; shift 2 ;;
	--quiet) QUIET=1; shift ;;
	--no-nudge) NUDGE=--no-nudge; shift ;;
	--steps) STEPS=--steps; shift ;;
	--receiver) RECEIVER=$2; shift 2 ;;
	--ssh) SSH=1; shift ;;
	-h | --help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo: unknown option $1" >&2; exit 2 ;;
	esac
done

say() { [ "$QUIET" = 1 ] || echo "$@"; }
fail() {
	echo "demo: $*" >&2
	[ -n "${W:-}" ] && diagnose >&2
	exit 1
}
# The demo's sockets in namespace $1 as ss sees them, with TCP_INFO.
demo_sockets() {
	ip netns exec "$1" ss -tnoiH state all "( sport = :5000 or dport = :5001 or sport = :5001 or dport = :5000 )"
}
# What a failure leaves to look at: the sockets (with TCP_INFO) and locks of
# every host, and the peer's counters.
diagnose() {
	local h ns
	echo "---- state at the failure ----"
	for h in peer a b; do
		ns=$NS_PEER
		[ $h = a ] && ns=$NS_A
		[ $h = b ] && ns=$NS_B
		echo "$h: sockets"
		demo_sockets "$ns" 2>&1 | sed 's/^/  /'
		[ $h = peer ] && continue
		echo "$h: locks"
		"$ROOT/tools/lab.sh" exec $h "$TF" lock list 2>&1 | sed 's/^/  /'
	done
	echo "peer: $(ip netns exec "$NS_PEER" nstat -asz 2>/dev/null | awk '$2 > 0 && $1 ~ /Retrans|PAWS|RST|Reset|Loss|TLP|SACKRecovery|Timeout/ { printf "%s %s  ", $1, $2 }')"
	echo "route: $(ip -n "$NS_RT" route get "$SVC" 2>&1 | head -1)"
	echo "last migration: $(tail -5 "${mw:-/nonexistent}.log" 2>/dev/null)"
}

[ "$(id -u)" -eq 0 ] || fail "needs root (network namespaces, TCP_REPAIR, BPF); try: sudo make demo"
for c in socat jq ss nstat ip; do
	command -v $c >/dev/null || fail "needs $c (make deps installs it)"
done
[ -x "$TF" ] && [ -x "$FLOW" ] && [ -x "$RELAY" ] || fail "not built; run make"
case $RECEIVER in socat | relay) ;; *) fail "--receiver socat or relay" ;; esac
[ "$RECEIVER" = relay ] && [ -n "$STEPS" ] && fail "--receiver relay needs the one-process move (no --steps)"

# ---- the lab ----------------------------------------------------------------------
T0=$(date +%s%N)
LABID=tfd$(printf '%07x' $(((($$ << 10) | (RANDOM & 1023)) & 0xfffffff)))	# 10 characters at most
CLEANUPS=()
at_exit() { CLEANUPS+=("$*"); }
cleanup() {
	local i
	trap '' INT TERM HUP PIPE
	for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${CLEANUPS[i]}" >/dev/null 2>&1; done
	"$ROOT/tools/lab.sh" down --id "$LABID" >/dev/null 2>&1
	run_record_done
}
# Set before the lab comes up; a SIGKILL leaves the record for the next sweep.
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE
. "$ROOT/tests/run_record.sh"
run_record "$LABID" || fail "tests/sweep.sh could not record the demo's run"
LABENV=$("$ROOT/tools/lab.sh" up --id "$LABID") || fail "the lab did not come up"
eval "$LABENV"
export TCPFERRY_LAB=$LABID
W=$LAB_WORK
say "lab $LABID: peer $PEER_ADDR, hosts a and b, service address $SVC (on a)"
if [ "$SSH" = 1 ]; then
	# As between two machines: the channel is ssh over the lab network.
	TMP=$W
	bail_out() { fail "$*"; }
	# shellcheck source=../tests/helpers/sshlab.sh
	. "$ROOT/tests/helpers/sshlab.sh"
	sshlab_up a b >/dev/null
	for h in a b; do "$ROOT/tools/lab.sh" exec $h ip addr replace "$SVC/32" dev lo; done
	say "sshd on a ($A_ADDR) and b ($B_ADDR); moves go over ssh (migrate send | receive)"
fi

# ---- the programs -------------------------------------------------------------------
# The peer stands for another machine: its programs get a realtime priority
# so that the lab's tooling on the same cores (ip, jq, the tool itself)
# does not show up as pauses of the peer.
PEER_PRIO=()
chrt -f 10 true 2>/dev/null && PEER_PRIO=(chrt -f 10)
ip netns exec "$NS_PEER" "${PEER_PRIO[@]}" socat TCP-LISTEN:5001,reuseaddr,fork PIPE >"$W/echo.log" 2>&1 &
disown	# the lab's teardown kills them; no "Killed" notes at exit
ip netns exec "$NS_A" socat TCP-LISTEN:5000,bind="$SVC",reuseaddr \
	TCP:"$PEER_ADDR":5001,bind="$SVC" >"$W/socat-a.log" 2>&1 &
APP=$!
disown
sleep 0.2
ip netns exec "$NS_PEER" "${PEER_PRIO[@]}" "$FLOW" client "$SVC" 5000 --chunk 1024 --interval-us 1000 \
	--status "$W/status" >"$W/flow.log" 2>"$W/flow.err" &
CLIENT=$!
say "a: socat $SVC:5000 <-> $PEER_ADDR:5001 (pid $APP); the peer streams 1 MB/s through it and checks the echo"

# The loops below that run while a stream is being measured start no
# program (cat, awk, sleep would compete with the moved program for these
# 2 cores): bash builtins only, and a read with a timeout as the sleep.
exec {NAPFD}<> <(:)
nap() { read -r -t "$1" -u "$NAPFD" _ || :; }
# The client's status file: "RECV_BYTES MS_SINCE_LAST_RECV MAX_GAP_MS".
status() { ST_RECV=0 ST_IDLE=99999; read -r ST_RECV ST_IDLE _ 2>/dev/null <"$W/status"; }
# Wait until the echo flows again: new bytes since $1 and the last one < 5 ms ago.
wait_flowing() {
	local since=$1 i
	for ((i = 0; i < 2000; i++)); do
		status
		[ "${ST_RECV:-0}" -gt $((since + 4096)) ] && [ "${ST_IDLE%.*}" -lt 5 ] 2>/dev/null && return 0
		kill -0 "$CLIENT" 2>/dev/null || return 1
		nap 0.005
	done
	return 1
}
# The client's "gap_ms MAX recv BYTES" lines: GAP_N of them, the last MAX.
count_gaps() {
	local l
	GAP_N=0 GAP_LAST=""
	while read -r l; do
		case $l in gap_ms*) GAP_N=$((GAP_N + 1)) GAP_LAST=${l#gap_ms } GAP_LAST=${GAP_LAST%% *} ;; esac
	done <"$W/flow.log"
}
# Ask the client for its longest pause since the last ask: GAP_LAST (ms).
gap() {
	local n i
	count_gaps
	n=$GAP_N
	kill -USR1 "$CLIENT" 2>/dev/null || return 1
	for ((i = 0; i < 400; i++)); do
		count_gaps
		[ "$GAP_N" -gt "$n" ] && return 0
		nap 0.005
	done
	GAP_LAST=""
	return 1
}
lock_drops() { # packets the locks of migration dir $1 dropped (on both hosts)
	local to from
	if [ -r "$1/move.json" ]; then # one-process move: its own report
		jq '.lock_dropped_packets_from + .lock_dropped_packets_to' "$1/move.json" 2>/dev/null || echo 0
		return
	fi
	to=$(jq '.lock_dropped_packets // 0' "$1/unlock.json" 2>/dev/null)
	from=$(jq '[.locks[]? | .in_packets + .out_packets] | add // 0' "$1/locks-from.json" 2>/dev/null)
	echo $((${to:-0} + ${from:-0}))
}
counter() { nstat_ns "$1" "$2"; }
nstat_ns() {
	local v
	v=$(ip netns exec "$1" nstat -asz "$2" 2>/dev/null | awk -v c="$2" '$1 == c { print $2 }')
	echo "${v:-0}"
}

wait_flowing 0 || fail "the stream never started: $(cat "$W/flow.err" "$W/socat-a.log")"
sleep 0.5

# ---- the migrations ---------------------------------------------------------------------
from=a to=b pid=$APP
pauses=()
drops=0
# Step or phase times (ms) for --tsv: tools/migrate.sh's steps and, when it
# moves in one process, tcpferry migrate move's phases; a column stays empty
# where the way of moving has no such part.
PHASES="prepare freeze dump carry restore route flip live unlock nudge retire"
[ "$SSH" = 1 ] && PHASES="connect prepare freeze dump send build flip commit retire"
[ -n "$TSV" ] && { printf 'i\tfrom\tto\tpause_ms'; printf '\t%s' $PHASES window; echo; } >"$TSV"
for ((i = 1; i <= COUNT; i++)); do
	mw=$W/m$i
	to_prog=(-- socat FD:3 FD:4)
	if [ "$RECEIVER" = relay ]; then
		# Started before the move, outside the pause, as a backend would be.
		ns=$NS_A
		[ $to = b ] && ns=$NS_B
		ip netns exec "$ns" "$RELAY" "$W/relay$i.sock" >"$W/relay$i.log" 2>&1 &
		disown
		for ((k = 0; k < 400; k++)); do [ -S "$W/relay$i.sock" ] && break; nap 0.005; done
		to_prog=(--send-to "$W/relay$i.sock")
	fi
	# The pause of this move: the longest gap from here (the previous
	# move's bookkeeping done, the stream flowing) until it flows again.
	wait_flowing 0 || fail "migration $i: the stream stalled before the move: $(cat "$W/flow.err")"
	gap || fail "migration $i: the client does not answer: $(cat "$W/flow.err")"
	status
	before=$ST_RECV
	if [ "$SSH" = 1 ]; then
		to_addr=$A_ADDR
		[ $to = b ] && to_addr=$B_ADDR
		mkdir -p "$mw"
		if ! "$ROOT/tools/lab.sh" exec $from "$TF" -j migrate send --pid "$pid" --journal "$W/journal-$from" \
			--via "$(receive_via $to)" --flip "ip -n $NS_RT route replace $SVC/32 via $to_addr" $NUDGE \
			"${to_prog[@]}" >"$mw/send.json" 2>"$mw.log"; then
			cat "$mw.log" "$mw/send.json" >&2
			fail "migration $i ($from -> $to, migrate send over ssh) failed"
		fi
		# The same records as migrate move's: WORK/times, to.pid, move.json.
		jq -r '.ms | to_entries[] | "\(.key)\t\(.value)"' "$mw/send.json" >"$mw/times"
		jq -r .to_pid "$mw/send.json" >"$mw/to.pid"
		cp "$mw/send.json" "$mw/move.json"
	elif ! "$ROOT/tools/migrate.sh" --from $from --to $to --pid "$pid" --work "$mw" $NUDGE $STEPS all "${to_prog[@]}" \
		>"$mw.log" 2>&1; then
		cat "$mw.log" >&2
		fail "migration $i ($from -> $to) failed"
	fi
	wait_flowing "$before" || fail "migration $i: the stream did not resume: $(cat "$W/flow.err")"
	gap || fail "migration $i: the client does not answer: $(cat "$W/flow.err")"
	p=$GAP_LAST
	pauses+=("$p")
	if [ -n "${DEMO_TRACE:-}" ]; then # DEMO_TRACE=FILE: per move, the sockets as ss sees them
		{
			echo "== migration $i $from -> $to pause $p ms"
			for ns in "$NS_PEER" "$NS_A" "$NS_B"; do
				echo "-- ${ns##*-}"
				demo_sockets "$ns"
			done
		} >>"$DEMO_TRACE" 2>&1
	fi
	d=$(lock_drops "$mw")
	drops=$((drops + d))
	if [ -n "$TSV" ]; then
		printf '%s\t%s\t%s\t%s' "$i" "$from" "$to" "$p" >>"$TSV"
		for s in $PHASES; do
			printf '\t%s' "$(awk -v s=$s '$1 == s { print $2 }' "$mw/times")" >>"$TSV"
		done
		# The locked window: the move's own figure, or the steps' sum.
		awk '$1 == "locked_window" { w = $2; got = 1 } $1 ~ /^(dump|carry|restore|flip|unlock)$/ { s += $2 }
			END { printf "\t%.3f\n", got ? w : s }' "$mw/times" >>"$TSV"
	fi
	[ "$QUIET" = 1 ] || [ "$COUNT" -gt 3 ] ||
		say "migration $i: $from -> $to: pause at the peer $p ms ($(awk '{printf "%s %s ms, ", $1, $2}' "$mw/times" | sed 's/, $//'))"
	[ "$COUNT" -gt 3 ] && [ $((i % 50)) -eq 0 ] && say "  $i migrations done"
	pid=$(cat "$mw/to.pid")
	tmp=$from from=$to to=$tmp
	rm -rf "$mw/src" "$mw/dst"
done
sleep 0.3
rst_counts() {
	local ns
	for ns in "$NS_PEER" "$NS_A" "$NS_B"; do
		printf '%s:%s/%s ' "${ns##*-}" "$(counter "$ns" TcpOutRsts)" "$(counter "$ns" TcpEstabResets)"
	done
}
[ -n "${DEMO_DEBUG:-}" ] && echo "RSTs out/estab-resets before the end: $(rst_counts)"

# ---- the end: stop, verify, report -----------------------------------------------------
kill -USR2 "$CLIENT"
wait "$CLIENT"
rc=$?
[ -n "${DEMO_DEBUG:-}" ] && echo "after: $(rst_counts)"
verified=$(awk '/^ok /{print $5}' "$W/flow.log")
sent=$(awk '/^ok /{print $3}' "$W/flow.log")
paws=$(counter "$NS_PEER" TcpExtPAWSEstab)
rsts=0
for ns in "$NS_PEER" "$NS_A" "$NS_B"; do
	rsts=$((rsts + $(counter "$ns" TcpOutRsts)))
done
leftover=0
for h in a b; do
	n=$("$ROOT/tools/lab.sh" exec $h "$TF" -j lock list | jq '.locks | length')
	leftover=$((leftover + ${n:-0}))
done
sorted=$(printf '%s\n' "${pauses[@]}" | sort -g)
median=$(awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }' <<<"$sorted")
p99=$(awk '{ v[NR] = $1 } END { i = int(NR * 0.99 + 0.999); if (i < 1) i = 1; print v[i] }' <<<"$sorted")
worst=$(tail -1 <<<"$sorted")
secs=$(awk -v a="$T0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')

echo "---- tcpferry live migration: report ----"
if [ "$SSH" = 1 ]; then
	echo "how it moved:              tcpferry migrate send over ssh (a and b share only the lab network)"
elif [ -n "$STEPS" ]; then
	echo "how it moved:              tools/migrate.sh, one step at a time"
else
	echo "how it moved:              tcpferry migrate move (the move engine, its target side forked into B's namespace)"
fi
if [ "$COUNT" -eq 1 ]; then
	echo "pause the peer saw:        ${pauses[0]} ms"
else
	echo "migrations:                $COUNT (a <-> b)"
	echo "pause the peer saw:        median $median ms, p99 $p99 ms, worst $worst ms"
fi
echo "packets the locks dropped: $drops"
echo "PAWS drops at the peer:    $paws"
echo "RSTs sent (peer, a, b):    $rsts; peer connections reset: $(counter "$NS_PEER" TcpEstabResets)"
echo "bytes verified:            ${verified:-0} of ${sent:-?} sent"
echo "locks left behind:         $leftover"
echo "time:                      $secs s"
ok=1
[ "$rc" -eq 0 ] || { echo "FAIL: the client's check failed: $(cat "$W/flow.err")"; ok=0; }
[ "$paws" -eq 0 ] || { echo "FAIL: PAWS drops at the peer"; ok=0; }
[ "$rsts" -eq 0 ] && [ "$(counter "$NS_PEER" TcpEstabResets)" -eq 0 ] || { echo "FAIL: RSTs"; ok=0; }
[ "$leftover" -eq 0 ] || { echo "FAIL: locks left behind"; ok=0; }
[ -n "$verified" ] && [ "$verified" = "$sent" ] || ok=0
[ $ok = 1 ] && echo "result:                    PASS" || { echo "result:                    FAIL"; diagnose; }
[ $ok = 1 ]
