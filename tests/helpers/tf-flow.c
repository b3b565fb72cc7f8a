// SPDX-License-Identifier: BSD-2-Clause
/*
 * tf-flow: the peer's side of a live, verified, bidirectional stream through
 * an echo (for example socat on the migrated host relaying to an echo server),
 * and a stopwatch for the pause the peer sees.
 *
 *   tf-flow client ADDR PORT [--chunk BYTES] [--interval-us US] [--status FILE]
 *
 * Connects, then every interval sends the next chunk of a pattern stream
 * (byte i = pattern(i), as in tf-stream) and checks every echoed byte by its
 * offset, so a lost, duplicated or reordered byte stops it at once.  The
 * pause is the longest time without any echoed byte arriving.
 *
 *   SIGUSR1   print "gap_ms MAX recv BYTES" (the longest pause since the
 *             previous SIGUSR1) and start measuring afresh
 *   SIGUSR2   stop sending, shut down, wait for the whole echo, then print
 *             "ok sent N verified N max_gap_ms G" and exit 0
 * With --status FILE, every 5 ms FILE holds "RECV_BYTES MS_SINCE_LAST_RECV
 * MAX_GAP_MS" (one line, rewritten in place) for a controller that waits.
 * Exits 1 on any wrong byte, RST, EOF too early, or 60 s without progress.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

static volatile sig_atomic_t want_report, want_stop;

static void on_usr1(int s) { (void)s; want_report = 1; }
static void on_usr2(int s) { (void)s; want_stop = 1; }

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int connect_to(const char *addr, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	bool v6 = strchr(addr, ':') != NULL;
	struct sockaddr *sa = v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a;
	socklen_t len = v6 ? sizeof(a6) : sizeof(a);
	int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);

	if (v6 ? inet_pton(AF_INET6, addr, &a6.sin6_addr) != 1 : inet_pton(AF_INET, addr, &a.sin_addr) != 1)
		die("bad IP address %s", addr);
	for (int i = 0; i < 100; i++) {
		if (connect(s, sa, len) == 0)
			return s;
		if (errno != ECONNREFUSED)
			break;
		usleep(50000);	/* the server may still be starting */
	}
	die("connect %s port %d: %s", addr, port, strerror(errno));
}

int main(int argc, char **argv)
{
	struct sigaction su1 = { .sa_handler = on_usr1 }, su2 = { .sa_handler = on_usr2 };
	static uint8_t buf[256 * 1024];
	uint64_t sent = 0, got = 0;

	helper_name = "tf-flow";
	double last_recv, next_send, max_gap = 0, all_max = 0, last_status = 0;
	bool stopping = false, eof = false;
	const char *status;
	size_t chunk;
	long interval_us;
	int s, st = -1;

	if (argc < 4 || strcmp(argv[1], "client")) {
		fprintf(stderr, "usage: see the comment at the top of tests/helpers/tf-flow.c\n");
		return 2;
	}
	chunk = arg_num(argc, argv, "--chunk", 1024);
	interval_us = arg_num(argc, argv, "--interval-us", 1000);
	status = arg_str(argc, argv, "--status");
	if (chunk < 1 || chunk > sizeof(buf))
		die("--chunk: 1 to %zu", sizeof(buf));
	sigaction(SIGUSR1, &su1, NULL);
	sigaction(SIGUSR2, &su2, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (status && (st = open(status, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		die("%s: %s", status, strerror(errno));
	s = connect_to(argv[2], atoi(argv[3]));
	fcntl(s, F_SETFL, O_NONBLOCK);
	last_recv = next_send = now_ms();

	while (!eof) {
		double t = now_ms();
		int wait = stopping ? 5 : (int)(next_send - t < 0 ? 0 : next_send - t + 1);
		struct pollfd p = { .fd = s, .events = POLLIN };

		if (want_report) {
			want_report = 0;
			printf("gap_ms %.1f recv %llu\n", max_gap, (unsigned long long)got);
			max_gap = 0;
		}
		if (want_stop && !stopping) {
			stopping = true;
			shutdown(s, SHUT_WR);
		}
		if (t - last_recv > 60000)
			die("no echo for 60 s (sent %llu, verified %llu)", (unsigned long long)sent,
			    (unsigned long long)got);
		if (poll(&p, 1, wait > 5 ? 5 : wait) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		t = now_ms();
		if (!stopping && t >= next_send) {
			for (size_t k = 0; k < chunk; k++)
				buf[k] = pattern(PEER_SEED, sent + k);
			ssize_t w = send(s, buf, chunk, MSG_NOSIGNAL);

			if (w < 0 && errno != EAGAIN)
				die("send at %llu: %s", (unsigned long long)sent, strerror(errno));
			if (w > 0)
				sent += w;
			next_send += interval_us / 1e3;
			if (next_send < t - 50)
				next_send = t;	/* do not burst after a stall */
		}
		for (;;) {
			ssize_t r = recv(s, buf, sizeof(buf), 0);

			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (r < 0)
				die("recv at %llu: %s", (unsigned long long)got, strerror(errno));
			if (r == 0) {
				eof = true;
				break;
			}
			for (ssize_t k = 0; k < r; k++)
				if (buf[k] != pattern(PEER_SEED, got + k))
					die("wrong byte at offset %llu of the echo",
					    (unsigned long long)(got + k));
			got += r;
			if (got > sent)
				die("echo longer than what was sent (%llu > %llu)", (unsigned long long)got,
				    (unsigned long long)sent);
			if (t - last_recv > max_gap)
				max_gap = t - last_recv;
			if (t - last_recv > all_max)
				all_max = t - last_recv;
			last_recv = t;
		}
		if (st >= 0 && t - last_status >= 5) {
			char line[96];
			int n = snprintf(line, sizeof(line), "%llu %.1f %.1f\n", (unsigned long long)got,
					 t - last_recv, max_gap);

			if (pwrite(st, line, n, 0) == n && ftruncate(st, n) == 0)
				last_status = t;
		}
	}
	if (!stopping)
		die("EOF before we stopped (sent %llu, verified %llu)", (unsigned long long)sent,
		    (unsigned long long)got);
	if (got != sent)
		die("EOF after %llu of the %llu bytes sent", (unsigned long long)got, (unsigned long long)sent);
	printf("ok sent %llu verified %llu max_gap_ms %.1f\n", (unsigned long long)sent, (unsigned long long)got,
	       all_max);
	return 0;
}
