/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The steer table: the pinned BPF hash map <bpffs>/steers that the ingress
 * programs read after the lock table, and its settings <bpffs>/steer_cfg.
 * One entry per handed-off connection, keyed by its canonical tuple (local =
 * the VIP on this host, peer = the client).  See bpf/map_types.h for the
 * value (struct tf_steer) and its life, bpf/steer_path.h for what the programs do.
 *
 * A table of its own, not the lock table: a full steer table refuses steers
 * and nothing else (a lock always finds its room), and the lock table keeps
 * its type and pins.  Every function returns 0 (or a count) or a negative
 * errno, with a message naming the tuple in tf_strerror().
 */
#ifndef TF_STEER_TABLE_H
#define TF_STEER_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpferry.h"
#include "map_types.h"

struct tf_steertab;	/* opaque: the pinned maps */

/*
 * Open <bpffs>/steers and <bpffs>/steer_cfg.  Not there: -ENOENT unless
 * create, which makes them (max_steers entries, 0 = TF_DEFAULT_MAX_STEERS)
 * and pins them.  An existing table keeps its size.
 */
int tf_steertab_open(const char *bpffs, bool create, uint32_t max_steers, struct tf_steertab **t);
/* Wrap unpinned maps (tests and benchmarks: a skeleton's own); the fds are dup'ed. */
int tf_steertab_from_fds(int steers_fd, int cfg_fd, struct tf_steertab **t);
void tf_steertab_close(struct tf_steertab *t);

int tf_steertab_fd(const struct tf_steertab *t);
int tf_steertab_cfg_fd(const struct tf_steertab *t);
uint32_t tf_steertab_capacity(const struct tf_steertab *t);
uint32_t tf_steertab_map_id(const struct tf_steertab *t);
const char *tf_steertab_mounted(const struct tf_steertab *t);

/* The table's settings (zeros mean the defaults of map_types.h). */
int tf_steer_cfg_get(struct tf_steertab *t, struct tf_steer_cfg *c);
/* Set the idle timeout and FIN linger of entries that have none of their own (0: default). */
int tf_steer_cfg_set(struct tf_steertab *t, uint64_t idle_timeout_ns, uint64_t fin_linger_ns);

const char *tf_steer_mode_name(uint32_t mode);
int tf_steer_mode_parse(const char *s, enum tf_steer_mode *out);

/*
 * Steer k as v says (mode, backend, next hop, device, idle timeout); since,
 * last seen, the counters and the owner are set here.  -EEXIST if k is
 * steered already (an expired entry counts as absent and is replaced),
 * -ENOSPC when the table is full (the message names its size and
 * --max-steers).
 */
int tf_steer_add(struct tf_steertab *t, const struct tf_tuple *k, const struct tf_steer *v);
/* Stop steering k; -ENOENT if it was not steered. */
int tf_steer_del(struct tf_steertab *t, const struct tf_tuple *k);
int tf_steer_get(struct tf_steertab *t, const struct tf_tuple *k, struct tf_steer *v);
/*
 * k's entry if it still steers: -ENOENT if there is none, -ESTALE (v filled)
 * if it is past its idle timeout or FIN linger (the programs treat it as
 * absent; gc has not removed it yet).  Neither sets an error message.
 */
int tf_steer_get_live(struct tf_steertab *t, const struct tf_tuple *k, struct tf_steer *v);
/*
 * The connection ended at its backend: k lingers as after the client's FIN
 * (its last packets, a FIN the backend's TIME_WAIT still answers, go on
 * being steered) and gc removes it after.  Deleting it at once would make
 * this host answer those with an RST.
 */
int tf_steer_end(struct tf_steertab *t, const struct tf_tuple *k);
/* Is v past its idle timeout (or FIN linger) at now_ns, under the table's settings c? */
bool tf_steer_expired(const struct tf_steer *v, const struct tf_steer_cfg *c, uint64_t now_ns);

struct tf_steer_entry {
	struct tf_tuple key;
	struct tf_steer val;
};
/* Every entry, in a malloc'ed array (free it). */
int tf_steer_list(struct tf_steertab *t, struct tf_steer_entry **out, size_t *n);
/* Remove the entries expired at now_ns (0 = now). */
int tf_steer_gc(struct tf_steertab *t, uint64_t now_ns, unsigned *removed);
/* Remove every entry. */
int tf_steer_flush(struct tf_steertab *t, unsigned *removed);

/*
 * Where a steer sends the packets, found from this network namespace's
 * routes and neighbours (rtnetlink), as v's backend, next hop, source MAC
 * and device:
 *   L2: dev (NULL: the route's device to backend), the backend's MAC mac
 *       (NULL: from the neighbour table, asked for by a datagram to the
 *       backend's discard port if it is not there yet).
 *   L3: the route to backend: its device (or dev), its gateway's MAC (or
 *       the backend's, directly connected; or mac), its preferred source as
 *       the outer source (or outer_src, when not NULL).
 * The messages name the backend and what is missing (no route, no
 * neighbour answer within a second: "give --mac").
 */
int tf_steer_resolve(struct tf_steer *v, enum tf_steer_mode mode, const struct tf_endpoint *backend,
		     const char *dev, const uint8_t mac[6], const struct tf_endpoint *outer_src);

/* "02:00:00:00:00:01" into 6 bytes; -EINVAL otherwise. */
int tf_mac_parse(const char *s, uint8_t mac[6]);
/* 18 bytes at least. */
const char *tf_mac_str(const uint8_t mac[6], char *buf, size_t len);

#endif /* TF_STEER_TABLE_H */
