// SPDX-License-Identifier: BSD-2-Clause
/*
 * The image codec: struct tf_conn and struct tf_index to and from files,
 * as images/FORMAT.md describes them.  Every integer is written byte by byte,
 * little-endian; every record carries a crc32; an END record closes the file.
 * The decoder trusts nothing: each length is checked against what is left
 * before it is used, and every field is validated before it is returned.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
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

/* Linux TCP states (include/net/tcp_states.h) that still hold a connection. */
enum {
	ST_ESTABLISHED = 1, ST_FIN_WAIT1 = 4, ST_FIN_WAIT2 = 5,
	ST_CLOSE_WAIT = 8, ST_LAST_ACK = 9, ST_CLOSING = 11,
};

/* ---- names (socket options: user/lib/sockopts.c) -------------------------------- */

const char *tf_record_name(uint16_t type, char *buf, size_t len)
{
	static const struct { uint16_t type; const char *name; } names[] = {
		{ TF_REC_END, "END" }, { TF_REC_CONN, "CONN" }, { TF_REC_INQ, "INQ" },
		{ TF_REC_OUTQ, "OUTQ" }, { TF_REC_SOCKOPT, "SOCKOPT" },
		{ TF_REC_TSWIRE, "TSWIRE" }, { TF_REC_INDEX, "INDEX" },
		{ TF_REC_ENTRY, "ENTRY" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].type == type)
			return names[i].name;
	snprintf(buf, len, "0x%04x", type);
	return buf;
}

/* ---- little-endian: le.h ------------------------------------------------------------------ */

static uint32_t crc(const uint8_t *p, size_t n)
{
	return crc32_z(0, p, n);
}

/* ---- validation (shared by encode and decode: write only what reads back) --------------- */

static int family_code(uint16_t family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 6 : 0;
}

static int check_endpoint(const struct tf_endpoint *e, const char *which)
{
	char a[TF_ADDRSTRLEN];

	if (!family_code(e->family))
		return tf_failx(EINVAL, "%s address family %u is neither IPv4 nor IPv6", which,
				e->family);
	if (e->port == 0)
		return tf_failx(EINVAL, "%s endpoint %s has port 0", which,
				tf_endpoint_str(e, a, sizeof(a)));
	if (e->family == AF_INET && e->scope_id)
		return tf_failx(EINVAL, "%s endpoint %s has an IPv6 scope id", which,
				tf_endpoint_str(e, a, sizeof(a)));
	return 0;
}

static int check_endpoints(uint16_t sock_family, const struct tf_endpoint *local,
			   const struct tf_endpoint *peer)
{
	int err;

	if ((err = check_endpoint(local, "local")) || (err = check_endpoint(peer, "peer")))
		return err;
	if (local->family != peer->family)
		return tf_failx(EINVAL, "local and peer endpoints are of different families");
	/* A v4-mapped socket is AF_INET6 with ::ffff:a.b.c.d endpoints. */
	if (sock_family && local->family != sock_family)
		return tf_failx(EINVAL, "endpoints are %s but the socket is %s",
				local->family == AF_INET ? "IPv4" : "IPv6",
				sock_family == AF_INET ? "IPv4" : "IPv6");
	return 0;
}

/*
 * The values each int option can hold, as getsockopt returns them (and
 * setsockopt takes them back): images/FORMAT.md lists the same ranges.
 */
static const struct { uint16_t id; int32_t min, max; } int_range[] = {
	{ TF_SO_NODELAY, 0, 1 },	{ TF_SO_CORK, 0, 1 },
	{ TF_SO_KEEPALIVE, 0, 1 },	{ TF_SO_REUSEADDR, 0, 1 },
	{ TF_SO_V6ONLY, 0, 1 },
	{ TF_SO_KEEPIDLE, 1, 32767 },	/* MAX_TCP_KEEPIDLE */
	{ TF_SO_KEEPINTVL, 1, 32767 },	/* MAX_TCP_KEEPINTVL */
	{ TF_SO_KEEPCNT, 1, 127 },	/* MAX_TCP_KEEPCNT */
	{ TF_SO_USER_TIMEOUT, 0, INT32_MAX },
	{ TF_SO_TOS, 0, 255 },		/* IP_TOS, IPV6_TCLASS */
	{ TF_SO_TTL, -1, 255 },		/* IP_TTL 1..255, IPV6_UNICAST_HOPS -1..255 */
	{ TF_SO_SNDBUF, 1, INT32_MAX },	{ TF_SO_RCVBUF, 1, INT32_MAX },
	{ TF_SO_BUF_LOCK, 0, 3 },	/* SOCK_SNDBUF_LOCK | SOCK_RCVBUF_LOCK */
	{ TF_SO_RCVLOWAT, 1, INT32_MAX },
	{ TF_SO_MTU_DISCOVER, 0, 5 },	/* IP_PMTUDISC_DONT .. IP_PMTUDISC_OMIT */
	/* TCP_NOTSENT_LOWAT, SO_MARK, SO_PRIORITY: any 32 bits */
};

/* A name (TCP_CONGESTION, SO_BINDTODEVICE): printable, no NUL, no space, shorter than the kernel's buffer. */
static int check_name(const struct tf_sockopt_info *info, const struct tf_sockopt *o)
{
	size_t max = 15;	/* TCP_CA_NAME_MAX and IFNAMSIZ are 16, with the NUL */

	for (size_t i = 0; i < o->len; i++)
		if (o->val[i] <= 0x20 || o->val[i] >= 0x7f || (o->id == TF_SO_BINDTODEVICE && o->val[i] == '/'))
			return tf_failx(EINVAL, "socket option %s: byte %zu of the name is 0x%02x; a name is "
					"printable text without NUL%s", info->name, i, o->val[i],
					o->id == TF_SO_BINDTODEVICE ? ", space or '/'" : " or space");
	if (o->len > max)
		return tf_failx(EINVAL, "socket option %s: a name of %u bytes, more than the kernel's %zu",
				info->name, o->len, max);
	if (o->id == TF_SO_BINDTODEVICE && o->val[0] == '.' &&
	    (o->len == 1 || (o->len == 2 && o->val[1] == '.')))
		return tf_failx(EINVAL, "socket option SO_BINDTODEVICE: '%.*s' is no device name", o->len,
				(const char *)o->val);
	return 0;
}

static int check_sockopt(const struct tf_sockopt *o)
{
	const struct tf_sockopt_info *info = tf_sockopt_info(o->id);
	bool len_ok;
	int32_t iv[2];

	if (!info)
		return tf_failx(EINVAL, "socket option id %u is unknown", o->id);
	if (o->len > TF_SOCKOPT_MAX_LEN)
		return tf_failx(EINVAL, "socket option %s: %u bytes, more than %u", info->name,
				o->len, TF_SOCKOPT_MAX_LEN);
	switch (info->kind) {
	case TF_SOK_INT:	len_ok = o->len == 4; break;
	case TF_SOK_U64:	len_ok = o->len == 4 || o->len == 8; break;
	case TF_SOK_LINGER:	len_ok = o->len == 8; break;
	default:		len_ok = o->len >= 1; break;
	}
	if (!len_ok)
		return tf_failx(EINVAL, "socket option %s: a value of %u bytes makes no sense",
				info->name, o->len);
	switch (info->kind) {
	case TF_SOK_STRING:
		return check_name(info, o);
	case TF_SOK_LINGER:
		iv[0] = (int32_t)get32(o->val);
		iv[1] = (int32_t)get32(o->val + 4);
		if (iv[0] != 0 && iv[0] != 1)
			return tf_failx(EINVAL, "socket option SO_LINGER: l_onoff %d is neither 0 nor 1", iv[0]);
		if (iv[1] < 0)
			return tf_failx(EINVAL, "socket option SO_LINGER: l_linger %d s is negative", iv[1]);
		return 0;
	case TF_SOK_INT:
		iv[0] = (int32_t)get32(o->val);
		for (size_t i = 0; i < ARRAY_SIZE(int_range); i++)
			if (int_range[i].id == o->id && (iv[0] < int_range[i].min || iv[0] > int_range[i].max))
				return tf_failx(EINVAL, "socket option %s: %d is out of range (%d..%d)",
						info->name, iv[0], int_range[i].min, int_range[i].max);
		return 0;
	default:
		return 0;
	}
}

static int check_conn(const struct tf_conn *c)
{
	bool seen[TF_SO__COUNT] = {};
	int err;

	if (!family_code(c->sock_family))
		return tf_failx(EINVAL, "socket family %u is neither AF_INET nor AF_INET6",
				c->sock_family);
	if ((err = check_endpoints(c->sock_family, &c->local, &c->peer)))
		return err;
	switch (c->tcp_state) {
	case ST_ESTABLISHED: case ST_FIN_WAIT1: case ST_FIN_WAIT2:
	case ST_CLOSE_WAIT: case ST_LAST_ACK: case ST_CLOSING:
		break;
	default:
		return tf_failx(EINVAL, "TCP state %u is not a connection that can be carried",
				c->tcp_state);
	}
	/* Only a FIN of ours that is not acknowledged can still be unsent. */
	if (c->fin_unsent && c->tcp_state != ST_FIN_WAIT1 && c->tcp_state != ST_CLOSING &&
	    c->tcp_state != ST_LAST_ACK)
		return tf_failx(EINVAL, "an unsent FIN of ours in TCP state %u, which has none", c->tcp_state);
	if (c->mss_clamp == 0 || c->mss_clamp > 65535)
		return tf_failx(EINVAL, "mss %u is out of range (1..65535)", c->mss_clamp);
	if (c->opts & ~(TF_OPT_SACK | TF_OPT_TSTAMP | TF_OPT_WSCALE))
		return tf_failx(EINVAL, "unknown TCP option bits 0x%x", c->opts);
	if (c->snd_wscale > 14 || c->rcv_wscale > 14)
		return tf_failx(EINVAL, "window scale %u/%u is more than 14", c->snd_wscale,
				c->rcv_wscale);
	if (!(c->opts & TF_OPT_WSCALE) && (c->snd_wscale || c->rcv_wscale))
		return tf_failx(EINVAL, "window scale %u/%u without the window scale option",
				c->snd_wscale, c->rcv_wscale);
	/* As TCP_REPAIR_WINDOW checks them when a restore sets them (rcv_nxt is rcv_seq then: a
	 * peer's FIN comes back after): refused there, they would fail the restore after its locks. */
	if (c->has_window && c->window.max_window < c->window.snd_wnd)
		return tf_failx(EINVAL, "window: max_window %u is below snd_wnd %u (TCP_REPAIR_WINDOW refuses that)",
				c->window.max_window, c->window.snd_wnd);
	if (c->has_window && (int32_t)(c->rcv_seq + c->window.rcv_wnd - c->window.snd_wl1) < 0)
		return tf_failx(EINVAL, "window: snd_wl1 %u is after rcv_seq + rcv_wnd (%u) (TCP_REPAIR_WINDOW "
				"refuses that)", c->window.snd_wl1, c->rcv_seq + c->window.rcv_wnd);
	if (c->has_window && (int32_t)(c->rcv_seq - c->window.rcv_wup) < 0)
		return tf_failx(EINVAL, "window: rcv_wup %u is after rcv_seq %u (TCP_REPAIR_WINDOW refuses that)",
				c->window.rcv_wup, c->rcv_seq);
	if (c->inq_len > TF_QUEUE_MAX || c->outq_len > TF_QUEUE_MAX)
		return tf_failx(EFBIG, "queue of %u/%u bytes is over the 1 GiB limit",
				c->inq_len, c->outq_len);
	if (c->unsent_len > c->outq_len)
		return tf_failx(EINVAL, "%u unsent bytes in a send queue of %u", c->unsent_len,
				c->outq_len);
	if ((c->inq_len && !c->inq) || (c->outq_len && !c->outq))
		return tf_failx(EINVAL, "queue length set but no queue data");
	if (c->n_sockopts > TF_SO__COUNT)
		return tf_failx(EINVAL, "%u socket options, more than %u", c->n_sockopts,
				TF_SO__COUNT);
	for (uint32_t i = 0; i < c->n_sockopts; i++) {
		const struct tf_sockopt *o = &c->sockopts[i];

		if ((err = check_sockopt(o)))
			return err;
		if (seen[o->id])
			return tf_failx(EINVAL, "socket option %s appears twice",
					tf_sockopt_info(o->id)->name);
		seen[o->id] = true;
	}
	return 0;
}

/* ---- writer ---------------------------------------------------------------------------- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static uint8_t *wb_take(struct wbuf *w, size_t n)
{
	if (w->oom)
		return NULL;
	if (n > w->cap - w->len) {
		size_t cap = w->cap ? w->cap : 256;
		uint8_t *p;

		while (cap - w->len < n) {
			if (cap > SIZE_MAX / 2) {
				w->oom = true;
				return NULL;
			}
			cap *= 2;
		}
		p = realloc(w->p, cap);
		if (!p) {
			w->oom = true;
			return NULL;
		}
		w->p = p;
		w->cap = cap;
	}
	w->len += n;
	return w->p + w->len - n;
}

static void put8(struct wbuf *w, uint8_t v) { uint8_t *p = wb_take(w, 1); if (p) *p = v; }
static void put16(struct wbuf *w, uint16_t v) { uint8_t *p = wb_take(w, 2); if (p) set16(p, v); }
static void put32(struct wbuf *w, uint32_t v) { uint8_t *p = wb_take(w, 4); if (p) set32(p, v); }
static void put64(struct wbuf *w, uint64_t v) { uint8_t *p = wb_take(w, 8); if (p) set64(p, v); }

static void put_bytes(struct wbuf *w, const void *src, size_t n)
{
	uint8_t *p = wb_take(w, n);

	if (p && n)
		memcpy(p, src, n);
}

static void put_header(struct wbuf *w, const char *magic)
{
	size_t start = w->len;

	put_bytes(w, magic, TF_MAGIC_LEN);
	put16(w, TF_FORMAT_VERSION);
	put16(w, 0);
	if (!w->oom)
		put32(w, crc(w->p + start, 12));
}

/* A record is opened, its payload put, then closed: length and crc filled in. */
static size_t rec_open(struct wbuf *w, uint16_t type, uint16_t flags)
{
	size_t start = w->len;

	put16(w, type);
	put16(w, flags);
	put32(w, 0);
	return start;
}

static void rec_close(struct wbuf *w, size_t start, unsigned *nrec)
{
	if (w->oom)
		return;
	set32(w->p + start + 4, w->len - start - TF_RECORD_HEADER_LEN);
	put32(w, crc(w->p + start, w->len - start));
	(*nrec)++;
}

static void put_end(struct wbuf *w, unsigned nrec)
{
	uint32_t file_crc = w->oom ? 0 : crc(w->p, w->len);
	size_t r = rec_open(w, TF_REC_END, TF_REC_REQUIRED);

	put32(w, nrec);
	put32(w, file_crc);
	rec_close(w, r, &nrec);
}

static void put_endpoint(struct wbuf *w, const struct tf_endpoint *e)
{
	put16(w, family_code(e->family));
	put16(w, e->port);
	put32(w, e->scope_id);
	if (e->family == AF_INET) {
		put_bytes(w, e->addr, 4);
		put_bytes(w, (uint8_t[12]){ 0 }, 12);
	} else {
		put_bytes(w, e->addr, 16);
	}
}

static int wb_finish(struct wbuf *w, uint8_t **buf, size_t *len)
{
	if (w->oom) {
		free(w->p);
		return tf_failx(ENOMEM, "out of memory");
	}
	*buf = w->p;
	*len = w->len;
	return 0;
}

static int encode_image(const struct tf_conn *c, uint8_t **buf, size_t *len)
{
	struct wbuf w = {};
	unsigned nrec = 0;
	size_t r;
	int err;

	if ((err = check_conn(c)))
		return err;
	/* One allocation for the common case, queues included. */
	w.cap = 512 + (size_t)c->inq_len + c->outq_len + c->n_sockopts * 48;
	w.p = malloc(w.cap);
	if (!w.p)
		return tf_failx(ENOMEM, "out of memory for %zu bytes", w.cap);

	put_header(&w, TF_IMAGE_MAGIC);

	r = rec_open(&w, TF_REC_CONN, TF_REC_REQUIRED);
	put16(&w, family_code(c->sock_family));
	put16(&w, c->tcp_state);
	put32(&w, (c->has_window ? TF_CONN_WINDOW : 0) | (c->fin_unsent ? TF_CONN_FIN_UNSENT : 0));
	put_endpoint(&w, &c->local);
	put_endpoint(&w, &c->peer);
	put32(&w, c->snd_seq);
	put32(&w, c->rcv_seq);
	put32(&w, c->mss_clamp);
	put32(&w, c->opts);
	put8(&w, c->snd_wscale);
	put8(&w, c->rcv_wscale);
	put16(&w, 0);
	put32(&w, c->ts_clock);
	put64(&w, c->dump_time_ns);
	put32(&w, c->has_window ? c->window.snd_wl1 : 0);
	put32(&w, c->has_window ? c->window.snd_wnd : 0);
	put32(&w, c->has_window ? c->window.max_window : 0);
	put32(&w, c->has_window ? c->window.rcv_wnd : 0);
	put32(&w, c->has_window ? c->window.rcv_wup : 0);
	put32(&w, c->inq_len);
	put32(&w, c->outq_len);
	rec_close(&w, r, &nrec);

	if (c->has_ts_wire) {
		r = rec_open(&w, TF_REC_TSWIRE, 0);
		put32(&w, c->ts_wire);
		rec_close(&w, r, &nrec);
	}
	for (uint32_t i = 0; i < c->n_sockopts; i++) {
		r = rec_open(&w, TF_REC_SOCKOPT, 0);
		put16(&w, c->sockopts[i].id);
		put16(&w, c->sockopts[i].len);
		put_bytes(&w, c->sockopts[i].val, c->sockopts[i].len);
		rec_close(&w, r, &nrec);
	}
	if (c->inq_len) {
		r = rec_open(&w, TF_REC_INQ, TF_REC_REQUIRED);
		put_bytes(&w, c->inq, c->inq_len);
		rec_close(&w, r, &nrec);
	}
	if (c->outq_len) {
		r = rec_open(&w, TF_REC_OUTQ, TF_REC_REQUIRED);
		put32(&w, c->unsent_len);
		put_bytes(&w, c->outq, c->outq_len);
		rec_close(&w, r, &nrec);
	}
	put_end(&w, nrec);
	return wb_finish(&w, buf, len);
}

/* ---- reader ------------------------------------------------------------------------------- */

struct reader {
	const uint8_t *buf;
	size_t len, pos;
	unsigned nrec;		/* records read before END */
	const char *kind;	/* "image" or "index" */
};

struct record {
	uint16_t type, flags;
	uint32_t len;
	const uint8_t *p;	/* payload */
	size_t off;		/* of the record header in the file */
	char namebuf[8];
	const char *name;
};

static int read_header(struct reader *r, const char *magic, const char *other_magic,
		       const char *other_kind)
{
	uint16_t version;

	if (r->len < TF_FILE_HEADER_LEN) {
		if (r->len >= TF_MAGIC_LEN && memcmp(r->buf, magic, TF_MAGIC_LEN) &&
		    memcmp(r->buf, other_magic, TF_MAGIC_LEN))
			return tf_failx(EINVAL, "not a tcpferry %s (bad magic)", r->kind);
		return tf_failx(EINVAL, "truncated at byte %zu (file header)", r->len);
	}
	if (!memcmp(r->buf, other_magic, TF_MAGIC_LEN))
		return tf_failx(EINVAL, "is a tcpferry %s, not an %s", other_kind, r->kind);
	if (memcmp(r->buf, magic, TF_MAGIC_LEN))
		return tf_failx(EINVAL, "not a tcpferry %s (bad magic)", r->kind);
	if (get32(r->buf + 12) != crc(r->buf, 12))
		return tf_failx(EINVAL, "bad crc in the file header");
	version = get16(r->buf + 8);
	if (version != TF_FORMAT_VERSION)
		return tf_failx(EPROTO, "format version %u, this tcpferry reads version %u%s",
				version, TF_FORMAT_VERSION,
				version > TF_FORMAT_VERSION ? "; written by a newer tcpferry?" : "");
	r->pos = TF_FILE_HEADER_LEN;
	return 0;
}

/* The next record: 1, or 0 after a valid END that ends the file, or -errno. */
static int read_record(struct reader *r, struct record *rec)
{
	size_t left = r->len - r->pos;
	uint32_t stored;

	rec->off = r->pos;
	if (left == 0)
		return tf_failx(EINVAL, "truncated at byte %zu (no END record)", r->len);
	if (left < TF_RECORD_HEADER_LEN)
		return tf_failx(EINVAL, "truncated at byte %zu (header of the record at offset %zu)",
				r->len, r->pos);
	rec->type = get16(r->buf + r->pos);
	rec->flags = get16(r->buf + r->pos + 2);
	rec->len = get32(r->buf + r->pos + 4);
	rec->name = tf_record_name(rec->type, rec->namebuf, sizeof(rec->namebuf));
	if (rec->len > TF_RECORD_MAX)
		return tf_failx(EFBIG, "record %s at offset %zu: length %" PRIu32
				" is over the limit of %u", rec->name, rec->off, rec->len,
				TF_RECORD_MAX);
	if ((uint64_t)left < (uint64_t)TF_RECORD_HEADER_LEN + rec->len + TF_RECORD_CRC_LEN)
		return tf_failx(EINVAL, "truncated at byte %zu (record %s at offset %zu, %" PRIu32
				" bytes long)", r->len, rec->name, rec->off, rec->len);
	rec->p = r->buf + r->pos + TF_RECORD_HEADER_LEN;
	stored = get32(rec->p + rec->len);
	if (stored != crc(r->buf + r->pos, TF_RECORD_HEADER_LEN + rec->len))
		return tf_failx(EINVAL, "bad crc in record %s at offset %zu", rec->name, rec->off);
	r->pos += TF_RECORD_HEADER_LEN + rec->len + TF_RECORD_CRC_LEN;

	if (rec->type != TF_REC_END) {
		r->nrec++;
		return 1;
	}
	if (rec->len != TF_END_LEN)
		return tf_failx(EINVAL, "record END at offset %zu: length %" PRIu32 ", expected %u",
				rec->off, rec->len, TF_END_LEN);
	if (get32(rec->p) != r->nrec)
		return tf_failx(EINVAL, "END at offset %zu counts %" PRIu32 " records, the file has %u",
				rec->off, get32(rec->p), r->nrec);
	if (get32(rec->p + 4) != crc(r->buf, rec->off))
		return tf_failx(EINVAL, "END at offset %zu: the crc of the whole file does not match",
				rec->off);
	if (r->pos != r->len)
		return tf_failx(EINVAL, "%zu bytes of trailing data after END at offset %zu",
				r->len - r->pos, rec->off);
	return 0;
}

static int bad_length(const struct record *rec, const char *expected)
{
	return tf_failx(EINVAL, "record %s at offset %zu: length %" PRIu32 ", expected %s",
			rec->name, rec->off, rec->len, expected);
}

static int duplicate(const struct record *rec)
{
	return tf_failx(EINVAL, "record %s at offset %zu appears twice", rec->name, rec->off);
}

/* A record this reader does not use: skip it if optional, refuse it if required. */
static int unknown_record(const struct reader *r, const struct record *rec, bool known_elsewhere)
{
	if (known_elsewhere)
		return tf_failx(EINVAL, "record %s at offset %zu does not belong in an %s",
				rec->name, rec->off, r->kind);
	if (rec->flags & TF_REC_REQUIRED)
		return tf_failx(EPROTO, "record type 0x%04x is required but unknown; "
				"written by a newer tcpferry?", rec->type);
	return 0;
}

static int get_endpoint(const uint8_t *p, struct tf_endpoint *e, const char *which)
{
	uint16_t code = get16(p);

	memset(e, 0, sizeof(*e));
	if (code != 4 && code != 6)
		return tf_failx(EINVAL, "%s address family code %u is neither 4 nor 6", which, code);
	e->family = code == 4 ? AF_INET : AF_INET6;
	e->port = get16(p + 2);
	e->scope_id = get32(p + 4);
	memcpy(e->addr, p + 8, 16);
	if (code == 4)
		for (int i = 4; i < 16; i++)
			if (e->addr[i])
				return tf_failx(EINVAL, "%s IPv4 address has bytes past the fourth", which);
	return 0;
}

static int get_conn(const struct record *rec, struct tf_conn *c)
{
	const uint8_t *p = rec->p;
	uint32_t flags;
	int err;

	if (rec->len != TF_CONN_LEN)
		return bad_length(rec, "116");
	if (get16(p) != 4 && get16(p) != 6)
		return tf_failx(EINVAL, "record CONN: socket family code %u is neither 4 nor 6",
				get16(p));
	c->sock_family = get16(p) == 4 ? AF_INET : AF_INET6;
	c->tcp_state = get16(p + 2);
	flags = get32(p + 4);
	if (flags & ~(TF_CONN_WINDOW | TF_CONN_FIN_UNSENT))
		return tf_failx(EINVAL, "record CONN: unknown flag bits 0x%x", flags);
	c->has_window = flags & TF_CONN_WINDOW;
	c->fin_unsent = flags & TF_CONN_FIN_UNSENT;
	if ((err = get_endpoint(p + 8, &c->local, "local")) ||
	    (err = get_endpoint(p + 32, &c->peer, "peer")))
		return err;
	c->snd_seq = get32(p + 56);
	c->rcv_seq = get32(p + 60);
	c->mss_clamp = get32(p + 64);
	c->opts = get32(p + 68);
	c->snd_wscale = p[72];
	c->rcv_wscale = p[73];
	if (get16(p + 74))
		return tf_failx(EINVAL, "record CONN: reserved bytes are not zero");
	c->ts_clock = get32(p + 76);
	c->dump_time_ns = get64(p + 80);
	c->window.snd_wl1 = get32(p + 88);
	c->window.snd_wnd = get32(p + 92);
	c->window.max_window = get32(p + 96);
	c->window.rcv_wnd = get32(p + 100);
	c->window.rcv_wup = get32(p + 104);
	if (!c->has_window) {
		struct tf_window zero = {};

		if (memcmp(&c->window, &zero, sizeof(zero)))
			return tf_failx(EINVAL, "record CONN: window values without the window flag");
	}
	c->inq_len = get32(p + 108);
	c->outq_len = get32(p + 112);
	if (c->inq_len > TF_QUEUE_MAX || c->outq_len > TF_QUEUE_MAX)
		return tf_failx(EFBIG, "record CONN: queue of %u/%u bytes is over the 1 GiB limit",
				c->inq_len, c->outq_len);
	return 0;
}

static int get_queue(const struct record *rec, const uint8_t *p, uint32_t n, uint32_t declared,
		     uint8_t **out)
{
	if (n != declared)
		return tf_failx(EINVAL, "record %s at offset %zu holds %" PRIu32
				" bytes, CONN says %" PRIu32, rec->name, rec->off, n, declared);
	*out = malloc(n ? n : 1);
	if (!*out)
		return tf_failx(ENOMEM, "record %s: out of memory for %" PRIu32 " bytes",
				rec->name, n);
	memcpy(*out, p, n);
	return 0;
}

static int get_sockopt(const struct record *rec, struct tf_conn *c)
{
	struct tf_sockopt o = {};
	int err;

	if (rec->len < 4)
		return bad_length(rec, "at least 4");
	o.id = get16(rec->p);
	o.len = get16(rec->p + 2);
	if (rec->len != 4u + o.len)
		return tf_failx(EINVAL, "record SOCKOPT at offset %zu: length %" PRIu32
				" but the value says %u bytes", rec->off, rec->len, o.len);
	if (!tf_sockopt_info(o.id)) {
		if (rec->flags & TF_REC_REQUIRED)
			return tf_failx(EPROTO, "socket option id %u is required but unknown; "
					"written by a newer tcpferry?", o.id);
		return 0;	/* optional: restore goes on without it */
	}
	if (o.len > TF_SOCKOPT_MAX_LEN)
		return tf_failx(EINVAL, "record SOCKOPT at offset %zu: %u bytes, more than %u",
				rec->off, o.len, TF_SOCKOPT_MAX_LEN);
	memcpy(o.val, rec->p + 4, o.len);
	if ((err = check_sockopt(&o)))
		return err;
	for (uint32_t i = 0; i < c->n_sockopts; i++)
		if (c->sockopts[i].id == o.id)
			return tf_failx(EINVAL, "socket option %s appears twice",
					tf_sockopt_info(o.id)->name);
	if (c->n_sockopts >= TF_SO__COUNT)	/* cannot happen without a duplicate */
		return tf_failx(EINVAL, "too many socket options");
	c->sockopts[c->n_sockopts++] = o;
	return 0;
}

static int decode_image(const uint8_t *buf, size_t len, struct tf_conn *c)
{
	struct reader r = { .buf = buf, .len = len, .kind = "image" };
	bool have_conn = false, have_inq = false, have_outq = false;
	struct record rec;
	int err;

	memset(c, 0, sizeof(*c));
	if ((err = read_header(&r, TF_IMAGE_MAGIC, TF_INDEX_MAGIC, "index")))
		return err;
	while ((err = read_record(&r, &rec)) > 0) {
		err = 0;
		if (!have_conn && rec.type != TF_REC_CONN) {
			err = tf_failx(EINVAL, "first record is %s at offset %zu, expected CONN",
				       rec.name, rec.off);
			break;
		}
		switch (rec.type) {
		case TF_REC_CONN:
			err = have_conn ? duplicate(&rec) : get_conn(&rec, c);
			have_conn = true;
			break;
		case TF_REC_INQ:
			err = have_inq ? duplicate(&rec) :
			      get_queue(&rec, rec.p, rec.len, c->inq_len, &c->inq);
			have_inq = true;
			break;
		case TF_REC_OUTQ:
			if (have_outq) {
				err = duplicate(&rec);
			} else if (rec.len < 4) {
				err = bad_length(&rec, "at least 4");
			} else {
				c->unsent_len = get32(rec.p);
				err = get_queue(&rec, rec.p + 4, rec.len - 4, c->outq_len, &c->outq);
			}
			have_outq = true;
			break;
		case TF_REC_SOCKOPT:
			err = get_sockopt(&rec, c);
			break;
		case TF_REC_TSWIRE:
			if (c->has_ts_wire)
				err = duplicate(&rec);
			else if (rec.len != 4)
				err = bad_length(&rec, "4");
			else
				c->ts_wire = get32(rec.p);
			c->has_ts_wire = true;
			break;
		default:
			err = unknown_record(&r, &rec, rec.type == TF_REC_INDEX ||
						      rec.type == TF_REC_ENTRY);
		}
		if (err)
			break;
	}
	if (!err && !have_conn)
		err = tf_failx(EINVAL, "no CONN record");
	if (!err && c->inq_len && !have_inq)
		err = tf_failx(EINVAL, "CONN says %u bytes in the receive queue but there is no INQ record",
			       c->inq_len);
	if (!err && c->outq_len && !have_outq)
		err = tf_failx(EINVAL, "CONN says %u bytes in the send queue but there is no OUTQ record",
			       c->outq_len);
	if (!err)
		err = check_conn(c);
	if (err)
		tf_conn_free(c);
	return err;
}

/* ---- index ----------------------------------------------------------------------------------- */

/* Host names and file names are printed and joined to paths: keep them plain. */
static bool plain_text(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return false;
	return true;
}

static bool safe_file_name(const char *s, size_t n)
{
	if (n == 0 || n >= sizeof(((struct tf_index_entry *)0)->file))
		return false;
	if (!strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	return plain_text((const uint8_t *)s, n) && !memchr(s, '/', n);
}

static int check_index(const struct tf_index *ix)
{
	size_t hl = strnlen(ix->host, sizeof(ix->host));
	int err;

	if (hl == sizeof(ix->host) || !plain_text((const uint8_t *)ix->host, hl))
		return tf_failx(EINVAL, "host name is not plain text of at most %zu bytes",
				sizeof(ix->host) - 1);
	if (ix->n > TF_INDEX_MAX_ENTRIES)
		return tf_failx(EFBIG, "%u entries, more than %u", ix->n, TF_INDEX_MAX_ENTRIES);
	if (ix->n && !ix->entries)
		return tf_failx(EINVAL, "%u entries but no entry array", ix->n);
	for (uint32_t i = 0; i < ix->n; i++) {
		const struct tf_index_entry *e = &ix->entries[i];
		size_t fl = strnlen(e->file, sizeof(e->file));

		if (fl == sizeof(e->file) || !safe_file_name(e->file, fl))
			return tf_failx(EINVAL, "entry %u: file name '%.*s' is not a plain name in "
					"the directory", i, (int)fl, e->file);
		if ((err = check_endpoints(0, &e->local, &e->peer))) {
			tf_error_prefix("entry %u (%s)", i, e->file);
			return err;
		}
	}
	return 0;
}

static int cmp_entry_file(const void *a, const void *b)
{
	const struct tf_index_entry *x = *(const struct tf_index_entry *const *)a;
	const struct tf_index_entry *y = *(const struct tf_index_entry *const *)b;

	return strcmp(x->file, y->file);
}

static int check_unique_files(const struct tf_index *ix)
{
	const struct tf_index_entry **v;
	int err = 0;

	if (ix->n < 2)
		return 0;
	v = malloc(ix->n * sizeof(*v));
	if (!v)
		return tf_failx(ENOMEM, "out of memory");
	for (uint32_t i = 0; i < ix->n; i++)
		v[i] = &ix->entries[i];
	qsort(v, ix->n, sizeof(*v), cmp_entry_file);
	for (uint32_t i = 1; i < ix->n && !err; i++)
		if (!strcmp(v[i - 1]->file, v[i]->file))
			err = tf_failx(EINVAL, "file %s is listed twice", v[i]->file);
	free(v);
	return err;
}

static int encode_index(const struct tf_index *ix, uint8_t **buf, size_t *len)
{
	struct wbuf w = {};
	unsigned nrec = 0;
	size_t r, n;
	int err;

	if ((err = check_index(ix)) || (err = check_unique_files(ix)))
		return err;
	put_header(&w, TF_INDEX_MAGIC);
	r = rec_open(&w, TF_REC_INDEX, TF_REC_REQUIRED);
	n = strlen(ix->host);
	put32(&w, ix->pid);
	put64(&w, ix->time_ns);
	put16(&w, n);
	put_bytes(&w, ix->host, n);
	rec_close(&w, r, &nrec);
	for (uint32_t i = 0; i < ix->n; i++) {
		const struct tf_index_entry *e = &ix->entries[i];

		r = rec_open(&w, TF_REC_ENTRY, TF_REC_REQUIRED);
		put_endpoint(&w, &e->local);
		put_endpoint(&w, &e->peer);
		n = strlen(e->file);
		put16(&w, n);
		put_bytes(&w, e->file, n);
		rec_close(&w, r, &nrec);
	}
	put_end(&w, nrec);
	return wb_finish(&w, buf, len);
}

static int get_index_header(const struct record *rec, struct tf_index *ix)
{
	uint16_t hl;

	if (rec->len < TF_INDEX_FIXED_LEN)
		return bad_length(rec, "at least 14");
	ix->pid = get32(rec->p);
	ix->time_ns = get64(rec->p + 4);
	hl = get16(rec->p + 12);
	if (rec->len != TF_INDEX_FIXED_LEN + (uint32_t)hl)
		return tf_failx(EINVAL, "record INDEX at offset %zu: length %" PRIu32
				" but the host name says %u bytes", rec->off, rec->len, hl);
	if (hl >= sizeof(ix->host) || !plain_text(rec->p + TF_INDEX_FIXED_LEN, hl))
		return tf_failx(EINVAL, "record INDEX: host name is not plain text of at most %zu bytes",
				sizeof(ix->host) - 1);
	memcpy(ix->host, rec->p + TF_INDEX_FIXED_LEN, hl);
	ix->host[hl] = '\0';
	return 0;
}

static int get_index_entry(const struct record *rec, struct tf_index *ix, uint32_t *cap)
{
	struct tf_index_entry *e;
	uint16_t fl;
	int err;

	if (rec->len < TF_ENTRY_FIXED_LEN)
		return bad_length(rec, "at least 50");
	fl = get16(rec->p + 2 * TF_ENDPOINT_LEN);
	if (rec->len != TF_ENTRY_FIXED_LEN + (uint32_t)fl)
		return tf_failx(EINVAL, "record ENTRY at offset %zu: length %" PRIu32
				" but the file name says %u bytes", rec->off, rec->len, fl);
	if (ix->n >= TF_INDEX_MAX_ENTRIES)
		return tf_failx(EFBIG, "more than %u entries", TF_INDEX_MAX_ENTRIES);
	if (ix->n == *cap) {
		uint32_t ncap = *cap ? *cap * 2 : 16;
		void *p = realloc(ix->entries, ncap * sizeof(*ix->entries));

		if (!p)
			return tf_failx(ENOMEM, "out of memory for %u entries", ncap);
		ix->entries = p;
		*cap = ncap;
	}
	e = &ix->entries[ix->n];
	memset(e, 0, sizeof(*e));
	if (fl >= sizeof(e->file))
		return tf_failx(EINVAL, "record ENTRY at offset %zu: file name of %u bytes, "
				"at most %zu", rec->off, fl, sizeof(e->file) - 1);
	memcpy(e->file, rec->p + TF_ENTRY_FIXED_LEN, fl);
	if (!safe_file_name(e->file, fl) || strlen(e->file) != fl)
		return tf_failx(EINVAL, "record ENTRY at offset %zu: file name is not a plain name "
				"in the directory", rec->off);
	if ((err = get_endpoint(rec->p, &e->local, "local")) ||
	    (err = get_endpoint(rec->p + TF_ENDPOINT_LEN, &e->peer, "peer")) ||
	    (err = check_endpoints(0, &e->local, &e->peer))) {
		tf_error_prefix("record ENTRY at offset %zu (%s)", rec->off, e->file);
		return err;
	}
	ix->n++;
	return 0;
}

static int decode_index(const uint8_t *buf, size_t len, struct tf_index *ix)
{
	struct reader r = { .buf = buf, .len = len, .kind = "index" };
	bool have_header = false;
	struct record rec;
	uint32_t cap = 0;
	int err;

	memset(ix, 0, sizeof(*ix));
	if ((err = read_header(&r, TF_INDEX_MAGIC, TF_IMAGE_MAGIC, "image")))
		return err;
	while ((err = read_record(&r, &rec)) > 0) {
		err = 0;
		if (!have_header && rec.type != TF_REC_INDEX) {
			err = tf_failx(EINVAL, "first record is %s at offset %zu, expected INDEX",
				       rec.name, rec.off);
			break;
		}
		switch (rec.type) {
		case TF_REC_INDEX:
			err = have_header ? duplicate(&rec) : get_index_header(&rec, ix);
			have_header = true;
			break;
		case TF_REC_ENTRY:
			err = get_index_entry(&rec, ix, &cap);
			break;
		default:
			err = unknown_record(&r, &rec, rec.type >= TF_REC_CONN &&
						      rec.type <= TF_REC_TSWIRE);
		}
		if (err)
			break;
	}
	if (!err && !have_header)
		err = tf_failx(EINVAL, "no INDEX record");
	if (!err)
		err = check_unique_files(ix);
	if (err)
		tf_index_free(ix);
	return err;
}

/* ---- files ------------------------------------------------------------------------------------- */

/* ---- trust: what a dump directory may hold ---------------------------------------------------- */

static const char *file_kind(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a fifo" : S_ISSOCK(m) ? "a socket" :
	       S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" :
	       S_ISLNK(m) ? "a symbolic link" : "not a plain file";
}

/*
 * Restore runs as root and rebuilds whatever a file says: a file or a
 * directory that someone else could have written is not trusted.  Owner:
 * root or the user running tcpferry.  Mode: not writable by group or others,
 * a directory neither, sticky or not (in a sticky one another user could
 * still add a hard link to a file root owns under an image's name).
 */
static int check_trust(const struct stat *st, const char *name)
{
	bool dir = S_ISDIR(st->st_mode);
	struct passwd *pw;

	if (st->st_uid != 0 && st->st_uid != getuid()) {
		pw = getpwuid(st->st_uid);
		return tf_failx(EPERM, "owned by uid %u%s%s%s, not by root or you (uid %u): a %s another user "
				"could write is not trusted; check it, then chown %u %s",
				(unsigned)st->st_uid, pw ? " (" : "", pw ? pw->pw_name : "", pw ? ")" : "",
				(unsigned)getuid(), dir ? "directory" : "file", (unsigned)getuid(), name);
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return tf_failx(EPERM, "writable by %s (mode %04o): anyone could have replaced %s; "
				"check it, then chmod go-w %s",
				(st->st_mode & S_IWOTH) ? "every user" : "its group",
				(unsigned)(st->st_mode & 07777), dir ? "its files" : "it", name);
	return 0;
}

/*
 * The directory that holds path (or dir itself), opened and checked: an fd
 * to open files relative to, so that what was checked is what is read.
 */
static int open_dir(const char *dir)
{
	struct stat st;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err;

	if (fd < 0)
		return tf_fail(errno, "directory %s", dir);
	if (fstat(fd, &st)) {
		err = tf_fail(errno, "stat %s", dir);
		close(fd);
		return err;
	}
	err = check_trust(&st, dir);
	if (err) {
		tf_error_prefix("directory %s", dir);
		close(fd);
		return err;
	}
	return fd;
}

/*
 * name in the directory dfd (path, for the messages), opened for reading as
 * a file tcpferry could have written: never through a symbolic link, never
 * blocking on a fifo or a device (O_NONBLOCK until fstat has said it is a
 * plain file; with fifo_ok a fifo is opened as one, blocking until its
 * writer comes), owned and moded as check_trust wants.  The fd (st filled),
 * or -errno.
 */
static int open_trusted_at(int dfd, const char *name, const char *path, bool fifo_ok, struct stat *st)
{
	const char *what = fifo_ok ? "a regular file or a fifo" : "a regular file";
	int fd, err;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | (fifo_ok ? 0 : O_NONBLOCK));
	if (fd < 0 && errno == ELOOP)
		return tf_failx(ELOOP, "a symbolic link, not %s; %s", what, fifo_ok ?
				"name the file itself" : "a dump directory holds only the files tcpferry wrote "
				"(put the file itself there)");
	if (fd < 0)
		return tf_fail(errno, "open");
	if (fstat(fd, st)) {
		int e = errno;

		close(fd);
		return tf_fail(e, "stat");
	}
	if (!S_ISREG(st->st_mode) && !(fifo_ok && S_ISFIFO(st->st_mode))) {
		close(fd);
		return tf_failx(EINVAL, "not %s (%s)%s", what, file_kind(st->st_mode),
				fifo_ok ? "" : "; a dump directory holds only the files tcpferry wrote");
	}
	if ((err = check_trust(st, path))) {
		close(fd);
		return err;
	}
	return fd;
}

/* path's directory checked (open_dir), then path opened from it (open_trusted_at). */
static int open_trusted(const char *path, bool fifo_ok, struct stat *st)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
	int dfd, fd;

	if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if (slash && snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path) >= (int)sizeof(dir))
		return tf_failx(ENAMETOOLONG, "path too long");
	else if (!slash)
		snprintf(dir, sizeof(dir), ".");
	if (!*name)
		return tf_failx(EISDIR, "a directory, not a file");
	dfd = open_dir(dir);
	if (dfd < 0)
		return dfd;
	fd = open_trusted_at(dfd, name, path, fifo_ok, st);
	close(dfd);
	return fd;
}

int tf_open_trusted(const char *path, bool fifo_ok)
{
	struct stat st;

	return open_trusted(path, fifo_ok, &st);
}

/* Whole file into memory (images hold at most two 1 GiB queues), opened as open_trusted_at does. */
static int slurp_fd(int fd, const struct stat *pst, uint8_t **buf, size_t *len);

static int slurp_at(int dfd, const char *name, const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	int fd = open_trusted_at(dfd, name, path, false, &st);

	if (fd < 0)
		return fd;
	return slurp_fd(fd, &st, buf, len);
}

static int slurp_fd(int fd, const struct stat *pst, uint8_t **buf, size_t *len)
{
	const uint64_t max = 2ull * TF_RECORD_MAX + 64 * 1024;
	struct stat st = *pst;
	size_t got = 0;
	uint8_t *p;

	if ((uint64_t)st.st_size > max) {
		close(fd);
		return tf_failx(EFBIG, "%jd bytes, more than any image can hold", (intmax_t)st.st_size);
	}
	p = malloc(st.st_size ? st.st_size : 1);
	if (!p) {
		close(fd);
		return tf_failx(ENOMEM, "out of memory for %jd bytes", (intmax_t)st.st_size);
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(p);
			close(fd);
			return tf_fail(e, "read");
		}
		if (n == 0)
			break;	/* shrank under us: the decoder reports the truncation */
		got += n;
	}
	close(fd);
	*buf = p;
	*len = got;
	return 0;
}

/* path's directory checked, then path read from it. */
static int slurp(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	int fd = open_trusted(path, false, &st);

	if (fd < 0)
		return fd;
	return slurp_fd(fd, &st, buf, len);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= w;
	}
	return 0;
}

void tf_sync_parent(const char *path)
{
	char dir[PATH_MAX], *slash;
	int dfd;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
}

/*
 * Write under a temporary name and rename: readers see all or nothing.  With
 * durable, also fsync the file before the rename and the directory after it.
 */
static int write_atomic(const char *path, const uint8_t *buf, size_t len, bool durable)
{
	static unsigned counter;
	char tmp[PATH_MAX];
	int fd, err;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp-%d-%u", path, (int)getpid(),
		     __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED)) >= (int)sizeof(tmp))
		return tf_failx(ENAMETOOLONG, "path too long");
	fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return tf_fail(errno, "create %s", tmp);
	err = write_all(fd, buf, len);
	if (err) {
		err = tf_fail(-err, "write %s", tmp);
	} else if (durable && fsync(fd)) {
		err = tf_fail(errno, "fsync %s", tmp);
	}
	if (close(fd) && !err)
		err = tf_fail(errno, "close %s", tmp);
	if (!err && rename(tmp, path))
		err = tf_fail(errno, "rename %s", tmp);
	if (err) {
		unlink(tmp);
		return err;
	}
	if (!durable)
		return 0;
	/* The rename itself must reach the disk too. */
	tf_sync_parent(path);
	return 0;
}

/* ---- the public API ----------------------------------------------------------------------------- */

void tf_conn_free(struct tf_conn *c)
{
	if (!c)
		return;
	free(c->inq);
	free(c->outq);
	memset(c, 0, sizeof(*c));
}

int tf_image_encode(const struct tf_conn *c, uint8_t **buf, size_t *len)
{
	int err = encode_image(c, buf, len);

	if (err)
		tf_error_prefix("image");
	return err;
}

int tf_image_decode(const uint8_t *buf, size_t len, struct tf_conn *c)
{
	int err = decode_image(buf, len, c);

	if (err)
		tf_error_prefix("image");
	return err;
}

int tf_image_write(const char *path, const struct tf_conn *c)
{
	uint8_t *buf;
	size_t len;
	int err;

	err = encode_image(c, &buf, &len);
	if (!err) {
		/* Not synced one by one: tf_index_write syncs them all at once. */
		err = write_atomic(path, buf, len, false);
		free(buf);
	}
	if (err)
		tf_error_prefix("image %s", path);
	return err;
}

int tf_image_read(const char *path, struct tf_conn *c)
{
	uint8_t *buf;
	size_t len;
	int err;

	memset(c, 0, sizeof(*c));
	err = slurp(path, &buf, &len);
	if (!err) {
		err = decode_image(buf, len, c);
		free(buf);
	}
	if (err)
		tf_error_prefix("image %s", path);
	return err;
}

int tf_index_encode(const struct tf_index *ix, uint8_t **buf, size_t *len)
{
	int err = encode_index(ix, buf, len);

	if (err)
		tf_error_prefix("index");
	return err;
}

int tf_index_decode(const uint8_t *buf, size_t len, struct tf_index *ix)
{
	int err = decode_index(buf, len, ix);

	if (err)
		tf_error_prefix("index");
	return err;
}

static int index_path(const char *dir, char *path, size_t len)
{
	if (snprintf(path, len, "%s/%s", dir, TF_INDEX_FILE) >= (int)len)
		return tf_failx(ENAMETOOLONG, "index %s/%s: path too long", dir, TF_INDEX_FILE);
	return 0;
}

int tf_index_write(const char *dir, const struct tf_index *ix)
{
	char path[PATH_MAX];
	uint8_t *buf;
	size_t len;
	int err, dfd;

	if ((err = index_path(dir, path, sizeof(path))))
		return err;
	/*
	 * The index is what makes a dump complete, so the images must be on
	 * disk before it is: one syncfs for all of them (a journal commit per
	 * image made dumping 10,000 connections take 16 s on ext4).
	 */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return tf_fail(errno, "dump directory %s", dir);
	err = syncfs(dfd) ? tf_fail(errno, "sync the images in %s", dir) : 0;
	close(dfd);
	if (err)
		return err;
	err = encode_index(ix, &buf, &len);
	if (!err) {
		err = write_atomic(path, buf, len, true);
		free(buf);
	}
	if (err)
		tf_error_prefix("index %s", path);
	return err;
}

int tf_index_read(const char *dir, struct tf_index *ix)
{
	char path[PATH_MAX];
	uint8_t *buf;
	size_t len;
	int err, dfd;

	memset(ix, 0, sizeof(*ix));
	if ((err = index_path(dir, path, sizeof(path))))
		return err;
	dfd = open_dir(dir);
	if (dfd < 0) {
		tf_error_prefix("index %s", path);
		return dfd;
	}
	err = slurp_at(dfd, TF_INDEX_FILE, path, &buf, &len);
	close(dfd);
	if (!err) {
		err = decode_index(buf, len, ix);
		free(buf);
	}
	if (err)
		tf_error_prefix("index %s", path);
	return err;
}

void tf_index_free(struct tf_index *ix)
{
	if (!ix)
		return;
	free(ix->entries);
	memset(ix, 0, sizeof(*ix));
}
