/* SPDX-License-Identifier: BSD-2-Clause */
/* What the attach code needs to know of a device and of the network namespace. */
#ifndef TF_NETDEV_H
#define TF_NETDEV_H

#include <stdbool.h>

/*
 * Device names and indexes repeat across network namespaces (every one has a
 * lo with index 1, tests have a veth0 in each), and a bpffs may be shared by
 * several: so link pins live in a directory per namespace, named by this.
 */
unsigned long tf_netns_id(void);

/* Frames start with an Ethernet header (else: an L3 device such as tun, wg). */
bool tf_dev_has_eth_header(const char *ifname);

#endif
