// SPDX-License-Identifier: BSD-2-Clause
/* Bulk lock and unlock through the syscall programs (see lock_bulk.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "internal.h"
#include "lock_bulk.h"
#include "lock_bulk.skel.h"

struct tf_lock_bulk {
	struct lock_bulk_bpf *skel;
	struct tf_tuple *staged;	/* the staging array, mapped */
	int64_t *verdicts;		/* the verdicts array, mapped */
	bool unsupported;
};

static size_t map_len(size_t value_size)
{
	size_t page = 4096, len = TF_LOCK_BULK_CHUNK * value_size;

	return (len + page - 1) / page * page;
}

static int load(struct tf_lock_bulk **out, int map_fd, uint32_t capacity)
{
	struct tf_lock_bulk *b = *out;

	if (!b) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return -ENOMEM;
		*out = b;
	}
	if (b->skel)
		return 0;
	if (b->unsupported)
		return -EOPNOTSUPP;
	b->skel = lock_bulk_bpf__open();
	/* The programs work on the table itself: same definition, same map. */
	if (!b->skel || bpf_map__set_max_entries(b->skel->maps.locks, capacity) ||
	    bpf_map__reuse_fd(b->skel->maps.locks, map_fd) || lock_bulk_bpf__load(b->skel))
		goto unsupported;
	b->staged = mmap(NULL, map_len(sizeof(struct tf_tuple)), PROT_READ | PROT_WRITE, MAP_SHARED,
			 bpf_map__fd(b->skel->maps.staging), 0);
	b->verdicts = mmap(NULL, map_len(sizeof(int64_t)), PROT_READ | PROT_WRITE, MAP_SHARED,
			   bpf_map__fd(b->skel->maps.verdicts), 0);
	if (b->staged == MAP_FAILED || b->verdicts == MAP_FAILED)
		goto unsupported;
	return 0;
unsupported:
	tf_lock_bulk_unload(b);
	*out = calloc(1, sizeof(**out));
	if (*out)
		(*out)->unsupported = true;
	return -EOPNOTSUPP;
}

/* Run prog on k[0..n) (n <= TF_LOCK_BULK_CHUNK); v gets the verdicts. */
static int run(struct tf_lock_bulk *b, struct bpf_program *prog, const struct tf_tuple *k, uint32_t n,
	       struct tf_lock_bulk_args *args, int *v)
{
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args, .ctx_size_in = sizeof(*args));
	int done;

	memcpy(b->staged, k, n * sizeof(*k));
	args->n = n;
	if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts))
		return -errno;
	done = (int)opts.retval;
	if (done < 0)
		return -EINVAL;
	if (v) {
		if ((uint32_t)done == n)
			memset(v, 0, n * sizeof(*v));
		else
			for (uint32_t i = 0; i < n; i++)
				v[i] = (int)b->verdicts[i];
	}
	return done;
}

int tf_lock_bulk_add(struct tf_lock_bulk **b, int map_fd, uint32_t capacity, const struct tf_tuple *k,
		     size_t n, const struct tf_lock *value, uint64_t ttl_ns, int *results)
{
	struct tf_lock_bulk_args args = { .ttl_ns = ttl_ns, .value = *value };
	int *v = results ? results : malloc(n * sizeof(*v) + 1);
	size_t added = 0, done = 0;
	bool full = false;
	int err;

	if (!v)
		return tf_fail(ENOMEM, "lock %zu tuples", n);
	err = load(b, map_fd, capacity);
	if (err == -ENOMEM)
		err = tf_fail(ENOMEM, "lock %zu tuples", n);
	while (!err && !full && done < n) {
		uint32_t cnt = n - done > TF_LOCK_BULK_CHUNK ? TF_LOCK_BULK_CHUNK : n - done;
		int r = run(*b, (*b)->skel->progs.lock_bulk, k + done, cnt, &args, v + done);

		if (r < 0) {
			err = tf_fail(-r, "lock %zu tuples: the lock_bulk program", n);
			break;
		}
		for (uint32_t i = 0; r != (int)cnt && i < cnt; i++) {
			if (v[done + i] == -E2BIG || v[done + i] == -ENOMEM)
				full = true;
			else if (v[done + i] && v[done + i] != -EEXIST && !err)
				err = tf_fail(-v[done + i], "lock %zu tuples: add", n);
		}
		added += r;
		done += cnt;
	}
	if ((full || err) && err != -EOPNOTSUPP) {
		/* All or nothing: take back what this call added. */
		for (size_t i = 0; i < done; i++)
			if (v[i] == 0)
				bpf_map_delete_elem(map_fd, &k[i]);
		if (full)
			err = tf_failx(ENOSPC, "lock %zu tuples: table full (%u entries); raise --max-locks", n,
				       capacity);
	}
	if (v != results)
		free(v);
	return err ? err : (int)added;
}

int tf_lock_bulk_del(struct tf_lock_bulk **b, int map_fd, uint32_t capacity, const struct tf_tuple *k,
		     size_t n, int *results)
{
	struct tf_lock_bulk_args args = {};
	size_t removed = 0, done = 0;
	int err = load(b, map_fd, capacity);

	while (!err && done < n) {
		uint32_t cnt = n - done > TF_LOCK_BULK_CHUNK ? TF_LOCK_BULK_CHUNK : n - done;
		int r = run(*b, (*b)->skel->progs.unlock_bulk, k + done, cnt, &args, results ? results + done : NULL);

		if (r < 0)
			return tf_fail(-r, "unlock %zu tuples: the unlock_bulk program", n);
		removed += r;
		done += cnt;
	}
	return err ? err : (int)removed;
}

bool tf_lock_bulk_loaded(const struct tf_lock_bulk *b)
{
	return b && b->skel;
}

void tf_lock_bulk_unload(struct tf_lock_bulk *b)
{
	if (!b)
		return;
	if (b->staged && b->staged != MAP_FAILED)
		munmap(b->staged, map_len(sizeof(struct tf_tuple)));
	if (b->verdicts && b->verdicts != MAP_FAILED)
		munmap(b->verdicts, map_len(sizeof(int64_t)));
	lock_bulk_bpf__destroy(b->skel);
	free(b);
}
