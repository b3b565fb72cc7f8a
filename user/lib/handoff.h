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
