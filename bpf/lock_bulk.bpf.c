// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Many locks in one system call: BPF_PROG_TYPE_SYSCALL programs that user
 * space runs with BPF_PROG_RUN (user/lib/lock_bulk.c).  The tuples arrive in
 * `staging`, an array user space has mapped into its memory and writes
 * directly (no copy through the syscall, no per-tuple usercopy checks);
 * lock_bulk walks them with bpf_loop and adds each with BPF_NOEXIST, so a
 * lock that is already there -- taken by anyone, earlier or in the same list
 * -- is reported in `verdicts` and never overwritten, unless it has expired
 * (then it drops nothing and is replaced); unlock_bulk deletes
 * each.  The map batch calls cannot refuse an existing key (elem_flags takes
 * only BPF_F_LOCK): without lock_bulk a bulk lock must read the table first.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "map_types.h"
#include "lock_maps.h"

#define EEXIST 17	/* vmlinux.h has no errno names */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, TF_LOCK_BULK_CHUNK);
	__type(key, __u32);
	__type(value, struct tf_tuple);
} staging SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, TF_LOCK_BULK_CHUNK);
	__type(key, __u32);
	__type(value, __s64);	/* array values are 8-byte slots anyway */
} verdicts SEC(".maps");

struct walk {
	struct tf_lock value;
	__u32 added;
};

static long add_one(__u32 i, void *data)
{
	struct walk *w = data;
	struct tf_tuple *k = bpf_map_lookup_elem(&staging, &i);
	__s64 *verdict = bpf_map_lookup_elem(&verdicts, &i);
	long err;

	if (!k || !verdict)
		return 1;
	err = bpf_map_update_elem(&locks, k, &w->value, BPF_NOEXIST);
	if (err == -EEXIST) {
		/* An expired lock drops nothing (lock.bpf.c): it counts as absent. */
		struct tf_lock *old = bpf_map_lookup_elem(&locks, k);

		if (old && old->expires_ns && w->value.since_ns > old->expires_ns) {
			bpf_map_delete_elem(&locks, k);
			err = bpf_map_update_elem(&locks, k, &w->value, BPF_NOEXIST);
		}
	}
	*verdict = err;
	if (!err)
		w->added++;
	return 0;
}

/* ctx: struct tf_lock_bulk_args.  Returns how many were added. */
SEC("syscall")
int lock_bulk(struct tf_lock_bulk_args *args)
{
	struct walk w = { .value = args->value };
	__u32 n = args->n;

	if (n > TF_LOCK_BULK_CHUNK)
		return -1;
	w.value.since_ns = bpf_ktime_get_ns();
	w.value.expires_ns = args->ttl_ns ? w.value.since_ns + args->ttl_ns : 0;
	bpf_loop(n, add_one, &w, 0);
	return w.added;
}

static long del_one(__u32 i, void *data)
{
	__u32 *removed = data;
	struct tf_tuple *k = bpf_map_lookup_elem(&staging, &i);
	__s64 *verdict = bpf_map_lookup_elem(&verdicts, &i);
	long err;

	if (!k || !verdict)
		return 1;
	err = bpf_map_delete_elem(&locks, k);
	*verdict = err;
	if (!err)
		(*removed)++;
	return 0;
}

/* ctx: struct tf_lock_bulk_args (only n).  Returns how many were removed. */
SEC("syscall")
int unlock_bulk(struct tf_lock_bulk_args *args)
{
	__u32 n = args->n, removed = 0;

	if (n > TF_LOCK_BULK_CHUNK)
		return -1;
	bpf_loop(n, del_one, &removed, 0);
	return removed;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
