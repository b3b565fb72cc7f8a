/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A restore job's sockets, live, to their new owner: a program started with
 * them (fds 3, 4, ... and LISTEN_FDS), or a running receiver over a unix
 * socket (SCM_RIGHTS).  The target's side of a move (receive, and so
 * migrate move); what names the command in the error lines.
 */
#ifndef TF_MOVE_HANDOVER_H
#define TF_MOVE_HANDOVER_H

#include <sys/types.h>

#include "restore_job.h"

/* CMD started in this namespace with the sockets; its pid, or -1 (reported). */
pid_t handover_exec(struct restore_job *rj, char **cmd, const char *what);
/* The sockets to the receiver connected on s (closed); its pid from
 * SO_PEERCRED (0 if unknown), or -1 (reported). */
pid_t handover_send(struct restore_job *rj, int s, const char *path, const char *what);

#endif
