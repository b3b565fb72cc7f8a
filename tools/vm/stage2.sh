#!/usr/bin/env bash
# Stage 2 of make test-vm: runs as root in the guest, chrooted into the host's
# read-only root, in the tree that tools/vm/run.sh copied to the work share
# ($TF_WORK/tree) and built.  Prints the kernel and `tcpferry check`, runs
# prove over the tests named in $TF_WORK/tests (default: every test), keeps
# prove's output in $TF_WORK/prove.log and exits with prove's status.  Each
# test gets $TF_WORK/test_timeout seconds (one-test.sh ends it: exit 124).
set -u
W=${TF_WORK:?TF_WORK is not set: stage2.sh runs from tools/vm/init.sh}
cd "$W/tree" || exit 2

uname -r >"$W/uname"
echo "tcpferry-vm: kernel $(uname -r), $(nproc) CPU(s), $(awk '/MemTotal/ { print int($2 / 1024) " MiB" }' /proc/meminfo)"
build/tcpferry check >"$W/check.txt" 2>&1
build/tcpferry -j check >"$W/check.json" 2>/dev/null
sed 's/^/tcpferry-vm: check: /' "$W/check.txt"

tests=()
while IFS= read -r t; do
	[ -n "$t" ] && tests+=("$t")
done <"$W/tests"
if [ ${#tests[@]} -eq 0 ]; then
	tests=(build/tests/unit/*.t build/tests/bpf/*.t tests/integration/*.t)
fi
read -r -a flags <"$W/prove_flags" || flags=()
per_test=$(cat "$W/test_timeout")

# Each test under its own timeout: a hung one fails (and says so), the rest go on.
# prove with autoflush: to a pipe perl writes in blocks, and a run killed
# for hanging would lose what it had said.
perl -MApp::Prove -e '$| = 1; my $p = App::Prove->new; $p->process_args(@ARGV); exit($p->run ? 0 : 1)' \
	-- --exec "$W/tree/tools/vm/one-test.sh $per_test" "${flags[@]}" "${tests[@]}" 2>&1 | tee "$W/prove.log"
rc=${PIPESTATUS[0]}
echo "tcpferry-vm: prove exited $rc on $(uname -r)"
exit "$rc"
