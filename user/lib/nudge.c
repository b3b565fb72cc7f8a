// SPDX-License-Identifier: BSD-2-Clause
/* ACKs that prompt the peer after a move (see nudge.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "map_types.h"
#include "nudge.h"

struct ack_pkt {
	struct tcphdr th;
	uint8_t opt[12];	/* NOP NOP TS(8) len 10 tsval tsecr */
} __attribute__((packed));

static uint32_t sum16(const void *p, size_t len, uint32_t sum)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons(~sum & 0xffff);
}

/* A v4-mapped IPv6 endpoint goes on the wire as IPv4. */
static bool as_v4(const struct tf_endpoint *e, uint8_t out[4])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (e->family == AF_INET) {
		memcpy(out, e->addr, 4);
		return true;
	}
	if (!memcmp(e->addr, mapped, 12)) {
		memcpy(out, e->addr + 12, 4);
		return true;
	}
	return false;
}

int tf_nudge(int fd, const struct tf_conn *c, int dupacks)
{
	struct sockaddr_storage src = {}, dst = {};
	uint8_t l4[4], p4[4];
	bool v4 = as_v4(&c->local, l4) && as_v4(&c->peer, p4);
	int family = v4 ? AF_INET : AF_INET6, mark = TF_PASS_MARK, raw, sent = 0;
	uint32_t ts = 0, snd_nxt = c->snd_seq - c->unsent_len;
	socklen_t tl = sizeof(ts), alen;
	struct ack_pkt pkt = {};
	size_t len;

	if ((c->opts & TF_OPT_TSTAMP) && getsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &ts, &tl))
		return tf_fail(errno, "nudge: TCP_TIMESTAMP of the restored socket");
	raw = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
	if (raw < 0)
		return tf_fail(errno, "nudge: raw socket (needs CAP_NET_RAW)");
	if (setsockopt(raw, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))) {
		close(raw);
		return tf_fail(errno, "nudge: SO_MARK on the raw socket");
	}
	if (v4) {
		struct sockaddr_in *s = (void *)&src, *d = (void *)&dst;

		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, l4, 4);
		memcpy(&d->sin_addr, p4, 4);
		alen = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (void *)&src, *d = (void *)&dst;
		int off = offsetof(struct tcphdr, check);

		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, c->local.addr, 16);
		memcpy(&d->sin6_addr, c->peer.addr, 16);
		d->sin6_scope_id = c->peer.scope_id;
		alen = sizeof(*s);
		/* The kernel fills the checksum over the IPv6 pseudo-header. */
		setsockopt(raw, IPPROTO_IPV6, IPV6_CHECKSUM, &off, sizeof(off));
	}
	/* The source address is the connection's own (local on this host by now). */
	if (bind(raw, (struct sockaddr *)&src, alen)) {
		close(raw);
		return tf_fail(errno, "nudge: bind the raw socket to the connection's address");
	}

	pkt.th.source = htons(c->local.port);
	pkt.th.dest = htons(c->peer.port);
	pkt.th.ack_seq = htonl(c->rcv_seq);
	pkt.th.ack = 1;
	pkt.th.window = htons((uint16_t)(c->window.rcv_wnd >> c->rcv_wscale > 0xffff ? 0xffff
								      : c->window.rcv_wnd >> c->rcv_wscale));
	len = sizeof(pkt.th);
	/*
	 * No timestamp option by default.  getsockopt(TCP_TIMESTAMP) is the
	 * socket's clock now, but with pacing (BBR, fq) the socket's own packets
	 * carry departure times ahead of it: an ACK stamped with the clock then
	 * arrives older than the peer's ts_recent and is dropped by PAWS.  Linux
	 * runs PAWS only on segments that carry the option, so without it the
	 * ACKs are accepted and cannot poison ts_recent either.
	 */
	if ((c->opts & TF_OPT_TSTAMP) && getenv("TCPFERRY_NUDGE_TS")) {
		uint32_t tsval = htonl(ts), tsecr = 0;

		pkt.opt[0] = pkt.opt[1] = 1;
		pkt.opt[2] = 8;
		pkt.opt[3] = 10;
		memcpy(pkt.opt + 4, &tsval, 4);
		memcpy(pkt.opt + 8, &tsecr, 4);
		len += sizeof(pkt.opt);
	}
	pkt.th.doff = len / 4;

	for (int i = 0; i <= dupacks; i++) {
		/* First an out-of-window ACK (the peer answers it), then the duplicates. */
		pkt.th.seq = htonl(i == 0 ? snd_nxt - 1 : snd_nxt);
		pkt.th.check = 0;
		if (v4) {
			uint32_t sum = sum16(l4, 4, 0);

			sum = sum16(p4, 4, sum);
			sum += IPPROTO_TCP + len;
			pkt.th.check = fold(sum16(&pkt, len, sum));
		}
		if (sendto(raw, &pkt, len, 0, (struct sockaddr *)&dst, alen) != (ssize_t)len) {
			int err = errno;

			close(raw);
			return tf_fail(err, "nudge: sending an ACK to the peer");
		}
		sent++;
	}
	close(raw);
	return sent;
}
