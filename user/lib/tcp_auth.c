// SPDX-License-Identifier: BSD-2-Clause
/*
 * TCP authentication keys on a socket (see tcp_auth.h).  A socket restored
 * without its keys sends segments the peer drops, and TCP_REPAIR cannot read
 * keys back, so the dump refuses such sockets.  MD5 keys show only through
 * sock_diag: INET_DIAG_MD5SIG, sent with CAP_NET_ADMIN, for the one socket
 * that matches the 4-tuple and cookie.  AO keys answer TCP_AO_INFO (6.7+).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>

#include "tcp_auth.h"

#ifndef TCP_AO_INFO
#define TCP_AO_INFO 40
#endif

static void put_addr(const struct sockaddr_storage *ss, __be16 *port, __be32 addr[4])
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		*port = a->sin_port;
		addr[0] = a->sin_addr.s_addr;
	} else {
		const struct sockaddr_in6 *a = (const void *)ss;

		*port = a->sin6_port;
		memcpy(addr, &a->sin6_addr, 16);
	}
}

static int has_md5(int fd)
{
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 r;
	} req = { 0 };
	struct sockaddr_storage l, p;
	socklen_t ll = sizeof(l), pl = sizeof(p), cl;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	unsigned long long cookie;
	char buf[8192];
	int s, len, found = -1;

	cl = sizeof(cookie);
	if (getsockname(fd, (void *)&l, &ll) || getpeername(fd, (void *)&p, &pl) ||
	    getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &cl))
		return -1;
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.r.sdiag_family = l.ss_family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = ~0u;
	req.r.idiag_ext = 1 << (INET_DIAG_INFO - 1);	/* the auxiliary attributes come with the info */
	put_addr(&l, &req.r.id.idiag_sport, req.r.id.idiag_src);
	put_addr(&p, &req.r.id.idiag_dport, req.r.id.idiag_dst);
	req.r.id.idiag_cookie[0] = (__u32)cookie;
	req.r.id.idiag_cookie[1] = (__u32)(cookie >> 32);

	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (s < 0)
		return -1;
	if (sendto(s, &req, sizeof(req), 0, (void *)&sa, sizeof(sa)) < 0) {
		close(s);
		return -1;
	}
	len = recv(s, buf, sizeof(buf), 0);
	close(s);
	for (struct nlmsghdr *nh = (void *)buf; len > 0 && NLMSG_OK(nh, (unsigned)len); nh = NLMSG_NEXT(nh, len)) {
		struct inet_diag_msg *m;
		int alen;

		if (nh->nlmsg_type != SOCK_DIAG_BY_FAMILY)
			break;	/* an error (not found here: another namespace), or the end */
		m = NLMSG_DATA(nh);
		alen = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
		found = 0;
		for (struct rtattr *a = (void *)(m + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen))
			if (a->rta_type == INET_DIAG_MD5SIG && RTA_PAYLOAD(a) > 0)
				found = 1;
	}
	return found;
}

struct scanned {
	unsigned long long cookie;
	bool md5;		/* the socket carries TCP-MD5 keys */
};

struct tf_auth_scan {
	struct scanned *e;	/* sorted by cookie */
	size_t n, cap;
};

/* The states a dump carries (repair.c's carried_state); others are refused before the keys are asked. */
#define CARRIED_STATES ((1u << 1) | (1u << 4) | (1u << 5) | (1u << 8) | (1u << 9) | (1u << 11))

static int scan_add(struct tf_auth_scan *s, unsigned long long cookie, bool md5)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		struct scanned *ne = realloc(s->e, cap * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		s->e = ne;
		s->cap = cap;
	}
	s->e[s->n].cookie = cookie;
	s->e[s->n++].md5 = md5;
	return 0;
}

/* One family's dump into s; 0 or a negative errno. */
static int scan_family(int nl, int family, char *buf, size_t size, struct tf_auth_scan *s)
{
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 r;
	} req = { 0 };
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };

	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = family;
	req.r.sdiag_family = family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = CARRIED_STATES;
	req.r.idiag_ext = 1 << (INET_DIAG_INFO - 1);	/* the auxiliary attributes come with the info */
	if (sendto(nl, &req, sizeof(req), 0, (void *)&sa, sizeof(sa)) < 0)
		return -errno;
	for (;;) {
		int len = recv(nl, buf, size, 0);

		if (len <= 0)
			return len ? -errno : -EPROTO;
		for (struct nlmsghdr *nh = (void *)buf; NLMSG_OK(nh, (unsigned)len); nh = NLMSG_NEXT(nh, len)) {
			struct inet_diag_msg *m;
			bool md5 = false;
			int alen, err;

			if (nh->nlmsg_type == NLMSG_DONE)
				return 0;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(nh);

				return e->error ? e->error : -EPROTO;
			}
			if (nh->nlmsg_type != SOCK_DIAG_BY_FAMILY)
				continue;
			m = NLMSG_DATA(nh);
			alen = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
			for (struct rtattr *a = (void *)(m + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen))
				if (a->rta_type == INET_DIAG_MD5SIG && RTA_PAYLOAD(a) > 0)
					md5 = true;
			err = scan_add(s, m->id.idiag_cookie[0] | (unsigned long long)m->id.idiag_cookie[1] << 32, md5);
			if (err)
				return err;
		}
	}
}

static int cmp_cookie(const void *a, const void *b)
{
	unsigned long long x = ((const struct scanned *)a)->cookie, y = ((const struct scanned *)b)->cookie;

	return x < y ? -1 : x > y;
}

int tf_auth_scan(struct tf_auth_scan **out)
{
	const size_t size = 64 * 1024;
	struct tf_auth_scan *s = calloc(1, sizeof(*s));
	void *buf = malloc(size);
	int nl, err;

	*out = NULL;
	if (!s || !buf) {
		free(s);
		free(buf);
		return -ENOMEM;
	}
	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0) {
		err = -errno;
		free(s);
		free(buf);
		return err;
	}
	err = scan_family(nl, AF_INET, buf, size, s);
	if (!err)
		err = scan_family(nl, AF_INET6, buf, size, s);
	close(nl);
	free(buf);
	if (err) {
		tf_auth_scan_free(s);
		return err;
	}
	qsort(s->e, s->n, sizeof(*s->e), cmp_cookie);
	*out = s;
	return 0;
}

/* "TCP: inuse N" (or TCP6) of this network namespace's sockstat file; -1 if unreadable. */
static long inuse(const char *path, const char *tag)
{
	char line[256];
	long v = -1;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	while (v < 0 && fgets(line, sizeof(line), f))
		if (!strncmp(line, tag, strlen(tag)))
			v = strtol(line + strlen(tag), NULL, 10);
	fclose(f);
	return v;
}

bool tf_auth_scan_pays(size_t n)
{
	long v4 = inuse("/proc/net/sockstat", "TCP: inuse "), v6 = inuse("/proc/net/sockstat6", "TCP6: inuse ");

	/* A dump walks the whole established hash table, shared by every
	 * namespace (262,144 buckets on a 24 GiB host): 1-4 ms before the first
	 * socket, against about 15 us a socket asked alone.  Then about 4 us
	 * for every TCP socket of the namespace, ours or not. */
	if (n < 512 || v4 < 0)
		return false;
	return (size_t)v4 + (v6 > 0 ? (size_t)v6 : 0) <= 4 * n + 64;
}

void tf_auth_scan_free(struct tf_auth_scan *s)
{
	if (!s)
		return;
	free(s->e);
	free(s);
}

int tf_auth_scan_md5(const struct tf_auth_scan *s, int fd)
{
	struct scanned key;
	socklen_t cl = sizeof(key.cookie);
	const struct scanned *at;

	if (!s || !s->n || getsockopt(fd, SOL_SOCKET, SO_COOKIE, &key.cookie, &cl))
		return -1;
	at = bsearch(&key, s->e, s->n, sizeof(*s->e), cmp_cookie);
	return at ? at->md5 : -1;
}

const char *tf_tcp_auth_keys_md5(int fd, int md5)
{
	unsigned char ao[64] = { 0 };	/* struct tcp_ao_info_opt, zeroed as the kernel wants */
	socklen_t len = sizeof(ao);

	if (getsockopt(fd, IPPROTO_TCP, TCP_AO_INFO, ao, &len) == 0)
		return "TCP-AO";
	if (md5 < 0)
		md5 = has_md5(fd);
	return md5 == 1 ? "TCP-MD5" : NULL;
}

const char *tf_tcp_auth_keys_scan(int fd, const struct tf_auth_scan *s)
{
	return tf_tcp_auth_keys_md5(fd, tf_auth_scan_md5(s, fd));
}

const char *tf_tcp_auth_keys(int fd)
{
	return tf_tcp_auth_keys_scan(fd, NULL);
}
