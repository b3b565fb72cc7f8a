/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Attaching the lock programs to a device, so that they outlive the command:
 * each attachment is a BPF link pinned as <bpffs>/links/<netns>/<ifname>-<hook>,
 * where <netns> is the network namespace's inode number (ls -iL /proc/self/ns/net).
 *
 *   xdp     ingress, XDP (native where the driver has it, generic otherwise)
 *   tc-in   ingress, tc  (tcx link, kernel 6.6+)
 *   tc-out  egress, tc   (tcx link), on every attached device
 *
 * A device has one ingress flavour (xdp or tc-in) and tc-out.  On kernels
 * without tcx, or with TCPFERRY_TC=clsact, tc hooks are clsact filters
 * instead (clsact.h), kept by the kernel and remembered by a pinned program
 * <ifname>-tc-in-clsact / -tc-out-clsact.
 */
#ifndef TF_ATTACH_H
#define TF_ATTACH_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpferry.h"

enum tf_attach_mode {
	TF_ATTACH_AUTO = 0,	/* keep what is there; else native XDP on a NIC that has it, tc otherwise */
	TF_ATTACH_XDP,		/* XDP ingress: native, else generic (said so) */
	TF_ATTACH_TC,		/* tc ingress */
};

enum tf_hook {
	TF_HOOK_XDP,
	TF_HOOK_TC_IN,
	TF_HOOK_TC_OUT,
	TF_HOOK__COUNT
};

/*
 * TCPFERRY_TC: 1 when it is "clsact" (tc programs as clsact filters, for
 * kernels whose tcx is broken, and for tests), 0 when unset, empty or "tcx",
 * -EINVAL otherwise.  Read by the lock's attach and the recorder's.
 */
int tf_tc_want_clsact(void);

/* "xdp", "tc-in", "tc-out": the suffix of the pin name. */
const char *tf_hook_name(enum tf_hook h);

#define TF_ON_HOOK_NAMES 8

struct tf_hook_state {
	bool attached;
	bool alive;		/* the link still points at the device */
	bool created;		/* tf_attach made (or replaced) it just now */
	char how[16];		/* "xdp-native", "xdp-generic", "tcx", "clsact" */
	uint32_t prog_id;
	uint32_t link_id;	/* 0 for clsact filters */
	uint32_t map_id;	/* the lock map the program reads */
	uint32_t steer_map_id;	/* the steer map it reads (ingress; 0: none, an older program) */
	uint32_t on_hook;	/* programs the kernel runs at this hook, anyone's */
	/* their names, in the order the kernel runs them (the first TF_ON_HOOK_NAMES) */
	char on_hook_names[TF_ON_HOOK_NAMES][16];
};

struct tf_attach_info {
	char ifname[IF_NAMESIZE];
	int ifindex;		/* 0: not in this network namespace (any more) */
	bool l3;		/* no link-layer header (tun, wireguard) */
	struct tf_hook_state hook[TF_HOOK__COUNT];
	char mounted[256];	/* where a bpffs was mounted for the pins, or "" */
	char note[256];		/* why generic XDP, why tc, ...; or "" */
};

/*
 * Attach ingress (XDP or tc) and tc egress to ifname, reading the lock table
 * <bpffs>/locks (created with max_locks entries if missing) and, at ingress,
 * the steer table <bpffs>/steers (max_steers entries; 0: the defaults).  Idempotent:
 * what is attached and alive stays; a dead link (device re-created) or one
 * reading another lock map is replaced; switching the ingress flavour
 * removes the other one.  info (may be NULL) says what is there now.
 */
int tf_attach(const char *bpffs, const char *ifname, enum tf_attach_mode mode, uint32_t max_locks,
	      uint32_t max_steers, struct tf_attach_info *info);

/* Remove ifname's attachments and pins (also when the device is gone).
 * Returns how many hooks were removed (0: nothing was attached). */
int tf_detach(const char *bpffs, const char *ifname);

/*
 * The device that carries traffic to peer in this network namespace
 * (rtnetlink RTM_GETROUTE), attached (tc in + out) unless it is already.
 * ifname_out: at least IF_NAMESIZE bytes.
 */
int tf_attach_for_peer(const char *bpffs, const struct tf_endpoint *peer, char *ifname_out);

/* The output device of the route to addr: name (IF_NAMESIZE) and index. */
int tf_route_dev(const struct tf_endpoint *addr, char *ifname, int *ifindex);

/* Every device of this network namespace with pins under bpffs, in a malloc'ed array (free it). */
int tf_attach_list(const char *bpffs, struct tf_attach_info **out, size_t *n);

#endif /* TF_ATTACH_H */
