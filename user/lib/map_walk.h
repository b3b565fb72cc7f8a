/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Every entry of a BPF hash map, read in batches (BPF_MAP_LOOKUP_BATCH,
 * Linux 5.6: one system call for thousands of entries), or key by key (two
 * calls an entry) where the kernel has no batch ops.
 */
#ifndef TF_MAP_WALK_H
#define TF_MAP_WALK_H

#include <stddef.h>

/*
 * *out: a malloc'ed array (free it) of *n entries of entry_size bytes, each
 * the key (key_size bytes) at offset 0 and the value (val_size) at val_off.
 * what names the map in an error.  0 or negative errno.
 */
int tf_map_walk(int fd, size_t key_size, size_t val_size, size_t entry_size, size_t val_off, void **out,
		size_t *n, const char *what);

#define TF_MAP_WALK(fd, type, out, n, what)                                                                      \
	tf_map_walk((fd), sizeof(((type *)0)->key), sizeof(((type *)0)->val), sizeof(type), offsetof(type, val), \
		    (void **)(out), (n), (what))

#endif /* TF_MAP_WALK_H */
