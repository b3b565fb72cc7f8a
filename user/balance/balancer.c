// SPDX-License-Identifier: BSD-2-Clause
/* A balancer's loops, side by side (balancer.h). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "balancer.h"
#include "internal.h"

_Static_assert(sizeof(struct bal_reader_counters) % sizeof(uint64_t) == 0 &&
		       sizeof(struct bal_service_counters) % sizeof(uint64_t) == 0 &&
		       sizeof(struct bal_backend_counters) % sizeof(uint64_t) == 0,
	       "the counters are uint64_t only: add() sums them word by word");

struct loop {
	struct bal_balancer *b;
	struct bal_service *s;
	pthread_t t;
	bool started;
	int err;
	char why[512];			/* its error's text (tf_strerror is per thread) */
};

struct bal_balancer {
	struct loop *loops;
	int n;
	struct bal_reader *ctl;		/* the control loop: no listener, only watched fds */
};

/* The control loop has no listener: nothing is ever decided there. */
static void no_decide(void *ctx, int fd, const struct first_request *r, const uint8_t *bytes, size_t len)
{
	(void)ctx;
	(void)r;
	(void)bytes;
	(void)len;
	close(fd);
}

static int cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) || CPU_COUNT(&set) < 1)
		return 1;
	return CPU_COUNT(&set) < BAL_THREADS_MAX ? CPU_COUNT(&set) : BAL_THREADS_MAX;
}

int bal_balancer_new(struct bal_config *c, const struct bal_balancer_opts *o, struct bal_balancer **out)
{
	struct bal_balancer *b = calloc(1, sizeof(*b));
	int n = o->threads > 0 ? o->threads : cpus(), err;

	*out = NULL;
	if (!b || !(b->loops = calloc(n, sizeof(*b->loops)))) {
		free(b);
		bal_config_free(c);
		return tf_failx(ENOMEM, "balance: no memory for %d loops", n);
	}
	err = bal_reader_new(&(struct bal_reader_opts){ .max_header = 256 }, no_decide, NULL, &b->ctl);
	/* One loop at a time: the first one's channels make the pinned maps the others open. */
	for (int i = 0; i < n && !err; i++) {
		struct bal_service_opts so = o->service;
		struct bal_config lc;

		so.loop = n > 1 ? i + 1 : 0;
		err = i + 1 < n ? bal_config_dup(c, &lc) : 0;
		if (err)
			break;
		if (i + 1 == n) {
			lc = *c;	/* the last loop takes the caller's */
			memset(c, 0, sizeof(*c));
			c->default_pool = -1;
		}
		b->loops[i].b = b;
		err = bal_service_new(&lc, &so, &b->loops[i].s);
		if (err)
			bal_config_free(&lc);
		else
			b->n++;
	}
	if (err) {
		bal_balancer_free(b);
		bal_config_free(c);
		return err;
	}
	*out = b;
	return 0;
}

int bal_balancer_listen(struct bal_balancer *b, const char *endpoint)
{
	for (int i = 0; i < b->n; i++) {
		int err = bal_service_listen(b->loops[i].s, endpoint, i > 0);

		if (err)
			return err;
	}
	return 0;
}

int bal_balancer_watch(struct bal_balancer *b, int fd, bal_watch_fn fn, void *ctx)
{
	return bal_reader_watch(b->ctl, fd, EPOLLIN, fn, ctx);
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	char name[32];			/* "tf-loop-256" at most: under the 16 bytes a thread name has */

	snprintf(name, sizeof(name), "tf-loop-%d", (int)(l - l->b->loops) + 1);
	pthread_setname_np(pthread_self(), name);	/* top -H, perf: which loop */
	l->err = bal_service_run(l->s);
	if (l->err) {
		snprintf(l->why, sizeof(l->why), "%s", tf_strerror());
		bal_reader_stop(l->b->ctl);	/* a loop that failed stops the balancer */
	}
	/* Each loop's hand-offs under way end in parallel (each within the hand-off timeout). */
	bal_service_close_backends(l->s);
	return NULL;
}

int bal_balancer_run(struct bal_balancer *b)
{
	int err = 0;

	for (int i = 0; i < b->n && !err; i++) {
		int e = pthread_create(&b->loops[i].t, NULL, loop_main, &b->loops[i]);

		if (e)
			err = tf_fail(e, "balance: loop %d: its thread", i + 1);
		else
			b->loops[i].started = true;
	}
	if (!err)
		err = bal_reader_run(b->ctl);
	for (int i = 0; i < b->n; i++)
		bal_service_stop(b->loops[i].s);
	for (int i = 0; i < b->n; i++) {
		struct loop *l = &b->loops[i];

		if (!l->started)
			continue;
		pthread_join(l->t, NULL);
		l->started = false;
		if (l->err && !err)
			err = tf_failx(-l->err, "%s", l->why);
	}
	return err;
}

void bal_balancer_stop(struct bal_balancer *b)
{
	bal_reader_stop(b->ctl);
}

int bal_balancer_reload(struct bal_balancer *b, struct bal_config *nc)
{
	struct bal_config *copies;
	int err;

	bal_service_lock(b->loops[0].s);
	err = bal_service_can_reload(b->loops[0].s, nc);	/* every loop has the same backends' lines */
	bal_service_unlock(b->loops[0].s);
	if (err)
		return err;
	copies = calloc(b->n, sizeof(*copies));
	if (!copies)
		return tf_failx(ENOMEM, "balance: reload: no memory; nothing was reloaded");
	for (int i = 1; i < b->n && !err; i++)
		err = bal_config_dup(nc, &copies[i]);
	if (err) {
		for (int i = 1; i < b->n; i++)
			bal_config_free(&copies[i]);
		free(copies);
		tf_error_prefix("reload, nothing reloaded");
		return err;
	}
	copies[0] = *nc;
	memset(nc, 0, sizeof(*nc));
	nc->default_pool = -1;
	for (int i = 0; i < b->n; i++) {
		bal_service_lock(b->loops[i].s);
		/* Checked above: it takes the copy (which cannot fail now). */
		if (bal_service_reload(b->loops[i].s, &copies[i]))
			bal_config_free(&copies[i]);
		bal_service_unlock(b->loops[i].s);
	}
	free(copies);
	return 0;
}

const struct bal_config *bal_balancer_config(const struct bal_balancer *b)
{
	return bal_service_config(b->loops[0].s);
}

int bal_balancer_threads(const struct bal_balancer *b)
{
	return b->n;
}

/* t += c, field by field: the counters' structs are all uint64_t (balance.h, reader.h). */
static void add(void *t, const void *c, size_t size)
{
	uint64_t *tw = t;
	const uint64_t *cw = c;

	for (size_t i = 0; i < size / sizeof(uint64_t); i++)
		tw[i] += cw[i];
}

int bal_balancer_totals(struct bal_balancer *b, struct bal_totals *t)
{
	const struct bal_config *c = bal_balancer_config(b);

	memset(t, 0, sizeof(*t));
	t->threads = b->n;
	t->backends = calloc(c->n_backends, sizeof(*t->backends));
	t->matches = calloc(c->n_rules ? c->n_rules : 1, sizeof(*t->matches));
	t->loops = calloc(b->n, sizeof(*t->loops));
	if (!t->backends || !t->matches || !t->loops) {
		bal_totals_free(t);
		return tf_failx(ENOMEM, "balance: no memory for the counters");
	}
	for (int l = 0; l < b->n; l++) {
		struct bal_service *s = b->loops[l].s;
		const struct bal_config *lc = bal_service_config(s);

		bal_service_lock(s);
		t->loops[l].accepted = bal_service_reader_counters(s)->accepted;
		t->loops[l].pending = bal_service_pending(s);
		t->loops[l].handed_off = bal_service_counters(s)->handed_off;
		t->pending += t->loops[l].pending;
		add(&t->reader, bal_service_reader_counters(s), sizeof(t->reader));
		add(&t->service, bal_service_counters(s), sizeof(t->service));
		for (int i = 0; i < c->n_backends; i++) {
			struct bal_backend_counters bc;

			bool up = bal_service_backend(s, i, &bc);

			t->backends[i].up += up;
			t->backends[i].healthy += up && !lc->backends[i].unhealthy;
			add(&t->backends[i].c, &bc, sizeof(bc));
			t->backends[i].live += lc->backends[i].conns;
		}
		for (int i = 0; i < c->n_rules; i++)
			t->matches[i] += lc->rules[i].matches;
		bal_service_unlock(s);
	}
	return 0;
}

void bal_totals_free(struct bal_totals *t)
{
	free(t->backends);
	free(t->matches);
	free(t->loops);
	t->backends = NULL;
	t->matches = NULL;
	t->loops = NULL;
}

void bal_balancer_free(struct bal_balancer *b)
{
	if (!b)
		return;
	for (int i = 0; i < b->n; i++)
		bal_service_free(b->loops[i].s);
	bal_reader_free(b->ctl);
	free(b->loops);
	free(b);
}
