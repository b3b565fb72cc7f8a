// SPDX-License-Identifier: BSD-2-Clause
/* The FINs of a half-closed connection, replayed into its new socket (see fin_replay.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fin_replay.h"
#include "internal.h"
#include "map_types.h"
#include "repair_defs.h"
#include "tcp_csum.h"

bool tf_state_our_fin(unsigned s)
{
	return s == TCP_FIN_WAIT1 || s == TCP_FIN_WAIT2 || s == TCP_CLOSING || s == TCP_LAST_ACK;
}

bool tf_state_peer_fin(unsigned s)
{
	return s == TCP_CLOSE_WAIT || s == TCP_CLOSING || s == TCP_LAST_ACK;
}

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return -errno;
	return ti.tcpi_state;
}

/* Wait (up to 200 ms: loopback delivers within the send, or soon after) for a state. */
static int reach(int fd, unsigned want, const char *what)
{
	struct timespec pause = { .tv_nsec = 100 * 1000 };
	int s = -1;

	for (int i = 0; i < 2000; i++) {
		s = tcp_state(fd);
		if (s < 0)
			return tf_fail(-s, "%s: TCP_INFO", what);
		if ((unsigned)s == want)
			return 0;
		nanosleep(&pause, NULL);
	}
	return tf_failx(EPROTO, "%s: the socket is in %s, not %s", what, tf_tcp_state_name(s), tf_tcp_state_name(want));
}

/* Our FIN, counted as sent without a packet (repair mode, send queue). */
static int queue_our_fin(int fd, unsigned want)
{
	int q = TF_SEND_QUEUE, none = TF_NO_QUEUE;

	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)))
		return tf_fail(errno, "our FIN: TCP_REPAIR_QUEUE send");
	if (shutdown(fd, SHUT_WR)) {
		int err = errno;

		setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &none, sizeof(none));
		return tf_fail(err, "our FIN: shutdown");
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &none, sizeof(none)))
		return tf_fail(errno, "our FIN: TCP_REPAIR_QUEUE none");
	return reach(fd, want, "our FIN");
}

/* A segment as the peer would send it: seq = where its FIN sits (rcv_seq). */
static int send_as_peer(const struct tf_conn *c, bool fin, uint32_t ack)
{
	uint32_t wnd = c->has_window ? c->window.snd_wnd >> c->snd_wscale : 0xffff;
	uint8_t l4[4], p4[4];
	bool v4 = tf_endpoint_wire_v4(&c->local, l4) && tf_endpoint_wire_v4(&c->peer, p4);
	int mark = TF_PASS_MARK, one = 1, s, err = 0;
	struct tcphdr th = {
		.source = htons(c->peer.port),
		.dest = htons(c->local.port),
		.seq = htonl(c->rcv_seq),
		.ack_seq = htonl(ack),
		.doff = sizeof(struct tcphdr) / 4,
		.ack = 1,
		.fin = fin,
		.window = htons(wnd > 0xffff ? 0xffff : wnd),
	};

	s = socket(v4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (s < 0)
		return tf_fail(errno, "the peer's FIN: raw socket (needs CAP_NET_RAW)");
	if (setsockopt(s, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)))
		err = tf_fail(errno, "the peer's FIN: SO_MARK");
	if (!err && v4) {
		struct {
			struct iphdr ip;
			struct tcphdr th;
		} __attribute__((packed)) pkt = {
			.ip = { .version = 4, .ihl = 5, .ttl = 64, .protocol = IPPROTO_TCP,
				.frag_off = htons(IP_DF), .tot_len = htons(sizeof(pkt)) },
		};
		struct sockaddr_in to = { .sin_family = AF_INET };

		memcpy(&pkt.ip.saddr, p4, 4);
		memcpy(&pkt.ip.daddr, l4, 4);
		th.check = tf_tcp_csum(p4, l4, 4, &th, sizeof(th));
		pkt.th = th;
		memcpy(&to.sin_addr, l4, 4);
		if (sendto(s, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)sizeof(pkt))
			err = tf_fail(errno, "sending the peer's FIN to the new socket");
	} else if (!err) {
		struct {
			struct ip6_hdr ip;
			struct tcphdr th;
		} __attribute__((packed)) pkt = {};
		struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_scope_id = c->local.scope_id };

		pkt.ip.ip6_flow = htonl(6u << 28);
		pkt.ip.ip6_plen = htons(sizeof(th));
		pkt.ip.ip6_nxt = IPPROTO_TCP;
		pkt.ip.ip6_hlim = 64;
		memcpy(&pkt.ip.ip6_src, c->peer.addr, 16);
		memcpy(&pkt.ip.ip6_dst, c->local.addr, 16);
		th.check = tf_tcp_csum(c->peer.addr, c->local.addr, 16, &th, sizeof(th));
		pkt.th = th;
		memcpy(&to.sin6_addr, c->local.addr, 16);
		if (setsockopt(s, IPPROTO_IPV6, IPV6_HDRINCL, &one, sizeof(one)))
			err = tf_fail(errno, "the peer's FIN: IPV6_HDRINCL");
		else if (sendto(s, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)sizeof(pkt))
			err = tf_fail(errno, "sending the peer's FIN to the new socket");
	}
	close(s);
	return err;
}

int tf_fin_replay(int fd, const struct tf_conn *c)
{
	unsigned s = c->tcp_state;
	bool ours = tf_state_our_fin(s) && !c->fin_unsent;
	uint32_t snd_una = c->snd_seq - c->outq_len;
	int err = 0;

	if (s == TCP_ESTABLISHED)
		return 0;
	if (ours && s != TCP_LAST_ACK)
		err = queue_our_fin(fd, TCP_FIN_WAIT1);
	if (!err && tf_state_peer_fin(s)) {
		err = send_as_peer(c, true, snd_una);
		if (!err)
			err = reach(fd, ours && s != TCP_LAST_ACK ? TCP_CLOSING : TCP_CLOSE_WAIT, "the peer's FIN");
	}
	if (!err && ours && s == TCP_LAST_ACK)
		err = queue_our_fin(fd, TCP_LAST_ACK);
	/* FIN_WAIT2: the peer had acknowledged our FIN (snd_seq + 1). */
	if (!err && s == TCP_FIN_WAIT2) {
		err = send_as_peer(c, false, c->snd_seq + 1);
		if (!err)
			err = reach(fd, TCP_FIN_WAIT2, "the peer's ACK of our FIN");
	}
	return err;
}
