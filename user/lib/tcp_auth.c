// SPDX-License-Identifier: BSD-2-Clause
/*
 * TCP authentication keys on a socket (see tcp_auth.h).  A socket restored
 * without its keys sends segments the peer drops, and TCP_REPAIR cannot read
 * keys back, so the dump refuses such sockets.  MD5 keys show only through
 * sock_diag: INET_DIAG_MD5SIG, sent with CAP_NET_ADMIN, for the one socket
 * that matches the 4-tuple and cookie.  AO keys answer TCP_AO_INFO (6.7+).
 */
#include <errno.h>
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

const char *tf_tcp_auth_keys(int fd)
{
	unsigned char ao[64] = { 0 };	/* struct tcp_ao_info_opt, zeroed as the kernel wants */
	socklen_t len = sizeof(ao);

	if (getsockopt(fd, IPPROTO_TCP, TCP_AO_INFO, ao, &len) == 0)
		return "TCP-AO";
	return has_md5(fd) == 1 ? "TCP-MD5" : NULL;
}
