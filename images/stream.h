/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The image stream: a whole dump (its index and every connection's image) as
 * one self-contained, versioned, checksummed byte stream of frames (frame.h),
 * written without seeking, so it goes through a pipe (`tcpferry dump --out -
 * | tcpferry restore --in -`) as well as into one file (`--out FILE.tfs`).
 * images/FORMAT.md, "The image stream", is the reference:
 *
 *	HEAD   type 1  u16 image format (1), u16 flags (0), u32 conns, u64 time_ns
 *	INDEX  type 2  the index, exactly the bytes tf_index_encode makes (index.tfi)
 *	CONN   type 3  one per index entry, in its order: u16 name length, the
 *	               entry's file name, then exactly the bytes tf_image_encode
 *	               makes (the .tfc file)
 *	END    type 4  u32 frames before END, u32 crc32 of every byte before END
 *	(nothing after END)
 *
 * Every frame type is at version 1 (TF_STREAM_VERSION).  A reader validates
 * all of it, each image as tf_image_decode does, before it returns anything.
 * Private to tcpferry (like frame.h): the move engine sends the same INDEX
 * and CONN frames over its channel, hence the one-frame calls below.
 */
#ifndef TF_STREAM_H
#define TF_STREAM_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "tcpferry.h"

#define TF_STREAM_VERSION	1	/* of HEAD, INDEX, CONN and END; readers take 1..this */
#define TF_STREAM_SUFFIX	".tfs"	/* `dump --out NAME.tfs` writes a stream file */

enum tf_stream_frame_type {
	TF_SFR_HEAD	= 1,
	TF_SFR_INDEX	= 2,
	TF_SFR_CONN	= 3,
	TF_SFR_END	= 4,
	TF_SFR_LAST	= 31,	/* 1..31 are the image stream's; 32..127 the move protocol's */
};

#define TF_STREAM_HEAD_LEN	16
#define TF_STREAM_END_LEN	8
/* The largest payload of each type a reader takes. */
#define TF_STREAM_INDEX_MAX	(256u << 20)
#define TF_STREAM_CONN_MAX	(2u * ((1u << 30) + 4) + (64u << 10))
#define TF_STREAM_FRAME_MAX	TF_STREAM_CONN_MAX

/* "HEAD", "INDEX", "CONN", "END", or "type N" into buf. */
const char *tf_stream_frame_name(uint16_t type, char *buf, size_t len);

/* ---- one frame at a time (the move protocol's channel uses these too) ---------------- */

/* CONN payload for c, named name (an index entry's file name): malloc'ed. */
int tf_stream_conn_encode(const char *name, const struct tf_conn *c, uint8_t **payload,
			  size_t *len);
/* A CONN frame back: its type and version checked, the image fully validated. */
int tf_stream_conn_decode(const struct tf_frame *f, char name[64], struct tf_conn *c);
/* An INDEX frame (its payload is tf_index_encode's bytes) back, validated. */
int tf_stream_index_decode(const struct tf_frame *f, struct tf_index *ix);
/* 0 if this reader knows f's type (1..4) and version, else -EPROTO with the
 * way out in tf_strerror() ("version N; this tcpferry reads up to M; upgrade
 * the target"). */
int tf_stream_frame_check(const struct tf_frame *f);

/* ---- a whole stream, written ------------------------------------------------------------- */

struct tf_stream_writer {
	int fd;
	const struct tf_index *ix;
	uint32_t conns;		/* CONN frames written */
	uint32_t frames;	/* frames written */
	uint32_t crc;		/* crc32 of every byte so far */
	uint64_t off;		/* bytes so far */
	uint8_t *buf;		/* written in large pieces */
	size_t len, cap;
	int err;		/* the first failure: every later call returns it */
};

/*
 * HEAD and INDEX for ix; then one tf_stream_put_conn per entry of ix, in its
 * order (named after the entry, its endpoints checked against it); then
 * tf_stream_finish (END; everything flushed to fd).  Each returns 0 or
 * -errno (-EPIPE: the reader is gone; no SIGPIPE); tf_stream_writer_free in
 * every case.  ix must outlive the writer.
 */
int tf_stream_begin(struct tf_stream_writer *w, int fd, const struct tf_index *ix);
int tf_stream_put_conn(struct tf_stream_writer *w, const struct tf_conn *c);
int tf_stream_finish(struct tf_stream_writer *w);
/* What is gathered so far out to fd now (finish does it too). */
int tf_stream_flush(struct tf_stream_writer *w);
void tf_stream_writer_free(struct tf_stream_writer *w);

/* All of it at once: conns[i] is ix->entries[i]'s connection. */
int tf_stream_write(int fd, const struct tf_index *ix, const struct tf_conn *conns);

/* ---- a whole stream, read ---------------------------------------------------------------- */

/*
 * The frames of a stream handed in one at a time, from wherever they come
 * (a channel that carries other frames too): each is checked as it comes,
 * in its place (HEAD, INDEX, CONN per entry, END), its image decoded.
 * feed returns 0 (taken; more to come), 1 (it was END: the dump is whole and
 * valid) or -errno, the detail in tf_strerror() without the frame's number
 * (r->frames is it, counted from 1).  end: 0 if END came, else -EPIPE (cut
 * short) or -ENODATA (nothing came), with the detail.  take hands over the
 * index and the connections after END; free frees what is left.
 */
struct tf_stream_reader {
	uint32_t frames;	/* frames fed */
	uint32_t conns;		/* the HEAD's count */
	uint64_t time_ns;	/* the HEAD's */
	bool head, index, done;
	uint32_t nconn;		/* connections decoded */
	uint32_t crc;		/* crc32 of the stream's bytes so far (for END) */
	struct tf_index ix;
	struct tf_conn *c;	/* conns of them, nconn decoded */
};
void tf_stream_reader_init(struct tf_stream_reader *r);
int tf_stream_reader_feed(struct tf_stream_reader *r, const struct tf_frame *f);
int tf_stream_reader_end(struct tf_stream_reader *r);
int tf_stream_reader_take(struct tf_stream_reader *r, struct tf_index *ix, struct tf_conn **conns);
void tf_stream_reader_free(struct tf_stream_reader *r);

/*
 * A whole stream from fd (a pipe, a socket or a file; read to its end) or
 * from memory, fully validated: every frame, their order and count, the
 * END's count and crc, nothing after END, each image, and the index against
 * the images.  On success *conns is a malloc'ed array of ix->n connections
 * (free with tf_stream_conns_free, and tf_index_free(ix)); on failure
 * nothing is left to free and tf_strerror() says what and where:
 * "frame 4 (CONN) at offset 1234: ...".
 */
int tf_stream_read(int fd, struct tf_index *ix, struct tf_conn **conns);
int tf_stream_decode(const uint8_t *buf, size_t n, struct tf_index *ix, struct tf_conn **conns);
void tf_stream_conns_free(struct tf_conn *conns, uint32_t n);

/* ---- stream files ----------------------------------------------------------------------- */

/*
 * A new stream file at path, written as NAME.tmp-PID-N beside it (0600,
 * O_EXCL, O_NOFOLLOW) and renamed into place by commit after one fsync (and
 * the directory's): a reader never sees half a stream.  path must not exist
 * yet.  create returns the fd to write to; abort closes and removes it.
 */
struct tf_stream_file {
	char path[PATH_MAX];
	char tmp[PATH_MAX];
	int fd;
};
int tf_stream_file_create(struct tf_stream_file *sf, const char *path);
int tf_stream_file_commit(struct tf_stream_file *sf);
void tf_stream_file_abort(struct tf_stream_file *sf);

/* The stream at path ("-": standard input). */
int tf_stream_read_path(const char *path, struct tf_index *ix, struct tf_conn **conns);

#endif
