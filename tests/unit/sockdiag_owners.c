// SPDX-License-Identifier: BSD-2-Clause
/*
 * The owner check (sockdiag.h) on real sockets over loopback, in a network
 * namespace of the test's own: an exact lookup (one request per tuple, no
 * dump) finds a live socket and misses a closed one, for IPv4, IPv6 and a
 * v4-mapped IPv6 socket, and answers as the walk of the whole table does
 * (a listener, TIME_WAIT, a socket bound to a device, one in repair mode).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"
#include "netns_lo.h"
#include "../../user/lib/sockdiag.h"

#ifndef TCP_REPAIR
#define TCP_REPAIR 19
#endif

enum { ESTABLISHED = 1 };

struct conn {
	int l, c, s;			/* listener, client, accepted */
	struct tf_tuple kc, ks;		/* the client's and the server's view */
};

static struct tf_endpoint endpoint(const struct sockaddr_storage *ss)
{
	struct tf_endpoint e = { .family = ss->ss_family };

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		e.port = ntohs(a->sin_port);
		memcpy(e.addr, &a->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *a = (const void *)ss;

		e.port = ntohs(a->sin6_port);
		memcpy(e.addr, &a->sin6_addr, 16);
	}
	return e;
}

static struct tf_tuple tuple_of_fd(int fd)
{
	struct sockaddr_storage l = {}, p = {};
	socklen_t ll = sizeof(l), pl = sizeof(p);
	struct tf_endpoint el, ep;
	struct tf_tuple k;

	if (getsockname(fd, (void *)&l, &ll) || getpeername(fd, (void *)&p, &pl))
		bail_out("getsockname/getpeername: %s", strerror(errno));
	el = endpoint(&l);
	ep = endpoint(&p);
	if (tf_tuple_make(&el, &ep, &k))
		bail_out("tf_tuple_make: %s", tf_strerror());
	return k;
}

/* A connection over loopback: family AF_INET or AF_INET6, addr the listener's
 * (and the client's: "::ffff:127.0.0.1" makes a v4-mapped pair). */
static struct conn connect_lo(int family, const char *addr, const char *dev)
{
	struct sockaddr_storage ss = {};
	socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	struct conn c;

	ss.ss_family = family;
	if (family == AF_INET)
		inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr);
	else
		inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr);
	c.l = socket(family, SOCK_STREAM, 0);
	c.c = socket(family, SOCK_STREAM, 0);
	if (c.l < 0 || c.c < 0 || bind(c.l, (void *)&ss, len) || listen(c.l, 4))
		bail_out("listen on %s: %s", addr, strerror(errno));
	if (dev && setsockopt(c.c, SOL_SOCKET, SO_BINDTODEVICE, dev, strlen(dev) + 1))
		bail_out("SO_BINDTODEVICE %s: %s", dev, strerror(errno));
	if (getsockname(c.l, (void *)&ss, &len) || connect(c.c, (void *)&ss, len) ||
	    (c.s = accept(c.l, NULL, NULL)) < 0)
		bail_out("connect to %s: %s", addr, strerror(errno));
	c.kc = tuple_of_fd(c.c);
	c.ks = tuple_of_fd(c.s);
	return c;
}

/* owners of k by way: the count returned, o[0] the answer */
static int owners(const struct tf_tuple *k, size_t n, struct tf_tuple_owner *o, enum tf_owners_way way)
{
	int r = tf_tuple_owners_by(k, n, o, way);

	if (r < 0)
		diag("tf_tuple_owners_by: %s", tf_strerror());
	return r;
}

/* Both ways say the same of k (state and inode); the exact one's count. */
static int exact_as_walk(const struct tf_tuple *k, size_t n, bool *same)
{
	struct tf_tuple_owner e[8], w[8];
	int re = owners(k, n, e, TF_OWNERS_EXACT), rw = owners(k, n, w, TF_OWNERS_WALK);

	*same = re == rw;
	for (size_t i = 0; i < n; i++)
		*same = *same && e[i].state == w[i].state && e[i].inode == w[i].inode && e[i].uid == w[i].uid;
	return re;
}

static bool gone(const struct tf_tuple *k)
{
	struct tf_tuple_owner o;

	for (int i = 0; i < 200; i++) {
		if (owners(k, 1, &o, TF_OWNERS_WALK) == 0)
			return true;
		usleep(10000);
	}
	return false;
}

static void family_case(const char *name, int family, const char *addr)
{
	struct tf_tuple_owner o[2];
	struct conn c = connect_lo(family, addr, NULL);
	struct tf_tuple k[2] = { c.kc, c.ks };
	bool same;

	ok(owners(&c.kc, 1, o, TF_OWNERS_EXACT) == 1 && o[0].state == ESTABLISHED && o[0].inode,
	   "%s: an exact lookup finds the live client socket (ESTABLISHED, with its inode)", name);
	ok(exact_as_walk(k, 2, &same) == 2 && same, "%s: both ends, as the walk finds them", name);
	close(c.c);
	close(c.s);
	ok(gone(&c.kc) && gone(&c.ks), "%s: closed, the walk finds neither", name);
	ok(owners(k, 2, o, TF_OWNERS_EXACT) == 0, "%s: nor does the exact lookup (TIME_WAIT is no owner)", name);
	close(c.l);
}

int main(void)
{
	struct tf_tuple_owner o[8];
	struct tf_tuple k[4];
	struct conn c;
	bool same;
	int on = 1;

	if (!own_netns())
		skip_all("needs root (a network namespace of its own, sock_diag)");
	plan(19);

	family_case("IPv4", AF_INET, "127.0.0.1");
	family_case("IPv6", AF_INET6, "::1");
	family_case("v4-mapped", AF_INET6, "::ffff:127.0.0.1");

	/* A tuple of the listener's address and port with a peer nobody has. */
	c = connect_lo(AF_INET, "127.0.0.1", NULL);
	k[0] = c.kc;
	k[1] = c.ks;
	k[2] = c.ks;
	k[2].peer_port = htons(ntohs(k[2].peer_port) ^ 1);
	ok(exact_as_walk(&k[2], 1, &same) == 0 && same, "the listener's port with another peer: no owner either way");
	ok(exact_as_walk(k, 3, &same) == 2 && same, "a list of owned and not: the same answer either way");
	ok(tf_tuple_owners(k, 3, o) == 2 && o[0].state && o[1].state && !o[2].state,
	   "tf_tuple_owners (exact for so few) says the same");
	if (setsockopt(c.c, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)))
		bail_out("TCP_REPAIR: %s", strerror(errno));
	ok(owners(k, 1, o, TF_OWNERS_EXACT) == 1 && o[0].state == ESTABLISHED && exact_as_walk(k, 1, &same) == 1 &&
		   same, "a socket in repair mode still owns its tuple, either way");
	close(c.c);
	close(c.s);
	close(c.l);

	/* SO_BINDTODEVICE: the kernel's lookup matches it only with its device. */
	c = connect_lo(AF_INET, "127.0.0.1", "lo");
	ok(exact_as_walk(&c.kc, 1, &same) == 1 && same, "a socket bound to a device (lo) is found, as by the walk");
	close(c.c);
	close(c.s);
	close(c.l);

	/* Past TF_OWNERS_EXACT_MAX lookups it walks: the answer is the same. */
	{
		static struct tf_tuple many[TF_OWNERS_EXACT_MAX + 1];
		static struct tf_tuple_owner mo[TF_OWNERS_EXACT_MAX + 1];

		c = connect_lo(AF_INET6, "::1", NULL);
		for (size_t i = 0; i < TF_OWNERS_EXACT_MAX + 1; i++) {
			many[i] = c.kc;
			/* Below the ephemeral range the listener's port came from: never its port. */
			many[i].peer_port = htons((uint16_t)(1024 + i));
		}
		many[7] = c.kc;
		ok(tf_tuple_owners(many, TF_OWNERS_EXACT_MAX + 1, mo) == 1 && mo[7].state == ESTABLISHED &&
			   !mo[6].state && !mo[8].state,
		   "%d tuples (the walk): the one owned found", TF_OWNERS_EXACT_MAX + 1);
		ok(tf_tuple_owners_by(many, TF_OWNERS_EXACT_MAX + 1, mo, TF_OWNERS_EXACT) == 1 &&
			   mo[7].state == ESTABLISHED,
		   "and by exact lookups alike");
		close(c.c);
		close(c.s);
		close(c.l);
	}
	return done_testing();
}
