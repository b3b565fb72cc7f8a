// SPDX-License-Identifier: BSD-2-Clause
/* Devices and the network namespace, as the attach code sees them. */
#include <linux/if_arp.h>
#include <stdio.h>
#include <sys/stat.h>

#include "netdev.h"

unsigned long tf_netns_id(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) == 0 ? (unsigned long)st.st_ino : 0;
}

bool tf_dev_has_eth_header(const char *ifname)
{
	char path[128];
	unsigned type = ARPHRD_ETHER;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/type", ifname);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%u", &type) != 1)
			type = ARPHRD_ETHER;
		fclose(f);
	}
	return type == ARPHRD_ETHER || type == ARPHRD_LOOPBACK;
}
