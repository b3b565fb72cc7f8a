#!/usr/bin/env bash
# tools/bench/migrate.sh: live migration between lab hosts (tools/lab.sh).
# Prints tab-separated "metric N value unit" lines (N = connections moved):
#
#   pause_median / pause_p99      1     ms  the pause the peer saw (tf-flow's
#                                           longest echo gap), over RUNS moves
#                                           of the demo's stream (default 100)
#   pause_nonudge_median / _p99   1     ms  the same without migrate nudge
#   step_<s>_median               1     ms  each step of tools/migrate.sh:
#                                           dump (freeze + lock + dump), carry,
#                                           restore (lock on b + rebuild +
#                                           repair off + exec), flip (route),
#                                           unlock (unlock + nudge), retire
#   locked_window_median          1     ms  dump + carry + restore + flip +
#                                           unlock: the time the peer cannot
#                                           get through, before it retransmits
#   step_<s>                      1000  ms  the same steps, 1,000 connections
#   locked_window                 1000  ms  moved together (tf-stream echo)
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

"$ROOT/tools/demo.sh" --quiet --count "$RUNS" --tsv "$W/nudge.tsv" >"$W/nudge.out" 2>&1 ||
	{ cat "$W/nudge.out" >&2; echo "bench migrate: the demo failed" >&2; exit 1; }
read -r m p < <(col "$W/nudge.tsv" 4 | stats)
row pause_median 1 "$m" ms
row pause_p99 1 "$p" ms
# columns: i from to pause prepare dump carry restore flip unlock retire
c=5
for s in prepare dump carry restore flip unlock retire; do
	read -r m p < <(col "$W/nudge.tsv" $c | stats)
	row "step_${s}_median" 1 "$m" ms
	c=$((c + 1))
done
read -r m p < <(awk -F'\t' 'NR > 1 { print $6 + $7 + $8 + $9 + $10 }' "$W/nudge.tsv" | stats)
row locked_window_median 1 "$m" ms

"$ROOT/tools/demo.sh" --quiet --no-nudge --count "$((RUNS / 2 > 5 ? RUNS / 2 : 5))" --tsv "$W/plain.tsv" \
	>"$W/plain.out" 2>&1 || { cat "$W/plain.out" >&2; exit 1; }
read -r m p < <(col "$W/plain.tsv" 4 | stats)
row pause_nonudge_median 1 "$m" ms
row pause_nonudge_p99 1 "$p" ms

# Many connections moved together: the step times of one move.
MANY=$MANY prove --exec '' -v "$ROOT/tests/integration/migrate_many.t" >"$W/many.out" 2>&1 ||
	{ cat "$W/many.out" >&2; echo "bench migrate: the many-connections move failed" >&2; exit 1; }
steps=$(sed -n 's/^# step times (ms): //p' "$W/many.out")
tr ',' '\n' <<<"$steps" | while read -r s v; do
	[ -n "$s" ] && row "step_$s" "$MANY" "$v" ms
done
tr ',' '\n' <<<"$steps" | awk -v n="$MANY" '$1 ~ /^(dump|carry|restore|flip|unlock)$/ { t += $2 } END { printf "locked_window\t%d\t%.3f\tms\n", n, t }'
