// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry dump --pid PID [--fd N]... --out DIR|FILE.tfs|-
 *
 * Stop the process, lock each connection, put it in repair mode, read it,
 * write the images: a dump directory, or one image stream (a .tfs file, a
 * FIFO, or standard output with "-"; user/move/image_io.h has the rule).  Any failure puts everything back as it was: repair off
 * without a probe, locks gone, process continued.  On success the sockets stay
 * in repair mode (a later close sends nothing), unless --leave-running.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/capability.h>

#include "cli.h"
#include "phase.h"
#include "dump_job.h"
#include "proc.h"
#include "tcpferry.h"

static const char usage[] =
	"Usage: tcpferry dump --pid PID [--fd N]... --out DIR|FILE.tfs|- [OPTIONS]\n"
	"\n"
	"Take TCP connections (established or half-closed) out of a running process\n"
	"into images: a dump directory (one file per connection, plus index.tfi), or\n"
	"one image stream (the whole dump, checksummed, ending in an END frame).  The\n"
	"process is stopped while this runs.  Each connection's peer is locked out\n"
	"(BPF lock) before repair mode.\n"
	"\n"
	"  --pid PID          the process holding the sockets\n"
	"  --fd N             only this fd (repeatable); default: every TCP\n"
	"                     connection of the process\n"
	"  --out DIR          a dump directory (created 0700; must hold no dump)\n"
	"  --out FILE.tfs     one stream file (a new name ending in .tfs; 0600,\n"
	"                     written under a temporary name, fsynced, renamed)\n"
	"  --out -            the stream on standard output (a pipe: e.g.\n"
	"                     | ssh host tcpferry restore --in - ...); every other\n"
	"                     line, -j's too, then goes to stderr.  The stream ends\n"
	"                     when dump does (--kill included), and a restore starts\n"
	"                     then.  An existing FIFO or character device also takes\n"
	"                     the stream as is\n"
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
	"back with `tcpferry resume --pid PID --in DIR` (repair off, SO_REUSEADDR as\n"
	"it was, locks dropped, continued).  --leave-running and a failed dump also\n"
	"put SO_REUSEADDR back (repair mode clears it).  A stream whose reader goes\n"
	"away (EPIPE) fails the dump, which is then undone like any other failure.\n"
	"Needs CAP_NET_ADMIN, CAP_SYS_PTRACE and, for the lock, CAP_BPF.\n"
	"TCPFERRY_FAULT=dump-listed|dump-stopped|dump-locked|dump-repaired|dump-images|\n"
	"dump-done makes the command SIGKILL itself there, TCPFERRY_PAUSE=POINT SIGSTOP\n"
	"itself (tests; see user/move/fault.h).\n";

static void print_result(struct json *j, const struct dumped *d, const struct tf_index *ix, const char *dir,
			 bool stream)
{
	char l[TF_ADDRSTRLEN], p[TF_ADDRSTRLEN];

	if (j) {
		json_object_start(j);
		json_uint_field(j, "pid", ix->pid);
		json_string_field(j, stream ? "stream" : "dir", dir);
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
			printf("fd %-4d %s -> %s  recvq %u sendq %u (unsent %u)  %s%s%s\n", d[i].fd, l, p,
			       c->inq_len, c->outq_len, c->unsent_len, dir, stream ? ":" : "/", file);
		}
	}
	if (j) {
		json_array_end(j);
		json_object_end(j);
	}
}

/* --out /dev/stdout and the like: the stream owns standard output as with "-". */
static bool same_file_as_stdout(const char *path)
{
	struct stat a, b;

	return !stat(path, &a) && !fstat(STDOUT_FILENO, &b) && !S_ISREG(a.st_mode) && !S_ISDIR(a.st_mode) &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
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
	int want[256], n_want = 0, n = 0, pidfd, err = 0, ret = 1, c;
	struct dump_job j = {};
	struct dumped *d = NULL;

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
	mv_phase("cli-start");
	if (cli_need_cap(CAP_NET_ADMIN, "dump") || cli_need_cap(CAP_SYS_PTRACE, "dump"))
		return 1;
	if (!strcmp(dir, "-") || same_file_as_stdout(dir)) {
		/* The stream owns standard output: every other line goes to stderr. */
		if (isatty(STDOUT_FILENO))
			return cli_error("dump --out -: standard output is a terminal; pipe it to "
					 "tcpferry restore --in -, or redirect it to a file");
		j.out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
		if (j.out_fd < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
			return cli_error("dump --out -: %s", strerror(errno));
		j.out_to_fd = true;
	}
	cli_raise_nofile();
	pidfd = tf_proc_open(pid);
	if (pidfd < 0)
		return cli_lib_error(pidfd, "dump");
	j.pid = pid;
	j.pidfd = pidfd;
	j.want = n_want ? want : NULL;
	j.n_want = n_want;
	j.dir = dir;
	j.bpffs = g.bpffs;
	j.lock = !no_lock;
	j.ttl = ttl;
	j.take_new = true;
	if (dump_job_run(&j))
		goto out;
	n = j.n;
	d = j.d;

	if (leave_running) {
		for (int i = 0; i < n; i++)
			tf_repair_leave(d[i].ours, &d[i].conn, false);
		mv_phase("repair-off");
		conn_locks_release(&j.locks, false);
		mv_phase("unlock");
		tf_proc_cont(pidfd, pid);
		mv_phase("cont");
	} else if (kill_it) {
		err = tf_proc_kill(pidfd, pid);
		if (err)
			cli_lib_error(err, "dump: --kill");
	} else {
		bool fd_only = j.sink.form == IMAGE_STREAM_FD;

		cli_info("pid %ld left stopped with %d socket(s) in repair mode and locked; kill it to retire "
			 "the source (no FIN or RST is sent), or roll back with: tcpferry resume --pid %ld%s%s",
			 pid, n, pid, fd_only ? "" : " --in ", fd_only ? "" : dir);
	}
	{
		struct json *js = cli_json_open();

		print_result(js, d, &j.ix, j.sink.form == IMAGE_STREAM_FD ? image_sink_name(&j.sink) : dir,
			     j.sink.form != IMAGE_DIR);
		cli_json_close(js);
	}
	mv_phase("print");
	/* Only now does a reader see the stream end (it waits for that): the
	 * source is killed, resumed or left as it is, so a restore on this host
	 * does not meet the source's sockets still holding the tuples. */
	ret = err ? 1 : 0;
out:
	dump_job_free(&j);	/* our copies of the sockets closed first, too */
	if (j.out_to_fd)
		close(j.out_fd);
	close(pidfd);
	mv_phase("free");
	mv_phase_report();
	return ret;
}
