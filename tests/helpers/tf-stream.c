// SPDX-License-Identifier: BSD-2-Clause
/*
 * tf-stream: both ends of a verifiable byte stream, for the integration tests.
 *
 * Every byte at stream offset i is pattern(seed, i), so either end checks any
 * byte by its offset alone: a lost, duplicated or reordered byte is caught at
 * the first wrong offset.  The peer seed is 1, the app seed 2.
 *
 *   tf-stream app ADDR PORT --state FILE [--rcvbuf N] [--sndbuf N] [--write N]
 *       listen, accept one connection, read nothing; on SIGUSR1 write N bytes
 *       (non-blocking, as far as they go), record in FILE how many went, then
 *       wait to be dumped and killed.  With --then-exchange --peer-total N: on
 *       SIGUSR1 write the M bytes and read-check N of the peer's, here (for a
 *       dump that fails and must leave the connection as it was).
 *   tf-stream app-continue --state FILE --peer-total N --app-total M
 *       (fd 3 from tcpferry restore) write the app stream on from where FILE
 *       says up to M bytes, read and check the peer stream up to N, shut down.
 *   tf-stream peer ADDR PORT --first N --peer-total N --app-total M [--rcvbuf N]
 *       connect, send the first N bytes of the peer stream and wait until they
 *       are all acked; then on SIGUSR1 send the rest and check everything the app
 *       sends, up to EOF.  Exit 0 only if every byte checks out and no RST came.
 *       Until SIGUSR1 it reads nothing, so with a small fixed --rcvbuf (set
 *       before connect: no autotuning) its window closes once the app writes.
 *   tf-stream echo ADDR PORT [--pacing-rate B/S] | tf-stream echo-continue   (fds from LISTEN_FDS)
 *       accept connections (any number), echo what they read (optionally
 *       paced with SO_MAX_PACING_RATE).
 *   tf-stream many-peer ADDR PORT --count N --rounds R [--ping-ms M]
 *       open N connections; on each SIGUSR1, send a numbered line on every one
 *       and check the echo; after R rounds exit 0.  With --ping-ms, between
 *       the rounds a line goes out on every connection every M ms, and each
 *       round prints "max_gap_ms G min_gap_ms G" since the previous one: the
 *       longest and shortest time between two completed pings of all N, so
 *       a move in between shows as the pause the peer saw.
 *   tf-stream ping ADDR PORT --seconds S [--until-usr1 1]
 *       one connection; send numbered lines and check echoes for S seconds
 *       (with --until-usr1, until SIGUSR1 and then S seconds more).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go++;
}

static void fill(uint32_t seed, uint64_t off, uint8_t *buf, size_t n)
{
	for (size_t k = 0; k < n; k++)
		buf[k] = pattern(seed, off + k);
}

static uint64_t check(uint32_t seed, uint64_t off, const uint8_t *buf, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (buf[k] != pattern(seed, off + k))
			die("stream seed %u: wrong byte at offset %llu", seed, (unsigned long long)(off + k));
	return off + n;
}

static int sockaddr_of(const char *addr, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *a = (void *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		if (inet_pton(AF_INET6, addr, &a->sin6_addr) != 1)
			die("bad address %s", addr);
		return sizeof(*a);
	}
	struct sockaddr_in *a = (void *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	if (inet_pton(AF_INET, addr, &a->sin_addr) != 1)
		die("bad address %s", addr);
	return sizeof(*a);
}

static int listen_on(const char *addr, int port, int rcvbuf, int sndbuf)
{
	struct sockaddr_storage ss;
	int len = sockaddr_of(addr, port, &ss), one = 1;
	int s = socket(ss.ss_family, SOCK_STREAM, 0);

	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (rcvbuf)
		setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	if (sndbuf)
		setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
	if (bind(s, (struct sockaddr *)&ss, len) || listen(s, 4096))
		die("listen %s:%d: %s", addr, port, strerror(errno));
	return s;
}

static int connect_to(const char *addr, int port, int rcvbuf)
{
	struct sockaddr_storage ss;
	int len = sockaddr_of(addr, port, &ss);
	int s = socket(ss.ss_family, SOCK_STREAM, 0);

	/* Before connect, so the window scale offered fits the small buffer. */
	if (rcvbuf && setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)))
		die("SO_RCVBUF %d: %s", rcvbuf, strerror(errno));

	for (int i = 0; i < 100; i++) {
		if (connect(s, (struct sockaddr *)&ss, len) == 0)
			return s;
		if (errno != ECONNREFUSED)
			break;
		usleep(50000);	/* the server may still be starting */
	}
	die("connect %s:%d: %s", addr, port, strerror(errno));
}

static void wait_go(int want)
{
	sigset_t none;

	sigemptyset(&none);
	while (go < want)
		sigsuspend(&none);
}

/*
 * Send [sent, send_total) and receive-check [got, recv_total) at once, then
 * shut down our side and wait for the other's EOF.
 */
static void exchange(int s, uint32_t send_seed, uint64_t sent, uint64_t send_total, uint32_t recv_seed,
		     uint64_t got, uint64_t recv_total, int timeout_s)
{
	static uint8_t buf[256 * 1024];
	time_t deadline = time(NULL) + timeout_s;
	bool shut = false, eof = false;

	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	/* Done when both streams are: all ours sent and shut, theirs at EOF. */
	while (!eof || !shut) {
		struct pollfd p = { .fd = s, .events = (eof ? 0 : POLLIN) | (sent < send_total ? POLLOUT : 0) };

		if (time(NULL) > deadline)
			die("timed out: sent %llu of %llu, received %llu of %llu", (unsigned long long)sent,
			    (unsigned long long)send_total, (unsigned long long)got, (unsigned long long)recv_total);
		if (poll(&p, 1, 1000) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (p.revents & POLLOUT) {
			size_t n = send_total - sent < sizeof(buf) ? send_total - sent : sizeof(buf);
			ssize_t w;

			fill(send_seed, sent, buf, n);
			w = send(s, buf, n, MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN)
				die("send at %llu: %s", (unsigned long long)sent, strerror(errno));
			if (w > 0)
				sent += w;
		}
		if (sent == send_total && !shut) {
			shutdown(s, SHUT_WR);
			shut = true;
		}
		if (!eof && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t r = recv(s, buf, sizeof(buf), 0);

			if (r < 0 && errno != EAGAIN)
				die("recv at %llu: %s", (unsigned long long)got, strerror(errno));
			if (r == 0)
				eof = true;
			if (r > 0) {
				if (got + r > recv_total)
					die("received more than the %llu bytes expected", (unsigned long long)recv_total);
				got = check(recv_seed, got, buf, r);
			}
		}
	}
	if (got != recv_total)
		die("EOF after %llu of %llu bytes", (unsigned long long)got, (unsigned long long)recv_total);
	printf("ok sent %llu received %llu\n", (unsigned long long)sent, (unsigned long long)got);
}

static int mode_app(int argc, char **argv)
{
	const char *state = arg_str(argc, argv, "--state");
	long long want = arg_num(argc, argv, "--write", 0), sent = 0;
	int l = listen_on(argv[2], atoi(argv[3]), arg_num(argc, argv, "--rcvbuf", 0),
			  arg_num(argc, argv, "--sndbuf", 0));
	int s = accept(l, NULL, NULL);
	static uint8_t buf[64 * 1024];
	FILE *f;

	if (s < 0)
		die("accept: %s", strerror(errno));
	close(l);
	if (has_flag(argc, argv, "--then-exchange")) {
		/* No dump expected to succeed: on SIGUSR1, run both streams here. */
		wait_go(1);
		exchange(s, APP_SEED, 0, want, PEER_SEED, 0, arg_num(argc, argv, "--peer-total", 0), 120);
		return 0;
	}
	fcntl(s, F_SETFL, O_NONBLOCK);
	wait_go(1);
	while (sent < want) {
		size_t n = want - sent < (long long)sizeof(buf) ? (size_t)(want - sent) : sizeof(buf);
		ssize_t w;

		fill(APP_SEED, sent, buf, n);
		w = send(s, buf, n, MSG_NOSIGNAL);
		if (w <= 0)
			break;	/* the send buffer is full: the rest waits for the restore */
		sent += w;
	}
	f = fopen(state, "w");
	if (!f)
		die("%s: %s", state, strerror(errno));
	fprintf(f, "%lld\n", sent);
	fclose(f);
	for (;;)
		pause();
}

static int mode_app_continue(int argc, char **argv)
{
	const char *state = arg_str(argc, argv, "--state");
	const char *nfds = getenv("LISTEN_FDS");
	long long sent = 0;
	FILE *f = fopen(state, "r");

	if (!nfds || atoi(nfds) != 1)
		die("expected LISTEN_FDS=1, got %s", nfds ? nfds : "(unset)");
	if (!f || fscanf(f, "%lld", &sent) != 1)
		die("%s: cannot read the app's progress", state);
	fclose(f);
	exchange(3, APP_SEED, sent, arg_num(argc, argv, "--app-total", 0), PEER_SEED, 0,
		 arg_num(argc, argv, "--peer-total", 0), 120);
	return 0;
}

static int mode_peer(int argc, char **argv)
{
	long long first = arg_num(argc, argv, "--first", 0);
	int s = connect_to(argv[2], atoi(argv[3]), arg_num(argc, argv, "--rcvbuf", 0));
	static uint8_t buf[64 * 1024];
	long long sent = 0;
	int outq = 1;

	while (sent < first) {
		size_t n = first - sent < (long long)sizeof(buf) ? (size_t)(first - sent) : sizeof(buf);
		ssize_t w;

		fill(PEER_SEED, sent, buf, n);
		w = send(s, buf, n, MSG_NOSIGNAL);
		if (w <= 0)
			die("send: %s", strerror(errno));
		sent += w;
	}
	/* Everything in the app's receive queue (acked) before the test goes on. */
	for (int i = 0; i < 2000 && outq; i++) {
		if (ioctl(s, SIOCOUTQ, &outq))
			die("SIOCOUTQ: %s", strerror(errno));
		if (outq)
			usleep(5000);
	}
	if (outq)
		die("%d bytes still unacked after 10 s", outq);
	printf("ready\n");
	fflush(stdout);
	wait_go(1);
	exchange(s, PEER_SEED, sent, arg_num(argc, argv, "--peer-total", 0), APP_SEED, 0,
		 arg_num(argc, argv, "--app-total", 0), 120);
	return 0;
}

/* Echo every connection: listening fds accept, connected fds echo. */
/* echo --pacing-rate BYTES_PER_S: SO_MAX_PACING_RATE on each accepted socket (ts_migrate.t). */
static unsigned int echo_pacing_rate;

static int echo_loop(int *fds, int n, int listener)
{
	struct pollfd *p = calloc(65536, sizeof(*p));
	int np = 0;
	char buf[4096];

	for (int i = 0; i < n; i++)
		p[np++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	if (listener >= 0)
		p[np++] = (struct pollfd){ .fd = listener, .events = POLLIN };
	for (;;) {
		if (poll(p, np, -1) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		for (int i = 0; i < np; i++) {
			if (!p[i].revents)
				continue;
			if (p[i].fd == listener) {
				int s = accept(listener, NULL, NULL);

				if (s >= 0 && echo_pacing_rate)
					setsockopt(s, SOL_SOCKET, SO_MAX_PACING_RATE, &echo_pacing_rate,
						   sizeof(echo_pacing_rate));
				if (s >= 0 && np < 65536)
					p[np++] = (struct pollfd){ .fd = s, .events = POLLIN };
				continue;
			}
			ssize_t r = read(p[i].fd, buf, sizeof(buf));

			if (r <= 0) {
				close(p[i].fd);
				p[i] = p[--np];
				i--;
				if (np == 0) {
					free(p);
					return 0;
				}
				continue;
			}
			if (write(p[i].fd, buf, r) != r)
				die("echo write: %s", strerror(errno));
		}
	}
}

static void raise_nofile(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

static int mode_echo(int argc, char **argv)
{
	echo_pacing_rate = arg_num(argc, argv, "--pacing-rate", 0);
	raise_nofile();
	return echo_loop(NULL, 0, listen_on(argv[2], atoi(argv[3]), 0, 0));
}

static int mode_echo_continue(void)
{
	const char *nfds = getenv("LISTEN_FDS");
	int n = nfds ? atoi(nfds) : 0, *fds = calloc(n + 1, sizeof(int));

	if (n <= 0)
		die("expected LISTEN_FDS");
	for (int i = 0; i < n; i++)
		fds[i] = 3 + i;
	n = echo_loop(fds, n, -1);
	free(fds);
	return n;
}

/* Send "round r conn i\n" on each connection and expect it back. */
static void ping_round(int *s, int n, int round)
{
	char line[64], back[64];

	for (int i = 0; i < n; i++) {
		int len = snprintf(line, sizeof(line), "round %d conn %d\n", round, i);
		ssize_t w;

		while ((w = send(s[i], line, len, MSG_NOSIGNAL)) < 0 && errno == EINTR)
			;	/* SIGUSR1 (the next round) may come at any time */
		if (w != len)
			die("conn %d: send: %s", i, strerror(errno));
	}
	for (int i = 0; i < n; i++) {
		int len = snprintf(line, sizeof(line), "round %d conn %d\n", round, i), got = 0;

		while (got < len) {
			ssize_t r = recv(s[i], back + got, len - got, 0);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				die("conn %d round %d: %s", i, round, r ? strerror(errno) : "EOF");
			got += r;
		}
		if (memcmp(line, back, len))
			die("conn %d round %d: wrong echo", i, round);
	}
}

static double mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int mode_many_peer(int argc, char **argv)
{
	int n = arg_num(argc, argv, "--count", 1), rounds = arg_num(argc, argv, "--rounds", 2);
	int ping_ms = arg_num(argc, argv, "--ping-ms", 0), pings = 0;
	int *s = calloc(n, sizeof(int));
	struct timeval tv = { .tv_sec = 30 };

	raise_nofile();
	for (int i = 0; i < n; i++) {
		s[i] = connect_to(argv[2], atoi(argv[3]), 0);
		setsockopt(s[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	ping_round(s, n, 0);
	printf("ready\n");
	fflush(stdout);
	for (int r = 1; r <= rounds; r++) {
		double last = mono_ms(), max_gap = 0, min_gap = 1e9, now;

		while (ping_ms && go < r) {
			usleep(ping_ms * 1000);	/* SIGUSR1 cuts it short */
			ping_round(s, n, 1000000 + pings++);
			now = mono_ms();
			max_gap = now - last > max_gap ? now - last : max_gap;
			min_gap = now - last < min_gap ? now - last : min_gap;
			last = now;
		}
		wait_go(r);
		ping_round(s, n, r);
		if (ping_ms)
			printf("round %d ok max_gap_ms %.1f min_gap_ms %.1f\n", r, max_gap, min_gap);
		else
			printf("round %d ok\n", r);
		fflush(stdout);
	}
	printf("ok %d connections, %d rounds\n", n, rounds);
	free(s);
	return 0;
}

static int mode_ping(int argc, char **argv)
{
	int s = connect_to(argv[2], atoi(argv[3]), 0);
	long long seconds = arg_num(argc, argv, "--seconds", 2);
	bool until_usr1 = arg_num(argc, argv, "--until-usr1", 0);
	time_t end = time(NULL) + seconds;
	struct timeval tv = { .tv_sec = 10 };
	int round = 0;

	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		if (until_usr1 && go) {
			/* The S seconds count from the signal. */
			until_usr1 = false;
			end = time(NULL) + seconds;
		}
		if (!until_usr1 && time(NULL) >= end)
			break;
		ping_round(&s, 1, round++);
		usleep(2000);
	}
	printf("ok %d round trips\n", round);
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1 };

	helper_name = "tf-stream";

	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && !strcmp(argv[1], "app"))
		return mode_app(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "app-continue"))
		return mode_app_continue(argc, argv);
	if (argc >= 4 && !strcmp(argv[1], "peer"))
		return mode_peer(argc, argv);
	if (argc >= 4 && !strcmp(argv[1], "echo"))
		return mode_echo(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "echo-continue"))
		return mode_echo_continue();
	if (argc >= 4 && !strcmp(argv[1], "many-peer"))
		return mode_many_peer(argc, argv);
	if (argc >= 4 && !strcmp(argv[1], "ping"))
		return mode_ping(argc, argv);
	fprintf(stderr, "usage: see the comment at the top of tests/helpers/tf-stream.c\n");
	return 2;
}
