/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The steer table as the BPF side declares it: a plain HASH of its own,
 * beside the lock table, never LRU and never shared with it.  A full steer
 * table refuses the next steer (`steer add` says so and names --max-steers);
 * it cannot evict, crowd out or fail a lock, which a dump needs before it
 * may touch a socket.  User space sets max_entries before load and reuses
 * the pinned maps (<bpffs>/steers, <bpffs>/steer_cfg) when they are there.
 */
#ifndef TF_STEER_MAPS_H
#define TF_STEER_MAPS_H

#include "map_types.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TF_DEFAULT_MAX_STEERS);
	__type(key, struct tf_tuple);
	__type(value, struct tf_steer);
} steers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tf_steer_cfg);
} steer_cfg SEC(".maps");

#endif /* TF_STEER_MAPS_H */
