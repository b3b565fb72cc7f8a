/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Frames: the unit of every tcpferry byte stream (the image stream of
 * images/stream.c, the move protocol of user/move).  A frame is a 16-byte
 * header, then the payload; every integer little-endian:
 *
 *	magic   u32  0x52464654 ("TFFR" as bytes on the wire)
 *	type    u16  what the payload is: 1..31 the image stream, 32..127 the
 *	             move protocol
 *	version u16  of that type's payload
 *	len     u32  payload bytes
 *	crc     u32  crc32 (zlib) of the 12 header bytes before it, then the payload
 *
 * images/FORMAT.md, "Frames", is the reference.  Every function returns 0 or
 * a negative errno; the frame errors are
 *
 *	-EPROTO    bad magic (not a tcpferry frame)
 *	-EMSGSIZE  len over the reader's max_len (refused before the payload is read)
 *	-EBADMSG   crc mismatch
 *	-EPIPE     truncated: EOF inside a frame (or, writing, the reader is gone)
 *	-ENODATA   closed: a clean EOF before a header's first byte
 *	-ETIMEDOUT timed out
 *
 * and tf_strerror() (tcpferry.h) then holds the detail.
 */
#ifndef TF_FRAME_H
#define TF_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TF_FRAME_MAGIC   0x52464654u   /* "TFFR" as bytes on the wire */
#define TF_FRAME_HDR_LEN 16

struct tf_frame {
	uint16_t type;      /* what the payload is; types 1..31: image stream, 32..127: move protocol */
	uint16_t version;   /* of that type's payload */
	uint32_t len;       /* payload bytes */
	uint8_t *data;      /* malloc'ed payload (NULL when len is 0), for the caller to free */
};

/* Fills hdr for a frame of p (len bytes): crc over the header, then p. */
int tf_frame_encode(uint16_t type, uint16_t version, const void *p, uint32_t len,
		    uint8_t hdr[TF_FRAME_HDR_LEN]);
/*
 * The whole frame to fd (writev; EINTR, short writes and non-blocking fds
 * handled).  0 or -errno; -EPIPE when the reader is gone (SIGPIPE is blocked
 * around the write and a SIGPIPE it raised is taken back: no signal).
 */
int tf_frame_write(int fd, uint16_t type, uint16_t version, const void *p, uint32_t len);
/*
 * Bytes that already are whole frames (headers from tf_frame_encode), written
 * as tf_frame_write writes: for a writer that batches many small frames.
 */
int tf_frame_write_raw(int fd, const void *buf, size_t n);
/*
 * Reads one whole frame, and not a byte more.  Refused before anything is
 * allocated: bad magic (-EPROTO, as soon as its 4 bytes are in), len >
 * max_len (-EMSGSIZE: the payload is not read); then a crc mismatch
 * (-EBADMSG), EOF inside the frame (-EPIPE), a clean EOF before the first
 * byte (-ENODATA).  timeout_ms < 0 waits for ever; otherwise the whole frame
 * must arrive within timeout_ms (poll), else -ETIMEDOUT.  On error *f is
 * left empty.
 */
int tf_frame_read(int fd, struct tf_frame *f, uint32_t max_len, int timeout_ms);
/*
 * The same checks on a buffer of n bytes (a stream read into memory):
 * *used = the bytes the frame took.  n == 0 is -ENODATA, a frame cut by the
 * end of buf -EPIPE.  The payload is copied into f->data.
 */
int tf_frame_parse(const uint8_t *buf, size_t n, struct tf_frame *f, uint32_t max_len,
		   size_t *used);
void tf_frame_free(struct tf_frame *f);

/*
 * For streams of many frames, with a crc32 over all of their bytes kept
 * (*running, as crc32_z would give it): encode and view also move *running
 * over the frame's 16 header bytes and its payload, without a second pass
 * over a long payload.  view is tf_frame_parse without the copy: f->data
 * points into buf (do not free it), valid as long as buf is.  running may
 * be NULL.
 */
int tf_frame_encode_running(uint16_t type, uint16_t version, const void *p, uint32_t len,
			    uint8_t hdr[TF_FRAME_HDR_LEN], uint32_t *running);
int tf_frame_view(const uint8_t *buf, size_t n, struct tf_frame *f, uint32_t max_len, size_t *used,
		  uint32_t *running);
/* "bad magic", "too long", "bad crc", "truncated", "closed", "timed out", else strerror. */
const char *tf_frame_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
