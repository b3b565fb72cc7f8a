/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A move channel to another host through a command: sh -c VIA runs with its
 * stdin and stdout on one end of a socketpair (ssh root@hostB tcpferry
 * receive ...), ours is the other.  Used by migrate send and by a hand-off
 * frontend's backends.  Or, on one machine, "unix:PATH": a connection to
 * the socket of a `tcpferry receive --listen-unix PATH` (no command).
 */
#ifndef TF_MOVE_CHANNEL_H
#define TF_MOVE_CHANNEL_H

#include <sys/types.h>

#include "proto.h"

/* Start VIA (in a process group of its own; unix:PATH: connect, *pid -1); c gets our end.  0 or a negative errno. */
int mv_chan_start(const char *via, int timeout_ms, struct mv_chan *c, pid_t *pid);
/* Close our end and reap the command (the whole group killed if it does not end within 2 s). */
void mv_chan_stop(struct mv_chan *c, pid_t *pid);
/* A broken channel: close our end and kill the command's group at once (no wait for a command that hangs). */
void mv_chan_kill(struct mv_chan *c, pid_t *pid);

#endif
