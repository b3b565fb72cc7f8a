/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the image tests share: connections built by hand, field-by-field
 * comparison that names the field that differs, and a second, independent
 * writer of the record framing (straight from images/FORMAT.md) so tests can
 * craft files the codec itself would never write.
 */
#ifndef TF_IMAGE_TESTLIB_H
#define TF_IMAGE_TESTLIB_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <zlib.h>

#include "tap.h"
#include "internal.h"	/* tf_error_clear, ARRAY_SIZE */
#include "tcpferry.h"

static inline void ep_set(struct tf_endpoint *e, int family, const char *addr, uint16_t port)
{
	memset(e, 0, sizeof(*e));
	e->family = family;
	e->port = port;
	if (inet_pton(family, addr, e->addr) != 1)
		bail_out("bad test address %s", addr);
}

static inline uint8_t *bytes_of(const char *s, uint32_t *len)
{
	*len = strlen(s);
	return (uint8_t *)strdup(s);
}

static inline void add_opt(struct tf_conn *c, uint16_t id, const void *val, uint16_t len)
{
	struct tf_sockopt *o = &c->sockopts[c->n_sockopts++];

	o->id = id;
	o->len = len;
	memcpy(o->val, val, len);
}

static inline void add_int(struct tf_conn *c, uint16_t id, int v)
{
	add_opt(c, id, &v, sizeof(v));
}

/* The connection in images/golden/v1-ipv4.tfc: every field set, every option kind. */
static inline void golden_ipv4(struct tf_conn *c)
{
	static const uint64_t pacing = 1000000;
	static const int linger[2] = { 1, 5 };

	memset(c, 0, sizeof(*c));
	c->sock_family = AF_INET;
	c->tcp_state = 1;
	ep_set(&c->local, AF_INET, "192.0.2.1", 443);
	ep_set(&c->peer, AF_INET, "198.51.100.7", 51234);
	c->snd_seq = 0x11223344;
	c->rcv_seq = 0xa0b0c0d0;
	c->mss_clamp = 1448;
	c->opts = TF_OPT_SACK | TF_OPT_TSTAMP | TF_OPT_WSCALE;
	c->snd_wscale = 7;
	c->rcv_wscale = 9;
	c->has_window = true;
	c->window = (struct tf_window){ .snd_wl1 = 0xa0b0c0c0, .snd_wnd = 65535,
					.max_window = 131072, .rcv_wnd = 64240,
					.rcv_wup = 0xa0b0c0d0 };
	c->ts_clock = 0x00123457;	/* odd: microsecond timestamps */
	c->has_ts_wire = true;
	c->ts_wire = 0x00123461;
	c->dump_time_ns = 1700000000123456789ull;
	c->inq = bytes_of("GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n", &c->inq_len);
	c->outq = bytes_of("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", &c->outq_len);
	c->unsent_len = 5;
	add_int(c, TF_SO_NODELAY, 1);
	add_int(c, TF_SO_KEEPALIVE, 1);
	add_opt(c, TF_SO_CONGESTION, "cubic", 5);
	add_int(c, TF_SO_MARK, 42);
	add_opt(c, TF_SO_LINGER, linger, sizeof(linger));
	add_opt(c, TF_SO_MAX_PACING_RATE, &pacing, sizeof(pacing));
}

/* images/golden/v1-ipv6.tfc: the bare minimum, nothing optional. */
static inline void golden_ipv6(struct tf_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->sock_family = AF_INET6;
	c->tcp_state = 1;
	ep_set(&c->local, AF_INET6, "2001:db8::1", 8080);
	ep_set(&c->peer, AF_INET6, "2001:db8::2", 40000);
	c->snd_seq = 1;
	c->rcv_seq = 0xffffffff;
	c->mss_clamp = 1220;
	c->opts = TF_OPT_SACK;
	c->ts_clock = 1000;
	c->dump_time_ns = 1700000000000000000ull;
}

static inline void golden_index(struct tf_index *ix, struct tf_index_entry e[2])
{
	struct tf_conn a, b;

	golden_ipv4(&a);
	golden_ipv6(&b);
	memset(ix, 0, sizeof(*ix));
	memset(e, 0, 2 * sizeof(*e));
	ix->pid = 4242;
	ix->time_ns = 1700000000123456789ull;
	strcpy(ix->host, "golden-host");
	strcpy(e[0].file, "v1-ipv4.tfc");
	e[0].local = a.local;
	e[0].peer = a.peer;
	strcpy(e[1].file, "v1-ipv6.tfc");
	e[1].local = b.local;
	e[1].peer = b.peer;
	ix->n = 2;
	ix->entries = e;
	tf_conn_free(&a);
	tf_conn_free(&b);
}

#define SAME(field) do {						\
	if (a->field != b->field) {					\
		diag("  %s differs: %llu vs %llu", #field,		\
		     (unsigned long long)a->field, (unsigned long long)b->field); \
		same = false;						\
	}								\
} while (0)

static inline bool endpoint_equal(const struct tf_endpoint *a, const struct tf_endpoint *b)
{
	bool same = true;

	SAME(family); SAME(port); SAME(scope_id);
	if (memcmp(a->addr, b->addr, 16)) {
		diag("  addr differs");
		same = false;
	}
	return same;
}

static inline bool conn_equal(const struct tf_conn *a, const struct tf_conn *b)
{
	bool same = true;

	SAME(sock_family); SAME(tcp_state);
	same &= endpoint_equal(&a->local, &b->local);
	same &= endpoint_equal(&a->peer, &b->peer);
	SAME(snd_seq); SAME(rcv_seq); SAME(mss_clamp); SAME(opts);
	SAME(snd_wscale); SAME(rcv_wscale); SAME(has_window);
	SAME(window.snd_wl1); SAME(window.snd_wnd); SAME(window.max_window);
	SAME(window.rcv_wnd); SAME(window.rcv_wup);
	SAME(ts_clock); SAME(has_ts_wire); SAME(ts_wire); SAME(dump_time_ns);
	SAME(inq_len); SAME(outq_len); SAME(unsent_len); SAME(fin_unsent); SAME(n_sockopts);
	if (!same)
		return false;
	if (a->inq_len && memcmp(a->inq, b->inq, a->inq_len)) {
		diag("  inq bytes differ");
		same = false;
	}
	if (a->outq_len && memcmp(a->outq, b->outq, a->outq_len)) {
		diag("  outq bytes differ");
		same = false;
	}
	for (uint32_t i = 0; i < a->n_sockopts; i++) {
		const struct tf_sockopt *x = &a->sockopts[i], *y = &b->sockopts[i];

		if (x->id != y->id || x->len != y->len || memcmp(x->val, y->val, x->len)) {
			diag("  sockopt %u differs (id %u vs %u)", i, x->id, y->id);
			same = false;
		}
	}
	return same;
}

static inline bool index_equal(const struct tf_index *a, const struct tf_index *b)
{
	bool same = true;

	SAME(pid); SAME(time_ns); SAME(n);
	if (strcmp(a->host, b->host)) {
		diag("  host differs: '%s' vs '%s'", a->host, b->host);
		same = false;
	}
	for (uint32_t i = 0; same && i < a->n; i++) {
		if (strcmp(a->entries[i].file, b->entries[i].file)) {
			diag("  entry %u file differs", i);
			same = false;
		}
		same &= endpoint_equal(&a->entries[i].local, &b->entries[i].local);
		same &= endpoint_equal(&a->entries[i].peer, &b->entries[i].peer);
	}
	return same;
}

#undef SAME

/* ---- an independent writer of the framing, for crafted files -------------------------- */

struct craft {
	uint8_t buf[1 << 16];
	size_t len;
	uint32_t nrec;
};

static inline void craft_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = v >> (8 * i);
}

static inline void craft_start(struct craft *f, const char *magic)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->buf, magic, 8);
	craft_le(f->buf + 8, 1, 2);
	craft_le(f->buf + 10, 0, 2);
	craft_le(f->buf + 12, crc32(0, f->buf, 12), 4);
	f->len = 16;
}

static inline void craft_record(struct craft *f, uint16_t type, uint16_t flags,
				const void *payload, uint32_t n)
{
	uint8_t *r = f->buf + f->len;

	craft_le(r, type, 2);
	craft_le(r + 2, flags, 2);
	craft_le(r + 4, n, 4);
	memcpy(r + 8, payload, n);
	craft_le(r + 8 + n, crc32(0, r, 8 + n), 4);
	f->len += 12 + n;
	f->nrec++;
}

static inline void craft_end(struct craft *f)
{
	uint8_t p[8];

	craft_le(p, f->nrec, 4);
	craft_le(p + 4, crc32(0, f->buf, f->len), 4);
	craft_record(f, 0x0001, 1, p, 8);
	f->nrec--;	/* END does not count itself */
}

/*
 * Split an encoded file into records (trusting it: it came from the codec)
 * and call fn for each one but END, so a test can copy, drop or change them.
 */
static inline void craft_each(const uint8_t *buf, size_t len,
			      void (*fn)(void *arg, uint16_t type, uint16_t flags,
					 const uint8_t *p, uint32_t n),
			      void *arg)
{
	size_t pos = 16;

	while (pos + 12 <= len) {
		uint16_t type = buf[pos] | buf[pos + 1] << 8;
		uint16_t flags = buf[pos + 2] | buf[pos + 3] << 8;
		uint32_t n = buf[pos + 4] | buf[pos + 5] << 8 | buf[pos + 6] << 16 |
			     (uint32_t)buf[pos + 7] << 24;

		if (type != 0x0001)
			fn(arg, type, flags, buf + pos + 8, n);
		pos += 12 + n;
	}
}

#endif
