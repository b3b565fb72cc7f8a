// SPDX-License-Identifier: BSD-2-Clause
/*
 * Bulk lock against a lock taken meanwhile: two threads (two table handles,
 * as two processes would have) lock the same list at the same moment, with
 * different reasons.  Each tuple must be locked by exactly one of them, the
 * other told "already locked", and the lock in the map must be the winner's:
 * never overwritten.  And a lock that is there before a bulk add keeps its
 * reason, start time and counters.  Both list sizes: one update per tuple,
 * and the lock_bulk program (TF_LOCK_BULK_LOAD_MIN).  The map is the test's
 * own: no pin, no bpffs.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tap.h"
#include "lock.h"

#define ROUNDS 20

struct racer {
	struct tf_locktab *tab;
	const struct tf_tuple *k;
	size_t n;
	enum tf_lock_reason why;
	int *res;
	int added;
};

static pthread_barrier_t start;

static void *race(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(&start);
	r->added = tf_lock_add_bulk(r->tab, r->k, r->n, r->why, 0, r->res);
	return NULL;
}

static void clear(int fd, const struct tf_tuple *k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, &k[i]);
}

/* Both threads on the same n tuples, ROUNDS times: the number of rounds with a tuple locked twice. */
static int race_rounds(int fd, struct tf_locktab *a, struct tf_locktab *b, const struct tf_tuple *k, size_t n,
		       char *why_bad, size_t len)
{
	struct racer ra = { .tab = a, .k = k, .n = n, .why = TF_LOCK_MANUAL },
		     rb = { .tab = b, .k = k, .n = n, .why = TF_LOCK_DUMP };
	int bad = 0;

	ra.res = calloc(n, sizeof(int));
	rb.res = calloc(n, sizeof(int));
	*why_bad = '\0';
	for (int round = 0; round < ROUNDS; round++) {
		pthread_t ta, tb;
		size_t twice = 0, wrong = 0;

		clear(fd, k, n);
		pthread_create(&ta, NULL, race, &ra);
		pthread_create(&tb, NULL, race, &rb);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		for (size_t i = 0; i < n; i++) {
			struct tf_lock v;
			int winner = ra.res[i] == 0 ? TF_LOCK_MANUAL : rb.res[i] == 0 ? TF_LOCK_DUMP : -1;

			twice += ra.res[i] == 0 && rb.res[i] == 0;
			if (winner < 0 || (ra.res[i] != 0 && ra.res[i] != -EEXIST) ||
			    (rb.res[i] != 0 && rb.res[i] != -EEXIST) || bpf_map_lookup_elem(fd, &k[i], &v) ||
			    v.reason != (uint32_t)winner)
				wrong++;
		}
		if (ra.added < 0 || rb.added < 0 || (size_t)(ra.added + rb.added) != n || twice || wrong) {
			if (!bad++)
				snprintf(why_bad, len, "round %d: added %d + %d of %zu, %zu locked by both, "
					 "%zu not the winner's", round, ra.added, rb.added, n, twice, wrong);
		}
	}
	clear(fd, k, n);
	free(ra.res);
	free(rb.res);
	return bad;
}

/* A lock with a reason, a start time and counters, then a bulk add of a list that holds it. */
static void keeps_old_lock(int fd, struct tf_locktab *t, const struct tf_tuple *k, size_t n)
{
	const size_t at = n / 2;
	struct tf_lock before, after;
	int *res = calloc(n, sizeof(int));
	int added;

	tf_lock_add(t, &k[at], TF_LOCK_DUMP, 0);
	bpf_map_lookup_elem(fd, &k[at], &before);
	before.in_packets = 5;
	before.in_bytes = 300;
	before.out_packets = 2;
	bpf_map_update_elem(fd, &k[at], &before, BPF_EXIST);
	usleep(2000);
	added = tf_lock_add_bulk(t, k, n, TF_LOCK_MANUAL, 0, res);
	memset(&after, 0, sizeof(after));
	bpf_map_lookup_elem(fd, &k[at], &after);
	ok(added == (int)n - 1 && res[at] == -EEXIST && !memcmp(&before, &after, sizeof(before)),
	   "%zu tuples, one locked before: %d added, it is reported (%d) and keeps reason %u, start and "
	   "counters (%llu packets in)", n, added, res[at], after.reason, (unsigned long long)after.in_packets);
	clear(fd, k, n);
	free(res);
}

int main(void)
{
	const size_t sizes[] = { 200, 3 * TF_LOCK_BULK_LOAD_MIN };
	struct tf_locktab *a, *b;
	struct tf_tuple *k;
	size_t max = sizes[1];
	int fd;

	if (geteuid() != 0)
		skip_all("needs root (BPF maps)");
	libbpf_set_print(NULL);
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "locks", sizeof(struct tf_tuple), sizeof(struct tf_lock), 65536,
			    NULL);
	if (fd < 0)
		skip_all("cannot create a BPF hash map: kernel without BPF?");
	if (tf_locktab_from_fd(fd, &a) || tf_locktab_from_fd(fd, &b))
		bail_out("lock table: %s", tf_strerror());
	k = calloc(max, sizeof(*k));
	for (size_t i = 0; i < max; i++) {
		k[i].family = 2;	/* AF_INET: 198.18.0.1:80 <- 198.18.0.2:(10000 + i) */
		memcpy(k[i].local_addr, "\xc6\x12\x00\x01", 4);
		memcpy(k[i].peer_addr, "\xc6\x12\x00\x02", 4);
		k[i].local_port = htobe16(80);
		k[i].peer_port = htobe16(10000 + i);
	}
	pthread_barrier_init(&start, NULL, 2);

	plan(4);
	for (size_t s = 0; s < 2; s++) {
		char why[200];
		int bad = race_rounds(fd, a, b, k, sizes[s], why, sizeof(why));

		if (!ok(bad == 0, "two bulk adds of the same %zu tuples at once: each locked once, by the "
			"one told so (%d of %d rounds wrong)", sizes[s], bad, ROUNDS))
			diag("  %s", why);
		keeps_old_lock(fd, a, k, sizes[s]);
	}

	tf_locktab_close(a);
	tf_locktab_close(b);
	close(fd);
	free(k);
	return done_testing();
}
