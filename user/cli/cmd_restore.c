// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry restore --in DIR|FILE|- [--send-to PATH | -- CMD [ARGS]]
 *
 * Every image, of a dump directory or an image stream, is read and
 * validated before anything touches the kernel.
 * Then: lock each tuple on this host, rebuild the sockets in repair mode,
 * take them out of repair (unsent data goes out), drop the locks, hand the
 * sockets over.  A tuple that a live socket of this host owns is refused
 * before anything is locked.  A failure before repair-off closes what was
 * built (silently: still in repair) and keeps the locks, so the peer
 * retransmits into the lock instead of meeting an RST, but never one taken
 * here on a tuple a live socket owns; the message says which locks stay and
 * how to retry or roll back.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>

#include "cli.h"
#include "fault.h"
#include "handoff.h"
#include "restore_job.h"
#include "restore_log.h"
#include "tcpferry.h"

static const char usage[] =
	"Usage: tcpferry restore --in DIR|FILE|- [OPTIONS] -- CMD [ARGS]...\n"
	"       tcpferry restore --in DIR|FILE|- [OPTIONS] --send-to UNIX_SOCKET\n"
	"\n"
	"Rebuild the connections of a dump in this network namespace and hand them\n"
	"to a program.  The whole dump is read and checked first: a damaged or cut\n"
	"one is refused before any lock or socket is made.\n"
	"\n"
	"  --in DIR             a dump directory (index.tfi and its images)\n"
	"  --in FILE            an image stream: a file dump --out FILE.tfs wrote, or\n"
	"                       a FIFO (anything not a directory is read as a stream)\n"
	"  --in -               an image stream on standard input (dump --out - | ...)\n"
	"  -- CMD [ARGS]        exec CMD with the sockets as fds 3, 4, ... and\n"
	"                       LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES set (systemd\n"
	"                       socket activation; e.g. socat FD:3 ...)\n"
	"  --each               with -- CMD: one CMD a connection, its socket as\n"
	"                       stdin, stdout and fd 3 (LISTEN_FDS=1): inetd and\n"
	"                       systemd Accept=yes servers, e.g. busybox httpd -i\n"
	"  --send-to PATH       pass the sockets to a process listening on a unix\n"
	"                       stream socket (SCM_RIGHTS; see tcpferry(8))\n"
	"  --freebind           bind even if the local address is not on this host yet\n"
	"                       (IPv6 only: the kernel routes an IPv4 connect only\n"
	"                       from a local address, so add an IPv4 one first)\n"
	"  --no-lock            do not lock the tuples while restoring\n"
	"  --keep-lock          leave the locks in place after the restore (an\n"
	"                       orchestrator drops them once routes have moved)\n"
	"  --lock-ttl SEC       expiry of the locks taken here (default 60; 0 = never)\n"
	"  --no-probe           leave repair mode without the window probe\n"
	"  --no-ts-fixup        do not carry the timestamp clock: the socket runs on\n"
	"                       this host's bare TCP clock, as a restore that ignores\n"
	"                       timestamps would (tests: the peer's PAWS check then\n"
	"                       drops its segments whenever that clock is behind)\n"
	"  --ts-as-dumped       set the dumped clock as is, without the wire tsval,\n"
	"                       the elapsed time or the margin (what CRIU does)\n"
	"By default TCP_TIMESTAMP = max(wire tsval, dumped clock) + time since the\n"
	"dump + a margin (user/lib/tsclock.c); -j and -v show the value chosen.\n"
	"\n"
	"Needs CAP_NET_ADMIN and, for the lock, CAP_BPF.\n"
	"TCPFERRY_FAULT=restore-checked|restore-locked|restore-built|restore-live|\n"
	"restore-unlocked makes the command SIGKILL itself there (tests; user/move/fault.h).\n";

static void print_result(const struct restored *r, int n, const char *dir, bool stream)
{
	struct json *j = cli_json_open();
	char l[TF_ADDRSTRLEN], p[TF_ADDRSTRLEN];

	if (j) {
		json_object_start(j);
		json_string_field(j, stream ? "stream" : "dir", dir);
		json_name(j, "connections");
		json_array_start(j);
	}
	for (int i = 0; i < n; i++) {
		tf_endpoint_str(&r[i].conn.local, l, sizeof(l));
		tf_endpoint_str(&r[i].conn.peer, p, sizeof(p));
		if (j) {
			json_object_start(j);
			json_string_field(j, "name", r[i].name);
			json_string_field(j, "local", l);
			json_string_field(j, "peer", p);
			json_uint_field(j, "fd", 3 + i);
			json_uint_field(j, "ts_clock", r[i].ts_dumped);
			json_name(j, "ts_wire");
			if (r[i].conn.has_ts_wire)
				json_uint(j, r[i].conn.ts_wire);
			else
				json_null(j);
			json_uint_field(j, "ts_chosen", r[i].ts_chosen);
			json_int_field(j, "ts_offset", r[i].ts_offset);
			json_object_end(j);
		} else if (g.verbose) {
			fprintf(stderr, "restored %s -> %s as fd %d (%s)\n", l, p, 3 + i, r[i].name);
		}
	}
	if (j) {
		json_array_end(j);
		json_object_end(j);
		cli_json_close(j);
	}
}

int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "in", required_argument, NULL, 'i' },
		{ "send-to", required_argument, NULL, 's' },
		{ "each", no_argument, NULL, 'e' },
		{ "freebind", no_argument, NULL, 'F' },
		{ "no-lock", no_argument, NULL, 'N' },
		{ "keep-lock", no_argument, NULL, 'k' },
		{ "lock-ttl", required_argument, NULL, 'T' },
		{ "no-probe", no_argument, NULL, 'p' },
		{ "no-ts-fixup", no_argument, NULL, 't' },
		{ "ts-as-dumped", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct restore_job j = { .lock = true, .ttl = 60 };
	bool keep_lock = false, probe = true, each = false;
	const char *dir = NULL, *send_to = NULL;
	char **cmd = NULL;
	int c, err, ret = 1, handoff = -1;

	j.bpffs = g.bpffs;
	if (cli_wants_help(argc, argv, usage))
		return 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'i': dir = optarg; break;
		case 's': send_to = optarg; break;
		case 'e': each = true; break;
		case 'F': j.ro.freebind = true; break;
		case 'N': j.lock = false; break;
		case 'k': keep_lock = true; break;
		case 'p': probe = false; break;
		case 't': j.ts_bare = true; break;
		case 'D': j.ro.no_ts_fixup = true; break;
		case 'T':
			if (cli_parse_long(optarg, "--lock-ttl", 0, 1L << 30, &j.ttl))
				return EXIT_USAGE;
			break;
		default:
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		cmd = argv + optind;
	if (each && !cmd) {
		cli_error("restore --each starts -- CMD once a connection; give the CMD after --");
		return EXIT_USAGE;
	}
	if (!dir || (!cmd && !send_to) || (cmd && send_to)) {
		cli_error("restore needs --in DIR and either -- CMD or --send-to PATH; see tcpferry restore --help");
		return EXIT_USAGE;
	}
	if (cli_need_cap(CAP_NET_ADMIN, "restore"))
		return 1;
	cli_raise_nofile();

	/* 0. Where the sockets go must be there: once live, they cannot wait. */
	if (cmd && (err = tf_handoff_exec_check(cmd)))
		return cli_lib_error(err, "restore: nothing restored");
	if (send_to && (handoff = tf_handoff_connect(send_to)) < 0)
		return cli_lib_error(handoff, "restore: nothing restored");

	/* 1. Everything read and checked before the kernel sees any of it. */
	j.dir = dir;
	if (restore_job_read(&j))
		goto out;
	/* 2. Lock, then rebuild in repair mode. */
	if (restore_job_build(&j))
		goto failed;
	/* 3. Out of repair: the point of no return. */
	if (restore_job_live(&j, probe)) {
		/* The locks stay, so peers retransmit to the retry instead of
		 * meeting an RST; but none taken here on a tuple a live socket owns. */
		restore_job_discard(&j);
		conn_locks_release_owned(&j.locks);
		goto failed;
	}
	if (!keep_lock)
		conn_locks_release(&j.locks, true);
	fault_point("restore-unlocked");

	/* 4. Hand them over. */
	print_result(j.r, j.ix.n, dir, j.stream);
	restore_log_append(&j);
	{
		int *fds;
		const char **names;

		if (restore_job_handover(&j, &fds, &names))
			goto out;
		if (send_to) {
			err = tf_handoff_send(handoff, send_to, fds, names, j.ix.n);
			handoff = -1;
			if (err)
				cli_lib_error(err, "restore: handing the sockets to %s (they are closed now)", send_to);
			ret = err ? 1 : 0;
		} else if (each) {
			pid_t *pids = calloc(j.ix.n, sizeof(*pids));

			fflush(NULL);
			err = pids ? tf_handoff_exec_each(fds, names, j.ix.n, cmd, pids) : -ENOMEM;
			for (uint32_t i = 0; i < j.ix.n; i++)
				close(fds[i]);	/* each is its child's now */
			if (err < 0)
				cli_lib_error(err, "restore: the sockets are live but (they are closed now)");
			else if ((uint32_t)err < j.ix.n)
				cli_error("restore: %s started for %d of %u connections; the others are closed "
					  "(%s)", cmd[0], err, j.ix.n, tf_strerror());
			else if (g.verbose)
				cli_info("restore: %s started for each of the %u connections", cmd[0], j.ix.n);
			ret = err >= 0 && (uint32_t)err == j.ix.n ? 0 : 1;
			free(pids);
		} else {
			fflush(NULL);
			conn_locks_done(&j.locks);
			err = tf_handoff_exec(fds, names, j.ix.n, cmd);
			cli_lib_error(err, "restore: the sockets are live but");
		}
		free(fds);
		free(names);
	}
	goto out;

failed:
	/* Say only what is true of the locks: which are held here now. */
	{
		int taken = conn_locks_taken(&j.locks, false), found = conn_locks_taken(&j.locks, true);
		char locks[256], ttl[32];

		snprintf(ttl, sizeof(ttl), j.ttl ? "expiry %ld s" : "no expiry", j.ttl);
		if (!j.lock)
			snprintf(locks, sizeof(locks), "no lock was taken (--no-lock)");
		else if (taken + found == 0)
			snprintf(locks, sizeof(locks), "no lock was taken here");
		else if (!found)
			snprintf(locks, sizeof(locks), "the %d lock(s) taken here stay (%s), so peers retransmit "
				 "instead of meeting an RST", taken, ttl);
		else if (!taken)
			snprintf(locks, sizeof(locks), "the %d lock(s) it found here (taken before it) stay, so peers "
				 "retransmit instead of meeting an RST", found);
		else
			snprintf(locks, sizeof(locks), "the %d lock(s) taken here and the %d found here stay, so peers "
				 "retransmit instead of meeting an RST", taken, found);
		cli_info("tcpferry: restore of %s failed; nothing was sent to any peer, and %s. "
			 "Retry: tcpferry restore --in %s ...  Roll back: tcpferry resume --pid PID on the source host%s.",
			 dir, locks, strcmp(dir, "-") ? dir : "- (with the same stream again)", taken + found ? ", then drop the locks here (tcpferry lock del, or let them expire)" : "");
	}
out:
	if (handoff >= 0)
		close(handoff);
	restore_job_free(&j);
	return ret;
}
