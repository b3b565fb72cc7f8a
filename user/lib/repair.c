// SPDX-License-Identifier: BSD-2-Clause
/*
 * The TCP_REPAIR protocol for one socket, in the order the kernel accepts.
 *
 * Dump (socket already in repair mode, peer's packets held off by the lock):
 *   endpoints -> TCP_INFO options -> mss -> window -> clock -> queues -> options
 * Restore:
 *   socket -> repair on -> early options, buffers -> bind -> queue seqs ->
 *   connect (no SYN) -> TCP_REPAIR_OPTIONS -> TCP_TIMESTAMP -> receive queue ->
 *   sent part of the send queue -> TCP_REPAIR_WINDOW -> late options
 *   -> the FINs of a half-closed connection (fin_replay.h)
 * and tf_restore_finish(): repair off -> unsent tail (-> our unsent FIN) ->
 * options repair resets.
 */
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "sockdiag.h"
#include "fin_replay.h"
#include "repair_defs.h"
#include "sockopts.h"
#include "tcp_auth.h"
#include "tsval.h"

/* Kernel's struct tcp_info prefix we read (stable ABI). */
#define TCPI_OPT_TIMESTAMPS	1
#define TCPI_OPT_SACK		2
#define TCPI_OPT_WSCALE		4

/* sk_reuse while in repair mode (include/net/sock.h) */
#define SK_FORCE_REUSE		2

/* One send() into a repair queue moves at most this much. */
#define QUEUE_CHUNK		(256 * 1024)

/* How often a dump re-reads queues that moved under it (no lock held). */
#define DUMP_RETRIES		5

static const char *const state_names[] = {
	[TCP_ESTABLISHED] = "ESTABLISHED", [TCP_SYN_SENT] = "SYN_SENT",
	[TCP_SYN_RECV] = "SYN_RECV",	   [TCP_FIN_WAIT1] = "FIN_WAIT1",
	[TCP_FIN_WAIT2] = "FIN_WAIT2",	   [TCP_TIME_WAIT] = "TIME_WAIT",
	[TCP_CLOSE] = "CLOSE",		   [TCP_CLOSE_WAIT] = "CLOSE_WAIT",
	[TCP_LAST_ACK] = "LAST_ACK",	   [TCP_LISTEN] = "LISTEN",
	[TCP_CLOSING] = "CLOSING",
};

const char *tf_tcp_state_name(unsigned s)
{
	return s < ARRAY_SIZE(state_names) && state_names[s] ? state_names[s] : "?";
}

static int getint(int fd, int level, int opt, int *v)
{
	socklen_t len = sizeof(*v);

	return getsockopt(fd, level, opt, v, &len) ? -errno : 0;
}

static int setint(int fd, int level, int opt, int v)
{
	return setsockopt(fd, level, opt, &v, sizeof(v)) ? -errno : 0;
}

/* 0 for a state a connection can be carried in, or why not. */
static int carried_state(unsigned s)
{
	if (s == TCP_ESTABLISHED || tf_state_our_fin(s) || tf_state_peer_fin(s))
		return 0;
	if (s == TCP_LISTEN)
		return tf_failx(EOPNOTSUPP, "listening socket: nothing to carry; let the new process listen itself");
	if (s == TCP_SYN_SENT || s == TCP_SYN_RECV)
		return tf_failx(EOPNOTSUPP, "state %s: the handshake has not finished; nothing to carry yet",
				tf_tcp_state_name(s));
	return tf_failx(EOPNOTSUPP, "state %s: the connection is over; nothing to carry", tf_tcp_state_name(s));
}

int tf_check_socket(int fd)
{
	return tf_check_socket_scan(fd, NULL);
}

static int check_connection(int fd, int md5);

int tf_check_socket_scan(int fd, const struct tf_auth_scan *scan)
{
	struct stat st;
	int domain, type, proto, md5;

	if (fstat(fd, &st))
		return tf_fail(errno, "fstat");
	if (!S_ISSOCK(st.st_mode))
		return tf_failx(ENOTSOCK, "not a socket");
	md5 = tf_auth_scan_md5(scan, fd);
	if (md5 >= 0)
		return check_connection(fd, md5);	/* in the scan of TCP sockets: one */
	if (getint(fd, SOL_SOCKET, SO_DOMAIN, &domain) || getint(fd, SOL_SOCKET, SO_TYPE, &type) ||
	    getint(fd, SOL_SOCKET, SO_PROTOCOL, &proto))
		return tf_fail(errno, "reading the socket's type");
	if (domain != AF_INET && domain != AF_INET6) {
		const char *kind = domain == AF_UNIX ? "a unix" : domain == AF_NETLINK ? "a netlink" :
				   domain == AF_PACKET ? "a packet" : domain == AF_VSOCK ? "a vsock" : NULL;

		if (kind)
			return tf_failx(EPROTONOSUPPORT, "%s socket, not TCP (only TCP connections can be carried)",
					kind);
		return tf_failx(EPROTONOSUPPORT, "a socket of address family %d, not TCP (only TCP connections "
				"can be carried)", domain);
	}
	if (type != SOCK_STREAM)
		return tf_failx(EPROTONOSUPPORT, "not a TCP socket (%s)",
				type == SOCK_DGRAM ? "UDP or other datagram" : "not a stream");
	if (proto == IPPROTO_MPTCP)
		return tf_failx(EPROTONOSUPPORT, "MPTCP socket: the kernel refuses TCP_REPAIR on MPTCP");
	if (proto != IPPROTO_TCP)
		return tf_failx(EPROTONOSUPPORT, "not a TCP socket (protocol %d)", proto);
	return check_connection(fd, -1);
}

int tf_check_connection(int fd, const struct tf_auth_scan *scan)
{
	return check_connection(fd, tf_auth_scan_md5(scan, fd));
}

/* The state, the ULP, the keys (md5: the TCP-MD5 answer known, or -1). */
static int check_connection(int fd, int md5)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	char ulp[16] = "";
	const char *auth;
	int err;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return tf_fail(errno, "TCP_INFO");
	err = carried_state(ti.tcpi_state);
	if (err)
		return err;
	len = sizeof(ulp);
	if (getsockopt(fd, IPPROTO_TCP, TCP_ULP, ulp, &len) == 0 && ulp[0])
		return tf_failx(EOPNOTSUPP, "upper-layer protocol '%.*s' (kTLS?) on the socket: its state cannot be carried",
				(int)len, ulp);
	if ((auth = tf_tcp_auth_keys_md5(fd, md5)))
		return tf_failx(EOPNOTSUPP, "%s keys on the socket: they cannot be read back, and the peer would drop "
				"every segment of a socket restored without them", auth);
	return 0;
}

int tf_repair_on(int fd)
{
	if (setint(fd, IPPROTO_TCP, TCP_REPAIR, TCP_REPAIR_ON) == 0)
		return 0;
	if (errno == EPERM)
		return tf_failx(EPERM, "TCP_REPAIR: needs CAP_NET_ADMIN in the socket's network namespace");
	return tf_fail(errno, "TCP_REPAIR on");
}

int tf_repair_state(int fd)
{
	int v;

	if (getint(fd, IPPROTO_TCP, TCP_REPAIR, &v))
		return tf_fail(errno, "TCP_REPAIR");
	return v != 0;
}

int tf_repair_off(int fd, bool probe)
{
	if (setint(fd, IPPROTO_TCP, TCP_REPAIR, probe ? TCP_REPAIR_OFF : TCP_REPAIR_OFF_NO_WP))
		return tf_fail(errno, "TCP_REPAIR off");
	return 0;
}

int tf_repair_leave(int fd, const struct tf_conn *c, bool probe)
{
	int err = tf_repair_off(fd, probe);

	/* Repair off leaves sk_reuse at SK_NO_REUSE: the app's SO_REUSEADDR back. */
	return err ? err : tf_sockopts_restore(fd, c, TF_PHASE_AFTER_REPAIR);
}

static void endpoint_from(const struct sockaddr_storage *ss, struct tf_endpoint *e)
{
	memset(e, 0, sizeof(*e));
	e->family = ss->ss_family;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		memcpy(e->addr, &a->sin_addr, 4);
		e->port = ntohs(a->sin_port);
	} else {
		const struct sockaddr_in6 *a = (const void *)ss;

		memcpy(e->addr, &a->sin6_addr, 16);
		e->port = ntohs(a->sin6_port);
		e->scope_id = a->sin6_scope_id;
	}
}

static socklen_t sockaddr_from(const struct tf_endpoint *e, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = e->family;
	if (e->family == AF_INET) {
		struct sockaddr_in *a = (void *)ss;

		memcpy(&a->sin_addr, e->addr, 4);
		a->sin_port = htons(e->port);
		return sizeof(*a);
	}
	struct sockaddr_in6 *a = (void *)ss;

	memcpy(&a->sin6_addr, e->addr, 16);
	a->sin6_port = htons(e->port);
	a->sin6_scope_id = e->scope_id;
	return sizeof(*a);
}

static int ioctl_int(int fd, unsigned long req, uint32_t *v)
{
	int n;

	if (ioctl(fd, req, &n))
		return -errno;
	*v = n;
	return 0;
}

/* Select a repair queue and read its sequence number. */
static int queue_seq(int fd, int queue, uint32_t *seq)
{
	int v;

	if (setint(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, queue))
		return tf_fail(errno, "TCP_REPAIR_QUEUE %d", queue);
	if (getint(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &v))
		return tf_fail(errno, "TCP_QUEUE_SEQ");
	*seq = v;
	return 0;
}

/*
 * Peek a whole queue.  The kernel copies whole skbs and fails a short buffer,
 * so the buffer holds one byte more than asked and exactly len must come back.
 */
static int peek_queue(int fd, int queue, uint32_t len, uint8_t **out)
{
	uint8_t *buf;
	ssize_t n;

	*out = NULL;
	if (len == 0)
		return 0;
	buf = malloc((size_t)len + 1);
	if (!buf)
		return tf_failx(ENOMEM, "no memory for a %u-byte queue", len);
	if (setint(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, queue)) {
		free(buf);
		return tf_fail(errno, "TCP_REPAIR_QUEUE %d", queue);
	}
	n = recv(fd, buf, (size_t)len + 1, MSG_PEEK | MSG_DONTWAIT);
	if (n != (ssize_t)len) {
		int err = n < 0 ? errno : EAGAIN;

		free(buf);
		if (n < 0)
			return tf_fail(err, "reading the %s queue", queue == TF_SEND_QUEUE ? "send" : "receive");
		return -EAGAIN;	/* the queue moved: the caller reads again */
	}
	*out = buf;
	return 0;
}

/*
 * Both queues and their sequence numbers, consistent with each other.  The
 * sizes and seqs count data only: our FIN, while unacknowledged (FIN_WAIT1,
 * CLOSING, LAST_ACK), is in SIOCOUTQ and, while unsent, in SIOCOUTQNSD;
 * SIOCINQ leaves the peer's FIN out already (tcp_inq).  The seqs' FINs are
 * taken off by the caller.
 */
static int dump_queues(int fd, struct tf_conn *c)
{
	uint32_t outq = 0, unsent = 0, inq = 0, len2 = 0, fin = 0;
	int seq2 = 0;
	unsigned st = c->tcp_state;
	int err;

	for (int attempt = 0; attempt < DUMP_RETRIES; attempt++) {
		free(c->inq);
		free(c->outq);
		c->inq = c->outq = NULL;
		if (ioctl_int(fd, SIOCOUTQ, &outq) || ioctl_int(fd, SIOCOUTQNSD, &unsent) ||
		    ioctl_int(fd, SIOCINQ, &inq))
			return tf_fail(errno, "reading queue sizes");
		fin = tf_state_our_fin(st) && st != TCP_FIN_WAIT2;
		if (outq < fin)
			return tf_failx(EPROTO, "state %s with an empty send queue: where is our FIN?",
					tf_tcp_state_name(st));
		err = queue_seq(fd, TF_SEND_QUEUE, &c->snd_seq);
		if (!err)
			err = peek_queue(fd, TF_SEND_QUEUE, outq - fin, &c->outq);
		if (!err)
			err = queue_seq(fd, TF_RECV_QUEUE, &c->rcv_seq);
		if (!err)
			err = peek_queue(fd, TF_RECV_QUEUE, inq, &c->inq);
		if (err && err != -EAGAIN)
			return err;
		/* Did anything move (an ACK, new data) while we read?  (The receive
		 * queue is still the one selected: no TCP_REPAIR_QUEUE again.) */
		if (!err && !ioctl_int(fd, SIOCINQ, &len2) && len2 == inq &&
		    !getint(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq2) && (uint32_t)seq2 == c->rcv_seq &&
		    !ioctl_int(fd, SIOCOUTQ, &len2) && len2 == outq) {
			c->outq_len = outq - fin;
			/* Our FIN is last in the queue: unsent only if it counts in unsent. */
			c->fin_unsent = fin && unsent > 0;
			c->unsent_len = unsent - c->fin_unsent;
			c->inq_len = inq;
			setint(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TF_NO_QUEUE);
			return 0;
		}
	}
	setint(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TF_NO_QUEUE);
	return tf_failx(EAGAIN, "the queues kept changing while being read: is the peer locked out?");
}

static void read_reuse(int fd, struct tf_conn *c)
{
	int reuse;

	if (getint(fd, SOL_SOCKET, SO_REUSEADDR, &reuse) == 0 && reuse != SK_FORCE_REUSE) {
		struct tf_sockopt *o = &c->sockopts[c->n_sockopts++];

		o->id = TF_SO_REUSEADDR;
		o->len = sizeof(reuse);
		memcpy(o->val, &reuse, sizeof(reuse));
	}
}

int tf_conn_identify(int fd, struct tf_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(c, 0, sizeof(*c));
	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return tf_fail(errno, "getsockname");
	endpoint_from(&ss, &c->local);
	c->sock_family = ss.ss_family;
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len))
		return tf_fail(errno, "getpeername");
	endpoint_from(&ss, &c->peer);
	/* Repair mode forces sk_reuse and repair off clears it: read it now. */
	read_reuse(fd, c);
	return 0;
}

int tf_conn_identify_again(int fd, const struct tf_conn *before, struct tf_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->local = before->local;
	c->peer = before->peer;
	c->sock_family = before->sock_family;
	read_reuse(fd, c);
	return 0;
}

int tf_dump(int fd, struct tf_conn *c)
{
	struct tcp_info ti;
	socklen_t len;
	int v, err, peek_off = -1;
	struct timespec now;

	/* Identified before repair mode, or now (SO_REUSEADDR is lost then). */
	if (!c->sock_family) {
		err = tf_conn_identify(fd, c);
		if (err)
			return err;
	}
	len = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return tf_fail(errno, "TCP_INFO");
	err = carried_state(ti.tcpi_state);
	if (err)
		return err;
	c->tcp_state = ti.tcpi_state;
	if (ti.tcpi_options & TCPI_OPT_SACK)
		c->opts |= TF_OPT_SACK;
	if (ti.tcpi_options & TCPI_OPT_TIMESTAMPS)
		c->opts |= TF_OPT_TSTAMP;
	if (ti.tcpi_options & TCPI_OPT_WSCALE) {
		c->opts |= TF_OPT_WSCALE;
		c->snd_wscale = ti.tcpi_snd_wscale;
		c->rcv_wscale = ti.tcpi_rcv_wscale;
	}
	/* In repair mode TCP_MAXSEG returns mss_clamp, what the peer allowed. */
	if (getint(fd, IPPROTO_TCP, TCP_MAXSEG, &v))
		return tf_fail(errno, "TCP_MAXSEG");
	c->mss_clamp = v;

	len = sizeof(c->window);
	if (getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &c->window, &len) == 0 &&
	    len == sizeof(c->window))
		c->has_window = true;

	if (getint(fd, IPPROTO_TCP, TCP_TIMESTAMP, &v))
		return tf_fail(errno, "TCP_TIMESTAMP");
	/*
	 * Since 6.7 the kernel sets bit 0 for a usec flow and clears it for a
	 * ms one; before, bit 0 is just the ms clock's, and read as the usec
	 * flag it made half the ms flows usec ones (elapsed time added in us
	 * to a ms clock).  tcp_info says which unit the flow uses, on every
	 * kernel: TCPI_OPT_USEC_TS exists only where usec flows do.
	 */
	c->ts_clock = ti.tcpi_options & TCPI_OPT_USEC_TS ? (uint32_t)v | 1 : (uint32_t)v & ~1u;
	clock_gettime(CLOCK_REALTIME, &now);
	c->dump_time_ns = (uint64_t)now.tv_sec * 1000000000ull + now.tv_nsec;

	/* SO_PEEK_OFF would make the peek start mid-queue; park it. */
	if (getint(fd, SOL_SOCKET, SO_PEEK_OFF, &peek_off) == 0 && peek_off >= 0)
		setint(fd, SOL_SOCKET, SO_PEEK_OFF, -1);
	err = dump_queues(fd, c);
	if (peek_off >= 0)
		setint(fd, SOL_SOCKET, SO_PEEK_OFF, peek_off);
	/* The seqs without the FINs (struct tf_conn), and the receive window
	 * with them: TCP_REPAIR_WINDOW is set before the peer's FIN is back. */
	if (tf_state_our_fin(c->tcp_state))
		c->snd_seq--;
	if (tf_state_peer_fin(c->tcp_state)) {
		c->rcv_seq--;
		if (c->has_window && (int32_t)(c->window.rcv_wup - c->rcv_seq) > 0) {
			uint32_t fin = c->window.rcv_wup - c->rcv_seq;

			c->window.rcv_wup -= fin;
			c->window.rcv_wnd += fin;
		}
	}
	if (!err)
		err = tf_sockopts_dump(fd, c);
	if (err)
		tf_conn_free(c);
	return err;
}

/* ---- restore ---------------------------------------------------------------- */

/* Write a whole queue in repair mode, in chunks the kernel takes in one skb. */
static int fill_queue(int fd, int queue, const uint8_t *data, uint32_t len)
{
	const char *name = queue == TF_SEND_QUEUE ? "send" : "receive";
	uint32_t off = 0;

	if (!len)
		return 0;
	if (setint(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, queue))
		return tf_fail(errno, "TCP_REPAIR_QUEUE %s", name);
	while (off < len) {
		size_t chunk = len - off < QUEUE_CHUNK ? len - off : QUEUE_CHUNK;
		ssize_t n = send(fd, data + off, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return tf_fail(n < 0 ? errno : EIO, "restoring the %s queue at byte %u of %u", name, off, len);
		off += n;
	}
	return 0;
}

static int set_buffers(int fd, const struct tf_conn *c)
{
	/* Room for the queues with skb overhead; the user's sizes come later. */
	int snd = 2 * (int)c->outq_len + 256 * 1024;
	int rcv = 2 * (int)c->inq_len + 256 * 1024;

	if (c->outq_len && setint(fd, SOL_SOCKET, SO_SNDBUFFORCE, snd))
		return tf_fail(errno, "SO_SNDBUFFORCE %d", snd);
	if (c->inq_len && setint(fd, SOL_SOCKET, SO_RCVBUFFORCE, rcv))
		return tf_fail(errno, "SO_RCVBUFFORCE %d", rcv);
	return 0;
}

static int repair_options(int fd, const struct tf_conn *c)
{
	struct tf_repair_opt o[4];
	int n = 0;

	o[n++] = (struct tf_repair_opt){ TF_TCPOPT_MSS, c->mss_clamp };
	if (c->opts & TF_OPT_WSCALE)
		o[n++] = (struct tf_repair_opt){ TF_TCPOPT_WINDOW, c->snd_wscale | (c->rcv_wscale << 16) };
	if (c->opts & TF_OPT_SACK)
		o[n++] = (struct tf_repair_opt){ TF_TCPOPT_SACK_PERM, 0 };
	if (c->opts & TF_OPT_TSTAMP)
		o[n++] = (struct tf_repair_opt){ TF_TCPOPT_TIMESTAMP, 0 };
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, o, n * sizeof(o[0])))
		return tf_fail(errno, "TCP_REPAIR_OPTIONS");
	return 0;
}

/*
 * Is e's address one of this network namespace's own?  A plain bind to it,
 * port 0: 0 if it is, -EADDRNOTAVAIL if not, another -errno if that cannot
 * be told.
 */
int tf_address_check(const struct tf_endpoint *e)
{
	struct tf_endpoint any = *e;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, err = 0;

	any.port = 0;
	len = sockaddr_from(&any, &ss);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&ss, len))
		err = -errno;
	close(fd);
	return err;
}

static bool address_is_local(const struct tf_endpoint *e)
{
	return tf_address_check(e) != -EADDRNOTAVAIL;	/* cannot tell: say nothing about it */
}

/* e's address alone, as ip addr add takes it ("198.18.0.1/32", "fd00::1/128"). */
static const char *addr_arg(const struct tf_endpoint *e, char *buf, size_t len)
{
	uint8_t v4[4];
	char a[INET6_ADDRSTRLEN] = "?";
	bool is4 = tf_endpoint_wire_v4(e, v4);

	inet_ntop(is4 ? AF_INET : AF_INET6, is4 ? (const void *)v4 : (const void *)e->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%d", a, is4 ? 32 : 128);
	return buf;
}

/* IPv4 on the wire (AF_INET, or v4-mapped): its connect() needs a local source address. */
static bool ipv4_wire(const struct tf_conn *c)
{
	uint8_t v4[4];

	return tf_endpoint_wire_v4(&c->local, v4);
}

static int bind_local(int fd, const struct tf_conn *c, bool freebind)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_from(&c->local, &ss);
	char a[TF_ADDRSTRLEN], arg[64];

	if (freebind && (c->sock_family == AF_INET ? setint(fd, IPPROTO_IP, IP_FREEBIND, 1)
						   : setint(fd, IPPROTO_IPV6, IPV6_FREEBIND, 1)))
		return tf_fail(errno, "IP_FREEBIND");
	if (bind(fd, (struct sockaddr *)&ss, len) == 0)
		return 0;
	tf_endpoint_str(&c->local, a, sizeof(a));
	if (errno == EADDRNOTAVAIL && ipv4_wire(c))
		return tf_failx(EADDRNOTAVAIL,
				"bind %s: address not on this host; add it (ip addr add %s dev lo, or on the device "
				"that carries it) and retry (an IPv4 connect needs it here, so --freebind would not do)", a,
				addr_arg(&c->local, arg, sizeof(arg)));
	if (errno == EADDRNOTAVAIL)
		return tf_failx(EADDRNOTAVAIL,
				"bind %s: address not on this host; add it (ip addr add) or restore with --freebind", a);
	if (errno == EADDRINUSE)
		return tf_failx(EADDRINUSE, "bind %s: port in use by a socket that forbids sharing it", a);
	return tf_fail(errno, "bind %s", a);
}

static int connect_peer(int fd, const struct tf_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_from(&c->peer, &ss);
	char a[TF_ADDRSTRLEN], l[TF_ADDRSTRLEN], arg[64];

	struct tf_tuple k;

	if (connect(fd, (struct sockaddr *)&ss, len) == 0)
		return 0;
	/* The tuple's last connection still ending here (TIME_WAIT): the peer
	 * reused the port, so it is over; it goes, and the connect is retried. */
	if ((errno == EADDRNOTAVAIL || errno == EADDRINUSE) && tf_tuple_make(&c->local, &c->peer, &k) == 0) {
		int e = errno;

		if (tf_tuple_clear_stale(&k) == 1) {
			if (connect(fd, (struct sockaddr *)&ss, len) == 0)
				return 0;
			e = errno;
		}
		tf_error_clear();	/* what the clearing said: the connect's error follows */
		errno = e;
	}
	tf_endpoint_str(&c->peer, a, sizeof(a));
	tf_endpoint_str(&c->local, l, sizeof(l));
	if (errno == EADDRNOTAVAIL || errno == EADDRINUSE || errno == EISCONN)
		return tf_failx(EADDRINUSE,
				"connect %s: this 4-tuple is already in use on this host (is the source socket still alive here?)",
				a);
	/*
	 * A bind with --freebind takes an address this host does not have, but
	 * the kernel routes an IPv4 connect() only from a local source address
	 * (ip_route_output_key_hash_rcu() in net/ipv4/route.c: -ENETUNREACH
	 * unless the flow has FLOWI_FLAG_ANYSRC, which only IP_TRANSPARENT
	 * gives), whatever the route to the peer.
	 */
	if (errno == ENETUNREACH && !address_is_local(&c->local))
		return tf_failx(ENETUNREACH,
				"connect %s from %s: the local address is not on this host; --freebind got the bind "
				"past that, but the kernel routes an IPv4 connect only from a local address: add it "
				"(ip addr add %s dev lo, or on the device that carries it) and retry", a, l,
				addr_arg(&c->local, arg, sizeof(arg)));
	if (errno == ENETUNREACH || errno == EHOSTUNREACH)
		return tf_failx(errno, "connect %s: no route to the peer from this host; add one (ip route) and retry", a);
	return tf_fail(errno, "connect %s", a);
}

/*
 * The segment size connect() should use: the clamp, but, as the kernel's
 * tcp_bound_to_half_wnd() does, no more than half the largest window the
 * peer ever offered (connect() in repair mode does not know that window yet,
 * and segments bigger than the peer's window go out only as window probes),
 * and no more than TCP_MAXSEG takes.  0: leave it.
 */
static int segment_size(const struct tf_conn *c)
{
	uint32_t v = c->mss_clamp, mw = c->has_window ? c->window.max_window : 0;

	if (mw) {
		uint32_t cut = mw > 536 ? mw / 2 : mw;

		if (v > cut)
			v = cut;
	}
	if (v > 32767)
		v = 32767;
	return v >= 88 ? (int)v : 0;
}

int tf_restore(const struct tf_conn *c, struct tf_restore_opts *o)
{
	struct tf_restore_opts defaults = {};
	struct timespec now;
	uint32_t sent = c->outq_len - c->unsent_len;
	int fd, err, v = 0;

	if (!o)
		o = &defaults;
	if (c->unsent_len > c->outq_len)
		return tf_failx(EINVAL, "unsent bytes (%u) exceed the send queue (%u)", c->unsent_len, c->outq_len);
	fd = socket(c->sock_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return tf_fail(errno, "socket");
	err = tf_repair_on(fd);
	if (!err)
		err = tf_sockopts_restore(fd, c, TF_PHASE_BEFORE_BIND);
	if (!err)
		err = set_buffers(fd, c);
	if (!err)
		err = bind_local(fd, c, o->freebind);
	/* TCP_QUEUE_SEQ is only accepted before connect(): where the queues begin. */
	if (!err && setint(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TF_RECV_QUEUE))
		err = tf_fail(errno, "TCP_REPAIR_QUEUE recv");
	if (!err && setint(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, c->rcv_seq - c->inq_len))
		err = tf_fail(errno, "TCP_QUEUE_SEQ recv");
	if (!err && setint(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TF_SEND_QUEUE))
		err = tf_fail(errno, "TCP_REPAIR_QUEUE send");
	if (!err && setint(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, c->snd_seq - c->outq_len))
		err = tf_fail(errno, "TCP_QUEUE_SEQ send");
	/*
	 * connect() sizes the segments (mss_cache) from mss_clamp, which is
	 * still a fresh socket's 536 here; TCP_REPAIR_OPTIONS raises the clamp
	 * later but nothing sizes them again, so the connection would go on
	 * in 524-byte segments.  As the user's TCP_MAXSEG the size is used at
	 * connect(); cleared right after, the socket shows no user setting.
	 */
	if (!err && (v = segment_size(c)) && setint(fd, IPPROTO_TCP, TCP_MAXSEG, v))
		err = tf_fail(errno, "TCP_MAXSEG %d", v);
	if (!err)
		err = connect_peer(fd, c);
	if (!err && v && setint(fd, IPPROTO_TCP, TCP_MAXSEG, 0))
		err = tf_fail(errno, "TCP_MAXSEG 0");
	if (!err)
		err = repair_options(fd, c);
	/* After connect(): it re-reads the route's usec-TS feature. */
	if (!err) {
		clock_gettime(CLOCK_REALTIME, &now);
		o->ts_chosen = o->no_ts_fixup
			? c->ts_clock
			: tf_ts_restore_value(c, (uint64_t)now.tv_sec * 1000000000ull + now.tv_nsec,
					      o->ts_margin);
		/* The kernel keeps value - its clock as the socket's tsoffset. */
		o->ts_offset = (int32_t)(o->ts_chosen - tf_ts_bare_clock(o->ts_chosen & 1));
		if (setint(fd, IPPROTO_TCP, TCP_TIMESTAMP, (int)o->ts_chosen))
			err = tf_fail(errno, "TCP_TIMESTAMP");
	}
	if (!err)
		err = fill_queue(fd, TF_RECV_QUEUE, c->inq, c->inq_len);
	if (!err)
		err = fill_queue(fd, TF_SEND_QUEUE, c->outq, sent);
	if (!err && setint(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, TF_NO_QUEUE))
		err = tf_fail(errno, "TCP_REPAIR_QUEUE none");
	/* Checked against rcv_nxt, so only after the receive queue is back. */
	if (!err && c->has_window &&
	    setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &c->window, sizeof(c->window)))
		err = tf_fail(errno, "TCP_REPAIR_WINDOW");
	if (!err)
		err = tf_sockopts_restore(fd, c, TF_PHASE_AFTER_QUEUES);
	if (!err)
		err = tf_fin_replay(fd, c);
	if (err) {
		close(fd);	/* still in repair mode: gone without a packet */
		return err;
	}
	return fd;
}

int tf_restore_finish(int fd, const struct tf_conn *c, bool probe)
{
	uint32_t off = c->outq_len - c->unsent_len;
	int err = tf_repair_off(fd, probe);

	if (err)
		return err;
	/* The unsent tail goes through the normal path, so the kernel sends it. */
	while (off < c->outq_len) {
		ssize_t n = send(fd, c->outq + off, c->outq_len - off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return tf_fail(n < 0 ? errno : EIO, "queueing the unsent tail at byte %u of %u",
				       off, c->outq_len);
		off += n;
	}
	/* Our FIN that waited behind the unsent tail (fin_replay.h). */
	if (c->fin_unsent && shutdown(fd, SHUT_WR))
		return tf_fail(errno, "queueing our FIN after the unsent tail");
	return tf_sockopts_restore(fd, c, TF_PHASE_AFTER_REPAIR);
}
