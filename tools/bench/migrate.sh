#!/usr/bin/env bash
# tools/bench/migrate.sh: live migration between lab hosts (tools/lab.sh).
# Prints tab-separated "metric N value unit" lines (N = connections moved):
#
#   pause_median / _p99           1   ms  the pause the peer saw (tf-flow's
#                                         longest echo gap) over RUNS moves of
#                                         the demo's stream (default 100), each
#                                         one `tcpferry migrate move` that
#                                         starts a fresh unmodified socat
#   pause_relay_median / _p99     1   ms  the same, the connections handed to a
#                                         relay already running on the target
#                                         (--send-to): no program start inside
#                                         the pause
#   pause_nonudge_median / _p99   1   ms  socat, without the nudge
#   pause_steps_median / _p99     1   ms  socat, tools/migrate.sh --steps: each
#                                         step a separate run of the tool
#   move_<phase>_median           1   ms  the move's phases (freeze dump restore
#                                         route live unlock nudge retire)
#   move_window_median            1   ms  its locked window: the dump's first
#                                         lock to the target's unlock
#   step_<s>_median               1   ms  the steps of --steps (dump includes
#   steps_window_median           1   ms  the freeze), and their locked window
#   move_<phase>, move_window  1000   ms  one move of 1,000 connections
#                                         (tf-stream echo)
#   pause_many                 1000   ms  the pause the peer saw in that move:
#                                         the longest gap between two pings of
#                                         all 1,000 (each every 5 ms)
#   pause_ssh_median / _p99       1   ms  `tcpferry migrate send` over ssh to the
#                                         target's `tcpferry receive` (the demo's
#                                         --ssh: sshd in each lab host), socat
#   pause_ssh_relay_median / _p99 1   ms  the same, to a running relay
#   send_<phase>_median           1   ms  migrate send's phases (connect prepare
#                                         freeze dump send build flip commit
#                                         retire) and send_window_median
#   send_<phase>, send_window  1000   ms  one migrate send of 1,000 connections
#   pause_many_ssh             1000   ms  the pause the peer saw in that move
#   socat_start_median            1   ms  what starting socat costs by itself
#                                         (fork, exec, its libraries: socat -V),
#                                         part of pause_median
#
# QUICK=1: 10 moves, 100 connections.  Needs root; builds nothing (make first).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNS=${RUNS:-100}
MANY=1000
if [ "${QUICK:-0}" = 1 ]; then RUNS=10; MANY=100; fi
W=$(mktemp -d /tmp/tfbench-migrate.XXXXXX)
trap 'rm -rf "$W"' EXIT

# median and p99 of a column of numbers
stats() { sort -g | awk '{ v[NR] = $1 } END { m = v[int((NR + 1) / 2)]; i = int(NR * 0.99 + 0.999); if (i < 1) i = 1; print m, v[i] }'; }
col() { awk -F'\t' -v c="$2" 'NR > 1 && $c != "" { print $c }' "$1"; }
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4"; }

# tsv_col FILE NAME: the column NAME of a demo --tsv file, empty cells left out
tsv_col() {
	awk -F'\t' -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == n) c = i; next }
		c && $c != "" { print $c }' "$1"
}
demo() { # demo NAME ARGS...: RUNS moves; NAME.tsv
	local name=$1
	shift
	"$ROOT/tools/demo.sh" --quiet --tsv "$W/$name.tsv" "$@" >"$W/$name.out" 2>&1 ||
		{ cat "$W/$name.out" >&2; echo "bench migrate: the demo ($name) failed" >&2; exit 1; }
}
pauses() { # pauses NAME METRIC: median and p99 of the pause
	local m p
	read -r m p < <(tsv_col "$W/$1.tsv" pause_ms | stats)
	row "${2}_median" 1 "$m" ms
	row "${2}_p99" 1 "$p" ms
}
phases() { # phases NAME PREFIX NAMES...: the median of each named column
	local name=$1 prefix=$2 s m p
	shift 2
	for s in "$@"; do
		read -r m p < <(tsv_col "$W/$name.tsv" "$s" | stats)
		[ -n "$m" ] && row "${prefix}_${s}_median" 1 "$m" ms
	done
}

# A fresh socat's own start, which the socat moves' pause includes.
for ((k = 0; k < 21; k++)); do
	t0=${EPOCHREALTIME/[.,]/}
	socat -V >/dev/null
	echo $(( (10#${EPOCHREALTIME/[.,]/} - 10#$t0) ))
done | awk '{ printf "%.3f\n", $1 / 1000 }' | stats | { read -r m p; row socat_start_median 1 "$m" ms; }

demo move --count "$RUNS"
pauses move pause
phases move move freeze dump restore route live unlock nudge retire
read -r m p < <(tsv_col "$W/move.tsv" window | stats)
row move_window_median 1 "$m" ms

demo relay --count "$RUNS" --receiver relay
pauses relay pause_relay

half=$((RUNS / 2 > 5 ? RUNS / 2 : 5))
demo plain --count "$half" --no-nudge
pauses plain pause_nonudge

demo ssh --count "$RUNS" --ssh
pauses ssh pause_ssh
phases ssh send connect prepare freeze dump send build flip commit retire
read -r m p < <(tsv_col "$W/ssh.tsv" window | stats)
row send_window_median 1 "$m" ms

demo sshrelay --count "$RUNS" --ssh --receiver relay
pauses sshrelay pause_ssh_relay

demo steps --count "$half" --steps
pauses steps pause_steps
phases steps step dump carry restore flip unlock retire
read -r m p < <(tsv_col "$W/steps.tsv" window | stats)
row steps_window_median 1 "$m" ms

# Many connections moved together: the phase times of one move.
MANY=$MANY prove --exec '' -v "$ROOT/tests/integration/migrate_many.t" >"$W/many.out" 2>&1 ||
	{ cat "$W/many.out" >&2; echo "bench migrate: the many-connections move failed" >&2; exit 1; }
steps=$(sed -n 's/^# step times (ms): //p' "$W/many.out")
pause=$(sed -n 's/^# pause at the peer (ms): //p' "$W/many.out")
[ -n "$pause" ] && row pause_many "$MANY" "$pause" ms
pause=$(sed -n 's/^# pause at the peer over ssh (ms): //p' "$W/many.out")
[ -n "$pause" ] && row pause_many_ssh "$MANY" "$pause" ms
sed -n 's/^# migrate send: \({[^}]*}\).*/\1/p' "$W/many.out" | jq -r 'to_entries[] | "\(.key) \(.value)"' 2>/dev/null |
	while read -r s v; do
		case $s in
		locked_window) row send_window "$MANY" "$v" ms ;;
		?*) row "send_$s" "$MANY" "$v" ms ;;
		esac
	done
tr ',' '\n' <<<"$steps" | while read -r s v; do
	case $s in
	locked_window) row move_window "$MANY" "$v" ms ;;
	?*) row "move_$s" "$MANY" "$v" ms ;;
	esac
done
