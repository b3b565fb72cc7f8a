// SPDX-License-Identifier: BSD-2-Clause
/* The hand-off balancer's engine (balance.h). */
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "balance.h"
#include "internal.h"
#include "pool.h"
#include "report.h"
#include "tcpferry.h"

/* Each line names its loop when there are several ("balance: loop 2: ..."): each has its own channels. */
#define say_warn(s, fmt, ...)	mv_warn("%s: " fmt, (s)->who, ##__VA_ARGS__)
#define say_info(s, fmt, ...)	mv_info("%s: " fmt, (s)->who, ##__VA_ARGS__)

#define DONE_BATCH	64
#define REOPEN_MS	5000	/* a down backend's channel is tried again this often */

struct be {
	struct bal_service *s;
	int i;
	struct tf_backend *tfb;		/* NULL: its channel never opened */
	int fd;				/* the channel's, while watched */
	bool watched;
	bool was_up;			/* its channel's state when it was closed */
	bool reopening;			/* a thread is opening its channel again */
	bool warned;			/* its reopening failed, and said so once */
	double next_open_ms;
	struct bal_backend_counters c;
};

/* A channel opened again off the loop (tf_backend_open waits for the backend's
 * WELCOME: up to the timeout), its end through a pipe into the loop. */
struct reopen_job {
	int i, wfd;
	struct bal_backend cb;		/* a copy (a reload may free the config's) */
	struct tf_backend_opts bo;
};

struct reopen_msg {
	int i;
	struct tf_backend *b;
	char err[400];
};

/* A connection on its way to a backend: the cookie of its hand-off. */
struct conn {
	int fd;
	int pool;			/* in the config of generation gen */
	unsigned gen;
	char pool_name[BAL_NAME_MAX];
	bool http;
	size_t key_len;
	uint8_t key[FR_HOST_MAX];
	char what[TF_ADDRSTRLEN + 16];	/* "client 198.18.20.3:41234" */
	bool tried[];			/* by backend index */
};

struct bal_service {
	struct bal_config c;
	struct bal_service_opts o;
	struct bal_reader *rd;
	struct be *be;
	int *listeners, n_listeners;
	bool stopping;
	unsigned gen;			/* the config's: each reload adds one */
	int reopen_pipe[2];
	int reopening;
	struct bal_service_counters cnt;
	char who[32];			/* "balance", or "balance: loop N" */
};

static void on_channel(void *ctx, int fd, uint32_t events);
static void done(struct bal_service *s, int i, const struct tf_handoff_done *d);

/*
 * status and close, from here: what the client sent is read first, so that
 * the close is a FIN after the answer and not an RST that destroys it (and
 * what it sends after, until its FIN: bal_reader_linger).  A
 * connection that is not HTTP gets no status, only the close.
 */
static void answer(struct bal_service *s, int fd, int status, bool http)
{
	static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 29\r\n"
				 "Connection: close\r\n\r\nno backend for this request.\n";
	static const char su[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
				 "Content-Length: 29\r\nConnection: close\r\n\r\nno backend for this request.\n";
	const char *t = status == 404 ? nf : su;
	char buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	if (http)
		(void)!send(fd, t, strlen(t), MSG_DONTWAIT | MSG_NOSIGNAL);
	bal_reader_linger(s->rd, fd);
}

/* Its channel into the loop, for the events it wants now (POLLOUT while it has queued writes). */
static void arm(struct bal_service *s, int i)
{
	struct be *b = &s->be[i];

	if (!b->tfb || !tf_backend_up(b->tfb))
		return;
	if (bal_reader_watch(s->rd, b->fd, (uint32_t)tf_backend_events(b->tfb), on_channel, b) == 0)
		b->watched = true;
	else
		say_warn(s, "backend %s: %s", s->c.backends[i].name, tf_strerror());
}

/*
 * After every call on backend i: a channel that broke was closed by the
 * library (its epoll entry went with it), so it leaves the loop before any
 * new fd can take its number.
 */
static void check_channel(struct bal_service *s, int i)
{
	struct be *b = &s->be[i];

	if (b->tfb && !tf_backend_up(b->tfb)) {
		if (b->watched) {
			struct tf_handoff_done d[DONE_BATCH];
			struct tf_backend_stats st;
			int n;

			bal_reader_unwatch(s->rd, b->fd, true);
			b->watched = false;
			s->c.backends[i].up = false;
			b->next_open_ms = mv_now_ms() + REOPEN_MS;
			tf_backend_stats(b->tfb, &st);
			say_warn(s, "backend %s: its channel is down (%s); it takes no hand-offs until it is open again "
				 "(tried every %d s)", s->c.backends[i].name, st.down_why, REOPEN_MS / 1000);
			/* The hand-offs that ended with it (a submit's broken channel leaves them queued). */
			while ((n = tf_handoff_poll(b->tfb, 0, d, DONE_BATCH)) > 0)
				for (int j = 0; j < n; j++)
					done(s, i, &d[j]);
		}
		s->c.backends[i].up = false;
		return;
	}
	arm(s, i);
}

/* The backend's own check (receive --serve --check): its verdict, said when it changes. */
static void check_health(struct bal_service *s, int i)
{
	struct bal_backend *cb = &s->c.backends[i];
	struct tf_backend_stats st;

	if (!s->be[i].tfb)
		return;
	tf_backend_stats(s->be[i].tfb, &st);
	if (st.unhealthy == cb->unhealthy)
		return;
	cb->unhealthy = st.unhealthy;
	if (st.unhealthy)
		say_warn(s, "backend %s: its check fails (%s); it takes no hand-offs until the check passes",
			 cb->name, st.unhealthy_why);
	else
		say_warn(s, "backend %s: its check passes again", cb->name);
}

/* The next backend of the connection's pool that is up and not tried yet; none left: 503. */
static void dispatch(struct bal_service *s, struct conn *k)
{
	if (k->gen != s->gen) {
		/* The rules were reloaded while its hand-off was under way: its pool by name. */
		k->pool = -1;
		for (int i = 0; i < s->c.n_pools; i++)
			if (!strcmp(s->c.pools[i].name, k->pool_name))
				k->pool = i;
		k->gen = s->gen;
		if (k->pool < 0) {
			s->cnt.no_backend++;
			say_warn(s, "%s: its pool %s is gone with a reload; answered 503", k->what, k->pool_name);
			answer(s, k->fd, 503, k->http);
			free(k);
			return;
		}
	}
	for (;;) {
		struct tf_handoff_req r = { .fd = k->fd, .cookie = k };
		int i = bal_pick(&s->c, k->pool, k->key, k->key_len, k->tried);

		if (i < 0 || s->stopping) {
			s->cnt.no_backend++;
			say_warn(s, "%s: no backend of pool %s %s; answered 503", k->what, s->c.pools[k->pool].name,
				s->stopping ? "(stopping)" : "left to try");
			answer(s, k->fd, 503, k->http);
			free(k);
			return;
		}
		k->tried[i] = true;
		if (!s->be[i].tfb || !tf_backend_healthy(s->be[i].tfb))
			continue;
		/* The request is still in the socket (peeked): the image carries it; no prepend. */
		if (tf_handoff_submit(s->be[i].tfb, &r) == 0) {
			s->be[i].c.submitted++;
			s->c.backends[i].conns++;
			check_channel(s, i);
			return;
		}
		s->be[i].c.submit_failed++;
		say_warn(s, "%s to backend %s: %s; trying the next", k->what, s->c.backends[i].name, tf_strerror());
		check_channel(s, i);
		s->cnt.retried++;
	}
}

static void done(struct bal_service *s, int i, const struct tf_handoff_done *d)
{
	struct conn *k = d->cookie;
	struct be *b = &s->be[i];

	if (s->c.backends[i].conns)
		s->c.backends[i].conns--;	/* in flight no more (live ones: the tick counts them) */
	if (d->status == 0) {
		b->c.handed_off++;
		s->cnt.handed_off++;
		s->c.backends[i].conns++;
		if (mv_verbose())
			say_info(s, "%s handed off to backend %s (pid %u) in %.3f ms", k->what,
				s->c.backends[i].name, d->backend_pid, d->ms);
		free(k);
		return;
	}
	if (d->status == -EINPROGRESS) {
		/* In repair and locked: our close is silent; the lock's TTL ends it. */
		b->c.in_doubt++;
		say_warn(s, "%s to backend %s: %s", k->what, s->c.backends[i].name, d->text);
		close(k->fd);
		free(k);
		return;
	}
	b->c.refused++;
	say_warn(s, "%s to backend %s: %s; trying the next", k->what, s->c.backends[i].name, d->text);
	s->cnt.retried++;
	dispatch(s, k);
}

/* What backend i said (and its deadlines, its gc): each hand-off that ended. */
static void poll_backend(struct bal_service *s, int i, int timeout_ms)
{
	struct tf_handoff_done d[DONE_BATCH];
	int n;

	do {
		if (!s->be[i].tfb)
			return;
		n = tf_handoff_poll(s->be[i].tfb, timeout_ms, d, DONE_BATCH);
		check_health(s, i);
		check_channel(s, i);
		for (int j = 0; j < n; j++)
			done(s, i, &d[j]);
		timeout_ms = 0;
	} while (n == DONE_BATCH);
}

static void on_channel(void *ctx, int fd, uint32_t events)
{
	struct be *b = ctx;

	(void)fd;
	(void)events;
	poll_backend(b->s, b->i, 0);
}

static struct tf_backend_opts backend_opts(const struct bal_service *s, const struct bal_backend *cb)
{
	return (struct tf_backend_opts){
		.via = cb->channel,
		.addr = cb->addr[0] ? cb->addr : NULL,
		.addr6 = cb->addr6[0] ? cb->addr6 : NULL,
		.mode = cb->mode[0] ? cb->mode : NULL,
		.dev = cb->dev[0] ? cb->dev : NULL,
		.mac = cb->mac[0] ? cb->mac : NULL,
		.outer_src = cb->src[0] ? cb->src : NULL,
		.bpffs = s->o.bpffs,
		.timeout_ms = s->o.handoff_timeout_ms,
		.lock_ttl_s = s->o.lock_ttl_s,
		.no_nudge = s->o.no_nudge,
	};
}

static void *reopen_thread(void *arg)
{
	struct reopen_job *j = arg;
	struct reopen_msg m = { .i = j->i };

	if (tf_backend_open(&j->bo, &m.b) < 0)
		snprintf(m.err, sizeof(m.err), "%s", tf_strerror());
	/* One write, under PIPE_BUF: whole or not at all. */
	if (write(j->wfd, &m, sizeof(m)) != sizeof(m))
		tf_backend_close(m.b);
	free(j->cb.channel);
	free(j);
	return NULL;
}

static void reopen(struct bal_service *s, int i)
{
	struct reopen_job *j = calloc(1, sizeof(*j));
	pthread_attr_t a;
	pthread_t t;

	if (!j)
		return;
	j->i = i;
	j->wfd = s->reopen_pipe[1];
	j->cb = s->c.backends[i];
	j->cb.channel = strdup(s->c.backends[i].channel);
	j->bo = backend_opts(s, &j->cb);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (!j->cb.channel || pthread_create(&t, &a, reopen_thread, j)) {
		free(j->cb.channel);
		free(j);
		s->be[i].next_open_ms = mv_now_ms() + REOPEN_MS;
	} else {
		s->be[i].reopening = true;
		s->reopening++;
	}
	pthread_attr_destroy(&a);
}

/* A reopening's end, in the loop. */
static void reopened(struct bal_service *s, const struct reopen_msg *m)
{
	struct be *b = &s->be[m->i];

	b->reopening = false;
	s->reopening--;
	if (!m->b) {
		if (!b->warned)
			say_warn(s, "backend %s is still down (tried again every %d s): %s", s->c.backends[m->i].name,
				REOPEN_MS / 1000, m->err);
		b->warned = true;
		b->next_open_ms = mv_now_ms() + REOPEN_MS;
		return;
	}
	if (s->stopping) {
		tf_backend_close(m->b);
		return;
	}
	tf_backend_close(b->tfb);	/* the broken one */
	b->tfb = m->b;
	b->fd = tf_backend_fd(b->tfb);
	b->warned = false;
	s->c.backends[m->i].up = true;
	say_warn(s, "backend %s: its channel is open again; it takes hand-offs", s->c.backends[m->i].name);
	arm(s, m->i);
}

static void on_reopen(void *ctx, int fd, uint32_t events)
{
	struct bal_service *s = ctx;
	struct reopen_msg m;

	(void)events;
	while (read(fd, &m, sizeof(m)) == sizeof(m))
		reopened(s, &m);
}

/* Once a second: deadlines, steer gc, and each backend's live connections (leastconn's count). */
static void tick(void *ctx)
{
	struct bal_service *s = ctx;

	for (int i = 0; i < s->c.n_backends; i++) {
		struct tf_backend_stats st;

		if (!s->be[i].tfb || !tf_backend_up(s->be[i].tfb)) {
			if (!s->be[i].reopening && mv_now_ms() >= s->be[i].next_open_ms)
				reopen(s, i);
			continue;
		}
		poll_backend(s, i, 0);
		tf_backend_stats(s->be[i].tfb, &st);
		s->c.backends[i].conns = (unsigned)(st.handed_off - st.ended) + st.in_flight;
	}
}

static bool need_more(void *ctx, const uint8_t *bytes, size_t len)
{
	const struct bal_service *s = ctx;

	return bal_route_needs_more(&s->c, bytes, len);
}

static void decide(void *ctx, int fd, const struct first_request *r, const uint8_t *bytes, size_t len)
{
	struct bal_service *s = ctx;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct tf_endpoint peer = {};
	char ps[TF_ADDRSTRLEN] = "?";
	struct conn *k;
	int pool = bal_route(&s->c, r, bytes, len);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *a = (const void *)&ss;

			peer.family = AF_INET;
			peer.port = ntohs(a->sin_port);
			memcpy(peer.addr, &a->sin_addr, 4);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const void *)&ss;

			peer.family = AF_INET6;
			peer.port = ntohs(a->sin6_port);
			memcpy(peer.addr, &a->sin6_addr, 16);
		}
		if (peer.family)
			tf_endpoint_str(&peer, ps, sizeof(ps));
	}
	if (pool < 0) {
		s->cnt.no_match++;
		if (mv_verbose())
			say_info(s, "client %s: no rule matches (Host \"%s\", path \"%s\"); answered %d", ps, r->host, r->path,
				s->c.default_status);
		answer(s, fd, s->c.default_status, r->kind == FR_HTTP);
		return;
	}
	k = calloc(1, sizeof(*k) + s->c.n_backends * sizeof(bool));
	if (!k) {
		answer(s, fd, 503, r->kind == FR_HTTP);
		return;
	}
	k->fd = fd;
	k->pool = pool;
	k->gen = s->gen;
	snprintf(k->pool_name, sizeof(k->pool_name), "%s", s->c.pools[pool].name);
	k->http = r->kind == FR_HTTP;
	snprintf(k->what, sizeof(k->what), "client %s", ps);
	if (s->c.pools[pool].policy == BAL_HASH_HOST) {
		k->key_len = strlen(r->host);
		memcpy(k->key, r->host, k->key_len);
	} else if (s->c.pools[pool].policy == BAL_HASH_CLIENT && peer.family) {
		k->key_len = peer.family == AF_INET ? 4 : 16;
		memcpy(k->key, peer.addr, k->key_len);
	}
	dispatch(s, k);
}

int bal_service_new(struct bal_config *c, const struct bal_service_opts *o, struct bal_service **out)
{
	struct bal_service *s = calloc(1, sizeof(*s));
	int up = 0, err;

	*out = NULL;
	if (!s)
		return tf_failx(ENOMEM, "balance: no memory");
	s->reopen_pipe[0] = s->reopen_pipe[1] = -1;
	s->c = *c;
	memset(c, 0, sizeof(*c));
	s->o = *o;
	if (o->loop > 0)
		snprintf(s->who, sizeof(s->who), "balance: loop %d", o->loop);
	else
		snprintf(s->who, sizeof(s->who), "balance");
	if (!s->c.n_backends) {
		bal_service_free(s);
		return tf_failx(EINVAL, "balance: no backend in the config (backend NAME addr A via CMD...)");
	}
	for (int i = 0; i < s->c.n_backends; i++) {
		const struct bal_backend *cb = &s->c.backends[i];

		if (!cb->addr[0] && !cb->addr6[0]) {
			err = tf_failx(EINVAL, "balance: backend %s has no address; give it addr A (or addr6 A6): "
					       "where its clients' packets are steered", cb->name);
			bal_service_free(s);
			return err;
		}
	}
	s->be = calloc(s->c.n_backends, sizeof(*s->be));
	if (!s->be) {
		bal_service_free(s);
		return tf_failx(ENOMEM, "balance: no memory");
	}
	err = bal_reader_new(&s->o.reader, decide, s, &s->rd);
	if (!err)
		bal_reader_set_more(s->rd, need_more);
	if (!err && pipe2(s->reopen_pipe, O_CLOEXEC | O_NONBLOCK))
		err = tf_fail(errno, "balance: pipe");
	if (!err)
		err = bal_reader_watch(s->rd, s->reopen_pipe[0], EPOLLIN, on_reopen, s);
	if (err) {
		bal_service_free(s);
		return err;
	}
	for (int i = 0; i < s->c.n_backends; i++) {
		struct bal_backend *cb = &s->c.backends[i];
		struct tf_backend_opts bo = backend_opts(s, cb);

		s->be[i].s = s;
		s->be[i].i = i;
		s->be[i].fd = -1;
		if (tf_backend_open(&bo, &s->be[i].tfb) < 0) {
			say_warn(s, "backend %s is down (it takes no hand-offs; tried again every %d s): %s",
				cb->name, REOPEN_MS / 1000, tf_strerror());
			cb->up = false;
			s->be[i].next_open_ms = mv_now_ms() + REOPEN_MS;
			continue;
		}
		s->be[i].fd = tf_backend_fd(s->be[i].tfb);
		cb->up = true;
		up++;
		arm(s, i);
	}
	if (!up) {
		bal_service_free(s);
		return tf_failx(EHOSTUNREACH, "balance: no backend's channel opened (each one's reason is above)");
	}
	bal_reader_set_tick(s->rd, 1000, tick, s);
	*out = s;
	return 0;
}

/* A TCP socket bound to ss (SO_REUSEPORT: in a group of listeners). */
static int bound(const struct tf_endpoint *e, const struct sockaddr_storage *ss, socklen_t sl, const char *endpoint,
		 bool reuseport, int *out)
{
	int one = 1, fd = socket(e->family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return tf_fail(errno, "balance: listen %s: socket", endpoint);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (e->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, sl)) {
		int en = errno;
		int err = tf_failx(en, "balance: listen %s: %s%s", endpoint, strerror(en),
				   en == EADDRINUSE ? " (another balancer or server listens there: stop it, or "
						      "listen on another address)" : "");

		close(fd);
		return err;
	}
	*out = fd;
	return 0;
}

int bal_service_listen(struct bal_service *s, const char *endpoint, bool join)
{
	struct tf_endpoint e;
	struct sockaddr_storage ss = {};
	socklen_t sl;
	int fd, err, *l;

	if (tf_endpoint_parse(endpoint, &e) < 0)
		return tf_failx(EINVAL, "balance: listen %s: not ADDR:PORT or [ADDR6]:PORT", endpoint);
	if (e.family == AF_INET) {
		struct sockaddr_in *a = (void *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(e.port);
		memcpy(&a->sin_addr, e.addr, 4);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (void *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(e.port);
		a->sin6_scope_id = e.scope_id;
		memcpy(&a->sin6_addr, e.addr, 16);
		sl = sizeof(*a);
	}
	l = realloc(s->listeners, (s->n_listeners + 1) * sizeof(*l));
	if (!l)
		return tf_failx(ENOMEM, "balance: no memory");
	s->listeners = l;
	/* Without SO_REUSEPORT first: the address must be free.  A group of
	 * SO_REUSEPORT listeners takes in any socket of the same user that
	 * asks, so a second balancer would share our clients in silence. */
	if (!join) {
		err = bound(&e, &ss, sl, endpoint, false, &fd);
		if (err)
			return err;
		close(fd);
	}
	/* Each loop's own listener: the kernel spreads the accepts by the 4-tuple's hash. */
	err = bound(&e, &ss, sl, endpoint, true, &fd);
	if (!err && listen(fd, 4096)) {
		err = tf_fail(errno, "balance: listen %s", endpoint);
		close(fd);
	}
	if (err)
		return err;
	err = bal_reader_add_listener(s->rd, fd);
	if (err) {
		close(fd);
		return err;
	}
	s->listeners[s->n_listeners++] = fd;
	return 0;
}

static bool same_str(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

static bool same_backend(const struct bal_backend *a, const struct bal_backend *b)
{
	return same_str(a->name, b->name) && same_str(a->channel, b->channel) && same_str(a->addr, b->addr) &&
	       same_str(a->addr6, b->addr6) && same_str(a->mode, b->mode) && same_str(a->dev, b->dev) &&
	       same_str(a->mac, b->mac) && same_str(a->src, b->src);
}

int bal_service_can_reload(const struct bal_service *s, const struct bal_config *nc)
{
	for (int i = 0; i < s->c.n_backends || i < nc->n_backends; i++)
		if (i >= s->c.n_backends || i >= nc->n_backends || !same_backend(&s->c.backends[i], &nc->backends[i]))
			return tf_failx(EINVAL, "balance: reload: backend %s changed, or was added or removed: the "
					"backends' channels stay until a restart; nothing was reloaded",
					i < nc->n_backends ? nc->backends[i].name : s->c.backends[i].name);
	return 0;
}

int bal_service_reload(struct bal_service *s, struct bal_config *nc)
{
	struct bal_config old;
	int err = bal_service_can_reload(s, nc);

	if (err)
		return err;
	for (int i = 0; i < nc->n_backends; i++) {
		nc->backends[i].up = s->c.backends[i].up;
		nc->backends[i].conns = s->c.backends[i].conns;
		nc->backends[i].unhealthy = s->c.backends[i].unhealthy;
	}
	old = s->c;
	s->c = *nc;
	memset(nc, 0, sizeof(*nc));
	nc->default_pool = -1;
	bal_config_free(&old);
	s->gen++;
	return 0;
}

int bal_service_pending(const struct bal_service *s)
{
	return bal_reader_pending(s->rd);
}

int bal_service_run(struct bal_service *s)
{
	return bal_reader_run(s->rd);
}

void bal_service_stop(struct bal_service *s)
{
	bal_reader_stop(s->rd);
}

void bal_service_lock(struct bal_service *s)
{
	bal_reader_lock(s->rd);
}

void bal_service_unlock(struct bal_service *s)
{
	bal_reader_unlock(s->rd);
}

/* The hand-offs under way end (the backends' answers, or their deadlines): none is retried now. */
static void drain(struct bal_service *s)
{
	double end = mv_now_ms() + (s->o.handoff_timeout_ms > 0 ? s->o.handoff_timeout_ms : 2000) + 500;

	s->stopping = true;
	for (;;) {
		bool busy = false;

		for (int i = 0; i < s->c.n_backends; i++) {
			struct tf_backend_stats st;

			if (!s->be[i].tfb || !tf_backend_up(s->be[i].tfb))
				continue;
			tf_backend_stats(s->be[i].tfb, &st);
			if (st.in_flight) {
				busy = true;
				poll_backend(s, i, 20);
			}
		}
		if (!busy || mv_now_ms() > end)
			return;
	}
}

void bal_service_close_backends(struct bal_service *s)
{
	if (!s->be)
		return;
	drain(s);
	/* The reopenings under way end first (each within its timeout). */
	for (double end = mv_now_ms() + (s->o.handoff_timeout_ms > 0 ? s->o.handoff_timeout_ms : 2000) + 3000;
	     s->reopening > 0 && mv_now_ms() < end;) {
		struct pollfd p = { .fd = s->reopen_pipe[0], .events = POLLIN };

		if (poll(&p, 1, 100) > 0)
			on_reopen(s, s->reopen_pipe[0], EPOLLIN);
	}
	for (int i = 0; i < s->c.n_backends; i++) {
		struct be *b = &s->be[i];

		if (!b->tfb)
			continue;
		b->was_up = tf_backend_up(b->tfb);
		if (b->watched)
			bal_reader_unwatch(s->rd, b->fd, !b->was_up);
		b->watched = false;
		tf_backend_close(b->tfb);
		b->tfb = NULL;
	}
}

void bal_service_free(struct bal_service *s)
{
	if (!s)
		return;
	bal_service_close_backends(s);
	bal_reader_free(s->rd);
	/* A reopening still under way (past its timeout) writes to the pipe: it stays open. */
	if (s->reopen_pipe[0] >= 0 && !s->reopening) {
		close(s->reopen_pipe[0]);
		close(s->reopen_pipe[1]);
	}
	for (int i = 0; i < s->n_listeners; i++)
		close(s->listeners[i]);
	free(s->listeners);
	free(s->be);
	bal_config_free(&s->c);
	free(s);
}

const struct bal_config *bal_service_config(const struct bal_service *s)
{
	return &s->c;
}

const struct bal_service_counters *bal_service_counters(const struct bal_service *s)
{
	return &s->cnt;
}

const struct bal_reader_counters *bal_service_reader_counters(const struct bal_service *s)
{
	return bal_reader_counters(s->rd);
}

bool bal_service_backend(const struct bal_service *s, int i, struct bal_backend_counters *c)
{
	*c = s->be[i].c;
	return s->be[i].tfb ? tf_backend_up(s->be[i].tfb) : s->be[i].was_up;
}
