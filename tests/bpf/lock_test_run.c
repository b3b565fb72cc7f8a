// SPDX-License-Identifier: BSD-2-Clause
/*
 * The lock programs on crafted packets (BPF_PROG_TEST_RUN): each packet with
 * the verdict it must get from XDP ingress, tc ingress and tc egress.  The
 * map is the skeleton's own (no pin, no bpffs); locks go in through the
 * library, as dump and restore put them there.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>

/* The packet specs below override fields of a base packet on purpose. */
#pragma GCC diagnostic ignored "-Woverride-init"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tap.h"
#include "lock.h"
#include "lock.skel.h"

#define PASS_TC TC_ACT_UNSPEC
/*
 * The kernel's test run refuses an skb whose IP header is shorter than
 * struct iphdr / ipv6hdr (-EINVAL) before the program runs; those cases are
 * run at tc through the L3 flavour below, where the kernel cannot tell.
 */
#define REFUSED (-1000)

/* Host A (the socket's host) and B (the peer). */
#define A4 "198.18.0.1"
#define B4 "198.18.0.2"
#define C4 "198.18.0.3"
#define A6 "fd00:7466::1"
#define B6 "fd00:7466::2"
#define PORT_A 8080
#define PORT_B 40000

#include "pkt_build.h"

/* ---- running packets ------------------------------------------------------------- */

static int run(int prog_fd, const uint8_t *pkt, size_t len, uint32_t mark, bool skb)
{
	struct __sk_buff ctx = { .mark = mark };
	uint8_t out[4096];
	LIBBPF_OPTS(bpf_test_run_opts, o,
		.data_in = pkt,
		.data_size_in = len,
		.data_out = out,
		.data_size_out = sizeof(out),
		.repeat = 1,
	);

	if (skb) {
		o.ctx_in = &ctx;
		o.ctx_size_in = sizeof(ctx);
	}
	if (bpf_prog_test_run_opts(prog_fd, &o)) {
		if (errno != EINVAL)
			diag("test run: %s", strerror(errno));
		return REFUSED;
	}
	return (int)o.retval;
}

static struct lock_bpf *skel;
static struct tf_locktab *tab;

/* The verdicts one packet gets at each hook: expect_* are the values for a drop. */
struct hooks {
	int xdp, tc_in, tc_out;
};

static void check(const char *name, const struct pkt_spec *s, struct hooks want, uint32_t mark)
{
	uint8_t buf[2048];
	size_t len = build(s, buf);
	struct hooks got = {
		.xdp = s->no_eth ? want.xdp : run(bpf_program__fd(skel->progs.tf_lock_xdp), buf, len, 0, false),
		.tc_in = run(bpf_program__fd(skel->progs.tf_lock_tc_in), buf, len, mark, true),
		.tc_out = run(bpf_program__fd(skel->progs.tf_lock_tc_out), buf, len, mark, true),
	};

	if (!ok(got.xdp == want.xdp && got.tc_in == want.tc_in && got.tc_out == want.tc_out, "%s", name))
		diag("  xdp %d (want %d), tc in %d (want %d), tc out %d (want %d)",
		     got.xdp, want.xdp, got.tc_in, want.tc_in, got.tc_out, want.tc_out);
}

/* Packet directions for the lock on (A:PORT_A, B:PORT_B). */
#define FROM_PEER(...) { .family = AF_INET, .src = B4, .dst = A4, .sport = PORT_B, .dport = PORT_A, __VA_ARGS__ }
#define TO_PEER(...)   { .family = AF_INET, .src = A4, .dst = B4, .sport = PORT_A, .dport = PORT_B, __VA_ARGS__ }
#define FROM_PEER6(...) { .family = AF_INET6, .src = B6, .dst = A6, .sport = PORT_B, .dport = PORT_A, __VA_ARGS__ }
#define TO_PEER6(...)   { .family = AF_INET6, .src = A6, .dst = B6, .sport = PORT_A, .dport = PORT_B, __VA_ARGS__ }

/* From the peer: dropped at ingress, passes egress (wrong orientation there). */
static const struct hooks DROP_IN = { XDP_DROP, TC_ACT_SHOT, PASS_TC };
/*
 * To the peer: egress drops it (a redirect to no device, which the kernel
 * drops while telling TCP it was sent); ingress sees someone else's tuple.
 */
#define TF_TC_ACT_REDIRECT 7
static const struct hooks DROP_OUT = { XDP_PASS, PASS_TC, TF_TC_ACT_REDIRECT };
static const struct hooks PASS = { XDP_PASS, PASS_TC, PASS_TC };

static int lock(const char *local, const char *peer, uint64_t ttl_ns)
{
	struct tf_tuple k;
	int err = tf_tuple_parse(local, peer, &k);

	if (!err)
		err = tf_lock_add(tab, &k, TF_LOCK_MANUAL, ttl_ns);
	if (err)
		diag("lock %s %s: %s", local, peer, tf_strerror());
	return err;
}

static int get(const char *local, const char *peer, struct tf_lock *v)
{
	struct tf_tuple k;

	memset(v, 0, sizeof(*v));
	if (tf_tuple_parse(local, peer, &k))
		return -1;
	return tf_lock_get(tab, &k, v);
}

static const uint8_t opts_linux[] = {		/* MSS, SACK_PERM, TS, NOP, WS */
	2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7 };
static const uint8_t opts_odd[] = {		/* TS at an odd place, EOL, garbage after */
	1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
static const uint8_t opts_max[40] = {		/* 40 bytes of NOPs */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };

int main(void)
{
	const char *la = A4 ":8080", *pa = B4 ":40000";
	const char *la6 = "[" A6 "]:8080", *pa6 = "[" B6 "]:40000";
	struct tf_lock v;
	uint8_t buf[2048];
	size_t len;

	if (geteuid() != 0)
		skip_all("needs root (BPF_PROG_TEST_RUN)");
	libbpf_set_print(NULL);
	skel = lock_bpf__open_and_load();
	if (!skel)
		skip_all("cannot load the lock programs: kernel without BPF?");
	if (tf_locktab_from_fd(bpf_map__fd(skel->maps.locks), &tab))
		bail_out("lock table: %s", tf_strerror());

	plan(65);

	/* Nothing locked: everything passes. */
	{
		struct pkt_spec s = FROM_PEER();

		check("no lock: peer's packet passes", &s, PASS, 0);
	}
	ok(lock(la, pa, 0) == 0, "lock %s %s", la, pa);
	ok(lock(la6, pa6, 0) == 0, "lock %s %s", la6, pa6);
	{
		struct tf_tuple k;

		tf_tuple_parse(la, pa, &k);
		ok(tf_lock_add(tab, &k, TF_LOCK_DUMP, 0) == -EEXIST &&
		   strstr(tf_strerror(), "already locked (by manual"),
		   "locking it again says so: %s", tf_strerror());
	}

	/* Counters per direction. */
	{
		struct pkt_spec s = FROM_PEER(.payload = 100);
		size_t l = build(&s, buf);

		check("IPv4 from the peer: dropped at ingress, not egress", &s, DROP_IN, 0);
		get(la, pa, &v);
		ok(v.in_packets == 2 && v.in_bytes == 2 * l && v.out_packets == 0,
		   "ingress counters: 2 packets, %zu bytes (got %llu, %llu; out %llu)", 2 * l,
		   (unsigned long long)v.in_packets, (unsigned long long)v.in_bytes,
		   (unsigned long long)v.out_packets);
	}
	{
		struct pkt_spec s = TO_PEER(.payload = 10);
		size_t l = build(&s, buf);

		check("IPv4 to the peer: dropped at egress, not ingress", &s, DROP_OUT, 0);
		get(la, pa, &v);
		ok(v.out_packets == 1 && v.out_bytes == l && v.in_packets == 2,
		   "egress counters: 1 packet, %zu bytes (got %llu, %llu)", l,
		   (unsigned long long)v.out_packets, (unsigned long long)v.out_bytes);
	}

	/* Near misses pass. */
	{
		struct pkt_spec s1 = FROM_PEER(.sport = PORT_B + 1);
		struct pkt_spec s2 = FROM_PEER(.dport = PORT_A + 1);
		struct pkt_spec s3 = FROM_PEER(.src = C4);
		struct pkt_spec s4 = FROM_PEER(.dst = C4);
		struct pkt_spec s5 = { .family = AF_INET, .src = A4, .dst = B4, .sport = PORT_B, .dport = PORT_A };

		check("other peer port passes", &s1, PASS, 0);
		check("other local port passes", &s2, PASS, 0);
		check("other peer address passes", &s3, PASS, 0);
		check("other local address passes", &s4, PASS, 0);
		check("ports swapped (reverse orientation) passes", &s5, PASS, 0);
	}

	/* IPv6, with and without extension headers. */
	{
		struct pkt_spec s1 = FROM_PEER6(.payload = 50);
		struct pkt_spec s2 = TO_PEER6();
		struct pkt_spec s3 = FROM_PEER6(.v6_hopopts = true, .v6_dstopts = true);
		struct pkt_spec s4 = FROM_PEER6(.sport = 1);
		struct pkt_spec s5 = FROM_PEER6(.v6_frag = true);
		struct pkt_spec s6 = FROM_PEER6(.src = A6, .dst = B6);

		check("IPv6 from the peer: dropped at ingress", &s1, DROP_IN, 0);
		check("IPv6 to the peer: dropped at egress", &s2, DROP_OUT, 0);
		check("IPv6 with hop-by-hop + destination options: dropped", &s3, DROP_IN, 0);
		check("IPv6 other port passes", &s4, PASS, 0);
		check("IPv6 fragment header passes", &s5, PASS, 0);
		check("IPv6 reverse addresses pass", &s6, PASS, 0);
		get(la6, pa6, &v);
		ok(v.in_packets == 4 && v.out_packets == 1, "IPv6 counters: 4 in, 1 out (got %llu, %llu)",
		   (unsigned long long)v.in_packets, (unsigned long long)v.out_packets);
	}

	/* IPv6 AH: its length counts 4-byte words, unlike the other extension headers. */
	{
		struct pkt_spec s1 = FROM_PEER6(.v6_ah = 4);
		struct pkt_spec s2 = FROM_PEER6(.v6_dstopts = true, .v6_ah = 4);
		struct pkt_spec s3 = FROM_PEER6(.v6_hopopts = true, .v6_routing = true, .v6_ah = 6);
		struct pkt_spec s4 = TO_PEER6(.v6_ah = 4, .payload = 30);
		struct pkt_spec s5 = FROM_PEER6(.v6_hopopts = true, .v6_routing = true);
		struct pkt_spec s6 = FROM_PEER6(.v6_ah = 4, .sport = 1);
		struct pkt_spec s7 = FROM_PEER6(.v6_ah = 4, .cut = 14 + 40 + 24 + 19);

		check("IPv6 + AH + TCP: dropped", &s1, DROP_IN, 0);
		check("IPv6 + destination options + AH + TCP: dropped", &s2, DROP_IN, 0);
		check("IPv6 + hop-by-hop + routing + AH (32 bytes) + TCP: dropped", &s3, DROP_IN, 0);
		check("IPv6 + AH to the peer: dropped at egress", &s4, DROP_OUT, 0);
		check("IPv6 + hop-by-hop + routing + TCP: dropped", &s5, DROP_IN, 0);
		check("IPv6 + AH, other port: passes", &s6, PASS, 0);
		check("IPv6 + AH, truncated TCP header: passes", &s7, PASS, 0);
	}

	/* VLAN tags. */
	{
		struct pkt_spec s1 = FROM_PEER(.vlans = 1);
		struct pkt_spec s2 = FROM_PEER(.vlans = 2);
		struct pkt_spec s3 = TO_PEER6(.vlans = 2);
		struct pkt_spec s4 = FROM_PEER(.vlans = 2, .sport = 1);

		check("802.1Q tagged: dropped", &s1, DROP_IN, 0);
		check("802.1ad + 802.1Q double tagged: dropped", &s2, DROP_IN, 0);
		check("double tagged IPv6 egress: dropped", &s3, DROP_OUT, 0);
		check("double tagged, other port: passes", &s4, PASS, 0);
	}

	/* Not TCP, fragments. */
	{
		struct pkt_spec s1 = FROM_PEER(.proto = IPPROTO_UDP);
		struct pkt_spec s2 = FROM_PEER(.proto = IPPROTO_ICMP);
		struct pkt_spec s3 = FROM_PEER6(.proto = IPPROTO_UDP);
		struct pkt_spec s4 = FROM_PEER(.v4_more_frags = true);
		struct pkt_spec s5 = FROM_PEER(.v4_frag_offset = 185);
		struct pkt_spec s6 = TO_PEER(.v4_more_frags = true);

		check("UDP with the locked ports passes", &s1, PASS, 0);
		check("ICMP passes", &s2, PASS, 0);
		check("IPv6 UDP passes", &s3, PASS, 0);
		check("IPv4 first fragment (MF) passes", &s4, PASS, 0);
		check("IPv4 later fragment (offset) passes", &s5, PASS, 0);
		check("IPv4 fragment at egress passes", &s6, PASS, 0);
	}

	/* TCP and IP options. */
	{
		struct pkt_spec s1 = FROM_PEER(.tcp_opts = opts_linux, .tcp_opts_len = sizeof(opts_linux));
		struct pkt_spec s2 = FROM_PEER(.tcp_opts = opts_odd, .tcp_opts_len = sizeof(opts_odd));
		struct pkt_spec s3 = TO_PEER(.tcp_opts = opts_max, .tcp_opts_len = sizeof(opts_max));
		struct pkt_spec s4 = FROM_PEER(.v4_options = 40, .tcp_opts = opts_odd,
					       .tcp_opts_len = sizeof(opts_odd));

		check("TCP with SYN-style options: dropped", &s1, DROP_IN, 0);
		check("TCP with odd option layout: dropped", &s2, DROP_IN, 0);
		check("TCP with 40 option bytes: dropped at egress", &s3, DROP_OUT, 0);
		check("IPv4 with 40 bytes of IP options: dropped", &s4, DROP_IN, 0);
	}

	/* Truncated headers pass. */
	{
		struct pkt_spec s1 = FROM_PEER(.vlans = 1, .cut = 16);
		struct pkt_spec s2 = FROM_PEER(.cut = 14 + 19);
		struct pkt_spec s3 = FROM_PEER(.cut = 14 + 20 + 19);
		struct pkt_spec s4 = FROM_PEER6(.cut = 14 + 39);
		struct pkt_spec s5 = FROM_PEER6(.v6_dstopts = true, .cut = 14 + 40 + 12);
		struct pkt_spec s6 = FROM_PEER(.v4_options = 40, .cut = 14 + 40);

		check("truncated VLAN tag passes", &s1, PASS, 0);
		check("truncated IPv4 header passes (XDP; tc below)", &s2,
		      (struct hooks){ XDP_PASS, REFUSED, REFUSED }, 0);
		check("truncated TCP header (19 bytes) passes", &s3, PASS, 0);
		check("truncated IPv6 header passes (XDP; tc below)", &s4,
		      (struct hooks){ XDP_PASS, REFUSED, REFUSED }, 0);
		check("truncated IPv6 extension header passes", &s5, PASS, 0);
		check("IPv4 options running past the end pass", &s6, PASS, 0);
	}

	/* The pass mark, at tc. */
	{
		struct pkt_spec s1 = TO_PEER();
		struct pkt_spec s2 = FROM_PEER();

		check("egress packet with TF_PASS_MARK passes", &s1, PASS, TF_PASS_MARK);
		check("ingress packet with TF_PASS_MARK passes tc (XDP has no mark)", &s2,
		      (struct hooks){ XDP_DROP, PASS_TC, PASS_TC }, TF_PASS_MARK);
		check("egress packet with another mark: dropped", &s1, DROP_OUT, 0x1234);
	}

	/* An expired lock never drops. */
	{
		struct pkt_spec s = FROM_PEER(.sport = 1234);
		unsigned removed = 0;

		ok(lock(la, B4 ":1234", 1) == 0, "lock with a 1 ns expiry");
		usleep(1000);
		check("expired lock: passes", &s, PASS, 0);
		int r = tf_lock_gc(tab, 0, &removed);

		ok(r == 0 && removed == 1, "gc removes the expired lock (%d, %u)", r, removed);
	}

	/* Unlock: packets pass again. */
	{
		struct pkt_spec s = FROM_PEER();
		struct tf_tuple k;

		tf_tuple_parse(la, pa, &k);
		ok(tf_lock_del(tab, &k) == 0, "unlock");
		check("unlocked: passes", &s, PASS, 0);
	}

	/* A device without a link-layer header (tun, wireguard): tc only. */
	{
		struct lock_bpf *l3 = lock_bpf__open();
		struct pkt_spec s1 = FROM_PEER6(.no_eth = true);
		struct pkt_spec s2 = FROM_PEER6(.no_eth = true, .sport = 7);
		struct pkt_spec s3 = FROM_PEER6(.no_eth = true, .cut = 39);
		struct pkt_spec s4 = FROM_PEER(.no_eth = true, .cut = 19);
		struct pkt_spec s5 = FROM_PEER(.no_eth = true, .payload = 20);
		struct pkt_spec s6 = FROM_PEER6(.no_eth = true, .v6_dstopts = true, .v6_ah = 4);
		int r1 = -1, r2 = -1, r3 = -1, r4 = -1, r5 = -1, r6 = -1;

		if (l3) {
			l3->rodata->tf_l3_dev = 1;
			bpf_map__reuse_fd(l3->maps.locks, bpf_map__fd(skel->maps.locks));
		}
		if (l3 && lock_bpf__load(l3) == 0) {
			len = build(&s1, buf);
			r1 = run(bpf_program__fd(l3->progs.tf_lock_tc_in), buf, len, 0, true);
			len = build(&s2, buf);
			r2 = run(bpf_program__fd(l3->progs.tf_lock_tc_in), buf, len, 0, true);
			len = build(&s3, buf);
			r3 = run(bpf_program__fd(l3->progs.tf_lock_tc_in), buf, len, 0, true);
			len = build(&s4, buf);
			r4 = run(bpf_program__fd(l3->progs.tf_lock_tc_in), buf, len, 0, true);
			len = build(&s6, buf);
			r6 = run(bpf_program__fd(l3->progs.tf_lock_tc_in), buf, len, 0, true);
			lock(la, pa, 0);
			len = build(&s5, buf);
			r5 = run(bpf_program__fd(l3->progs.tf_lock_tc_in), buf, len, 0, true);
		}
		ok(r1 == TC_ACT_SHOT && r2 == PASS_TC, "L3 device: raw IPv6 locked tuple dropped, other passes (%d, %d)",
		   r1, r2);
		ok(r3 == PASS_TC, "L3 device, tc: truncated IPv6 header passes (%d)", r3);
		ok(r4 == PASS_TC, "L3 device, tc: truncated IPv4 header passes (%d)", r4);
		ok(r5 == TC_ACT_SHOT, "L3 device: raw IPv4 locked tuple dropped (%d)", r5);
		ok(r6 == TC_ACT_SHOT, "L3 device: raw IPv6 + destination options + AH locked tuple dropped (%d)", r6);
		lock_bpf__destroy(l3);
	}

	/* What dump and restore do to a lock they adopt: extend, never shorten. */
	{
		const char *lx = A4 ":9090", *px = B4 ":40001";
		struct tf_tuple k;
		uint64_t before;

		tf_tuple_parse(lx, px, &k);
		lock(lx, px, 2000000000ull);
		get(lx, px, &v);
		before = v.expires_ns;
		ok(tf_lock_extend(tab, &k, 60000000000ull) == 0 && get(lx, px, &v) == 0 &&
		   v.expires_ns >= before + 57000000000ull && v.reason == TF_LOCK_MANUAL,
		   "extend a 2 s lock to 60 s: expiry moves later, reason kept");
		before = v.expires_ns;
		ok(tf_lock_extend(tab, &k, 1000000000ull) == 0 && get(lx, px, &v) == 0 && v.expires_ns == before,
		   "extend to 1 s: never shortened");
		ok(tf_lock_extend(tab, &k, 0) == 0 && get(lx, px, &v) == 0 && v.expires_ns == 0,
		   "extend to 0 (forever): no expiry");
		ok(tf_lock_extend(tab, &k, 1000000000ull) == 0 && get(lx, px, &v) == 0 && v.expires_ns == 0,
		   "a lock without expiry stays without");
		tf_lock_del(tab, &k);
		ok(tf_lock_extend(tab, &k, 1000000000ull) == -ENOENT, "extend of no lock: -ENOENT");
	}

	tf_locktab_close(tab);
	lock_bpf__destroy(skel);
	return done_testing();
}
