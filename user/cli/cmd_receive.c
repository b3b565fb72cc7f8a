// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry receive: the target of a move between hosts.  It speaks the move
 * protocol (user/move/proto.h) on its stdin and stdout, so the transport is
 * whatever joins the hosts: `tcpferry migrate send --via 'ssh root@hostB
 * tcpferry receive'` (ssh authenticates and encrypts), or a unix socket.
 * Nothing of it listens on the network.  --status tells how a move ended
 * here, from its journal (user/move/journal.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>

#include "cli.h"
#include "tcpferry.h"
#include "handoff.h"
#include "handoff_serve.h"
#include "journal.h"
#include "phase.h"
#include "receive.h"

#define RECEIVE_JOURNAL MV_JOURNAL_DIR "/received"
#define ALLOW_MAX 64

static const char usage[] =
	"Usage: tcpferry receive [--journal DIR] [--timeout-ms MS] [--freebind] [--output FILE]\n"
	"                        [--allow PROG]... [--allow-send-to PATH]... [--listen-unix PATH]\n"
	"       tcpferry receive --status [ID] [--journal DIR]\n"
	"       tcpferry receive --serve [--output FILE] [--timeout-ms MS] [--no-conn-end]\n"
	"                        [--listen-unix PATH] [--check CMD [--check-interval-ms MS]]\n"
	"                        (--send-to PATH | --each -- PROG ARGS...)\n"
	"\n"
	"The target of a move between hosts: speaks the move protocol on stdin and\n"
	"stdout with the source's `tcpferry migrate send`, which starts it through\n"
	"its --via command, e.g.\n"
	"    tcpferry migrate send --pid PID --via 'ssh root@hostB tcpferry receive' -- PROG\n"
	"It checks that this host has each connection's local address, that no\n"
	"live socket here owns one of the tuples (the lock would drop its packets),\n"
	"and the program (or receiver) the sockets go to, attaches the lock programs and\n"
	"locks every tuple before the source freezes anything, validates every\n"
	"image, rebuilds the sockets in repair mode, and on the source's commit\n"
	"takes them out of repair, hands them to the program (fds 3, 4, ... and\n"
	"LISTEN_FDS, as restore -- PROG) or to a running receiver (--send-to,\n"
	"given at the source), unlocks and nudges the peers.  Until the commit,\n"
	"any failure (here, at the source, the channel cut) closes what was built\n"
	"here without a FIN or RST and the source resumes; the locks taken here\n"
	"then stay to their expiry if the source's --flip ran.  Lines go to\n"
	"stderr (through ssh, to the source's terminal).\n"
	"\n"
	"  --journal DIR     each move's steps, DIR/ID.state (default " RECEIVE_JOURNAL ")\n"
	"  --timeout-ms MS   the longest wait for the source's next message before\n"
	"                    the commit is asked for (default 30000)\n"
	"  --freebind        rebuild even where a local address is not (yet) here\n"
	"                    (IPv6 only: an IPv4 connect needs the address here)\n"
	"  --allow PROG      hand sockets only to this program (an absolute path, as\n"
	"                    the source's -- PROG must name it; repeat for more);\n"
	"  --allow-send-to PATH  only to the receiver listening on PATH (repeat);\n"
	"                    with neither, whatever the source names, run as the\n"
	"                    user ssh logged in: in an authorized_keys forced command\n"
	"                    (command=\"tcpferry receive --allow /usr/bin/socat\") they\n"
	"                    limit what the key can do\n"
	"  --output FILE     the program's stdout and stderr, appended (default\n"
	"                    /dev/null: it outlives the channel's session)\n"
	"  --status [ID]     how move ID ended here (its last step: committed,\n"
	"                    aborted, or where it stopped); without ID, every move\n"
	"                    in the journal.  -j for JSON.  Exit 0, or 1 if unknown\n"
	"  --listen-unix PATH  channels from this machine on a unix socket (mode 0600;\n"
	"                    peers root or this user) instead of stdin and stdout:\n"
	"                    the source's --via (or a backend's) is unix:PATH; each\n"
	"                    channel is served by a child of its own; SIGTERM removes\n"
	"                    the socket (the channels under way go on)\n"
	"\n"
	"--serve: a hand-off service for a frontend (a load balancer) that keeps\n"
	"this channel open (tcpferry handoff, or tf_backend_open in libtcpferry):\n"
	"each connection it offers is rebuilt here in repair mode (refused if this\n"
	"host lacks its local address: the VIP, on lo), and at its commit taken\n"
	"out of repair and given to one program per connection on fds 0, 1 and 3\n"
	"(--each, as inetd and systemd's Accept=yes: busybox httpd -i, socat) or\n"
	"to a running server's unix socket (--send-to, tf_handoff_accept); the\n"
	"client is nudged once the frontend steers it here, and its end is\n"
	"reported back so the frontend drops its steer.  Ends when the frontend\n"
	"closes the channel; what was built and not committed is closed silently.\n"
	"  --each -- PROG    the program for each connection (after --, with its arguments)\n"
	"  --send-to PATH    the running server's socket instead\n"
	"  --timeout-ms MS   how long a built connection waits for its commit\n"
	"  --no-conn-end     do not report ends (the frontend's steers end by idle timeout)\n"
	"  --check CMD       this backend's health: sh -c CMD every interval (exit 0:\n"
	"                    healthy; e.g. curl -sf http://127.0.0.1:8080/health); the\n"
	"                    first run decides, then 2 runs in a row change it; the\n"
	"                    frontend hands off nothing here while it fails\n"
	"  --check-interval-ms MS  how often (default 2000; a run past it fails)\n";

static void print_state(struct json *j, const char *id, const struct mv_journal_state *st)
{
	if (j) {
		json_object_start(j);
		json_string_field(j, "id", id);
		json_string_field(j, "state", st->state);
		json_uint_field(j, "time_ns", st->time_ns);
		json_string_field(j, "detail", st->detail);
		json_uint_field(j, "steps", st->steps);
		json_object_end(j);
	} else {
		printf("%s\t%s%s%s\n", id, st->state, st->detail[0] ? "\t" : "", st->detail);
	}
}

static int status(const char *dir, const char *id)
{
	struct mv_journal_state st;
	struct json *j;
	struct dirent *e;
	DIR *d;
	int err;

	if (id) {
		err = mv_journal_read(dir, id, &st);
		if (err)
			return cli_lib_error(err, "receive --status %s: no such move here", id);
		j = cli_json_open();
		print_state(j, id, &st);
		cli_json_close(j);
		return 0;
	}
	d = opendir(dir);
	j = cli_json_open();
	if (j)
		json_array_start(j);
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char name[256];

		if (n < 7 || strcmp(e->d_name + n - 6, ".state"))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(n - 6), e->d_name);
		if (!mv_journal_read(dir, name, &st))
			print_state(j, name, &st);
	}
	if (j)
		json_array_end(j);
	cli_json_close(j);
	if (d)
		closedir(d);
	return 0;
}

int cmd_receive(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "journal", required_argument, NULL, 'J' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "freebind", no_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },
		{ "allow", required_argument, NULL, 'a' },
		{ "allow-send-to", required_argument, NULL, 'A' },
		{ "status", no_argument, NULL, 'S' },
		{ "serve", no_argument, NULL, 's' },
		{ "each", no_argument, NULL, 'E' },
		{ "send-to", required_argument, NULL, 'D' },
		{ "no-conn-end", no_argument, NULL, 'C' },
		{ "listen-unix", required_argument, NULL, 'U' },
		{ "check", required_argument, NULL, 'K' },
		{ "check-interval-ms", required_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct receive_opts o = { .bpffs = g.bpffs, .journal_dir = RECEIVE_JOURNAL, .timeout_ms = 30000 };
	struct receive_result res;
	const char *output = "/dev/null";
	const char *allow[ALLOW_MAX + 1] = {}, *allow_send_to[ALLOW_MAX + 1] = {};
	int n_allow = 0, n_allow_send_to = 0;
	bool want_status = false, serve = false, each = false, no_conn_end = false;
	const char *send_to = NULL, *listen_unix = NULL, *check = NULL;
	long timeout = o.timeout_ms, check_interval = 0;
	int c, null;

	if (cli_wants_help(argc, argv, usage))
		return 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'J': o.journal_dir = optarg; break;
		case 'F': o.freebind = true; break;
		case 'o': output = optarg; break;
		case 'a':
			if (optarg[0] != '/')
				return cli_error("receive --allow %s: give the program's absolute path (as the source "
						 "must name it)", optarg), EXIT_USAGE;
			if (n_allow == ALLOW_MAX)
				return cli_error("receive: at most %d --allow", ALLOW_MAX), EXIT_USAGE;
			allow[n_allow++] = optarg;
			break;
		case 'A':
			if (n_allow_send_to == ALLOW_MAX)
				return cli_error("receive: at most %d --allow-send-to", ALLOW_MAX), EXIT_USAGE;
			allow_send_to[n_allow_send_to++] = optarg;
			break;
		case 'S': want_status = true; break;
		case 's': serve = true; break;
		case 'E': each = true; break;
		case 'D': send_to = optarg; break;
		case 'C': no_conn_end = true; break;
		case 'U': listen_unix = optarg; break;
		case 'K': check = optarg; break;
		case 'I':
			if (cli_parse_long(optarg, "--check-interval-ms", 100, 3600000, &check_interval))
				return EXIT_USAGE;
			break;
		case 't':
			if (cli_parse_long(optarg, "--timeout-ms", 1, 1L << 30, &timeout))
				return EXIT_USAGE;
			o.timeout_ms = timeout;
			break;
		default:
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (n_allow || n_allow_send_to) {
		o.allow_exec = allow;
		o.allow_send_to = allow_send_to;
	}
	if (want_status) {
		if (optind + 1 < argc)
			return cli_error("receive --status takes one move id; see tcpferry receive --help"), EXIT_USAGE;
		return status(o.journal_dir, optind < argc ? argv[optind] : NULL);
	}
	if ((each || send_to || no_conn_end || check || check_interval) && !serve)
		return cli_error("receive: --each, --send-to, --no-conn-end and --check are options of --serve"),
		       EXIT_USAGE;
	if (check_interval && !check)
		return cli_error("receive --serve: --check-interval-ms without --check CMD"), EXIT_USAGE;
	if (serve && !!each == !!send_to)
		return cli_error("receive --serve: give where the connections go: --send-to PATH or --each -- PROG"),
		       EXIT_USAGE;
	if (each && optind >= argc)
		return cli_error("receive --serve --each: the program is missing (after --)"), EXIT_USAGE;
	if (serve && !each && optind < argc)
		return cli_error("receive --serve: unexpected argument '%s'", argv[optind]), EXIT_USAGE;
	if (each && tf_handoff_exec_check(argv + optind))
		return cli_error("receive --serve --each: %s", tf_strerror()), EXIT_USAGE;
	if (!serve && optind < argc)
		return cli_error("receive: unexpected argument '%s' (the program for the sockets is given at the "
				 "source: migrate send ... -- PROG)", argv[optind]), EXIT_USAGE;
	if (!listen_unix && isatty(0))
		return cli_error("receive: stdin is a terminal; it speaks the move protocol with `tcpferry "
				 "migrate send --via '... tcpferry receive'`, not with a person"), EXIT_USAGE;
	if (cli_need_cap(CAP_NET_ADMIN, "receive") || cli_need_cap(CAP_BPF, "receive"))
		return 1;
	cli_raise_nofile();
	if (listen_unix) {
		/* Each channel in a child of its own; the parent returns when stopped. */
		int fd = cli_listen_unix(listen_unix);

		if (fd < 0)
			return fd == -EINTR ? 0 : 1;
		o.in = o.out = fd;
	} else {
		/* The channel keeps stdin and stdout; what else this process or its
		 * children print goes to stderr, and a program the sockets go to does
		 * not inherit the channel. */
		o.in = fcntl(0, F_DUPFD_CLOEXEC, 3);
		o.out = fcntl(1, F_DUPFD_CLOEXEC, 3);
	}
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (o.in < 0 || o.out < 0 || null < 0 || dup2(null, 0) < 0 || dup2(2, 1) < 0)
		return cli_error("receive: setting up the channel on stdin/stdout failed");
	close(null);
	o.output = open(output, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (o.output < 0)
		return cli_error("receive --output %s: %s", output, strerror(errno));
	g.json = false;		/* stdout is the channel's */
	if (serve) {
		struct serve_opts so = { .in = o.in, .out = o.out, .each = each ? argv + optind : NULL,
					 .send_to = send_to, .output = o.output, .timeout_ms = o.timeout_ms,
					 .no_conn_end = no_conn_end, .check = check,
					 .check_interval_ms = (int)check_interval };
		struct serve_stats st;

		c = handoff_serve(&so, &st);
		if (g.verbose)
			cli_info("receive --serve: %llu offered, %llu built, %llu live, %llu refused, %llu discarded, "
				 "%llu ended", (unsigned long long)st.offered, (unsigned long long)st.built,
				 (unsigned long long)st.live, (unsigned long long)st.refused,
				 (unsigned long long)st.discarded, (unsigned long long)st.ended);
		return c ? 1 : 0;
	}
	c = move_receive(&o, &res);
	mv_phase_report();	/* TCPFERRY_PHASES: on stderr, through ssh to the source's terminal */
	if (c)
		return 1;
	if (g.verbose)
		cli_info("receive %s: committed: %d connection(s) to pid %d", res.id, res.connections, res.pid);
	return 0;
}
