/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Test packets for the BPF programs (BPF_PROG_TEST_RUN): a spec of the
 * headers wanted (Ethernet and VLAN tags or none, IPv4 or IPv6 with options
 * and extension headers, TCP with options, UDP, ICMP), built into a buffer.
 * Checksums are left zero: the programs under test do not read them.
 */
#ifndef TF_TEST_PKT_BUILD_H
#define TF_TEST_PKT_BUILD_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <linux/if_ether.h>
#include <netinet/in.h>

/* The Ethernet addresses every built frame carries: to ..:01 from ..:02. */
#define PKT_DST_MAC "\x02\x00\x00\x00\x00\x01"
#define PKT_SRC_MAC "\x02\x00\x00\x00\x00\x02"

/* ---- a packet builder ------------------------------------------------------------ */

struct pkt_spec {
	bool no_eth;		/* starts with IP (L3 device) */
	int vlans;		/* 0, 1 (802.1Q) or 2 (802.1ad + 802.1Q) */
	int family;		/* AF_INET or AF_INET6 */
	const char *src, *dst;
	uint16_t sport, dport;
	uint8_t proto;		/* IPPROTO_TCP (default), UDP, ICMP */
	bool v4_more_frags;	/* IPv4 MF set, offset 0 */
	uint16_t v4_frag_offset; /* in 8-byte units */
	int v4_options;		/* bytes of IPv4 options (multiple of 4) */
	bool v6_hopopts;	/* a hop-by-hop header before TCP */
	bool v6_dstopts;	/* a destination options header before TCP */
	bool v6_routing;	/* a routing header (after those two) */
	int v6_ah;		/* > 0: an AH of this hdrlen, (v6_ah + 2) * 4 bytes, last */
	bool v6_frag;		/* a fragment header before TCP */
	uint8_t tos;		/* IPv4 TOS, or IPv6 traffic class */
	uint32_t flow_label;	/* IPv6 */
	bool v4_df;		/* IPv4 don't-fragment */
	uint8_t tcp_flags;	/* default ACK */
	const uint8_t *tcp_opts; /* raw TCP options, padded to 4 */
	int tcp_opts_len;
	int payload;		/* bytes of payload */
	int cut;		/* if > 0: keep only this many bytes */
};

static inline void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v; }

static inline size_t build(const struct pkt_spec *s, uint8_t *buf)
{
	uint8_t proto = s->proto ? s->proto : IPPROTO_TCP;
	size_t off = 0, l3, l4, len;
	int l4len;

	memset(buf, 0, 2048);
	if (!s->no_eth) {
		memcpy(buf, PKT_DST_MAC PKT_SRC_MAC, 12);
		off = 12;
		if (s->vlans == 2) {
			put16(buf + off, 0x88A8);
			put16(buf + off + 2, 100);
			off += 4;
		}
		if (s->vlans >= 1) {
			put16(buf + off, 0x8100);
			put16(buf + off + 2, 200);
			off += 4;
		}
		put16(buf + off, s->family == AF_INET ? ETH_P_IP : ETH_P_IPV6);
		off += 2;
	}
	l3 = off;
	if (proto == IPPROTO_TCP)
		l4len = 20 + s->tcp_opts_len;
	else
		l4len = 8;
	if (s->family == AF_INET) {
		int hlen = 20 + s->v4_options;

		buf[l3] = 0x40 | (hlen / 4);
		buf[l3 + 1] = s->tos;
		put16(buf + l3 + 2, hlen + l4len + s->payload);
		put16(buf + l3 + 4, 0x1234);	/* id */
		put16(buf + l3 + 6, (s->v4_df ? 0x4000 : 0) | (s->v4_more_frags ? 0x2000 : 0) | s->v4_frag_offset);
		buf[l3 + 8] = 64;
		buf[l3 + 9] = proto;
		inet_pton(AF_INET, s->src, buf + l3 + 12);
		inet_pton(AF_INET, s->dst, buf + l3 + 16);
		for (int i = 0; i < s->v4_options; i++)
			buf[l3 + 20 + i] = 1;	/* NOP options */
		l4 = l3 + hlen;
	} else {
		uint8_t *next = buf + l3 + 6;

		buf[l3] = 0x60 | s->tos >> 4;
		buf[l3 + 1] = (s->tos & 0x0f) << 4 | ((s->flow_label >> 16) & 0x0f);
		put16(buf + l3 + 2, s->flow_label & 0xffff);
		buf[l3 + 7] = 64;
		inet_pton(AF_INET6, s->src, buf + l3 + 8);
		inet_pton(AF_INET6, s->dst, buf + l3 + 24);
		l4 = l3 + 40;
		if (s->v6_hopopts) {	/* 8 bytes: next, len 0, PadN */
			*next = 0;
			next = buf + l4;
			buf[l4 + 2] = 1;
			buf[l4 + 3] = 4;
			l4 += 8;
		}
		if (s->v6_dstopts) {	/* 16 bytes: len 1 */
			*next = 60;
			next = buf + l4;
			buf[l4 + 1] = 1;
			buf[l4 + 2] = 1;
			buf[l4 + 3] = 12;
			l4 += 16;
		}
		if (s->v6_routing) {	/* 8 bytes: len 0, type 4 (SRH), segments left 0 */
			*next = 43;
			next = buf + l4;
			buf[l4 + 2] = 4;
			l4 += 8;
		}
		if (s->v6_frag) {	/* 8 bytes, offset 0, M set */
			*next = 44;
			next = buf + l4;
			buf[l4 + 3] = 1;
			l4 += 8;
		}
		if (s->v6_ah > 0) {	/* AH: its length counts 4-byte words, minus 2 */
			*next = 51;
			next = buf + l4;
			buf[l4 + 1] = s->v6_ah;
			memset(buf + l4 + 4, 0xa5, (s->v6_ah + 2) * 4 - 4);	/* SPI, seq, ICV */
			l4 += (s->v6_ah + 2) * 4;
		}
		*next = proto;
		put16(buf + l3 + 4, l4 - l3 - 40 + l4len + s->payload);
	}
	put16(buf + l4, s->sport);
	put16(buf + l4 + 2, s->dport);
	if (proto == IPPROTO_TCP) {
		buf[l4 + 12] = (l4len / 4) << 4;
		buf[l4 + 13] = s->tcp_flags ? s->tcp_flags : 0x10;	/* ACK */
		put16(buf + l4 + 14, 65535);
		if (s->tcp_opts_len)	/* memcpy from NULL is undefined even for 0 bytes */
			memcpy(buf + l4 + 20, s->tcp_opts, s->tcp_opts_len);
	} else if (proto == IPPROTO_UDP) {
		put16(buf + l4 + 4, 8 + s->payload);
	} else {
		buf[l4] = 8;	/* ICMP echo request: no ports, the bytes are type/code */
	}
	len = l4 + l4len + s->payload;
	for (size_t i = l4 + l4len; i < len; i++)
		buf[i] = i;
	if (s->cut > 0 && (size_t)s->cut < len)
		len = s->cut;
	return len;
}

#endif /* TF_TEST_PKT_BUILD_H */
