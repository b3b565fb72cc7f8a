// SPDX-License-Identifier: BSD-2-Clause
/* Can this host unwrap an l3 steer's packets (decap_probe.h)? */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/socket.h>
#include <linux/if_link.h>
#include <linux/if_tunnel.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <bpf/bpf.h>

#include "clsact.h"
#include "decap_probe.h"

#define DECAP_PROG "tf_decap_tc_in"	/* bpf/decap.bpf.c's program */

static struct rtattr *nested(struct rtattr *r, int type)
{
	int len = RTA_PAYLOAD(r);

	for (struct rtattr *a = RTA_DATA(r); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == type)
			return a;
	return NULL;
}

/* One RTM_NEWLINK: what it unwraps, if it is an external tunnel that is up. */
static unsigned link_decap(struct nlmsghdr *nh)
{
	struct ifinfomsg *ifi = NLMSG_DATA(nh);
	int len = IFLA_PAYLOAD(nh);

	if (!(ifi->ifi_flags & IFF_UP))
		return 0;
	for (struct rtattr *r = IFLA_RTA(ifi); RTA_OK(r, len); r = RTA_NEXT(r, len)) {
		struct rtattr *kind, *data;

		if (r->rta_type != IFLA_LINKINFO)
			continue;
		kind = nested(r, IFLA_INFO_KIND);
		data = nested(r, IFLA_INFO_DATA);
		if (!kind || !data || !nested(data, IFLA_IPTUN_COLLECT_METADATA))
			return 0;
		if (!strcmp(RTA_DATA(kind), "ipip"))
			return TF_DECAP_IPIP;
		if (!strcmp(RTA_DATA(kind), "ip6tnl"))
			return TF_DECAP_IP6IP6;
	}
	return 0;
}

/* Program id's name is tcpferry's decap? */
static bool is_decap(uint32_t id)
{
	struct bpf_prog_info info = {};
	__u32 ilen = sizeof(info);
	int fd = id ? bpf_prog_get_fd_by_id(id) : -1;
	bool ours;

	if (fd < 0)
		return false;
	ours = bpf_obj_get_info_by_fd(fd, &info, &ilen) == 0 && !strcmp(info.name, DECAP_PROG);
	close(fd);
	return ours;
}

/* tcpferry's BPF decap at a device's tc ingress. */
static bool bpf_decap_on(int ifindex)
{
	uint32_t ids[16];
	int n = tf_clsact_filters(ifindex, true, ids, 16);

	for (int i = 0; i < n && i < 16; i++)
		if (is_decap(ids[i]))
			return true;
	return false;
}

static int links(unsigned *found)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = { .nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK,
			  .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		  .ifi = { .ifi_family = AF_UNSPEC } };
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	static char buf[65536];
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), err = 0;

	if (s < 0)
		return -errno;
	if (sendto(s, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(s);
		return err;
	}
	for (;;) {
		int len = recv(s, buf, sizeof(buf), 0);

		if (len < 0) {
			err = -errno;
			break;
		}
		for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (unsigned)len); nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_type == NLMSG_DONE)
				goto out;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				err = ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
				goto out;
			}
			if (nh->nlmsg_type != RTM_NEWLINK)
				continue;
			*found |= link_decap(nh);
			if (bpf_decap_on(((struct ifinfomsg *)NLMSG_DATA(nh))->ifi_index))
				*found |= TF_DECAP_IPIP | TF_DECAP_IP6IP6;	/* it takes both */
		}
	}
out:
	close(s);
	return err;
}

int tf_decap_probe(void)
{
	unsigned found = 0;
	int err = links(&found);

	return err ? err : (int)found;
}
