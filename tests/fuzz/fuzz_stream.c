// SPDX-License-Identifier: BSD-2-Clause
/*
 * The image stream reader (images/stream.c, tf_stream_decode: what restore
 * --in -, show and the move's target run on a whole dump in one stream) on
 * any bytes, as they are and with every crc made right (each frame's, each
 * CONN's image, END's count and crc).  It must refuse with a message or hand
 * back an index and one valid connection per entry; what it accepts must
 * write (tf_stream_write) into a stream that reads back to the same stream.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "stream.h"

/* The stream tf_stream_write makes of ix and conns, in *buf (malloc'ed). */
static int written(const struct tf_index *ix, const struct tf_conn *conns, uint8_t **buf, size_t *len)
{
	int fd = memfd_create("fuzz-stream", MFD_CLOEXEC), err;
	off_t n;

	if (fd < 0)
		return -1;
	err = tf_stream_write(fd, ix, conns);
	n = lseek(fd, 0, SEEK_END);
	*buf = NULL;
	if (!err && n >= 0 && (*buf = malloc(n ? n : 1)) && pread(fd, *buf, n, 0) == n)
		*len = n;
	else
		err = -1;
	close(fd);
	return err;
}

static void stream(const uint8_t *data, size_t size)
{
	struct tf_index ix, ix2;
	struct tf_conn *conns, *conns2;
	uint8_t *w1 = NULL, *w2 = NULL;
	size_t l1, l2;

	if (tf_stream_decode(data, size, &ix, &conns)) {
		FUZZ_ASSERT(tf_strerror()[0]);
		return;
	}
	FUZZ_ASSERT(ix.n == 0 || conns);
	FUZZ_ASSERT(written(&ix, conns, &w1, &l1) == 0);
	FUZZ_ASSERT(tf_stream_decode(w1, l1, &ix2, &conns2) == 0);
	FUZZ_ASSERT(ix2.n == ix.n);
	FUZZ_ASSERT(written(&ix2, conns2, &w2, &l2) == 0);
	FUZZ_ASSERT(l1 == l2 && !memcmp(w1, w2, l1));
	free(w1);
	free(w2);
	tf_stream_conns_free(conns, ix.n);
	tf_stream_conns_free(conns2, ix2.n);
	tf_index_free(&ix);
	tf_index_free(&ix2);
}

static void fix_crcs(uint8_t *p, size_t n)
{
	fuzz_fix_frame_crcs(p, n, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_raw_and_fixed(data, size, stream, fix_crcs);
	return 0;
}
