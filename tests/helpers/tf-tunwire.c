// SPDX-License-Identifier: BSD-2-Clause
/*
 * tf-tunwire: a "wire" between two network namespaces made of two tun
 * devices, for the tests of devices without a link-layer header (the kernel
 * here has no ipip, gre or wireguard).  What one namespace sends into its tun
 * device comes out of the other's, as a bare IP packet.
 *
 *   tf-tunwire NS_A DEV_A NS_B DEV_B [--timeout SEC]
 *
 * NS_A and NS_B are names under /run/netns (ip netns add).  The devices are
 * made IFF_TUN | IFF_NO_PI, down and without addresses; "ready" on stdout
 * says both exist.  Then it copies packets both ways until killed or until
 * --timeout (default 120) seconds have passed; the devices go with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_tun.h>

#include "helper.h"

/* A tun device named dev in the namespace /run/netns/ns; this thread stays there. */
static int tun_in(const char *ns, const char *dev)
{
	char path[256];
	struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };
	int nsfd, fd;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		die("namespace %s: %s", path, strerror(errno));
	if (setns(nsfd, CLONE_NEWNET))
		die("setns %s: %s", path, strerror(errno));
	close(nsfd);
	/* The device lives in the namespace current when it is made. */
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("/dev/net/tun: %s", strerror(errno));
	if (strlen(dev) >= IFNAMSIZ)
		die("device name %s: too long", dev);
	memcpy(ifr.ifr_name, dev, strlen(dev));
	if (ioctl(fd, TUNSETIFF, &ifr))
		die("tun device %s in %s: %s", dev, ns, strerror(errno));
	return fd;
}

int main(int argc, char **argv)
{
	static char buf[65536];
	struct pollfd p[2];
	int timeout;

	helper_name = "tf-tunwire";
	if (argc < 5)
		die("usage: tf-tunwire NS_A DEV_A NS_B DEV_B [--timeout SEC]");
	timeout = arg_num(argc, argv, "--timeout", 120);
	p[0].fd = tun_in(argv[1], argv[2]);
	p[1].fd = tun_in(argv[3], argv[4]);
	p[0].events = p[1].events = POLLIN;
	printf("ready\n");
	fflush(stdout);
	alarm(timeout);	/* SIGALRM ends it */

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (p[i].revents & (POLLERR | POLLHUP | POLLNVAL))
				die("tun device %s: gone", argv[2 + 2 * i]);
			if (!(p[i].revents & POLLIN))
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n < 0) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				die("read %s: %s", argv[2 + 2 * i], strerror(errno));
			}
			/* A full queue on the other side drops the packet, as a wire would. */
			if (write(p[1 - i].fd, buf, n) < 0 && errno != EIO && errno != ENOBUFS && errno != EAGAIN)
				die("write %s: %s", argv[4 - 2 * i], strerror(errno));
		}
	}
}
