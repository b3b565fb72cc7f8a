/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for the lock programs: Ethernet, up to two VLAN tags
 * (802.1Q / 802.1ad), IPv4, IPv6 with its extension headers (bounded), TCP
 * ports.  The same code serves XDP and tc: callers hand in the linear data
 * [data, data_end) and say whether it starts with an Ethernet header or
 * straight with IP (tc on tun, wireguard and other L3 devices).
 *
 * The answer is one of enum tf_pkt_kind; only TF_PKT_TCP fills in the
 * addresses and ports.  Anything this parser does not understand is not
 * TCP to it, and the lock lets it pass.
 */
#ifndef TF_PARSE_H
#define TF_PARSE_H

#define TF_ETH_P_IP	0x0800
#define TF_ETH_P_IPV6	0x86DD
#define TF_ETH_P_8021Q	0x8100
#define TF_ETH_P_8021AD	0x88A8

#define TF_IPPROTO_HOPOPTS	0
#define TF_IPPROTO_TCP		6
#define TF_IPPROTO_ROUTING	43
#define TF_IPPROTO_FRAGMENT	44
#define TF_IPPROTO_AH		51
#define TF_IPPROTO_DSTOPTS	60

#define TF_IP_MF_OFFSET	0x3FFF	/* IPv4 frag_off: more-fragments flag + offset */
#define TF_VLAN_MAX	2	/* outer (802.1ad) and inner (802.1Q) tag */
#define TF_IPV6_EXT_MAX	6	/* extension headers skipped before giving up */

enum tf_pkt_kind {
	TF_PKT_TCP = 0,		/* addresses and ports filled in */
	TF_PKT_OTHER,		/* not IP, or not TCP */
	TF_PKT_FRAGMENT,	/* IPv4 fragment or IPv6 fragment header */
	TF_PKT_TRUNCATED,	/* a header runs past the end of the data */
};

/* What the lock needs from a TCP packet, all in network byte order. */
struct tf_pkt {
	__u32 saddr[4];		/* IPv4 in saddr[0], the rest zero */
	__u32 daddr[4];
	__u16 sport;
	__u16 dport;
	__u8  family;		/* AF_INET (2) or AF_INET6 (10) */
	void *l3;		/* the IP header (its fixed part is in the data) */
	void *tcp;		/* the TCP header (its fixed 20 bytes are in the data) */
};

/* The headers, as laid out on the wire (only the bytes read here). */
struct tf_eth_hdr {
	__u8  dst[6];
	__u8  src[6];
	__be16 proto;
};

struct tf_vlan_hdr {
	__be16 tci;
	__be16 proto;		/* the next header's ethertype */
};

struct tf_ipv4_hdr {
	__u8  ver_ihl;		/* version << 4 | header length in words */
	__u8  tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8  ttl;
	__u8  protocol;
	__be16 check;
	__be32 saddr;
	__be32 daddr;
};

struct tf_ipv6_hdr {
	__be32 ver_tc_flow;
	__be16 payload_len;
	__u8  nexthdr;
	__u8  hop_limit;
	__u32 saddr[4];
	__u32 daddr[4];
};

/* Hop-by-hop, routing, destination options and AH start alike. */
struct tf_ipv6_ext_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct tf_tcp_ports {
	__be16 source;
	__be16 dest;
};

#define TF_TCP_HDR_MIN	20	/* the fixed header: all of it must be there */

static __always_inline int tf_parse_tcp(void *cur, void *data_end, struct tf_pkt *p)
{
	struct tf_tcp_ports *tcp = cur;

	if (cur + TF_TCP_HDR_MIN > data_end)
		return TF_PKT_TRUNCATED;
	p->sport = tcp->source;
	p->dport = tcp->dest;
	p->tcp = cur;
	return TF_PKT_TCP;
}

static __always_inline int tf_parse_ipv4(void *cur, void *data_end, struct tf_pkt *p)
{
	struct tf_ipv4_hdr *ip = cur;
	__u32 hlen;

	if (cur + sizeof(*ip) > data_end)
		return TF_PKT_TRUNCATED;
	if ((ip->ver_ihl >> 4) != 4)
		return TF_PKT_OTHER;
	hlen = (ip->ver_ihl & 0x0F) * 4;
	if (hlen < sizeof(*ip))
		return TF_PKT_OTHER;
	if (ip->frag_off & bpf_htons(TF_IP_MF_OFFSET))
		return TF_PKT_FRAGMENT;
	if (ip->protocol != TF_IPPROTO_TCP)
		return TF_PKT_OTHER;
	p->family = 2; /* AF_INET */
	p->l3 = cur;
	p->saddr[0] = ip->saddr;
	p->daddr[0] = ip->daddr;
	return tf_parse_tcp(cur + hlen, data_end, p);
}

static __always_inline int tf_parse_ipv6(void *cur, void *data_end, struct tf_pkt *p)
{
	struct tf_ipv6_hdr *ip6 = cur;
	__u8 next;
	int i;

	if (cur + sizeof(*ip6) > data_end)
		return TF_PKT_TRUNCATED;
	if ((((__u8 *)cur)[0] >> 4) != 6)
		return TF_PKT_OTHER;
	next = ip6->nexthdr;
	p->family = 10; /* AF_INET6 */
	p->l3 = cur;
	__builtin_memcpy(p->saddr, ip6->saddr, 16);
	__builtin_memcpy(p->daddr, ip6->daddr, 16);
	cur += sizeof(*ip6);

#pragma unroll
	for (i = 0; i < TF_IPV6_EXT_MAX; i++) {
		struct tf_ipv6_ext_hdr *ext = cur;

		if (next == TF_IPPROTO_TCP)
			return tf_parse_tcp(cur, data_end, p);
		if (next == TF_IPPROTO_FRAGMENT)
			return TF_PKT_FRAGMENT;
		if (next != TF_IPPROTO_HOPOPTS && next != TF_IPPROTO_ROUTING &&
		    next != TF_IPPROTO_DSTOPTS && next != TF_IPPROTO_AH)
			return TF_PKT_OTHER;
		if (cur + sizeof(*ext) > data_end)
			return TF_PKT_TRUNCATED;
		/* The length rule is this header's (next), not the following one's. */
		if (next == TF_IPPROTO_AH)
			cur += ((__u32)ext->hdrlen + 2) * 4;	/* AH counts 4-byte words */
		else
			cur += ((__u32)ext->hdrlen + 1) * 8;
		next = ext->nexthdr;
	}
	/* More extension headers than we follow: do not guess. */
	if (next == TF_IPPROTO_TCP)
		return tf_parse_tcp(cur, data_end, p);
	return TF_PKT_OTHER;
}

/* A frame that starts with an Ethernet header, maybe VLAN-tagged. */
static __always_inline int tf_parse_eth(void *data, void *data_end, struct tf_pkt *p)
{
	struct tf_eth_hdr *eth = data;
	void *cur = data + sizeof(*eth);
	__be16 proto;
	int i;

	if (cur > data_end)
		return TF_PKT_TRUNCATED;
	proto = eth->proto;

#pragma unroll
	for (i = 0; i < TF_VLAN_MAX; i++) {
		struct tf_vlan_hdr *vlan = cur;

		if (proto != bpf_htons(TF_ETH_P_8021Q) && proto != bpf_htons(TF_ETH_P_8021AD))
			break;
		if (cur + sizeof(*vlan) > data_end)
			return TF_PKT_TRUNCATED;
		proto = vlan->proto;
		cur += sizeof(*vlan);
	}

	if (proto == bpf_htons(TF_ETH_P_IP))
		return tf_parse_ipv4(cur, data_end, p);
	if (proto == bpf_htons(TF_ETH_P_IPV6))
		return tf_parse_ipv6(cur, data_end, p);
	return TF_PKT_OTHER;
}

/* A packet that starts straight with IP (no link-layer header). */
static __always_inline int tf_parse_ip(void *data, void *data_end, struct tf_pkt *p)
{
	if (data + 1 > data_end)
		return TF_PKT_TRUNCATED;
	switch (((__u8 *)data)[0] >> 4) {
	case 4:
		return tf_parse_ipv4(data, data_end, p);
	case 6:
		return tf_parse_ipv6(data, data_end, p);
	}
	return TF_PKT_OTHER;
}

/* ---- the TCP timestamp option (the tsval recorder) -------------------------- */

#define TF_TCPOPT_EOL		0
#define TF_TCPOPT_NOP		1
#define TF_TCPOPT_TS		8
#define TF_TCPOLEN_TS		10
#define TF_TCPOPT_SPACE		40	/* options fit in 60 - 20 bytes */
/* NOP NOP kind=8 len=10: the word Linux writes first (tcp_options_write) */
#define TF_TCPOPT_TS_WORD	0x0101080aU

enum tf_ts_kind {
	TF_TS_FOUND = 0,	/* *tsval filled in (host byte order) */
	TF_TS_NONE,		/* no timestamp option (EOL, or the options end) */
	TF_TS_MALFORMED,	/* a data offset below 20, a length below 2, an option
				 * running past the header, a timestamp option whose
				 * length is not 10 */
	TF_TS_TRUNCATED,	/* the header's options run past the data we have */
	TF_TS_WALK,		/* not the usual layout: walk the options (tf_tcp_opts_tsval) */
};

#define TF_TCPOPT_BUF		64	/* the walk's buffer: options, then zeros (EOL) */

/* Data offset of a TCP header in bytes (a multiple of 4, 0..60). */
static __always_inline __u32 tf_tcp_hlen(const void *tcp)
{
	return (((const __u8 *)tcp)[12] >> 4) * 4;
}

/*
 * The fast path, on a TCP header whose fixed 20 bytes are in the data: the
 * word Linux writes right after the fixed header (NOP NOP 8 10, then tsval).
 * TF_TS_WALK when the options are there but laid out otherwise.
 */
static __always_inline int tf_tcp_tsval_fast(void *tcp, void *data_end, __u32 *tsval)
{
	__u32 hlen = tf_tcp_hlen(tcp);
	__u8 *opt = (__u8 *)tcp + TF_TCP_HDR_MIN;

	if (hlen < TF_TCP_HDR_MIN)
		return TF_TS_MALFORMED;
	if (hlen == TF_TCP_HDR_MIN)
		return TF_TS_NONE;
	if ((void *)(opt + (hlen - TF_TCP_HDR_MIN)) > data_end)
		return TF_TS_TRUNCATED;
	if (hlen >= TF_TCP_HDR_MIN + 12 && (void *)(opt + 12) <= data_end &&
	    *(__u32 *)opt == bpf_htonl(TF_TCPOPT_TS_WORD)) {
		*tsval = bpf_ntohl(*(__u32 *)(opt + 4));
		return TF_TS_FOUND;
	}
	return TF_TS_WALK;
}

/*
 * The walk over options copied into buf (optlen <= 40 bytes, zeros after
 * them): one option per step, at most 40 steps (a NOP is one byte).  EOL or
 * the end of the options stop it; a bad length makes the header malformed
 * (nothing is recorded from it).  Written so that each step has one way on
 * (the step length is computed, not branched on): the verifier then walks
 * 40 steps, not 2^40 paths.
 */
static __always_inline int tf_tcp_opts_tsval(const __u8 *buf, __u32 optlen, __u32 *tsval)
{
	__u32 off = 0, i;

	if (optlen > TF_TCPOPT_SPACE)
		return TF_TS_MALFORMED;
#pragma clang loop unroll(disable)
	for (i = 0; i < TF_TCPOPT_SPACE; i++) {
		__u32 kind, len, is_nop;

		if (off >= optlen)
			return TF_TS_NONE;
		off &= TF_TCPOPT_BUF - 1;
		kind = buf[off];
		len = buf[(off + 1) & (TF_TCPOPT_BUF - 1)];
		if (kind == TF_TCPOPT_EOL)
			return TF_TS_NONE;
		if (kind == TF_TCPOPT_TS) {
			if (len != TF_TCPOLEN_TS || off + TF_TCPOLEN_TS > optlen)
				return TF_TS_MALFORMED;
			*tsval = (__u32)buf[(off + 2) & (TF_TCPOPT_BUF - 1)] << 24 |
				 (__u32)buf[(off + 3) & (TF_TCPOPT_BUF - 1)] << 16 |
				 (__u32)buf[(off + 4) & (TF_TCPOPT_BUF - 1)] << 8 |
				 (__u32)buf[(off + 5) & (TF_TCPOPT_BUF - 1)];
			return TF_TS_FOUND;
		}
		is_nop = ((kind ^ TF_TCPOPT_NOP) - 1) >> 31;	/* 1 for a NOP, else 0 */
		len = is_nop + (1 - is_nop) * len;
		if (len < 1 || (!is_nop && len < 2) || off + len > optlen)
			return TF_TS_MALFORMED;
		off += len;
	}
	return TF_TS_NONE;
}

#endif /* TF_PARSE_H */
