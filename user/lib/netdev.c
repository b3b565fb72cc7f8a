// SPDX-License-Identifier: BSD-2-Clause
/*
 * Devices and the network namespace, as the attach code sees them.
 *
 * Everything here asks the kernel through a socket made by this call, in the
 * calling thread's network namespace: never /sys/class/net, which shows the
 * namespace of whoever mounted /sys (after a setns, as migrate move does, or
 * under nsenter --net, that is the old namespace, with other devices or the
 * same names for different ones).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "netdev.h"

unsigned long tf_netns_id(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) == 0 ? (unsigned long)st.st_ino : 0;
}

int tf_dev_query(const char *ifname, struct tf_dev *d)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		char attrs[RTA_SPACE(IFNAMSIZ)];
	} req = { 0 };
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	size_t nlen = strnlen(ifname, IFNAMSIZ);
	struct rtattr *rta;
	char buf[32768];
	int s, len, err = -ENODEV;

	memset(d, 0, sizeof(*d));
	if (nlen == 0 || nlen >= IFNAMSIZ)
		return -ENODEV;
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	req.nh.nlmsg_type = RTM_GETLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = 1;
	req.ifi.ifi_family = AF_UNSPEC;
	rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
	rta->rta_type = IFLA_IFNAME;
	rta->rta_len = RTA_LENGTH(nlen + 1);
	memcpy(RTA_DATA(rta), ifname, nlen + 1);
	req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);

	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0)
		return -errno;
	if (sendto(s, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(s);
		return err;
	}
	len = recv(s, buf, sizeof(buf), 0);
	err = len < 0 ? -errno : -ENODEV;
	close(s);
	for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; len > 0 && NLMSG_OK(nh, (unsigned)len);
	     nh = NLMSG_NEXT(nh, len)) {
		if (nh->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(nh);

			if (e->error)
				return e->error;
			continue;
		}
		if (nh->nlmsg_type != RTM_NEWLINK)
			continue;
		{
			struct ifinfomsg *ifi = NLMSG_DATA(nh);
			int alen = IFLA_PAYLOAD(nh);

			d->ifindex = ifi->ifi_index;
			d->type = ifi->ifi_type;
			d->flags = ifi->ifi_flags;
			/* The parent is what /sys/class/net/DEV/device links to: a bus device (5.16+). */
			for (struct rtattr *r = IFLA_RTA(ifi); RTA_OK(r, alen); r = RTA_NEXT(r, alen))
				if (r->rta_type == IFLA_PARENT_DEV_NAME)
					d->has_parent = true;
			return 0;
		}
	}
	return err;
}

const char *tf_dev_pin_name(const char *ifname, char *buf)
{
	snprintf(buf, IF_NAMESIZE, "%s", ifname);
	for (char *p = buf; *p; p++)
		if (*p == '.')
			*p = ':';
	return buf;
}

void tf_dev_unpin_name(char *name)
{
	for (char *p = name; *p; p++)
		if (*p == ':')
			*p = '.';
}

bool tf_dev_has_eth_header(const char *ifname)
{
	struct tf_dev d;

	/* Unknown: assume Ethernet, the common case (the callers checked that it exists). */
	if (tf_dev_query(ifname, &d))
		return true;
	return d.type == ARPHRD_ETHER || d.type == ARPHRD_LOOPBACK;
}

bool tf_dev_is_nic(const char *ifname)
{
	struct tf_dev d;

	return tf_dev_query(ifname, &d) == 0 && d.has_parent && d.type == ARPHRD_ETHER &&
	       !(d.flags & IFF_LOOPBACK);
}
