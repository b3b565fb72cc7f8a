/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Steering, the data-path half of a hand-off: the client's packets of a
 * steered tuple go on to the backend that now owns the socket, untouched at
 * L4 (the TCP header and payload are not changed, so neither is any
 * checksum but the new outer IPv4 header's).
 *
 *   L2  the frame gets the backend's MAC as destination and out_ifindex's as
 *       source, and leaves by out_ifindex (XDP_TX when that is the device it
 *       came in on, else a redirect); its IP header is not changed (the
 *       backend holds the VIP on lo, as in LVS direct routing).
 *   L3  an outer header goes in front of the IP header (RFC 2003 IPIP for
 *       IPv4, protocol 4; RFC 2473 IP6IP6 for IPv6, next header 41), from
 *       outer_src to backend_addr, hop limit 64, TOS / traffic class and
 *       flow label copied from the inner header, DF copied; then as L2 with
 *       next_hop_mac, the router's towards the backend.  The backend
 *       decapsulates with the kernel's tunnel device (ipip / ip6tnl).
 *
 * Called by the ingress programs (bpf/lock.bpf.c) after the lock lookup
 * missed: a lock always wins, so a hand-off flips a tuple from drop to steer
 * by deleting its lock once the steer entry is in.  The steer table is only
 * looked at once steer_cfg.in_use is set (the first steer add): until then a
 * packet costs the lock lookup alone.
 */
#ifndef TF_STEER_PATH_H
#define TF_STEER_PATH_H

#include "map_types.h"
#include "steer_maps.h"
#include "parse.h"

#define TF_ETH_HLEN		14
#define TF_VLAN_HLEN		4
#define TF_IPPROTO_IPIP		4	/* IPv4 in IPv4 */
#define TF_IPPROTO_IPV6		41	/* IPv6 in IPv6 */
#define TF_IP_DF		0x4000
#define TF_OUTER_TTL		64
#define TF_TCP_FLAGS_OFF	13
#define TF_TCP_FIN		0x01
#define TF_TCP_SYN		0x02
#define TF_TCP_RST		0x04
#define TF_TCP_ACK		0x10

/* What a steer hit needs once the lookup is done. */
struct tf_steer_hit {
	struct tf_steer *s;
	__u8 tcp_flags;
};

/*
 * The live steer entry for key, or NULL: none, or expired (treated as
 * absent until gc removes it), or ended and met by a new connection's SYN
 * (then removed).  Counts the packet on the entry: packets,
 * bytes (len, as received), last seen, and the client's FIN.
 */
static __always_inline struct tf_steer *tf_steer_find(const struct tf_tuple *key, const struct tf_pkt *p,
						       __u64 len, __u8 *tcp_flags)
{
	__u32 zero = 0;
	struct tf_steer_cfg *cfg = bpf_map_lookup_elem(&steer_cfg, &zero);
	struct tf_steer *s;
	__u64 now;
	__u8 flags;

	if (!cfg || !cfg->in_use)
		return NULL;
	s = bpf_map_lookup_elem(&steers, key);
	if (!s)
		return NULL;
	now = bpf_ktime_get_ns();
	if (now > tf_steer_expires_ns(s, cfg))
		return NULL;
	flags = ((__u8 *)p->tcp)[TF_TCP_FLAGS_OFF];
	/*
	 * A SYN on a tuple whose connection ended (the client's FIN, or the
	 * backend's report) is a new connection reusing the tuple: it is this
	 * host's, not the backend's (whose TIME_WAIT would answer it).
	 */
	if ((flags & (TF_TCP_SYN | TF_TCP_ACK)) == TF_TCP_SYN && s->fin_ns) {
		bpf_map_delete_elem(&steers, key);
		return NULL;
	}
	__sync_fetch_and_add(&s->packets, 1);
	__sync_fetch_and_add(&s->bytes, len);
	s->last_seen_ns = now;
	if ((flags & TF_TCP_FIN) && !s->fin_ns)
		s->fin_ns = now;
	*tcp_flags = flags;
	return s;
}

static __always_inline __u16 tf_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* The outer IPv4 header for an inner IPv4 packet, checksum included. */
static __always_inline void tf_outer_ipv4(struct tf_ipv4_hdr *o, const struct tf_ipv4_hdr *in,
					  const struct tf_steer *s)
{
	__u16 *w = (__u16 *)o;
	__u32 sum = 0;
	int i;

	o->ver_ihl = 0x45;
	o->tos = in->tos;
	o->tot_len = bpf_htons(bpf_ntohs(in->tot_len) + sizeof(*o));
	o->id = 0;
	o->frag_off = in->frag_off & bpf_htons(TF_IP_DF);
	o->ttl = TF_OUTER_TTL;
	o->protocol = TF_IPPROTO_IPIP;
	o->check = 0;
	o->saddr = s->outer_src[0];
	o->daddr = s->backend_addr[0];
#pragma unroll
	for (i = 0; i < (int)(sizeof(*o) / 2); i++)
		sum += w[i];
	o->check = tf_csum_fold(sum);
}

/* The outer IPv6 header for an inner IPv6 packet (IPv6 has no header checksum). */
static __always_inline void tf_outer_ipv6(struct tf_ipv6_hdr *o, const struct tf_ipv6_hdr *in,
					  const struct tf_steer *s)
{
	o->ver_tc_flow = in->ver_tc_flow;	/* version 6, traffic class, flow label */
	o->payload_len = bpf_htons(bpf_ntohs(in->payload_len) + sizeof(*in));
	o->nexthdr = TF_IPPROTO_IPV6;
	o->hop_limit = TF_OUTER_TTL;
	__builtin_memcpy(o->saddr, s->outer_src, 16);
	__builtin_memcpy(o->daddr, s->backend_addr, 16);
}

static __always_inline void tf_steer_set_macs(struct tf_eth_hdr *eth, const struct tf_steer *s)
{
	__builtin_memcpy(eth->dst, s->next_hop_mac, 6);
	__builtin_memcpy(eth->src, s->src_mac, 6);
}

/* ---- XDP ------------------------------------------------------------------------ */

/*
 * Room for the outer header at the front, the link-layer header (l2len
 * bytes: Ethernet and 0-2 VLAN tags) moved into it, the outer header
 * written after it.  Constant hlen and l2len in each caller: the verifier
 * checks fixed offsets.  0, or -1 when the room could not be made (the
 * packet is then unchanged).
 */
static __always_inline int tf_xdp_push_outer(struct xdp_md *ctx, const void *outer, const int hlen,
					     const int l2len)
{
	__u8 l2[TF_ETH_HLEN + 2 * TF_VLAN_HLEN];
	void *data, *data_end;

	if (bpf_xdp_adjust_head(ctx, -hlen))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + hlen + l2len > data_end)
		return -1;
	__builtin_memcpy(l2, data + hlen, l2len);	/* the two may overlap: through the stack */
	__builtin_memcpy(data, l2, l2len);
	__builtin_memcpy(data + l2len, outer, hlen);
	return 0;
}

static __always_inline int tf_xdp_encap(struct xdp_md *ctx, const struct tf_pkt *p, const struct tf_steer *s)
{
	void *data = (void *)(long)ctx->data;
	long l2len = (long)p->l3 - (long)data;
	struct tf_ipv4_hdr o4;
	struct tf_ipv6_hdr o6;

	if (p->family == 2) {
		tf_outer_ipv4(&o4, p->l3, s);
		if (l2len == TF_ETH_HLEN)
			return tf_xdp_push_outer(ctx, &o4, sizeof(o4), TF_ETH_HLEN);
		if (l2len == TF_ETH_HLEN + TF_VLAN_HLEN)
			return tf_xdp_push_outer(ctx, &o4, sizeof(o4), TF_ETH_HLEN + TF_VLAN_HLEN);
		if (l2len == TF_ETH_HLEN + 2 * TF_VLAN_HLEN)
			return tf_xdp_push_outer(ctx, &o4, sizeof(o4), TF_ETH_HLEN + 2 * TF_VLAN_HLEN);
		return -1;
	}
	tf_outer_ipv6(&o6, p->l3, s);
	if (l2len == TF_ETH_HLEN)
		return tf_xdp_push_outer(ctx, &o6, sizeof(o6), TF_ETH_HLEN);
	if (l2len == TF_ETH_HLEN + TF_VLAN_HLEN)
		return tf_xdp_push_outer(ctx, &o6, sizeof(o6), TF_ETH_HLEN + TF_VLAN_HLEN);
	if (l2len == TF_ETH_HLEN + 2 * TF_VLAN_HLEN)
		return tf_xdp_push_outer(ctx, &o6, sizeof(o6), TF_ETH_HLEN + 2 * TF_VLAN_HLEN);
	return -1;
}

/*
 * Send a steered frame on: XDP_TX or XDP_REDIRECT, or XDP_DROP when it
 * could not be built (the client retransmits; passing it to this host's
 * stack, which has no socket for it, would reset the connection).
 */
static __always_inline int tf_xdp_steer(struct xdp_md *ctx, const struct tf_pkt *p, const struct tf_steer *s)
{
	void *data, *data_end;

	if (s->mode == TF_STEER_L3 && tf_xdp_encap(ctx, p, s))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + TF_ETH_HLEN > data_end)
		return XDP_DROP;
	tf_steer_set_macs(data, s);
	if (s->out_ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(s->out_ifindex, 0);
}

/* ---- tc ------------------------------------------------------------------------- */

#define TF_TC_ACT_SHOT		2

/*
 * The same at tc ingress (skb->data is the Ethernet header there): the
 * kernel makes the room (bpf_skb_adjust_room after the MAC header, marked
 * as IPIP / IP6IP6 encapsulation so that GSO packets are segmented right)
 * and the frame is redirected to out_ifindex's egress.  VLAN tags are taken
 * off the data before tc ingress by the kernel; a frame that still has one
 * in L3 mode is dropped, as one that cannot be built.
 */
static __always_inline int tf_tc_steer(struct __sk_buff *skb, const struct tf_pkt *p, const struct tf_steer *s)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u8 macs[12];

	if (s->mode == TF_STEER_L3) {
		struct tf_ipv4_hdr o4;
		struct tf_ipv6_hdr o6;
		const void *outer = &o4;
		__u32 hlen = sizeof(o4);
		__u64 flags = BPF_F_ADJ_ROOM_ENCAP_L3_IPV4;

		if ((long)p->l3 - (long)data != TF_ETH_HLEN)
			return TF_TC_ACT_SHOT;
		if (p->family == 2) {
			tf_outer_ipv4(&o4, p->l3, s);
		} else {
			tf_outer_ipv6(&o6, p->l3, s);
			outer = &o6;
			hlen = sizeof(o6);
			flags = BPF_F_ADJ_ROOM_ENCAP_L3_IPV6;
		}
		if (bpf_skb_adjust_room(skb, hlen, BPF_ADJ_ROOM_MAC, flags))
			return TF_TC_ACT_SHOT;
		if (bpf_skb_store_bytes(skb, TF_ETH_HLEN, outer, hlen, 0))
			return TF_TC_ACT_SHOT;
		__builtin_memcpy(macs, s->next_hop_mac, 6);
		__builtin_memcpy(macs + 6, s->src_mac, 6);
		if (bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0))
			return TF_TC_ACT_SHOT;
		return bpf_redirect(s->out_ifindex, 0);
	}
	if (data + TF_ETH_HLEN > data_end)
		return TF_TC_ACT_SHOT;
	tf_steer_set_macs(data, s);
	return bpf_redirect(s->out_ifindex, 0);
}

#endif /* TF_STEER_PATH_H */
