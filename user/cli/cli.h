/* SPDX-License-Identifier: BSD-2-Clause */
/* What the tcpferry command's files share: global options, output, errors. */
#ifndef TF_CLI_H
#define TF_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "json.h"

struct cli_globals {
	bool json;		/* -j: JSON output */
	bool pretty;		/* -p: indented JSON */
	int verbose;		/* -v */
	const char *bpffs;	/* --bpffs DIR or $TCPFERRY_BPFFS; default /sys/fs/bpf/tcpferry */
	const char *netns;	/* -n NETNS: entered before the command runs */
};
extern struct cli_globals g;

/* Exit codes: 0 ok, 1 failure, 2 bad usage. */
#define EXIT_USAGE 2

/* "tcpferry: <message>" on stderr (or {"error": ...} on stdout with -j); returns 1. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "tcpferry: <what>: <library's last error>"; returns 1. */
int cli_lib_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The move engine (user/move) reports through cli_error/cli_warn/cli_info. */
void cli_report_moves(void);

/* A move's report fields (migrate move, migrate send), inside an object j
 * has open: pids, counts, lock drops, then "ms": each phase and the locked window. */
struct move_report {
	long from_pid, to_pid;
	int connections, nudged;
	uint64_t dropped_from, dropped_to;
	const char *const *phase_names;
	const double *ms;
	int phases;
	double locked_window_ms;
};
void cli_json_move_report(struct json *j, const struct move_report *r);

/* Is cap in our effective set? */
bool cli_have_cap(int cap);
/* Says plainly which capability is missing; returns 0 if we have it. */
int cli_need_cap(int cap, const char *what);
/* caps.c: "net_admin,bpf" (capabilities(7)'s names, CAP_ optional) or "all"
 * into a mask; the mask's names back; keep only those (permitted, effective,
 * bounding; no_new_privs), in this thread and the ones made after.  0, or
 * -errno after one clear line. */
int cli_caps_parse(const char *list, uint64_t *keep);
int cli_caps_names(uint64_t keep, char *out, size_t size);
int cli_caps_limit(uint64_t keep, const char *what);

/* unix_listener.c (receive --listen-unix): accepts channels on PATH, each in
 * a child of its own; returns the channel's fd in the child, -EINTR in the
 * parent once stopped (SIGTERM, SIGINT), another negative errno after one
 * clear line. */
int cli_listen_unix(const char *path);

/* sd_notify.c: STATE ("READY=1") to systemd's $NOTIFY_SOCKET, if there is
 * one (Type=notify); 0 when sent or not asked for, else a negative errno. */
int cli_sd_notify(const char *state);

/* A JSON writer on stdout honouring -p, or NULL when not in -j mode. */
struct json *cli_json_open(void);
void cli_json_close(struct json *j);

/* OPTION's value as a number from min to max, or a usage error (-1). */
int cli_parse_long(const char *s, const char *what, long min, long max, long *out);
/* As many open files as the hard limit allows (1,000 connections and more). */
void cli_raise_nofile(void);

/* "12.3s" */
void cli_fmt_secs(char *buf, size_t len, uint64_t ns);
/* {"VERB": "WHAT"} with -j, else "VERB WHAT": what a verb did to one object. */
void cli_report_done(const char *verb, const char *what);
/* {"removed": N}, else "removed N NOUNs[ (expired)]": what a gc or flush removed. */
void cli_report_removed(unsigned removed, const char *noun, bool expired_only);

/* True if argv has -h/--help before any "--"; prints usage. */
bool cli_wants_help(int argc, char **argv, const char *usage);

/* Each command lives in cmd_<name>.c; main.c lists them (weakly, so a
 * command's file can be added without touching main.c's table). */
#define CLI_COMMANDS(X)							\
	X(dump,    "take established TCP sockets out of a process into images or a stream") \
	X(restore, "rebuild sockets from images and hand them to a program") \
	X(resume,  "undo a dump at the source: sockets out of repair, unlocked, process continued") \
	X(show,    "print an image, a dump directory or an image stream")	\
	X(check,   "what this kernel and machine support")		\
	X(attach,  "attach the lock programs to a device")		\
	X(detach,  "detach the lock programs from a device")		\
	X(status,  "devices, programs and maps in use")			\
	X(lock,    "lock, unlock and list connections by hand")		\
	X(steer,   "send a handed-off connection's client packets on to its backend")	\
	X(tswatch, "follow tsvals on the wire and report regressions")	\
	X(migrate, "move a process's connections to another host, step by step")	\
	X(receive, "the target of a move between hosts, or a hand-off service (on stdin and stdout)") \
	X(handoff, "give one connection to a backend host for good, and steer its client there") \
	X(balance, "a load balancer: read each first request, hand the connection to a backend")

#define X(name, summary) int cmd_##name(int argc, char **argv) __attribute__((weak));
CLI_COMMANDS(X)
#undef X
/* tcpferry migrate send (cmd_migrate_send.c): argv[0] is "send". */
int cmd_migrate_send(int argc, char **argv);

#endif
