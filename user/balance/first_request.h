/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What a hand-off balancer reads of a new connection before it picks a
 * backend: the first bytes its client sent, classified without consuming
 * anything (the bytes stay in the socket, or go back in front of the
 * restored receive queue, for the backend to read as if new).
 *
 *   HTTP/1.x   the request line and headers up to the empty line: method,
 *              path (without the query), Host (without its port; from an
 *              absolute-form target if there is one), version
 *   TLS        a ClientHello, in one or more handshake records: the SNI
 *              host name if it has one (TLS is not terminated here: the
 *              backend does that, as HAProxy's req.ssl_sni in TCP mode)
 *   other      neither: the rules match its first bytes (a prefix)
 *
 * first_request_parse() is called again with more bytes until it says
 * something other than FR_MORE.  Limits: an HTTP header block or a
 * ClientHello over max_bytes is FR_TOO_LARGE (the balancer answers 431 to
 * HTTP); a request line that is not HTTP/1.x grammar, a header line without
 * a colon, or a ClientHello whose lengths do not add up is FR_MALFORMED
 * (400).  Host names come out lower case, at most FR_HOST_MAX - 1 bytes.
 */
#ifndef TF_BALANCE_FIRST_REQUEST_H
#define TF_BALANCE_FIRST_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#define FR_HOST_MAX	256
#define FR_PATH_MAX	1024
#define FR_METHOD_MAX	16

enum fr_kind {
	FR_MORE = 0,		/* not enough bytes yet to tell */
	FR_HTTP,
	FR_TLS,
	FR_OTHER,
	FR_TOO_LARGE,
	FR_MALFORMED,
};

struct first_request {
	enum fr_kind kind;
	size_t used;			/* bytes the request's head took (HTTP: up to and
					 * with the empty line; TLS: the ClientHello's records) */
	char method[FR_METHOD_MAX];	/* HTTP */
	char path[FR_PATH_MAX];		/* HTTP: "/a/b" of "/a/b?q" (longer paths: FR_TOO_LARGE) */
	char host[FR_HOST_MAX];		/* HTTP Host or TLS SNI; "" if none */
	int http_minor;			/* HTTP/1.0 or HTTP/1.1: 0 or 1 */
	const char *why;		/* FR_MALFORMED, FR_TOO_LARGE: what was wrong */
};

enum fr_kind first_request_parse(const uint8_t *buf, size_t len, size_t max_bytes, struct first_request *r);

/* "http", "tls", "other", ...: for messages and counters. */
const char *first_request_kind_name(enum fr_kind k);

#endif
