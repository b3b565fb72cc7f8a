/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Bulk lock and unlock in one system call per 8,192 tuples: the lock_bulk
 * and unlock_bulk syscall programs (bpf/lock_bulk.bpf.c) read the tuples
 * from an array mapped into our memory and add each with BPF_NOEXIST (locks
 * that are there already are reported and kept, without reading the table
 * first) or delete each.  Loaded on first use, per open table.
 */
#ifndef TF_LOCK_BULK_H
#define TF_LOCK_BULK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lock.h"

struct tf_lock_bulk;

/*
 * As tf_lock_add_bulk and tf_lock_del_bulk (lock.h), or -EOPNOTSUPP when
 * this kernel cannot run the programs (before 5.17: syscall programs and
 * bpf_loop); the caller then goes tuple by tuple.  *b is loaded on
 * first use.
 */
int tf_lock_bulk_add(struct tf_lock_bulk **b, int map_fd, uint32_t capacity, const struct tf_tuple *k,
		     size_t n, const struct tf_lock *value, uint64_t ttl_ns, int *results);
int tf_lock_bulk_del(struct tf_lock_bulk **b, int map_fd, uint32_t capacity, const struct tf_tuple *k,
		     size_t n, int *results);
void tf_lock_bulk_unload(struct tf_lock_bulk *b);
/* Are the programs loaded (not merely tried)? */
bool tf_lock_bulk_loaded(const struct tf_lock_bulk *b);

#endif
