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
 *   lock_bench           both, for N = 1, 1000, 100000 (churn) and 0, 1000, 1000000 (pkt)
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
	memset(&hit, 0, sizeof(hit));
	hit.family = AF_INET;
	hit.local_addr[0] = htonl(0x0AFF0001u);
	hit.peer_addr[0] = htonl(0xC0000201u);
	hit.local_port = htons(443);
	hit.peer_port = htons(7);
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

	libbpf_set_print(NULL);
	if (argc == 3 && !strcmp(argv[1], "churn")) {
		churn(parse_n(argv[2]));
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "pkt")) {
		pkt(parse_n(argv[2]));
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "Usage: lock_bench [churn N | pkt N]\n");
		return 2;
	}
	printf("# metric\tN\tvalue\tunit\n");
	for (size_t i = 0; i < sizeof(churn_n) / sizeof(churn_n[0]); i++)
		churn(churn_n[i]);
	for (size_t i = 0; i < sizeof(pkt_n) / sizeof(pkt_n[0]); i++)
		pkt(pkt_n[i]);
	return 0;
}
