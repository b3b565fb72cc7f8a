// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry migrate freeze|nudge|move: the steps of a move between hosts that
 * are not dump or restore, and a whole move between two network namespaces of
 * this machine (migrate_move.c: the move engine over a local channel).  The flow between hosts
 * (dump, carry, lock, restore, route, unlock, retire, roll back) is
 * tools/migrate.sh, which an orchestrator can also drive one step at a time.
 *
 *   freeze --pid PID   stop the process at a moment when every thread waits
 *                      in a poll/select/epoll/sleep call, so a program like
 *                      socat holds no bytes in its own buffers: what the
 *                      connection carries is all in the kernel, where dump
 *                      finds it.  The process is left stopped (SIGSTOP).
 *   nudge --in DIR --pid PID
 *                      for each connection of the dump DIR that PID now
 *                      holds (after restore), send the ACKs of nudge.h.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>

#include "cli.h"
#include "freeze.h"
#include "lock.h"
#include "migrate_move.h"
#include "nudge.h"
#include "phase.h"
#include "proc.h"
#include "tcpferry.h"

static const char usage[] =
	"Usage: tcpferry migrate freeze --pid PID [--timeout-ms MS]\n"
	"       tcpferry migrate nudge --in DIR --pid PID [--dupacks N] [--unlock]\n"
	"       tcpferry migrate move --pid PID --to-netns NS --work DIR\n"
	"                [--from-bpffs DIR] [--to-bpffs DIR] [--route PREFIX --via ADDR\n"
	"                [--route-netns NS]] [--flip CMD] [--ttl SEC] [--no-nudge]\n"
	"                [--timeout-ms MS] {-- PROG [ARGS]... | --send-to PATH}\n"
	"       tcpferry migrate send --pid PID --via CMD ...   (see migrate send --help)\n"
	"\n"
	"Steps of a move between hosts besides dump and restore (the whole flow\n"
	"between hosts is tools/migrate.sh; see its header), and a whole move\n"
	"between two network namespaces of this machine (the engine of migrate\n"
	"send over a local channel).\n"
	"\n"
	"  freeze   stop PID (SIGSTOP) at a moment when all its threads wait in\n"
	"           poll, select, epoll or a sleep, i.e. hold no data of their own\n"
	"           between a read and a write; retries for up to --timeout-ms\n"
	"           (default 2000).  SIGCONT undoes it.\n"
	"  nudge    PID holds the restored connections of the dump DIR: send each\n"
	"           peer a probe (the last byte sent, again: it answers at once\n"
	"           with its ACK and SACKs) and N duplicate ACKs\n"
	"           (default: 3 where SACK is off, none where it is\n"
	"           on: a SACK peer does not count them), through a raw socket\n"
	"           carrying the lock's pass mark, so the peer need not wait for\n"
	"           its timer\n"
	"  --unlock first drop this host's locks of those connections (reporting\n"
	"           what they dropped): unlock and nudge in one step\n"
	"  move     migrate send and receive over a local channel: this process\n"
	"           is the source's side in PID's namespace (locks with\n"
	"           --from-bpffs), a child in --to-netns (a name under /run/netns\n"
	"           or a path) the target's (--to-bpffs), joined by a socketpair.\n"
	"           The target checks the addresses and PROG, attaches and locks\n"
	"           every tuple before PID is frozen; then PID is frozen, its\n"
	"           connections locked, dumped and streamed to the target, which\n"
	"           rebuilds them in repair mode; --route PREFIX --via ADDR\n"
	"           replaces a route through rtnetlink (in --route-netns, e.g. a\n"
	"           router's), then --flip runs a shell command; at the commit the\n"
	"           target starts PROG with the sockets as fds 3, 4, ... (as\n"
	"           restore -- PROG does; or passes them to a running receiver:\n"
	"           --send-to, as restore's), unlocks and nudges; PID is killed\n"
	"           (silently: its sockets are in repair mode) and unlocked.  No\n"
	"           program is started inside the locked window but --flip's.\n"
	"           DIR is tools/migrate.sh's work directory (src: the dump,\n"
	"           dst, to.pid, unlocked, retired; sent and received: the two\n"
	"           sides' journals): a move cut short goes on with its steps or\n"
	"           its rollback.  Any failure before the commit, of either side,\n"
	"           puts everything back at the source; a commit whose answer is\n"
	"           lost leaves PID stopped and the move in doubt (the error says\n"
	"           how to settle it).  --ttl: lock expiry (default 30 s; 0 =\n"
	"           never); the pin directories default to --bpffs.\n"
	"           -j reports the time of each phase and the locked window (ms).\n"
	"  send     a whole move to another machine, over a channel to its\n"
	"           `tcpferry receive` (ssh): tcpferry migrate send --help\n"
	"  -j       JSON output\n";

static int do_freeze(pid_t pid, long timeout_ms)
{
	int pidfd = tf_proc_open(pid), tries, err;

	if (pidfd < 0)
		return cli_lib_error(pidfd, "migrate freeze");
	err = freeze_idle(pidfd, pid, timeout_ms, &tries);
	close(pidfd);
	if (err)
		return err;
	{
		struct json *j = cli_json_open();

		if (j) {
			json_object_start(j);
			json_uint_field(j, "pid", pid);
			json_uint_field(j, "tries", tries);
			json_object_end(j);
			cli_json_close(j);
		} else if (g.verbose) {
			printf("pid %d stopped while waiting (%d tries)\n", pid, tries);
		}
	}
	return 0;
}

static bool same_tuple(const struct tf_conn *a, const struct tf_conn *b)
{
	return a->local.port == b->local.port && a->peer.port == b->peer.port &&
	       !memcmp(a->local.addr, b->local.addr, 16) && !memcmp(a->peer.addr, b->peer.addr, 16);
}

/* Drop this host's locks of the dump's tuples; *dropped gets their packet counters. */
static int unlock_all(const struct tf_conn *imgs, uint32_t n, uint64_t *dropped, int *unlocked)
{
	struct tf_locktab *t;
	int err = tf_locktab_open(g.bpffs, false, 0, &t);

	*dropped = 0;
	*unlocked = 0;
	if (err == -ENOENT)
		return 0;	/* no lock table: nothing is locked */
	if (err)
		return cli_lib_error(err, "migrate nudge --unlock");
	for (uint32_t i = 0; i < n; i++) {
		struct tf_tuple k;
		struct tf_lock v;

		if (tf_tuple_make(&imgs[i].local, &imgs[i].peer, &k))
			continue;
		if (tf_lock_get(t, &k, &v) == 0)
			*dropped += v.in_packets + v.out_packets;
		if (tf_lock_del(t, &k) == 0)
			(*unlocked)++;
	}
	tf_locktab_close(t);
	return 0;
}

static int do_nudge(const char *dir, pid_t pid, int dupacks, bool unlock)
{
	uint64_t dropped = 0;
	int unlocked = 0;
	struct tf_index ix = {};
	struct tf_conn *imgs = NULL;
	struct tf_nudger nudger = TF_NUDGER_INIT;
	int pidfd = -1, *fds = NULL, nfds = 0, nudged = 0, packets = 0, ret = 1, err;

	err = tf_index_read(dir, &ix);
	if (err)
		return cli_lib_error(err, "migrate nudge %s", dir);
	imgs = calloc(ix.n ? ix.n : 1, sizeof(*imgs));
	if (!imgs) {
		cli_error("migrate nudge: no memory");
		goto out;
	}
	for (uint32_t i = 0; i < ix.n; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", dir, ix.entries[i].file);
		err = tf_image_read(path, &imgs[i]);
		if (err) {
			cli_lib_error(err, "migrate nudge %s", path);
			goto out;
		}
	}
	pidfd = tf_proc_open(pid);
	if (pidfd < 0) {
		cli_lib_error(pidfd, "migrate nudge");
		goto out;
	}
	if (unlock && unlock_all(imgs, ix.n, &dropped, &unlocked))
		goto out;
	err = tf_proc_list_fds(pid, &fds, &nfds);
	if (err) {
		cli_lib_error(err, "migrate nudge");
		goto out;
	}
	for (int k = 0; k < nfds; k++) {
		int fd = tf_proc_getfd(pidfd, pid, fds[k]);
		struct tf_conn live = {};

		if (fd < 0)
			continue;
		if (tf_check_socket(fd) == 0 && tf_conn_identify(fd, &live) == 0) {
			for (uint32_t i = 0; i < ix.n; i++) {
				if (!same_tuple(&live, &imgs[i]))
					continue;
				err = tf_nudge(&nudger, fd, &imgs[i], dupacks);
				if (err < 0) {
					cli_lib_error(err, "migrate nudge pid %d fd %d", pid, fds[k]);
					close(fd);
					goto out;
				}
				packets += err;
				nudged++;
				break;
			}
		}
		close(fd);
	}
	if (nudged == 0) {
		cli_error("migrate nudge: pid %d holds none of the %u connections of %s; "
			  "is it the restored process?", pid, ix.n, dir);
		goto out;
	}
	{
		struct json *j = cli_json_open();

		if (j) {
			json_object_start(j);
			json_uint_field(j, "connections", nudged);
			json_uint_field(j, "packets", packets);
			json_uint_field(j, "unlocked", unlocked);
			json_uint_field(j, "lock_dropped_packets", dropped);
			json_object_end(j);
			cli_json_close(j);
		} else if (g.verbose) {
			printf("nudged %d connection(s), %d packets\n", nudged, packets);
		}
	}
	ret = 0;
out:
	tf_nudger_close(&nudger);
	if (pidfd >= 0)
		close(pidfd);
	free(fds);
	for (uint32_t i = 0; imgs && i < ix.n; i++)
		tf_conn_free(&imgs[i]);
	free(imgs);
	tf_index_free(&ix);
	return ret;
}

static void print_move(const struct move_opts *o, const struct move_result *r)
{
	struct json *j = cli_json_open();

	if (!j) {
		if (g.verbose) {
			printf("moved %d connection(s) of pid %d to pid %d; locked window %.3f ms (", r->connections, o->pid,
			       r->to_pid, r->locked_window_ms);
			for (int i = 0; i < P_N; i++)
				printf("%s%s %.3f", i ? ", " : "", move_phase_name[i], r->ms[i]);
			printf(" ms)\n");
		}
		return;
	}
	json_object_start(j);
	cli_json_move_report(j, &(struct move_report){
		.from_pid = o->pid, .to_pid = r->to_pid, .connections = r->connections, .nudged = r->nudged,
		.dropped_from = r->dropped_from, .dropped_to = r->dropped_to, .phase_names = move_phase_name,
		.ms = r->ms, .phases = P_N, .locked_window_ms = r->locked_window_ms });
	json_object_end(j);
	cli_json_close(j);
}


int cmd_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'P' },
		{ "in", required_argument, NULL, 'i' },
		{ "dupacks", required_argument, NULL, 'd' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "unlock", no_argument, NULL, 'u' },
		{ "to-netns", required_argument, NULL, 'n' },
		{ "from-bpffs", required_argument, NULL, 'F' },
		{ "to-bpffs", required_argument, NULL, 'B' },
		{ "work", required_argument, NULL, 'w' },
		{ "flip", required_argument, NULL, 'f' },
		{ "route", required_argument, NULL, 'r' },
		{ "via", required_argument, NULL, 'v' },
		{ "route-netns", required_argument, NULL, 'R' },
		{ "send-to", required_argument, NULL, 's' },
		{ "ttl", required_argument, NULL, 'T' },
		{ "no-nudge", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	long pid = 0, dupacks = TF_NUDGE_DUPACKS_AUTO, timeout_ms = 2000;
	const char *dir = NULL, *verb;
	struct move_opts mo = { .ttl = 30, .nudge = true };
	struct move_result res;
	bool unlock = false;
	int c, err;

	if (argc >= 2 && !strcmp(argv[1], "send"))
		return cmd_migrate_send(argc - 1, argv + 1);
	if (cli_wants_help(argc, argv, usage))
		return 0;
	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	verb = argv[1];
	if (strcmp(verb, "freeze") && strcmp(verb, "nudge") && strcmp(verb, "move"))
		return cli_error("migrate: unknown step '%s': freeze, nudge or move (the rest is tools/migrate.sh)",
				 verb), EXIT_USAGE;
	optind = 2;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'P':
			if (cli_parse_long(optarg, "--pid", 1, 1L << 30, &pid))
				return EXIT_USAGE;
			break;
		case 'i': dir = optarg; break;
		case 'u': unlock = true; break;
		case 'n': mo.to_netns = optarg; break;
		case 'F': mo.from_bpffs = optarg; break;
		case 'B': mo.to_bpffs = optarg; break;
		case 'w': mo.work = optarg; break;
		case 'f': mo.flip = optarg; break;
		case 'r': mo.route = optarg; break;
		case 'v': mo.via = optarg; break;
		case 'R': mo.route_netns = optarg; break;
		case 's': mo.send_to = optarg; break;
		case 'N': mo.nudge = false; break;
		case 'T':
			if (cli_parse_long(optarg, "--ttl", 0, 1L << 30, &mo.ttl))
				return EXIT_USAGE;
			break;
		case 'd':
			if (cli_parse_long(optarg, "--dupacks", 0, 100, &dupacks))
				return EXIT_USAGE;
			break;
		case 't':
			if (cli_parse_long(optarg, "--timeout-ms", 0, 1L << 30, &timeout_ms))
				return EXIT_USAGE;
			break;
		default:
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (pid <= 0)
		return cli_error("migrate %s needs --pid; see tcpferry migrate --help", verb), EXIT_USAGE;
	if (!strcmp(verb, "freeze")) {
		if (cli_need_cap(CAP_SYS_PTRACE, "migrate freeze"))
			return 1;
		return do_freeze(pid, timeout_ms);
	}
	if (!strcmp(verb, "nudge")) {
		if (!dir)
			return cli_error("migrate nudge needs --in DIR (the dump the connections came from)"), EXIT_USAGE;
		if (cli_need_cap(CAP_NET_RAW, "migrate nudge") || cli_need_cap(CAP_SYS_PTRACE, "migrate nudge"))
			return 1;
		return do_nudge(dir, pid, dupacks, unlock);
	}
	if (!strcmp(verb, "move")) {
		if (!mo.to_netns || !mo.work || (optind >= argc) == !mo.send_to)
			return cli_error("migrate move needs --to-netns, --work and either -- PROG or --send-to PATH; "
					 "see tcpferry migrate --help"), EXIT_USAGE;
		if (!mo.route != !mo.via)
			return cli_error("migrate move: --route PREFIX and --via ADDR go together"), EXIT_USAGE;
		mo.pid = pid;
		mo.cmd = optind < argc ? argv + optind : NULL;
		mo.freeze_timeout_ms = timeout_ms;
		mo.from_bpffs = mo.from_bpffs ? mo.from_bpffs : g.bpffs;
		mo.to_bpffs = mo.to_bpffs ? mo.to_bpffs : g.bpffs;
		if (cli_need_cap(CAP_NET_ADMIN, "migrate move") || cli_need_cap(CAP_SYS_PTRACE, "migrate move") ||
		    cli_need_cap(CAP_SYS_ADMIN, "migrate move (entering network namespaces)"))
			return 1;
		cli_raise_nofile();
		err = migrate_move(&mo, &res);
		mv_phase_report();	/* TCPFERRY_PHASES: the source's side (the target's prints its own) */
		if (err)
			return 1;
		print_move(&mo, &res);
		return 0;
	}
	return EXIT_USAGE;	/* not reached: the step was checked first */
}
