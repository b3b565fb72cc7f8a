// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry dump --pid PID [--fd N]... --out DIR
 *
 * Stop the process, lock each connection, put it in repair mode, read it,
 * write the images.  Any failure puts everything back as it was: repair off
 * without a probe, locks gone, process continued.  On success the sockets stay
 * in repair mode (a later close sends nothing), unless --leave-running.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/capability.h>

#include "cli.h"
#include "conn_lock.h"
#include "fault.h"
#include "proc.h"
#include "tcpferry.h"
#include "tsval.h"

static const char usage[] =
	"Usage: tcpferry dump --pid PID [--fd N]... --out DIR [OPTIONS]\n"
	"\n"
	"Take established TCP connections out of a running process into image files\n"
	"(one per connection, plus DIR/index.tfi).  The process is stopped while this\n"
	"runs.  Each connection's peer is locked out (BPF lock) before repair mode.\n"
	"\n"
	"  --pid PID          the process holding the sockets\n"
	"  --fd N             only this fd (repeatable); default: every established\n"
	"                     TCP socket of the process\n"
	"  --out DIR          where the images go (created 0700; must hold no dump)\n"
	"  --leave-running    snapshot only: repair off again, locks dropped, the\n"
	"                     process continues; the connection goes on at the source\n"
	"  --kill             after the dump, SIGKILL the process; its sockets close\n"
	"                     without a FIN or RST (they are in repair mode)\n"
	"  --no-lock          do not lock (only when the peer is known to be quiet)\n"
	"  --lock-ttl SEC     expiry of the locks left for the restore (default 60;\n"
	"                     0 = never); an expired lock lets packets through\n"
	"\n"
	"Without --leave-running or --kill, the process is left stopped with its\n"
	"sockets in repair mode and locked: kill it to retire the source, or roll\n"
	"back with `tcpferry resume --pid PID` (repair off, locks dropped, continued).\n"
	"Needs CAP_NET_ADMIN, CAP_SYS_PTRACE and, for the lock, CAP_BPF.\n"
	"TCPFERRY_FAULT=dump-stopped|dump-locked|dump-repaired|dump-images|dump-done\n"
	"makes the command SIGKILL itself there (tests; see user/cli/fault.h).\n";

struct dumped {
	int fd;			/* process's fd number */
	int ours;		/* our copy */
	bool repair;		/* we turned repair on */
	struct tf_conn conn;
};

static int prepare_dir(const char *dir)
{
	struct stat st;
	char path[4096];

	if (mkdir(dir, 0700) && errno != EEXIST)
		return cli_error("--out %s: cannot create: %s", dir, strerror(errno));
	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return cli_error("--out %s: not a directory", dir);
	snprintf(path, sizeof(path), "%s/index.tfi", dir);
	if (access(path, F_OK) == 0)
		return cli_error("--out %s: already holds a dump (index.tfi); choose an empty directory", dir);
	return 0;
}

/* Collect the sockets to dump: the named fds, or every established TCP one. */
static int collect(pid_t pid, int pidfd, const int *want, int n_want, struct dumped **out, int *n_out)
{
	int *fds = NULL, n = 0, err;
	struct dumped *d;

	if (n_want) {
		fds = malloc(n_want * sizeof(*fds));
		if (!fds)
			return cli_error("no memory");
		memcpy(fds, want, n_want * sizeof(*fds));
		n = n_want;
	} else if ((err = tf_proc_list_fds(pid, &fds, &n))) {
		return cli_lib_error(err, "dump pid %d", pid);
	}
	d = calloc(n ? n : 1, sizeof(*d));
	if (!d) {
		free(fds);
		return cli_error("no memory");
	}
	*n_out = 0;
	for (int i = 0; i < n; i++) {
		int ours = tf_proc_getfd(pidfd, pid, fds[i]);

		if (ours < 0) {
			if (n_want) {
				cli_lib_error(ours, "dump");
				goto fail;
			}
			continue;	/* closed meanwhile, or not a file we may take */
		}
		err = tf_check_socket(ours);
		if (err) {
			close(ours);
			if (n_want) {
				cli_lib_error(err, "dump pid %d fd %d", pid, fds[i]);
				goto fail;
			}
			if (g.verbose)
				cli_info("pid %d fd %d: skipped: %s", pid, fds[i], tf_strerror());
			continue;
		}
		d[*n_out].fd = fds[i];
		d[*n_out].ours = ours;
		(*n_out)++;
	}
	free(fds);
	*out = d;
	return 0;
fail:
	for (int i = 0; i < *n_out; i++)
		close(d[i].ours);
	free(d);
	free(fds);
	return 1;
}

static void describe(const struct dumped *d, char *buf, size_t len)
{
	char l[TF_ADDRSTRLEN], p[TF_ADDRSTRLEN];

	snprintf(buf, len, "fd %d (%s -> %s)", d->fd, tf_endpoint_str(&d->conn.local, l, sizeof(l)),
		 tf_endpoint_str(&d->conn.peer, p, sizeof(p)));
}

/* A dump that is undone leaves no payload behind. */
static void remove_images(const char *dir, const struct tf_index *ix, int written)
{
	char path[4096];

	for (int i = 0; i < written; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, ix->entries[i].file);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/index.tfi", dir);
	unlink(path);
	rmdir(dir);	/* only if empty: it may have held other files */
}

static void print_result(struct json *j, const struct dumped *d, const struct tf_index *ix, const char *dir)
{
	char l[TF_ADDRSTRLEN], p[TF_ADDRSTRLEN];

	if (j) {
		json_object_start(j);
		json_uint_field(j, "pid", ix->pid);
		json_string_field(j, "dir", dir);
		json_name(j, "connections");
		json_array_start(j);
	}
	for (uint32_t i = 0; i < ix->n; i++) {
		const struct tf_conn *c = &d[i].conn;
		const char *file = ix->entries[i].file;
		tf_endpoint_str(&c->local, l, sizeof(l));
		tf_endpoint_str(&c->peer, p, sizeof(p));
		if (j) {
			json_object_start(j);
			json_uint_field(j, "fd", d[i].fd);
			json_string_field(j, "local", l);
			json_string_field(j, "peer", p);
			json_string_field(j, "image", file);
			json_uint_field(j, "recv_queue", c->inq_len);
			json_uint_field(j, "send_queue", c->outq_len);
			json_uint_field(j, "unsent", c->unsent_len);
			json_object_end(j);
		} else {
			printf("fd %-4d %s -> %s  recvq %u sendq %u (unsent %u)  %s/%s\n", d[i].fd, l, p,
			       c->inq_len, c->outq_len, c->unsent_len, dir, file);
		}
	}
	if (j) {
		json_array_end(j);
		json_object_end(j);
	}
}

int cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'P' },
		{ "fd", required_argument, NULL, 'f' },
		{ "out", required_argument, NULL, 'o' },
		{ "leave-running", no_argument, NULL, 'L' },
		{ "kill", no_argument, NULL, 'K' },
		{ "no-lock", no_argument, NULL, 'N' },
		{ "lock-ttl", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	bool leave_running = false, kill_it = false, no_lock = false;
	long pid = 0, v, ttl = 60;
	const char *dir = NULL;
	int want[256], n_want = 0, n = 0, pidfd, err, ret = 1, c;
	struct dumped *d = NULL;
	struct conn_locks locks = {};
	struct tf_index ix = {};
	char what[256];
	int written = 0;

	if (cli_wants_help(argc, argv, usage))
		return 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'P':
			if (cli_parse_long(optarg, "--pid", 1, 1L << 30, &pid))
				return EXIT_USAGE;
			break;
		case 'f':
			if (cli_parse_long(optarg, "--fd", 0, 1 << 30, &v))
				return EXIT_USAGE;
			if (n_want == (int)(sizeof(want) / sizeof(want[0])))
				return cli_error("--fd: at most %zu; leave --fd out to take them all",
						 sizeof(want) / sizeof(want[0])), EXIT_USAGE;
			want[n_want++] = v;
			break;
		case 'o': dir = optarg; break;
		case 'L': leave_running = true; break;
		case 'K': kill_it = true; break;
		case 'N': no_lock = true; break;
		case 'T':
			if (cli_parse_long(optarg, "--lock-ttl", 0, 1L << 30, &ttl))
				return EXIT_USAGE;
			break;
		default:
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (!pid || !dir) {
		cli_error("dump needs --pid and --out; see tcpferry dump --help");
		return EXIT_USAGE;
	}
	if (leave_running && kill_it) {
		cli_error("--leave-running and --kill contradict each other");
		return EXIT_USAGE;
	}
	if (cli_need_cap(CAP_NET_ADMIN, "dump") || cli_need_cap(CAP_SYS_PTRACE, "dump"))
		return 1;
	cli_raise_nofile();
	pidfd = tf_proc_open(pid);
	if (pidfd < 0)
		return cli_lib_error(pidfd, "dump");
	if (prepare_dir(dir))
		goto out_pidfd;
	if (collect(pid, pidfd, want, n_want, &d, &n))
		goto out_pidfd;
	if (n == 0) {
		cli_error("dump pid %ld: no established TCP connection to take", pid);
		goto out_pidfd;
	}
	for (int i = 0; i < n; i++) {
		err = tf_conn_identify(d[i].ours, &d[i].conn);
		if (err) {
			cli_lib_error(err, "dump pid %ld fd %d", pid, d[i].fd);
			goto out_fds;
		}
	}

	err = tf_proc_stop(pidfd, pid);
	if (err) {
		cli_lib_error(err, "dump");
		goto out_fds;
	}
	fault_point("dump-stopped");
	for (int i = 0; i < n; i++) {
		describe(&d[i], what, sizeof(what));
		if (!no_lock && conn_locks_add(&locks, &d[i].conn, TF_LOCK_DUMP, (uint64_t)ttl * 1000000000ull))
			goto rollback;
		if (i == 0)
			fault_point("dump-locked");
		err = tf_repair_on(d[i].ours);
		if (err) {
			cli_lib_error(err, "dump pid %ld %s", pid, what);
			goto rollback;
		}
		d[i].repair = true;
		err = tf_dump(d[i].ours, &d[i].conn);
		if (err) {
			cli_lib_error(err, "dump pid %ld %s", pid, what);
			goto rollback;
		}
		/* The largest tsval that reached the wire, if the recorder ran (tsval.h). */
		tf_tsval_fill_conn(g.bpffs, &d[i].conn);
	}

	fault_point("dump-repaired");
	/* Images, then the index last: a directory with an index is complete. */
	ix.pid = pid;
	ix.n = n;
	ix.time_ns = d[0].conn.dump_time_ns;
	gethostname(ix.host, sizeof(ix.host) - 1);
	ix.entries = calloc(n, sizeof(*ix.entries));
	if (!ix.entries) {
		cli_error("no memory");
		goto rollback;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];

		snprintf(ix.entries[i].file, sizeof(ix.entries[i].file), "conn-%04d.tfc", i + 1);
		ix.entries[i].local = d[i].conn.local;
		ix.entries[i].peer = d[i].conn.peer;
		snprintf(path, sizeof(path), "%s/%s", dir, ix.entries[i].file);
		err = tf_image_write(path, &d[i].conn);
		if (err) {
			cli_lib_error(err, "dump pid %ld", pid);
			goto rollback;
		}
		written++;
	}
	fault_point("dump-images");
	err = tf_index_write(dir, &ix);
	if (err) {
		cli_lib_error(err, "dump pid %ld", pid);
		goto rollback;
	}
	fault_point("dump-done");

	if (leave_running) {
		for (int i = 0; i < n; i++)
			tf_repair_off(d[i].ours, false);
		conn_locks_release(&locks, false);
		tf_proc_cont(pidfd, pid);
	} else if (kill_it) {
		err = tf_proc_kill(pidfd, pid);
		if (err)
			cli_lib_error(err, "dump: --kill");
	} else {
		cli_info("pid %ld left stopped with %d socket(s) in repair mode and locked; kill it to retire "
			 "the source (no FIN or RST is sent), or roll back with: tcpferry resume --pid %ld",
			 pid, n, pid);
	}
	{
		struct json *j = cli_json_open();

		print_result(j, d, &ix, dir);
		cli_json_close(j);
	}
	ret = err ? 1 : 0;
	goto out_fds;

rollback:
	/* Everything back as it was: the connection goes on at the source. */
	for (int i = 0; i < n; i++)
		if (d[i].repair)
			tf_repair_off(d[i].ours, false);
	conn_locks_release(&locks, false);
	tf_proc_cont(pidfd, pid);
	remove_images(dir, &ix, written);
	cli_info("tcpferry: dump undone: pid %ld continues with its connections where they were", pid);
out_fds:
	conn_locks_done(&locks);
	for (int i = 0; i < n; i++) {
		close(d[i].ours);
		tf_conn_free(&d[i].conn);
	}
	free(d);
	free(ix.entries);
out_pidfd:
	close(pidfd);
	return ret;
}
