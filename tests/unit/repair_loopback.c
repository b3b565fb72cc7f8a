// SPDX-License-Identifier: BSD-2-Clause
/*
 * The repair engine on real sockets, over loopback in a network namespace of
 * the test's own (unshare: gone when the test exits).  For IPv4, IPv6 and a
 * v4-mapped IPv6 socket: set every carried option, queue data both ways, dump,
 * encode and decode the image, close the original silently, restore, and check
 *   - every carried option reads back equal,
 *   - the queued bytes arrive, then the stream goes on both ways,
 * and the refusals (listening, UDP, MPTCP, SYN_RECV, closed, kTLS, TCP-MD5) and restore
 * errors a user meets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"
#include "tcpferry.h"
#include "../../user/lib/repair_defs.h"
#include "../../user/lib/tcp_auth.h"
#include "../../user/lib/tsval.h"

static void lo_up(void)
{
	struct ifreq ifr = {};
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	strcpy(ifr.ifr_name, "lo");
	ioctl(s, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr))
		bail_out("lo up: %s", strerror(errno));
	close(s);
}

struct pair {
	int client, server;
};

static struct pair make_pair(int family, const char *listen_addr, const char *connect_addr, int port)
{
	struct sockaddr_storage ss = {};
	socklen_t len;
	struct pair p;
	int l, one = 1;

	if (family == AF_INET) {
		struct sockaddr_in *a = (void *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		inet_pton(AF_INET, listen_addr, &a->sin_addr);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (void *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		inet_pton(AF_INET6, listen_addr, &a->sin6_addr);
		len = sizeof(*a);
	}
	l = socket(family, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (void *)&ss, len) || listen(l, 1))
		bail_out("listen %s: %s", listen_addr, strerror(errno));
	if (family == AF_INET6 && strchr(connect_addr, '.')) {
		/* v4-mapped: listen and connect as IPv6 to ::ffff:127.0.0.1 */
		struct sockaddr_in6 *a = (void *)&ss;

		inet_pton(AF_INET6, connect_addr, &a->sin6_addr);
	}
	p.client = socket(family, SOCK_STREAM, 0);
	if (connect(p.client, (void *)&ss, len))
		bail_out("connect %s: %s", connect_addr, strerror(errno));
	p.server = accept(l, NULL, NULL);
	close(l);
	return p;
}

struct optcase {
	int level, name;
	int val;
	const char *what;
};

static int getint(int fd, int level, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);

	getsockopt(fd, level, name, &v, &len);
	return v;
}

static void set_options(int fd, bool v6, const struct optcase *oc, int n)
{
	struct linger lg = { 1, 7 };
	uint64_t rate = 1000000;

	for (int i = 0; i < n; i++)
		if (setsockopt(fd, oc[i].level, oc[i].name, &oc[i].val, sizeof(int)))
			bail_out("setsockopt %s: %s", oc[i].what, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, "reno", 4);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	setsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, &rate, sizeof(rate));
	setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3);
	(void)v6;
}

static bool xfer(int from, int to, const char *msg)
{
	char buf[256] = {};
	size_t len = strlen(msg), got = 0;
	struct timeval tv = { .tv_sec = 5 };

	setsockopt(to, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(from, msg, len, 0) != (ssize_t)len)
		return false;
	while (got < len) {
		ssize_t r = recv(to, buf + got, len - got, 0);

		if (r <= 0)
			return false;
		got += r;
	}
	return !memcmp(buf, msg, len);
}

static void run_family(const char *label, int family, const char *laddr, const char *caddr, int port)
{
	bool v6 = family == AF_INET6 && !strchr(caddr, '.');
	/* Not IPV6_V6ONLY: bind() to an IPv6 address sets it, and it cannot be
	 * changed after bind, so the restored socket reads 1 whatever was carried. */
	const struct optcase oc[] = {
		{ IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY" },
		{ IPPROTO_TCP, TCP_CORK, 1, "TCP_CORK" },
		{ SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE" },
		{ IPPROTO_TCP, TCP_KEEPIDLE, 77, "TCP_KEEPIDLE" },
		{ IPPROTO_TCP, TCP_KEEPINTVL, 11, "TCP_KEEPINTVL" },
		{ IPPROTO_TCP, TCP_KEEPCNT, 5, "TCP_KEEPCNT" },
		{ IPPROTO_TCP, TCP_USER_TIMEOUT, 12345, "TCP_USER_TIMEOUT" },
		{ IPPROTO_TCP, TCP_NOTSENT_LOWAT, 65536, "TCP_NOTSENT_LOWAT" },
		{ SOL_SOCKET, SO_MARK, 42, "SO_MARK" },
		{ v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_TCLASS : IP_TOS, 0x20, v6 ? "IPV6_TCLASS" : "IP_TOS" },
		{ v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_UNICAST_HOPS : IP_TTL, 33,
		  v6 ? "IPV6_UNICAST_HOPS" : "IP_TTL" },
		{ SOL_SOCKET, SO_PRIORITY, 3, "SO_PRIORITY" },
		{ SOL_SOCKET, SO_SNDBUF, 300000, "SO_SNDBUF" },
		{ SOL_SOCKET, SO_RCVBUF, 400000, "SO_RCVBUF" },
		{ SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR" },
		{ SOL_SOCKET, SO_RCVLOWAT, 7, "SO_RCVLOWAT" },
		{ v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER, 3 /* PROBE */,
		  v6 ? "IPV6_MTU_DISCOVER" : "IP_MTU_DISCOVER" },
	};
	const int n_oc = sizeof(oc) / sizeof(oc[0]);
	int before[sizeof(oc) / sizeof(oc[0])];
	struct pair p = make_pair(family, laddr, caddr, port);
	struct tf_conn c, d;
	uint8_t *img;
	size_t img_len;
	char inq[2000], cc[16] = {}, dev[16] = {};
	int fd, err;
	unsigned mss_before = 0;
	struct linger lg = {};
	uint64_t rate = 0;
	socklen_t len;

	set_options(p.client, v6, oc, n_oc);
	for (int i = 0; i < n_oc; i++)
		before[i] = getint(p.client, oc[i].level, oc[i].name);
	/* Unread data in the client's receive queue. */
	memset(inq, 'q', sizeof(inq));
	send(p.server, inq, sizeof(inq), 0);
	usleep(20000);

	{
		struct tcp_info ti = {};
		socklen_t tl = sizeof(ti);

		getsockopt(p.client, IPPROTO_TCP, TCP_INFO, &ti, &tl);
		mss_before = ti.tcpi_snd_mss;
	}
	ok(tf_check_socket(p.client) == 0, "%s: an established socket is accepted", label);
	ok(tf_conn_identify(p.client, &c) == 0, "%s: identify before repair mode", label);
	ok(tf_repair_on(p.client) == 0, "%s: repair on", label);
	err = tf_dump(p.client, &c);
	ok(err == 0, "%s: dump (%s)", label, err ? tf_strerror() : "ok");
	ok(c.inq_len == sizeof(inq), "%s: receive queue holds the %zu unread bytes (%u)", label, sizeof(inq),
	   c.inq_len);
	ok(tf_image_encode(&c, &img, &img_len) == 0 && tf_image_decode(img, img_len, &d) == 0,
	   "%s: the state goes through an image and back", label);
	free(img);
	close(p.client);	/* in repair mode: no FIN, no RST */

	fd = tf_restore(&d, NULL);
	ok(fd >= 0, "%s: restore (%s)", label, fd < 0 ? tf_strerror() : "ok");
	if (fd < 0)
		return;
	ok(tf_restore_finish(fd, &d, true) == 0, "%s: repair off", label);
	{
		/* connect() in repair mode sizes segments from a fresh socket's
		 * 536-byte clamp unless the restore sees to it (repair.c). */
		struct tcp_info ti = {};
		socklen_t tl = sizeof(ti);

		getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl);
		unsigned want = mss_before > 32767 - 40 ? 32767 - 40 : mss_before;

		/* Loopback's 64 KB segments come back as TCP_MAXSEG's 32767 at most. */
		ok(ti.tcpi_snd_mss >= want && ti.tcpi_snd_mss <= mss_before,
		   "%s: the restored socket sends full-sized segments (%u bytes; before %u)", label, ti.tcpi_snd_mss,
		   mss_before);
	}
	for (int i = 0; i < n_oc; i++) {
		int now = getint(fd, oc[i].level, oc[i].name);

		ok(now == before[i], "%s: %s reads back %d (was %d)", label, oc[i].what, now, before[i]);
	}
	/* Uncork: a corked socket holds the short writes below back. */
	setsockopt(fd, IPPROTO_TCP, TCP_CORK, &(int){ 0 }, sizeof(int));
	len = sizeof(cc);
	getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &len);
	ok(!strcmp(cc, "reno"), "%s: TCP_CONGESTION reads back reno (%s)", label, cc);
	len = sizeof(lg);
	getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len);
	ok(lg.l_onoff == 1 && lg.l_linger == 7, "%s: SO_LINGER reads back on,7", label);
	len = sizeof(rate);
	getsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, &rate, &len);
	ok(rate == 1000000, "%s: SO_MAX_PACING_RATE reads back 1000000 (%llu)", label, (unsigned long long)rate);
	len = sizeof(dev);
	getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &len);
	ok(!strcmp(dev, "lo"), "%s: SO_BINDTODEVICE reads back lo (%s)", label, dev);
	{
		char buf[sizeof(inq)];
		size_t got = 0;
		struct timeval tv = { .tv_sec = 5 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		while (got < sizeof(buf)) {
			ssize_t r = recv(fd, buf + got, sizeof(buf) - got, 0);

			if (r <= 0)
				break;
			got += r;
		}
		ok(got == sizeof(inq) && !memcmp(buf, inq, sizeof(inq)),
		   "%s: the restored socket reads the bytes that were queued", label);
	}
	ok(xfer(fd, p.server, "restored -> peer\n"), "%s: restored socket sends, peer receives", label);
	ok(xfer(p.server, fd, "peer -> restored\n"), "%s: peer sends, restored socket receives", label);
	close(fd);
	close(p.server);
	tf_conn_free(&c);
	tf_conn_free(&d);
}

static void refusals(void)
{
	int l = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0), err;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	bind(l, (void *)&a, sizeof(a));
	listen(l, 1);
	err = tf_check_socket(l);
	ok(err < 0 && strstr(tf_strerror(), "listening"), "a listening socket is refused: %s", tf_strerror());
	err = tf_check_socket(u);
	ok(err < 0 && strstr(tf_strerror(), "not a TCP socket"), "a UDP socket is refused: %s", tf_strerror());
	err = tf_check_socket(0 == 1 ? 0 : STDIN_FILENO);
	ok(err < 0, "a non-socket is refused: %s", tf_strerror());
	close(l);
	close(u);
	{
		int m = socket(AF_INET, SOCK_STREAM, 262 /* IPPROTO_MPTCP */);

		if (m < 0) {
			skip("this kernel has no MPTCP", "an MPTCP socket is refused");
		} else {
			err = tf_check_socket(m);
			ok(err < 0 && strstr(tf_strerror(), "MPTCP"), "an MPTCP socket is refused: %s",
			   tf_strerror());
			close(m);
		}
	}
}

static int tcp_state(int fd)
{
	struct tcp_info ti = {};
	socklen_t len = sizeof(ti);

	getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len);
	return ti.tcpi_state;
}

/*
 * A TCP Fast Open child is accepted in SYN_RECV, before the handshake's last
 * ACK.  A socket filter on the listener (its children inherit it) lets only
 * SYNs in, so that ACK never arrives and the child stays in SYN_RECV.
 */
static void refuse_syn_recv(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(7003),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),	/* TCP flags */
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x02 /* SYN */, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), one = 1, qlen = 5, s, err;
	int sysctl = open("/proc/sys/net/ipv4/tcp_fastopen", O_WRONLY);	/* this test's netns only */
	struct pollfd p = { .fd = l, .events = POLLIN };

	if (sysctl < 0 || write(sysctl, "3", 1) != 1)
		bail_out("net.ipv4.tcp_fastopen = 3: %s", strerror(errno));
	close(sysctl);
	if (bind(l, (void *)&a, sizeof(a)) || listen(l, 1) ||
	    setsockopt(l, IPPROTO_TCP, TCP_FASTOPEN, &qlen, sizeof(qlen)) ||
	    setsockopt(l, IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE, &one, sizeof(one)) ||
	    setsockopt(l, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) ||
	    setsockopt(c, IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE, &one, sizeof(one)))
		bail_out("TCP Fast Open listener: %s", strerror(errno));
	if (sendto(c, "hello", 5, MSG_FASTOPEN, (void *)&a, sizeof(a)) != 5)
		bail_out("sendto MSG_FASTOPEN: %s", strerror(errno));
	/* Without Fast Open there is no child until the (dropped) last ACK. */
	if (poll(&p, 1, 2000) != 1 || (s = accept(l, NULL, NULL)) < 0) {
		skip("no TCP Fast Open child to accept", "a socket in SYN_RECV is refused");
		skip("no TCP Fast Open child to accept", "dump refuses a socket in SYN_RECV");
		goto out;
	}
	if (tcp_state(s) != TCP_SYN_RECV)
		bail_out("the Fast Open child is in state %d, not SYN_RECV", tcp_state(s));
	err = tf_check_socket(s);
	ok(err == -EOPNOTSUPP && strstr(tf_strerror(), "state SYN_RECV"), "a socket in SYN_RECV is refused: %s",
	   tf_strerror());
	{
		struct tf_conn conn = {};

		tf_repair_on(s);
		err = tf_dump(s, &conn);
		ok(err == -EOPNOTSUPP && strstr(tf_strerror(), "state SYN_RECV"),
		   "dump refuses a socket in SYN_RECV: %s", tf_strerror());
		tf_repair_off(s, false);
		tf_conn_free(&conn);
	}
	close(s);
out:
	close(c);
	close(l);
}

/*
 * TIME_WAIT is never seen through an fd: the kernel hands it to a timewait
 * socket and leaves the one the fd holds in CLOSE.
 */
static void refuse_closed(void)
{
	struct pair p = make_pair(AF_INET, "127.0.0.1", "127.0.0.1", 7004);
	char buf[8];
	int err;

	shutdown(p.client, SHUT_WR);
	recv(p.server, buf, sizeof(buf), 0);	/* the EOF: then close, FIN back */
	close(p.server);
	for (int i = 0; i < 200 && tcp_state(p.client) != TCP_CLOSE; i++)
		usleep(10000);
	err = tf_check_socket(p.client);
	ok(err == -EOPNOTSUPP && strstr(tf_strerror(), "state CLOSE: the connection is over"),
	   "a connection closed both ways (its TIME_WAIT is the kernel's) is refused: %s", tf_strerror());
	close(p.client);
}

static void refuse_ulp(void)
{
	struct pair p = make_pair(AF_INET, "127.0.0.1", "127.0.0.1", 7005);
	int err;

	if (setsockopt(p.client, IPPROTO_TCP, TCP_ULP, "tls", 3)) {
		char why[128];

		snprintf(why, sizeof(why), "no kTLS on this kernel (TCP_ULP tls: %s)", strerror(errno));
		skip(why, "a kTLS socket is refused");
	} else {
		err = tf_check_socket(p.client);
		ok(err == -EOPNOTSUPP && strstr(tf_strerror(), "upper-layer protocol 'tls'"),
		   "a kTLS socket is refused: %s", tf_strerror());
	}
	close(p.client);
	close(p.server);
}

static void restore_errors(void)
{
	struct pair p = make_pair(AF_INET, "127.0.0.1", "127.0.0.1", 7001);
	struct tf_conn c, moved;
	int fd;

	tf_conn_identify(p.client, &c);
	tf_repair_on(p.client);
	if (tf_dump(p.client, &c))
		bail_out("dump: %s", tf_strerror());
	/* The original still holds the 4-tuple. */
	fd = tf_restore(&c, NULL);
	ok(fd == -EADDRINUSE && strstr(tf_strerror(), "already in use"),
	   "restore while the 4-tuple is in use: %s", tf_strerror());
	/* A local address this host does not have. */
	moved = c;
	inet_pton(AF_INET, "192.0.2.1", moved.local.addr);
	fd = tf_restore(&moved, NULL);
	ok(fd == -EADDRNOTAVAIL && strstr(tf_strerror(), "not on this host"),
	   "restore to an address not on this host: %s", tf_strerror());
	tf_repair_off(p.client, false);
	ok(xfer(p.client, p.server, "still alive\n"), "a failed restore left the original connection working");
	close(p.client);
	close(p.server);
	tf_conn_free(&c);
}

/*
 * A connection signed with TCP-MD5 keys (RFC 2385): restored without them,
 * its segments would be dropped by the peer, and TCP_REPAIR cannot read the
 * keys, so the dump refuses it.  An unsigned connection passes the same check.
 */
static void refuse_md5(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(7005),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct tcp_md5sig md5 = { .tcpm_keylen = 6 };
	int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), s, err;

	memcpy(&md5.tcpm_addr, &a, sizeof(a));
	memcpy(md5.tcpm_key, "secret", 6);
	if (setsockopt(l, IPPROTO_TCP, TCP_MD5SIG, &md5, sizeof(md5))) {
		skip("this kernel has no TCP_MD5SIG", "a connection with TCP-MD5 keys is refused");
		close(l);
		close(c);
		return;
	}
	if (bind(l, (void *)&a, sizeof(a)) || listen(l, 1) ||
	    setsockopt(c, IPPROTO_TCP, TCP_MD5SIG, &md5, sizeof(md5)) || connect(c, (void *)&a, sizeof(a)) ||
	    (s = accept(l, NULL, NULL)) < 0)
		bail_out("a TCP-MD5 connection on loopback: %s", strerror(errno));
	err = tf_check_socket(c);
	ok(err == -EOPNOTSUPP && strstr(tf_strerror(), "TCP-MD5 keys"),
	   "a connection with TCP-MD5 keys is refused: %s", err ? tf_strerror() : "accepted");
	/* The same answer from one sock_diag dump of the namespace (what dump uses). */
	{
		struct pair p = make_pair(AF_INET, "127.0.0.1", "127.0.0.1", 7006);
		struct tf_auth_scan *scan = NULL;

		ok(tf_auth_scan(&scan) == 0, "one sock_diag dump of the namespace's TCP sockets");
		ok(tf_auth_scan_md5(scan, c) == 1 && tf_auth_scan_md5(scan, s) == 1,
		   "the scan itself saw both signed sockets' keys");
		ok(tf_auth_scan_md5(scan, p.client) == 0 && tf_auth_scan_md5(scan, p.server) == 0,
		   "the scan itself saw the unsigned pair, without keys");
		ok(tf_auth_scan_md5(scan, l) == -1, "a listening socket is not in the scan (not a carried state)");
		err = tf_check_socket_scan(c, scan);
		ok(err == -EOPNOTSUPP && strstr(tf_strerror(), "TCP-MD5 keys"),
		   "the scan: TCP-MD5 keys refused: %s", err ? tf_strerror() : "accepted");
		err = tf_check_socket_scan(s, scan);
		ok(err == -EOPNOTSUPP, "the scan: the accepted side's keys too: %s", err ? tf_strerror() : "accepted");
		err = tf_check_socket_scan(p.client, scan);
		ok(err == 0, "the scan: an unsigned connection passes: %s", err ? tf_strerror() : "accepted");
		tf_auth_scan_free(scan);
		err = tf_check_socket_scan(p.server, NULL);
		ok(err == 0, "no scan: asked alone, it passes: %s", err ? tf_strerror() : "accepted");
		close(p.client);
		close(p.server);
	}
	close(c);
	close(s);
	close(l);
}

/* Repair mode clears SO_REUSEADDR; a socket given back to its process gets it back. */
/*
 * The timestamp clock's unit.  In repair mode a TCP_TIMESTAMP with bit 0 set
 * makes a 6.7+ socket a usec one; before 6.7 it only sets the ms clock, whose
 * bit 0 then means nothing, and the dump must say ms.  Which unit the socket
 * uses is read from how fast its clock runs.
 */
static void ts_clock_unit(void)
{
	const int set[] = { 1000001, 1000000 };

	for (int i = 0; i < 2; i++) {
		struct pair p = make_pair(AF_INET, "127.0.0.1", "127.0.0.1", 7006 + i);
		uint32_t r1, r2, v;
		struct tf_conn c;
		bool usec;

		ok(tf_conn_identify(p.client, &c) == 0 && tf_repair_on(p.client) == 0 &&
		   !setsockopt(p.client, IPPROTO_TCP, TCP_TIMESTAMP, &set[i], sizeof(set[i])),
		   "ts unit: TCP_TIMESTAMP %d set in repair mode", set[i]);
		r1 = getint(p.client, IPPROTO_TCP, TCP_TIMESTAMP);
		usleep(50000);
		r2 = getint(p.client, IPPROTO_TCP, TCP_TIMESTAMP);
		usec = r2 - r1 > 5000;	/* 50 ms: 50,000 us, or 50 ms */
		/* Again, so that the dump reads it within a ms: odd before 6.7. */
		setsockopt(p.client, IPPROTO_TCP, TCP_TIMESTAMP, &set[i], sizeof(set[i]));
		ok(tf_dump(p.client, &c) == 0, "ts unit: %d: dump", set[i]);
		/* A ms clock's bit 0 cleared: one ms less, at most. */
		ok((c.ts_clock & 1) == usec && c.ts_clock + 1 - (uint32_t)set[i] < (usec ? 1000000u : 1000u),
		   "ts unit: %d: the socket's clock runs in %s (%u in 50 ms); the dump says %s (%u)",
		   set[i], usec ? "us" : "ms", r2 - r1, c.ts_clock & 1 ? "us" : "ms", c.ts_clock);
		v = tf_ts_restore_value(&c, c.dump_time_ns, 0);
		ok(v - c.ts_clock <= (usec ? 1001u : 2u),
		   "ts unit: %d: the restore value is the clock and the margin, in its unit (+%u)", set[i],
		   v - c.ts_clock);
		close(p.client);	/* in repair mode: no FIN, no RST */
		close(p.server);
		tf_conn_free(&c);
	}
}

static void leave_keeps_reuseaddr(void)
{
	struct pair p = make_pair(AF_INET, "127.0.0.1", "127.0.0.1", 7004);
	struct tf_conn c;
	int one = 1;

	setsockopt(p.client, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok(tf_conn_identify(p.client, &c) == 0 && tf_repair_on(p.client) == 0, "leave: identify, repair on");
	ok(getint(p.client, SOL_SOCKET, SO_REUSEADDR) == 2, "leave: repair mode forces SO_REUSEADDR (2)");
	ok(tf_repair_leave(p.client, &c, false) == 0, "leave: repair off");
	ok(getint(p.client, SOL_SOCKET, SO_REUSEADDR) == 1, "leave: SO_REUSEADDR reads 1 again (%d)",
	   getint(p.client, SOL_SOCKET, SO_REUSEADDR));
	ok(xfer(p.client, p.server, "after leave\n"), "leave: the connection goes on");
	close(p.client);
	close(p.server);
	tf_conn_free(&c);
}

int main(void)
{
	if (geteuid() != 0)
		skip_all("needs root (a network namespace of its own, TCP_REPAIR)");
	if (unshare(CLONE_NEWNET))
		skip_all("cannot create a network namespace");
	lo_up();
	run_family("IPv4", AF_INET, "127.0.0.1", "127.0.0.1", 7000);
	run_family("IPv6", AF_INET6, "::1", "::1", 7000);
	run_family("v4-mapped", AF_INET6, "::", "::ffff:127.0.0.1", 7002);
	leave_keeps_reuseaddr();
	ts_clock_unit();
	refusals();
	refuse_syn_recv();
	refuse_closed();
	refuse_ulp();
	refuse_md5();
	restore_errors();
	return done_testing();
}
