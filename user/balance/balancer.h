/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A balancer is several loops side by side, one a CPU by default: each is
 * a bal_service (balance.h) in a thread of its own, with its own epoll
 * reader, its own SO_REUSEPORT listener on every address (the kernel
 * spreads the accepts by the 4-tuple's hash, so no loop hands connections
 * to another), its own channel to each backend (one `receive --serve` a
 * loop a backend: a tf_backend is not thread-safe, and a loop's hand-offs
 * then never wait for another's) and its own copy of the config.  The
 * loops share nothing while they run, so nothing a client does in one
 * loop delays another, and no lock is taken on the way of a connection.
 *
 * Load-balancing state is each loop's, as HAProxy's is each thread's:
 * roundrobin's scores and leastconn's counts see only that loop's
 * connections (over many, the kernel's even spread evens them out); the
 * hashes give the same backend in every loop.
 *
 * The calling thread runs a control loop (bal_balancer_watch: a status
 * socket, a SIGHUP pipe), which looks into the loops only between their
 * rounds (bal_service_lock).  Reloads and totals both run there, one at a
 * time, so totals never mix two generations of rules.
 */
#ifndef TF_BALANCE_BALANCER_H
#define TF_BALANCE_BALANCER_H

#include "balance.h"

/* At most: each loop opens its own channel to each backend (an ssh session, say). */
#define BAL_THREADS_MAX 256

struct bal_balancer_opts {
	struct bal_service_opts service;	/* each loop's (service.loop is set here) */
	int threads;				/* loops; 0: the CPUs this process may run on (at most BAL_THREADS_MAX) */
};

/* Counters summed over the loops (bal_balancer_totals). */
struct bal_backend_totals {
	struct bal_backend_counters c;
	unsigned live;				/* connections handed to it, in flight or live */
	int up;					/* loops whose channel to it is up */
	int healthy;				/* and its own check passes there */
};

/* One loop's share (how evenly the kernel spread the clients). */
struct bal_loop_totals {
	uint64_t accepted, pending, handed_off;
};

struct bal_totals {
	int threads;
	struct bal_loop_totals *loops;		/* by loop */
	uint64_t pending;
	struct bal_reader_counters reader;
	struct bal_service_counters service;
	struct bal_backend_totals *backends;	/* by the config's index */
	uint64_t *matches;			/* by rule */
};

struct bal_balancer;

/* Takes c; opens every loop's channels (a loop at a time, in this thread). */
int bal_balancer_new(struct bal_config *c, const struct bal_balancer_opts *o, struct bal_balancer **out);
/* A listener of each loop on "ADDR:PORT" or "[ADDR6]:PORT"; the address must be free. */
int bal_balancer_listen(struct bal_balancer *b, const char *endpoint);
/* fd in the control loop (readable: fn, in the thread of bal_balancer_run). */
int bal_balancer_watch(struct bal_balancer *b, int fd, bal_watch_fn fn, void *ctx);
/*
 * The loops start, and the control loop runs until bal_balancer_stop() (or
 * a loop's failure); then every loop ends its hand-offs under way and closes
 * its channels, each in its own thread, and this returns (0, or the first
 * loop's error).
 */
int bal_balancer_run(struct bal_balancer *b);
void bal_balancer_stop(struct bal_balancer *b);	/* async-signal-safe */
/*
 * nc's rules, pools and defaults into every loop (bal_service_reload), from
 * the control loop: checked once, copied for each loop, then swapped in
 * loop by loop.  Refused (a backend's line changed, no memory): no loop
 * changed, and nc stays the caller's.
 */
int bal_balancer_reload(struct bal_balancer *b, struct bal_config *nc);
/* The config's names and lines (for its counts: bal_balancer_totals), from the control loop's thread. */
const struct bal_config *bal_balancer_config(const struct bal_balancer *b);
int bal_balancer_threads(const struct bal_balancer *b);
/* Every loop's counters, summed (each loop's taken between its rounds). */
int bal_balancer_totals(struct bal_balancer *b, struct bal_totals *t);
void bal_totals_free(struct bal_totals *t);
void bal_balancer_free(struct bal_balancer *b);

#endif
