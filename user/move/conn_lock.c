// SPDX-License-Identifier: BSD-2-Clause
/* Locks held on behalf of dump and restore (see conn_lock.h). */
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "attach.h"
#include "sockdiag.h"
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

/* "ESTABLISHED, pid 123 tf-stream" and the way out for a live owner of tuple. */
static void describe_owner(const struct tf_tuple_owner *o, char *who, size_t wlen, char *out, size_t olen)
{
	char comm[32] = "", pstate = '?';
	const char *state = tf_tcp_state_name(o->state);
	pid_t pid = tf_socket_pid(o->inode, comm, sizeof(comm), &pstate);

	if (!pid) {
		snprintf(who, wlen, "%s, no process: a leftover of a killed program or restore", state);
		snprintf(out, olen, "destroy it while its tuple is locked (ss -K, as tools/migrate.sh restore does), "
			 "then retry");
	} else if (pstate == 'T' || pstate == 't') {
		snprintf(who, wlen, "%s, pid %d %s, stopped", state, (int)pid, comm);
		snprintf(out, olen, "if pid %d is the dumped source (in repair mode it sends nothing), kill it first "
			 "and retry; otherwise restore on another host", (int)pid);
	} else {
		snprintf(who, wlen, "%s, pid %d %s", state, (int)pid, comm);
		snprintf(out, olen, "the connection is alive here (a dump with --leave-running, or the wrong host): "
			 "restore it on another host, or end pid %d first", (int)pid);
	}
}

int conn_owners_find(size_t n, conn_at_fn at, void *arg, const char *done, char *msg, size_t len)
{
	struct tf_tuple_owner *o;
	struct tf_tuple *k;
	int owned, ret = 0;

	if (!n)
		return 0;
	k = calloc(n, sizeof(*k));
	o = calloc(n, sizeof(*o));
	if (!k || !o) {
		ret = -ENOMEM;
		snprintf(msg, len, "no memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct tf_conn *c = at(arg, i, NULL);

		if ((ret = tf_tuple_make(&c->local, &c->peer, &k[i]))) {
			snprintf(msg, len, "%s", tf_strerror());
			goto out;
		}
	}
	owned = tf_tuple_owners(k, n, o);
	if (owned < 0) {
		ret = owned;
		snprintf(msg, len, "cannot tell whether a live socket here owns these 4-tuples (%s)", tf_strerror());
		goto out;
	}
	for (size_t i = 0; owned && i < n; i++) {
		char tuple[TF_TUPLESTRLEN], who[160], way[256], more[64] = "";
		const char *name = NULL;

		if (!o[i].state)
			continue;
		at(arg, i, &name);
		tf_tuple_str(&k[i], tuple, sizeof(tuple));
		describe_owner(&o[i], who, sizeof(who), way, sizeof(way));
		if (owned > 1)
			snprintf(more, sizeof(more), " (%d of %zu 4-tuples are)", owned, n);
		snprintf(msg, len, "%s%s%s: this 4-tuple is already in use on this host by a live socket (%s)%s; %s: %s",
			 name ? name : "", name ? ": " : "", tuple, who, more, done, way);
		ret = 1;
		break;
	}
out:
	free(k);
	free(o);
	return ret;
}

int conn_owners_check(size_t n, conn_at_fn at, void *arg, const char *what, const char *done)
{
	char msg[1024];
	int r = conn_owners_find(n, at, arg, done, msg, sizeof(msg));

	if (r > 0)
		return mv_error("%s %s", what, msg);
	if (r == -ENOMEM)
		return mv_error("%s: no memory", what);
	if (r < 0)	/* the kernel still refuses a taken tuple at connect() */
		mv_warn("%s: %s; going on", what, msg);
	return 0;
}

int conn_locks_release_owned(struct conn_locks *l)
{
	struct tf_tuple_owner *o;
	struct tf_tuple *k;
	int n = 0, owned, kept = 0, released = 0;

	if (!l->n || !l->t)
		return 0;
	k = calloc(l->n, sizeof(*k));
	o = calloc(l->n, sizeof(*o));
	if (!k || !o)
		goto out;
	/* Only the locks taken here: one found (the dump's, an orchestrator's) is not ours to drop. */
	for (int i = 0; i < l->n; i++)
		if (!l->adopted[i])
			k[n++] = l->keys[i];
	owned = tf_tuple_owners(k, n, o);
	if (owned < 0) {
		mv_warn("cannot tell whether a live socket here owns the 4-tuples locked (%s); "
			"check with ss and drop such locks (tcpferry lock del)", tf_strerror());
		goto out;
	}
	for (int i = 0, j = 0; i < l->n; i++) {
		char tuple[TF_TUPLESTRLEN], who[160], way[256];
		int err;

		if (l->adopted[i] || !o[j++].state) {
			l->keys[kept] = l->keys[i];
			l->adopted[kept++] = l->adopted[i];
			continue;
		}
		tf_tuple_str(&l->keys[i], tuple, sizeof(tuple));
		describe_owner(&o[j - 1], who, sizeof(who), way, sizeof(way));
		err = tf_lock_del(l->t, &l->keys[i]);
		if (err && err != -ENOENT) {
			mv_warn("unlock %s: %s; a live socket here owns it (%s): drop the lock by hand "
				"(tcpferry lock del)", tuple, tf_strerror(), who);
			l->keys[kept] = l->keys[i];
			l->adopted[kept++] = false;
			continue;
		}
		released++;
		mv_warn("lock %s dropped again: a live socket here owns it (%s), and the lock would drop its packets",
			tuple, who);
	}
	l->n = kept;
out:
	free(k);
	free(o);
	return released;
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

int conn_locks_taken(const struct conn_locks *l, bool adopted)
{
	int n = 0;

	for (int i = 0; i < l->n; i++)
		n += l->adopted[i] == adopted;
	return n;
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
