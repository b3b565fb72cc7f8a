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
#include <zlib.h>

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

static inline void fuzz_put32le(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static inline uint32_t fuzz_get32le(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* An image or an index (images/FORMAT.md), as far as its lengths go: every crc set to match. */
static inline void fuzz_fix_image_crcs(uint8_t *p, size_t n)
{
	size_t pos = 16;

	if (n < 16)
		return;
	fuzz_put32le(p + 12, crc32_z(0, p, 12));
	while (n - pos >= 12) {
		uint16_t type = p[pos] | p[pos + 1] << 8;
		uint32_t len = fuzz_get32le(p + pos + 4);

		if (len > n - pos - 12)
			return;
		if (type == 0x0001 && len == 8)		/* END: the crc of all before it */
			fuzz_put32le(p + pos + 12, crc32_z(0, p, pos));
		fuzz_put32le(p + pos + 8 + len, crc32_z(0, p + pos, 8 + len));
		pos += 12 + len;
	}
}

/*
 * Frames (images/frame.h), as far as their lengths go: each frame's crc set
 * to match; with stream (images/stream.h), also each CONN's image and END's
 * count of frames and crc of the stream before it.
 */
static inline void fuzz_fix_frame_crcs(uint8_t *p, size_t n, int stream)
{
	size_t off = 0;
	uint32_t frames = 0;

	while (n - off >= 16) {
		uint8_t *h = p + off;
		uint16_t type = h[4] | h[5] << 8;
		uint32_t len = fuzz_get32le(h + 8);

		if (len > n - off - 16)
			return;
		if (stream && type == 3 && len >= 2) {		/* CONN: u16 name length, name, image */
			size_t nl = h[16] | h[17] << 8;

			if (nl + 2 <= len)
				fuzz_fix_image_crcs(h + 18 + nl, len - 2 - nl);
		}
		if (stream && type == 4 && len == 8) {		/* END */
			fuzz_put32le(h + 16, frames);
			fuzz_put32le(h + 20, crc32_z(0, p, off));
		}
		fuzz_put32le(h + 12, len ? crc32_z(crc32_z(0, h, 12), h + 16, len) : crc32_z(0, h, 12));
		off += 16 + len;
		frames++;
	}
}

#endif
