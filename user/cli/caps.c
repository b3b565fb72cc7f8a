// SPDX-License-Identifier: BSD-2-Clause
/*
 * What a long-running command keeps of root's capabilities (balance --caps).
 * The balancer parses what any client sends, as root: once its listeners and
 * channels are up it keeps only the capabilities named, in its permitted,
 * effective and bounding sets, clears the inheritable and ambient ones, and
 * sets no_new_privs.  no_new_privs matters as much as the sets: without it a
 * uid-0 process regains every capability of its bounding set at its next
 * execve, and with it an execve gains nothing (commoncap.c: the permitted set
 * of the new program is cut to the old one), so the commands it runs for its
 * channels (`via`) get at most what it kept.
 *
 * Capabilities are per thread: call cli_caps_limit() before any thread is made.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"

/* capabilities(7)'s names without "CAP_", by number. */
static const char *const cap_names[] = {
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
	"setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
	"ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
	"sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
	"lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
	"wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
};
#define N_CAP_NAMES ((int)(sizeof(cap_names) / sizeof(cap_names[0])))

/* The kernel's highest capability number (it may know more than our table). */
static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int n = N_CAP_NAMES - 1;

	if (f) {
		if (fscanf(f, "%d", &n) != 1 || n < 0 || n > 63)
			n = N_CAP_NAMES - 1;
		fclose(f);
	}
	return n;
}

int cli_caps_parse(const char *list, uint64_t *keep)
{
	char buf[512], *save = NULL;

	*keep = 0;
	if (!strcmp(list, "all")) {
		*keep = UINT64_MAX;
		return 0;
	}
	if (strlen(list) >= sizeof(buf))
		return cli_error("--caps: the list is too long"), -EINVAL;
	strcpy(buf, list);
	for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		int c;

		if (!strncasecmp(w, "cap_", 4))
			w += 4;
		for (c = 0; c < N_CAP_NAMES && strcasecmp(w, cap_names[c]); c++)
			;
		if (c == N_CAP_NAMES)
			return cli_error("--caps: '%s' is no capability (names as in capabilities(7), without "
					 "CAP_: net_admin,bpf,sys_admin; or all)", w), -EINVAL;
		*keep |= 1ull << c;
	}
	return 0;
}

int cli_caps_names(uint64_t keep, char *out, size_t size)
{
	size_t n = 0;

	out[0] = '\0';
	if (keep == UINT64_MAX)
		return snprintf(out, size, "all");
	for (int c = 0; c < N_CAP_NAMES; c++)
		if (keep & (1ull << c))
			n += snprintf(out + n, n < size ? size - n : 0, "%s%s", n ? "," : "", cap_names[c]);
	return n;
}

int cli_caps_limit(uint64_t keep, const char *what)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {};
	int last = last_cap();

	if (keep == UINT64_MAX)
		return 0;
	if (syscall(SYS_capget, &h, d))
		return cli_error("%s: reading its capabilities: %s", what, strerror(errno)), -errno;
	for (int c = 0; c < 64; c++) {
		bool had = d[c / 32].permitted & (1u << (c % 32));

		if (c > last)
			keep &= ~(1ull << c);	/* a name this kernel does not know yet */
		else if ((keep & (1ull << c)) && !had)
			return cli_error("%s: --caps names CAP_%s, which it does not have to keep",
					 what, c < N_CAP_NAMES ? cap_names[c] : "?"), -EPERM;
	}
	/* The bounding set first: dropping from it needs CAP_SETPCAP, given up below. */
	for (int c = 0; c <= last; c++)
		if (!(keep & (1ull << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL) {
			int e = errno;

			return cli_error("%s: dropping CAP_%s from the bounding set: %s (it needs CAP_SETPCAP; "
					 "or run with --caps all)", what, c < N_CAP_NAMES ? cap_names[c] : "?",
					 strerror(e)), -e;
		}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		int e = errno;

		return cli_error("%s: no_new_privs: %s", what, strerror(e)), -e;
	}
	for (int i = 0; i < 2; i++) {
		d[i].permitted = d[i].effective = (uint32_t)(keep >> (32 * i));
		d[i].inheritable = 0;
	}
	if (syscall(SYS_capset, &h, d)) {
		int e = errno;

		return cli_error("%s: setting its capabilities: %s", what, strerror(e)), -e;
	}
	return 0;
}
