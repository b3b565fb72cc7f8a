#!/usr/bin/env bash
# The hand-off's latency (make bench, issue 13): in the lab of the hand-off
# tests (tests/helpers/handofflab.sh: a client, a frontend with the VIP, a
# backend with tools/tf-fileserver behind `tcpferry receive --serve
# --send-to`), tests/helpers/tf-frontend hands each connection off after
# reading its first request, and prints each hand-off's time from its submit
# (after the frontend's last read of the request) to the backend's LIVE (the
# backend's socket is out of repair and its server has it).  One at a time
# (N = 1), and waves of 1,000 in flight.  Rows on stdout: METRIC N VALUE UNIT.
set -u
RUN_ID=tfb$$
export RUN_ID
. "$(dirname "$0")/../../tests/lib.sh" >/dev/null
. "$TF_ROOT/tests/helpers/handofflab.sh"
QUICK=${QUICK:-0}
ONE=$([ "$QUICK" = 1 ] && echo 20 || echo 300)
MANY=$([ "$QUICK" = 1 ] && echo 100 || echo 1000)
B_ADDR=198.18.20.11
B_ADDR6=fd00:7466:20::11

hol_make >&2
hol_backend "${RUN_ID}b1" $B_ADDR $B_ADDR6 >&2
make_bpffs
in_ns "$NS_F" "$TF" --bpffs "$BPFFS/f" attach eth0 --tc >/dev/null || bail_out "attach failed"
mkdir -p "$TMP/root"
head -c 1000 /dev/urandom >"$TMP/root/b1small"
in_ns "$NS_C" sysctl -qw net.ipv4.ip_local_port_range="10000 60999"
spawn "${RUN_ID}b1" "$TMP/fileserver.log" "$BUILD/tools/tf-fileserver" --listen "$TMP/srv.sock" --root "$TMP/root"
wait_for 10 test -S "$TMP/srv.sock" || bail_out "tf-fileserver did not listen"
VIA="ip netns exec ${RUN_ID}b1 $TF receive --serve --send-to $TMP/srv.sock"

# run N WAVE PORT: N hand-offs, WAVE at once; prints the frontend's latency line
run() {
	spawn "$NS_F" "$TMP/fe-$3.out" ${FE_WRAP:-} "$HELPERS/tf-frontend" "$VIP" "$3" "$1" --batch "$2" --bpffs "$BPFFS/f" \
		--backend "$B_ADDR|$B_ADDR6|l2|$VIA"
	wait_for 20 grep -qs ready "$TMP/fe-$3.out" || bail_out "the frontend is not ready: $(cat "$TMP/fe-$3.out")"
	in_ns "$NS_C" python3 "$TF_ROOT/tests/helpers/hoclient.py" "$VIP" "$3" "$1" "$2" http /b1small 1000 >&2 ||
		bail_out "the client's exchanges failed"
	wait "$SPAWNED"
	grep '^latency\|^submit' "$TMP/fe-$3.out"
}

# latency n N median MS p99 MS max MS ms
one=$(run "$ONE" 1 7501)
many=$(run "$MANY" "$MANY" 7502)
awk -v n=1 '/^latency/ { printf "handoff_median_us\t%d\t%.1f\tus\nhandoff_p99_us\t%d\t%.1f\tus\n", n, $5 * 1000, n, $7 * 1000 }' <<<"$one"
awk -v n="$MANY" '/^latency/ { printf "handoff_median_us\t%d\t%.1f\tus\nhandoff_p99_us\t%d\t%.1f\tus\n", n, $5 * 1000, n, $7 * 1000 }' <<<"$many"
awk '/^submit/ { printf "handoff_submit_median_us\t1\t%.1f\tus\n", $5 * 1000 }' <<<"$one"
