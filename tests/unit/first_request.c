// SPDX-License-Identifier: BSD-2-Clause
/*
 * first_request_parse, the balancer's reading of a new connection's first
 * bytes: HTTP/1.x heads (Host, path, absolute form, limits, the 400 cases),
 * TLS ClientHellos (a real one from `openssl s_client -servername`, the
 * same split over two records, a hello without SNI, broken lengths), other
 * protocols; and every prefix of each valid input is FR_MORE, never a
 * verdict made on half the bytes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "first_request.h"

#define LIMIT 16384

static struct first_request r;

static enum fr_kind parse(const char *s)
{
	return first_request_parse((const uint8_t *)s, strlen(s), LIMIT, &r);
}

/* Every proper prefix of buf is FR_MORE (a verdict needs the whole head). */
static int prefixes_wait(const uint8_t *buf, size_t len)
{
	struct first_request p;

	for (size_t n = 0; n < len; n++)
		if (first_request_parse(buf, n, LIMIT, &p) != FR_MORE) {
			diag("prefix of %zu of %zu bytes: %s (%s)", n, len, first_request_kind_name(p.kind),
			     p.why ? p.why : "");
			return 0;
		}
	return 1;
}

/* The first bytes `openssl s_client -servername name` sends: its ClientHello. */
static size_t openssl_hello(const char *name, uint8_t *buf, size_t cap)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), c;
	char port[16], target[64];
	size_t got = 0;
	pid_t pid;

	if (access("/usr/bin/openssl", X_OK) || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen))
		return 0;
	snprintf(port, sizeof(port), "%d", ntohs(a.sin_port));
	snprintf(target, sizeof(target), "127.0.0.1:%s", port);
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", 0);

		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execl("/usr/bin/openssl", "openssl", "s_client", "-connect", target, "-servername", name, (char *)NULL);
		_exit(127);
	}
	c = accept(l, NULL, NULL);
	if (c >= 0) {
		struct pollfd pf = { .fd = c, .events = POLLIN };

		/* Whatever arrives within a second of the first bytes: the hello. */
		while (got < cap && poll(&pf, 1, got ? 300 : 5000) == 1) {
			ssize_t n = read(c, buf + got, cap - got);

			if (n <= 0)
				break;
			got += n;
		}
		close(c);
	}
	close(l);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return got;
}

int main(void)
{
	uint8_t hello[8192], split[8200];
	size_t hl;
	char big[LIMIT + 64];

	plan(33);

	/* ---- HTTP ---- */
	const char *get = "GET /static/app.js?v=3 HTTP/1.1\r\nHost: WWW.Example.com:8080\r\nAccept: */*\r\n\r\n";
	ok(parse(get) == FR_HTTP && !strcmp(r.method, "GET") && !strcmp(r.path, "/static/app.js") &&
		   !strcmp(r.host, "www.example.com") && r.http_minor == 1 && r.used == strlen(get),
	   "HTTP/1.1 GET: method, path without the query, Host lower case without its port, the head's length");
	ok(prefixes_wait((const uint8_t *)get, strlen(get)), "  every prefix of it: more bytes wanted");
	ok(parse("POST /up HTTP/1.0\r\n\r\nbody") == FR_HTTP && !strcmp(r.method, "POST") && r.host[0] == '\0' &&
		   r.used == 21,
	   "HTTP/1.0 without Host: no host; the body is not part of the head");
	ok(parse("GET http://Api.Example.org/v1/x HTTP/1.1\r\nHost: other.example\r\n\r\n") == FR_HTTP &&
		   !strcmp(r.host, "api.example.org") && !strcmp(r.path, "/v1/x"),
	   "absolute form: the target's host wins over Host (RFC 9112 3.2.2)");
	ok(parse("GET / HTTP/1.1\nHost: [fd00::1]:80\n\n") == FR_HTTP && !strcmp(r.host, "[fd00::1]"),
	   "bare LF line ends; an IPv6 literal Host keeps its brackets, loses its port");
	ok(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n") == FR_HTTP && r.path[0] == '\0', "OPTIONS *: no path");
	ok(parse("GET / HTTP/1.1\r\n\r\n") == FR_MALFORMED && strstr(r.why, "without a Host"),
	   "HTTP/1.1 without Host: malformed (400)");
	ok(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == FR_MALFORMED && strstr(r.why, "two Host"),
	   "two Host headers: malformed");
	ok(parse("GET / HTTP/1.1\r\nHost: a b\r\n\r\n") == FR_MALFORMED, "a Host with a space: malformed");
	ok(parse("GET / HTTP/2.0\r\n\r\n") == FR_MALFORMED && strstr(r.why, "HTTP/1.x"), "HTTP/2.0 in a request line: malformed");
	ok(parse("GET  / HTTP/1.1\r\n") == FR_MALFORMED, "two spaces after the method: malformed at once, before the head ends");
	ok(parse("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n") == FR_MALFORMED && strstr(r.why, "folded"),
	   "an obsolete folded header line: malformed");
	ok(parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n") == FR_MALFORMED, "a header line without a colon: malformed");
	ok(parse("GET /\x01 HTTP/1.1\r\n\r\n") == FR_MALFORMED, "a control character in the target: malformed");
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	ok(first_request_parse((uint8_t *)big, sizeof(big), LIMIT, &r) == FR_TOO_LARGE,
	   "a head over the 16 KB limit: too large (431)");
	ok(first_request_parse((uint8_t *)big, LIMIT - 1, LIMIT, &r) == FR_MORE, "  under the limit and unfinished: more");
	ok(parse("GE") == FR_MORE && parse("GET") == FR_MORE, "\"GE\", \"GET\": could still be a request: more");

	/* ---- other protocols ---- */
	ok(parse("SSH-2.0-OpenSSH_9.2\r\n") == FR_OTHER, "an SSH banner: other (a prefix rule may match it)");
	ok(parse("GETX / HTTP/1.1\r\n") == FR_OTHER, "GETX is no method: other");
	ok(parse("\x05\x01\x00") == FR_OTHER, "SOCKS5: other");
	ok(parse("") == FR_MORE, "nothing yet: more");

	/* ---- TLS ---- */
	hl = openssl_hello("Secure.Example.COM", hello, sizeof(hello));
	if (hl > 5) {
		ok(first_request_parse(hello, hl, LIMIT, &r) == FR_TLS && !strcmp(r.host, "secure.example.com"),
		   "openssl s_client's ClientHello (%zu bytes): TLS, its SNI lower case (%s)", hl, r.host);
		ok(r.used == 5 + ((size_t)hello[3] << 8 | hello[4]), "  the hello's one record is what it used");
		ok(prefixes_wait(hello, r.used), "  every prefix of it: more bytes wanted");
		/* The same hello split into two records, as a client may send it. */
		size_t body = (size_t)hello[3] << 8 | hello[4], first = body / 3;

		memcpy(split, hello, 5);
		split[3] = first >> 8;
		split[4] = first;
		memcpy(split + 5, hello + 5, first);
		memcpy(split + 5 + first, hello, 5);
		split[5 + first + 3] = (body - first) >> 8;
		split[5 + first + 4] = body - first;
		memcpy(split + 10 + first, hello + 5 + first, body - first);
		ok(first_request_parse(split, body + 10, LIMIT, &r) == FR_TLS && !strcmp(r.host, "secure.example.com") &&
			   r.used == body + 10,
		   "the same hello in two records: joined, the same SNI");
		ok(prefixes_wait(split, body + 10), "  every prefix of it: more");
		ok(first_request_parse(hello, hl, 200, &r) == FR_TOO_LARGE, "a hello over the limit: too large");
		hello[5 + 4 + 2 + 32] = 200;	/* session id length past the end */
		enum fr_kind k = first_request_parse(hello, hl, LIMIT, &r);

		ok(k == FR_MALFORMED && strstr(r.why, "add up"), "a hello whose lengths do not add up: malformed (%s)",
		   r.why ? r.why : "");
	} else {
		for (int i = 0; i < 7; i++)
			skip("openssl s_client did not give a ClientHello (is /usr/bin/openssl there?)", "TLS from openssl");
	}
	{
		/* A minimal hello without extensions. */
		uint8_t h[] = { 22, 3, 1, 0, 45, 1, 0, 0, 41, 3, 3, [11 ... 42] = 7, 0, 0, 2, 0x13, 0x01, 1, 0 };

		ok(first_request_parse(h, sizeof(h), LIMIT, &r) == FR_TLS && r.host[0] == '\0',
		   "a ClientHello without extensions: TLS, no SNI");
		h[5] = 2;	/* ServerHello */
		ok(first_request_parse(h, sizeof(h), LIMIT, &r) == FR_MALFORMED, "a handshake that is not a ClientHello: malformed");
		uint8_t alert[] = { 21, 3, 3, 0, 2, 2, 40 };
		ok(first_request_parse(alert, sizeof(alert), LIMIT, &r) == FR_OTHER, "a TLS alert record: other");
		uint8_t zero[] = { 22, 3, 1, 0, 0 };
		ok(first_request_parse(zero, sizeof(zero), LIMIT, &r) == FR_MALFORMED, "an empty handshake record: malformed");
	}
	ok(!strcmp(first_request_kind_name(FR_TOO_LARGE), "too-large"), "kinds have names for counters");
	return done_testing();
}
