// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry [-j] [-p] [-v] [-n NETNS] [--bpffs DIR] COMMAND [ARGS]
 *
 * Global options may stand anywhere before a "--"; they are taken out of argv
 * before the command sees it.  Commands live one to a file (cmd_<name>.c).
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "phase.h"
#include "netns.h"
#include "tcpferry.h"

struct cli_globals g;

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

#define X(name, summary) { #name, cmd_##name, summary },
static const struct command commands[] = { CLI_COMMANDS(X) };
#undef X

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: tcpferry [-j] [-p] [-v] [-n NETNS] [--bpffs DIR] COMMAND [ARGS]\n"
		"       tcpferry COMMAND --help\n\n"
		"Move live TCP connections between processes and hosts.\n\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].fn)
			fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"\nGlobal options:\n"
		"  -j, --json      JSON output (errors too, as {\"error\": ...})\n"
		"  -p, --pretty    indented JSON (implies -j)\n"
		"  -v, --verbose   say more\n"
		"  -n, --netns NETNS  run in that network namespace (a name from ip netns,\n"
		"                  or a path such as /proc/PID/ns/net), keeping this host's\n"
		"                  mounts, so pins last (ip netns exec gives the command a\n"
		"                  /sys of its own, where a bpffs it mounts does not)\n"
		"  --bpffs DIR     where the pinned maps and links live\n"
		"                  (default $TCPFERRY_BPFFS or /sys/fs/bpf/tcpferry); a DIR\n"
		"                  that is no bpffs gets one mounted on it only if empty\n"
		"  -V, --version   print the version\n\n"
		"See tcpferry(8).\n");
}

/* -n NETNS: enter that network namespace, and only that one (as ip -n does). */
static int enter_netns(const char *name)
{
	char path[4096];
	int fd = netns_open(name, path, sizeof(path));

	if (fd < 0)
		return cli_error("netns %s: cannot open %s: %s; see ip netns list", name, path, strerror(-fd));
	if (setns(fd, CLONE_NEWNET)) {
		int err = errno;

		close(fd);
		return cli_error("netns %s: cannot enter it: %s%s", name, strerror(err),
				 err == EPERM ? " (needs CAP_SYS_ADMIN: run as root)" : "");
	}
	close(fd);
	return 0;
}

/* Take the global options out of argv (up to "--"); returns the new argc, or -1 (said). */
static int take_globals(int argc, char **argv)
{
	int out = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--")) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if (!strcmp(a, "-j") || !strcmp(a, "--json")) {
			g.json = true;
		} else if (!strcmp(a, "-p") || !strcmp(a, "--pretty")) {
			g.json = g.pretty = true;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			g.verbose++;
		} else if (!strcmp(a, "-n") || !strcmp(a, "--netns") || !strcmp(a, "--bpffs")) {
			/* The next word is the value, even one that looks like an option. */
			if (i + 1 >= argc || !strcmp(argv[i + 1], "--"))
				return cli_error("%s needs a value (%s); see tcpferry --help", a,
						 a[2] == 'b' ? "a pin directory" : "a network namespace"), -1;
			if (a[2] == 'b')
				g.bpffs = argv[++i];
			else
				g.netns = argv[++i];
		} else if (!strncmp(a, "--netns=", 8)) {
			g.netns = a + 8;
		} else if (!strncmp(a, "--bpffs=", 8)) {
			g.bpffs = a + 8;
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	return out;
}

int main(int argc, char **argv)
{
	const char *env = getenv("TCPFERRY_BPFFS");

	mv_phase_start();
	g.bpffs = env && *env ? env : "/sys/fs/bpf/tcpferry";
	argc = take_globals(argc, argv);
	if (argc < 0)
		return EXIT_USAGE;
	cli_report_moves();	/* after -v and -j: the reporter takes them */
	if (!*g.bpffs)
		return cli_error("--bpffs needs a directory, not an empty value; see tcpferry --help"), EXIT_USAGE;
	if (g.netns && !*g.netns)
		return cli_error("-n needs a network namespace, not an empty value; see ip netns list"), EXIT_USAGE;
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("tcpferry %s\n", TF_VERSION);
		return 0;
	}
	if (g.netns && enter_netns(g.netns))
		return 1;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		if (!commands[i].fn)
			return cli_error("%s: not built into this tcpferry", argv[1]);
		return commands[i].fn(argc - 1, argv + 1);
	}
	cli_error("unknown command '%s'; see tcpferry --help", argv[1]);
	return EXIT_USAGE;
}
