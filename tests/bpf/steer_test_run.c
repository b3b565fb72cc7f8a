// SPDX-License-Identifier: BSD-2-Clause
/*
 * Steering in the ingress programs (BPF_PROG_TEST_RUN), XDP and tc: the
 * client's packet of a steered tuple leaves exactly as it must, byte by
 * byte:
 *
 *   L2  the same frame with the backend's MAC and the device's as source;
 *       XDP_TX when the backend is on the device it came in on, else a
 *       redirect (tc: always a redirect)
 *   L3  Ethernet (the next hop's MAC), an outer IPv4 (protocol 4) or IPv6
 *       (next header 41) header, checked field by field and checksum, then
 *       the client's packet untouched
 *
 * and what must not be steered is not: a miss passes, a lock drops, an
 * expired entry passes.  The client's RST deletes the entry after it was
 * sent on, a FIN starts the linger (refreshed by later packets).  The maps
 * are the skeleton's own (no pin, no bpffs); entries go in through the
 * library, as `tcpferry steer add` puts them there.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>

#pragma GCC diagnostic ignored "-Woverride-init"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tap.h"
#include "lock.h"
#include "steer.h"
#include "lock.skel.h"
#include "pkt_build.h"

#define VIP4 "198.18.0.10"
#define CLI4 "198.18.0.2"
#define BE4 "198.18.1.20"
#define FE4 "198.18.1.1"
#define VIP6 "fd00:7466::10"
#define CLI6 "fd00:7466::2"
#define BE6 "fd00:7466:1::20"
#define FE6 "fd00:7466:1::1"
#define PORT_VIP 80
#define PORT_CLI 40000
#define LO_IFINDEX 1		/* the test run's device: this namespace's lo */
#define OTHER_IFINDEX 77	/* a redirect target (the test run does not send) */

static const uint8_t backend_mac[6] = { 0x02, 0xbe, 0x00, 0x00, 0x00, 0x20 };
static const uint8_t our_mac[6] = { 0x02, 0xfe, 0x00, 0x00, 0x00, 0x01 };

static struct lock_bpf *skel;
static struct tf_locktab *locks;
static struct tf_steertab *steers;

#define FROM_CLIENT(...) { .family = AF_INET, .src = CLI4, .dst = VIP4, .sport = PORT_CLI, .dport = PORT_VIP, \
			   .tos = 0x28, .v4_df = true, .payload = 100, __VA_ARGS__ }
#define FROM_CLIENT6(...) { .family = AF_INET6, .src = CLI6, .dst = VIP6, .sport = PORT_CLI, .dport = PORT_VIP, \
			    .tos = 0xb8, .flow_label = 0x12345, .payload = 100, __VA_ARGS__ }

/* One run: the verdict, the packet that came out (out, *out_len). */
static int run(bool xdp, const uint8_t *pkt, size_t len, uint8_t *out, size_t *out_len)
{
	struct __sk_buff ctx = { .ifindex = LO_IFINDEX };
	LIBBPF_OPTS(bpf_test_run_opts, o,
		.data_in = pkt,
		.data_size_in = len,
		.data_out = out,
		.data_size_out = 4096,
		.repeat = 1,
	);

	if (!xdp) {
		o.ctx_in = &ctx;
		o.ctx_size_in = sizeof(ctx);
	}
	if (bpf_prog_test_run_opts(bpf_program__fd(xdp ? skel->progs.tf_lock_xdp : skel->progs.tf_lock_tc_in), &o)) {
		diag("test run: %s", strerror(errno));
		return -1000;
	}
	*out_len = o.data_size_out;
	return (int)o.retval;
}

static int key_of(int family, struct tf_tuple *k)
{
	if (family == AF_INET)
		return tf_tuple_parse(VIP4 ":80", CLI4 ":40000", k);
	return tf_tuple_parse("[" VIP6 "]:80", "[" CLI6 "]:40000", k);
}

/* Steer the test tuple of family: mode, device, idle timeout. */
static int steer(int family, enum tf_steer_mode mode, uint32_t ifindex, uint64_t idle_ns)
{
	struct tf_steer v = { .mode = mode, .backend_family = family, .out_ifindex = ifindex,
			      .idle_timeout_ns = idle_ns };
	struct tf_tuple k;
	int err;

	key_of(family, &k);
	memcpy(v.next_hop_mac, backend_mac, 6);
	memcpy(v.src_mac, our_mac, 6);
	inet_pton(family, family == AF_INET ? BE4 : BE6, v.backend_addr);
	inet_pton(family, family == AF_INET ? FE4 : FE6, v.outer_src);
	err = tf_steer_add(steers, &k, &v);
	if (err)
		diag("steer: %s", tf_strerror());
	return err;
}

static void unsteer(int family)
{
	struct tf_tuple k;

	key_of(family, &k);
	tf_steer_del(steers, &k);
}

static int entry(int family, struct tf_steer *v)
{
	struct tf_tuple k;

	key_of(family, &k);
	memset(v, 0, sizeof(*v));
	return bpf_map_lookup_elem(tf_steertab_fd(steers), &k, v) ? -errno : 0;
}

static uint16_t csum16(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		sum += p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* The frame's Ethernet header is the steer's; everything else as in the input (l2 mode). */
static bool l2_exact(const uint8_t *in, size_t len, const uint8_t *out, size_t out_len)
{
	if (out_len != len) {
		diag("  length %zu, want %zu", out_len, len);
		return false;
	}
	if (memcmp(out, backend_mac, 6) || memcmp(out + 6, our_mac, 6)) {
		diag("  MACs not rewritten");
		return false;
	}
	if (memcmp(out + 12, in + 12, len - 12)) {
		diag("  bytes after the MACs changed");
		return false;
	}
	return true;
}

/*
 * An encapsulated frame: l2len bytes of link layer (MACs rewritten, tags
 * and type kept), the outer header, the client's IP packet untouched.
 */
static bool l3_exact(int family, const uint8_t *in, size_t len, size_t l2len, const uint8_t *out, size_t out_len)
{
	size_t hlen = family == AF_INET ? 20 : 40;
	const uint8_t *o = out + l2len, *inner = in + l2len;
	uint8_t be[16], fe[16];
	bool good = true;

	inet_pton(family, family == AF_INET ? BE4 : BE6, be);
	inet_pton(family, family == AF_INET ? FE4 : FE6, fe);
	if (out_len != len + hlen) {
		diag("  length %zu, want %zu", out_len, len + hlen);
		return false;
	}
	if (memcmp(out, backend_mac, 6) || memcmp(out + 6, our_mac, 6) || memcmp(out + 12, in + 12, l2len - 12)) {
		diag("  link-layer header wrong");
		good = false;
	}
	if (memcmp(o + hlen, inner, len - l2len)) {
		diag("  the inner packet changed");
		good = false;
	}
	if (family == AF_INET) {
		unsigned tot = (o[2] << 8 | o[3]), inner_tot = inner[2] << 8 | inner[3];

		if (o[0] != 0x45 || o[1] != inner[1] || tot != inner_tot + 20 || o[4] || o[5] ||
		    (o[6] << 8 | o[7]) != ((inner[6] << 8 | inner[7]) & 0x4000) || o[8] != 64 || o[9] != 4 ||
		    memcmp(o + 12, fe, 4) || memcmp(o + 16, be, 4)) {
			diag("  outer IPv4 header wrong: %02x %02x len %u (inner %u) id %02x%02x frag %02x%02x ttl %u proto %u",
			     o[0], o[1], tot, inner_tot, o[4], o[5], o[6], o[7], o[8], o[9]);
			good = false;
		}
		if (csum16(o, 20) != 0xffff) {
			diag("  outer IPv4 checksum wrong (%02x%02x)", o[10], o[11]);
			good = false;
		}
	} else {
		unsigned plen = o[4] << 8 | o[5], inner_plen = inner[4] << 8 | inner[5];

		if (memcmp(o, inner, 4) || plen != inner_plen + 40 || o[6] != 41 || o[7] != 64 ||
		    memcmp(o + 8, fe, 16) || memcmp(o + 24, be, 16)) {
			diag("  outer IPv6 header wrong: %02x%02x%02x%02x plen %u (inner %u) next %u hops %u",
			     o[0], o[1], o[2], o[3], plen, inner_plen, o[6], o[7]);
			good = false;
		}
	}
	return good;
}

#define XDP true
#define TC false

int main(void)
{
	uint8_t buf[2048], out[4096];
	size_t len, out_len;
	struct tf_steer v;
	int r;

	if (geteuid() != 0)
		skip_all("needs root (BPF_PROG_TEST_RUN)");
	libbpf_set_print(NULL);
	skel = lock_bpf__open_and_load();
	if (!skel)
		skip_all("cannot load the lock programs: kernel without BPF?");
	if (tf_locktab_from_fd(bpf_map__fd(skel->maps.locks), &locks) ||
	    tf_steertab_from_fds(bpf_map__fd(skel->maps.steers), bpf_map__fd(skel->maps.steer_cfg), &steers))
		bail_out("tables: %s", tf_strerror());

	plan(50);

	/* The gate: entries in a table nobody marked in use are not looked at. */
	{
		struct pkt_spec s = FROM_CLIENT();
		struct tf_steer raw = { .mode = TF_STEER_L2, .backend_family = AF_INET, .out_ifindex = 1,
					.last_seen_ns = tf_mono_ns(), .since_ns = tf_mono_ns() };
		struct tf_tuple k;

		key_of(AF_INET, &k);
		bpf_map_update_elem(tf_steertab_fd(steers), &k, &raw, BPF_NOEXIST);
		len = build(&s, buf);
		ok(run(XDP, buf, len, out, &out_len) == XDP_PASS && run(TC, buf, len, out, &out_len) == TC_ACT_UNSPEC,
		   "steer_cfg.in_use unset: the table is not looked up (passes)");
		bpf_map_delete_elem(tf_steertab_fd(steers), &k);
	}

	/* ---- L2 ---- */
	ok(steer(AF_INET, TF_STEER_L2, LO_IFINDEX, 0) == 0, "steer IPv4 l2 out of the device it comes in on");
	{
		struct tf_steer_cfg c;

		ok(tf_steer_cfg_get(steers, &c) == 0 && c.in_use == 1, "the first steer sets steer_cfg.in_use");
	}
	{
		struct pkt_spec s = FROM_CLIENT();

		len = build(&s, buf);
		r = run(XDP, buf, len, out, &out_len);
		ok(r == XDP_TX, "XDP, IPv4 l2, same device: XDP_TX (%d)", r);
		ok(l2_exact(buf, len, out, out_len), "  the frame: MACs rewritten, every other byte the client's");
		r = run(TC, buf, len, out, &out_len);
		ok(r == TC_ACT_REDIRECT, "tc, IPv4 l2: redirect (%d)", r);
		ok(l2_exact(buf, len, out, out_len), "  the frame: MACs rewritten, every other byte the client's");
		entry(AF_INET, &v);
		ok(v.packets == 2 && v.bytes == 2 * len && v.last_seen_ns > v.since_ns && !v.fin_ns,
		   "  counted: 2 packets, %zu bytes, last seen moved (got %llu, %llu)", 2 * len,
		   (unsigned long long)v.packets, (unsigned long long)v.bytes);
	}
	{
		struct pkt_spec s = FROM_CLIENT(.vlans = 2);

		len = build(&s, buf);
		r = run(XDP, buf, len, out, &out_len);
		ok(r == XDP_TX && l2_exact(buf, len, out, out_len), "XDP, double-tagged frame, l2: tags kept, MACs rewritten");
	}
	/* Near misses, a lock, other protocols. */
	{
		struct pkt_spec s1 = FROM_CLIENT(.sport = PORT_CLI + 1);
		struct pkt_spec s2 = FROM_CLIENT(.src = FE4);
		struct pkt_spec s3 = FROM_CLIENT(.proto = IPPROTO_UDP);
		struct pkt_spec s4 = FROM_CLIENT(.v4_more_frags = true);
		struct pkt_spec s5 = { .family = AF_INET, .src = VIP4, .dst = CLI4, .sport = PORT_VIP, .dport = PORT_CLI };

		len = build(&s1, buf);
		ok(run(XDP, buf, len, out, &out_len) == XDP_PASS && run(TC, buf, len, out, &out_len) == TC_ACT_UNSPEC,
		   "another client port: a miss passes (XDP, tc)");
		len = build(&s2, buf);
		ok(run(XDP, buf, len, out, &out_len) == XDP_PASS && run(TC, buf, len, out, &out_len) == TC_ACT_UNSPEC,
		   "another client address: passes");
		len = build(&s3, buf);
		ok(run(XDP, buf, len, out, &out_len) == XDP_PASS, "UDP on the steered ports: passes");
		len = build(&s4, buf);
		ok(run(XDP, buf, len, out, &out_len) == XDP_PASS, "an IPv4 fragment: passes");
		len = build(&s5, buf);
		ok(run(XDP, buf, len, out, &out_len) == XDP_PASS, "the reverse direction: passes");
	}
	{
		struct pkt_spec s = FROM_CLIENT();
		struct tf_tuple k;

		key_of(AF_INET, &k);
		ok(tf_lock_add(locks, &k, TF_LOCK_MANUAL, 0) == 0, "lock the steered tuple too");
		len = build(&s, buf);
		ok(run(XDP, buf, len, out, &out_len) == XDP_DROP && run(TC, buf, len, out, &out_len) == TC_ACT_SHOT,
		   "a lock wins: dropped (XDP, tc)");
		tf_lock_del(locks, &k);
		ok(run(XDP, buf, len, out, &out_len) == XDP_TX, "unlocked: steered again (the hand-off's flip)");
	}
	{
		struct tf_tuple k;

		key_of(AF_INET, &k);
		ok(steer(AF_INET, TF_STEER_L2, LO_IFINDEX, 0) == -EEXIST && strstr(tf_strerror(), "already steered (to " BE4),
		   "steering it again says so: %s", tf_strerror());
	}
	unsteer(AF_INET);
	ok(steer(AF_INET, TF_STEER_L2, OTHER_IFINDEX, 0) == 0, "steer IPv4 l2 out of another device");
	{
		struct pkt_spec s = FROM_CLIENT();

		len = build(&s, buf);
		r = run(XDP, buf, len, out, &out_len);
		ok(r == XDP_REDIRECT && l2_exact(buf, len, out, out_len), "XDP: XDP_REDIRECT, MACs rewritten (%d)", r);
	}
	unsteer(AF_INET);
	ok(steer(AF_INET6, TF_STEER_L2, LO_IFINDEX, 0) == 0, "steer IPv6 l2");
	{
		struct pkt_spec s = FROM_CLIENT6(.v6_dstopts = true);

		len = build(&s, buf);
		r = run(XDP, buf, len, out, &out_len);
		ok(r == XDP_TX && l2_exact(buf, len, out, out_len), "XDP, IPv6 + destination options, l2: exact (%d)", r);
		r = run(TC, buf, len, out, &out_len);
		ok(r == TC_ACT_REDIRECT && l2_exact(buf, len, out, out_len), "tc, IPv6 l2: exact (%d)", r);
	}
	unsteer(AF_INET6);

	/* ---- L3 ---- */
	ok(steer(AF_INET, TF_STEER_L3, LO_IFINDEX, 0) == 0, "steer IPv4 l3 (IPIP)");
	{
		struct pkt_spec s = FROM_CLIENT();
		struct pkt_spec s1 = FROM_CLIENT(.vlans = 1, .v4_df = false, .payload = 1);
		struct pkt_spec s2 = FROM_CLIENT(.vlans = 2, .v4_options = 8);
		struct pkt_spec s3 = FROM_CLIENT(.vlans = 1);

		len = build(&s, buf);
		r = run(XDP, buf, len, out, &out_len);
		ok(r == XDP_TX, "XDP, IPv4 l3: XDP_TX (%d)", r);
		ok(l3_exact(AF_INET, buf, len, 14, out, out_len),
		   "  outer IPv4: 45, TOS and DF copied, length +20, id 0, TTL 64, protocol 4, checksum, addresses; inner untouched");
		r = run(TC, buf, len, out, &out_len);
		ok(r == TC_ACT_REDIRECT, "tc, IPv4 l3: redirect (%d)", r);
		ok(l3_exact(AF_INET, buf, len, 14, out, out_len), "  the same bytes as XDP's");
		len = build(&s1, buf);
		r = run(XDP, buf, len, out, &out_len);
		ok(r == XDP_TX && l3_exact(AF_INET, buf, len, 18, out, out_len),
		   "XDP, 802.1Q-tagged, no DF, 1 byte of payload: tag kept in front of the outer header");
		len = build(&s2, buf);
		r = run(XDP, buf, len, out, &out_len);
		ok(r == XDP_TX && l3_exact(AF_INET, buf, len, 22, out, out_len),
		   "XDP, double-tagged, inner IP options: exact");
		len = build(&s3, buf);
		ok(run(TC, buf, len, out, &out_len) == TC_ACT_SHOT,
		   "tc, a VLAN tag still in the data in l3 mode: dropped (cannot be built), not passed to this host");
	}
	unsteer(AF_INET);
	ok(steer(AF_INET6, TF_STEER_L3, LO_IFINDEX, 0) == 0, "steer IPv6 l3 (IP6IP6)");
	{
		struct pkt_spec s = FROM_CLIENT6();
		struct pkt_spec s1 = FROM_CLIENT6(.v6_hopopts = true, .vlans = 1, .payload = 0);

		len = build(&s, buf);
		r = run(XDP, buf, len, out, &out_len);
		ok(r == XDP_TX, "XDP, IPv6 l3: XDP_TX (%d)", r);
		ok(l3_exact(AF_INET6, buf, len, 14, out, out_len),
		   "  outer IPv6: traffic class and flow label copied, payload +40, next header 41, hop limit 64; inner untouched");
		r = run(TC, buf, len, out, &out_len);
		ok(r == TC_ACT_REDIRECT && l3_exact(AF_INET6, buf, len, 14, out, out_len), "tc, IPv6 l3: exact (%d)", r);
		len = build(&s1, buf);
		r = run(XDP, buf, len, out, &out_len);
		ok(r == XDP_TX && l3_exact(AF_INET6, buf, len, 18, out, out_len), "XDP, tagged IPv6 + hop-by-hop, no payload: exact");
	}

	/* ---- the entry's life ---- */
	{
		struct pkt_spec rst = FROM_CLIENT6(.tcp_flags = 0x14, .payload = 0);	/* RST ACK */
		struct pkt_spec ack = FROM_CLIENT6();

		len = build(&rst, buf);
		r = run(XDP, buf, len, out, &out_len);
		ok(r == XDP_TX && l3_exact(AF_INET6, buf, len, 14, out, out_len), "the client's RST is sent on (XDP)");
		ok(entry(AF_INET6, &v) == -ENOENT, "  and its entry is gone");
		len = build(&ack, buf);
		ok(run(XDP, buf, len, out, &out_len) == XDP_PASS, "  the next packet passes");
		steer(AF_INET6, TF_STEER_L2, LO_IFINDEX, 0);
		len = build(&rst, buf);
		r = run(TC, buf, len, out, &out_len);
		ok(r == TC_ACT_REDIRECT && entry(AF_INET6, &v) == -ENOENT, "tc: the RST is sent on, the entry deleted");
	}
	{
		struct pkt_spec fin = FROM_CLIENT(.tcp_flags = 0x11, .payload = 0);	/* FIN ACK */
		struct pkt_spec ack = FROM_CLIENT(.payload = 0);
		uint64_t fin_at;

		tf_steer_cfg_set(steers, 0, 600000000ull);	/* a 0.6 s linger */
		steer(AF_INET, TF_STEER_L2, LO_IFINDEX, 0);
		len = build(&fin, buf);
		r = run(TC, buf, len, out, &out_len);
		ok(r == TC_ACT_REDIRECT && entry(AF_INET, &v) == 0 && v.fin_ns, "the client's FIN is sent on and starts the linger");
		fin_at = v.fin_ns;
		usleep(400000);
		len = build(&ack, buf);
		r = run(XDP, buf, len, out, &out_len);
		entry(AF_INET, &v);
		ok(r == XDP_TX && v.fin_ns == fin_at && v.last_seen_ns > fin_at,
		   "  0.4 s later a packet is steered and refreshes the linger (FIN time kept)");
		usleep(400000);
		ok(run(XDP, buf, len, out, &out_len) == XDP_TX, "  0.8 s after the FIN, 0.4 s after the last packet: still steered");
		usleep(700000);
		ok(run(XDP, buf, len, out, &out_len) == XDP_PASS && run(TC, buf, len, out, &out_len) == TC_ACT_UNSPEC,
		   "  0.7 s after the last packet: expired, treated as absent (passes)");
		unsigned removed = 0;

		ok(tf_steer_gc(steers, 0, &removed) == 0 && removed == 1 && entry(AF_INET, &v) == -ENOENT,
		   "  gc removes it (%u)", removed);
		tf_steer_cfg_set(steers, 0, 0);
	}
	{
		struct pkt_spec s = FROM_CLIENT();
		unsigned removed = 0;

		steer(AF_INET, TF_STEER_L3, LO_IFINDEX, 1000000);	/* 1 ms idle timeout of its own */
		usleep(5000);
		len = build(&s, buf);
		ok(run(XDP, buf, len, out, &out_len) == XDP_PASS && run(TC, buf, len, out, &out_len) == TC_ACT_UNSPEC,
		   "an entry idle past its own timeout: passes");
		tf_steer_cfg_set(steers, 1000000, 0);	/* the table's: 1 ms */
		steer(AF_INET6, TF_STEER_L3, LO_IFINDEX, 0);
		usleep(5000);
		len = build(&(struct pkt_spec)FROM_CLIENT6(), buf);
		ok(run(XDP, buf, len, out, &out_len) == XDP_PASS, "an entry idle past the table's timeout: passes");
		ok(tf_steer_gc(steers, 0, &removed) == 0 && removed == 2, "gc removes both (%u)", removed);
		tf_steer_cfg_set(steers, 0, 0);
	}

	/* Devices without an Ethernet header have no steering. */
	{
		struct lock_bpf *l3 = lock_bpf__open();
		struct pkt_spec s = FROM_CLIENT(.no_eth = true);
		int got = -1;

		steer(AF_INET, TF_STEER_L2, LO_IFINDEX, 0);
		if (l3) {
			l3->rodata->tf_l3_dev = 1;
			bpf_map__reuse_fd(l3->maps.locks, bpf_map__fd(skel->maps.locks));
			bpf_map__reuse_fd(l3->maps.steers, bpf_map__fd(skel->maps.steers));
			bpf_map__reuse_fd(l3->maps.steer_cfg, bpf_map__fd(skel->maps.steer_cfg));
		}
		if (l3 && lock_bpf__load(l3) == 0) {
			struct __sk_buff ctx = { 0 };
			LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = build(&s, buf),
				    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

			if (bpf_prog_test_run_opts(bpf_program__fd(l3->progs.tf_lock_tc_in), &o) == 0)
				got = o.retval;
		}
		ok(got == TC_ACT_UNSPEC, "L3 device (tc): a steered tuple passes (%d)", got);
		lock_bpf__destroy(l3);
		unsigned removed;

		ok(tf_steer_flush(steers, &removed) == 0 && removed == 1, "flush removes what is left (%u)", removed);
	}

	tf_steertab_close(steers);
	tf_locktab_close(locks);
	lock_bpf__destroy(skel);
	return done_testing();
}
