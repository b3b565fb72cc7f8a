// SPDX-License-Identifier: BSD-2-Clause
/* Every entry of a BPF hash map (map_walk.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "internal.h"
#include "map_walk.h"

#define CHUNK 4096

struct walk {
	char *e;
	size_t cap, cnt, entry_size, val_off;
};

static int grow(struct walk *w, size_t more)
{
	size_t ncap = w->cap ? w->cap : CHUNK;
	char *ne;

	if (w->cnt + more <= w->cap)
		return 0;
	while (ncap < w->cnt + more)
		ncap *= 2;
	ne = realloc(w->e, ncap * w->entry_size);
	if (!ne)
		return -ENOMEM;
	w->e = ne;
	w->cap = ncap;
	return 0;
}

/* -EOPNOTSUPP: the kernel has no batch lookup for this map. */
static int by_batch(int fd, size_t key_size, size_t val_size, struct walk *w)
{
	char *keys = malloc(CHUNK * key_size), *vals = malloc(CHUNK * val_size);
	__u64 token = 0;	/* the htab batch cursor is a bucket number */
	bool first = true;
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
		__u32 got = CHUNK;
		int r = bpf_map_lookup_batch(fd, first ? NULL : &token, &token, keys, vals, &got, &opts);
		int saved = errno;

		if (r && saved != ENOENT) {
			/* At the first call only: a kernel without batch ops for this map. */
			err = first && (saved == EINVAL || saved == ENOTSUPP || saved == EOPNOTSUPP) ? -EOPNOTSUPP
												       : -saved;
			goto out;
		}
		first = false;
		if ((err = grow(w, got)))
			goto out;
		for (__u32 i = 0; i < got; i++, w->cnt++) {
			char *dst = w->e + w->cnt * w->entry_size;

			memcpy(dst, keys + i * key_size, key_size);
			memcpy(dst + w->val_off, vals + i * val_size, val_size);
		}
		if (r)	/* ENOENT: that was the last bucket */
			break;
	}
out:
	free(keys);
	free(vals);
	return err;
}

static int by_key(int fd, size_t key_size, struct walk *w)
{
	char *prev = NULL, *k = malloc(key_size), *next = malloc(key_size);
	int err = 0;

	if (!k || !next) {
		err = -ENOMEM;
		goto out;
	}
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		char *dst;

		if ((err = grow(w, 1)))
			goto out;
		dst = w->e + w->cnt * w->entry_size;
		/* Gone between the two calls: skipped. */
		if (bpf_map_lookup_elem(fd, next, dst + w->val_off) == 0) {
			memcpy(dst, next, key_size);
			w->cnt++;
		}
		memcpy(k, next, key_size);
		prev = k;
	}
out:
	free(k);
	free(next);
	return err;
}

int tf_map_walk(int fd, size_t key_size, size_t val_size, size_t entry_size, size_t val_off, void **out,
		size_t *n, const char *what)
{
	struct walk w = { .entry_size = entry_size, .val_off = val_off };
	int err = by_batch(fd, key_size, val_size, &w);

	if (err == -EOPNOTSUPP) {
		w.cnt = 0;
		err = by_key(fd, key_size, &w);
	}
	if (err) {
		free(w.e);
		*out = NULL;
		*n = 0;
		return tf_fail(-err, "%s: list its entries", what);
	}
	*out = w.e;
	*n = w.cnt;
	return 0;
}
