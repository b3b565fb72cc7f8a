/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tc programs as clsact filters: what the lock and the tsval recorder use
 * where there is no tcx (before 6.6), or when TCPFERRY_TC=clsact asks for it.
 *
 * Each user has its own filter handle and priority (lower runs first: the
 * lock before the recorder, as with tcx, where the lock is attached first).
 * The programs return TC_ACT_UNSPEC to pass, so the filters after ours run.
 * A clsact qdisc that tcpferry made is remembered by the directory
 * <bpffs>/links/<netns>/<ifname>-clsact-qdisc and deleted by
 * tf_clsact_release once no filter (anyone's) is left on it.
 */
#ifndef TF_CLSACT_H
#define TF_CLSACT_H

#include <stdbool.h>
#include <stdint.h>

/*
 * 0x7466 runs before every filter added without a priority (tc numbers those
 * from 0xC000 down).  A lower number would not buy "first" either: tools that
 * pick one pick small ones (Cilium: 1), and a filter at a priority already
 * taken must match its kind and protocol (EINVAL otherwise); the filters of
 * an earlier attach are also found by this number.
 */
#define TF_CLSACT_LOCK		0x7466	/* handle and priority of the lock's filters */
#define TF_CLSACT_TSVAL		0x7467	/* the recorder's */

/*
 * Put prog_fd at ifindex's clsact ingress or egress as filter `handle`
 * (replacing ours in place if it is there), making the qdisc if missing.
 */
int tf_clsact_attach(const char *bpffs, const char *ifname, int ifindex, bool ingress, uint32_t handle,
		     int prog_fd);
/* The id of the program of our filter `handle`, 0 when there is none. */
uint32_t tf_clsact_prog(int ifindex, bool ingress, uint32_t handle);
/* Remove our filter `handle` (nothing there: fine). */
void tf_clsact_detach(int ifindex, bool ingress, uint32_t handle);
/* Delete the clsact qdisc if tcpferry made it and it has no filter left. */
void tf_clsact_release(const char *bpffs, const char *ifname, int ifindex);
/*
 * The filters at a clsact hook, in the order they run: their number, and in
 * ids (up to max) the program id of each (0 for a filter that is not bpf).
 * 0 when there is no clsact qdisc.
 */
int tf_clsact_filters(int ifindex, bool ingress, uint32_t *ids, uint32_t max);

#endif /* TF_CLSACT_H */
