// SPDX-License-Identifier: BSD-2-Clause
/*
 * The image stream reader (images/stream.c, tf_stream_decode: what restore
 * --in -, show and the move's target run on a whole dump in one stream) on
 * any bytes, as they are and with every crc made right (each frame's, each
 * CONN's image, END's count and crc).  It must refuse with a message or hand
 * back an index and one valid connection per entry; what it accepts must
 * write (tf_stream_write) into a stream that reads back to the same stream.
 * Read from a file and from a pipe (tf_stream_read), the same bytes get the
 * same verdict.
 */
#include <fcntl.h>
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

/*
 * The same bytes through tf_stream_read (restore --in FILE, --in -), which
 * buffers as it reads: from a file (memfd) and, when they fit in one, from a
 * pipe.  0 if both accept, 1 if both refuse; a disagreement is a failure.
 */
static int read_back(const uint8_t *data, size_t size)
{
	int verdict = -1;

	for (int pass = 0; pass < 2; pass++) {
		int fd[2] = { -1, -1 }, err;
		struct tf_index ix;
		struct tf_conn *conns;

		if (pass == 0) {
			fd[0] = memfd_create("fuzz-stream-in", MFD_CLOEXEC);
			FUZZ_ASSERT(fd[0] >= 0 && write(fd[0], data, size) == (ssize_t)size &&
				    lseek(fd[0], 0, SEEK_SET) == 0);
		} else {
			if (size > 65536)	/* (a pipe holds 64 KB: the write would block) */
				break;
			FUZZ_ASSERT(pipe(fd) == 0);
			FUZZ_ASSERT(fcntl(fd[1], F_SETPIPE_SZ, 65536) >= 0 &&
				    write(fd[1], data, size) == (ssize_t)size);
			close(fd[1]);
		}
		err = tf_stream_read(fd[0], &ix, &conns);
		close(fd[0]);
		if (!err) {
			tf_stream_conns_free(conns, ix.n);
			tf_index_free(&ix);
		}
		FUZZ_ASSERT(verdict < 0 || verdict == !!err);
		verdict = !!err;
	}
	return verdict;
}

static void stream(const uint8_t *data, size_t size)
{
	struct tf_index ix, ix2;
	struct tf_conn *conns, *conns2;
	uint8_t *w1 = NULL, *w2 = NULL;
	size_t l1, l2;
	int from_fd = read_back(data, size);

	if (tf_stream_decode(data, size, &ix, &conns)) {
		FUZZ_ASSERT(tf_strerror()[0]);
		FUZZ_ASSERT(from_fd == 1);
		return;
	}
	FUZZ_ASSERT(from_fd == 0);
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
