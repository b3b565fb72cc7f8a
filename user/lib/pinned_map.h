/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The tables the lock programs read (the lock table, the steer table) are
 * maps of lock.bpf.c's own object, pinned in a bpffs: made from the
 * skeleton with no program loaded (so they carry its BTF and bpftool prints
 * them by field name), pinned, and opened again by their pins.  What = the
 * table's name in messages ("lock table"), path = the pin.
 */
#ifndef TF_PINNED_MAP_H
#define TF_PINNED_MAP_H

#include <stdint.h>

struct lock_bpf;

/*
 * The object with its maps created, map_name's with max_entries, and no
 * program loaded: 0 and *out (lock_bpf__destroy it after taking the map
 * fds), or -errno with the message ("WHAT PATH: create map with N entries").
 */
int tf_pinned_maps_create(const char *what, const char *path, const char *map_name, uint32_t max_entries,
			  struct lock_bpf **out);

/* Pin fd at path: 0, -EEXIST without a message (somebody else made it first), or -errno. */
int tf_pinned_map_pin(int fd, const char *what, const char *path);

/* Opening the pin at path failed with errno err: the message a user meets, -err. */
int tf_pinned_map_open_failed(int err, const char *what, const char *path);

#endif
