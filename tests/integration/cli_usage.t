#!/usr/bin/env bash
# Options a new user gets wrong, and what tcpferry says: each refusal one line
# that names the object, what is wrong and the way out, exit 2 for bad usage
# (1 when the request itself cannot be done), and nothing changed.
. "$(dirname "$0")/../lib.sh"
need_root
need_built
need_cmd python3 findmnt

plan 12

# ---- --bpffs on a directory that holds something -------------------------------------
# A dump directory given to --bpffs by mistake: a bpffs mounted over it would
# hide its images (and the next restore would fail with EPERM).
mkdir -m 0700 "$TMP/dump"
cp "$TF_ROOT"/images/golden/* "$TMP/dump/"
at_exit "umount -l $TMP/dump"
ok "--bpffs on a non-empty directory that is no bpffs is refused, saying why and what to give instead" \
	expect_error 1 "lock add: pin directory $TMP/dump: $TMP/dump is no bpffs and not empty \(it holds '.*' and 2 more\), .*give --bpffs an empty directory or one on a bpffs" \
	"$TF" --bpffs "$TMP/dump" lock add 198.18.0.1:80 198.18.0.2:5000
is "$(mounts_under "$TMP/dump")" "" "  nothing was mounted there"
ok "  and the dump's files are all still there" cmp -s "$TMP/dump/index.tfi" "$TF_ROOT/images/golden/index.tfi"
ok "  status says so too, and mounts nothing" \
	eval '"$TF" --bpffs "$TMP/dump/" status >/dev/null 2>&1; [ -z "$(mounts_under "$TMP/dump")" ]'
mkdir -m 0700 "$TMP/empty"
at_exit "umount -l $TMP/empty"
ok "an empty directory still gets a bpffs of its own (lock add works)" \
	quietly "$TF" --bpffs "$TMP/empty" lock add 198.18.0.1:80 198.18.0.2:5000
is "$(mounts_under "$TMP/empty")" "$TMP/empty" "  mounted there"
ok "--bpffs '' is refused" expect_error 2 "^tcpferry: --bpffs needs a directory, not an empty value" "$TF" --bpffs "" status
ok "--bpffs= likewise" expect_error 2 "^tcpferry: --bpffs needs a directory" "$TF" --bpffs= status

# ---- global options without their value ---------------------------------------------------
ok "-n without a value says so (not 'unknown command')" \
	expect_error 2 "^tcpferry: -n needs a value \(a network namespace\)" "$TF" -n
ok "--netns before -- without a value likewise" \
	expect_error 2 "^tcpferry: --netns needs a value" "$TF" status --netns -- x
ok "--bpffs without a value says so" \
	expect_error 2 "^tcpferry: --bpffs needs a value \(a pin directory\)" "$TF" status --bpffs
ok "-n '' is refused" expect_error 2 "^tcpferry: -n needs a network namespace, not an empty value" "$TF" -n "" status
done_testing
