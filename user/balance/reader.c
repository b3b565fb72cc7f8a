// SPDX-License-Identifier: BSD-2-Clause
/* The balancer's accept-and-peek loop (reader.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "reader.h"

#define TLS_HANDSHAKE	22
#define EVENTS		256
#define LINGER_MS	2000	/* an answered connection's reads after our FIN, at most */

enum slot_kind { SLOT_LISTENER, SLOT_CONN, SLOT_STOP, SLOT_WATCH, SLOT_LINGER };

struct slot {
	enum slot_kind kind;
	int fd;
	int64_t deadline_ms;		/* SLOT_CONN */
	struct slot *prev, *next;	/* SLOT_CONN: the pending list, in accept order */
	bal_watch_fn fn;		/* SLOT_WATCH (NULL: unwatched; the slot is kept, as a
					 * closed fd's stale event may still name it) */
	void *fn_ctx;
	uint32_t events;
};

struct bal_reader {
	struct bal_reader_opts o;
	bal_decide_fn decide;
	bal_more_fn more;
	void *ctx;
	int ep, stop_fd;
	struct slot stop;
	struct slot **listeners;
	int n_listeners;
	struct slot **watched;
	int n_watched;
	bal_tick_fn tick;
	void *tick_ctx;
	int tick_ms;
	int64_t next_tick_ms;
	struct slot head;		/* the pending list's sentinel */
	int pending;
	struct slot lingering;		/* answered, FIN sent, reading to the client's: in close order */
	uint8_t *buf;
	size_t cap;
	struct bal_reader_counters c;
	pthread_mutex_t lock;		/* held by the loop except while it sleeps (bal_reader_lock) */
	atomic_int waiters;		/* threads in bal_reader_lock: the loop lets them in first */
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int bal_reader_new(const struct bal_reader_opts *o, bal_decide_fn decide, void *ctx, struct bal_reader **out)
{
	struct bal_reader *rd = calloc(1, sizeof(*rd));
	struct epoll_event ev = { .events = EPOLLIN };

	*out = NULL;
	if (!rd)
		return tf_failx(ENOMEM, "balance: no memory");
	rd->ep = rd->stop_fd = -1;
	pthread_mutex_init(&rd->lock, NULL);
	rd->o = *o;
	if (!rd->o.max_header)
		rd->o.max_header = 16384;
	if (!rd->o.timeout_ms)
		rd->o.timeout_ms = 10000;
	if (!rd->o.max_pending)
		rd->o.max_pending = 65536;
	rd->decide = decide;
	rd->ctx = ctx;
	rd->head.next = rd->head.prev = &rd->head;
	rd->lingering.next = rd->lingering.prev = &rd->lingering;
	/* Room for a head at the limit, or a ClientHello at it in a few records. */
	rd->cap = rd->o.max_header + 4096;
	rd->buf = malloc(rd->cap);
	rd->ep = epoll_create1(EPOLL_CLOEXEC);
	rd->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rd->stop.kind = SLOT_STOP;
	ev.data.ptr = &rd->stop;
	if (!rd->buf || rd->ep < 0 || rd->stop_fd < 0 || epoll_ctl(rd->ep, EPOLL_CTL_ADD, rd->stop_fd, &ev)) {
		int err = tf_fail(errno ? errno : ENOMEM, "balance: epoll");

		bal_reader_free(rd);
		return err;
	}
	*out = rd;
	return 0;
}

int bal_reader_add_listener(struct bal_reader *rd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct slot *s = calloc(1, sizeof(*s)), **l;

	l = realloc(rd->listeners, (rd->n_listeners + 1) * sizeof(*l));
	if (!s || !l) {
		free(s);
		return tf_failx(ENOMEM, "balance: no memory");
	}
	rd->listeners = l;
	s->kind = SLOT_LISTENER;
	s->fd = fd;
	ev.data.ptr = s;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) || epoll_ctl(rd->ep, EPOLL_CTL_ADD, fd, &ev)) {
		free(s);
		return tf_fail(errno, "balance: listener fd %d", fd);
	}
	rd->listeners[rd->n_listeners++] = s;
	return 0;
}

int bal_reader_watch(struct bal_reader *rd, int fd, uint32_t events, bal_watch_fn fn, void *ctx)
{
	struct epoll_event ev = { .events = events };
	struct slot *s = NULL, **w;

	for (int i = 0; i < rd->n_watched; i++)
		if (rd->watched[i]->fn && rd->watched[i]->fd == fd)
			s = rd->watched[i];
	if (s) {
		if (s->events == events && s->fn == fn && s->fn_ctx == ctx)
			return 0;
		ev.data.ptr = s;
		if (s->events != events && epoll_ctl(rd->ep, EPOLL_CTL_MOD, fd, &ev))
			return tf_fail(errno, "balance: epoll fd %d", fd);
		s->events = events;
		s->fn = fn;
		s->fn_ctx = ctx;
		return 0;
	}
	for (int i = 0; i < rd->n_watched && !s; i++)
		if (!rd->watched[i]->fn)
			s = rd->watched[i];	/* reused: only once its fd's entry is gone */
	if (!s) {
		w = realloc(rd->watched, (rd->n_watched + 1) * sizeof(*w));
		if (!w || !(s = calloc(1, sizeof(*s)))) {
			if (w)
				rd->watched = w;
			return tf_failx(ENOMEM, "balance: no memory");
		}
		rd->watched = w;
		rd->watched[rd->n_watched++] = s;
	}
	s->kind = SLOT_WATCH;
	s->fd = fd;
	ev.data.ptr = s;
	if (epoll_ctl(rd->ep, EPOLL_CTL_ADD, fd, &ev))
		return tf_fail(errno, "balance: epoll fd %d", fd);
	s->events = events;
	s->fn = fn;
	s->fn_ctx = ctx;
	return 0;
}

void bal_reader_unwatch(struct bal_reader *rd, int fd, bool closed)
{
	for (int i = 0; i < rd->n_watched; i++) {
		struct slot *s = rd->watched[i];

		if (!s->fn || s->fd != fd)
			continue;
		if (!closed)
			epoll_ctl(rd->ep, EPOLL_CTL_DEL, fd, NULL);
		s->fn = NULL;
		s->fd = -1;
	}
}

void bal_reader_set_tick(struct bal_reader *rd, int ms, bal_tick_fn fn, void *ctx)
{
	rd->tick = fn;
	rd->tick_ctx = ctx;
	rd->tick_ms = ms > 0 ? ms : 1000;
	rd->next_tick_ms = now_ms() + rd->tick_ms;
}

void bal_reader_stop(struct bal_reader *rd)
{
	uint64_t one = 1;

	(void)!write(rd->stop_fd, &one, sizeof(one));
}

const struct bal_reader_counters *bal_reader_counters(const struct bal_reader *rd)
{
	return &rd->c;
}

int bal_reader_pending(const struct bal_reader *rd)
{
	return rd->pending;
}

/* Off the pending list and out of epoll; the slot freed, the fd returned. */
static int unlink_conn(struct bal_reader *rd, struct slot *s)
{
	int fd = s->fd;

	epoll_ctl(rd->ep, EPOLL_CTL_DEL, fd, NULL);
	s->prev->next = s->next;
	s->next->prev = s->prev;
	rd->pending--;
	free(s);
	return fd;
}

static void unlink_linger(struct bal_reader *rd, struct slot *s)
{
	epoll_ctl(rd->ep, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	s->prev->next = s->next;
	s->next->prev = s->prev;
	free(s);
}

/* What the client still sends, read and dropped until its FIN (or LINGER_MS). */
static void linger_read(struct bal_reader *rd, struct slot *s)
{
	for (;;) {
		ssize_t n = recv(s->fd, rd->buf, rd->cap, MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		unlink_linger(rd, s);	/* its FIN, or an error: the close is clean now */
		return;
	}
}

void bal_reader_linger(struct bal_reader *rd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET | EPOLLRDHUP };
	struct slot *s = calloc(1, sizeof(*s));

	shutdown(fd, SHUT_WR);
	if (!s) {
		close(fd);
		return;
	}
	s->kind = SLOT_LINGER;
	s->fd = fd;
	s->deadline_ms = now_ms() + LINGER_MS;
	s->prev = rd->lingering.prev;
	s->next = &rd->lingering;
	rd->lingering.prev->next = s;
	rd->lingering.prev = s;
	ev.data.ptr = s;
	if (epoll_ctl(rd->ep, EPOLL_CTL_ADD, fd, &ev)) {
		unlink_linger(rd, s);
		return;
	}
	linger_read(rd, s);
}

/*
 * status (400, 408, 431) and close.  What the client sent is read first, and
 * what it sends after until its own FIN (bal_reader_linger), so the close is
 * a FIN after the answer, not an RST that could destroy it.
 */
static void answer(struct bal_reader *rd, int fd, int status)
{
	static const char *const text[] = {
		[0] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		[1] = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		[2] = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	};
	const char *t = text[status == 400 ? 0 : status == 408 ? 1 : 2];

	while (recv(fd, rd->buf, rd->cap, MSG_DONTWAIT) > 0)
		;
	(void)!send(fd, t, strlen(t), MSG_DONTWAIT | MSG_NOSIGNAL);
	bal_reader_linger(rd, fd);
	if (status == 400)
		rd->c.status_400++;
	else if (status == 408)
		rd->c.status_408++;
	else
		rd->c.status_431++;
}

static void accept_all(struct bal_reader *rd, struct slot *l)
{
	for (;;) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET | EPOLLRDHUP };
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct slot *s;

		if (fd < 0)
			return;	/* EAGAIN: all taken; EMFILE and friends: the next round */
		rd->c.accepted++;
		if (rd->pending >= rd->o.max_pending || !(s = calloc(1, sizeof(*s)))) {
			rd->c.refused_full++;
			close(fd);
			continue;
		}
		s->kind = SLOT_CONN;
		s->fd = fd;
		s->deadline_ms = now_ms() + rd->o.timeout_ms;
		s->prev = rd->head.prev;
		s->next = &rd->head;
		rd->head.prev->next = s;
		rd->head.prev = s;
		rd->pending++;
		ev.data.ptr = s;
		if (epoll_ctl(rd->ep, EPOLL_CTL_ADD, fd, &ev)) {
			close(unlink_conn(rd, s));
			rd->c.refused_full++;
		}
	}
}

/* What the connection sent so far, peeked: decided, answered, or still waiting. */
static void look(struct bal_reader *rd, struct slot *s)
{
	struct first_request r;
	enum fr_kind k;
	ssize_t n = recv(s->fd, rd->buf, rd->cap, MSG_PEEK | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		rd->c.closed_early++;
		close(unlink_conn(rd, s));
		return;
	}
	k = first_request_parse(rd->buf, n, rd->o.max_header, &r);
	if (k == FR_MORE && (size_t)n == rd->cap)
		k = r.kind = FR_TOO_LARGE;	/* the peek's room is full and still no verdict */
	switch (k) {
	case FR_MORE:
		return;
	case FR_MALFORMED:
	case FR_TOO_LARGE: {
		bool tls = rd->buf[0] == TLS_HANDSHAKE;
		int fd = unlink_conn(rd, s);

		if (tls) {
			rd->c.closed_bad++;	/* not HTTP: no status to give */
			close(fd);
		} else {
			answer(rd, fd, k == FR_MALFORMED ? 400 : 431);
		}
		return;
	}
	case FR_HTTP:
		rd->c.http++;
		break;
	case FR_TLS:
		rd->c.tls++;
		break;
	case FR_OTHER:
		if (rd->more && rd->more(rd->ctx, rd->buf, n))
			return;		/* the start of a rule's prefix: its next segment decides */
		rd->c.other++;
		break;
	}
	rd->c.decided++;
	rd->decide(rd->ctx, unlink_conn(rd, s), &r, rd->buf, n);
}

void bal_reader_set_more(struct bal_reader *rd, bal_more_fn more)
{
	rd->more = more;
}

static int expire_pending(struct bal_reader *rd, int64_t now);

/* The connections past their deadline (the lists' head ends); ms to the next one, or -1. */
static int expire(struct bal_reader *rd)
{
	int64_t now = now_ms();

	while (rd->lingering.next != &rd->lingering && rd->lingering.next->deadline_ms <= now)
		unlink_linger(rd, rd->lingering.next);
	if (rd->lingering.next != &rd->lingering) {
		int64_t lw = rd->lingering.next->deadline_ms - now;
		int w = expire_pending(rd, now);

		return w < 0 || w > lw ? (int)lw : w;
	}
	return expire_pending(rd, now);
}

static int expire_pending(struct bal_reader *rd, int64_t now)
{
	while (rd->head.next != &rd->head) {
		struct slot *s = rd->head.next;
		bool http;
		ssize_t n;
		int fd;

		if (s->deadline_ms > now)
			return (int)(s->deadline_ms - now);
		n = recv(s->fd, rd->buf, 1, MSG_PEEK | MSG_DONTWAIT);
		http = n <= 0 || rd->buf[0] != TLS_HANDSHAKE;
		fd = unlink_conn(rd, s);
		if (http && n > 0) {
			answer(rd, fd, 408);
		} else {
			rd->c.timeout_closed++;
			close(fd);
		}
	}
	return -1;
}

void bal_reader_lock(struct bal_reader *rd)
{
	atomic_fetch_add(&rd->waiters, 1);
	pthread_mutex_lock(&rd->lock);
	atomic_fetch_sub(&rd->waiters, 1);
}

void bal_reader_unlock(struct bal_reader *rd)
{
	pthread_mutex_unlock(&rd->lock);
}

static int run(struct bal_reader *rd)
{
	struct epoll_event ev[EVENTS];

	for (;;) {
		int wait = expire(rd), n;

		if (rd->tick) {
			int64_t now = now_ms();

			if (now >= rd->next_tick_ms) {
				rd->next_tick_ms = now + rd->tick_ms;
				rd->tick(rd->tick_ctx);
			}
			if (wait < 0 || wait > rd->next_tick_ms - now)
				wait = rd->next_tick_ms > now ? (int)(rd->next_tick_ms - now) : 0;
		}
		pthread_mutex_unlock(&rd->lock);
		n = epoll_wait(rd->ep, ev, EVENTS, wait);
		/* A busy loop's epoll_wait returns at once, and a mutex is not
		 * fair: without this a status request would wait for the loop
		 * to go idle (a saturated one never does). */
		while (atomic_load(&rd->waiters))
			sched_yield();
		pthread_mutex_lock(&rd->lock);
		if (n < 0 && errno != EINTR)
			return tf_fail(errno, "balance: epoll_wait");
		for (int i = 0; i < n; i++) {
			struct slot *s = ev[i].data.ptr;

			if (s->kind == SLOT_STOP)
				return 0;
			if (s->kind == SLOT_LISTENER)
				accept_all(rd, s);
			else if (s->kind == SLOT_LINGER)
				linger_read(rd, s);
			else if (s->kind == SLOT_WATCH) {
				if (s->fn)
					s->fn(s->fn_ctx, s->fd, ev[i].events);
			} else
				look(rd, s);
		}
	}
}

int bal_reader_run(struct bal_reader *rd)
{
	int err;

	pthread_mutex_lock(&rd->lock);
	err = run(rd);
	pthread_mutex_unlock(&rd->lock);
	return err;
}

void bal_reader_free(struct bal_reader *rd)
{
	if (!rd)
		return;
	while (rd->head.next && rd->head.next != &rd->head)
		close(unlink_conn(rd, rd->head.next));
	while (rd->lingering.next && rd->lingering.next != &rd->lingering)
		unlink_linger(rd, rd->lingering.next);
	for (int i = 0; i < rd->n_listeners; i++)
		free(rd->listeners[i]);
	free(rd->listeners);
	for (int i = 0; i < rd->n_watched; i++)
		free(rd->watched[i]);
	free(rd->watched);
	if (rd->ep >= 0)
		close(rd->ep);
	if (rd->stop_fd >= 0)
		close(rd->stop_fd);
	free(rd->buf);
	pthread_mutex_destroy(&rd->lock);
	free(rd);
}
