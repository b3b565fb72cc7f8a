/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests on real sockets: a network namespace of the test's own, lo up. */
#ifndef TF_TEST_NETNS_LO_H
#define TF_TEST_NETNS_LO_H

#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Our own network namespace with lo up, if we may make one (root); else
 * the host's loopback will do.  true if it is our own. */
static inline bool own_netns(void)
{
	struct ifreq ifr = {};
	int s;

	if (unshare(CLONE_NEWNET))
		return false;
	s = socket(AF_INET, SOCK_DGRAM, 0);
	strcpy(ifr.ifr_name, "lo");
	ioctl(s, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	ioctl(s, SIOCSIFFLAGS, &ifr);
	close(s);
	return true;
}

/* At least n open files, as far as the hard limit allows. */
static inline void want_fds(rlim_t n)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < n) {
		rl.rlim_cur = rl.rlim_max < n ? rl.rlim_max : n;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

#endif
