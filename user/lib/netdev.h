/* SPDX-License-Identifier: BSD-2-Clause */
/* What the attach code needs to know of a device and of the network namespace. */
#ifndef TF_NETDEV_H
#define TF_NETDEV_H

#include <net/if.h>
#include <stdbool.h>

/*
 * Device names and indexes repeat across network namespaces (every one has a
 * lo with index 1, tests have a veth0 in each), and a bpffs may be shared by
 * several: so link pins live in a directory per namespace, named by this.
 */
unsigned long tf_netns_id(void);

/* What the kernel says of a device in the calling thread's network namespace. */
struct tf_dev {
	int ifindex;
	unsigned type;		/* ARPHRD_* */
	unsigned flags;		/* IFF_* */
	bool has_parent;	/* a bus device behind it (a NIC), not a virtual device */
};

/*
 * Ask rtnetlink (RTM_GETLINK) about ifname in this thread's network
 * namespace, not /sys (which may show another one).  0 or -errno.
 */
int tf_dev_query(const char *ifname, struct tf_dev *d);

/*
 * A device name as it appears in pin names: bpffs refuses names with a dot,
 * which device names may hold (eth0.100, a VLAN), and ':', which they may not,
 * stands in for it.  buf holds IF_NAMESIZE bytes.  tf_dev_unpin_name undoes it
 * in place.
 */
const char *tf_dev_pin_name(const char *ifname, char *buf);
void tf_dev_unpin_name(char *name);

/* Frames start with an Ethernet header (else: an L3 device such as tun, wg). */
bool tf_dev_has_eth_header(const char *ifname);

/* A physical NIC (an Ethernet device with a bus device behind it): native XDP may be there. */
bool tf_dev_is_nic(const char *ifname);

#endif
