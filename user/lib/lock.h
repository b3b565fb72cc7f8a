/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The lock table: the pinned BPF hash map <bpffs>/locks that the lock programs
 * read.  One entry per locked connection, keyed by its canonical tuple (local
 * = the host holding the socket, peer = the remote end).  See bpf/map_types.h
 * for the key and value, bpf/lock.bpf.c for what the programs do with them.
 *
 * Every function returns 0 (or a count) or a negative errno, with a message
 * naming the tuple in tf_strerror(), e.g.
 *   "lock 10.0.0.1:80 -> 10.0.0.2:4567: already locked (by dump, 3 s ago)".
 */
#ifndef TF_LOCK_H
#define TF_LOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpferry.h"
#include "map_types.h"

#define TF_DEFAULT_BPFFS "/sys/fs/bpf/tcpferry"

/* ---- the pin directory ----------------------------------------------------- */

/*
 * Make sure dir exists (0700) on a bpffs: created inside a bpffs parent, or a
 * bpffs is mounted on it (or on its parent, when the parent is an empty
 * mount point such as /sys/fs/bpf).  *mounted (may be NULL) gets the path
 * where a bpffs was mounted, or "" if none was needed.
 */
int tf_pin_dir_prepare(const char *dir, char *mounted, size_t mounted_len);

/* ---- the table ------------------------------------------------------------- */

struct tf_locktab;	/* opaque: the pinned map */

/*
 * Open <bpffs>/locks.  Not there: -ENOENT unless create, which makes the map
 * (max_locks entries, 0 = TF_DEFAULT_MAX_LOCKS) and pins it.  An existing
 * table keeps its size whatever max_locks says.
 */
int tf_locktab_open(const char *bpffs, bool create, uint32_t max_locks, struct tf_locktab **t);
/* Wrap an unpinned map fd (tests and benchmarks: the skeleton's own map); fd is dup'ed. */
int tf_locktab_from_fd(int map_fd, struct tf_locktab **t);
void tf_locktab_close(struct tf_locktab *t);

int tf_locktab_fd(const struct tf_locktab *t);
uint32_t tf_locktab_capacity(const struct tf_locktab *t);
uint32_t tf_locktab_map_id(const struct tf_locktab *t);
/* Where a bpffs was mounted by tf_locktab_open(create), or "". */
const char *tf_locktab_mounted(const struct tf_locktab *t);
/* How many entries the table holds now (walks it). */
int tf_locktab_count(struct tf_locktab *t, uint32_t *n);

/* ---- tuples -------------------------------------------------------------------- */

/* Canonical key from the socket's view; v4-mapped IPv6 becomes AF_INET. */
int tf_tuple_make(const struct tf_endpoint *local, const struct tf_endpoint *peer, struct tf_tuple *out);
/* "10.0.0.1:80" "10.0.0.2:4567" (or [v6]:port) into a key. */
int tf_tuple_parse(const char *local, const char *peer, struct tf_tuple *out);
void tf_tuple_endpoints(const struct tf_tuple *k, struct tf_endpoint *local, struct tf_endpoint *peer);
#define TF_TUPLESTRLEN (2 * TF_ADDRSTRLEN + 8)
/* "10.0.0.1:80 -> 10.0.0.2:4567" */
const char *tf_tuple_str(const struct tf_tuple *k, char *buf, size_t len);
/*
 * A map call on k failed (errno): "VERB TUPLE: ABSENT" for ENOENT, else
 * "VERB TUPLE: <errno's text>", recorded; returns -errno.
 */
int tf_tuple_map_failed(const struct tf_tuple *k, const char *verb, const char *absent);

/* ---- locks --------------------------------------------------------------------- */

/* CLOCK_MONOTONIC in ns: the clock of since_ns / expires_ns (bpf_ktime_get_ns). */
uint64_t tf_mono_ns(void);
const char *tf_lock_reason_name(uint32_t reason);
int tf_lock_reason_parse(const char *s, enum tf_lock_reason *out);

/*
 * Lock k.  ttl_ns 0: no expiry.  -EEXIST if it is locked already (the message
 * says by whom and since when), -ENOSPC when the table is full.  An expired
 * lock (it drops nothing) counts as absent and is replaced.
 */
int tf_lock_add(struct tf_locktab *t, const struct tf_tuple *k, enum tf_lock_reason why, uint64_t ttl_ns);
/*
 * Make k's lock last at least ttl_ns from now (0: forever): its expiry is
 * moved later, never earlier; a lock without expiry stays without.  For a
 * caller that adopts a lock it found.  -ENOENT if k is not locked.
 */
int tf_lock_extend(struct tf_locktab *t, const struct tf_tuple *k, uint64_t ttl_ns);
/* Unlock k; -ENOENT if it was not locked. */
int tf_lock_del(struct tf_locktab *t, const struct tf_tuple *k);
/* The lock on k; -ENOENT if none. */
int tf_lock_get(struct tf_locktab *t, const struct tf_tuple *k, struct tf_lock *v);

/*
 * Lock n tuples.  results (may be NULL) gets one verdict per tuple: 0 locked
 * now, -EEXIST locked already (before, meanwhile by someone else, or earlier
 * in the same list: kept as it is).  Returns how many were locked, or a
 * negative errno (-ENOSPC when they do not all fit: then none is added).
 *
 * Every tuple is added with BPF_NOEXIST, race-free: by the lock_bulk syscall
 * program in the kernel (lock_bulk.h) once it is loaded or from
 * TF_LOCK_BULK_LOAD_MIN tuples on, else (also before 5.17, where the kernel
 * cannot run it) by one map update per tuple.  Never the batch map update:
 * it cannot refuse an existing key.
 */
#define TF_LOCK_BULK_SINGLE 16
/* From this many tuples on, the bulk programs are loaded (lock.c: bulk_pays). */
#define TF_LOCK_BULK_LOAD_MIN 1024
/*
 * Load the bulk programs now, so that every later bulk call of any size uses
 * them (a long-lived user: a daemon, an orchestrator, the benchmarks).
 * 0, or -EOPNOTSUPP where the kernel cannot run them.
 */
int tf_locktab_bulk_prepare(struct tf_locktab *t);
int tf_lock_add_bulk(struct tf_locktab *t, const struct tf_tuple *k, size_t n,
		     enum tf_lock_reason why, uint64_t ttl_ns, int *results);
/* Unlock n tuples (batch delete); results: 0 or -ENOENT. Returns how many were unlocked. */
int tf_lock_del_bulk(struct tf_locktab *t, const struct tf_tuple *k, size_t n, int *results);

/* Remove every lock whose expiry is before now_ns (0 = now). */
int tf_lock_gc(struct tf_locktab *t, uint64_t now_ns, unsigned *removed);
/* Remove every lock. */
int tf_lock_flush(struct tf_locktab *t, unsigned *removed);

struct tf_lock_entry {
	struct tf_tuple key;
	struct tf_lock val;
};
/* Every lock, in a malloc'ed array (free it). */
int tf_lock_list(struct tf_locktab *t, struct tf_lock_entry **out, size_t *n);

#endif /* TF_LOCK_H */
