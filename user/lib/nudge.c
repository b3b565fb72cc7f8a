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
#include "tcp_csum.h"

struct ack_pkt {
	struct tcphdr th;
	/* NOP NOP TS(8) len 10 tsval tsecr, if any; then the probe's byte */
	uint8_t rest[12 + 1];
} __attribute__((packed));

/* A family's raw socket, opened on first use, marked to pass the locks. */
static int raw_socket(struct tf_nudger *n, bool v4)
{
	int *raw = v4 ? &n->raw4 : &n->raw6, mark = TF_PASS_MARK, s, err;

	if (*raw >= 0)
		return *raw;
	s = socket(v4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
	if (s < 0)
		return tf_fail(errno, "nudge: raw socket (needs CAP_NET_RAW)");
	if (setsockopt(s, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))) {
		err = errno;
		close(s);
		return tf_fail(err, "nudge: SO_MARK on the raw socket");
	}
	if (!v4) {
		int off = offsetof(struct tcphdr, check);

		/* The kernel fills the checksum over the IPv6 pseudo-header. */
		if (setsockopt(s, IPPROTO_IPV6, IPV6_CHECKSUM, &off, sizeof(off))) {
			err = errno;
			close(s);
			return tf_fail(err, "nudge: IPV6_CHECKSUM on the raw socket");
		}
	}
	*raw = s;
	return s;
}

void tf_nudger_close(struct tf_nudger *n)
{
	if (n->raw4 >= 0)
		close(n->raw4);
	if (n->raw6 >= 0)
		close(n->raw6);
	n->raw4 = n->raw6 = -1;
}

#define NUDGE_BATCH 16	/* packets per sendmmsg() */

int tf_nudge(struct tf_nudger *n, int fd, const struct tf_conn *c, int dupacks)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctl = {};
	struct ack_pkt pkt[NUDGE_BATCH] = {}, tmpl = {};
	struct mmsghdr msg[NUDGE_BATCH] = {};
	struct iovec iov[NUDGE_BATCH];
	struct sockaddr_storage dst = {};
	struct cmsghdr *cm = &ctl.align;
	uint8_t l4[4], p4[4];
	bool v4 = tf_endpoint_wire_v4(&c->local, l4) && tf_endpoint_wire_v4(&c->peer, p4);
	uint32_t snd_nxt = c->snd_seq - c->unsent_len, in_flight = c->outq_len - c->unsent_len;
	/* The byte at snd_nxt - 1: the last one in flight, or, with nothing in
	 * flight, one the peer has already (its content is not looked at).
	 * Without the queue's bytes the probe is a pure ACK: never a guess. */
	bool have_byte = in_flight == 0 || c->outq;
	uint8_t last_sent = in_flight && c->outq ? c->outq[in_flight - 1] : 0;
	socklen_t alen, clen;
	int raw = raw_socket(n, v4), sent = 0;
	size_t len;

	if (raw < 0)
		return raw;
	if (dupacks < 0)
		dupacks = c->opts & TF_OPT_SACK ? 0 : 3;
	/* The source is the connection's own address (local on this host by
	 * now), given per packet so one socket serves every connection. */
	if (v4) {
		struct sockaddr_in *d = (void *)&dst;
		struct in_pktinfo pi = {};

		d->sin_family = AF_INET;
		memcpy(&d->sin_addr, p4, 4);
		alen = sizeof(*d);
		memcpy(&pi.ipi_spec_dst, l4, 4);
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		clen = CMSG_SPACE(sizeof(pi));
	} else {
		struct sockaddr_in6 *d = (void *)&dst;
		struct in6_pktinfo pi = {};

		d->sin6_family = AF_INET6;
		memcpy(&d->sin6_addr, c->peer.addr, 16);
		d->sin6_scope_id = c->peer.scope_id;
		alen = sizeof(*d);
		memcpy(&pi.ipi6_addr, c->local.addr, 16);
		pi.ipi6_ifindex = c->local.scope_id;
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		clen = CMSG_SPACE(sizeof(pi));
	}

	tmpl.th.source = htons(c->local.port);
	tmpl.th.dest = htons(c->peer.port);
	tmpl.th.ack_seq = htonl(c->rcv_seq);
	tmpl.th.ack = 1;
	tmpl.th.window = htons((uint16_t)(c->window.rcv_wnd >> c->rcv_wscale > 0xffff ? 0xffff
									: c->window.rcv_wnd >> c->rcv_wscale));
	len = sizeof(tmpl.th);
	/*
	 * No timestamp option by default.  getsockopt(TCP_TIMESTAMP) is the
	 * socket's clock now, but with pacing (BBR, fq) the socket's own packets
	 * carry departure times ahead of it: an ACK stamped with the clock then
	 * arrives older than the peer's ts_recent and is dropped by PAWS.  Linux
	 * runs PAWS only on segments that carry the option, so without it the
	 * ACKs are accepted and cannot poison ts_recent either.
	 */
	if ((c->opts & TF_OPT_TSTAMP) && getenv("TCPFERRY_NUDGE_TS")) {
		uint32_t ts, tsval, tsecr = 0;
		socklen_t tl = sizeof(ts);

		if (getsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &ts, &tl))
			return tf_fail(errno, "nudge: TCP_TIMESTAMP of the restored socket");
		tsval = htonl(ts);
		tmpl.rest[0] = tmpl.rest[1] = 1;
		tmpl.rest[2] = 8;
		tmpl.rest[3] = 10;
		memcpy(tmpl.rest + 4, &tsval, 4);
		memcpy(tmpl.rest + 8, &tsecr, 4);
		len += 12;
	}
	tmpl.th.doff = len / 4;

	while (sent <= dupacks) {
		int k, batch = dupacks + 1 - sent < NUDGE_BATCH ? dupacks + 1 - sent : NUDGE_BATCH, r;

		for (k = 0; k < batch; k++) {
			struct ack_pkt *p = &pkt[k];
			bool probe = sent + k == 0;
			size_t n = len + (probe && have_byte);

			*p = tmpl;
			/* First the probe (the peer answers it), then the duplicates. */
			p->th.seq = htonl(probe ? snd_nxt - 1 : snd_nxt);
			if (probe && have_byte)
				p->rest[len - sizeof(p->th)] = last_sent;
			if (v4)	/* IPv6: the kernel fills it (IPV6_CHECKSUM) */
				p->th.check = tf_tcp_csum(l4, p4, 4, p, n);
			iov[k] = (struct iovec){ .iov_base = p, .iov_len = n };
			msg[k].msg_hdr = (struct msghdr){ .msg_name = &dst, .msg_namelen = alen,
							  .msg_iov = &iov[k], .msg_iovlen = 1,
							  .msg_control = ctl.buf, .msg_controllen = clen };
		}
		r = sendmmsg(raw, msg, batch, 0);
		if (r < 0)
			return tf_fail(errno, "nudge: sending ACKs to the peer from the connection's address");
		if (r == 0)
			return tf_fail(EIO, "nudge: sending ACKs to the peer: none went out");
		sent += r;
	}
	return sent;
}
