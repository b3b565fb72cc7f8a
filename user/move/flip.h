/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The user's --flip: a shell command that moves the traffic (a route, an
 * address) to the target once both ends are locked.  what names the command
 * in the error lines.
 */
#ifndef TF_MOVE_FLIP_H
#define TF_MOVE_FLIP_H

#include <sys/types.h>

pid_t flip_start(const char *flip, const char *what);
/* 0 when it exited 0; 1 with the error reported. */
int flip_wait(pid_t p, const char *flip, const char *what);
/* Both: start it and wait. */
int flip_run(const char *flip, const char *what);

#endif
