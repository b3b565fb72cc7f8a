// SPDX-License-Identifier: BSD-2-Clause
/* Who owns a 4-tuple here (see sockdiag.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>

#include "internal.h"
#include "sockdiag.h"

/* include/net/tcp_states.h */
enum {
	S_ESTABLISHED = 1, S_SYN_SENT, S_SYN_RECV, S_FIN_WAIT1, S_FIN_WAIT2, S_TIME_WAIT,
	S_CLOSE, S_CLOSE_WAIT, S_LAST_ACK, S_LISTEN, S_CLOSING, S_NEW_SYN_RECV,
};

/* The states in which a socket carries (or is making) a connection. */
#define LIVE_STATES (1u << S_ESTABLISHED | 1u << S_SYN_SENT | 1u << S_SYN_RECV | 1u << S_FIN_WAIT1 | \
		     1u << S_FIN_WAIT2 | 1u << S_CLOSE_WAIT | 1u << S_LAST_ACK | 1u << S_CLOSING | \
		     1u << S_NEW_SYN_RECV)

struct sorted {
	const struct tf_tuple *k;
	size_t i;
};

static int cmp_sorted(const void *a, const void *b)
{
	return memcmp(((const struct sorted *)a)->k, ((const struct sorted *)b)->k, sizeof(struct tf_tuple));
}

/* The diag message's tuple as the lock table keys it (v4-mapped as IPv4). */
static void tuple_of(const struct inet_diag_msg *m, struct tf_tuple *t)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(t, 0, sizeof(*t));
	if (m->idiag_family == AF_INET6 && !memcmp(m->id.idiag_src, mapped, 12) &&
	    !memcmp(m->id.idiag_dst, mapped, 12)) {
		t->family = AF_INET;
		t->local_addr[0] = m->id.idiag_src[3];
		t->peer_addr[0] = m->id.idiag_dst[3];
	} else {
		t->family = m->idiag_family;
		memcpy(t->local_addr, m->id.idiag_src, m->idiag_family == AF_INET ? 4 : 16);
		memcpy(t->peer_addr, m->id.idiag_dst, m->idiag_family == AF_INET ? 4 : 16);
	}
	t->local_port = m->id.idiag_sport;
	t->peer_port = m->id.idiag_dport;
}

/* One sock_diag request for TCP sockets. */
struct diag_req {
	struct nlmsghdr nlh;
	struct inet_diag_req_v2 r;
};

/* Send req as type (SOCK_DIAG_BY_FAMILY, SOCK_DESTROY), numbered anew: its answers carry that number. */
static int diag_send_as(int nl, struct diag_req *req, uint16_t type)
{
	static uint32_t seq;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	req->nlh.nlmsg_len = sizeof(*req);
	req->nlh.nlmsg_type = type;
	req->nlh.nlmsg_seq = ++seq;
	req->r.sdiag_protocol = IPPROTO_TCP;
	if (sendto(nl, req, sizeof(*req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return tf_fail(errno, "sock_diag: send");
	return 0;
}

static int diag_send(int nl, struct diag_req *req)
{
	return diag_send_as(nl, req, SOCK_DIAG_BY_FAMILY);
}

/* The next datagram of the answer: its length, or -errno (ended: what an end means now). */
static ssize_t diag_recv(int nl, void *buf, size_t size, const char *ended)
{
	for (;;) {
		ssize_t len = recv(nl, buf, size, 0);

		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0)
			return tf_fail(errno, "sock_diag: receive");
		if (len == 0)
			return tf_failx(EIO, "sock_diag: %s", ended);
		return len;
	}
}

/* One family's live TCP sockets, each looked up among ours. */
static int dump_family(int nl, int family, const struct sorted *s, size_t n, struct tf_tuple_owner *owners,
		       int *found)
{
	struct diag_req req = {
		.nlh = { .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.r = { .sdiag_family = family, .idiag_states = LIVE_STATES },
	};
	char buf[32768] __attribute__((aligned(8)));	/* what ss reads at a time: a dump skb fits */
	int err = diag_send(nl, &req);

	if (err)
		return err;
	for (;;) {
		ssize_t len = diag_recv(nl, buf, sizeof(buf), "the dump ended early");
		struct nlmsghdr *h;

		if (len < 0)
			return (int)len;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			struct sorted key, *hit;
			struct tf_tuple t;

			if (h->nlmsg_seq != req.nlh.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				return tf_fail(-e->error, "sock_diag: TCP sockets of family %d", family);
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
				continue;
			if (!(LIVE_STATES & (1u << (m->idiag_state & 31))))
				continue;
			tuple_of(m, &t);
			key.k = &t;
			hit = bsearch(&key, s, n, sizeof(*s), cmp_sorted);
			if (!hit)
				continue;
			/* Equal tuples sort together: mark every copy. */
			while (hit > s && !memcmp(hit[-1].k, &t, sizeof(t)))
				hit--;
			for (; hit < s + n && !memcmp(hit->k, &t, sizeof(t)); hit++) {
				struct tf_tuple_owner *o = &owners[hit->i];

				/* A socket with a file beats an orphan. */
				if (!o->state || (!o->inode && m->idiag_inode)) {
					if (!o->state)
						(*found)++;
					o->state = m->idiag_state == S_NEW_SYN_RECV ? S_SYN_RECV : m->idiag_state;
					o->inode = m->idiag_inode;
					o->uid = m->idiag_uid;
				}
			}
		}
	}
}

/* One dump per family of the whole table, each socket looked up among the tuples. */
static int owners_walk(const struct tf_tuple *k, size_t n, struct tf_tuple_owner *owners)
{
	struct sorted *s;
	int nl, err, found = 0;

	s = malloc(n * sizeof(*s));
	if (!s)
		return tf_failx(ENOMEM, "sock_diag: out of memory for %zu tuples", n);
	for (size_t i = 0; i < n; i++)
		s[i] = (struct sorted){ &k[i], i };
	qsort(s, n, sizeof(*s), cmp_sorted);
	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0) {
		free(s);
		return tf_fail(errno, "sock_diag: socket");
	}
	err = dump_family(nl, AF_INET, s, n, owners, &found);
	if (!err && (err = dump_family(nl, AF_INET6, s, n, owners, &found)) == -EAFNOSUPPORT)
		err = 0;	/* no IPv6 in this kernel: no IPv6 socket either */
	close(nl);
	free(s);
	return err ? err : found;
}

/*
 * The socket of exactly k in one of states, by a lookup of the kernel's own
 * (a request without NLM_F_DUMP: inet_diag_find_one_icsk) with the device
 * ifindex (a socket bound to a device is found only with its index; an
 * unbound one with any): 1 and its message in *out, 0 if none (no socket, a
 * listener the lookup fell back to, or one in another state), or -errno.
 */
static int lookup_msg(int nl, const struct tf_tuple *k, int ifindex, uint32_t states, struct inet_diag_msg *out)
{
	struct diag_req req = {
		.nlh = { .nlmsg_flags = NLM_F_REQUEST },	/* no NLM_F_DUMP: one socket */
		.r = { .sdiag_family = k->family, .idiag_states = states,
		       .id = { .idiag_sport = k->local_port, .idiag_dport = k->peer_port, .idiag_if = ifindex,
			       .idiag_cookie = { INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE } } },
	};
	char buf[8192] __attribute__((aligned(8)));	/* one socket's message, no extensions asked */
	int err;

	memcpy(req.r.id.idiag_src, k->local_addr, sizeof(req.r.id.idiag_src));
	memcpy(req.r.id.idiag_dst, k->peer_addr, sizeof(req.r.id.idiag_dst));
	if ((err = diag_send(nl, &req)))
		return err;
	for (;;) {
		ssize_t len = diag_recv(nl, buf, sizeof(buf), "no answer");
		struct nlmsghdr *h;

		if (len < 0)
			return (int)len;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			struct tf_tuple t;

			if (h->nlmsg_seq != req.nlh.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				/* ENOENT: no such socket; EAFNOSUPPORT: no IPv6 here, so none either */
				if (!e->error || e->error == -ENOENT || e->error == -EAFNOSUPPORT)
					return 0;
				return tf_fail(-e->error, "sock_diag: look up a TCP socket of family %d", k->family);
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
				continue;
			if (!(states & (1u << (m->idiag_state & 31))))
				return 0;
			tuple_of(m, &t);
			if (memcmp(&t, k, sizeof(t)))
				return 0;
			*out = *m;
			return 1;
		}
	}
}

/*
 * The live socket of exactly k, looked up with the device ifindex; unbound
 * sockets match any.  1 and *o if it lives, 0 if none does (no socket, or
 * one that listens or is over: the lookup falls back to a listener, and
 * finds TIME_WAIT, and neither owns it), or -errno.
 */
static int lookup_one(int nl, const struct tf_tuple *k, int ifindex, struct tf_tuple_owner *o)
{
	struct inet_diag_msg m;
	int found = lookup_msg(nl, k, ifindex, LIVE_STATES, &m);

	if (found <= 0)
		return found;
	o->state = m.idiag_state == S_NEW_SYN_RECV ? S_SYN_RECV : m.idiag_state;
	o->inode = m.idiag_inode;
	o->uid = m.idiag_uid;
	return 1;
}

/*
 * Each tuple looked up alone, once per device of the namespace (ifs, nif of
 * them): a socket bound to one (SO_BINDTODEVICE) is found only with its index.
 */
static int owners_exact(const struct tf_tuple *k, size_t n, struct tf_tuple_owner *owners,
			const struct if_nameindex *ifs, size_t nif)
{
	int nl, err = 0, found = 0;

	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return tf_fail(errno, "sock_diag: socket");
	for (size_t i = 0; !err && i < n; i++) {
		for (size_t d = 0; d < nif; d++) {
			err = lookup_one(nl, &k[i], (int)ifs[d].if_index, &owners[i]);
			if (err)
				break;
		}
		if (err > 0) {
			found++;
			err = 0;
		}
	}
	close(nl);
	return err ? err : found;
}

int tf_tuple_owners_by(const struct tf_tuple *k, size_t n, struct tf_tuple_owner *owners, enum tf_owners_way way)
{
	struct if_nameindex *ifs;
	size_t nif = 0;
	int r;

	memset(owners, 0, n * sizeof(*owners));
	if (!n)
		return 0;
	if (way == TF_OWNERS_WALK)
		return owners_walk(k, n, owners);
	ifs = if_nameindex();
	if (!ifs)
		return tf_fail(errno, "sock_diag: the network devices");
	while (ifs[nif].if_index)
		nif++;
	/* n * nif lookups; past the limit one walk costs less */
	if (nif && (way == TF_OWNERS_EXACT || n <= TF_OWNERS_EXACT_MAX / nif))
		r = owners_exact(k, n, owners, ifs, nif);
	else
		r = owners_walk(k, n, owners);
	if_freenameindex(ifs);
	return r;
}

int tf_tuple_owners(const struct tf_tuple *k, size_t n, struct tf_tuple_owner *owners)
{
	return tf_tuple_owners_by(k, n, owners, TF_OWNERS_AUTO);
}

pid_t tf_socket_pid(uint32_t inode, char *comm, size_t comm_len, char *state)
{
	char want[64], path[300], link[64];
	struct dirent *p;
	pid_t found = 0;
	DIR *proc;

	if (!inode || !(proc = opendir("/proc")))
		return 0;
	snprintf(want, sizeof(want), "socket:[%u]", inode);
	while (!found && (p = readdir(proc))) {
		struct dirent *f;
		DIR *fds;
		char *end;
		long pid = strtol(p->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
		if (!(fds = opendir(path)))
			continue;
		while ((f = readdir(fds))) {
			ssize_t n;

			snprintf(path, sizeof(path), "/proc/%ld/fd/%s", pid, f->d_name);
			n = readlink(path, link, sizeof(link) - 1);
			if (n > 0 && (link[n] = '\0', !strcmp(link, want))) {
				found = pid;
				break;
			}
		}
		closedir(fds);
	}
	closedir(proc);
	if (found && (comm || state)) {
		char stat[512], *rp;
		FILE *f;

		if (comm && comm_len)
			*comm = '\0';
		if (state)
			*state = '?';
		snprintf(path, sizeof(path), "/proc/%d/stat", found);
		f = fopen(path, "re");
		if (f && fgets(stat, sizeof(stat), f) && (rp = strrchr(stat, ')'))) {
			char *lp = strchr(stat, '(');

			if (comm && comm_len && lp && lp < rp)
				snprintf(comm, comm_len, "%.*s", (int)(rp - lp - 1), lp + 1);
			if (state && rp[1] == ' ' && rp[2])
				*state = rp[2];
		}
		if (f)
			fclose(f);
	}
	return found;
}


int tf_tuple_clear_stale(const struct tf_tuple *k)
{
	struct diag_req req = { .nlh = { .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK } };
	char buf[1024] __attribute__((aligned(8)));
	struct inet_diag_msg m;
	uint32_t inode;
	uint8_t state;
	ssize_t len;
	int nl, err;

	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return tf_fail(errno, "sock_diag: socket");
	err = lookup_msg(nl, k, 0, ~0u, &m);
	if (err <= 0)
		goto out;
	state = m.idiag_state;
	inode = m.idiag_inode;
	/* A connection's end: TIME_WAIT, or a closing socket no process holds. */
	if (state != S_TIME_WAIT &&
	    !(inode == 0 && (state == S_FIN_WAIT1 || state == S_FIN_WAIT2 || state == S_CLOSING || state == S_LAST_ACK))) {
		err = 0;
		goto out;
	}
	req.r = (struct inet_diag_req_v2){ .sdiag_family = k->family, .sdiag_protocol = IPPROTO_TCP,
					   .idiag_states = 1u << state, .id = m.id };
	if ((err = diag_send_as(nl, &req, SOCK_DESTROY)))
		goto out;
	len = diag_recv(nl, buf, sizeof(buf), "no answer to SOCK_DESTROY");
	err = (int)(len < 0 ? len : 0);
	for (struct nlmsghdr *h = (struct nlmsghdr *)buf; !err && NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len))
		if (h->nlmsg_type == NLMSG_ERROR && ((struct nlmsgerr *)NLMSG_DATA(h))->error)
			err = tf_fail(-((struct nlmsgerr *)NLMSG_DATA(h))->error,
				      "sock_diag: destroy the tuple's %s socket", state == S_TIME_WAIT ? "TIME_WAIT" : "closing");
	if (!err)
		err = 1;
out:
	close(nl);
	return err;
}
