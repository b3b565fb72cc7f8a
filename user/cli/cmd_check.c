// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry check: what this kernel and machine support, one line each.
 *
 * Every probe tries the real thing on something of its own (a loopback
 * connection, a one-entry map, a program type probe) and closes it again:
 * nothing is attached, pinned, mounted or left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cli.h"
#include "repair_defs.h"
#include "tcpferry.h"

#ifndef TCP_REPAIR_WINDOW
#define TCP_REPAIR_WINDOW 29
#endif
#ifndef TCP_REPAIR_OFF_NO_WP
#define TCP_REPAIR_OFF_NO_WP -1
#endif
#ifndef SO_BUF_LOCK
#define SO_BUF_LOCK 72
#endif
#ifndef TCP_AO_INFO
#define TCP_AO_INFO 40
#endif
#define TF_BPF_TCX_INGRESS 46	/* enum bpf_attach_type, 6.6+ */
#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

static const char usage[] =
	"Usage: tcpferry [-j] [-p] check\n\n"
	"Probe what this kernel and machine support and print one line each:\n"
	"\"ok\", or \"missing\" with what that means.  Probes use a loopback connection\n"
	"and a one-entry BPF map of their own; nothing on the machine is changed.\n\n"
	"  -j, -p      JSON: an array of {feature, ok, needed, detail}\n"
	"  -h, --help  this text\n\n"
	"Exit status: 0 when everything dump and restore need is there, 1 otherwise.\n";

struct probe_result {
	const char *feature;
	bool needed;		/* dump/restore cannot work without it */
	bool ok;
	char detail[200];
};

#define MAX_RESULTS 20
static struct probe_result results[MAX_RESULTS];
static int n_results;

static void __attribute__((format(printf, 4, 5)))
report(const char *feature, bool needed, bool ok, const char *fmt, ...)
{
	struct probe_result *r;
	va_list ap;

	if (n_results == MAX_RESULTS)
		return;
	r = &results[n_results++];
	r->feature = feature;
	r->needed = needed;
	r->ok = ok;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

/* ---- privileges --------------------------------------------------------------------- */

static void probe_caps(void)
{
	bool net_admin = cli_have_cap(CAP_NET_ADMIN);

	if (net_admin)
		report("CAP_NET_ADMIN", true, true, "%s; TCP_REPAIR and the lock may be used",
		       geteuid() == 0 ? "root" : "granted");
	else
		report("CAP_NET_ADMIN", true, false,
		       "not root and no CAP_NET_ADMIN: TCP_REPAIR is refused; run as root");
	if (cli_have_cap(CAP_BPF))
		report("CAP_BPF", true, true, "BPF maps and programs may be loaded");
	else if (cli_have_cap(CAP_SYS_ADMIN))
		report("CAP_BPF", true, true, "CAP_SYS_ADMIN stands in for it");
	else
		report("CAP_BPF", true, false,
		       "no CAP_BPF or CAP_SYS_ADMIN: the lock programs cannot load; run as root");
}

/* ---- TCP ------------------------------------------------------------------------------ */

/* A loopback connection of our own: listen on 127.0.0.1:0, connect, accept. */
static int loopback_pair(int fds[3], char *why, size_t whylen)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	fds[0] = fds[1] = fds[2] = -1;
	fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fds[0] < 0 || bind(fds[0], (struct sockaddr *)&a, sizeof(a)) || listen(fds[0], 1) ||
	    getsockname(fds[0], (struct sockaddr *)&a, &alen)) {
		snprintf(why, whylen, "listen on 127.0.0.1: %s", strerror(errno));
		return -1;
	}
	fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fds[1] < 0 || connect(fds[1], (struct sockaddr *)&a, sizeof(a))) {
		snprintf(why, whylen, "connect to 127.0.0.1:%u: %s (is lo up?)", ntohs(a.sin_port),
			 strerror(errno));
		return -1;
	}
	fds[2] = accept4(fds[0], NULL, NULL, SOCK_CLOEXEC);
	if (fds[2] < 0) {
		snprintf(why, whylen, "accept: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static bool kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return false;
	return ma > major || (ma == major && mi >= minor);
}

/*
 * Whether bit 0 of TCP_TIMESTAMP is the usec flag (6.7+): set in repair mode,
 * it makes the socket a usec one, which tcp_info then says (TCPI_OPT_USEC_TS,
 * which no older kernel sets), as the dump reads it (repair.c).
 */
static bool usec_ts_flag(int fd, int ts)
{
	struct tcp_info ti = { 0 };
	socklen_t len = sizeof(ti);
	int v = ts | 1;
	bool usec;

	if (setsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &v, sizeof(v)))
		return false;
	usec = !getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) && (ti.tcpi_options & TCPI_OPT_USEC_TS);
	v = ts & ~1;
	setsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &v, sizeof(v));
	return usec;
}

/*
 * TCP-AO (6.7+): TCP_AO_INFO on a socket without keys fails with ENOENT where
 * the kernel has it, ENOPROTOOPT where it does not.
 */
static void probe_tcp_ao(int fd)
{
	unsigned char ao[64] = { 0 };	/* struct tcp_ao_info_opt, zeroed */
	socklen_t len = sizeof(ao);

	if (fd < 0) {
		report("TCP-AO", false, false, "not tried (no loopback connection)");
		return;
	}
	if (getsockopt(fd, IPPROTO_TCP, TCP_AO_INFO, ao, &len) == 0 || errno != ENOPROTOOPT)
		report("TCP-AO", false, true, "the kernel has TCP-AO (6.7+): sockets with AO keys are "
		       "recognised and refused");
	else
		report("TCP-AO", false, false, "no TCP-AO (kernel older than 6.7, or built without "
		       "it): no socket here can have AO keys, nothing to refuse");
}

static void probe_tcp(void)
{
	char why[160];
	int fds[3], one = 1, off = TCP_REPAIR_OFF_NO_WP, ts;
	struct { uint32_t v[5]; } win;
	socklen_t len;
	bool repair = false;

	if (loopback_pair(fds, why, sizeof(why))) {
		report("TCP_REPAIR", true, false, "could not make a loopback connection to try it: %s",
		       why);
		report("TCP_REPAIR_WINDOW", true, false, "not tried (no loopback connection)");
		report("TCP_TIMESTAMP usec", false, false, "not tried (no loopback connection)");
	} else {
		repair = !setsockopt(fds[2], IPPROTO_TCP, TCP_REPAIR, &one, sizeof(one));
		if (repair)
			report("TCP_REPAIR", true, true, "a loopback connection went into repair mode");
		else
			report("TCP_REPAIR", true, false, "setsockopt(TCP_REPAIR): %s; sockets cannot "
			       "be dumped or restored", strerror(errno));

		len = sizeof(win);
		if (!repair)
			report("TCP_REPAIR_WINDOW", true, false, "not tried (no repair mode)");
		else if (!getsockopt(fds[2], IPPROTO_TCP, TCP_REPAIR_WINDOW, &win, &len) &&
			 len == sizeof(win))
			report("TCP_REPAIR_WINDOW", true, true, "the window can be carried");
		else
			report("TCP_REPAIR_WINDOW", true, false, "getsockopt(TCP_REPAIR_WINDOW): %s; "
			       "restored peers see a wrong window", len == sizeof(win) ?
			       strerror(errno) : "unexpected size");

		len = sizeof(ts);
		if (getsockopt(fds[2], IPPROTO_TCP, TCP_TIMESTAMP, &ts, &len))
			report("TCP_TIMESTAMP usec", false, false, "getsockopt(TCP_TIMESTAMP): %s; "
			       "the timestamp clock cannot be carried", strerror(errno));
		else if (repair ? usec_ts_flag(fds[2], ts) : kernel_at_least(6, 7))
			report("TCP_TIMESTAMP usec", false, true,
			       "the clock and its microsecond flag (bit 0) can be carried");
		else
			report("TCP_TIMESTAMP usec", false, false, "kernel older than 6.7: no "
			       "microsecond flag; flows with usec timestamps cannot be restored");

		if (repair)
			setsockopt(fds[2], IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
	}

	len = sizeof(one);
	if (fds[2] >= 0 && !getsockopt(fds[2], SOL_SOCKET, SO_BUF_LOCK, &one, &len))
		report("SO_BUF_LOCK", false, true, "buffer sizes set by hand can be told and carried");
	else
		report("SO_BUF_LOCK", false, false, "kernel older than 5.14 (%s): buffer sizes "
		       "are not carried", fds[2] >= 0 ? strerror(errno) : "not tried");
	probe_tcp_ao(fds[2]);
	for (int i = 2; i >= 0; i--)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* ---- processes -------------------------------------------------------------------------- */

static void probe_pidfd(void)
{
	int pidfd, fd;

	pidfd = syscall(SYS_pidfd_open, getpid(), 0);
	if (pidfd < 0) {
		report("pidfd_getfd", true, false, "pidfd_open: %s (kernel 5.3+); sockets cannot be "
		       "taken from another process", strerror(errno));
		return;
	}
	fd = syscall(SYS_pidfd_getfd, pidfd, STDERR_FILENO, 0);
	if (fd < 0)
		report("pidfd_getfd", true, false, "pidfd_getfd: %s (kernel 5.6+); sockets cannot be "
		       "taken from another process", strerror(errno));
	else
		report("pidfd_getfd", true, true, "pidfd_open and pidfd_getfd work");
	if (fd >= 0)
		close(fd);
	close(pidfd);
}

/* ---- BPF ---------------------------------------------------------------------------------- */

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level; (void)fmt; (void)ap;
	return 0;
}

static bool is_bpffs(const char *path)
{
	struct statfs s;

	return !statfs(path, &s) && (unsigned long)s.f_type == BPF_FS_MAGIC;
}

static void probe_bpffs(void)
{
	char parent[4096], *slash;

	snprintf(parent, sizeof(parent), "%s", g.bpffs);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	if (is_bpffs(g.bpffs))
		report("bpffs", false, true, "%s is on a bpffs", g.bpffs);
	else if (is_bpffs(parent))
		report("bpffs", false, true, "%s is a bpffs; pins go to %s", parent, g.bpffs);
	else if (is_bpffs("/sys/fs/bpf"))
		report("bpffs", false, true, "/sys/fs/bpf is a bpffs (pins go to %s, pass --bpffs "
		       "to use it)", g.bpffs);
	else if (!strcmp(parent, "/sys/fs/bpf"))
		report("bpffs", false, false, "/sys/fs/bpf is not a bpffs: tcpferry mounts one on %s "
		       "when it needs it (or: mount -t bpf bpf /sys/fs/bpf)", g.bpffs);
	else
		report("bpffs", false, false, "neither %s nor /sys/fs/bpf is a bpffs: tcpferry mounts "
		       "one on %s when it needs it", parent, g.bpffs);
}

/*
 * tcx (6.6+): a query of lo's tcx ingress hook answers (with no program)
 * where the kernel has tcx, EINVAL where the attach type is unknown.  The
 * detail says which path attach takes: tcx links, or clsact filters.
 */
static void probe_tcx(void)
{
	LIBBPF_OPTS(bpf_prog_query_opts, q);
	int r = bpf_prog_query_opts(1 /* lo */, TF_BPF_TCX_INGRESS, &q);
	const char *env = getenv("TCPFERRY_TC");
	bool forced = env && !strcmp(env, "clsact");

	if (r == 0)
		report("tcx", false, true, "%s", forced ?
		       "tcx links work here, but TCPFERRY_TC=clsact: tc hooks are clsact filters" :
		       "tc hooks are tcx links (6.6+)");
	else
		report("tcx", false, false, "no tcx (%s; kernel older than 6.6): tc hooks are clsact "
		       "filters", strerror(errno));
}

static void probe_bpf(void)
{
	libbpf_print_fn_t old = libbpf_set_print(quiet);
	int fd, r;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tf_check", 4, 4, 1, NULL);
	if (fd >= 0) {
		report("bpf syscall", true, true, "a one-entry array map was created and closed");
		close(fd);
	} else {
		report("bpf syscall", true, false, "bpf(BPF_MAP_CREATE): %s; the lock cannot work",
		       strerror(-fd));
	}

	if (access("/sys/kernel/btf/vmlinux", R_OK) == 0)
		report("BTF", false, true, "/sys/kernel/btf/vmlinux is there");
	else
		report("BTF", false, false, "no /sys/kernel/btf/vmlinux (%s): kernel built without "
		       "CONFIG_DEBUG_INFO_BTF; programs that need CO-RE cannot load", strerror(errno));

	probe_bpffs();

	if (!cli_have_cap(CAP_BPF) && !cli_have_cap(CAP_SYS_ADMIN)) {
		report("tc (clsact)", true, false, "cannot be probed without CAP_BPF; run as root");
		report("XDP", false, false, "cannot be probed without CAP_BPF; run as root");
		libbpf_set_print(old);
		return;
	}
	r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS, NULL);
	if (r == 1)
		report("tc (clsact)", true, true, "tc programs load: the lock works on every device");
	else
		report("tc (clsact)", true, false, "tc programs do not load (%s): no lock on "
		       "devices without XDP", r < 0 ? strerror(-r) : "not supported");

	probe_tcx();

	r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, NULL);
	if (r == 1)
		report("XDP", false, true, "XDP programs load: the cheapest lock on native drivers");
	else
		report("XDP", false, false, "XDP programs do not load (%s): the lock uses tc only",
		       r < 0 ? strerror(-r) : "not supported");

	r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SYSCALL, NULL);
	if (r == 1)
		r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_SYSCALL, BPF_FUNC_loop, NULL);
	if (r == 1)
		report("bulk lock programs", false, true, "syscall programs with bpf_loop load: "
		       "lock add --file locks 8,192 tuples a system call, existing locks kept");
	else
		report("bulk lock programs", false, false, "syscall programs with bpf_loop do not load (%s; 5.17+): "
		       "bulk locks take one system call per tuple", r < 0 ? strerror(-r) : "not supported");
	libbpf_set_print(old);
}

/* ---- output --------------------------------------------------------------------------------- */

int cmd_check(int argc, char **argv)
{
	struct json *j;
	int missing_needed = 0;

	if (cli_wants_help(argc, argv, usage))
		return 0;
	if (argc > 1) {
		cli_error("check: unexpected argument '%s'; see tcpferry check --help", argv[1]);
		return EXIT_USAGE;
	}
	n_results = 0;
	probe_caps();
	probe_tcp();
	probe_pidfd();
	probe_bpf();

	for (int i = 0; i < n_results; i++)
		missing_needed += results[i].needed && !results[i].ok;

	j = cli_json_open();
	if (j) {
		json_array_start(j);
		for (int i = 0; i < n_results; i++) {
			json_object_start(j);
			json_string_field(j, "feature", results[i].feature);
			json_bool_field(j, "ok", results[i].ok);
			json_bool_field(j, "needed", results[i].needed);
			json_string_field(j, "detail", results[i].detail);
			json_object_end(j);
		}
		json_array_end(j);
		cli_json_close(j);
	} else {
		for (int i = 0; i < n_results; i++)
			printf("%-8s %-19s %s%s\n", results[i].ok ? "ok" : "missing",
			       results[i].feature,
			       !results[i].ok && !results[i].needed ? "optional: " : "",
			       results[i].detail);
		if (missing_needed)
			printf("dump and restore cannot work here: %d needed feature%s missing\n",
			       missing_needed, missing_needed == 1 ? " is" : "s are");
		else
			printf("dump and restore can work here\n");
	}
	return missing_needed ? 1 : 0;
}
