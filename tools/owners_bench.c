// SPDX-License-Identifier: BSD-2-Clause
/*
 * owners_bench: what the owner check (tf_tuple_owners, sockdiag.h) costs by
 * either way, as tab-separated lines "metric N value unit":
 *
 *   owners_bench [S [N...]]   S established loopback connections in the
 *                             table (default 5000: 10,001 sockets), then N
 *                             tuples (default 1 4 16 64 256), none owned
 *                             (a restore's usual case):
 *       owners_walk_S   N  us   one dump per family of the whole table
 *       owners_exact_S  N  us   one lookup per tuple (one device: lo)
 *
 * Medians of 21 calls.  The connections live in a network namespace of the
 * tool's own (unshare): nothing is left behind.  Needs root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sockdiag.h"

#define RUNS 21

static void die(const char *what)
{
	fprintf(stderr, "owners_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median_us(const struct tf_tuple *k, size_t n, struct tf_tuple_owner *o, enum tf_owners_way way)
{
	double t[RUNS];

	for (int r = 0; r < RUNS; r++) {
		double t0 = now_us();

		if (tf_tuple_owners_by(k, n, o, way) < 0) {
			fprintf(stderr, "owners_bench: %s\n", tf_strerror());
			exit(1);
		}
		t[r] = now_us() - t0;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	return t[RUNS / 2];
}

int main(int argc, char **argv)
{
	static const size_t def_n[] = { 1, 4, 16, 64, 256 };
	long s = argc > 1 ? atol(argv[1]) : 5000;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(7000) };
	struct ifreq ifr = { .ifr_name = "lo" };
	struct rlimit rl;
	int l, sk;

	if (unshare(CLONE_NEWNET))
		die("unshare(CLONE_NEWNET)");
	sk = socket(AF_INET, SOCK_DGRAM, 0);
	if (ioctl(sk, SIOCGIFFLAGS, &ifr) || (ifr.ifr_flags |= IFF_UP, ioctl(sk, SIOCSIFFLAGS, &ifr)))
		die("lo up");
	close(sk);
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 4096))
		die("listen");
	for (long i = 0; i < s; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);

		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) || accept(l, NULL, NULL) < 0)
			die("a loopback connection (S needs 2 fds each)");
	}
	for (int i = 2; i < argc || (argc <= 2 && i - 2 < (int)(sizeof(def_n) / sizeof(def_n[0]))); i++) {
		size_t n = argc > 2 ? (size_t)atol(argv[i]) : def_n[i - 2];
		struct tf_tuple *k = calloc(n, sizeof(*k));
		struct tf_tuple_owner *o = calloc(n, sizeof(*o));

		if (!k || !o)
			die("calloc");
		for (size_t j = 0; j < n; j++) {	/* 127.0.0.2:7000 -> 127.0.0.3:port: nobody's */
			k[j].family = AF_INET;
			k[j].local_addr[0] = htonl(0x7f000002);
			k[j].peer_addr[0] = htonl(0x7f000003);
			k[j].local_port = htons(7000);
			k[j].peer_port = htons(10000 + j);
		}
		printf("owners_walk_%ld\t%zu\t%.1f\tus\n", s, n, median_us(k, n, o, TF_OWNERS_WALK));
		printf("owners_exact_%ld\t%zu\t%.1f\tus\n", s, n, median_us(k, n, o, TF_OWNERS_EXACT));
		fflush(stdout);
		free(k);
		free(o);
	}
	return 0;
}
