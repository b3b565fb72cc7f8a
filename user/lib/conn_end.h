/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Told when watched TCP connections end (bpf/conn_end.bpf.c): a backend that
 * was handed connections watches each, and learns when its socket reaches
 * TCP_CLOSE (the last ACK of a close, an RST, a timeout; whoever closed
 * first), so that the frontend can drop its steer entry at once instead of
 * at the idle timeout.
 *
 * The program and its maps belong to the process that opened them (nothing
 * is pinned): when it exits, the watches go.  A watch is taken in the
 * calling thread's network namespace (its SO_NETNS_COOKIE).  Needs CAP_BPF
 * and CAP_PERFMON (root), and Linux 5.14 for SO_NETNS_COOKIE.
 */
#ifndef TF_CONN_END_H
#define TF_CONN_END_H

#include <stdint.h>

#include "tcpferry.h"

struct tf_conn_end_watcher;

struct tf_conn_end {
	struct tf_endpoint local, peer;
	uint64_t netns_cookie;
	uint64_t time_ns;		/* CLOCK_MONOTONIC */
	unsigned old_state;		/* the TCP state it closed from */
};

/* Load and attach; max_watches 0: 65536. */
int tf_conn_end_open(unsigned max_watches, struct tf_conn_end_watcher **w);
/* Watch local <-> peer in this thread's network namespace (-EEXIST: already). */
int tf_conn_end_watch(struct tf_conn_end_watcher *w, const struct tf_endpoint *local, const struct tf_endpoint *peer);
int tf_conn_end_unwatch(struct tf_conn_end_watcher *w, const struct tf_endpoint *local,
			const struct tf_endpoint *peer);
/* How many watches are there now. */
int tf_conn_end_watching(struct tf_conn_end_watcher *w);
/* A fd that is readable when ends are waiting (for poll/epoll). */
int tf_conn_end_fd(struct tf_conn_end_watcher *w);
/* Calls fn for each end reported, waiting up to timeout_ms for the first:
 * how many, or a negative errno. */
int tf_conn_end_poll(struct tf_conn_end_watcher *w, int timeout_ms,
		     void (*fn)(void *ctx, const struct tf_conn_end *e), void *ctx);
void tf_conn_end_close(struct tf_conn_end_watcher *w);

#endif
