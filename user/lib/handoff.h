/* SPDX-License-Identifier: BSD-2-Clause */
/* Giving restored sockets to a program: exec it, or pass them over a unix socket. */
#ifndef TF_HANDOFF_H
#define TF_HANDOFF_H

/*
 * Exec argv with fds[i] as fd 3+i and the systemd socket-activation variables
 * LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES (names[i], joined by ':').  Returns
 * only on failure.
 */
int tf_handoff_exec(const int *fds, const char *const *names, int n, char *const argv[]);

/*
 * Send the fds to a process listening on a unix stream socket, SCM_RIGHTS,
 * at most TF_HANDOFF_BATCH to a message.  Each message carries the text
 * "tcpferry-fds <count> <name> <name>...\n" beside its fds.
 */
#define TF_HANDOFF_BATCH 250
int tf_handoff_send(const char *path, const int *fds, const char *const *names, int n);

#endif
