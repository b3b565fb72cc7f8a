/* SPDX-License-Identifier: BSD-2-Clause */
/* tcpferry migrate move: a whole move between two network namespaces of this
 * machine, in one process (see migrate_move.c). */
#ifndef TF_MIGRATE_MOVE_H
#define TF_MIGRATE_MOVE_H

#include <stdbool.h>
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

/* 0 when the move is complete; 1 with the error printed. */
int migrate_move(const struct move_opts *o);

#endif
