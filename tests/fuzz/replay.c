// SPDX-License-Identifier: BSD-2-Clause
/*
 * A fuzz target without libFuzzer, as a TAP test of make test: every file of
 * tests/fuzz/corpus/NAME (the seeds) and tests/fuzz/regress/NAME (each input
 * a fuzzer once crashed on, kept for ever) through the target's
 * LLVMFuzzerTestOneInput.  Built once per target with -DFUZZ_NAME="NAME"
 * (Makefile: FUZZ_TARGETS); under make test-asan it runs instrumented.
 *
 *	build/tests/fuzz/NAME.t              the seeds and the regressions
 *	build/tests/fuzz/NAME.t FILE|DIR...  those instead (an artifact to look at)
 *
 * The source tree is $TF_SRCDIR, or the current directory (make runs it there).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "tap.h"

#ifndef FUZZ_NAME
#error "build with -DFUZZ_NAME='\"target\"'"
#endif

struct paths {
	char **v;
	size_t n, cap;
};

static void add(struct paths *p, const char *path)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		p->v = realloc(p->v, p->cap * sizeof(*p->v));
		if (!p->v)
			bail_out("out of memory");
	}
	p->v[p->n++] = strdup(path);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* path's files (a directory's regular files, sorted), or path itself; missing: 0 if optional. */
static void collect(struct paths *p, const char *path, bool optional)
{
	struct paths here = {};
	struct dirent *d;
	struct stat st;
	DIR *dir;

	if (stat(path, &st)) {
		if (errno == ENOENT && optional)
			return;
		bail_out("%s: %s", path, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode)) {
		add(p, path);
		return;
	}
	dir = opendir(path);
	if (!dir)
		bail_out("%s: %s", path, strerror(errno));
	while ((d = readdir(dir))) {
		char f[PATH_MAX];

		if (d->d_name[0] == '.')
			continue;	/* ., .., .gitkeep */
		snprintf(f, sizeof(f), "%s/%s", path, d->d_name);
		if (!stat(f, &st) && S_ISREG(st.st_mode))
			add(&here, f);
	}
	closedir(dir);
	if (here.n)
		qsort(here.v, here.n, sizeof(*here.v), by_name);
	for (size_t i = 0; i < here.n; i++) {
		add(p, here.v[i]);
		free(here.v[i]);
	}
	free(here.v);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		bail_out("%s: %s", path, strerror(errno));
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			buf = realloc(buf, cap);
			if (!buf)
				bail_out("out of memory for %s", path);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	if (ferror(f))
		bail_out("%s: read error", path);
	fclose(f);
	*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	const char *src = getenv("TF_SRCDIR");
	struct paths p = {};
	char dir[PATH_MAX];

	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			collect(&p, argv[i], false);
	} else {
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", src ? src : ".", FUZZ_NAME);
		collect(&p, dir, false);
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/regress/%s", src ? src : ".", FUZZ_NAME);
		collect(&p, dir, true);
	}
	if (!p.n)
		skip_all("no inputs for " FUZZ_NAME);
	plan(p.n);
	for (size_t i = 0; i < p.n; i++) {
		size_t len;
		/* Exactly len bytes: a read past the input is an overrun under ASan. */
		uint8_t *data = slurp(p.v[i], &len), *exact = malloc(len ? len : 1);

		memcpy(exact, data, len);
		free(data);
		/* A crash or a failed property ends the test here (abort). */
		LLVMFuzzerTestOneInput(exact, len);
		ok(1, "%s: %s (%zu bytes)", FUZZ_NAME, p.v[i], len);
		free(exact);
		free(p.v[i]);
	}
	free(p.v);
	return done_testing();
}
