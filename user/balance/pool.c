// SPDX-License-Identifier: BSD-2-Clause
/* Which backend of a pool gets a connection (pool.h). */
#include <math.h>
#include <string.h>

#include "pool.h"

static bool usable(const struct bal_config *c, const struct bal_member *m, const bool *tried)
{
	return c->backends[m->backend].up && !c->backends[m->backend].unhealthy && !(tried && tried[m->backend]);
}

/* nginx's smooth weighted round robin over the usable members. */
static int round_robin(struct bal_config *c, struct bal_pool *p, const bool *tried)
{
	struct bal_member *best = NULL;
	long total = 0;

	for (int i = 0; i < p->n; i++) {
		struct bal_member *m = &p->members[i];

		if (!usable(c, m, tried))
			continue;
		m->current += m->weight;
		total += m->weight;
		if (!best || m->current > best->current)
			best = m;
	}
	if (!best)
		return -1;
	best->current -= total;
	return best->backend;
}

static int least_conn(struct bal_config *c, struct bal_pool *p, const bool *tried)
{
	const struct bal_member *best = NULL;

	for (int i = 0; i < p->n; i++) {
		const struct bal_member *m = &p->members[i];

		/* conns/weight < best's, without dividing */
		if (usable(c, m, tried) &&
		    (!best || (unsigned long long)c->backends[m->backend].conns * best->weight <
				      (unsigned long long)c->backends[best->backend].conns * m->weight))
			best = m;
	}
	return best ? best->backend : -1;
}

/* 64-bit FNV-1a of the key and the backend's name, then a final mix. */
static uint64_t hash2(const void *key, size_t len, const char *name)
{
	const uint8_t *k = key;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ k[i]) * 0x100000001b3ull;
	h = (h ^ 0xff) * 0x100000001b3ull;
	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

/* Weighted rendezvous hashing: the highest -weight / ln(u), u in (0, 1) from the hash. */
static int rendezvous(struct bal_config *c, struct bal_pool *p, const void *key, size_t len, const bool *tried)
{
	double best_score = 0;
	int best = -1;

	for (int i = 0; i < p->n; i++) {
		const struct bal_member *m = &p->members[i];
		double u, score;

		if (!usable(c, m, tried))
			continue;
		u = ((hash2(key, len, c->backends[m->backend].name) >> 11) + 0.5) / 9007199254740992.0;
		score = -(double)m->weight / log(u);
		if (best < 0 || score > best_score) {
			best = m->backend;
			best_score = score;
		}
	}
	return best;
}

int bal_pick(struct bal_config *c, int pool, const void *key, size_t key_len, const bool *tried)
{
	struct bal_pool *p;

	if (pool < 0 || pool >= c->n_pools)
		return -1;
	p = &c->pools[pool];
	switch (p->policy) {
	case BAL_ROUNDROBIN:
		return round_robin(c, p, tried);
	case BAL_LEASTCONN:
		return least_conn(c, p, tried);
	case BAL_HASH_HOST:
	case BAL_HASH_CLIENT:
		return rendezvous(c, p, key, key_len, tried);
	}
	return -1;
}
