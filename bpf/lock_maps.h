/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The lock table as the BPF side declares it.  BTF-defined so that bpftool
 * prints keys and values by field name.  A plain HASH, never LRU: an LRU map
 * may evict a live lock and silently unlock a connection that is being moved.
 * User space sets max_entries before load (--max-locks) and, when the table
 * is already pinned, reuses the pinned map instead (bpf_map__reuse_fd).
 */
#ifndef TF_LOCK_MAPS_H
#define TF_LOCK_MAPS_H

#include "map_types.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TF_DEFAULT_MAX_LOCKS);
	__type(key, struct tf_tuple);
	__type(value, struct tf_lock);
} locks SEC(".maps");

#endif /* TF_LOCK_MAPS_H */
