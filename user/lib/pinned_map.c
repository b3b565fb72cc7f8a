// SPDX-License-Identifier: BSD-2-Clause
/* The lock programs' tables as pinned maps (see pinned_map.h). */
#include <errno.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "internal.h"
#include "lock.skel.h"
#include "pinned_map.h"

int tf_pinned_maps_create(const char *what, const char *path, const char *map_name, uint32_t max_entries,
			  struct lock_bpf **out)
{
	struct lock_bpf *skel;
	struct bpf_program *prog;
	struct bpf_map *map;
	int err;

	*out = NULL;
	skel = lock_bpf__open();
	if (!skel)
		return tf_fail(errno, "%s %s: open BPF object", what, path);
	map = bpf_object__find_map_by_name(skel->obj, map_name);
	err = map ? bpf_map__set_max_entries(map, max_entries) : -ENOENT;
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, false);
	if (!err)
		err = lock_bpf__load(skel);
	if (err) {
		lock_bpf__destroy(skel);
		return tf_fail(-err, "%s %s: create map with %u entries", what, path, max_entries);
	}
	*out = skel;
	return 0;
}

int tf_pinned_map_pin(int fd, const char *what, const char *path)
{
	if (!bpf_obj_pin(fd, path))
		return 0;
	if (errno == EEXIST)
		return -EEXIST;
	return tf_fail(errno, "%s %s: pin", what, path);
}

int tf_pinned_map_open_failed(int err, const char *what, const char *path)
{
	if (err == ENOENT)
		return tf_failx(ENOENT, "%s %s: not there; run `tcpferry attach DEV` first", what, path);
	if (err == EACCES || err == EPERM)
		return tf_failx(err, "%s %s: permission denied; pins are root-only (run as root)", what, path);
	return tf_fail(err, "%s %s", what, path);
}
