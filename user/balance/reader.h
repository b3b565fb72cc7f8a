/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The balancer's front door: one epoll loop that accepts connections and
 * waits for each one's first request (first_request.h) without taking it
 * out of the socket (MSG_PEEK, edge-triggered: each new segment wakes the
 * loop once), so that whoever gets the connection next (a hand-off: the
 * request then travels in the restored receive queue) reads the whole
 * request as if it were new.  Nothing a client does blocks another: a slow
 * client costs a list entry and a peek per segment it sends.
 *
 * Every connection has the same deadline from its accept (opts.timeout_ms),
 * so the pending list in accept order is also in deadline order: expiry is
 * O(1) a connection.  The answers the reader gives by itself, and counts:
 *
 *   400  a malformed HTTP request line or head (FR_MALFORMED)
 *   408  no complete first request within the timeout (HTTP-looking: the
 *        status; anything else is closed)
 *   431  an HTTP head over opts.max_header bytes (FR_TOO_LARGE)
 *
 * A complete request goes to the decide callback, which owns the fd from
 * then on (it hands it off, answers it, or closes it).
 *
 * One reader is one thread's loop (a balancer runs several: balancer.h).
 * What the loop touches (its counters, and the decide and watch callbacks'
 * state) is the loop thread's while it works; another thread that wants to
 * read it takes bal_reader_lock(), which waits until the loop sleeps in
 * epoll_wait and keeps it from working until bal_reader_unlock(): a round
 * of events at most (the loop never blocks on a client, and lets a waiter
 * in before its next round, busy or not).
 */
#ifndef TF_BALANCE_READER_H
#define TF_BALANCE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "first_request.h"

struct bal_reader_opts {
	size_t max_header;		/* default 16384 */
	int timeout_ms;			/* default 10000 */
	int max_pending;		/* connections waiting for a request (default 65536) */
};

struct bal_reader_counters {
	uint64_t accepted, decided, closed_early;	/* closed early: by the client, before a request */
	uint64_t http, tls, other;			/* decided, by kind */
	uint64_t status_400, status_408, status_431;	/* answered and closed */
	uint64_t timeout_closed;			/* not HTTP, no request in time: closed */
	uint64_t closed_bad;				/* a malformed or oversized ClientHello: closed */
	uint64_t refused_full;				/* over max_pending: closed at once */
};

/* fd: the connection, nonblocking; r and bytes[0..len): what it sent so far
 * (still in the socket).  The callback owns fd from now on. */
typedef void (*bal_decide_fn)(void *ctx, int fd, const struct first_request *r, const uint8_t *bytes, size_t len);
/* For a connection that is neither HTTP nor TLS: wait for more of it (a
 * rule's prefix it has sent only the start of)?  The decide callback's ctx. */
typedef bool (*bal_more_fn)(void *ctx, const uint8_t *bytes, size_t len);

struct bal_reader;

int bal_reader_new(const struct bal_reader_opts *o, bal_decide_fn decide, void *ctx, struct bal_reader **out);
void bal_reader_set_more(struct bal_reader *rd, bal_more_fn more);
/* A listening socket (made nonblocking here); the caller keeps it open. */
int bal_reader_add_listener(struct bal_reader *rd, int fd);
/* The loop, until bal_reader_stop() (from any thread or a signal handler). */
int bal_reader_run(struct bal_reader *rd);
void bal_reader_stop(struct bal_reader *rd);
/*
 * Other fds in the same loop (a balancer's backend channels): fn(ctx, fd,
 * epoll events) when fd is ready for events (EPOLLIN, EPOLLOUT; level-
 * triggered).  Watching an fd watched already changes its events.
 * bal_reader_unwatch(rd, fd, closed): no more calls; closed says the fd was
 * closed already (its epoll entry went with it: nothing is asked of epoll,
 * so a new fd that took its number is left alone).
 */
typedef void (*bal_watch_fn)(void *ctx, int fd, uint32_t events);
int bal_reader_watch(struct bal_reader *rd, int fd, uint32_t events, bal_watch_fn fn, void *ctx);
void bal_reader_unwatch(struct bal_reader *rd, int fd, bool closed);
/* fn(ctx) every ms (at least; from the loop, between events): deadlines, gc. */
typedef void (*bal_tick_fn)(void *ctx);
void bal_reader_set_tick(struct bal_reader *rd, int ms, bal_tick_fn fn, void *ctx);
void bal_reader_lock(struct bal_reader *rd);
void bal_reader_unlock(struct bal_reader *rd);
const struct bal_reader_counters *bal_reader_counters(const struct bal_reader *rd);
int bal_reader_pending(const struct bal_reader *rd);
/* fd answered: our FIN now (shutdown), and what the client still sends is
 * read and dropped until its FIN or 2 s, then the close (a close with
 * unread bytes would be an RST that can destroy the answer).  Takes fd. */
void bal_reader_linger(struct bal_reader *rd, int fd);
/* Closes every connection still waiting or lingering (not the listeners). */
void bal_reader_free(struct bal_reader *rd);

#endif
