/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The backend's side of hand-offs (`tcpferry receive --serve`): one channel
 * from a frontend (tcpferry.h: tf_backend_open), kept open; on it any number
 * of connections offered, pipelined (proto.h: HO_OFFER ... HO_LIVE).  Each is
 * rebuilt in repair mode (refused if this host lacks its local address, the
 * VIP), taken out of repair and handed over at the frontend's COMMIT, and its
 * client nudged once the frontend steers it here (FLIPPED).  Its end is
 * reported back (HO_ENDED, from the conn_end tracepoint program) so the
 * frontend drops its steer.  The backend decides where sockets go: one
 * program per connection (inetd style), or a running server's unix socket.
 */
#ifndef TF_MOVE_HANDOFF_SERVE_H
#define TF_MOVE_HANDOFF_SERVE_H

#include <stdbool.h>
#include <stdint.h>

struct serve_opts {
	int in, out;			/* the channel (stdin, stdout) */
	char **each;			/* a program per connection, on fds 0, 1, 3 (LISTEN_FDS=1) */
	const char *send_to;		/* or: a running server's unix socket (tf_handoff_accept) */
	int output;			/* the programs' stdout and stderr; < 0: ours */
	int timeout_ms;			/* a built socket's longest wait for the frontend's step */
	bool no_conn_end;		/* do not watch the connections' ends */
	const char *check;		/* sh -c CHECK: this backend's health (health_check.h); NULL: none */
	int check_interval_ms;		/* 0: 2000 */
};

struct serve_stats {
	uint64_t offered, built, live, refused, discarded, ended;
};

/* Until the frontend closes the channel: 0, or 1 with the error reported (report.h). */
int handoff_serve(const struct serve_opts *o, struct serve_stats *st);

#endif
