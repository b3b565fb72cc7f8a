#!/usr/bin/env bash
# A test run killed outright (SIGKILL, as a CI timeout does) runs no EXIT trap:
# its namespaces (with the lock programs attached inside), the processes in
# them, its bpffs and its lab stay.  The next run's sweep (tests/sweep.sh, run
# by lib.sh as it starts) removes exactly what that run recorded, and nothing
# of a live run nor anything unrecorded.  Real child runs of tests/lib.sh, with
# their records beside every other run's, so that a SIGKILL of this test too
# leaves nothing that the next sweep would not find.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd flock findmnt socat

plan 21

RUNS=${TCPFERRY_TEST_RUNS:-/run/tcpferry-tests}
DEAD=${RUN_ID}k LIVE=${RUN_ID}l NEXT=${RUN_ID}n
LAB=${RUN_ID:0:9}K
# The children's leftovers, if this test fails: killed, then swept.
at_exit "$TF_ROOT/tests/sweep.sh"
at_exit "grep -qx $LAB /run/tcpferry-lab/current && rm -f /run/tcpferry-lab/current"
at_exit "for n in ${DEAD}a ${DEAD}b ${LIVE}a ${LIVE}b $LAB-peer $LAB-rt $LAB-a $LAB-b; do ip netns del \$n; done"

# A run that makes a pair with programs attached (pins in its bpffs), a
# process in a namespace and, if CHILD_LAB is set, a lab; says so in $READY,
# then waits ("die": in a process exec'd, so that the SIGKILL hits the run's
# own pid and no EXIT trap runs).
cat >"$TMP/child.t" <<EOF
#!/usr/bin/env bash
. "$TF_ROOT/tests/lib.sh"
[ "\$MODE" = none ] && { plan 0; exit 0; }
make_pair
make_bpffs
"\$TF" -n "\$NS_A" attach "\$DEV_A" --tc >/dev/null || exit 1
spawn "\$NS_A" /dev/null sleep 600
if [ -n "\${CHILD_LAB:-}" ]; then
	"\$TF_ROOT/tools/lab.sh" up --id "\$CHILD_LAB" >/dev/null || exit 1
fi
echo "\$TMP \$SPAWNED" >"\$READY.new" && mv "\$READY.new" "\$READY"
# Until killed, or until this test is gone (killed too: then the child ends
# as a run killed outright, and the next sweep removes it).
[ "\$MODE" = die ] && exec bash -c 'while kill -0 $$ 2>/dev/null; do sleep 0.2; done'
while kill -0 $$ 2>/dev/null; do sleep 0.2; done
EOF
chmod +x "$TMP/child.t"
# child RUN_ID MODE [VAR=VALUE...]: exec's it, so that $! is the run's own pid.
child() { exec env RUN_ID="$1" MODE="$2" READY="$TMP/$1.ready" "${@:3}" "$TMP/child.t"; }

child "$DEAD" die CHILD_LAB="$LAB" >"$TMP/dead.out" 2>&1 &
dead=$!
at_exit "kill -9 $dead"
child "$LIVE" wait >"$TMP/live.out" 2>&1 &
live=$!
at_exit "kill $live; wait $live"
wait_for 60 eval "[ -e $TMP/$DEAD.ready ] && [ -e $TMP/$LIVE.ready ]" ||
	bail_out "the child runs did not start: $(cat "$TMP/dead.out" "$TMP/live.out")"
ok "both runs made their hosts" true
read -r dead_tmp dead_sleep <"$TMP/$DEAD.ready"
read -r live_tmp live_sleep <"$TMP/$LIVE.ready"
lab_work=$(. "/run/tcpferry-lab/$LAB.env" && echo "$LAB_WORK")

# names: the network namespaces that exist, of those given.
names() { local n; for n in "$@"; do [ -e "/run/netns/$n" ] && echo "$n"; done; }
dead_ns="${DEAD}a ${DEAD}b $LAB-peer $LAB-rt $LAB-a $LAB-b"
# shellcheck disable=SC2086
is "$(names $dead_ns | xargs)" "$dead_ns" "the run to be killed has its pair and its lab's four hosts"
ok "with the lock programs pinned in its bpffs" test -e "$dead_tmp/bpffs/tcpferry"
is "$(mounts_under "$lab_work" | wc -l)" 4 "and its lab a bpffs per host"
# A namespace with the killed run's prefix that it did not record.
make_ns "${DEAD}z"

kill -9 "$dead"
wait "$dead" 2>/dev/null
ok "killed: its process in a namespace goes on" kill -0 "$dead_sleep"
ok "and its record stays" test -e "$RUNS/$DEAD.pid"

# The next run: lib.sh sweeps as it starts.
(child "$NEXT" none) >"$TMP/next.out" 2>"$TMP/next.err"
note "$(cat "$TMP/next.err")"
# Another run starting meanwhile (the records are every run's) may have swept
# first: then only what is left can be checked, not what the sweep said.
if grep -q "^# sweep: run $DEAD " "$TMP/next.err" || [ -e "$RUNS/$DEAD.pid" ]; then
	swept=$(grep "^# sweep: run $DEAD " "$TMP/next.err" | grep -o "netns [^,:]*" | cut -d' ' -f2 | sort | xargs)
	is "$swept" "$(tr ' ' '\n' <<<"$dead_ns" | sort | xargs)" \
		"the next run's sweep says it removed the killed run's namespaces, and only those"
	ok "in one diag line naming the run and its pid" grep -q "^# sweep: run $DEAD (pid $dead, gone) left .*: removed$" "$TMP/next.err"
else
	skip "another run's sweep came first" "the next run's sweep says it removed the killed run's namespaces"
	skip "another run's sweep came first" "in one diag line naming the run and its pid"
fi
# shellcheck disable=SC2086
is "$(names $dead_ns)" "" "they are gone, /run/netns files too"
# gone PID: no such process, or a zombie (killed, its new parent to reap it).
gone() { ! grep -q '^State:[[:space:]]*[^Z]' "/proc/$1/status" 2>/dev/null; }
ok "the process in them is gone" wait_for 5 gone "$dead_sleep"
ok "its bpffs is unmounted and its directory gone" eval "[ -z \"\$(mounts_under $dead_tmp)\" ] && [ ! -e $dead_tmp ]"
ok "its lab's bpffs mounts, work directory and env file are gone" \
	eval "[ -z \"\$(mounts_under $lab_work)\" ] && [ ! -e $lab_work ] && [ ! -e /run/tcpferry-lab/$LAB.env ]"
ok "its record is gone" eval "[ ! -e $RUNS/$DEAD.pid ] && [ ! -e $RUNS/$DEAD.list ]"
ok "an unrecorded namespace with its prefix is left alone" test -e "/run/netns/${DEAD}z"
ok "nothing of the live run is named" eval "! grep -q '$LIVE' $TMP/next.err"
is "$(names "${LIVE}a" "${LIVE}b" | xargs)" "${LIVE}a ${LIVE}b" "the live run's namespaces are there"
ok "its process, bpffs and record too" eval "kill -0 $live_sleep && [ -n \"\$(mounts_under $live_tmp)\" ] && [ -e $RUNS/$LIVE.pid ]"

# A record whose pid lives but started at another time is a reused pid: swept.
make_ns "${RUN_ID}r"
echo "$$ 1" >"$RUNS/${RUN_ID}r.pid"
echo "netns ${RUN_ID}r" >"$RUNS/${RUN_ID}r.list"
"$TF_ROOT/tests/sweep.sh" 2>"$TMP/reuse.err"
note "$(cat "$TMP/reuse.err")"
ok "a record of a reused pid is swept (by this sweep or another run's)" \
	eval "[ ! -e /run/netns/${RUN_ID}r ] && [ ! -e $RUNS/${RUN_ID}r.pid ]"
ok "and the live run is still there" test -e "/run/netns/${LIVE}a"

# The live run ends as usual: its EXIT trap removes all and its record.
kill "$live"
wait "$live" 2>/dev/null
is "$(names "${LIVE}a" "${LIVE}b")" "" "the live run, ended, removed its namespaces"
ok "and its record" eval "[ ! -e $RUNS/$LIVE.pid ] && [ ! -e $RUNS/$LIVE.list ]"
done_testing
