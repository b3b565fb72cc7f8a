// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry resume --pid PID
 *
 * Undo a dump on the source host: every TCP socket of PID that a dump left in
 * repair mode leaves it (with a window probe, so the peer answers at once),
 * this host's lock on it is dropped, and the process continues.  The
 * connections go on where they were; the images, if any, are stale.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>

#include "cli.h"
#include "lock.h"
#include "proc.h"
#include "tcpferry.h"

static const char usage[] =
	"Usage: tcpferry resume --pid PID [--no-probe] [--keep-lock]\n"
	"\n"
	"Roll a dump back on the source host: each TCP socket of PID that is in\n"
	"repair mode leaves it, its lock here is dropped, and PID continues\n"
	"(SIGCONT).  Use it while no restore has gone live elsewhere.\n"
	"\n"
	"  --pid PID       the process the dump stopped\n"
	"  --no-probe      leave repair mode without the window probe\n"
	"  --keep-lock     leave the locks (drop them yourself: tcpferry lock del)\n"
	"\n"
	"Needs CAP_NET_ADMIN and CAP_SYS_PTRACE.\n";

int cmd_resume(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'P' },
		{ "no-probe", no_argument, NULL, 'n' },
		{ "keep-lock", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	bool probe = true, keep_lock = false;
	struct tf_locktab *t = NULL;
	int *fds = NULL, n = 0, pidfd, c, resumed = 0, ret = 0;
	long pid = 0;
	struct json *j;

	if (cli_wants_help(argc, argv, usage))
		return 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'P':
			if (cli_parse_long(optarg, "--pid", 1, 1L << 30, &pid))
				return EXIT_USAGE;
			break;
		case 'n': probe = false; break;
		case 'k': keep_lock = true; break;
		default:
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (!pid)
		return cli_error("resume needs --pid; see tcpferry resume --help"), EXIT_USAGE;
	if (cli_need_cap(CAP_NET_ADMIN, "resume") || cli_need_cap(CAP_SYS_PTRACE, "resume"))
		return 1;
	pidfd = tf_proc_open(pid);
	if (pidfd < 0)
		return cli_lib_error(pidfd, "resume");
	if ((c = tf_proc_list_fds(pid, &fds, &n))) {
		close(pidfd);
		return cli_lib_error(c, "resume");
	}
	if (!keep_lock && tf_locktab_open(g.bpffs, false, 0, &t) < 0)
		t = NULL;	/* no lock table here: nothing to drop */
	j = cli_json_open();
	if (j) {
		json_object_start(j);
		json_uint_field(j, "pid", pid);
		json_name(j, "connections");
		json_array_start(j);
	}
	for (int i = 0; i < n; i++) {
		char l[TF_ADDRSTRLEN], p[TF_ADDRSTRLEN];
		struct tf_conn conn;
		struct tf_tuple k;
		bool unlocked = false;
		int fd = tf_proc_getfd(pidfd, pid, fds[i]), err;

		if (fd < 0)
			continue;
		if (tf_check_socket(fd) || tf_repair_state(fd) != 1 || tf_conn_identify(fd, &conn)) {
			close(fd);
			continue;
		}
		tf_endpoint_str(&conn.local, l, sizeof(l));
		tf_endpoint_str(&conn.peer, p, sizeof(p));
		err = tf_repair_off(fd, probe);
		close(fd);
		if (err) {
			ret = cli_lib_error(err, "resume pid %ld fd %d (%s -> %s)", pid, fds[i], l, p);
			continue;
		}
		resumed++;
		if (t && !tf_tuple_make(&conn.local, &conn.peer, &k))
			unlocked = tf_lock_del(t, &k) == 0;
		if (j) {
			json_object_start(j);
			json_uint_field(j, "fd", fds[i]);
			json_string_field(j, "local", l);
			json_string_field(j, "peer", p);
			json_bool_field(j, "unlocked", unlocked);
			json_object_end(j);
		} else {
			printf("fd %-4d %s -> %s  out of repair mode%s\n", fds[i], l, p, unlocked ? ", unlocked" : "");
		}
	}
	c = tf_proc_cont(pidfd, pid);
	if (c)
		ret = cli_lib_error(c, "resume");
	if (j) {
		json_array_end(j);
		json_uint_field(j, "resumed", resumed);
		json_object_end(j);
		cli_json_close(j);
	} else if (!resumed) {
		cli_info("pid %ld: no socket in repair mode; the process was continued", pid);
	}
	if (t)
		tf_locktab_close(t);
	free(fds);
	close(pidfd);
	return ret;
}
