// SPDX-License-Identifier: BSD-2-Clause
/*
 * The tsval recorder on crafted packets (BPF_PROG_TEST_RUN of the real tc
 * programs): which tsval each TCP option layout yields in the map, and that
 * malformed or truncated options and packets without the option record
 * nothing.  Also the serial maximum across the 2^32 wrap and the lock rule
 * (a locked tuple's packets are not recorded), and that events that do not
 * fit the ring buffer (one page here) are counted as lost.  The maps are the
 * skeleton's own: no pin, no bpffs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tap.h"
#include "lock.h"
#include "tsval.h"
#include "tsval.skel.h"

#define A4 "198.18.0.1"
#define B4 "198.18.0.2"
#define PORT_A 8080
#define PORT_B 40000

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct tsval_bpf *skel;
static int kinds[3];
static struct tf_tsval_event evs[16];	/* the first events since drain_events(), in order */
static int n_evs;

static int count_event(void *ctx, void *data, size_t len)
{
	const struct tf_tsval_event *e = data;

	(void)ctx;
	if (len >= sizeof(*e) && e->kind < 3)
		kinds[e->kind]++;
	if (len >= sizeof(*e) && n_evs < (int)ARRAY_SIZE(evs))
		evs[n_evs++] = *e;
	return 0;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }

/* Ethernet + IPv4 + TCP (A -> B) with these options; cut > 0 keeps only that many bytes. */
static size_t build(uint8_t *buf, const uint8_t *opts, int optlen, int doff_words, int cut, bool v6)
{
	int l3 = 14, l4, tcplen = 20 + optlen, len;

	memset(buf, 0, 256);
	memcpy(buf, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	put16(buf + 12, v6 ? 0x86DD : 0x0800);
	if (v6) {
		buf[l3] = 0x60;
		put16(buf + l3 + 4, tcplen);
		buf[l3 + 6] = 6;
		buf[l3 + 7] = 64;
		inet_pton(AF_INET6, "fd00:7466::1", buf + l3 + 8);
		inet_pton(AF_INET6, "fd00:7466::2", buf + l3 + 24);
		l4 = l3 + 40;
	} else {
		buf[l3] = 0x45;
		put16(buf + l3 + 2, 20 + tcplen);
		buf[l3 + 8] = 64;
		buf[l3 + 9] = 6;
		inet_pton(AF_INET, A4, buf + l3 + 12);
		inet_pton(AF_INET, B4, buf + l3 + 16);
		l4 = l3 + 20;
	}
	put16(buf + l4, PORT_A);
	put16(buf + l4 + 2, PORT_B);
	buf[l4 + 12] = (doff_words ? doff_words : tcplen / 4) << 4;
	buf[l4 + 13] = 0x10;
	put16(buf + l4 + 14, 65535);
	memcpy(buf + l4 + 20, opts, optlen);
	len = l4 + tcplen;
	return cut > 0 && cut < len ? (size_t)cut : (size_t)len;
}

static int run(int prog_fd, const uint8_t *pkt, size_t len, uint32_t mark)
{
	struct __sk_buff ctx = { .mark = mark };
	uint8_t out[512];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = len, .data_out = out,
		    .data_size_out = sizeof(out), .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

	if (bpf_prog_test_run_opts(prog_fd, &o))
		return -errno;
	return (int)o.retval;
}

static struct tf_tuple key_a_to_b(bool v6)
{
	struct tf_endpoint l = { .family = v6 ? AF_INET6 : AF_INET, .port = PORT_A },
			   p = { .family = v6 ? AF_INET6 : AF_INET, .port = PORT_B };
	struct tf_tuple k;

	inet_pton(l.family, v6 ? "fd00:7466::1" : A4, l.addr);
	inet_pton(p.family, v6 ? "fd00:7466::2" : B4, p.addr);
	tf_tuple_make(&l, &p, &k);
	return k;
}

static void clear_map(void)
{
	struct tf_tuple k = key_a_to_b(false), k6 = key_a_to_b(true);

	bpf_map_delete_elem(bpf_map__fd(skel->maps.tsvals), &k);
	bpf_map_delete_elem(bpf_map__fd(skel->maps.tsvals), &k6);
}

/* Send one packet out and say what the map holds: the tsval, or -1 if nothing. */
static long long out_tsval(const uint8_t *opts, int optlen, int doff_words, int cut, bool v6, int *verdict)
{
	uint8_t buf[256];
	size_t len = build(buf, opts, optlen, doff_words, cut, v6);
	struct tf_tuple k = key_a_to_b(v6);
	struct tf_tsval v;
	int r = run(bpf_program__fd(skel->progs.tf_tsval_tc_out), buf, len, 0);

	if (verdict)
		*verdict = r;
	if (tf_tsval_get(bpf_map__fd(skel->maps.tsvals), &k, &v) || !v.out_max.seen)
		return -1;
	return v.out_max.tsval;
}

#define TCP_SYN 0x02
#define TCP_ACK 0x10

/*
 * One IPv4 packet with these TCP flags through the egress (A -> B) or, with
 * addresses and ports swapped, the ingress program (B -> A); tsval < 0: no
 * options.  Either way the record is the one of (local A, peer B).
 */
static void send_flags(bool ingress, long long tsval, uint8_t flags)
{
	uint8_t buf[256], o[12] = { 1, 1, 8, 10, tsval >> 24, tsval >> 16, tsval >> 8, tsval, 0, 0, 0, 1 };
	size_t len = build(buf, o, tsval < 0 ? 0 : 12, 0, 0, false);

	buf[14 + 20 + 13] = flags;
	if (ingress) {
		uint8_t tmp[4];

		memcpy(tmp, buf + 26, 4);
		memcpy(buf + 26, buf + 30, 4);
		memcpy(buf + 30, tmp, 4);
		put16(buf + 34, PORT_B);
		put16(buf + 36, PORT_A);
	}
	run(bpf_program__fd(ingress ? skel->progs.tf_tsval_tc_in : skel->progs.tf_tsval_tc_out), buf, len, 0);
}

/* Events in the ring since the last call, by kind (kinds[]). */
static void drain_events(void)
{
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.tsval_events), count_event, NULL, NULL);

	memset(kinds, 0, sizeof(kinds));
	n_evs = 0;
	ring_buffer__consume(rb);
	ring_buffer__free(rb);
}

#define TS(v) 8, 10, (v) >> 24, ((v) >> 16) & 0xff, ((v) >> 8) & 0xff, (v) & 0xff, 0, 0, 0, 1

struct layout {
	const char *name;
	uint8_t opts[40];
	int len;
	int doff_words;		/* 0: from len */
	int cut;
	long long want;		/* -1: nothing recorded */
};

int main(void)
{
	static const struct layout layouts[] = {
		{ "Linux layout NOP NOP TS (fast path)", { 1, 1, TS(0x01020304u) }, 12, 0, 0, 0x01020304 },
		{ "TS first, then NOP NOP", { TS(0x0a0b0c0du), 1, 1 }, 12, 0, 0, 0x0a0b0c0d },
		{ "MSS, SACK_PERM, TS, NOP, WSCALE (a SYN)", { 2, 4, 5, 0xb4, 4, 2, TS(777), 1, 3, 3, 7 }, 20, 0, 0, 777 },
		{ "TS after SACK: NOP NOP SACK(1 block) NOP NOP TS",
		  { 1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, TS(4242) }, 24, 0, 0, 4242 },
		{ "TS after MD5 (NOP NOP MD5(18) TS)",
		  { 1, 1, 19, 18, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 1, 1, TS(99) }, 32, 0, 0, 99 },
		{ "TS as the last option, 40 bytes of options",
		  { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, TS(31337) },
		  40, 0, 0, 31337 },
		{ "no options", { 0 }, 0, 0, 0, -1 },
		{ "options without TS (NOP NOP SACK)", { 1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2 }, 12, 0, 0, -1 },
		{ "EOL before a TS", { 0, 0, TS(5) }, 12, 0, 0, -1 },
		{ "malformed: option length 0", { 3, 0, TS(6) }, 12, 0, 0, -1 },
		{ "malformed: option length 1", { 3, 1, 1, 1, TS(7) }, 16, 0, 0, -1 },
		{ "malformed: TS length 8", { 1, 1, 8, 8, 0, 0, 0, 9, 0, 0, 0, 0 }, 12, 0, 0, -1 },
		{ "malformed: SACK running past the header", { 1, 1, 5, 30, 0, 0, 0, 1, 0, 0, 0, 2 }, 12, 0, 0, -1 },
		{ "malformed: TS running past the header", { 1, 1, 1, 1, 1, 1, 1, 1, 8, 10, 0, 0 }, 12, 0, 0, -1 },
		{ "data offset below 20", { 1, 1, TS(8) }, 12, 4, 0, -1 },
		{ "options cut off by the end of the packet", { 1, 1, TS(9) }, 12, 0, 14 + 20 + 20 + 6, -1 },
		{ "fast-path word but data offset says 4 option bytes", { 1, 1, TS(10) }, 12, 6, 0, -1 },
	};
	uint8_t fast[] = { 1, 1, TS(0) };
	int verdict;

	plan((int)ARRAY_SIZE(layouts) + 28);
	skel = tsval_bpf__open();
	if (!skel)
		bail_out("open the tsval skeleton: %s", strerror(errno));
	bpf_map__set_max_entries(skel->maps.locks, 16);
	bpf_map__set_max_entries(skel->maps.tsval_events, sysconf(_SC_PAGESIZE));	/* easy to fill */
	if (tsval_bpf__load(skel)) {
		if (errno == EPERM)
			skip_all("needs root (BPF)");
		bail_out("load the tsval programs: %s", strerror(errno));
	}

	for (size_t i = 0; i < ARRAY_SIZE(layouts); i++) {
		const struct layout *l = &layouts[i];
		long long got;

		clear_map();
		got = out_tsval(l->opts, l->len, l->doff_words, l->cut, false, &verdict);
		ok(got == l->want && verdict == TC_ACT_UNSPEC, "%s: %lld (want %lld), passes", l->name, got, l->want);
	}

	/* IPv6 takes the same path to the options. */
	clear_map();
	fast[2 + 2] = 0x12;
	ok(out_tsval(fast, 12, 0, 0, true, NULL) == 0x12000000, "IPv6: tsval recorded");

	/* Serial maximum: larger after wrap wins, older does not replace it. */
	clear_map();
	{
		uint32_t seq[] = { 0xfffffff0u, 0xfffffffau, 0x00000005u, 0xfffffff8u, 0x00000003u };
		uint32_t want[] = { 0xfffffff0u, 0xfffffffau, 0x00000005u, 0x00000005u, 0x00000005u };

		for (size_t i = 0; i < ARRAY_SIZE(seq); i++) {
			uint8_t o[12] = { 1, 1, TS(seq[i]) };
			long long got = out_tsval(o, 12, 0, 0, false, NULL);

			ok(got == want[i], "serial max after tsval %#x: %#llx (want %#x)", seq[i], got, want[i]);
		}
	}

	/* The ingress program records the peer's tsval under the same (local, peer) key. */
	{
		uint8_t buf[256], o[12] = { 1, 1, TS(0x5555u) };
		size_t len = build(buf, o, 12, 0, 0, false);
		struct tf_tuple k = key_a_to_b(false);
		struct tf_tsval v;

		/* Swap addresses and ports: the packet comes from B to A. */
		uint8_t tmp[4];
		memcpy(tmp, buf + 26, 4);
		memcpy(buf + 26, buf + 30, 4);
		memcpy(buf + 30, tmp, 4);
		put16(buf + 34, PORT_B);
		put16(buf + 36, PORT_A);
		clear_map();
		run(bpf_program__fd(skel->progs.tf_tsval_tc_in), buf, len, 0);
		ok(tf_tsval_get(bpf_map__fd(skel->maps.tsvals), &k, &v) == 0 && v.in_max.seen && v.in_max.tsval == 0x5555 &&
		   !v.out_max.seen, "ingress: the peer's tsval is in in_max of (local A, peer B)");
	}

	/* Reloaded with the lock check on: a locked tuple's packets are not recorded. */
	{
		struct tsval_bpf *s2 = tsval_bpf__open();
		struct tf_tuple k = key_a_to_b(false);
		struct tf_lock lock = { .since_ns = 1 };
		uint8_t buf[256], o[12] = { 1, 1, TS(1000) };
		size_t len = build(buf, o, 12, 0, 0, false);
		struct tf_tsval v;
		int locks_fd, map_fd;

		bpf_map__set_max_entries(s2->maps.locks, 16);
		s2->rodata->tf_check_locks = 1;
		if (tsval_bpf__load(s2))
			bail_out("load the tsval programs (lock check): %s", strerror(errno));
		locks_fd = bpf_map__fd(s2->maps.locks);
		map_fd = bpf_map__fd(s2->maps.tsvals);
		bpf_map_update_elem(locks_fd, &k, &lock, BPF_ANY);
		run(bpf_program__fd(s2->progs.tf_tsval_tc_out), buf, len, 0);
		ok(tf_tsval_get(map_fd, &k, &v) == -ENOENT, "locked tuple: nothing recorded (the lock drops it)");
		run(bpf_program__fd(s2->progs.tf_tsval_tc_out), buf, len, TF_PASS_MARK);
		ok(tf_tsval_get(map_fd, &k, &v) == 0 && v.out_max.tsval == 1000,
		   "locked tuple, TF_PASS_MARK packet: recorded (it passes the lock)");
		lock.expires_ns = 1;	/* long expired */
		bpf_map_update_elem(locks_fd, &k, &lock, BPF_ANY);
		o[2 + 5] = 0xee;	/* tsval 1000 -> 0x3ee (1006) */
		len = build(buf, o, 12, 0, 0, false);
		run(bpf_program__fd(s2->progs.tf_tsval_tc_out), buf, len, 0);
		ok(tf_tsval_get(map_fd, &k, &v) == 0 && v.out_max.tsval == 0x3ee, "expired lock: recorded again");
		tsval_bpf__destroy(s2);
	}

	/* Events: with a watcher, a regression goes to the ring buffer. */
	{
		uint32_t zero = 0;
		struct tf_tsval_cfg cfg = { .watchers = 1, .max_jump = 100 };
		int cfg_fd = bpf_map__fd(skel->maps.tsval_cfg);
		uint32_t seq[] = { 5000, 5001, 4000, 9000 };
		struct ring_buffer *rb;

		bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY);
		clear_map();
		for (size_t i = 0; i < ARRAY_SIZE(seq); i++) {
			uint8_t o[12] = { 1, 1, TS(seq[i]) };

			out_tsval(o, 12, 0, 0, false, NULL);
		}
		rb = ring_buffer__new(bpf_map__fd(skel->maps.tsval_events), count_event, NULL, NULL);
		ring_buffer__consume(rb);
		ring_buffer__free(rb);
		ok(kinds[TF_TSV_EV_FIRST] == 1 && kinds[TF_TSV_EV_REGRESSION] == 1 && kinds[TF_TSV_EV_JUMP] == 1,
		   "events: first %d, regression %d (5001 -> 4000), jump %d (4000 -> 9000 > 100)",
		   kinds[TF_TSV_EV_FIRST], kinds[TF_TSV_EV_REGRESSION], kinds[TF_TSV_EV_JUMP]);
	}

	/*
	 * A regression is a tsval before the largest one seen so far (what the
	 * peer's PAWS compares with), not only before the previous packet's: each
	 * of 4000 4500 4600 5900 is before 6000.  The event carries that maximum.
	 */
	{
		uint32_t zero = 0;
		struct tf_tsval_cfg cfg = { .watchers = 1, .max_jump = 100 };
		uint32_t seq[] = { 5000, 6000, 4000, 4500, 4600, 5900 };
		int cfg_fd = bpf_map__fd(skel->maps.tsval_cfg), ok_prev = 1;

		bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY);
		clear_map();
		drain_events();
		for (size_t i = 0; i < ARRAY_SIZE(seq); i++)
			send_flags(false, seq[i], TCP_ACK);
		drain_events();
		for (int i = 0; i < n_evs; i++)
			if (evs[i].kind == TF_TSV_EV_REGRESSION && evs[i].prev != 6000)
				ok_prev = 0;
		ok(kinds[TF_TSV_EV_REGRESSION] == 4 && ok_prev,
		   "5000 6000 4000 4500 4600 5900: %d regressions (want 4), each against the max 6000: %s",
		   kinds[TF_TSV_EV_REGRESSION], ok_prev ? "yes" : "no");
		ok(kinds[TF_TSV_EV_JUMP] == 1,
		   "... and one jump (5000 -> 6000 > 100; 4000 -> 4500 is below the max): %d",
		   kinds[TF_TSV_EV_JUMP]);

		/* A jump is over the maximum before the packet, not over the previous packet's tsval. */
		send_flags(false, 6050, TCP_ACK);	/* 50 over 6000, 150 over 5900 */
		drain_events();
		ok(kinds[TF_TSV_EV_JUMP] == 0, "6050 after max 6000, last 5900 (max_jump 100): no jump (%d)",
		   kinds[TF_TSV_EV_JUMP]);
		send_flags(false, 6200, TCP_ACK);
		drain_events();
		ok(kinds[TF_TSV_EV_JUMP] == 1 && n_evs == 1 && evs[0].prev == 6050 && evs[0].tsval == 6200,
		   "6200 after 6050: a jump from %u to %u", n_evs ? evs[0].prev : 0, n_evs ? evs[0].tsval : 0);

		/* slack: a step back of at most slack below the maximum is reordering. */
		cfg.slack = 200;
		cfg.max_jump = 0;
		bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY);
		send_flags(false, 6100, TCP_ACK);	/* 100 back: tolerated */
		send_flags(false, 6150, TCP_ACK);	/* 50 back of the max, 50 ahead of the last: tolerated */
		send_flags(false, 5900, TCP_ACK);	/* 300 back: a regression */
		drain_events();
		ok(kinds[TF_TSV_EV_REGRESSION] == 1 && n_evs == 1 && evs[0].prev == 6200 && evs[0].tsval == 5900,
		   "slack 200 after max 6200: 6100, 6150 tolerated, 5900 a regression (%d; prev %u)",
		   kinds[TF_TSV_EV_REGRESSION], n_evs ? evs[0].prev : 0);
		cfg = (struct tf_tsval_cfg){ .watchers = 1 };
		bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY);
	}

	/* out_seen_ns / in_seen_ns: when the maximum took its value, not the last packet's time. */
	{
		struct tf_tuple k = key_a_to_b(false);
		int map_fd = bpf_map__fd(skel->maps.tsvals);
		struct tf_tsval v0, v1, v2;

		clear_map();
		send_flags(false, 1000, TCP_ACK);
		send_flags(true, 3000, TCP_ACK);
		tf_tsval_get(map_fd, &k, &v0);
		usleep(1000);
		send_flags(false, 999, TCP_ACK);	/* below the maxima: they stay, so does their time */
		send_flags(true, 3000, TCP_ACK);
		tf_tsval_get(map_fd, &k, &v1);
		ok(v1.out_seen_ns == v0.out_seen_ns && v1.in_seen_ns == v0.in_seen_ns && v1.out_packets == 2,
		   "a lower or equal tsval leaves the maximum's time (out %+lld ns, in %+lld ns)",
		   (long long)(v1.out_seen_ns - v0.out_seen_ns), (long long)(v1.in_seen_ns - v0.in_seen_ns));
		send_flags(false, 1001, TCP_ACK);
		tf_tsval_get(map_fd, &k, &v2);
		ok(v2.out_max.tsval == 1001 && v2.out_seen_ns > v1.out_seen_ns && v2.in_seen_ns == v1.in_seen_ns,
		   "a raise moves the maximum's time (out %+lld ns)", (long long)(v2.out_seen_ns - v1.out_seen_ns));
	}

	/*
	 * A new connection on the same 4-tuple: a SYN or SYN-ACK either way
	 * starts the record over, so neither tswatch nor restore sees the
	 * earlier connection's tsvals.
	 */
	{
		struct tf_tuple k = key_a_to_b(false);
		int map_fd = bpf_map__fd(skel->maps.tsvals);
		struct tf_tsval v;
		int get_err;

		/* (tf_tsval_get before ok(): the order its arguments are evaluated in is unspecified) */
		clear_map();
		drain_events();
		send_flags(false, 1000, TCP_ACK);
		send_flags(true, 2000, TCP_ACK);
		send_flags(false, 5, TCP_SYN);
		drain_events();
		get_err = tf_tsval_get(map_fd, &k, &v);
		ok(get_err == 0 && v.out_max.seen && v.out_max.tsval == 5 && !v.in_max.seen &&
		   v.out_packets == 1, "SYN out with tsval 5 after 1000: out max %u, in %s (want 5, none)",
		   v.out_max.tsval, v.in_max.seen ? "kept" : "none");
		ok(kinds[TF_TSV_EV_REGRESSION] == 0 && kinds[TF_TSV_EV_FIRST] == 3,
		   "SYN out: no regression, a 'first' event (regressions %d, firsts %d of 3)",
		   kinds[TF_TSV_EV_REGRESSION], kinds[TF_TSV_EV_FIRST]);

		send_flags(true, 2000, TCP_ACK);
		send_flags(false, 1000, TCP_ACK);
		send_flags(true, 9, TCP_SYN | TCP_ACK);
		drain_events();
		get_err = tf_tsval_get(map_fd, &k, &v);
		ok(get_err == 0 && v.in_max.seen && v.in_max.tsval == 9 && !v.out_max.seen &&
		   kinds[TF_TSV_EV_REGRESSION] == 0,
		   "SYN-ACK in with tsval 9 after 2000: in max %u, out %s, regressions %d (want 9, none, 0)",
		   v.in_max.tsval, v.out_max.seen ? "kept" : "none", kinds[TF_TSV_EV_REGRESSION]);

		send_flags(false, 1000, TCP_ACK);
		send_flags(true, 2000, TCP_ACK);
		send_flags(true, 4, TCP_SYN);
		get_err = tf_tsval_get(map_fd, &k, &v);
		ok(get_err == 0 && v.in_max.tsval == 4 && !v.out_max.seen,
		   "SYN in (the peer reconnects) with tsval 4: in max %u, out %s", v.in_max.tsval,
		   v.out_max.seen ? "kept" : "none");

		/* A handshake: the SYN-ACK keeps the SYN it answers (the only packet the other way). */
		drain_events();
		send_flags(false, 1000, TCP_ACK);
		send_flags(false, 20, TCP_SYN);
		send_flags(false, 21, TCP_SYN);	/* a retransmitted SYN starts over too */
		send_flags(true, 30, TCP_SYN | TCP_ACK);
		drain_events();
		get_err = tf_tsval_get(map_fd, &k, &v);
		ok(get_err == 0 && v.out_max.tsval == 21 && v.out_packets == 1 && v.in_max.tsval == 30 &&
		   kinds[TF_TSV_EV_FIRST] == 4 && kinds[TF_TSV_EV_REGRESSION] == 0,
		   "handshake SYN 20, SYN 21, SYN-ACK 30: out %u (%s), in %u, firsts %d, regressions %d "
		   "(want 21, 30, 4, 0)", v.out_max.tsval, v.out_max.seen ? "kept" : "none", v.in_max.tsval,
		   kinds[TF_TSV_EV_FIRST], kinds[TF_TSV_EV_REGRESSION]);

		send_flags(false, 1000, TCP_ACK);
		send_flags(true, 2000, TCP_ACK);
		send_flags(false, -1, TCP_SYN);
		get_err = tf_tsval_get(map_fd, &k, &v);
		ok(get_err == 0 && !v.out_max.seen && !v.in_max.seen,
		   "SYN without timestamps: the new connection has none, the record is empty");
		clear_map();
		send_flags(true, -1, TCP_SYN);
		ok(tf_tsval_get(map_fd, &k, &v) == -ENOENT, "SYN without timestamps, no record: none made");
		drain_events();
	}

	/*
	 * The compare-and-swap that raises the maximum gives up after
	 * tf_cas_tries failed tries (other CPUs raising it meanwhile), and the
	 * give-up is counted.  Contention cannot be made here: a recorder
	 * loaded with 0 tries gives up on every raise.
	 */
	{
		struct tsval_bpf *s3 = tsval_bpf__open();
		struct tf_tuple k = key_a_to_b(false);
		uint8_t buf[256], o[12] = { 1, 1, TS(1000) };
		size_t len = build(buf, o, 12, 0, 0, false);
		struct tf_tsval_stats st0, st1;
		struct tf_tsval v;
		int map_fd, stats_fd;

		bpf_map__set_max_entries(s3->maps.locks, 16);
		s3->rodata->tf_cas_tries = 0;
		if (tsval_bpf__load(s3))
			bail_out("load the tsval programs (0 tries): %s", strerror(errno));
		map_fd = bpf_map__fd(s3->maps.tsvals);
		stats_fd = bpf_map__fd(s3->maps.tsval_stats);
		run(bpf_program__fd(s3->progs.tf_tsval_tc_out), buf, len, 0);	/* the first: no CAS */
		tf_tsval_stats_sum(stats_fd, &st0);
		o[2 + 5] = 0xf0;	/* 1000 -> 0x3f0 (1008): a raise */
		len = build(buf, o, 12, 0, 0, false);
		run(bpf_program__fd(s3->progs.tf_tsval_tc_out), buf, len, 0);
		o[2 + 5] = 0xe0;	/* 0x3e0 (992): below the maximum, nothing to raise */
		len = build(buf, o, 12, 0, 0, false);
		run(bpf_program__fd(s3->progs.tf_tsval_tc_out), buf, len, 0);
		tf_tsval_stats_sum(stats_fd, &st1);
		tf_tsval_get(map_fd, &k, &v);
		ok(st1.max_giveups - st0.max_giveups == 1 && v.out_max.tsval == 1000,
		   "0 CAS tries: the raise to 1008 is given up and counted (%llu, want 1; 992 is no raise), "
		   "max %u", (unsigned long long)(st1.max_giveups - st0.max_giveups), v.out_max.tsval);
		tsval_bpf__destroy(s3);

		/* The default tries, no contention: every raise lands, none given up. */
		clear_map();
		tf_tsval_stats_sum(bpf_map__fd(skel->maps.tsval_stats), &st0);
		for (uint32_t t = 100; t < 200; t++) {
			uint8_t o2[12] = { 1, 1, TS(t) };

			out_tsval(o2, 12, 0, 0, false, NULL);
		}
		tf_tsval_stats_sum(bpf_map__fd(skel->maps.tsval_stats), &st1);
		ok(st1.max_giveups == st0.max_giveups && out_tsval(o, 0, 0, 0, false, NULL) == 199,
		   "default tries: 99 raises, none given up, maximum 199");
	}

	/* A full ring: each event that does not fit is counted in tsval_stats. */
	{
		const int sent = 500;	/* "first" events; a page holds under 100 */
		uint8_t o[12] = { 1, 1, TS(7) };
		struct tf_tsval_stats st0, st;
		struct ring_buffer *rb;
		int err;

		drain_events();	/* what earlier checks left */
		memset(kinds, 0, sizeof(kinds));
		if ((err = tf_tsval_stats_sum(bpf_map__fd(skel->maps.tsval_stats), &st0)))
			bail_out("read tsval_stats: %s", strerror(-err));
		for (int i = 0; i < sent; i++) {
			clear_map();
			out_tsval(o, 12, 0, 0, false, NULL);
		}
		rb = ring_buffer__new(bpf_map__fd(skel->maps.tsval_events), count_event, NULL, NULL);
		ring_buffer__consume(rb);
		ring_buffer__free(rb);
		if ((err = tf_tsval_stats_sum(bpf_map__fd(skel->maps.tsval_stats), &st)))
			bail_out("read tsval_stats: %s", strerror(-err));
		st.events_lost -= st0.events_lost;
		ok(st.events_lost > 0 && kinds[TF_TSV_EV_FIRST] + st.events_lost == (uint64_t)sent,
		   "full ring: %d events read + %llu counted lost = %d sent", kinds[TF_TSV_EV_FIRST],
		   (unsigned long long)st.events_lost, sent);
	}

	tsval_bpf__destroy(skel);
	return done_testing();
}
