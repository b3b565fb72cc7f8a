/* SPDX-License-Identifier: BSD-2-Clause */
/* Giving restored sockets to a program: exec it, or pass them over a unix socket. */
#ifndef TF_HANDOFF_H
#define TF_HANDOFF_H

#include <sys/types.h>

/*
 * Exec argv with fds[i] as fd 3+i and the systemd socket-activation variables
 * LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES (names[i], joined by ':').  Returns
 * only on failure.
 */
int tf_handoff_exec(const int *fds, const char *const *names, int n, char *const argv[]);

/*
 * Per connection, as inetd and systemd's Accept=yes do: a child for each
 * fds[i], running argv with that socket as fds 0, 1 and 3 (LISTEN_FDS=1,
 * LISTEN_FDNAMES=names[i]).  The caller's copies stay open: close them.
 * pids[i] is each child (-1 if its fork failed).  Returns how many started,
 * or a negative errno if none did.
 */
int tf_handoff_exec_each(const int *fds, const char *const *names, int n, char *const argv[], pid_t *pids);

/* Is argv[0] something execvp() would find?  0, or -ENOENT with a message. */
int tf_handoff_exec_check(char *const argv[]);

/*
 * Connect to a process listening on the unix stream socket path: done before
 * anything is restored, so a receiver that is not there costs nothing.
 */
int tf_handoff_connect(const char *path);

/*
 * Send the fds over the connected socket s, SCM_RIGHTS, at most
 * TF_HANDOFF_BATCH to a message.  Each message carries the text
 * "tcpferry-fds <count> <name> <name>...\n" beside its fds.  Closes s.
 */
#define TF_HANDOFF_BATCH 250
int tf_handoff_send(int s, const char *path, const int *fds, const char *const *names, int n);

#endif
