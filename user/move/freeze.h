/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Stop a process (SIGSTOP) at a moment when every thread waits in poll,
 * select, epoll or a sleep, so a program like socat holds no bytes in its own
 * buffers: what its connections carry is all in the kernel, where a dump
 * finds it.
 */
#ifndef TF_FREEZE_H
#define TF_FREEZE_H

#include <sys/types.h>

/*
 * Stop and look, continue and retry, for up to timeout_ms.  0: left
 * stopped; 1: the error printed, the process running.  *tries: how many stops.
 */
int freeze_idle(int pidfd, pid_t pid, long timeout_ms, int *tries);

#endif
