// SPDX-License-Identifier: BSD-2-Clause
/* A new connection's first bytes: an HTTP/1.x head, a TLS ClientHello, or other (first_request.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "first_request.h"

const char *first_request_kind_name(enum fr_kind k)
{
	static const char *const names[] = { "more", "http", "tls", "other", "too-large", "malformed" };

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

static enum fr_kind fail(struct first_request *r, enum fr_kind k, const char *why)
{
	r->kind = k;
	r->why = why;
	return k;
}

/* ---- host names ------------------------------------------------------------------ */

/*
 * A host name (Host header without its port, SNI) into r->host, lower case:
 * letters, digits, '-', '.', '_'; or an IPv6 literal in brackets.  A trailing
 * dot goes.  false for anything else.
 */
static bool set_host(struct first_request *r, const char *s, size_t n)
{
	bool v6 = n && s[0] == '[';

	if (n && s[n - 1] == '.' && !v6)
		n--;
	if (n == 0 || n >= FR_HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
		      (v6 && (c == '[' || c == ']' || c == ':'))))
			return false;
		r->host[i] = c;
	}
	r->host[n] = '\0';
	return !v6 || r->host[n - 1] == ']';
}

/* "host", "host:port", "[v6]:port" -> the host part. */
static bool set_host_port(struct first_request *r, const char *s, size_t n)
{
	size_t h = n;

	if (n && s[0] == '[') {
		const char *end = memchr(s, ']', n);

		if (!end)
			return false;
		h = end - s + 1;
	} else {
		const char *colon = memchr(s, ':', n);

		if (colon)
			h = colon - s;
	}
	if (h < n) {	/* the port: digits only */
		if (s[h] != ':' || h + 1 == n)
			return false;
		for (size_t i = h + 1; i < n; i++)
			if (s[i] < '0' || s[i] > '9')
				return false;
	}
	return set_host(r, s, h);
}

/* ---- HTTP/1.x ------------------------------------------------------------------------ */

static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
				       "PATCH" };

/* Could buf start an HTTP request line (a method and a space)?  1 yes, 0 no, -1 not yet known. */
static int looks_http(const uint8_t *buf, size_t len)
{
	int maybe = 0;

	for (size_t m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
		size_t ml = strlen(methods[m]);

		if (len > ml) {
			if (!memcmp(buf, methods[m], ml) && buf[ml] == ' ')
				return 1;
		} else if (!memcmp(buf, methods[m], len)) {
			maybe = -1;
		}
	}
	return maybe;
}

/* The end of the line starting at p (at its '\n'), or NULL. */
static const char *line_end(const char *p, const char *end)
{
	return memchr(p, '\n', end - p);
}

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c);
}

/* "METHOD SP target SP HTTP/1.D" (n bytes, CR gone). */
static enum fr_kind request_line(struct first_request *r, const char *s, size_t n)
{
	const char *sp1 = memchr(s, ' ', n), *sp2, *target, *q;
	size_t tl;

	if (!sp1 || (size_t)(sp1 - s) >= FR_METHOD_MAX)
		return fail(r, FR_MALFORMED, "the request line has no method");
	sp2 = memchr(sp1 + 1, ' ', s + n - sp1 - 1);
	if (!sp2)
		return fail(r, FR_MALFORMED, "the request line has no HTTP version");
	if (s + n - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) || sp2[8] < '0' || sp2[8] > '9')
		return fail(r, FR_MALFORMED, "the request line does not end in HTTP/1.x");
	memcpy(r->method, s, sp1 - s);
	r->method[sp1 - s] = '\0';
	r->http_minor = sp2[8] - '0';
	target = sp1 + 1;
	tl = sp2 - target;
	if (tl == 0 || memchr(target, ' ', tl))
		return fail(r, FR_MALFORMED, "the request target is empty or has a space");
	for (size_t i = 0; i < tl; i++)
		if ((unsigned char)target[i] <= ' ' || target[i] == 0x7f)
			return fail(r, FR_MALFORMED, "the request target has a control character");
	if (tl > 7 && !strncasecmp(target, "http://", 7)) {
		/* Absolute form: the authority names the host. */
		const char *auth = target + 7, *slash = memchr(auth, '/', target + tl - auth);
		size_t al = (slash ? slash : target + tl) - auth;

		if (!set_host_port(r, auth, al))
			return fail(r, FR_MALFORMED, "the request target's host is not a host name");
		target = slash ? slash : "/";
		tl = slash ? (size_t)(sp2 - slash) : 1;
	}
	if (target[0] != '/') {
		r->path[0] = '\0';	/* "*", or CONNECT's authority form */
		return FR_HTTP;
	}
	q = memchr(target, '?', tl);
	if (q)
		tl = q - target;
	if (tl >= FR_PATH_MAX)
		return fail(r, FR_TOO_LARGE, "the request path is longer than the balancer takes");
	memcpy(r->path, target, tl);
	r->path[tl] = '\0';
	return FR_HTTP;
}

static enum fr_kind parse_http(const uint8_t *buf, size_t len, size_t max_bytes, struct first_request *r)
{
	/* Only the first max_bytes count: a verdict on them is the verdict
	 * whatever follows (the head must end within them). */
	const char *p = (const char *)buf, *end = p + (len < max_bytes ? len : max_bytes), *nl;
	bool have_host = false, absolute_host;
	enum fr_kind k;

	/* The request line first: a bad one is said at once, whatever follows. */
	nl = line_end(p, end);
	if (!nl)
		return len >= max_bytes ? fail(r, FR_TOO_LARGE, "the request line is longer than the limit") : FR_MORE;
	k = request_line(r, p, nl - p - (nl > p && nl[-1] == '\r'));
	if (k != FR_HTTP)
		return k;
	absolute_host = r->host[0] != '\0';
	for (p = nl + 1;; p = nl + 1) {
		const char *colon, *v, *ve;
		size_t n;

		nl = line_end(p, end);
		if (!nl)
			return len >= max_bytes ? fail(r, FR_TOO_LARGE, "the request head is larger than the limit")
						: FR_MORE;
		n = nl - p - (nl > p && nl[-1] == '\r');
		if (n == 0)
			break;	/* the empty line: the head is whole */
		if (p[0] == ' ' || p[0] == '\t')
			return fail(r, FR_MALFORMED, "a header line is folded (obsolete line folding)");
		colon = memchr(p, ':', n);
		if (!colon || colon == p)
			return fail(r, FR_MALFORMED, "a header line has no name and colon");
		for (const char *c = p; c < colon; c++)
			if (!is_tchar(*c))
				return fail(r, FR_MALFORMED, "a header name has a character a token cannot have");
		if (colon - p != 4 || strncasecmp(p, "host", 4))
			continue;
		if (have_host)
			return fail(r, FR_MALFORMED, "the request has two Host headers");
		have_host = true;
		for (v = colon + 1; v < p + n && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = p + n; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		/* An absolute-form target names the host; Host is then ignored (RFC 9112 3.2.2). */
		if (!absolute_host && ve > v && !set_host_port(r, v, ve - v))
			return fail(r, FR_MALFORMED, "the Host header is not a host name");
	}
	if (!have_host && r->http_minor >= 1)
		return fail(r, FR_MALFORMED, "an HTTP/1.1 request without a Host header");
	r->used = nl + 1 - (const char *)buf;
	r->kind = FR_HTTP;
	return FR_HTTP;
}

/* ---- TLS ClientHello --------------------------------------------------------------------- */

#define TLS_HANDSHAKE		22
#define TLS_CLIENT_HELLO	1
#define TLS_EXT_SERVER_NAME	0
#define TLS_RECORD_MAX		(16384 + 2048)

struct cursor {
	const uint8_t *p;
	size_t n;
	bool bad;
};

static const uint8_t *take(struct cursor *c, size_t n)
{
	const uint8_t *p = c->p;

	if (c->bad || c->n < n) {
		c->bad = true;
		return NULL;
	}
	c->p += n;
	c->n -= n;
	return p;
}

static size_t take_len(struct cursor *c, int bytes)
{
	const uint8_t *p = take(c, bytes);
	size_t v = 0;

	for (int i = 0; p && i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

/* A sub-cursor over the next len bytes of c. */
static struct cursor sub(struct cursor *c, size_t len)
{
	const uint8_t *p = take(c, len);

	return (struct cursor){ .p = p, .n = p ? len : 0, .bad = !p };
}

/* The SNI extension's data: the first host_name of its list. */
static bool server_name(struct first_request *r, struct cursor e)
{
	struct cursor list = sub(&e, take_len(&e, 2));

	if (e.bad || e.n)
		return false;
	while (list.n && !list.bad) {
		int type = take_len(&list, 1);
		size_t n = take_len(&list, 2);
		const uint8_t *name = take(&list, n);

		if (list.bad)
			return false;
		if (type == 0)
			return set_host(r, (const char *)name, n);
	}
	return !list.bad;
}

static enum fr_kind client_hello(struct first_request *r, const uint8_t *hs, size_t n)
{
	struct cursor c = { .p = hs, .n = n }, ext;

	take(&c, 2 + 32);		/* client_version, random */
	sub(&c, take_len(&c, 1));	/* session_id */
	size_t suites = take_len(&c, 2);
	sub(&c, suites);
	size_t comp = take_len(&c, 1);
	sub(&c, comp);
	if (c.bad || suites < 2 || suites % 2 || comp < 1)
		return fail(r, FR_MALFORMED, "the ClientHello's lengths do not add up");
	if (c.n == 0)
		return r->kind = FR_TLS;	/* no extensions: no SNI */
	ext = sub(&c, take_len(&c, 2));
	if (c.bad || c.n)
		return fail(r, FR_MALFORMED, "the ClientHello's extensions do not fill it");
	while (ext.n && !ext.bad) {
		int type = take_len(&ext, 2);
		struct cursor data = sub(&ext, take_len(&ext, 2));

		if (ext.bad)
			break;
		if (type == TLS_EXT_SERVER_NAME && !server_name(r, data))
			return fail(r, FR_MALFORMED, "the ClientHello's server name is not a host name");
	}
	if (ext.bad)
		return fail(r, FR_MALFORMED, "an extension of the ClientHello runs past its end");
	return r->kind = FR_TLS;
}

/*
 * Records of type handshake, their payloads joined, until the ClientHello
 * (type 1, a 3-byte length) is whole.  The joined bytes live in a buffer of
 * max_bytes at most: a ClientHello larger than that is FR_TOO_LARGE.
 */
static enum fr_kind parse_tls(const uint8_t *buf, size_t len, size_t max_bytes, struct first_request *r)
{
	uint8_t hs[65536];
	size_t have = 0, off = 0, want = 0;
	size_t cap = max_bytes < sizeof(hs) ? max_bytes : sizeof(hs);

	for (;;) {
		size_t rl;

		if (len - off < 5)
			break;
		if (buf[off] != TLS_HANDSHAKE || buf[off + 1] != 3)
			return fail(r, FR_MALFORMED, "a TLS record before the ClientHello's end is not a handshake");
		rl = (size_t)buf[off + 3] << 8 | buf[off + 4];
		if (rl == 0 || rl > TLS_RECORD_MAX)
			return fail(r, FR_MALFORMED, "a TLS record's length is out of range");
		/* Said from the record's header: its payload would not fit. */
		if (have + rl > cap)
			return fail(r, FR_TOO_LARGE, "the ClientHello is larger than the limit");
		if (len - off - 5 < rl)
			break;
		memcpy(hs + have, buf + off + 5, rl);
		have += rl;
		off += 5 + rl;
		if (have >= 4) {
			if (hs[0] != TLS_CLIENT_HELLO)
				return fail(r, FR_MALFORMED, "the first TLS handshake message is not a ClientHello");
			want = 4 + ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3]);
			if (want > cap)
				return fail(r, FR_TOO_LARGE, "the ClientHello is larger than the limit");
			if (have >= want) {
				r->used = off;
				return client_hello(r, hs + 4, want - 4);
			}
		}
	}
	return FR_MORE;
}

enum fr_kind first_request_parse(const uint8_t *buf, size_t len, size_t max_bytes, struct first_request *r)
{
	int http;

	memset(r, 0, sizeof(*r));
	if (len == 0)
		return FR_MORE;
	if (buf[0] == TLS_HANDSHAKE && (len < 2 || buf[1] == 3))
		return parse_tls(buf, len, max_bytes, r);
	http = looks_http(buf, len);
	if (http > 0)
		return parse_http(buf, len, max_bytes, r);
	if (http < 0)
		return FR_MORE;
	r->kind = FR_OTHER;
	return FR_OTHER;
}
