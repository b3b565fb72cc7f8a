// SPDX-License-Identifier: BSD-2-Clause
/*
 * A test frontend: the few lines a load balancer needs around libtcpferry's
 * hand-off.  It listens on ADDR PORT, and for each of COUNT connections reads
 * the first HTTP request's head, picks the backend the path names ("/b2..."
 * goes to the second --backend, anything else to the first) and hands the
 * connection over with what it read put back in front (tf_handoff).  A
 * refused hand-off leaves the connection here: it answers 503 itself.
 *
 *   tf-frontend ADDR PORT COUNT --backend 'ADDR4|ADDR6|MODE|VIA' [--backend ...]
 *               [--bpffs DIR] [--timeout-ms MS] [--batch N]
 *
 * --batch N: accept and read N connections, then hand them off pipelined
 * (tf_handoff_submit, tf_handoff_poll): N in flight at once.  One line per
 * connection on stdout: "handoff ok N backend K MS ms" (from its submit to
 * the backend's LIVE) or "handoff failed N backend K: TEXT"; at the end
 * "latency n N median MS p99 MS max MS ms", "submit n N median MS p99 MS
 * ms" (the frontend's own part: lock, repair, dump, send) and "ended N"
 * (the backends' reports of the connections' ends).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tcpferry.h"

#define MAX_BACKENDS 4

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int listen_on(const char *addr, int port)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	bool v6 = strchr(addr, ':');
	int one = 1, s = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);

	if (s < 0 || (v6 ? inet_pton(AF_INET6, addr, &a6.sin6_addr) : inet_pton(AF_INET, addr, &a4.sin_addr)) != 1)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a4, v6 ? sizeof(a6) : sizeof(a4)) ||
	    listen(s, 4096))
		return -1;
	return s;
}

/* "ADDR4|ADDR6|MODE|VIA" (either address may be empty). */
static int parse_backend(char *spec, struct tf_backend_opts *o)
{
	char *f[4];

	for (int i = 0; i < 4; i++) {
		f[i] = spec;
		spec = i < 3 ? strchr(spec, '|') : NULL;
		if (i < 3 && !spec)
			return -1;
		if (spec)
			*spec++ = '\0';
	}
	o->addr = *f[0] ? f[0] : NULL;
	o->addr6 = *f[1] ? f[1] : NULL;
	o->mode = f[2];
	o->via = f[3];
	return 0;
}

/* The request head (up to its blank line), read as a frontend reads it. */
static ssize_t read_head(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	while (n < cap - 1) {
		ssize_t k = read(fd, buf + n, cap - 1 - n);

		if (k <= 0)
			return -1;
		n += k;
		buf[n] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			return n;
	}
	return -1;
}

/* Take the backends' reports until each hand-off's end came (or ms passed). */
static void wait_ends(struct tf_backend **b, int nb, int ms)
{
	double end = now_ms() + ms;

	do {
		struct pollfd p[MAX_BACKENDS];
		bool all = true;

		for (int i = 0; i < nb; i++) {
			struct tf_backend_stats st;

			tf_backend_stats(b[i], &st);
			if (st.ended < st.handed_off)
				all = false;
			p[i] = (struct pollfd){ .fd = tf_backend_fd(b[i]), .events = tf_backend_events(b[i]) };
		}
		if (all && ms)
			return;
		if (poll(p, nb, ms ? 100 : 0) <= 0 && !ms)
			return;
		for (int i = 0; i < nb; i++) {
			struct tf_handoff_done d;

			if (p[i].revents)
				tf_handoff_poll(b[i], 0, &d, 1);
		}
	} while (now_ms() < end || !ms);
}

/* accept(2), serving the backends' channels meanwhile (their answers, our queued messages). */
static int accept_serving(int ls, struct tf_backend **b, int nb)
{
	for (;;) {
		struct pollfd p[MAX_BACKENDS + 1] = { { .fd = ls, .events = POLLIN } };

		for (int i = 0; i < nb; i++)
			p[i + 1] = (struct pollfd){ .fd = tf_backend_fd(b[i]), .events = tf_backend_events(b[i]) };
		if (poll(p, nb + 1, 1000) < 0 && errno != EINTR)
			return -1;
		for (int i = 0; i < nb; i++) {
			struct tf_handoff_done d;

			/* Nothing is in flight while we accept: only ends and flushes come. */
			if (p[i + 1].revents)
				tf_handoff_poll(b[i], 0, &d, 1);
		}
		if (p[0].revents)
			return accept(ls, NULL, NULL);
	}
}

struct req {
	int fd, n, backend;
	ssize_t len;
	char head[16384];
};

static struct req *reqs;	/* a batch (file scope: an early exit is no leak) */
static double *lat;	/* each hand-off's ms, for the summary */
static int n_ms;
static double *sub;	/* each submit's own ms (the frontend's work: lock, repair, dump, send) */
static int n_sub;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One hand-off's end: said on stdout; a connection taken back is answered here. */
static void ended(const struct tf_handoff_done *d, const char *text)
{
	const struct req *r = d->cookie;
	static const char busy[] = "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";

	if (d->status == 0) {
		printf("handoff ok %d backend %d %.3f ms\n", r->n, r->backend + 1, d->ms);
		lat[n_ms++] = d->ms;
		return;
	}
	printf("handoff failed %d backend %d: %s\n", r->n, r->backend + 1, text);
	/* In doubt: in repair and locked; its close is silent.  Whoever settles it drops the lock. */
	if (d->status != -EINPROGRESS && write(r->fd, busy, sizeof(busy) - 1) < 0)
		perror("tf-frontend: write");
	close(r->fd);
}

int main(int argc, char **argv)
{
	struct tf_backend_opts bo[MAX_BACKENDS] = {};
	struct tf_backend *b[MAX_BACKENDS] = {};
	const char *bpffs = NULL;
	int nb = 0, timeout_ms = 0, batch = 1, ls, count;

	if (argc < 4) {
		fprintf(stderr, "usage: tf-frontend ADDR PORT COUNT --backend 'A4|A6|MODE|VIA'...\n");
		return 2;
	}
	for (int i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--backend") && i + 1 < argc && nb < MAX_BACKENDS) {
			if (parse_backend(argv[++i], &bo[nb++]))
				return fprintf(stderr, "tf-frontend: bad --backend\n"), 2;
		} else if (!strcmp(argv[i], "--bpffs") && i + 1 < argc) {
			bpffs = argv[++i];
		} else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
			batch = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) {
			timeout_ms = atoi(argv[++i]);
		} else {
			return fprintf(stderr, "tf-frontend: unknown argument %s\n", argv[i]), 2;
		}
	}
	count = atoi(argv[3]);
	if (batch < 1)
		batch = 1;
	reqs = calloc(batch, sizeof(*reqs));
	lat = calloc(count + 1, sizeof(*lat));
	sub = calloc(count + 1, sizeof(*sub));
	if (!reqs || !lat || !sub)
		return fprintf(stderr, "tf-frontend: no memory\n"), 1;
	for (int i = 0; i < nb; i++) {
		bo[i].bpffs = bpffs;
		bo[i].timeout_ms = timeout_ms;
		if (tf_backend_open(&bo[i], &b[i]) < 0)
			return fprintf(stderr, "tf-frontend: backend %d: %s\n", i + 1, tf_strerror()), 1;
	}
	ls = listen_on(argv[1], atoi(argv[2]));
	if (ls < 0)
		return perror("tf-frontend: listen"), 1;
	printf("ready\n");
	fflush(stdout);
	for (int c = 1; c <= count; c += batch) {
		int nconn = count - c + 1 < batch ? count - c + 1 : batch, pending = 0;

		/* Accept and read a batch, then hand it off: nconn in flight at once. */
		for (int i = 0; i < nconn; i++) {
			int fd = accept_serving(ls, b, nb), k = 0;
			ssize_t n;

			if (fd < 0)
				return perror("tf-frontend: accept"), 1;
			n = read_head(fd, reqs[i].head, sizeof(reqs[i].head));
			reqs[i].fd = fd;
			reqs[i].n = c + i;
			if (n < 0) {
				printf("handoff failed %d: no request head\n", c + i);
				close(fd);
				continue;
			}
			/* "GET /b2..." -> the second backend */
			if (!strncmp(reqs[i].head, "GET /b", 6) && reqs[i].head[6] >= '1' && reqs[i].head[6] <= '0' + nb)
				k = reqs[i].head[6] - '1';
			reqs[i].backend = k;
			reqs[i].len = n;
		}
		for (int i = 0; i < nconn; i++) {
			struct tf_handoff_req r = { .fd = reqs[i].fd, .prepend = reqs[i].head, .prepend_len = reqs[i].len,
						    .cookie = &reqs[i] };

			if (reqs[i].len <= 0)
				continue;
			double t0 = now_ms();

			if (tf_handoff_submit(b[reqs[i].backend], &r) == 0) {
				sub[n_sub++] = now_ms() - t0;
				pending++;
				continue;
			}
			ended(&(struct tf_handoff_done){ .cookie = &reqs[i], .fd = reqs[i].fd, .status = -EIO }, tf_strerror());
		}
		while (pending > 0) {
			struct pollfd p[MAX_BACKENDS];

			for (int i = 0; i < nb; i++)
				p[i] = (struct pollfd){ .fd = tf_backend_fd(b[i]), .events = tf_backend_events(b[i]) };
			poll(p, nb, 100);
			for (int i = 0; i < nb; i++) {
				struct tf_handoff_done d[64];
				int got = tf_handoff_poll(b[i], 0, d, 64);

				/* A broken channel gives its hand-offs' ends first, then < 0. */
				for (int j = 0; j < got; j++, pending--)
					ended(&d[j], d[j].text);
			}
		}
		fflush(stdout);
	}
	if (n_ms) {
		qsort(lat, n_ms, sizeof(*lat), cmp_double);
		printf("latency n %d median %.3f p99 %.3f max %.3f ms\n", n_ms, lat[n_ms / 2],
		       lat[(int)(n_ms * 0.99) < n_ms ? (int)(n_ms * 0.99) : n_ms - 1], lat[n_ms - 1]);
		qsort(sub, n_sub, sizeof(*sub), cmp_double);
		printf("submit n %d median %.3f p99 %.3f ms\n", n_sub, sub[n_sub / 2],
		       sub[(int)(n_sub * 0.99) < n_sub ? (int)(n_sub * 0.99) : n_sub - 1]);
	}
	/* The backends report the connections' ends: their steers go. */
	wait_ends(b, nb, 10000);
	{
		uint64_t ended = 0;

		for (int i = 0; i < nb; i++) {
			struct tf_backend_stats st;

			tf_backend_stats(b[i], &st);
			ended += st.ended;
			tf_backend_close(b[i]);
		}
		printf("ended %llu\n", (unsigned long long)ended);
	}
	close(ls);
	free(reqs);
	free(lat);
	free(sub);
	return 0;
}
