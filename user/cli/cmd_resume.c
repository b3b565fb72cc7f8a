// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry resume --pid PID [--in DIR|FILE]
 *
 * Undo a dump on the source host: every TCP socket of PID that a dump left in
 * repair mode leaves it (with a window probe, so the peer answers at once),
 * this host's lock on it is dropped (also on one a dump locked before it
 * died, short of repair mode), and the process continues.  Only a process a
 * dump stopped: one with a socket in repair mode or under a dump's lock, or
 * the pid the index of --in DIR names; any other is refused, not continued.  The
 * connections go on where they were; the images, if any, are stale.
 *
 * Repair mode loses the socket's SO_REUSEADDR (it reads 2 while on, 0 after),
 * so only the dump's images know what the app had: --in DIR puts it back.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>

#include "cli.h"
#include "image_io.h"
#include "lock.h"
#include "proc.h"
#include "tcpferry.h"

static const char usage[] =
	"Usage: tcpferry resume --pid PID [--in DIR|FILE] [--no-probe] [--keep-lock]\n"
	"\n"
	"Roll a dump back on the source host: each TCP socket of PID that is in\n"
	"repair mode leaves it, its lock here is dropped (so is a dump's lock on\n"
	"one not yet in repair mode: a dump that died after locking), and PID\n"
	"continues (SIGCONT).  Use it while no restore has gone live elsewhere.  A\n"
	"process with no socket in repair mode or under a dump's lock is continued\n"
	"only with --in DIR naming it (its dump's index): anything else may have\n"
	"been stopped by someone else.\n"
	"\n"
	"  --pid PID       the process the dump stopped\n"
	"  --in DIR|FILE   the dump's directory or stream file, whose index must name\n"
	"                  PID: each socket gets back the SO_REUSEADDR its image\n"
	"                  recorded (repair mode cleared it; without --in it reads 0\n"
	"                  afterwards)\n"
	"  --no-probe      leave repair mode without the window probe\n"
	"  --keep-lock     leave the locks (drop them yourself: tcpferry lock del)\n"
	"\n"
	"Needs CAP_NET_ADMIN and CAP_SYS_PTRACE.\n";

/* Every image of the dump (a directory or a stream), so the sockets get back what they had; the pid the index names. */
static int read_images(const char *in, struct tf_conn **out, uint32_t *n_out, uint32_t *pid_out)
{
	struct tf_index ix = {};
	bool stream;
	int err = image_source_read(in, &ix, out, &stream);

	if (err)
		return cli_error("resume --in %s: %s; name the directory or stream file dump --out wrote, or "
				 "leave --in out (SO_REUSEADDR then reads 0)", in, tf_strerror());
	*n_out = ix.n;
	*pid_out = ix.pid;
	tf_index_free(&ix);
	return 0;
}

static bool same_endpoint(const struct tf_endpoint *a, const struct tf_endpoint *b)
{
	return a->family == b->family && a->port == b->port && !memcmp(a->addr, b->addr, sizeof(a->addr));
}

/* The image of the socket identified as c, or c itself (nothing to put back). */
static const struct tf_conn *image_of(const struct tf_conn *imgs, uint32_t n, const struct tf_conn *c)
{
	for (uint32_t i = 0; i < n; i++)
		if (same_endpoint(&imgs[i].local, &c->local) && same_endpoint(&imgs[i].peer, &c->peer))
			return &imgs[i];
	return c;
}

/* Does a dump's lock (reason dump) sit on the connection of socket fd here? */
static bool dump_lock_on(struct tf_locktab *t, int fd)
{
	struct tf_conn conn;
	struct tf_tuple k;
	struct tf_lock v;
	bool yes;

	if (!t || tf_check_socket(fd) || tf_conn_identify(fd, &conn))
		return false;
	yes = !tf_tuple_make(&conn.local, &conn.peer, &k) && !tf_lock_get(t, &k, &v) && v.reason == TF_LOCK_DUMP;
	tf_conn_free(&conn);
	return yes;
}

int cmd_resume(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'P' },
		{ "in", required_argument, NULL, 'i' },
		{ "no-probe", no_argument, NULL, 'n' },
		{ "keep-lock", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	bool probe = true, keep_lock = false;
	struct tf_locktab *t = NULL;
	struct tf_conn *imgs = NULL;
	const char *dir = NULL;
	uint32_t n_imgs = 0, dumped_pid = 0;
	int *fds = NULL, n = 0, pidfd, c, resumed = 0, in_repair = 0, dump_locked = 0, ret = 0;
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
		case 'i': dir = optarg; break;
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
	if (dir && read_images(dir, &imgs, &n_imgs, &dumped_pid))
		return 1;
	if (dir && dumped_pid != pid) {
		tf_stream_conns_free(imgs, n_imgs);
		return cli_error("resume --pid %ld --in %s: that dump is of pid %u, not %ld; nothing done: give the "
				 "directory of pid %ld's dump, or resume pid %u", pid, dir, dumped_pid, pid, pid,
				 dumped_pid);
	}
	pidfd = tf_proc_open(pid);
	if (pidfd < 0) {
		tf_stream_conns_free(imgs, n_imgs);
		return cli_lib_error(pidfd, "resume");
	}
	if ((c = tf_proc_list_fds(pid, &fds, &n))) {
		close(pidfd);
		tf_stream_conns_free(imgs, n_imgs);
		return cli_lib_error(c, "resume");
	}
	/*
	 * Only a process a dump stopped is continued: one with a socket in
	 * repair mode (what a dump leaves), or with a dump's lock on one of its
	 * connections (a dump that died after locking, before repair mode), or
	 * the one --in's index names.  Any other may be stopped by someone else
	 * (a debugger, a job control stop, an orchestrator's freeze): SIGCONT
	 * would wake it.
	 */
	if (tf_locktab_open(g.bpffs, false, 0, &t) < 0)
		t = NULL;	/* no lock table here: no lock to find or drop */
	for (int i = 0; i < n; i++) {
		int fd = tf_proc_getfd(pidfd, pid, fds[i]);

		if (fd < 0)
			continue;
		in_repair += tf_check_socket(fd) == 0 && tf_repair_state(fd) == 1;
		dump_locked += dump_lock_on(t, fd);
		close(fd);
	}
	if (!in_repair && !dump_locked && !dir) {
		if (t)
			tf_locktab_close(t);
		close(pidfd);
		free(fds);
		return cli_error("resume pid %ld: no socket of it is in repair mode or under a dump's lock, so no dump "
				 "here stopped it; nothing "
				 "done (not continued: someone else may have stopped it). Give the dump's directory "
				 "(--in DIR) to resume it anyway, or continue it yourself: kill -CONT %ld", pid, pid);
	}
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
		bool unlocked = false, repaired;
		int fd = tf_proc_getfd(pidfd, pid, fds[i]), err;

		if (fd < 0)
			continue;
		if (tf_check_socket(fd) || tf_conn_identify(fd, &conn)) {
			close(fd);
			continue;
		}
		repaired = tf_repair_state(fd) == 1;
		if (!repaired && !dump_lock_on(t, fd)) {	/* not the dump's */
			tf_conn_free(&conn);
			close(fd);
			continue;
		}
		tf_endpoint_str(&conn.local, l, sizeof(l));
		tf_endpoint_str(&conn.peer, p, sizeof(p));
		err = repaired ? tf_repair_leave(fd, image_of(imgs, n_imgs, &conn), probe) : 0;
		close(fd);
		if (err) {
			ret = cli_lib_error(err, "resume pid %ld fd %d (%s -> %s)", pid, fds[i], l, p);
			continue;
		}
		resumed++;
		if (t && !keep_lock && !tf_tuple_make(&conn.local, &conn.peer, &k))
			unlocked = tf_lock_del(t, &k) == 0;
		tf_conn_free(&conn);
		if (j) {
			json_object_start(j);
			json_uint_field(j, "fd", fds[i]);
			json_string_field(j, "local", l);
			json_string_field(j, "peer", p);
			json_bool_field(j, "unlocked", unlocked);
			json_object_end(j);
		} else {
			printf("fd %-4d %s -> %s  %s%s\n", fds[i], l, p, repaired ? "out of repair mode" : "was not in repair mode",
			       unlocked ? ", unlocked" : "");
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
	tf_stream_conns_free(imgs, n_imgs);
	free(fds);
	close(pidfd);
	return ret;
}
