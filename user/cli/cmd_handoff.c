// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry handoff: give one connection of a running process to a backend
 * host for good (tcpferry.h: tf_backend_open, tf_handoff).  The process's fd
 * is taken with pidfd_getfd; once the backend has the connection, the
 * process's copy stays in repair mode: it reads nothing more, what it writes
 * goes nowhere, and its close is silent.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/capability.h>

#include "cli.h"
#include "tcpferry.h"
#include "json.h"
#include "proc.h"
#include "report.h"

#define PREPEND_MAX (1u << 20)

static const char usage[] =
	"Usage: tcpferry handoff --pid PID --fd N --to BACKEND --via CMD [--mode l2|l3]\n"
	"                        [--dev IFACE] [--mac MAC] [--src ADDR] [--prepend-file FILE]\n"
	"                        [--timeout-ms MS] [--lock-ttl SEC] [--no-nudge] [--kill]\n"
	"\n"
	"Hand the connection on fd N of process PID to a backend host for good: the\n"
	"backend's `tcpferry receive --serve` (reached through CMD's stdin and stdout,\n"
	"e.g. --via 'ssh root@b1 tcpferry receive --serve --each -- httpd -i')\n"
	"rebuilds it and gives it to its server, and from then on this host's\n"
	"ingress program steers the client's packets of that tuple to BACKEND; the\n"
	"backend answers the client directly.  Until the backend has it, the\n"
	"connection is this host's: if the backend refuses (no VIP there, its server\n"
	"down) or does not answer in time, it is given back (unlocked, out of repair)\n"
	"and the client saw a short pause.  The process's copy stays in repair mode\n"
	"(it reads nothing more; its close is silent); --kill ends the process.\n"
	"\n"
	"  --to BACKEND        the backend's address (the VIP is on its lo)\n"
	"  --via CMD           sh -c CMD reaches `tcpferry receive --serve` there\n"
	"  --mode l2|l3        l2: rewrite the MACs (the backend on this segment);\n"
	"                      l3: IPIP / IP6IP6 to BACKEND (default l3)\n"
	"  --dev, --mac, --src where the steered packets leave, the next hop's MAC,\n"
	"                      the outer source (default: from the routes)\n"
	"  --prepend-file FILE bytes the process read already (the first request),\n"
	"                      put back in front of what is unread, so the backend's\n"
	"                      server reads them as if new (at most 1 MiB)\n"
	"  --timeout-ms MS     the longest wait for each of the backend's answers\n"
	"                      (default 2000)\n"
	"  --lock-ttl SEC      the lock's expiry while the hand-off is under way\n"
	"                      (default 30)\n"
	"  --no-nudge          the backend does not prompt the client afterwards\n"
	"  --kill              SIGKILL the process once the backend has the connection\n"
	"\n"
	"Exit 0 when the backend has it; 1 with the reason when it stayed here;\n"
	"3 when it is in doubt (the backend's answer to the commit was lost: the\n"
	"message says how to settle it).\n";

static int read_prepend(const char *path, char **buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	ssize_t n;

	if (fd < 0)
		return cli_error("handoff --prepend-file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > PREPEND_MAX) {
		close(fd);
		return cli_error("handoff --prepend-file %s: not a regular file of at most %u bytes", path,
				 PREPEND_MAX);
	}
	*buf = malloc(st.st_size ? st.st_size : 1);
	n = *buf ? read(fd, *buf, st.st_size) : -1;
	close(fd);
	if (n != st.st_size)
		return cli_error("handoff --prepend-file %s: short read", path);
	*len = n;
	return 0;
}

int cmd_handoff(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },   { "fd", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },    { "via", required_argument, NULL, 'v' },
		{ "mode", required_argument, NULL, 'm' },  { "dev", required_argument, NULL, 'd' },
		{ "mac", required_argument, NULL, 'M' },   { "src", required_argument, NULL, 's' },
		{ "prepend-file", required_argument, NULL, 'P' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "lock-ttl", required_argument, NULL, 'L' },
		{ "no-nudge", no_argument, NULL, 'N' },    { "kill", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },	   {}
	};
	struct tf_backend_opts bo = { .bpffs = g.bpffs };
	const char *to = NULL, *prepend_file = NULL;
	long pid = 0, fdnum = -1, v;
	char *pre = NULL;
	size_t pre_len = 0;
	bool kill_it = false;
	struct tf_backend *b;
	struct tf_backend_stats st;
	int c, pidfd, fd, err;
	struct json *j;
	double t0;

	if (cli_wants_help(argc, argv, usage))
		return 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (cli_parse_long(optarg, "--pid", 1, 1L << 22, &pid))
				return EXIT_USAGE;
			break;
		case 'f':
			if (cli_parse_long(optarg, "--fd", 0, 1L << 20, &fdnum))
				return EXIT_USAGE;
			break;
		case 't': to = optarg; break;
		case 'v': bo.via = optarg; break;
		case 'm': bo.mode = optarg; break;
		case 'd': bo.dev = optarg; break;
		case 'M': bo.mac = optarg; break;
		case 's': bo.outer_src = optarg; break;
		case 'P': prepend_file = optarg; break;
		case 'T':
			if (cli_parse_long(optarg, "--timeout-ms", 1, 1L << 30, &v))
				return EXIT_USAGE;
			bo.timeout_ms = v;
			break;
		case 'L':
			if (cli_parse_long(optarg, "--lock-ttl", 1, 86400, &v))
				return EXIT_USAGE;
			bo.lock_ttl_s = v;
			break;
		case 'N': bo.no_nudge = true; break;
		case 'k': kill_it = true; break;
		default:
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (!pid || fdnum < 0 || !to || !bo.via)
		return cli_error("handoff: --pid, --fd, --to and --via are needed; see tcpferry handoff --help"),
		       EXIT_USAGE;
	if (optind < argc)
		return cli_error("handoff: unexpected argument '%s'", argv[optind]), EXIT_USAGE;
	if (strchr(to, ':'))
		bo.addr6 = to;
	else
		bo.addr = to;
	if (prepend_file && read_prepend(prepend_file, &pre, &pre_len))
		return EXIT_USAGE;
	if (cli_need_cap(CAP_NET_ADMIN, "handoff") || cli_need_cap(CAP_BPF, "handoff"))
		return 1;
	pidfd = tf_proc_open(pid);
	fd = pidfd < 0 ? pidfd : tf_proc_getfd(pidfd, pid, fdnum);
	if (fd < 0) {
		free(pre);
		if (pidfd >= 0)
			close(pidfd);
		return cli_lib_error(fd, "handoff pid %ld fd %ld", pid, fdnum);
	}
	t0 = mv_now_ms();
	err = tf_backend_open(&bo, &b);
	if (err) {
		free(pre);
		close(fd);
		close(pidfd);
		return cli_lib_error(err, "handoff pid %ld fd %ld", pid, fdnum);
	}
	err = tf_handoff(b, fd, pre, pre_len);
	free(pre);
	tf_backend_stats(b, &st);
	tf_backend_close(b);
	if (err) {
		/* Our copy: the process's is live again (or, in doubt, in repair). */
		close(fd);
		close(pidfd);
		cli_error("%s", tf_strerror());
		return err == -EINPROGRESS ? 3 : 1;
	}
	if (kill_it)
		tf_proc_kill(pidfd, pid);
	close(pidfd);
	j = cli_json_open();
	if (j) {
		json_object_start(j);
		json_uint_field(j, "pid", pid);
		json_uint_field(j, "fd", fdnum);
		json_string_field(j, "backend", to);
		json_string_field(j, "backend_host", st.backend_host);
		json_name(j, "ms");
		json_double(j, mv_now_ms() - t0);
		json_object_end(j);
		cli_json_close(j);
	} else {
		printf("handed off pid %ld fd %ld to backend %s (%s) in %.1f ms\n", pid, fdnum, to, st.backend_host,
		       mv_now_ms() - t0);
	}
	return 0;
}
