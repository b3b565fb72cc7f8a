// SPDX-License-Identifier: BSD-2-Clause
/*
 * The image stream (stream.h; images/FORMAT.md, "The image stream"): HEAD,
 * INDEX, one CONN per connection, END, each a frame (frame.c).  The INDEX
 * and CONN payloads are the very bytes of index.tfi and of each .tfc file,
 * decoded by the same codec (image.c), so the two forms of a dump carry the
 * same validated records.  Written in large pieces without seeking; read
 * through one buffer, frame by frame, every check done before the reader
 * returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "image_format.h"
#include "internal.h"
#include "le.h"
#include "stream.h"

#define CHUNK (1u << 20)	/* what the writer gathers and the reader asks for at once */

const char *tf_stream_frame_name(uint16_t type, char *buf, size_t len)
{
	switch (type) {
	case TF_SFR_HEAD:	return "HEAD";
	case TF_SFR_INDEX:	return "INDEX";
	case TF_SFR_CONN:	return "CONN";
	case TF_SFR_END:	return "END";
	}
	snprintf(buf, len, "type %u", type);
	return buf;
}

int tf_stream_frame_check(const struct tf_frame *f)
{
	char nb[16];
	const char *name = tf_stream_frame_name(f->type, nb, sizeof(nb));

	if (f->type > TF_SFR_LAST && f->type <= 127)
		return tf_failx(EPROTO, "frame type %u belongs to the move protocol, not to an image stream",
				f->type);
	if (f->type == 0 || f->type > TF_SFR_END)
		return tf_failx(EPROTO, "frame type %u is unknown to this tcpferry (it reads image stream "
				"frames 1..%u; written by a newer tcpferry?); upgrade the target", f->type,
				TF_SFR_END);
	if (f->version > TF_STREAM_VERSION)
		return tf_failx(EPROTO, "%s version %u; this tcpferry reads up to %u; upgrade the target",
				name, f->version, TF_STREAM_VERSION);
	if (f->version == 0)
		return tf_failx(EPROTO, "%s version 0, which no tcpferry writes", name);
	return 0;
}

static bool same_endpoint(const struct tf_endpoint *a, const struct tf_endpoint *b)
{
	return a->family == b->family && a->port == b->port && a->scope_id == b->scope_id &&
	       !memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16);
}

/* c is the connection the index entry e names (the same tuple). */
static int check_entry(const struct tf_index_entry *e, const struct tf_conn *c)
{
	char a[TF_ADDRSTRLEN], b[TF_ADDRSTRLEN], x[TF_ADDRSTRLEN], y[TF_ADDRSTRLEN];

	if (same_endpoint(&e->local, &c->local) && same_endpoint(&e->peer, &c->peer))
		return 0;
	return tf_failx(EINVAL, "%s holds %s -> %s but the index lists %s -> %s for it", e->file,
			tf_endpoint_str(&c->local, a, sizeof(a)), tf_endpoint_str(&c->peer, b, sizeof(b)),
			tf_endpoint_str(&e->local, x, sizeof(x)), tf_endpoint_str(&e->peer, y, sizeof(y)));
}

/* ---- one frame at a time ------------------------------------------------------------------ */

/* A name as an index entry has it: 1..63 bytes of plain text, no '/', not . or .. */
static bool plain_name(const uint8_t *p, size_t n)
{
	if (n == 0 || n > 63 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f || p[i] == '/')
			return false;
	return true;
}

int tf_stream_conn_encode(const char *name, const struct tf_conn *c, uint8_t **payload,
			  size_t *len)
{
	size_t nl = strnlen(name, 64), il;
	uint8_t *img, *p;
	int err;

	if (!plain_name((const uint8_t *)name, nl))
		return tf_failx(EINVAL, "CONN: name '%.*s' is not a plain name of 1..63 bytes", (int)nl, name);
	if ((err = tf_image_encode(c, &img, &il))) {
		tf_error_prefix("CONN %s", name);
		return err;
	}
	if (2 + nl + il > TF_STREAM_CONN_MAX) {
		free(img);
		return tf_failx(EFBIG, "CONN %s: %zu bytes, over the limit of %u", name, 2 + nl + il,
				TF_STREAM_CONN_MAX);
	}
	p = malloc(2 + nl + il);
	if (!p) {
		free(img);
		return tf_failx(ENOMEM, "CONN %s: no memory for %zu bytes", name, 2 + nl + il);
	}
	set16(p, nl);
	memcpy(p + 2, name, nl);
	memcpy(p + 2 + nl, img, il);
	free(img);
	*payload = p;
	*len = 2 + nl + il;
	return 0;
}

static int want_type(const struct tf_frame *f, uint16_t type)
{
	char a[16], b[16];
	int err = tf_stream_frame_check(f);

	if (err)
		return err;
	if (f->type != type)
		return tf_failx(EINVAL, "a %s frame where %s was expected",
				tf_stream_frame_name(f->type, a, sizeof(a)), tf_stream_frame_name(type, b, sizeof(b)));
	return 0;
}

int tf_stream_conn_decode(const struct tf_frame *f, char name[64], struct tf_conn *c)
{
	uint16_t nl;
	int err;

	memset(c, 0, sizeof(*c));
	name[0] = '\0';
	if ((err = want_type(f, TF_SFR_CONN)))
		return err;
	if (f->len < 2)
		return tf_failx(EINVAL, "CONN of %u bytes: too short to hold a name", f->len);
	nl = get16(f->data);
	if ((uint32_t)nl + 2 > f->len || !plain_name(f->data + 2, nl))
		return tf_failx(EINVAL, "CONN: its name (%u bytes) is not a plain name of 1..63 bytes "
				"within the frame", nl);
	memcpy(name, f->data + 2, nl);
	name[nl] = '\0';
	if ((err = tf_image_decode(f->data + 2 + nl, f->len - 2 - nl, c)))
		tf_error_prefix("CONN %s", name);
	return err;
}

int tf_stream_index_decode(const struct tf_frame *f, struct tf_index *ix)
{
	int err;

	memset(ix, 0, sizeof(*ix));
	if ((err = want_type(f, TF_SFR_INDEX)))
		return err;
	return tf_index_decode(f->data, f->len, ix);
}

/* ---- writing ------------------------------------------------------------------------------ */

static int w_flush(struct tf_stream_writer *w)
{
	if (!w->err && w->len)
		w->err = tf_frame_write_raw(w->fd, w->buf, w->len);
	w->len = 0;
	return w->err;
}

static int w_frame(struct tf_stream_writer *w, uint16_t type, const uint8_t *p, size_t len)
{
	uint8_t hdr[TF_FRAME_HDR_LEN];
	size_t whole = TF_FRAME_HDR_LEN + len;

	if (w->err)
		return w->err;
	if (len > TF_STREAM_FRAME_MAX)
		return w->err = tf_failx(EFBIG, "frame of %zu bytes, over the limit of %u", len,
					 TF_STREAM_FRAME_MAX);
	if ((w->err = tf_frame_encode_running(type, TF_STREAM_VERSION, p, len, hdr, &w->crc)))
		return w->err;
	if (w->len + whole > w->cap && w_flush(w))
		return w->err;
	if (whole <= w->cap) {
		memcpy(w->buf + w->len, hdr, sizeof(hdr));
		if (len)
			memcpy(w->buf + w->len + sizeof(hdr), p, len);
		w->len += whole;
	} else if ((w->err = tf_frame_write_raw(w->fd, hdr, sizeof(hdr))) ||
		   (w->err = tf_frame_write_raw(w->fd, p, len))) {
		return w->err;
	}
	w->frames++;
	w->off += whole;
	return 0;
}

int tf_stream_begin(struct tf_stream_writer *w, int fd, const struct tf_index *ix)
{
	uint8_t head[TF_STREAM_HEAD_LEN], *idx;
	size_t il;

	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->ix = ix;
	w->buf = malloc(CHUNK);
	if (!w->buf)
		return w->err = tf_failx(ENOMEM, "stream: no memory");
	w->cap = CHUNK;
	set16(head, TF_FORMAT_VERSION);
	set16(head + 2, 0);
	set32(head + 4, ix->n);
	set64(head + 8, ix->time_ns);
	if ((w->err = tf_index_encode(ix, &idx, &il)))
		return w->err;
	if (!w_frame(w, TF_SFR_HEAD, head, sizeof(head)))
		w_frame(w, TF_SFR_INDEX, idx, il);
	free(idx);
	return w->err;
}

int tf_stream_put_conn(struct tf_stream_writer *w, const struct tf_conn *c)
{
	const struct tf_index_entry *e;
	uint8_t *p;
	size_t n;

	if (w->err)
		return w->err;
	if (w->conns >= w->ix->n)
		return w->err = tf_failx(EINVAL, "stream: more connections than the %u of its index",
					 w->ix->n);
	e = &w->ix->entries[w->conns];
	if ((w->err = check_entry(e, c)) ||
	    (w->err = tf_stream_conn_encode(e->file, c, &p, &n)))
		return w->err;
	if (!w_frame(w, TF_SFR_CONN, p, n))
		w->conns++;
	free(p);
	return w->err;
}

int tf_stream_finish(struct tf_stream_writer *w)
{
	uint8_t end[TF_STREAM_END_LEN];

	if (w->err)
		return w->err;
	if (w->conns != w->ix->n)
		return w->err = tf_failx(EINVAL, "stream: %u of the %u connections of its index written",
					 w->conns, w->ix->n);
	set32(end, w->frames);
	set32(end + 4, w->crc);
	if (!w_frame(w, TF_SFR_END, end, sizeof(end)))
		w_flush(w);
	return w->err;
}

int tf_stream_flush(struct tf_stream_writer *w)
{
	return w_flush(w);
}

void tf_stream_writer_free(struct tf_stream_writer *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

int tf_stream_write(int fd, const struct tf_index *ix, const struct tf_conn *conns)
{
	struct tf_stream_writer w;
	int err = tf_stream_begin(&w, fd, ix);

	for (uint32_t i = 0; !err && i < ix->n; i++)
		err = tf_stream_put_conn(&w, &conns[i]);
	if (!err)
		err = tf_stream_finish(&w);
	tf_stream_writer_free(&w);
	return err;
}

/* ---- reading ------------------------------------------------------------------------------ */

struct sreader {
	int fd;			/* -1: the whole stream is in buf already */
	uint8_t *buf;
	size_t start, end, cap;	/* unread bytes: buf[start, end) */
	bool eof;
	uint64_t off;		/* stream offset of buf[start] */
};

/*
 * Room in buf for one more read.  buf grows (doubling) only when it is full,
 * as the bytes come, never to what a frame header claims (want, for the
 * message): 24 bytes claiming a 2 GB frame grew it to 4 GB before the read
 * that found the end.
 */
static int sr_room(struct sreader *r, size_t want)
{
	size_t ncap;
	void *p;

	if (r->end < r->cap)
		return 0;
	if (r->start) {		/* (buf is still NULL before the first read: no arithmetic on it) */
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
		if (r->end < r->cap)
			return 0;
	}
	ncap = r->cap ? 2 * r->cap : CHUNK;
	p = realloc(r->buf, ncap);
	if (!p)
		return tf_failx(ENOMEM, "no memory for a frame of %zu bytes", want);
	r->buf = p;
	r->cap = ncap;
	return 0;
}

/* want bytes from start in buf, or fewer at the end of the stream: 0 or -errno. */
static int sr_want(struct sreader *r, size_t want)
{
	while (r->end - r->start < want && !r->eof) {
		ssize_t n;
		int err;

		if ((err = sr_room(r, want)))
			return err;
		n = read(r->fd, r->buf + r->end, r->cap - r->end);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pf = { .fd = r->fd, .events = POLLIN };

			poll(&pf, 1, -1);
			continue;
		}
		if (n < 0)
			return tf_fail(errno, "reading the stream at offset %" PRIu64,
				       r->off + (r->end - r->start));
		if (n == 0)
			r->eof = true;
		r->end += n;
	}
	return 0;
}

/*
 * The next frame (*used bytes, now behind start), *crc moved over its bytes:
 * 0, -ENODATA at a clean end, or -errno.  f->data points into the buffer:
 * valid until the next call, not to be freed.
 */
static int sr_frame(struct sreader *r, struct tf_frame *f, size_t *used, uint32_t *crc)
{
	const uint8_t magic[4] = { 'T', 'F', 'F', 'R' };
	size_t avail;
	int err;

	memset(f, 0, sizeof(*f));
	if ((err = sr_want(r, TF_FRAME_HDR_LEN)))
		return err;
	avail = r->end - r->start;
	/* The whole frame in, unless its header is already wrong. */
	if (avail >= TF_FRAME_HDR_LEN && !memcmp(r->buf + r->start, magic, 4)) {
		uint32_t len = get32(r->buf + r->start + 8);

		if (len <= TF_STREAM_FRAME_MAX &&
		    (err = sr_want(r, TF_FRAME_HDR_LEN + (size_t)len)))
			return err;
		avail = r->end - r->start;
	}
	if ((err = tf_frame_view(r->buf + r->start, avail, f, TF_STREAM_FRAME_MAX, used, crc)))
		return err;
	r->start += *used;
	r->off += *used;
	return 0;
}

/* What the first bytes are when they are not a stream: a file of the directory form? */
static int not_a_stream(const struct sreader *r, int err)
{
	const uint8_t *p = r->buf + r->start;
	size_t n = r->end - r->start;

	if (n >= TF_MAGIC_LEN && !memcmp(p, TF_IMAGE_MAGIC, TF_MAGIC_LEN))
		return tf_failx(EPROTO, "a connection image (.tfc), not an image stream; a restore takes "
				"its dump directory");
	if (n >= TF_MAGIC_LEN && !memcmp(p, TF_INDEX_MAGIC, TF_MAGIC_LEN))
		return tf_failx(EPROTO, "a dump directory's index.tfi, not an image stream; a restore "
				"takes the directory");
	if (err == -ENODATA)
		return tf_failx(ENODATA, "empty: not a single frame (did the dump fail?)");
	return err;
}

/* ---- the frames of a stream, one at a time ------------------------------------------------ */

void tf_stream_reader_init(struct tf_stream_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void tf_stream_reader_free(struct tf_stream_reader *r)
{
	tf_stream_conns_free(r->c, r->nconn);
	tf_index_free(&r->ix);
	memset(r, 0, sizeof(*r));
}

static int on_head(struct tf_stream_reader *r, const struct tf_frame *f)
{
	if (r->head)
		return tf_failx(EINVAL, "a second HEAD");
	if (f->len != TF_STREAM_HEAD_LEN)
		return tf_failx(EINVAL, "HEAD of %u bytes, expected %u", f->len, TF_STREAM_HEAD_LEN);
	if (get16(f->data) != TF_FORMAT_VERSION)
		return tf_failx(EPROTO, "HEAD says the images inside are of format version %u; this "
				"tcpferry reads version %u%s", get16(f->data), TF_FORMAT_VERSION,
				get16(f->data) > TF_FORMAT_VERSION ? "; upgrade the target" : "");
	r->conns = get32(f->data + 4);
	r->time_ns = get64(f->data + 8);
	if (r->conns > TF_INDEX_MAX_ENTRIES)
		return tf_failx(EFBIG, "HEAD counts %u connections, more than %u", r->conns,
				TF_INDEX_MAX_ENTRIES);
	r->head = true;		/* the connections' room comes with the INDEX that lists them */
	return 0;
}

static int on_index(struct tf_stream_reader *r, const struct tf_frame *f)
{
	int err;

	if (r->index)
		return tf_failx(EINVAL, "a second INDEX");
	if ((err = tf_stream_index_decode(f, &r->ix)))
		return err;
	r->index = true;
	if (r->ix.n != r->conns)
		return tf_failx(EINVAL, "the INDEX lists %u connections, the HEAD counts %u", r->ix.n, r->conns);
	if (r->ix.time_ns != r->time_ns)
		return tf_failx(EINVAL, "the INDEX's dump time %" PRIu64 " is not the HEAD's %" PRIu64,
				r->ix.time_ns, r->time_ns);
	/* Here, not at the HEAD: a count costs memory once an INDEX's entries back it (a 32-byte
	 * HEAD counting 2^20 connections made 1 GB of them). */
	r->c = calloc(r->conns ? r->conns : 1, sizeof(*r->c));
	if (!r->c)
		return tf_failx(ENOMEM, "no memory for %u connections", r->conns);
	return 0;
}

static int on_conn(struct tf_stream_reader *r, const struct tf_frame *f)
{
	const struct tf_index_entry *e;
	char name[64];
	int err;

	if (!r->index)
		return tf_failx(EINVAL, "a CONN before the INDEX");
	if (r->nconn >= r->ix.n)
		return tf_failx(EINVAL, "a CONN beyond the %u connections of the index", r->ix.n);
	e = &r->ix.entries[r->nconn];
	if ((err = tf_stream_conn_decode(f, name, &r->c[r->nconn])))
		return err;
	r->nconn++;	/* decoded: freed with the others */
	if (strcmp(name, e->file))
		return tf_failx(EINVAL, "CONN %s where the index lists %s (connection %u of %u): reordered "
				"or duplicated", name, e->file, r->nconn, r->ix.n);
	return check_entry(e, &r->c[r->nconn - 1]);
}

static int on_end(struct tf_stream_reader *r, const struct tf_frame *f)
{
	if (!r->index)
		return tf_failx(EINVAL, "END before the INDEX");
	if (r->nconn != r->ix.n)
		return tf_failx(EINVAL, "END after %u of the %u connections of the index: CONN frames are "
				"missing", r->nconn, r->ix.n);
	if (f->len != TF_STREAM_END_LEN)
		return tf_failx(EINVAL, "END of %u bytes, expected %u", f->len, TF_STREAM_END_LEN);
	if (get32(f->data) != r->frames - 1)
		return tf_failx(EINVAL, "END counts %u frames before it, the stream has %u", get32(f->data),
				r->frames - 1);
	if (get32(f->data + 4) != r->crc)
		return tf_failx(EINVAL, "END: the crc of the whole stream does not match (frames lost, "
				"added or reordered)");
	r->done = true;
	return 1;
}

/* f, whose bytes bring the stream's crc to crc_after. */
static int feed(struct tf_stream_reader *r, const struct tf_frame *f, uint32_t crc_after)
{
	char nb[16];
	int err;

	r->frames++;
	if (r->done)
		return tf_failx(EINVAL, "a %s frame after END (the stream ends with END)",
				tf_stream_frame_name(f->type, nb, sizeof(nb)));
	if ((err = tf_stream_frame_check(f)))
		return err;
	if (!r->head && f->type != TF_SFR_HEAD)
		return tf_failx(EPROTO, "not an image stream: the first frame is %s, not HEAD",
				tf_stream_frame_name(f->type, nb, sizeof(nb)));
	switch (f->type) {
	case TF_SFR_HEAD:	err = on_head(r, f); break;
	case TF_SFR_INDEX:	err = on_index(r, f); break;
	case TF_SFR_CONN:	err = on_conn(r, f); break;
	default:		err = on_end(r, f); break;	/* END: the checks above leave no other */
	}
	r->crc = crc_after;
	return err;
}

int tf_stream_reader_feed(struct tf_stream_reader *r, const struct tf_frame *f)
{
	uint8_t hdr[TF_FRAME_HDR_LEN];
	uint32_t crc = r->crc;
	int err;

	if ((err = tf_frame_encode_running(f->type, f->version, f->data, f->len, hdr, &crc)))
		return err;
	return feed(r, f, crc);
}

int tf_stream_reader_end(struct tf_stream_reader *r)
{
	if (r->done)
		return 0;
	if (!r->frames)
		return tf_failx(ENODATA, "empty: not a single frame (did the dump fail?)");
	return tf_failx(EPIPE, "truncated: no END frame after %u frames (%u of %u connections in): "
			"the stream was cut short", r->frames, r->nconn, r->conns);
}

int tf_stream_reader_take(struct tf_stream_reader *r, struct tf_index *ix, struct tf_conn **conns)
{
	if (!r->done)
		return tf_failx(EINVAL, "the stream is not whole yet (no END)");
	*ix = r->ix;
	*conns = r->c;
	memset(r, 0, sizeof(*r));
	return 0;
}

/* ---- a whole stream from bytes ------------------------------------------------------------ */

static int read_stream(struct sreader *rd, struct tf_index *ix, struct tf_conn **conns)
{
	struct tf_stream_reader r;
	int err = 0;

	memset(ix, 0, sizeof(*ix));
	*conns = NULL;
	tf_stream_reader_init(&r);
	while (!err && !r.done) {
		uint64_t off = rd->off;
		struct tf_frame f;
		size_t used = 0;
		uint32_t crc = r.crc;

		err = sr_frame(rd, &f, &used, &crc);
		if (err == -ENODATA && r.frames) {
			err = tf_failx(EPIPE, "truncated: the stream ends at offset %" PRIu64 " with no END "
				       "frame (%u of %u connections in): it was cut short", off, r.nconn,
				       r.conns);
		} else if (err && !r.frames) {
			err = not_a_stream(rd, err);
		} else if (!err) {
			err = feed(&r, &f, crc);	/* f's data is in rd's buffer: nothing to free */
			err = err > 0 ? 0 : err;
		}
		if (err)
			tf_error_prefix("frame %u at offset %" PRIu64, r.frames + !used, off);
	}
	if (!err && (err = sr_want(rd, 1)) == 0 && rd->end > rd->start)
		err = tf_failx(EINVAL, "%s data after END at offset %" PRIu64 " (the stream ends with END)",
			       rd->eof ? "trailing" : "more", rd->off);
	if (!err)
		err = tf_stream_reader_take(&r, ix, conns);
	tf_stream_reader_free(&r);
	return err;
}

void tf_stream_conns_free(struct tf_conn *conns, uint32_t n)
{
	for (uint32_t i = 0; conns && i < n; i++)
		tf_conn_free(&conns[i]);
	free(conns);
}

int tf_stream_read(int fd, struct tf_index *ix, struct tf_conn **conns)
{
	struct sreader r = { .fd = fd };
	struct stat st;
	int err;

	/* A file is read in one piece into a buffer of its size (and one byte
	 * more, to see its end): no growing, no moving. */
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uint64_t)st.st_size < 2ull * TF_STREAM_FRAME_MAX) {
		r.buf = malloc(st.st_size + 1);
		r.cap = r.buf ? st.st_size + 1 : 0;
	}
	err = read_stream(&r, ix, conns);

	free(r.buf);
	return err;
}

int tf_stream_decode(const uint8_t *buf, size_t n, struct tf_index *ix, struct tf_conn **conns)
{
	struct sreader r = { .fd = -1, .buf = (uint8_t *)buf, .end = n, .cap = n, .eof = true };

	return read_stream(&r, ix, conns);
}

int tf_stream_read_path(const char *path, struct tf_index *ix, struct tf_conn **conns)
{
	bool std = !strcmp(path, "-");
	struct stat st;
	int fd, err;

	memset(ix, 0, sizeof(*ix));
	*conns = NULL;
	if (!std && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return tf_failx(EISDIR, "stream %s: a directory, not a stream", path);
	/* A restore runs as root and rebuilds what the stream says: a file (or
	 * fifo) another user could have written is not read (image.c's rule). */
	fd = std ? 0 : tf_open_trusted(path, true);
	if (fd < 0) {
		tf_error_prefix("stream %s", path);
		return fd;
	}
	if (std && isatty(fd))
		return tf_failx(EINVAL, "stream on standard input: a terminal, not a stream; pipe one in "
				"(tcpferry dump --out - | ...) or give its file");
	if (fstat(fd, &st))
		err = tf_fail(errno, "stream %s", path);
	else if (S_ISDIR(st.st_mode))
		err = tf_failx(EISDIR, "stream %s: a directory, not a stream", path);
	else if ((err = tf_stream_read(fd, ix, conns)))
		tf_error_prefix("stream %s", std ? "on standard input" : path);
	if (!std)
		close(fd);
	return err;
}

/* ---- stream files ------------------------------------------------------------------------- */

int tf_stream_file_create(struct tf_stream_file *sf, const char *path)
{
	static unsigned counter;
	struct stat st;

	sf->fd = -1;
	if (snprintf(sf->path, sizeof(sf->path), "%s", path) >= (int)sizeof(sf->path) ||
	    snprintf(sf->tmp, sizeof(sf->tmp), "%s.tmp-%d-%u", path, (int)getpid(),
		     __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED)) >= (int)sizeof(sf->tmp))
		return tf_failx(ENAMETOOLONG, "stream file %s: path too long", path);
	if (lstat(path, &st) == 0)
		return tf_failx(EEXIST, "stream file %s: already exists (a stream file is never overwritten)",
				path);
	sf->fd = open(sf->tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (sf->fd < 0)
		return tf_fail(errno, "stream file %s: create %s", path, sf->tmp);
	return sf->fd;
}

int tf_stream_file_commit(struct tf_stream_file *sf)
{
	int err = 0;

	if (fsync(sf->fd))
		err = tf_fail(errno, "stream file %s: fsync", sf->tmp);
	if (close(sf->fd) && !err)
		err = tf_fail(errno, "stream file %s: close", sf->tmp);
	sf->fd = -1;
	/* Never over a file that appeared meanwhile; plain rename where the
	 * file system cannot say no-replace. */
	if (!err && renameat2(AT_FDCWD, sf->tmp, AT_FDCWD, sf->path, RENAME_NOREPLACE) &&
	    (errno != EINVAL || rename(sf->tmp, sf->path)))
		err = tf_fail(errno, "stream file %s: rename %s into place", sf->path, sf->tmp);
	if (err) {
		unlink(sf->tmp);
		return err;
	}
	tf_sync_parent(sf->path);
	return 0;
}

void tf_stream_file_abort(struct tf_stream_file *sf)
{
	if (sf->fd >= 0)
		close(sf->fd);
	sf->fd = -1;
	if (sf->tmp[0])
		unlink(sf->tmp);
}
