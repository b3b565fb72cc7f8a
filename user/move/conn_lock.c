// SPDX-License-Identifier: BSD-2-Clause
/* Locks held on behalf of dump and restore (see conn_lock.h). */
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "report.h"
#include "conn_lock.h"

int conn_locks_ready(struct conn_locks *l, const struct tf_conn *c)
{
	char tuple[TF_TUPLESTRLEN], ifname[32];
	struct tf_tuple k;
	int err;

	err = tf_tuple_make(&c->local, &c->peer, &k);
	if (err)
		return mv_lib_error(err, "lock");
	tf_tuple_str(&k, tuple, sizeof(tuple));
	if (!l->bpffs)
		return mv_error("lock %s: no pin directory given (the caller's bpffs)", tuple);
	if (!l->t) {
		err = tf_locktab_open(l->bpffs, true, 0, &l->t);
		if (err)
			return mv_lib_error(err, "lock %s", tuple);
	}
	/* A lock only works where the programs run: on the peer's device.
	 * Connections of one process mostly share a peer: look it up once. */
	if (!l->attached || memcmp(&l->attached_peer, c->peer.addr, sizeof(c->peer.addr))) {
		err = tf_attach_for_peer(l->bpffs, &c->peer, ifname);
		if (err)
			return mv_lib_error(err, "lock %s", tuple);
		memcpy(&l->attached_peer, c->peer.addr, sizeof(c->peer.addr));
		l->attached = true;
	}
	return 0;
}

int conn_locks_add(struct conn_locks *l, const struct tf_conn *c, enum tf_lock_reason why, uint64_t ttl_ns)
{
	char tuple[TF_TUPLESTRLEN];
	struct tf_tuple k;
	int err;

	if (conn_locks_ready(l, c))
		return 1;
	tf_tuple_make(&c->local, &c->peer, &k);
	tf_tuple_str(&k, tuple, sizeof(tuple));
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 16;
		struct tf_tuple *nk = realloc(l->keys, cap * sizeof(*nk));
		bool *na = nk ? realloc(l->adopted, cap * sizeof(*na)) : NULL;

		if (nk)
			l->keys = nk;
		if (!na)
			return mv_error("lock %s: no memory", tuple);
		l->adopted = na;
		l->cap = cap;
	}
	/* A lock already there is adopted, and must hold at least as long as ours would have. */
	for (int tries = 0; tries < 3; tries++) {
		err = tf_lock_add(l->t, &k, why, ttl_ns);
		l->adopted[l->n] = err == -EEXIST;
		if (err != -EEXIST)
			break;
		err = tf_lock_extend(l->t, &k, ttl_ns);
		if (err != -ENOENT)	/* -ENOENT: it went meanwhile; take our own */
			break;
	}
	if (!err && l->adopted[l->n] && mv_verbose())
		mv_info("lock %s: adopting the lock already there", tuple);
	if (err)
		return mv_lib_error(err, "lock %s", tuple);
	l->keys[l->n++] = k;
	return 0;
}

static int grow(struct conn_locks *l, int more)
{
	int cap = l->cap ? l->cap : 16;
	struct tf_tuple *nk;
	bool *na;

	while (cap < l->n + more)
		cap *= 2;
	if (cap == l->cap)
		return 0;
	nk = realloc(l->keys, cap * sizeof(*nk));
	if (nk)
		l->keys = nk;
	na = nk ? realloc(l->adopted, cap * sizeof(*na)) : NULL;
	if (!na)
		return -ENOMEM;
	l->adopted = na;
	l->cap = cap;
	return 0;
}

int conn_locks_add_tuples(struct conn_locks *l, const struct tf_tuple *k, int n, enum tf_lock_reason why,
			  uint64_t ttl_ns)
{
	char tuple[TF_TUPLESTRLEN];
	int *res, r, err = 0;

	if (n <= 0)
		return 0;
	if (!l->t)
		return mv_error("lock %d connections: the lock table is not open (conn_locks_ready first)", n);
	res = malloc(n * sizeof(*res));
	if (!res || grow(l, n)) {
		free(res);
		return mv_error("lock %d connections: no memory", n);
	}
	/* All or none: a failure here adds nothing. */
	r = tf_lock_add_bulk(l->t, k, n, why, ttl_ns, res);
	if (r < 0) {
		free(res);
		return mv_lib_error(r, "lock %d connections", n);
	}
	/* Ours first, so that a rollback drops them even if an adoption below fails. */
	for (int i = 0; i < n; i++)
		if (res[i] == 0) {
			l->adopted[l->n] = false;
			l->keys[l->n++] = k[i];
		}
	/* A lock already there is adopted, and must hold at least as long as ours would have. */
	for (int i = 0; i < n && !err; i++) {
		bool own = false;

		if (res[i] == 0)
			continue;
		tf_tuple_str(&k[i], tuple, sizeof(tuple));
		for (int tries = 0; tries < 3; tries++) {
			err = tf_lock_extend(l->t, &k[i], ttl_ns);
			if (err != -ENOENT)
				break;
			err = tf_lock_add(l->t, &k[i], why, ttl_ns);	/* it went meanwhile: take our own */
			own = !err;
			if (err != -EEXIST)
				break;
		}
		if (err) {
			mv_lib_error(err, "lock %s", tuple);
			break;
		}
		l->adopted[l->n] = !own;
		l->keys[l->n++] = k[i];
		if (!own && mv_verbose())
			mv_info("lock %s: adopting the lock already there", tuple);
	}
	free(res);
	return err ? 1 : 0;
}

void conn_locks_release(struct conn_locks *l, bool adopted)
{
	char tuple[TF_TUPLESTRLEN];
	struct tf_tuple *k = malloc((l->n + 1) * sizeof(*k));
	int m = 0, r = -ENOMEM;

	/* Every one of ours in one batch delete; one by one only if that fails. */
	if (k) {
		for (int i = 0; i < l->n; i++)
			if (!l->adopted[i] || adopted)
				k[m++] = l->keys[i];
		r = tf_lock_del_bulk(l->t, k, m, NULL);
		free(k);
	}
	for (int i = 0; r < 0 && i < l->n; i++) {
		int err;

		if (l->adopted[i] && !adopted)
			continue;
		err = tf_lock_del(l->t, &l->keys[i]);

		if (err && err != -ENOENT)
			mv_warn("unlock %s: %s", tf_tuple_str(&l->keys[i], tuple, sizeof(tuple)),
				 tf_strerror());
	}
	l->n = 0;
}

uint64_t conn_locks_dropped(const struct conn_locks *l)
{
	uint64_t sum = 0;

	for (int i = 0; i < l->n; i++) {
		struct tf_lock v;

		if (tf_lock_get(l->t, &l->keys[i], &v) == 0)
			sum += v.in_packets + v.out_packets;
	}
	return sum;
}

void conn_locks_done(struct conn_locks *l)
{
	if (l->t)
		tf_locktab_close(l->t);
	free(l->keys);
	free(l->adopted);
	memset(l, 0, sizeof(*l));
}
