/* SPDX-License-Identifier: BSD-2-Clause */
/* Reaching into a running process: pidfd, its fds, stopping and killing it. */
#ifndef TF_PROC_H
#define TF_PROC_H

#include <stdbool.h>
#include <sys/types.h>

/* pidfd of pid; "pid N: no such process" when it is gone. */
int tf_proc_open(pid_t pid);
/* The fd numbers the process has open, sorted; *fds is malloc'ed. */
int tf_proc_list_fds(pid_t pid, int **fds, int *n);
/* A copy of the process's fd in ours (pidfd_getfd). */
int tf_proc_getfd(int pidfd, pid_t pid, int fd);
/* SIGSTOP, and wait until every thread has stopped. */
int tf_proc_stop(int pidfd, pid_t pid);
int tf_proc_cont(int pidfd, pid_t pid);
/* SIGKILL, and wait until it is gone (its sockets closed). */
int tf_proc_kill(int pidfd, pid_t pid);

#endif
