// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry migrate send: a whole move to another machine over a channel to
 * its `tcpferry receive` (user/move/send.c): parse, call move_send, print.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>

#include "cli.h"
#include "journal.h"
#include "phase.h"
#include "send.h"

#define SEND_JOURNAL MV_JOURNAL_DIR "/sent"

static const char usage[] =
	"Usage: tcpferry migrate send --pid PID --via CMD [--flip CMD [--unflip CMD]]\n"
	"                [--ttl SEC] [--timeout-ms MS] [--reply-timeout-ms MS]\n"
	"                [--journal DIR] [--no-nudge] [--no-probe]\n"
	"                {-- PROG [ARGS]... | --send-to PATH}\n"
	"\n"
	"Move PID's connections to another machine.  CMD (run with sh -c) is any\n"
	"command whose stdin and stdout reach `tcpferry receive` there:\n"
	"    --via 'ssh root@hostB tcpferry receive'\n"
	"(ssh authenticates and encrypts; tcpferry must be installed on both\n"
	"hosts, the same version).  In order: the channel starts and the target\n"
	"checks it has each local address and PROG (or PATH); it attaches its lock\n"
	"programs and locks every tuple, all before PID is frozen.  Then PID is\n"
	"stopped at an idle moment, its connections locked, dumped and sent; the\n"
	"target validates every image and rebuilds the sockets in repair mode;\n"
	"--flip runs here and moves the traffic (a route, an address: e.g.\n"
	"'ssh root@router ip route replace ...'); then the commit: the target takes\n"
	"the sockets out of repair, starts PROG with them as fds 3, 4, ...\n"
	"(LISTEN_FDS) or passes them to the receiver listening on PATH there,\n"
	"unlocks and nudges the peers; PID is killed (silently: its sockets are in\n"
	"repair mode) and unlocked here.\n"
	"\n"
	"Failures: before the commit, any failure here, at the target or of the\n"
	"channel puts everything back here (PID continues, its locks dropped, the\n"
	"target's sockets closed without a FIN or RST, --unflip run if --flip ran).\n"
	"After it, PID is never resumed.  If the channel breaks while the commit is\n"
	"in flight, PID stays stopped and locked and the move is in doubt: the\n"
	"error says how to ask the target (`tcpferry receive --status ID`) and how\n"
	"to settle it either way.  Exit 0 moved, 1 not moved (or in doubt: said).\n"
	"\n"
	"  --ttl SEC              lock expiry on both hosts (default 30; 0 never)\n"
	"  --timeout-ms MS        how long to try to stop PID idle (default 2000)\n"
	"  --reply-timeout-ms MS  the longest wait for each of the target's answers\n"
	"                         (default 10000)\n"
	"  --journal DIR          this side's journal (default " SEND_JOURNAL ")\n"
	"  -j                     JSON: the move's id, target, pids, counts, each\n"
	"                         phase's time and the locked window (ms)\n";

static void print_send(pid_t pid, const struct send_result *r)
{
	struct json *j = cli_json_open();

	if (!j) {
		printf("moved %d connection(s) of pid %d to %s (pid %d); locked window %.3f ms\n",
		       r->connections, pid, r->target_host, r->to_pid, r->locked_window_ms);
		return;
	}
	json_object_start(j);
	json_string_field(j, "id", r->id);
	json_string_field(j, "target", r->target_host);
	cli_json_move_report(j, &(struct move_report){
		.from_pid = pid, .to_pid = r->to_pid, .connections = r->connections, .nudged = r->nudged,
		.dropped_from = r->dropped_from, .dropped_to = r->dropped_to, .phase_names = send_phase_name,
		.ms = r->ms, .phases = S_N, .locked_window_ms = r->locked_window_ms });
	json_object_end(j);
	cli_json_close(j);
}

int cmd_migrate_send(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'P' },
		{ "via", required_argument, NULL, 'v' },
		{ "flip", required_argument, NULL, 'f' },
		{ "unflip", required_argument, NULL, 'u' },
		{ "ttl", required_argument, NULL, 'T' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "reply-timeout-ms", required_argument, NULL, 'r' },
		{ "journal", required_argument, NULL, 'J' },
		{ "send-to", required_argument, NULL, 's' },
		{ "no-nudge", no_argument, NULL, 'N' },
		{ "no-probe", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct send_opts o = { .ttl = 30, .freeze_timeout_ms = 2000, .timeout_ms = 10000, .nudge = true,
			       .probe = true, .bpffs = g.bpffs, .journal_dir = SEND_JOURNAL };
	struct send_result res;
	long pid = 0, v;
	int c;

	if (cli_wants_help(argc, argv, usage))
		return 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'P':
			if (cli_parse_long(optarg, "--pid", 1, 1L << 30, &pid))
				return EXIT_USAGE;
			break;
		case 'v': o.via = optarg; break;
		case 'f': o.flip = optarg; break;
		case 'u': o.unflip = optarg; break;
		case 'J': o.journal_dir = optarg; break;
		case 's': o.send_to = optarg; break;
		case 'N': o.nudge = false; break;
		case 'p': o.probe = false; break;
		case 'T':
			if (cli_parse_long(optarg, "--ttl", 0, 1L << 30, &o.ttl))
				return EXIT_USAGE;
			break;
		case 't':
			if (cli_parse_long(optarg, "--timeout-ms", 0, 1L << 30, &o.freeze_timeout_ms))
				return EXIT_USAGE;
			break;
		case 'r':
			if (cli_parse_long(optarg, "--reply-timeout-ms", 1, 1L << 30, &v))
				return EXIT_USAGE;
			o.timeout_ms = v;
			break;
		default:
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	o.cmd = optind < argc ? argv + optind : NULL;
	if (pid <= 0 || !o.via || !*o.via || !o.cmd == !o.send_to)
		return cli_error("migrate send needs --pid, --via CMD and either -- PROG or --send-to PATH; see "
				 "tcpferry migrate send --help"), EXIT_USAGE;
	if (o.unflip && !o.flip)
		return cli_error("migrate send: --unflip undoes --flip, which is not given"), EXIT_USAGE;
	if (cli_need_cap(CAP_NET_ADMIN, "migrate send") || cli_need_cap(CAP_SYS_PTRACE, "migrate send"))
		return 1;
	cli_raise_nofile();
	o.pid = pid;
	c = move_send(&o, &res);
	mv_phase_report();	/* TCPFERRY_PHASES */
	if (c)
		return 1;
	print_send(o.pid, &res);
	return 0;
}
