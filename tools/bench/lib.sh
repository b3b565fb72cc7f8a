# shellcheck shell=bash
# Sourced by run.sh and every benchmark script: failing loudly, progress,
# results rows, the time cap, tuple lists, and network namespaces that the
# benchmark makes and always removes.
#
# Every netfilter command runs inside a namespace made here, never in the
# root namespace.  Names are unique to the run (tfb<pid>...), registered in
# $BENCH_WORK/netns, and deleted by bench_cleanup (run.sh traps EXIT).

set -u

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TF_ROOT=$(cd "$BENCH_DIR/../.." && pwd)
TF=${TF:-$TF_ROOT/build/tcpferry}
LOCK_BENCH=${LOCK_BENCH:-$TF_ROOT/build/tools/lock_bench}
REPAIR_BENCH=${REPAIR_BENCH:-$TF_ROOT/build/tools/repair_bench}
TSVAL_BENCH=${TSVAL_BENCH:-$TF_ROOT/build/tools/tsval_bench}
BPF_RUNTIME=${BPF_RUNTIME:-$TF_ROOT/build/tools/bpf_runtime}

# One single run (one method, one size) may not take longer than this; sizes
# projected past it are reported as "not run", never silently dropped.
CAP_S=${CAP_S:-60}

# ---- failing and talking ----------------------------------------------------------

die() {
	echo "bench: $*" >&2
	exit 1
}

progress() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# need_file PATH WHAT: a tool we compare against must exist, or we stop.
need_exe() {
	[ -x "$1" ] || die "$1 missing; run make ($2)"
}

need_cmd() {
	command -v "$1" >/dev/null 2>&1 || die "$1 missing; run make deps ($2)"
}

# ---- results ------------------------------------------------------------------------
# One row per measured run, tab-separated:
#   bench  method  N  run  value  unit
# A size that was not run is one row with run "skip" and the reason as value.

result() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$BENCH_WORK/results.tsv"
}

skipped() { # bench method N reason
	printf '%s\t%s\t%s\tskip\t%s\t-\n' "$1" "$2" "$3" "$4" >>"$BENCH_WORK/results.tsv"
}

# now: seconds since the epoch with microseconds, without a fork.
now() { echo "${EPOCHREALTIME/,/.}"; }

# elapsed T0 [T1]: seconds between two `now` readings.
elapsed() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.6f", b - a }'; }

# ---- the time cap -------------------------------------------------------------------
# Each method remembers its last two measured sizes (median seconds per run).
# The next size is projected from the last one, scaled by N and by how much
# the per-connection cost grew between the last two sizes (netfilter's
# control plane costs grow with the rule count; a straight line would lie).

declare -A _last_n _last_s _prev_n _prev_s

remember() { # method N seconds
	_prev_n[$1]=${_last_n[$1]:-}
	_prev_s[$1]=${_last_s[$1]:-}
	_last_n[$1]=$2
	_last_s[$1]=$3
}

# projected METHOD N: seconds one run of size N is expected to take ("" if unknown).
projected() {
	local m=$1 n=$2
	[ -n "${_last_n[$m]:-}" ] || return 0
	awk -v n="$n" -v ln="${_last_n[$m]}" -v ls="${_last_s[$m]}" \
		-v pn="${_prev_n[$m]:-}" -v ps="${_prev_s[$m]:-}" 'BEGIN {
		g = 1
		if (pn != "" && pn > 0 && ps > 0 && ln > pn) {
			g = (ls / ln) / (ps / pn)
			if (g < 1) g = 1
			# growth per decade of N, applied over the decades still to go
			g = g ^ (log(n / ln) / log(ln / pn))
		}
		printf "%.1f", ls * (n / ln) * g
	}'
}

# over_cap SECONDS: true when a projection is past the cap.
over_cap() { [ -n "$1" ] && awk -v s="$1" -v c="$CAP_S" 'BEGIN { exit !(s > c) }'; }

# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ---- tuples -------------------------------------------------------------------------
# tuples N LOCAL LPORT > FILE: N distinct connections of LOCAL:LPORT, one a line:
#   local lport peer pport
# Peers are 10.a.b.c (never on the benchmark's wires, so never matching its
# traffic), ports 1024..61023.

tuples() {
	awk -v n="$1" -v l="$2" -v lp="$3" 'BEGIN {
		for (i = 1; i <= n; i++)
			printf "%s %d 10.%d.%d.%d %d\n", l, lp, int(i / 65536) % 256,
				int(i / 256) % 256, i % 256, 1024 + i % 60000
	}'
}

# ---- network namespaces -------------------------------------------------------------

# new_ns: creates a namespace with lo up; prints its name.  Called as
# NS=$(new_ns) || exit 1, so the count lives in the registry file, not in a
# variable the subshell would lose.
new_ns() {
	local seq ns
	seq=$(($(cat "$BENCH_WORK/netns" 2>/dev/null | wc -l) + 1))
	ns="tfb$$n$seq"
	owned netns "$ns"
	ip netns add "$ns" || die "cannot create network namespace $ns (root needed)"
	echo "$ns" >>"$BENCH_WORK/netns"
	ip -n "$ns" link set lo up
	echo "$ns"
}

del_ns() {
	ip netns del "$1" 2>/dev/null || true
}

in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# new_pair: two namespaces joined by a veth pair; sets PAIR_A, PAIR_B (names).
# A is 198.18.0.1 on veth0, B is 198.18.0.2 on veth0.
new_pair() {
	PAIR_A=$(new_ns) || exit 1
	PAIR_B=$(new_ns) || exit 1
	ip link add "${PAIR_A}x" netns "$PAIR_A" type veth peer name "${PAIR_B}y" netns "$PAIR_B" ||
		die "cannot create a veth pair between $PAIR_A and $PAIR_B"
	ip -n "$PAIR_A" link set "${PAIR_A}x" name veth0
	ip -n "$PAIR_B" link set "${PAIR_B}y" name veth0
	ip -n "$PAIR_A" addr add 198.18.0.1/24 dev veth0
	ip -n "$PAIR_B" addr add 198.18.0.2/24 dev veth0
	ip -n "$PAIR_A" link set veth0 up
	ip -n "$PAIR_B" link set veth0 up
}

# ---- bpffs --------------------------------------------------------------------------
# tcpferry's pins go to a bpffs of the benchmark's own: pins under /sys/fs/bpf
# would vanish with each `ip netns exec` (a fresh /sys), and the root one is
# not ours to fill.

bench_bpffs() {
	if [ -z "${BENCH_BPFFS:-}" ]; then
		BENCH_BPFFS=$BENCH_WORK/bpffs
		mkdir -p "$BENCH_BPFFS"
		mount -t bpf bpf "$BENCH_BPFFS" || die "cannot mount bpffs on $BENCH_BPFFS"
		echo "$BENCH_BPFFS" >>"$BENCH_WORK/mounts"
	fi
}

# ---- background processes -----------------------------------------------------------

track_pid() { echo "$1" >>"$BENCH_WORK/pids"; }

# ---- cleanup ------------------------------------------------------------------------

# bench_cleanup_pids: stop the background processes this run started (by pid).
bench_cleanup_pids() {
	local p
	[ -f "$BENCH_WORK/pids" ] || return 0
	while read -r p; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done <"$BENCH_WORK/pids"
	rm -f "$BENCH_WORK/pids"
}

bench_cleanup() {
	local ns m
	bench_cleanup_pids
	if [ -f "$BENCH_WORK/netns" ]; then
		while read -r ns; do del_ns "$ns"; done <"$BENCH_WORK/netns"
		rm -f "$BENCH_WORK/netns"
	fi
	if [ -f "$BENCH_WORK/mounts" ]; then
		while read -r m; do umount -l "$m" 2>/dev/null || true; done <"$BENCH_WORK/mounts"
		rm -f "$BENCH_WORK/mounts"
	fi
}

# ns_rows PART PREFIX N RUN LABEL REQUIRED... -- CMD...: run CMD (a tool printing
# "metric<TAB>N<TAB>value<TAB>ns" lines), keep every PREFIX* line as a row of
# PART, and fail loudly unless each REQUIRED metric came out.
ns_rows() {
	local part=$1 prefix=$2 n=$3 r=$4 label=$5 out metric value unit got=0 want=()
	shift 5
	while [ "$1" != -- ]; do want+=("$1"); shift; done
	shift
	out=$(timeout $((CAP_S * 3)) "$@") || die "$* failed (exit $?)"
	while IFS=$'\t' read -r metric _ value unit; do
		[[ $metric == "$prefix"* ]] || continue
		[ "$unit" = ns ] || die "$*: $metric in '$unit', expected ns"
		result "$part" "$metric" "$n" "$r" "$value" ns
		[[ " ${want[*]} " == *" $metric "* ]] && got=$((got + 1))
	done <<<"$out"
	[ $got -eq ${#want[@]} ] ||
		die "$* printed $got of the lines ${want[*]} (metric<TAB>N<TAB>value<TAB>ns); got: $(echo "$out" | head -4 | tr '\n\t' '| ')"
	progress "$label N=$n run $r: $(echo "$out" | awk -F'\t' -v p="$prefix" 'index($1, p) == 1 { printf "%s %s %s; ", $1, $3, $4 }')"
}
