#!/usr/bin/env bash
# make install puts the CLI, the library, its header, a pkg-config file and the
# man page under PREFIX; a program builds against them with pkg-config alone.
. "$(dirname "$0")/../lib.sh"
need_cmd pkg-config cc
need_built

plan 7
dest=$TMP/root
make -s -C "$TF_ROOT" install DESTDIR="$dest" PREFIX=/usr/local >"$TMP/install.log" 2>&1 ||
	diag "$(tail -5 "$TMP/install.log")"
ok "the CLI is installed and runs" quietly "$dest/usr/local/bin/tcpferry" --version
ok "the header is installed" test -f "$dest/usr/local/include/tcpferry.h"
ok "the static and shared libraries are installed" \
	test -f "$dest/usr/local/lib/libtcpferry.a" -a -e "$dest/usr/local/lib/libtcpferry.so.0"
ok "the man page is installed" test -f "$dest/usr/local/share/man/man8/tcpferry.8"

export PKG_CONFIG_PATH=$dest/usr/local/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
is "$(pkg-config --modversion tcpferry)" "0.1.0" "pkg-config knows tcpferry"
cat >"$TMP/use.c" <<'C'
#include <stdio.h>
#include <tcpferry.h>
int main(void)
{
	struct tf_endpoint e;
	char buf[TF_ADDRSTRLEN];

	if (tf_endpoint_parse("[fd00::1]:80", &e))
		return 1;
	puts(tf_endpoint_str(&e, buf, sizeof(buf)));
	return 0;
}
C
# With the build's compiler and flags: an instrumented library (make test-asan)
# needs its sanitizer's runtime in the program too.
# shellcheck disable=SC2086
ok "a program builds against the installed library" \
	"${TEST_CC:-cc}" ${TEST_CFLAGS:-} -o "$TMP/use" "$TMP/use.c" $(pkg-config --cflags tcpferry) \
	$(pkg-config --libs --static tcpferry)
is "$(LD_LIBRARY_PATH=$dest/usr/local/lib "$TMP/use")" "[fd00::1]:80" "and runs (shared library)"
done_testing
