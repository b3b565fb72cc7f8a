// SPDX-License-Identifier: BSD-2-Clause
/*
 * The BPF packet parsers against a reference written here from the formats
 * themselves (Ethernet, 802.1Q/802.1ad tags, IPv4, IPv6 and its extension
 * headers, TCP and its options), on any packet: each input runs through the
 * real lock programs (XDP, tc ingress, tc egress) and the tsval recorder (tc
 * egress and ingress) with BPF_PROG_TEST_RUN, and what they do must be what
 * the reference says:
 *
 *   lock      the reference's tuple locked (in the hook's orientation): the
 *             packet is dropped, unless the lock has expired or (tc) the
 *             packet carries the pass mark; not TCP to the reference: passes
 *   recorder  a TCP packet with a timestamp option (the reference's walk of
 *             the options) leaves exactly one record, under the reference's
 *             tuple, with its tsval; any other packet leaves none
 *
 * First byte: bit 0 the programs of an L3 device (no Ethernet header), bit 1
 * the pass mark on the skb, bit 2 the lock expired.  The rest is the packet.
 * Needs root (BPF); without it every input is a no-op (said once).  The maps
 * are the skeletons' own: no pin, no bpffs.  libFuzzer sees the coverage of
 * the reference (the BPF side is not instrumented), whose branches follow the
 * formats', so new kinds of packets still count as new.  A packet the
 * kernel's test run refuses (shorter than an Ethernet header, an IP header
 * it cannot pull) is not compared.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fuzz.h"
#include "lock.h"
#include "lock.skel.h"
#include "tsval.skel.h"

#define MAX_PKT		2048
#define REFUSED		(-1000)	/* the kernel's test run would not take the packet */

/* ---- the reference ---------------------------------------------------------------- */

struct ref {
	bool tcp;
	int family;
	uint8_t saddr[16], daddr[16];
	uint16_t sport, dport;	/* network byte order */
	size_t tcp_off;		/* the TCP header, in the packet */
	bool has_ts;
	uint32_t tsval;
};

static uint16_t be16(const uint8_t *p) { return p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) { return (uint32_t)be16(p) << 16 | be16(p + 2); }

/* TCP at off: its fixed 20 bytes must be there. */
static void ref_tcp(const uint8_t *pkt, size_t len, size_t off, struct ref *r)
{
	size_t doff, i;

	if (off > len || len - off < 20)
		return;
	r->tcp = true;
	r->tcp_off = off;
	memcpy(&r->sport, pkt + off, 2);
	memcpy(&r->dport, pkt + off + 2, 2);
	/* The options (RFC 9293 3.1): EOL ends them, NOP is one byte, others kind, length. */
	doff = (pkt[off + 12] >> 4) * 4;
	if (doff <= 20 || len - off < doff)
		return;		/* none, a bad data offset, or options past the packet */
	for (i = 20; i < doff;) {
		uint8_t kind = pkt[off + i], olen;

		if (kind == 0)
			return;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= doff)
			return;		/* no room for the length: malformed */
		olen = pkt[off + i + 1];
		if (olen < 2 || i + olen > doff)
			return;		/* malformed: nothing counts */
		if (kind == 8) {	/* RFC 7323: kind 8, length 10, TSval, TSecr */
			if (olen != 10)
				return;
			r->has_ts = true;
			r->tsval = be32(pkt + off + i + 2);
			return;
		}
		i += olen;
	}
}

static void ref_ipv4(const uint8_t *pkt, size_t len, size_t off, struct ref *r)
{
	size_t ihl;

	if (off > len || len - off < 20 || pkt[off] >> 4 != 4)
		return;
	ihl = (pkt[off] & 15) * 4;
	if (ihl < 20)
		return;
	if (be16(pkt + off + 6) & 0x3fff)
		return;		/* MF or a fragment offset: a fragment */
	if (pkt[off + 9] != 6)
		return;
	r->family = AF_INET;
	memcpy(r->saddr, pkt + off + 12, 4);
	memcpy(r->daddr, pkt + off + 16, 4);
	ref_tcp(pkt, len, off + ihl, r);
}

static void ref_ipv6(const uint8_t *pkt, size_t len, size_t off, struct ref *r)
{
	uint8_t next;

	if (off > len || len - off < 40 || pkt[off] >> 4 != 6)
		return;
	r->family = AF_INET6;
	memcpy(r->saddr, pkt + off + 8, 16);
	memcpy(r->daddr, pkt + off + 24, 16);
	next = pkt[off + 6];
	off += 40;
	/* Hop-by-hop (0), routing (43), destination options (60): 8-byte units
	 * after the first 8; AH (51): 4-byte units after the first 8 (RFC 4302).
	 * A fragment header (44) makes a fragment.  At most 6 are followed. */
	for (int n = 0;; n++) {
		if (next == 6) {
			ref_tcp(pkt, len, off, r);
			return;
		}
		uint8_t this = next;

		if (n == 6 || (this != 0 && this != 43 && this != 60 && this != 51))
			return;
		if (off > len || len - off < 2)
			return;
		next = pkt[off];
		off += this == 51 ? ((size_t)pkt[off + 1] + 2) * 4 : ((size_t)pkt[off + 1] + 1) * 8;
	}
}

static void ref_parse(const uint8_t *pkt, size_t len, bool l3, struct ref *r)
{
	size_t off = 14;
	uint16_t type;

	memset(r, 0, sizeof(*r));
	if (l3) {
		if (len >= 1 && pkt[0] >> 4 == 4)
			ref_ipv4(pkt, len, 0, r);
		else if (len >= 1 && pkt[0] >> 4 == 6)
			ref_ipv6(pkt, len, 0, r);
		return;
	}
	if (len < 14)
		return;
	type = be16(pkt + 12);
	/* Up to two tags, 802.1ad (0x88a8) or 802.1Q (0x8100), 4 bytes each. */
	for (int tags = 0; tags < 2 && (type == 0x8100 || type == 0x88a8); tags++) {
		if (len - off < 4)
			return;
		type = be16(pkt + off + 2);
		off += 4;
	}
	if (type == 0x0800)
		ref_ipv4(pkt, len, off, r);
	else if (type == 0x86dd)
		ref_ipv6(pkt, len, off, r);
}

/* ---- the programs ----------------------------------------------------------------- */

struct progs {
	struct lock_bpf *lock;
	struct tsval_bpf *tsval;
};

static struct progs eth, l3;
static bool bpf_ok, tried;

static bool load(struct progs *p, bool is_l3)
{
	p->lock = lock_bpf__open();
	p->tsval = tsval_bpf__open();
	if (!p->lock || !p->tsval)
		return false;
	p->lock->rodata->tf_l3_dev = is_l3;
	p->tsval->rodata->tf_l3_dev = is_l3;
	return !lock_bpf__load(p->lock) && !tsval_bpf__load(p->tsval);
}

static int run(struct bpf_program *prog, const uint8_t *pkt, size_t len, bool skb, uint32_t mark)
{
	struct __sk_buff ctx = { .mark = mark };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = len, .repeat = 1);

	if (skb) {
		o.ctx_in = &ctx;
		o.ctx_size_in = sizeof(ctx);
	}
	if (bpf_prog_test_run_opts(bpf_program__fd(prog), &o))
		return REFUSED;
	return (int)o.retval;
}

/* The key of the reference's packet as the hook sees it (ingress: the peer sent it). */
static void ref_key(const struct ref *r, bool ingress, struct tf_tuple *k)
{
	memset(k, 0, sizeof(*k));
	k->family = r->family;
	memcpy(k->local_addr, ingress ? r->daddr : r->saddr, r->family == AF_INET ? 4 : 16);
	memcpy(k->peer_addr, ingress ? r->saddr : r->daddr, r->family == AF_INET ? 4 : 16);
	k->local_port = ingress ? r->dport : r->sport;
	k->peer_port = ingress ? r->sport : r->dport;
}

static void lock_hook(struct progs *p, struct bpf_program *prog, bool xdp, bool ingress,
		      const uint8_t *pkt, size_t len, const struct ref *r, bool mark, bool expired)
{
	int fd = bpf_map__fd(p->lock->maps.locks), got;
	struct tf_lock v = { .since_ns = 1, .expires_ns = expired ? 1 : 0 };
	struct tf_tuple k;
	bool drop;

	if (r->tcp) {
		ref_key(r, ingress, &k);
		FUZZ_ASSERT(bpf_map_update_elem(fd, &k, &v, BPF_ANY) == 0);
	}
	got = run(prog, pkt, len, !xdp, mark ? TF_PASS_MARK : 0);
	if (r->tcp)
		FUZZ_ASSERT(bpf_map_delete_elem(fd, &k) == 0);
	if (got == REFUSED)
		return;
	drop = r->tcp && !expired && !(mark && !xdp);
	if (xdp)
		FUZZ_ASSERT(got == (drop ? XDP_DROP : XDP_PASS));
	else	/* a drop at egress is a redirect to no device (lock.bpf.c: TCP must see loss) */
		FUZZ_ASSERT(got == (!drop ? TC_ACT_UNSPEC : ingress ? TC_ACT_SHOT : TC_ACT_REDIRECT));
}

static void tsval_hook(struct progs *p, struct bpf_program *prog, bool ingress,
		       const uint8_t *pkt, size_t len, const struct ref *r)
{
	int fd = bpf_map__fd(p->tsval->maps.tsvals), got, n = 0;
	struct tf_tuple k, want, *prev = NULL;
	struct tf_tsval v;

	got = run(prog, pkt, len, true, 0);
	if (got != REFUSED)
		FUZZ_ASSERT(got == TC_ACT_UNSPEC);
	if (r->tcp && r->has_ts)
		ref_key(r, ingress, &want);
	while (bpf_map_get_next_key(fd, prev, &k) == 0) {
		n++;
		FUZZ_ASSERT(got != REFUSED && r->tcp && r->has_ts);
		FUZZ_ASSERT(!memcmp(&k, &want, sizeof(k)));
		FUZZ_ASSERT(bpf_map_lookup_elem(fd, &k, &v) == 0);
		if (ingress)
			FUZZ_ASSERT(v.in_max.seen && v.in_max.tsval == r->tsval && !v.out_max.seen);
		else
			FUZZ_ASSERT(v.out_max.seen && v.out_max.tsval == r->tsval && !v.in_max.seen);
		FUZZ_ASSERT(bpf_map_delete_elem(fd, &k) == 0);
	}
	FUZZ_ASSERT(got == REFUSED || n == (r->tcp && r->has_ts));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct progs *p;
	struct ref r;
	const uint8_t *pkt;
	size_t len;
	bool mark, expired;

	if (!tried) {
		tried = true;
		libbpf_set_print(NULL);
		bpf_ok = geteuid() == 0 && load(&eth, false) && load(&l3, true);
		if (!bpf_ok)
			fprintf(stderr, "fuzz bpf_diff: cannot load the BPF programs (not root?): "
				"every input is a no-op\n");
	}
	if (!bpf_ok || size < 1 || size - 1 > MAX_PKT)
		return 0;
	p = data[0] & 1 ? &l3 : &eth;
	mark = data[0] & 2;
	expired = data[0] & 4;
	pkt = data + 1;
	len = size - 1;
	ref_parse(pkt, len, data[0] & 1, &r);

	lock_hook(p, p->lock->progs.tf_lock_xdp, true, true, pkt, len, &r, mark, expired);
	lock_hook(p, p->lock->progs.tf_lock_tc_in, false, true, pkt, len, &r, mark, expired);
	lock_hook(p, p->lock->progs.tf_lock_tc_out, false, false, pkt, len, &r, mark, expired);
	tsval_hook(p, p->tsval->progs.tf_tsval_tc_out, false, pkt, len, &r);
	tsval_hook(p, p->tsval->progs.tf_tsval_tc_in, true, pkt, len, &r);
	return 0;
}
