/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The target's side of a move (`tcpferry receive`): it speaks the move
 * protocol (proto.h) on a channel whose other end is the source's `tcpferry
 * migrate send`, in this host's network namespace, and writes each step to
 * its journal (journal.h) before taking it.
 */
#ifndef TF_MOVE_RECEIVE_H
#define TF_MOVE_RECEIVE_H

#include <stdbool.h>

struct receive_opts {
	int in, out;			/* the channel (stdin, stdout) */
	const char *bpffs;		/* this host's pin directory */
	const char *journal_dir;	/* where the moves' journals go */
	int timeout_ms;			/* the longest wait for the source's next message */
	bool freebind;			/* restore even if a local address is not here yet */
	int output;			/* the program's stdout and stderr (not the channel's
					 * session); < 0: ours */
	const char *pid_file;		/* or NULL: the new owner's pid written there (a line)
					 * once it has the sockets, before the unlock */
	const char *log_dir;		/* or NULL: the timestamps chosen appended to
					 * LOG_DIR/restore.log after the commit (restore_log.h) */
	/* Where the sockets may go (the source names it): NULL-terminated lists
	 * of the programs (argv[0] exactly) and receivers' socket paths this
	 * host allows; both NULL: anything the source names. */
	const char *const *allow_exec;
	const char *const *allow_send_to;
};

struct receive_result {
	char id[48];			/* the move's id */
	char state[32];			/* its journal's last state */
	int pid;			/* who has the sockets (committed) */
	int connections;
	/* When the commit's steps began (mv_now_ms), set before COMMITTED is
	 * sent: out of repair, unlocked, nudged. */
	double live_at, unlock_at, nudge_at;
};

/*
 * One move, from HELLO to DONE.  0 when the move committed here; 1 with the
 * error reported (report.h) and told to the source: the repaired sockets
 * closed (still in repair: silently), the locks dropped when the source said
 * the traffic had not moved, kept to their expiry otherwise.
 */
int move_receive(const struct receive_opts *o, struct receive_result *res);

#endif
