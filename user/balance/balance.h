/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The hand-off balancer's engine, below `tcpferry balance`: the config
 * (rules.h), one channel a backend (tcpferry.h: tf_backend_open), the
 * listeners, and one loop (reader.h) that reads each first request, routes
 * it (bal_route, then bal_pick) and hands the connection over
 * (tf_handoff_submit), with the backends' channels polled in the same loop.
 *
 * The first request is peeked, never read (reader.h): it is still in the
 * socket's receive queue when the hand-off dumps the socket, so the image
 * carries it and the backend's server reads it as if new.  The hand-off's
 * prepend is therefore empty (a prepend would put the request in twice).
 *
 *   no rule, no default      the config's default status (404 or 503), close
 *   a backend refuses        the next backend of the pool (bal_pick without
 *                            the ones tried); none left: 503 from here
 *   a channel down           that backend takes no hand-off (at start, or
 *                            broken later) until a thread of its own opened
 *                            it again (tried every 5 s, off the loop)
 *   in doubt (a lost LIVE)   the fd is closed here, silently (it is in
 *                            repair); its lock expires with the lock TTL
 *
 * A service is one loop in one thread, and all of its state is that
 * thread's: its config (a copy of its own, with its round robin scores and
 * leastconn counts), its channels (a tf_backend is not thread-safe), its
 * listeners.  balancer.h runs several side by side; another thread looks in
 * only under bal_service_lock().  bal_service_stop() may be called from a
 * signal handler; bal_service_run() then returns, and bal_service_free()
 * waits up to the hand-off timeout for those under way, then closes the
 * channels.
 */
#ifndef TF_BALANCE_BALANCE_H
#define TF_BALANCE_BALANCE_H

#include <stdbool.h>
#include <stdint.h>

#include "reader.h"
#include "rules.h"

struct bal_service_opts {
	const char *bpffs;		/* NULL: tcpferry's default */
	int handoff_timeout_ms;		/* each backend answer's deadline; 0: 2000 */
	unsigned lock_ttl_s;		/* 0: 30 */
	bool no_nudge;
	int loop;			/* > 0: one of a balancer's loops, "loop N" in its lines */
	struct bal_reader_opts reader;	/* first request: size and time limits */
};

struct bal_backend_counters {
	uint64_t submitted;		/* hand-offs started */
	uint64_t handed_off;		/* the backend has the connection */
	uint64_t refused;		/* given back (refused, no answer in time, channel broke) */
	uint64_t submit_failed;		/* refused before anything was sent (tuple steered, ...) */
	uint64_t in_doubt;
};

struct bal_service_counters {
	uint64_t no_match;		/* no rule, no default: the default status */
	uint64_t no_backend;		/* every backend of the pool down or refused: 503 */
	uint64_t retried;		/* hand-offs tried again on another backend */
	uint64_t handed_off;
};

struct bal_service;

/* Takes c (freed by bal_service_free); opens each backend's channel (one
 * that cannot be opened is down, with a warning, and tried again every 5 s).
 * Fails when none opened. */
int bal_service_new(struct bal_config *c, const struct bal_service_opts *o, struct bal_service **out);
/* A listener on "ADDR:PORT" or "[ADDR6]:PORT", with SO_REUSEPORT.  join:
 * another loop of this balancer listens there already (without it the
 * address must be free: -EADDRINUSE). */
int bal_service_listen(struct bal_service *s, const char *endpoint, bool join);
int bal_service_run(struct bal_service *s);
/*
 * New rules, pools and defaults from nc (a SIGHUP's reload): taken on
 * success (the rules' counts start again at 0; a hand-off under way that
 * is refused is retried in its pool of the same name, if there still is
 * one).  The backends must be the same lines (names, fields, channels, in
 * order): their channels stay as they are, and a change there is -EINVAL
 * with nothing changed (nc stays the caller's).
 */
int bal_service_reload(struct bal_service *s, struct bal_config *nc);
/* bal_service_reload's check alone: 0, or -EINVAL naming the backend. */
int bal_service_can_reload(const struct bal_service *s, const struct bal_config *nc);
/* Connections waiting for their first request. */
int bal_service_pending(const struct bal_service *s);
void bal_service_stop(struct bal_service *s);	/* async-signal-safe */
/* From another thread than the loop's: waits for the loop's sleep, holds it off (reader.h). */
void bal_service_lock(struct bal_service *s);
void bal_service_unlock(struct bal_service *s);
/* The hand-offs under way end (their answers, or their deadlines; none is
 * retried now), then the channels close; the counters stay (for a report). */
void bal_service_close_backends(struct bal_service *s);
void bal_service_free(struct bal_service *s);

const struct bal_config *bal_service_config(const struct bal_service *s);
const struct bal_service_counters *bal_service_counters(const struct bal_service *s);
const struct bal_reader_counters *bal_service_reader_counters(const struct bal_service *s);
/* Backend i (as in the config): its counters, and whether its channel is up
 * (after bal_service_close_backends: was up when closed). */
bool bal_service_backend(const struct bal_service *s, int i, struct bal_backend_counters *c);

#endif
