/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the fuzz targets share.  Each tests/fuzz/fuzz_NAME.c defines
 * LLVMFuzzerTestOneInput; it is built twice: with libFuzzer (make fuzz,
 * clang -fsanitize=fuzzer) and with tests/fuzz/replay.c as its main, a TAP
 * test of make test that feeds it every file of tests/fuzz/corpus/NAME and
 * tests/fuzz/regress/NAME.
 */
#ifndef TF_FUZZ_H
#define TF_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the code under test must keep: a crash (an artifact) if not. */
#define FUZZ_ASSERT(cond)							\
	do {									\
		if (!(cond)) {							\
			fprintf(stderr, "%s:%d: fuzz property failed: %s\n",	\
				__FILE__, __LINE__, #cond);			\
			abort();						\
		}								\
	} while (0)

/*
 * Formats with checksums: run(data) as it came, then run() on a copy that
 * fix() made checksum-right, so that mutations also reach what is behind
 * the checks.
 */
static inline void fuzz_raw_and_fixed(const uint8_t *data, size_t size,
				      void (*run)(const uint8_t *, size_t),
				      void (*fix)(uint8_t *, size_t))
{
	uint8_t *fixed = malloc(size ? size : 1);

	run(data, size);
	if (!fixed)
		return;
	for (size_t i = 0; i < size; i++)
		fixed[i] = data[i];
	fix(fixed, size);
	run(fixed, size);
	free(fixed);
}

#endif
