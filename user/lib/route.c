// SPDX-License-Identifier: BSD-2-Clause
/* A route replaced through rtnetlink (see route.h). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/neighbour.h>
#include <sys/socket.h>

#include "internal.h"
#include "route.h"

static int parse_addr(const char *s, int *family, unsigned char *out)
{
	if (inet_pton(AF_INET, s, out) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, s, out) == 1)
		*family = AF_INET6;
	else
		return -1;
	return 0;
}

/* A NETLINK_ROUTE socket created inside netns_fd's namespace. */
static int open_in(int netns_fd)
{
	int home = -1, s, err = 0;

	if (netns_fd >= 0) {
		home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (home < 0 || setns(netns_fd, CLONE_NEWNET))
			err = errno;
	}
	s = err ? -1 : socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (!err && s < 0)
		err = errno;
	if (home >= 0) {
		if (setns(home, CLONE_NEWNET) && !err)
			err = errno;
		close(home);
	}
	if (err) {
		if (s >= 0)
			close(s);
		errno = err;
		return -1;
	}
	return s;
}

static void remember_route(struct tf_route_change *r);

int tf_route_prepare(struct tf_route_change *r, const char *prefix, const char *via, int netns_fd)
{
	char buf[64], *slash;
	int fam_via;
	long len;

	memset(r, 0, sizeof(*r));
	r->nl = -1;
	snprintf(r->text, sizeof(r->text), "route %s via %s", prefix, via);
	/* Cut short, "10.0.0.0/0000...8" would read as another prefix. */
	if (snprintf(buf, sizeof(buf), "%s", prefix) >= (int)sizeof(buf))
		return tf_failx(EINVAL, "%s: prefix of %zu characters, not an address", r->text,
				strlen(prefix));
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	if (parse_addr(buf, &r->family, r->dst))
		return tf_failx(EINVAL, "%s: %s is not an address", r->text, buf);
	len = r->family == AF_INET ? 32 : 128;
	if (slash) {
		char *end;
		long l = strtol(slash, &end, 10);

		if (*end || l < 0 || l > len)
			return tf_failx(EINVAL, "%s: /%s is not a prefix length", r->text, slash);
		len = l;
	}
	r->dst_len = len;
	if (parse_addr(via, &fam_via, r->via) || fam_via != r->family)
		return tf_failx(EINVAL, "%s: %s is not an address of the prefix's family", r->text, via);
	r->nl = open_in(netns_fd);
	if (r->nl < 0)
		return tf_fail(errno, "%s: netlink socket in the route's namespace", r->text);
	remember_route(r);
	return 0;
}

static void add_attr(struct nlmsghdr *h, int type, const void *data, int len)
{
	struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

/* One route message for PREFIX (gw and oif optional), and the kernel's answer. */
static int route_msg(struct tf_route_change *r, int type, int flags, const unsigned char *gw, int oif)
{
	union {
		struct nlmsghdr h;
		char buf[512];
	} req = {}, ans;
	struct rtmsg *rt;
	int alen = r->family == AF_INET ? 4 : 16;
	ssize_t n;

	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(*rt));
	req.h.nlmsg_type = type;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	req.h.nlmsg_seq = 1;
	rt = NLMSG_DATA(&req.h);
	rt->rtm_family = r->family;
	rt->rtm_dst_len = r->dst_len;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;	/* what `ip route` sets */
	rt->rtm_scope = gw || type == RTM_DELROUTE ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	rt->rtm_type = RTN_UNICAST;
	add_attr(&req.h, RTA_DST, r->dst, alen);
	if (gw)
		add_attr(&req.h, RTA_GATEWAY, gw, alen);
	if (oif)
		add_attr(&req.h, RTA_OIF, &oif, sizeof(oif));
	if (send(r->nl, &req, req.h.nlmsg_len, 0) < 0)
		return -errno;
	n = recv(r->nl, &ans, sizeof(ans), 0);
	if (n < 0)
		return -errno;
	if (n >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) && ans.h.nlmsg_type == NLMSG_ERROR)
		return ((struct nlmsgerr *)NLMSG_DATA(&ans.h))->error;
	return -EPROTO;
}

/* The route the kernel has for exactly PREFIX now, into r->had_* (none: had_route false). */
static void remember_route(struct tf_route_change *r)
{
	union {
		struct nlmsghdr h;
		char buf[1024];
	} req = {}, ans;
	struct rtmsg *rt;
	int alen = r->family == AF_INET ? 4 : 16, len;
	ssize_t n;

	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(*rt));
	req.h.nlmsg_type = RTM_GETROUTE;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.h.nlmsg_seq = 2;
	rt = NLMSG_DATA(&req.h);
	rt->rtm_family = r->family;
	rt->rtm_dst_len = r->family == AF_INET ? 32 : 128;
	add_attr(&req.h, RTA_DST, r->dst, alen);
	if (send(r->nl, &req, req.h.nlmsg_len, 0) < 0 || (n = recv(r->nl, &ans, sizeof(ans), 0)) < 0 ||
	    n < (ssize_t)NLMSG_LENGTH(sizeof(*rt)) || ans.h.nlmsg_type != RTM_NEWROUTE)
		return;	/* no route to it: undo deletes ours */
	rt = NLMSG_DATA(&ans.h);
	/* The route our address takes, of PREFIX's length: PREFIX's own.  Shorter: a covering one. */
	if (rt->rtm_dst_len != r->dst_len || rt->rtm_table != RT_TABLE_MAIN)
		return;
	len = RTM_PAYLOAD(&ans.h);
	for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == RTA_GATEWAY && RTA_PAYLOAD(a) == (unsigned)alen) {
			memcpy(r->old_via, RTA_DATA(a), alen);
			r->had_gateway = true;
		} else if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) == sizeof(int))
			memcpy(&r->old_oif, RTA_DATA(a), sizeof(int));
	}
	r->had_route = true;
}

int tf_route_apply(struct tf_route_change *r)
{
	int err = route_msg(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, r->via, 0);

	if (err)
		return tf_fail(-err, "%s", r->text);
	r->applied = true;
	return 0;
}

int tf_route_undo(struct tf_route_change *r)
{
	int err;

	if (!r->applied)
		return 0;
	if (r->had_route)
		err = route_msg(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, r->had_gateway ? r->old_via : NULL,
				r->old_oif);
	else
		err = route_msg(r, RTM_DELROUTE, 0, NULL, 0);
	if (err)
		return tf_fail(-err, "%s: putting the route back as it was", r->text);
	r->applied = false;
	return 0;
}

void tf_route_close(struct tf_route_change *r)
{
	if (r->nl >= 0)
		close(r->nl);
	r->nl = -1;
}

/* ---- looking routes and neighbours up ------------------------------------------------ */

/* One request, the kernel's answers handed to each(); 0 or -errno (the kernel's). */
static int nl_ask(struct nlmsghdr *req, void (*each)(struct nlmsghdr *, void *), void *arg)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[8192];
	int s, len, err = 0;

	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0)
		return -errno;
	if (sendto(s, req, req->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(s);
		return err;
	}
	len = recv(s, buf, sizeof(buf), 0);
	if (len < 0)
		err = -errno;
	close(s);
	for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; !err && NLMSG_OK(nh, (unsigned)len);
	     nh = NLMSG_NEXT(nh, len)) {
		if (nh->nlmsg_type == NLMSG_ERROR) {
			err = ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
			continue;
		}
		each(nh, arg);
	}
	return err;
}

static void route_answer(struct nlmsghdr *nh, void *arg)
{
	struct tf_route_info *r = arg;
	struct rtmsg *rt = NLMSG_DATA(nh);
	int alen = RTM_PAYLOAD(nh), want = r->family == AF_INET ? 4 : 16;

	if (nh->nlmsg_type != RTM_NEWROUTE)
		return;
	for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
		if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) == 4)
			memcpy(&r->oif, RTA_DATA(a), 4);
		else if (a->rta_type == RTA_GATEWAY && (int)RTA_PAYLOAD(a) == want) {
			memcpy(r->gateway, RTA_DATA(a), want);
			r->has_gateway = true;
		} else if (a->rta_type == RTA_PREFSRC && (int)RTA_PAYLOAD(a) == want) {
			memcpy(r->prefsrc, RTA_DATA(a), want);
			r->has_prefsrc = true;
		}
	}
}

int tf_route_lookup(const struct tf_endpoint *addr, struct tf_route_info *r)
{
	union {
		struct nlmsghdr h;
		char buf[256];
	} req = {};
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *bytes = addr->addr;
	char a[TF_ADDRSTRLEN];
	struct rtmsg *rt;
	int alen, err;

	memset(r, 0, sizeof(*r));
	if (addr->port)		/* a peer's route: named as the peer */
		tf_endpoint_str(addr, a, sizeof(a));
	else
		tf_addr_str(addr, a, sizeof(a));
	r->family = addr->family;
	if (r->family == AF_INET6 && !memcmp(bytes, mapped, 12)) {
		r->family = AF_INET;
		bytes += 12;
	}
	alen = r->family == AF_INET ? 4 : 16;
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(*rt));
	req.h.nlmsg_type = RTM_GETROUTE;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.h.nlmsg_seq = 1;
	rt = NLMSG_DATA(&req.h);
	rt->rtm_family = r->family;
	rt->rtm_dst_len = alen * 8;
	add_attr(&req.h, RTA_DST, bytes, alen);
	if (addr->scope_id)	/* a link-local address: its interface is the answer */
		add_attr(&req.h, RTA_OIF, &addr->scope_id, 4);
	err = nl_ask(&req.h, route_answer, r);
	if (err)
		return tf_fail(-err, "route to %s", a);
	if (!r->oif)
		return tf_failx(ENETUNREACH, "route to %s: no output device", a);
	return 0;
}

struct neigh_want {
	int ifindex;
	bool found;
	uint8_t mac[6];
};

static void neigh_answer(struct nlmsghdr *nh, void *arg)
{
	struct neigh_want *w = arg;
	struct ndmsg *nd = NLMSG_DATA(nh);
	int alen = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd));
	const unsigned usable = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT | NUD_NOARP;

	if (nh->nlmsg_type != RTM_NEWNEIGH || nd->ndm_ifindex != w->ifindex || !(nd->ndm_state & usable))
		return;
	for (struct rtattr *a = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd))); RTA_OK(a, alen);
	     a = RTA_NEXT(a, alen)) {
		if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
			memcpy(w->mac, RTA_DATA(a), 6);
			w->found = true;
		}
	}
}

int tf_neigh_lookup(int family, const uint8_t *addr, int ifindex, uint8_t mac[6])
{
	union {
		struct nlmsghdr h;
		char buf[256];
	} req = {};
	struct neigh_want w = { .ifindex = ifindex };
	struct ndmsg *nd;
	int err;

	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(*nd));
	req.h.nlmsg_type = RTM_GETNEIGH;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.h.nlmsg_seq = 1;
	nd = NLMSG_DATA(&req.h);
	nd->ndm_family = family;
	nd->ndm_ifindex = ifindex;
	add_attr(&req.h, NDA_DST, addr, family == AF_INET ? 4 : 16);
	err = nl_ask(&req.h, neigh_answer, &w);
	if (err)
		return err;
	if (!w.found)
		return -ENOENT;
	memcpy(mac, w.mac, 6);
	return 0;
}
