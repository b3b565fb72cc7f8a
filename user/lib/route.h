/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Pointing a route at another next hop, as `ip route replace PREFIX via ADDR`
 * does, through rtnetlink: the move's route change costs a message, not a
 * program start.  The socket is opened in advance, in the namespace that
 * holds the route (a router's), so the change itself happens anywhere.
 */
#ifndef TF_ROUTE_H
#define TF_ROUTE_H

#include <stdbool.h>

struct tf_route_change {
	int nl;			/* NETLINK_ROUTE socket in the route's namespace */
	int family;
	unsigned char dst[16], via[16];
	int dst_len;
	char text[128];		/* "PREFIX via ADDR", for messages */
	/* The route for exactly PREFIX before the change, for tf_route_undo. */
	bool had_route;
	bool had_gateway;
	unsigned char old_via[16];
	int old_oif;
	bool applied;
};

/*
 * Parse PREFIX (an address with an optional /len) and VIA, and open the
 * socket in the namespace netns_fd (-1: this one).  0 or -errno.
 */
int tf_route_prepare(struct tf_route_change *r, const char *prefix, const char *via, int netns_fd);
/* Send it and wait for the kernel's answer.  0 or -errno. */
int tf_route_apply(struct tf_route_change *r);
/*
 * After tf_route_apply: put back the route for PREFIX that prepare found
 * (its next hop and device), or delete PREFIX's route if there was none.
 * 0 (also when nothing was applied) or -errno.
 */
int tf_route_undo(struct tf_route_change *r);
void tf_route_close(struct tf_route_change *r);

/* ---- looking up ---------------------------------------------------------------------- */

#include <stdbool.h>
#include <stdint.h>
#include "tcpferry.h"

/* What the kernel's route to an address says (RTM_GETROUTE), in this network namespace. */
struct tf_route_info {
	int family;		/* the address's on the wire (v4-mapped: AF_INET) */
	int oif;		/* the output device */
	bool has_gateway;	/* via a router (else: directly connected) */
	uint8_t gateway[16];
	bool has_prefsrc;	/* the source address the kernel would choose */
	uint8_t prefsrc[16];
};
int tf_route_lookup(const struct tf_endpoint *addr, struct tf_route_info *r);

/*
 * The link-layer address of addr on ifindex from the neighbour table, when
 * it is usable (reachable, stale, permanent, ...): 0, -ENOENT when not
 * there (or not resolved), or another -errno.  No message is recorded.
 */
int tf_neigh_lookup(int family, const uint8_t *addr, int ifindex, uint8_t mac[6]);

#endif
