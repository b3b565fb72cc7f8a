/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The locks that dump and restore take for the connections they move: the
 * table is opened (and created) on first use, the lock programs attached to
 * the device that carries each connection, and every lock taken remembered so
 * that a rollback can drop exactly those.
 */
#ifndef TF_CONN_LOCK_H
#define TF_CONN_LOCK_H

#include <stddef.h>
#include <stdint.h>

#include "lock.h"

struct conn_locks {
	const char *bpffs;	/* the host's pin directory */
	struct tf_locktab *t;
	struct tf_tuple *keys;	/* the locks this command holds */
	bool *adopted;		/* keys[i] was there before we came */
	int n, cap;
	uint8_t attached_peer[16];	/* the last peer we attached for */
	bool attached;
};

/*
 * The table open and the lock programs on the device towards c's peer,
 * without locking yet (a dump does this before it stops the process).
 * Prints the error; returns 0 or 1.
 */
int conn_locks_ready(struct conn_locks *l, const struct tf_conn *c);

/*
 * Lock c's tuple.  A lock that is there already (an orchestrator's, or the
 * dump's on a same-host move) is adopted, not refused.  Prints the error;
 * returns 0 or 1.
 */
int conn_locks_add(struct conn_locks *l, const struct tf_conn *c, enum tf_lock_reason why, uint64_t ttl_ns);
/*
 * Lock n tuples at once (tf_lock_add_bulk: one map update each, or the bulk
 * program for long lists), adopting those locked already as conn_locks_add
 * does.  The table must be open (conn_locks_ready).  Prints the error;
 * returns 0 or 1 (the locks taken so far are remembered for the rollback).
 */
int conn_locks_add_tuples(struct conn_locks *l, const struct tf_tuple *k, int n, enum tf_lock_reason why,
			  uint64_t ttl_ns);
/*
 * Drop the locks this command took (one batch delete); with adopted, also those it found (a
 * finished restore: their purpose is over).
 */
void conn_locks_release(struct conn_locks *l, bool adopted);
/*
 * After a failure: drop each lock this command took (not one it adopted) on
 * a 4-tuple that a live socket of this network namespace owns (sockdiag.h),
 * saying so; a lock there would drop that connection's packets.  Returns how
 * many it dropped.
 */
int conn_locks_release_owned(struct conn_locks *l);
/* How many of the locks held were taken here (adopted false) or found (true). */
int conn_locks_taken(const struct conn_locks *l, bool adopted);

/*
 * Before anything is locked: refuse if a live socket of this network
 * namespace owns any of the n connections' 4-tuples (at(arg, i, &name) gives
 * the i-th and, when name is not NULL, its name for the message).  Prints
 * one error naming the first, its owner, what was not done (done: "nothing
 * was locked or restored") and the way out (prefixed by what), and returns 1; 0 when none is owned, or when sock_diag cannot tell (a
 * warning: the kernel still refuses a taken tuple at connect()).
 */
typedef const struct tf_conn *(*conn_at_fn)(void *arg, size_t i, const char **name);
int conn_owners_check(size_t n, conn_at_fn at, void *arg, const char *what, const char *done);
/* The same, the line in msg instead of printed: 1 owned, 0 none, -errno could not tell (msg says why). */
int conn_owners_find(size_t n, conn_at_fn at, void *arg, const char *done, char *msg, size_t len);

/* Packets the locks this command holds have dropped so far, both ways. */
uint64_t conn_locks_dropped(const struct conn_locks *l);
/* Forget them (they stay in the table) and close the table. */
void conn_locks_done(struct conn_locks *l);


#endif
