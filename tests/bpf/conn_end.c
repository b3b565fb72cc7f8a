// SPDX-License-Identifier: BSD-2-Clause
/*
 * The connection-end watcher (bpf/conn_end.bpf.c, user/lib/conn_end.c) on
 * real connections over loopback, in a network namespace of the test's own:
 * a watched connection is reported once when it closes, whichever side
 * closes first (a FIN from the client, a FIN from the server, an RST), IPv6
 * and a v4-mapped socket too; an unwatched one is not; the same 4-tuple
 * closing in another network namespace is not reported as ours; the watch
 * table ends empty.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tap.h"
#include "../unit/netns_lo.h"
#include "conn_end.h"

struct conn {
	int client, server;
	struct tf_endpoint local, peer;	/* the server's side */
};

static void endpoint_of(int fd, bool peer, struct tf_endpoint *e)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(e, 0, sizeof(*e));
	if (peer ? getpeername(fd, (struct sockaddr *)&ss, &len) : getsockname(fd, (struct sockaddr *)&ss, &len))
		bail_out("getsockname: %s", strerror(errno));
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		e->family = AF_INET;
		e->port = ntohs(a->sin_port);
		memcpy(e->addr, &a->sin_addr, 4);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		e->family = AF_INET6;
		e->port = ntohs(a->sin6_port);
		memcpy(e->addr, &a->sin6_addr, 16);
	}
}

/* A connection over loopback: server on listen_addr, client from client_port (0: any). */
static struct conn connect_over(int family, const char *listen_addr, const char *connect_addr, int port,
				int client_port)
{
	struct sockaddr_storage la = {}, ca = {}, cb = {};
	socklen_t len;
	int l = socket(family, SOCK_STREAM, 0), one = 1, cfam = strchr(connect_addr, ':') ? AF_INET6 : AF_INET;
	struct conn c;

	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET) {
		((struct sockaddr_in *)&la)->sin_family = AF_INET;
		((struct sockaddr_in *)&la)->sin_port = htons(port);
		inet_pton(AF_INET, listen_addr, &((struct sockaddr_in *)&la)->sin_addr);
		len = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&la)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&la)->sin6_port = htons(port);
		inet_pton(AF_INET6, listen_addr, &((struct sockaddr_in6 *)&la)->sin6_addr);
		len = sizeof(struct sockaddr_in6);
	}
	if (bind(l, (struct sockaddr *)&la, len) || listen(l, 4))
		bail_out("listen %s:%d: %s", listen_addr, port, strerror(errno));
	c.client = socket(cfam, SOCK_STREAM, 0);
	setsockopt(c.client, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (cfam == AF_INET) {
		((struct sockaddr_in *)&ca)->sin_family = AF_INET;
		((struct sockaddr_in *)&ca)->sin_port = htons(port);
		inet_pton(AF_INET, connect_addr, &((struct sockaddr_in *)&ca)->sin_addr);
		((struct sockaddr_in *)&cb)->sin_family = AF_INET;
		((struct sockaddr_in *)&cb)->sin_port = htons(client_port);
		len = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&ca)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ca)->sin6_port = htons(port);
		inet_pton(AF_INET6, connect_addr, &((struct sockaddr_in6 *)&ca)->sin6_addr);
		((struct sockaddr_in6 *)&cb)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&cb)->sin6_port = htons(client_port);
		len = sizeof(struct sockaddr_in6);
	}
	if ((client_port && bind(c.client, (struct sockaddr *)&cb, len)) ||
	    connect(c.client, (struct sockaddr *)&ca, len))
		bail_out("connect %s:%d: %s", connect_addr, port, strerror(errno));
	c.server = accept(l, NULL, NULL);
	if (c.server < 0)
		bail_out("accept: %s", strerror(errno));
	close(l);
	endpoint_of(c.server, false, &c.local);
	endpoint_of(c.server, true, &c.peer);
	return c;
}

struct seen {
	int n;
	struct tf_conn_end e[16];
};

static void record(void *ctx, const struct tf_conn_end *e)
{
	struct seen *s = ctx;

	if (s->n < 16)
		s->e[s->n] = *e;
	s->n++;
}

/* Ends reported within ms. */
static struct seen ends_within(struct tf_conn_end_watcher *w, int ms)
{
	struct seen s = {};

	for (int waited = 0; waited < ms; waited += 100)
		tf_conn_end_poll(w, 100, record, &s);
	return s;
}

static bool is_conn(const struct tf_conn_end *e, const struct conn *c)
{
	return e->local.port == c->local.port && e->peer.port == c->peer.port;
}

static void lingering_rst(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

int main(void)
{
	struct tf_conn_end_watcher *w;
	struct conn a, b, c, d, v6, mapped, twin;
	struct seen s;
	int err;
	pid_t pid;

	if (geteuid() != 0)
		skip_all("needs root (a BPF tracepoint program)");
	if (!own_netns())
		skip_all("cannot make a network namespace");
	err = tf_conn_end_open(0, &w);
	if (err)
		bail_out("%s", tf_strerror());
	plan(11);

	a = connect_over(AF_INET, "127.0.0.1", "127.0.0.1", 7301, 0);
	b = connect_over(AF_INET, "127.0.0.1", "127.0.0.1", 7302, 0);
	c = connect_over(AF_INET, "127.0.0.1", "127.0.0.1", 7303, 0);
	d = connect_over(AF_INET, "127.0.0.1", "127.0.0.1", 7304, 0);
	v6 = connect_over(AF_INET6, "::1", "::1", 7305, 0);
	mapped = connect_over(AF_INET6, "::", "127.0.0.1", 7306, 0);
	twin = connect_over(AF_INET, "127.0.0.1", "127.0.0.1", 7307, 47307);
	ok(mapped.local.family == AF_INET6, "the server's socket of an IPv4 client on [::] is v4-mapped IPv6");
	ok(!tf_conn_end_watch(w, &a.local, &a.peer) && !tf_conn_end_watch(w, &b.local, &b.peer) &&
		   !tf_conn_end_watch(w, &c.local, &c.peer) && !tf_conn_end_watch(w, &v6.local, &v6.peer) &&
		   !tf_conn_end_watch(w, &mapped.local, &mapped.peer) && !tf_conn_end_watch(w, &twin.local, &twin.peer),
	   "six connections watched (%s)", tf_strerror());
	ok(tf_conn_end_watch(w, &a.local, &a.peer) == -EEXIST, "watching one twice: -EEXIST");

	/* The same 4-tuple as twin, in another namespace, closes first. */
	pid = fork();
	if (pid == 0) {
		struct conn t;

		if (!own_netns())
			_exit(2);
		t = connect_over(AF_INET, "127.0.0.1", "127.0.0.1", 7307, 47307);
		lingering_rst(t.server);
		close(t.client);
		_exit(0);
	}
	waitpid(pid, &err, 0);
	s = ends_within(w, 500);
	ok(WIFEXITED(err) && WEXITSTATUS(err) == 0 && s.n == 0,
	   "the same 4-tuple closing in another network namespace is not reported (%d)", s.n);

	/* Client first: FIN, the server answers with its own. */
	close(a.client);
	usleep(50000);
	close(a.server);
	s = ends_within(w, 1000);
	ok(s.n == 1 && is_conn(&s.e[0], &a) && s.e[0].old_state == 9 /* TCP_LAST_ACK */,
	   "the client closes first: reported once, from LAST_ACK (%d ends, state %u)", s.n, s.n ? s.e[0].old_state : 0);
	/* Server first: its side goes FIN_WAIT through TIME_WAIT. */
	close(b.server);
	usleep(50000);
	close(b.client);
	s = ends_within(w, 1000);
	ok(s.n == 1 && is_conn(&s.e[0], &b), "the server closes first: reported once (%d ends, from state %u)", s.n,
	   s.n ? s.e[0].old_state : 0);
	lingering_rst(c.client);
	s = ends_within(w, 1000);
	ok(s.n == 1 && is_conn(&s.e[0], &c), "an RST from the client: reported at once (%d)", s.n);
	lingering_rst(d.client);
	s = ends_within(w, 500);
	ok(s.n == 0, "an unwatched connection's end is not reported (%d)", s.n);
	lingering_rst(v6.server);
	lingering_rst(mapped.server);
	s = ends_within(w, 1000);
	ok(s.n == 2 && s.e[0].local.family == AF_INET6 + AF_INET - s.e[1].local.family,
	   "IPv6 and v4-mapped (reported by its IPv4 tuple): both (%d)", s.n);
	lingering_rst(twin.server);
	s = ends_within(w, 1000);
	ok(s.n == 1 && is_conn(&s.e[0], &twin), "the twin tuple in our namespace: reported (%d)", s.n);
	is_int(tf_conn_end_watching(w), 0, "every watch is gone once its connection ended");
	tf_conn_end_close(w);
	return done_testing();
}
