/* SPDX-License-Identifier: BSD-2-Clause */
/* tcpferry migrate move: a whole move between two network namespaces of this
 * machine, the move engine (send.h, receive.h) over a local channel (see
 * migrate_move.c). */
#ifndef TF_MIGRATE_MOVE_H
#define TF_MIGRATE_MOVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct move_opts {
	pid_t pid;			/* the process whose connections move */
	const char *to_netns;		/* name under /run/netns, or a path */
	const char *from_bpffs;		/* the source's pin directory */
	const char *to_bpffs;		/* the target's */
	const char *work;		/* tools/migrate.sh's work directory */
	const char *route, *via;	/* route PREFIX to replace, pointing it via ADDR, or NULL */
	const char *route_netns;	/* where that route is (NULL: here) */
	const char *flip;		/* shell command moving the traffic to the target, or NULL */
	long ttl;			/* lock expiry, seconds */
	long freeze_timeout_ms;
	bool nudge;
	char **cmd;			/* the program that gets the sockets */
	const char *send_to;		/* or: a running receiver's unix socket */
};

/* The phases of a move, in order; their times are in move_result.ms. */
enum move_phase { P_FREEZE, P_DUMP, P_RESTORE, P_ROUTE, P_FLIP, P_LIVE, P_UNLOCK, P_NUDGE, P_RETIRE, P_N };
extern const char *const move_phase_name[P_N];

struct move_result {
	pid_t to_pid;			/* the program (or receiver) that has the sockets */
	int connections;
	int nudged;			/* peers nudged after the unlock */
	uint64_t dropped_from, dropped_to;	/* packets each side's locks dropped */
	double ms[P_N];			/* each phase's time */
	double locked_window_ms;	/* from the first lock to the last unlock */
};

/*
 * The whole move.  The caller has checked the capabilities (CAP_NET_ADMIN,
 * CAP_SYS_PTRACE, CAP_SYS_ADMIN) and raised the open-file limit for many
 * connections.  0 when the move is complete (*res filled); 1 with the error
 * reported (report.h): before the commit everything is back at the source;
 * after it, in doubt as move_send says.  This process is left in PID's
 * network namespace.
 */
int migrate_move(const struct move_opts *o, struct move_result *res);

#endif
