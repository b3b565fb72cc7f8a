// SPDX-License-Identifier: BSD-2-Clause
/*
 * lock_bench: what the BPF lock costs, as tab-separated lines
 * "metric N value unit" (lines starting with # are comments).
 *
 *   lock_bench churn N   lock then unlock N connections through the library:
 *       lock_one   N  conn/s   one map update + one delete per connection
 *       lock_bulk  N  conn/s   tf_lock_add_bulk / _del_bulk with the bulk
 *                              programs loaded (tf_locktab_bulk_prepare)
 *   lock_bench pkt N     per-packet cost of the ingress program with N
 *                        non-matching locks in the table (BPF_PROG_TEST_RUN repeat):
 *       pkt_xdp, pkt_tc              N  ns   a TCP packet no lock matches
 *       pkt_xdp_drop, pkt_tc_drop    N  ns   a packet of a locked tuple (dropped)
 *       pkt_xdp_empty, pkt_tc_empty  N  ns   a program that passes at once: the floor
 *   lock_bench steer N   per-packet cost of the same program once steers are in use,
 *                        with N steer entries (and one lock) in the tables:
 *       steer_xdp_miss, steer_tc_miss   N  ns   a TCP packet neither table has
 *       steer_xdp_lock, steer_tc_lock   N  ns   a locked tuple's packet (dropped)
 *       steer_xdp_l2, steer_tc_l2       N  ns   a steered packet, l2 (XDP_TX / redirect)
 *       steer_xdp_tx_empty              N  ns   a program that returns XDP_TX at once
 *       steer_xdp_l3_1x, steer_tc_l3_1x N  ns   a steered packet, l3 (IPIP): one run per
 *                                               call (a repeat would encapsulate the
 *                                               same packet again), median of 2001
 *       steer_xdp_l2_1x, steer_xdp_empty_1x, steer_tc_empty_1x   the same way, to compare
 *   lock_bench           all three, for N = 1, 1000, 100000 (churn), 0, 1000, 1000000 (pkt)
 *                        and 1000, 1000000 (steer)
 *
 * The maps are the skeleton's own, unpinned: nothing is attached, nothing
 * is left behind.  Needs root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/bpf.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lock.h"
#include "lock.skel.h"
#include "steer.h"

#define PKT_REPEAT	1000000
#define MIN_CHURN_NS	20000000ull	/* small N: repeat the cycle for at least 20 ms */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "lock_bench: %s: %s\n", what, *tf_strerror() ? tf_strerror() : strerror(errno));
	exit(1);
}

/* A lock table of at least n entries (the production default if that is more). */
static struct lock_bpf *load(uint32_t n, struct tf_locktab **t)
{
	struct lock_bpf *skel = lock_bpf__open();

	if (!skel)
		die("open the lock programs");
	if (n < TF_DEFAULT_MAX_LOCKS)
		n = TF_DEFAULT_MAX_LOCKS;
	if (bpf_map__set_max_entries(skel->maps.locks, n) || lock_bpf__load(skel))
		die("load the lock programs");
	if (tf_locktab_from_fd(bpf_map__fd(skel->maps.locks), t))
		die("lock table");
	return skel;
}

/* N distinct tuples: 10.x.y.z:443 (local) <-> 192.0.2.1:port (peer). */
static struct tf_tuple *tuples(size_t n)
{
	struct tf_tuple *k = calloc(n ? n : 1, sizeof(*k));

	if (!k)
		die("tuples");
	for (size_t i = 0; i < n; i++) {
		k[i].family = AF_INET;
		k[i].local_addr[0] = htonl(0x0A000000u | (uint32_t)(i >> 14));
		k[i].peer_addr[0] = htonl(0xC0000201u);
		k[i].local_port = htons(443);
		k[i].peer_port = htons(1024 + (i & 0x3FFF));
	}
	return k;
}

static void churn(size_t n)
{
	struct tf_locktab *t;
	struct lock_bpf *skel = load(n, &t);
	struct tf_tuple *k = tuples(n);
	uint64_t t0, spent, cycles;

	/* One at a time: tf_lock_add / tf_lock_del, as dump and restore do. */
	cycles = 0;
	t0 = now_ns();
	do {
		for (size_t i = 0; i < n; i++)
			if (tf_lock_add(t, &k[i], TF_LOCK_MANUAL, 0))
				die("lock");
		for (size_t i = 0; i < n; i++)
			if (tf_lock_del(t, &k[i]))
				die("unlock");
		cycles++;
		spent = now_ns() - t0;
	} while (spent < MIN_CHURN_NS);
	printf("lock_one\t%zu\t%.1f\tconn/s\n", n, (double)n * cycles * 1e9 / spent);

	/* In bulk: the kernel programs, loaded once as a long-lived user would. */
	if (tf_locktab_bulk_prepare(t))
		fprintf(stderr, "lock_bench: no bulk programs on this kernel; one map update per tuple\n");
	cycles = 0;
	t0 = now_ns();
	do {
		int added = tf_lock_add_bulk(t, k, n, TF_LOCK_MANUAL, 0, NULL);

		if (added != (int)n)
			die("bulk lock");
		if (tf_lock_del_bulk(t, k, n, NULL) != (int)n)
			die("bulk unlock");
		cycles++;
		spent = now_ns() - t0;
	} while (spent < MIN_CHURN_NS);
	printf("lock_bulk\t%zu\t%.1f\tconn/s\n", n, (double)n * cycles * 1e9 / spent);
	fflush(stdout);

	free(k);
	tf_locktab_close(t);
	lock_bpf__destroy(skel);
}

/* An Ethernet + IPv4 + TCP packet, 10.255.0.1:443 <- 192.0.2.1:peer_port, 64 bytes of payload. */
static size_t packet(uint8_t *buf, uint32_t local, uint16_t peer_port)
{
	size_t len = 14 + 20 + 20 + 64;

	memset(buf, 0, len);
	buf[12] = 0x08;
	buf[14] = 0x45;
	buf[16] = (len - 14) >> 8;
	buf[17] = (len - 14) & 0xff;
	buf[22] = 64;
	buf[23] = IPPROTO_TCP;
	*(uint32_t *)(buf + 26) = htonl(0xC0000201u);
	*(uint32_t *)(buf + 30) = htonl(local);
	*(uint16_t *)(buf + 34) = htons(peer_port);
	*(uint16_t *)(buf + 36) = htons(443);
	buf[46] = 5 << 4;
	buf[47] = 0x10;
	return len;
}

/* 10.255.0.1:443 <- 192.0.2.1:peer_port, a tuple no key of tuples() resembles: the hits. */
static struct tf_tuple hit_tuple(uint16_t peer_port)
{
	struct tf_tuple k;

	memset(&k, 0, sizeof(k));
	k.family = AF_INET;
	k.local_addr[0] = htonl(0x0AFF0001u);
	k.peer_addr[0] = htonl(0xC0000201u);
	k.local_port = htons(443);
	k.peer_port = htons(peer_port);
	return k;
}

static double per_packet(int prog_fd, const uint8_t *pkt, size_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = len, .repeat = PKT_REPEAT);

	if (bpf_prog_test_run_opts(prog_fd, &o))
		die("BPF_PROG_TEST_RUN");
	return o.duration;	/* the kernel's average per repetition, ns */
}

/* The floor: a program of "r0 = PASS; exit". */
static int empty_prog(enum bpf_prog_type type, int ret)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = ret },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(type, "tf_bench_empty", "GPL", insns, 2, NULL);

	if (fd < 0)
		die("load an empty program");
	return fd;
}

static void pkt(size_t n)
{
	struct tf_locktab *t;
	struct lock_bpf *skel = load(n + 1, &t);
	struct tf_tuple *k = tuples(n);
	struct tf_tuple hit;
	uint8_t buf[256];
	size_t len;
	int xdp_empty = empty_prog(BPF_PROG_TYPE_XDP, XDP_PASS);
	int tc_empty = empty_prog(BPF_PROG_TYPE_SCHED_CLS, -1);
	int xdp = bpf_program__fd(skel->progs.tf_lock_xdp);
	int tc = bpf_program__fd(skel->progs.tf_lock_tc_in);

	if (n && tf_lock_add_bulk(t, k, n, TF_LOCK_MANUAL, 0, NULL) != (int)n)
		die("fill the lock table");
	/* One locked tuple that no other key resembles, for the drop figures. */
	hit = hit_tuple(7);
	if (tf_lock_add(t, &hit, TF_LOCK_MANUAL, 0))
		die("lock");

	len = packet(buf, 0x0AFF0001u, 8);	/* same host, other port: no match */
	printf("pkt_xdp\t%zu\t%.1f\tns\n", n, per_packet(xdp, buf, len));
	printf("pkt_tc\t%zu\t%.1f\tns\n", n, per_packet(tc, buf, len));
	printf("pkt_xdp_empty\t%zu\t%.1f\tns\n", n, per_packet(xdp_empty, buf, len));
	printf("pkt_tc_empty\t%zu\t%.1f\tns\n", n, per_packet(tc_empty, buf, len));
	len = packet(buf, 0x0AFF0001u, 7);	/* the locked tuple */
	printf("pkt_xdp_drop\t%zu\t%.1f\tns\n", n, per_packet(xdp, buf, len));
	printf("pkt_tc_drop\t%zu\t%.1f\tns\n", n, per_packet(tc, buf, len));
	fflush(stdout);

	close(xdp_empty);
	close(tc_empty);
	free(k);
	tf_locktab_close(t);
	lock_bpf__destroy(skel);
}

/* One run per call, the median of the kernel's durations: for programs that change their packet. */
static int cmp_u32(const void *a, const void *b)
{
	return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : *(const uint32_t *)a > *(const uint32_t *)b;
}

#define ONE_SHOT_RUNS 2001
static double per_packet_1x(int prog_fd, const uint8_t *pkt, size_t len, bool skb)
{
	static uint32_t d[ONE_SHOT_RUNS];
	uint8_t out[512];
	struct __sk_buff ctx = { .ifindex = 1 };

	for (int i = 0; i < ONE_SHOT_RUNS; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = len, .data_out = out,
			    .data_size_out = sizeof(out), .repeat = 1);

		if (skb) {
			o.ctx_in = &ctx;
			o.ctx_size_in = sizeof(ctx);
		}
		if (bpf_prog_test_run_opts(prog_fd, &o))
			die("BPF_PROG_TEST_RUN");
		d[i] = o.duration;
	}
	qsort(d, ONE_SHOT_RUNS, sizeof(d[0]), cmp_u32);
	return d[ONE_SHOT_RUNS / 2];
}

static double per_packet_tc(int prog_fd, const uint8_t *pkt, size_t len)
{
	struct __sk_buff ctx = { .ifindex = 1 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = len, .repeat = PKT_REPEAT,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));

	if (bpf_prog_test_run_opts(prog_fd, &o))
		die("BPF_PROG_TEST_RUN");
	return o.duration;
}

/*
 * n steer entries for tuples(n) (l2, never idle), plus two steered tuples
 * (l2 and l3, peer port 9 and 10) and one lock (port 7) for the hits.
 */
static void steer_pkt(size_t n)
{
	struct lock_bpf *skel = lock_bpf__open();
	struct tf_locktab *t;
	struct tf_steertab *st;
	struct tf_tuple *k = tuples(n), hit;
	struct tf_steer v = { .mode = TF_STEER_L2, .backend_family = AF_INET, .out_ifindex = 1,
			      .idle_timeout_ns = 1ull << 62 };
	uint8_t buf[256];
	size_t len;
	int xdp, tc, xdp_tx_empty = empty_prog(BPF_PROG_TYPE_XDP, XDP_TX);
	int xdp_empty = empty_prog(BPF_PROG_TYPE_XDP, XDP_PASS), tc_empty = empty_prog(BPF_PROG_TYPE_SCHED_CLS, -1);

	if (!skel || bpf_map__set_max_entries(skel->maps.steers, n + 16 > TF_DEFAULT_MAX_STEERS ? n + 16 :
					       TF_DEFAULT_MAX_STEERS) || lock_bpf__load(skel))
		die("load the lock programs");
	if (tf_locktab_from_fd(bpf_map__fd(skel->maps.locks), &t) ||
	    tf_steertab_from_fds(bpf_map__fd(skel->maps.steers), bpf_map__fd(skel->maps.steer_cfg), &st))
		die("tables");
	xdp = bpf_program__fd(skel->progs.tf_lock_xdp);
	tc = bpf_program__fd(skel->progs.tf_lock_tc_in);
	v.since_ns = v.last_seen_ns = tf_mono_ns();
	for (size_t i = 0; i < n; i++)
		if (bpf_map_update_elem(tf_steertab_fd(st), &k[i], &v, BPF_NOEXIST))
			die("fill the steer table");
	hit = hit_tuple(7);
	if (tf_lock_add(t, &hit, TF_LOCK_MANUAL, 0))
		die("lock");
	hit.peer_port = htons(9);
	if (tf_steer_add(st, &hit, &v))	/* sets steer_cfg.in_use */
		die("steer l2");
	hit.peer_port = htons(10);
	v.mode = TF_STEER_L3;
	if (tf_steer_add(st, &hit, &v))
		die("steer l3");

	len = packet(buf, 0x0AFF0001u, 8);	/* neither locked nor steered */
	printf("steer_xdp_miss\t%zu\t%.1f\tns\n", n, per_packet(xdp, buf, len));
	printf("steer_tc_miss\t%zu\t%.1f\tns\n", n, per_packet(tc, buf, len));
	len = packet(buf, 0x0AFF0001u, 7);
	printf("steer_xdp_lock\t%zu\t%.1f\tns\n", n, per_packet(xdp, buf, len));
	printf("steer_tc_lock\t%zu\t%.1f\tns\n", n, per_packet(tc, buf, len));
	len = packet(buf, 0x0AFF0001u, 9);
	printf("steer_xdp_l2\t%zu\t%.1f\tns\n", n, per_packet(xdp, buf, len));
	printf("steer_tc_l2\t%zu\t%.1f\tns\n", n, per_packet_tc(tc, buf, len));
	printf("steer_xdp_tx_empty\t%zu\t%.1f\tns\n", n, per_packet(xdp_tx_empty, buf, len));
	printf("steer_xdp_l2_1x\t%zu\t%.1f\tns\n", n, per_packet_1x(xdp, buf, len, false));
	len = packet(buf, 0x0AFF0001u, 10);
	printf("steer_xdp_l3_1x\t%zu\t%.1f\tns\n", n, per_packet_1x(xdp, buf, len, false));
	printf("steer_tc_l3_1x\t%zu\t%.1f\tns\n", n, per_packet_1x(tc, buf, len, true));
	printf("steer_xdp_empty_1x\t%zu\t%.1f\tns\n", n, per_packet_1x(xdp_empty, buf, len, false));
	printf("steer_tc_empty_1x\t%zu\t%.1f\tns\n", n, per_packet_1x(tc_empty, buf, len, true));
	fflush(stdout);

	close(xdp_tx_empty);
	close(xdp_empty);
	close(tc_empty);
	free(k);
	tf_steertab_close(st);
	tf_locktab_close(t);
	lock_bpf__destroy(skel);
}

static size_t parse_n(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (!*s || *end || v > 10000000ull) {
		fprintf(stderr, "lock_bench: N '%s': expected 0 to 10000000\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const size_t churn_n[] = { 1, 1000, 100000 };
	static const size_t pkt_n[] = { 0, 1000, 1000000 };
	static const size_t steer_n[] = { 1000, 1000000 };

	libbpf_set_print(NULL);
	if (argc == 3 && !strcmp(argv[1], "churn")) {
		churn(parse_n(argv[2]));
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "pkt")) {
		pkt(parse_n(argv[2]));
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "steer")) {
		steer_pkt(parse_n(argv[2]));
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "Usage: lock_bench [churn N | pkt N | steer N]\n");
		return 2;
	}
	printf("# metric\tN\tvalue\tunit\n");
	for (size_t i = 0; i < sizeof(churn_n) / sizeof(churn_n[0]); i++)
		churn(churn_n[i]);
	for (size_t i = 0; i < sizeof(pkt_n) / sizeof(pkt_n[0]); i++)
		pkt(pkt_n[i]);
	for (size_t i = 0; i < sizeof(steer_n) / sizeof(steer_n[0]); i++)
		steer_pkt(steer_n[i]);
	return 0;
}
