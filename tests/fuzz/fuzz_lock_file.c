// SPDX-License-Identifier: BSD-2-Clause
/*
 * The tuple list of `lock add|del --file F` (user/cli/lock_file.c) on any
 * bytes, through a FILE* as the command reads it, with a small tuple limit
 * (so that the limit is reached too).  It must accept at most that many
 * tuples, or refuse with a message that names a line; each tuple it accepts
 * prints and parses back to itself.
 */
#include <string.h>

#include "fuzz.h"
#include "lock_file.h"

#define MAX_TUPLES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tf_tuple *v;
	size_t n;
	FILE *f;
	int err;

	f = fmemopen(size ? (void *)data : "", size, "r");
	if (!f)
		return 0;
	err = lock_file_read(f, MAX_TUPLES, &v, &n);
	fclose(f);
	if (err) {
		FUZZ_ASSERT(err < 0 && !strncmp(tf_strerror(), "line ", 5));
		return 0;
	}
	FUZZ_ASSERT(n <= MAX_TUPLES && (n == 0 || v));
	for (size_t i = 0; i < n; i++) {
		char s[TF_TUPLESTRLEN], l[TF_TUPLESTRLEN], p[TF_TUPLESTRLEN];
		struct tf_tuple back;

		/* "L -> P" back into L and P */
		tf_tuple_str(&v[i], s, sizeof(s));
		FUZZ_ASSERT(sscanf(s, "%63s -> %63s", l, p) == 2);
		FUZZ_ASSERT(tf_tuple_parse(l, p, &back) == 0);
		FUZZ_ASSERT(!memcmp(&back, &v[i], sizeof(back)));
	}
	free(v);
	return 0;
}
