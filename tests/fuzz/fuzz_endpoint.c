// SPDX-License-Identifier: BSD-2-Clause
/*
 * The address parsers of the command line: an endpoint (tf_endpoint_parse:
 * "10.0.0.1:80", "[fd00::1%eth0]:80"; tswatch --local/--peer), a tuple
 * (tf_tuple_parse: lock add LOCAL PEER) and a route (tf_route_prepare:
 * migrate move --route PREFIX --via ADDR).  The input is two strings, cut at
 * the first NUL or newline.  What parses prints and parses back the same.
 */
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "lock.h"
#include "route.h"

static void endpoint(const char *s)
{
	struct tf_endpoint e, back;
	char buf[TF_ADDRSTRLEN];

	if (tf_endpoint_parse(s, &e)) {
		FUZZ_ASSERT(tf_strerror()[0]);
		return;
	}
	FUZZ_ASSERT(e.family == AF_INET || e.family == AF_INET6);
	FUZZ_ASSERT(e.family == AF_INET6 || !e.scope_id);
	/* The text has no scope (an interface name): all else comes back. */
	FUZZ_ASSERT(tf_endpoint_parse(tf_endpoint_str(&e, buf, sizeof(buf)), &back) == 0);
	FUZZ_ASSERT(back.family == e.family && back.port == e.port &&
		    !memcmp(back.addr, e.addr, sizeof(e.addr)));
}

static void tuple(const char *l, const char *p)
{
	struct tf_tuple k;

	if (tf_tuple_parse(l, p, &k)) {
		FUZZ_ASSERT(tf_strerror()[0]);
		return;
	}
	FUZZ_ASSERT(k.family == AF_INET || k.family == AF_INET6);
	FUZZ_ASSERT(k.local_port && k.peer_port);
}

static void route(const char *prefix, const char *via)
{
	struct tf_route_change r;

	if (tf_route_prepare(&r, prefix, via, -1)) {
		FUZZ_ASSERT(tf_strerror()[0]);
		tf_route_close(&r);
		return;
	}
	FUZZ_ASSERT(r.dst_len >= 0 && r.dst_len <= (r.family == AF_INET ? 32 : 128));
	tf_route_close(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *a = malloc(size + 2), *b;
	size_t cut;

	if (!a)
		return 0;
	memcpy(a, data, size);
	a[size] = a[size + 1] = '\0';
	cut = strcspn(a, "\n");	/* or to the first NUL */
	b = cut < size ? a + cut + 1 : a + size + 1;
	a[cut] = '\0';
	endpoint(a);
	endpoint(b);
	tuple(a, b);
	route(a, b);
	free(a);
	return 0;
}
