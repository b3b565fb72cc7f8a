// SPDX-License-Identifier: BSD-2-Clause
/*
 * The move protocol's messages (see proto.h).  Payloads are little-endian;
 * a string is u16 length + bytes (no NUL inside, none at the end); nothing
 * decoded is trusted: every length is checked against what is left and
 * every field against its range, and a payload with bytes left over is
 * refused too.
 */
#include <errno.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "le.h"
#include "proto.h"

static const char *const type_names[] = {
	"HELLO", "WELCOME", "PREPARE", "PREPARED", "BUILT", "COMMIT", "COMMITTED", "DONE", "ABORT",
	"HO_OFFER", "HO_BUILT", "HO_STEP", "HO_LIVE", "HO_ENDED",
	"HO_PING", "HO_PONG", "HO_HEALTH",
};
_Static_assert(sizeof(type_names) / sizeof(type_names[0]) == MV_TYPE_END - MV_HELLO, "a name for every type");

const char *mv_type_name(uint16_t type)
{
	static __thread char other[32];

	if (type >= MV_HELLO && type < MV_TYPE_END)
		return type_names[type - MV_HELLO];
	snprintf(other, sizeof(other), "type %u", type);
	return other;
}

/* ---- writing ---------------------------------------------------------------- */

struct wbuf {
	uint8_t *p;
	size_t n, cap;
	bool failed;
};

static void put(struct wbuf *w, const void *src, size_t n)
{
	if (w->failed)
		return;
	if (w->n + n > w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 256;
		uint8_t *p;

		while (cap < w->n + n)
			cap *= 2;
		p = realloc(w->p, cap);
		if (!p) {
			w->failed = true;
			return;
		}
		w->p = p;
		w->cap = cap;
	}
	memcpy(w->p + w->n, src, n);
	w->n += n;
}

static void put32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4];

	set32(b, v);
	put(w, b, 4);
}

static void put64(struct wbuf *w, uint64_t v)
{
	uint8_t b[8];

	set64(b, v);
	put(w, b, 8);
}

static void put_str(struct wbuf *w, const char *s)
{
	size_t n = strnlen(s, 0xffff);
	uint8_t b[2];

	set16(b, n);

	put(w, b, 2);
	put(w, s, n);
}

/* Sends what w holds as one message of type, and frees it. */
static int send_wbuf(struct mv_chan *c, uint16_t type, struct wbuf *w)
{
	int err = w->failed ? tf_failx(ENOMEM, "%s: no memory", mv_type_name(type))
			    : mv_send(c, type, w->p, w->n);

	free(w->p);
	return err;
}

/* ---- reading ---------------------------------------------------------------- */

struct rbuf {
	const uint8_t *p;
	size_t n, off;
	bool bad;
};

static const uint8_t *take(struct rbuf *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || r->n - r->off < n) {
		r->bad = true;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static uint32_t take32(struct rbuf *r)
{
	const uint8_t *b = take(r, 4);

	return b ? get32(b) : 0;
}

static uint64_t take64(struct rbuf *r)
{
	const uint8_t *b = take(r, 8);

	return b ? get64(b) : 0;
}

/* A string into buf (cap bytes, NUL included): no NUL inside, not too long. */
static void get_str(struct rbuf *r, char *buf, size_t cap)
{
	const uint8_t *b = take(r, 2);
	size_t n = b ? get16(b) : 0;
	const uint8_t *s = take(r, n);

	buf[0] = '\0';
	if (!s || n >= cap || memchr(s, '\0', n)) {
		r->bad = true;
		return;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
}

/* All of it read, and well-formed? */
static int done(const struct rbuf *r, const char *what)
{
	if (r->bad || r->off != r->n)
		return tf_failx(EBADMSG, "%s: malformed (%zu bytes)", what, r->n);
	return 0;
}

/* ---- the channel -------------------------------------------------------------- */

bool mv_unflushed(const struct mv_chan *c)
{
	return c->outq && c->outq->off < c->outq->len;
}

int mv_flush(struct mv_chan *c)
{
	struct mv_outq *q = c->outq;

	while (q && q->off < q->len) {
		ssize_t n = send(c->out, q->buf + q->off, q->len - q->off, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return tf_fail(errno, "sending: %s", errno == EPIPE ? "the channel is closed" : "send");
		q->off += n;
	}
	if (q)
		q->off = q->len = 0;
	return 0;
}

/* The frame queued behind what is waiting, and as much written as goes now. */
static int queue_frame(struct mv_chan *c, uint16_t type, const void *p, uint32_t len)
{
	struct mv_outq *q = c->outq;
	size_t need = TF_FRAME_HDR_LEN + (size_t)len;
	int err;

	if (q->off && q->off == q->len)
		q->off = q->len = 0;
	if (q->len + need > q->cap) {
		size_t cap = q->cap ? q->cap : 65536;
		uint8_t *nb;

		/* What was written already goes first: the queue never holds it twice. */
		if (q->off) {
			memmove(q->buf, q->buf + q->off, q->len - q->off);
			q->len -= q->off;
			q->off = 0;
		}
		while (cap < q->len + need)
			cap *= 2;
		if (cap != q->cap) {
			nb = realloc(q->buf, cap);
			if (!nb)
				return tf_failx(ENOMEM, "sending %s: no memory", mv_type_name(type));
			q->buf = nb;
			q->cap = cap;
		}
	}
	err = tf_frame_encode(type, 1, p, len, q->buf + q->len);
	if (err)
		return tf_failx(-err, "sending %s: %s", mv_type_name(type), tf_frame_strerror(err));
	if (len)
		memcpy(q->buf + q->len + TF_FRAME_HDR_LEN, p, len);
	q->len += need;
	return mv_flush(c);
}

int mv_send(struct mv_chan *c, uint16_t type, const void *p, uint32_t len)
{
	int err;

	if (c->outq)
		return queue_frame(c, type, p, len);
	err = tf_frame_write(c->out, type, 1, p, len);

	if (err)
		return tf_failx(-err, "sending %s: %s", mv_type_name(type),
				err == -EPIPE ? "the channel is closed" : tf_frame_strerror(err));
	return 0;
}

int mv_recv_frame(struct mv_chan *c, const char *what, uint32_t max_len, struct tf_frame *f)
{
	struct mv_abort a;
	char detail[256];
	int err = tf_frame_read(c->in, f, max_len, c->timeout_ms);

	if (err) {
		/* The frame reader's own words: how far into which frame, which check. */
		snprintf(detail, sizeof(detail), "%s", *tf_strerror() ? tf_strerror() : tf_frame_strerror(err));
		if (err == -ENODATA)
			return tf_failx(ENODATA, "waiting for %s: the channel closed", what);
		if (err == -EPIPE)
			return tf_failx(EPIPE, "waiting for %s: the channel closed inside a frame (%s)", what, detail);
		return tf_failx(-err, "waiting for %s: %s", what, detail);
	}
	if (f->type == MV_ABORT) {
		err = mv_decode_abort(f->data, f->len, &a);
		tf_frame_free(f);
		c->aborted = true;
		c->abort = err ? (struct mv_abort){ .flip_ran = 1, .text = "(a malformed ABORT)" } : a;
		return tf_failx(ECONNABORTED, "the other side aborted: %s", c->abort.text);
	}
	return 0;
}

int mv_recv(struct mv_chan *c, uint16_t want, struct tf_frame *f)
{
	int err = mv_recv_frame(c, mv_type_name(want), MV_MSG_MAX, f);

	if (err)
		return err;
	if (f->type != want || f->version != 1) {
		err = tf_failx(EPROTO, "waiting for %s: got %s version %u (this tcpferry speaks version %d of "
			       "the move protocol; run the same tcpferry on both hosts)", mv_type_name(want),
			       mv_type_name(f->type), f->version, MV_PROTO_VERSION);
		tf_frame_free(f);
		return err;
	}
	return 0;
}

/* Receive want and decode it with fn. */
#define RECV_DECODED(c, want, fn, out)                                \
	do {                                                          \
		struct tf_frame f_;                                   \
		int e_ = mv_recv(c, want, &f_);                       \
		if (e_)                                               \
			return e_;                                    \
		e_ = fn(f_.data, f_.len, out);                        \
		tf_frame_free(&f_);                                   \
		return e_;                                            \
	} while (0)

/* ---- HELLO, WELCOME ------------------------------------------------------------ */

int mv_send_hello(struct mv_chan *c, const struct mv_hello *h)
{
	struct wbuf w = {};

	put32(&w, h->version);
	put64(&w, h->realtime_ns);
	put_str(&w, h->id);
	put_str(&w, h->host);
	return send_wbuf(c, MV_HELLO, &w);
}

int mv_decode_hello(const uint8_t *p, size_t n, struct mv_hello *h)
{
	struct rbuf r = { .p = p, .n = n };

	h->version = take32(&r);
	h->realtime_ns = take64(&r);
	get_str(&r, h->id, sizeof(h->id));
	get_str(&r, h->host, sizeof(h->host));
	if (!r.bad && !h->id[0])
		r.bad = true;
	for (const char *s = h->id; !r.bad && *s; s++)
		if (!(*s == '-' || *s == '.' || *s == '_' || (*s >= '0' && *s <= '9') ||
		      (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
			r.bad = true;	/* it names a journal directory */
	return done(&r, "HELLO");
}

int mv_recv_hello(struct mv_chan *c, struct mv_hello *h)
{
	RECV_DECODED(c, MV_HELLO, mv_decode_hello, h);
}

int mv_send_welcome(struct mv_chan *c, const struct mv_welcome *wl)
{
	struct wbuf w = {};

	put32(&w, wl->version);
	put32(&w, wl->features);
	put64(&w, wl->realtime_ns);
	put32(&w, wl->pid);
	put_str(&w, wl->host);
	return send_wbuf(c, MV_WELCOME, &w);
}

int mv_decode_welcome(const uint8_t *p, size_t n, struct mv_welcome *wl)
{
	struct rbuf r = { .p = p, .n = n };

	wl->version = take32(&r);
	wl->features = take32(&r);
	wl->realtime_ns = take64(&r);
	wl->pid = take32(&r);
	get_str(&r, wl->host, sizeof(wl->host));
	return done(&r, "WELCOME");
}

int mv_recv_welcome(struct mv_chan *c, struct mv_welcome *wl)
{
	RECV_DECODED(c, MV_WELCOME, mv_decode_welcome, wl);
}

/* ---- PREPARE ---------------------------------------------------------------------- */

int mv_send_prepare(struct mv_chan *c, const struct mv_prepare *p)
{
	struct wbuf w = {};
	uint8_t *ix;
	size_t len;
	int err;

	err = tf_index_encode(&p->ix, &ix, &len);
	if (err)
		return err;
	put32(&w, p->ttl_s);
	put32(&w, p->flags);
	put64(&w, (uint64_t)p->skew_ns);
	put32(&w, p->argc);
	for (uint32_t i = 0; i < p->argc; i++)
		put_str(&w, p->argv[i]);
	put32(&w, len);
	put(&w, ix, len);
	free(ix);
	return send_wbuf(c, MV_PREPARE, &w);
}

int mv_decode_prepare(const uint8_t *p, size_t n, struct mv_prepare *out)
{
	struct rbuf r = { .p = p, .n = n };
	const uint8_t *ix;
	uint32_t len;
	int err;

	memset(out, 0, sizeof(*out));
	out->ttl_s = take32(&r);
	out->flags = take32(&r);
	out->skew_ns = (int64_t)take64(&r);
	out->argc = take32(&r);
	if (r.bad || out->argc < 1 || out->argc > MV_ARGS_MAX ||
	    out->flags & ~(MV_PREP_NUDGE | MV_PREP_SEND_TO | MV_PREP_NO_PROBE) ||
	    ((out->flags & MV_PREP_SEND_TO) && out->argc != 1))
		return tf_failx(EBADMSG, "PREPARE: malformed (flags %#x, %u arguments)", out->flags, out->argc);
	out->argv = calloc(out->argc + 1, sizeof(*out->argv));
	if (!out->argv)
		return -ENOMEM;
	for (uint32_t i = 0; i < out->argc && !r.bad; i++) {
		char arg[4096];

		get_str(&r, arg, sizeof(arg));
		if (!r.bad && !(out->argv[i] = strdup(arg)))
			r.bad = true;
	}
	if (!r.bad && !out->argv[0][0])
		r.bad = true;
	len = take32(&r);
	ix = take(&r, len);
	err = done(&r, "PREPARE");
	if (!err)
		err = tf_index_decode(ix, len, &out->ix);
	if (err)
		mv_prepare_free(out);
	return err;
}

int mv_recv_prepare(struct mv_chan *c, struct mv_prepare *p)
{
	RECV_DECODED(c, MV_PREPARE, mv_decode_prepare, p);
}

void mv_prepare_free(struct mv_prepare *p)
{
	for (uint32_t i = 0; p->argv && i < p->argc; i++)
		free(p->argv[i]);
	free(p->argv);
	p->argv = NULL;
	tf_index_free(&p->ix);
}

/* ---- PREPARED, BUILT, COMMITTED; ABORT ----------------------------------------------- */

int mv_send_reply(struct mv_chan *c, uint16_t type, const struct mv_reply *rp)
{
	struct wbuf w = {};

	put32(&w, (uint32_t)rp->status);
	put32(&w, rp->pid);
	put32(&w, rp->count);
	put32(&w, rp->nudged);
	put64(&w, rp->dropped);
	put_str(&w, rp->text);
	return send_wbuf(c, type, &w);
}

int mv_decode_reply(const uint8_t *p, size_t n, struct mv_reply *rp)
{
	struct rbuf r = { .p = p, .n = n };

	rp->status = (int32_t)take32(&r);
	rp->pid = take32(&r);
	rp->count = take32(&r);
	rp->nudged = take32(&r);
	rp->dropped = take64(&r);
	get_str(&r, rp->text, sizeof(rp->text));
	if (!r.bad && (rp->status > 0 || rp->status < -4095))
		r.bad = true;
	return done(&r, "reply");
}

int mv_recv_reply(struct mv_chan *c, uint16_t type, struct mv_reply *rp)
{
	RECV_DECODED(c, type, mv_decode_reply, rp);
}

int mv_send_abort(struct mv_chan *c, bool flip_ran, const char *text)
{
	struct wbuf w = {};

	put32(&w, flip_ran);
	put_str(&w, text);
	return send_wbuf(c, MV_ABORT, &w);
}

int mv_decode_abort(const uint8_t *p, size_t n, struct mv_abort *a)
{
	struct rbuf r = { .p = p, .n = n };

	a->flip_ran = take32(&r);
	get_str(&r, a->text, sizeof(a->text));
	if (!r.bad && a->flip_ran > 1)
		r.bad = true;
	return done(&r, "ABORT");
}

/* ---- the hand-off service: HO_OFFER, HO_STEP, HO_BUILT and HO_LIVE, HO_ENDED ----------- */

int mv_send_ho_offer(struct mv_chan *c, const struct mv_ho_offer *o)
{
	struct wbuf w = {};
	uint8_t *img;
	size_t len;
	int err;

	err = tf_image_encode(&o->conn, &img, &len);
	if (err)
		return err;
	put64(&w, o->seq);
	put32(&w, o->flags);
	put64(&w, (uint64_t)o->skew_ns);
	put32(&w, len);
	put(&w, img, len);
	free(img);
	return send_wbuf(c, MV_HO_OFFER, &w);
}

int mv_decode_ho_offer(const uint8_t *p, size_t n, struct mv_ho_offer *o)
{
	struct rbuf r = { .p = p, .n = n };
	const uint8_t *img;
	uint32_t len;
	int err;

	memset(o, 0, sizeof(*o));
	o->seq = take64(&r);
	o->flags = take32(&r);
	o->skew_ns = (int64_t)take64(&r);
	len = take32(&r);
	img = take(&r, len);
	if (!r.bad && o->flags & ~(MV_HO_NUDGE | MV_HO_NO_PROBE))
		r.bad = true;
	err = done(&r, "HO_OFFER");
	if (!err)
		err = tf_image_decode(img, len, &o->conn);
	return err;
}

int mv_send_ho_step(struct mv_chan *c, uint64_t seq, enum mv_ho_step_kind step)
{
	struct wbuf w = {};

	put64(&w, seq);
	put32(&w, step);
	return send_wbuf(c, MV_HO_STEP, &w);
}

int mv_decode_ho_step(const uint8_t *p, size_t n, struct mv_ho_step *s)
{
	struct rbuf r = { .p = p, .n = n };

	s->seq = take64(&r);
	s->step = take32(&r);
	if (!r.bad && (s->step < MV_HO_COMMIT || s->step > MV_HO_FLIPPED))
		r.bad = true;
	return done(&r, "HO_STEP");
}

int mv_send_ho_reply(struct mv_chan *c, uint16_t type, const struct mv_ho_reply *rp)
{
	struct wbuf w = {};

	put64(&w, rp->seq);
	put32(&w, (uint32_t)rp->status);
	put32(&w, rp->pid);
	put_str(&w, rp->text);
	return send_wbuf(c, type, &w);
}

int mv_decode_ho_reply(const uint8_t *p, size_t n, struct mv_ho_reply *rp)
{
	struct rbuf r = { .p = p, .n = n };

	rp->seq = take64(&r);
	rp->status = (int32_t)take32(&r);
	rp->pid = take32(&r);
	get_str(&r, rp->text, sizeof(rp->text));
	if (!r.bad && (rp->status > 0 || rp->status < -4095))
		r.bad = true;
	return done(&r, "hand-off reply");
}

static void put_endpoint(struct wbuf *w, const struct tf_endpoint *e)
{
	uint8_t b[4];

	set16(b, e->family);
	set16(b + 2, e->port);
	put(w, b, 4);
	put32(w, e->scope_id);
	put(w, e->addr, sizeof(e->addr));
}

static void take_endpoint(struct rbuf *r, struct tf_endpoint *e)
{
	const uint8_t *b = take(r, 4);
	const uint8_t *a;

	memset(e, 0, sizeof(*e));
	if (!b)
		return;
	e->family = get16(b);
	e->port = get16(b + 2);
	e->scope_id = take32(r);
	a = take(r, sizeof(e->addr));
	if (a)
		memcpy(e->addr, a, sizeof(e->addr));
	if (e->family != AF_INET && e->family != AF_INET6)
		r->bad = true;
}

int mv_send_ho_ended(struct mv_chan *c, const struct mv_ho_ended *e)
{
	struct wbuf w = {};

	put_endpoint(&w, &e->local);
	put_endpoint(&w, &e->peer);
	return send_wbuf(c, MV_HO_ENDED, &w);
}

int mv_decode_ho_ended(const uint8_t *p, size_t n, struct mv_ho_ended *e)
{
	struct rbuf r = { .p = p, .n = n };

	take_endpoint(&r, &e->local);
	take_endpoint(&r, &e->peer);
	if (!r.bad && e->local.family != e->peer.family)
		r.bad = true;
	return done(&r, "HO_ENDED");
}

int mv_send_ho_beat(struct mv_chan *c, uint16_t type, uint64_t seq)
{
	struct wbuf w = {};

	put64(&w, seq);
	return send_wbuf(c, type, &w);
}

int mv_decode_ho_beat(const uint8_t *p, size_t n, uint64_t *seq)
{
	struct rbuf r = { .p = p, .n = n };

	*seq = take64(&r);
	return done(&r, "HO_PING/HO_PONG");
}

int mv_send_ho_health(struct mv_chan *c, const struct mv_ho_health *h)
{
	struct wbuf w = {};

	put32(&w, h->healthy);
	put_str(&w, h->text);
	return send_wbuf(c, MV_HO_HEALTH, &w);
}

int mv_decode_ho_health(const uint8_t *p, size_t n, struct mv_ho_health *h)
{
	struct rbuf r = { .p = p, .n = n };

	h->healthy = take32(&r);
	get_str(&r, h->text, sizeof(h->text));
	if (!r.bad && h->healthy > 1)
		r.bad = true;
	return done(&r, "HO_HEALTH");
}
