// SPDX-License-Identifier: BSD-2-Clause
/*
 * The balancer's reading of a new connection's first bytes
 * (first_request_parse: HTTP/1.x heads, TLS ClientHellos, other).  Any
 * input, at two limits: no crash; what is found stays inside the input and
 * the host name is clean; and a verdict reached on a prefix of the input is
 * the verdict on all of it (nothing decided on half the bytes changes when
 * the rest arrives).
 */
#include <string.h>

#include "fuzz.h"
#include "first_request.h"

static void check(const uint8_t *data, size_t size, size_t limit)
{
	struct first_request r, p;
	enum fr_kind k = first_request_parse(data, size, limit, &r);

	FUZZ_ASSERT(k == r.kind || k == FR_MORE);
	/* Bounded reading: HTTP wants no more than the limit, TLS no more than
	 * the limit in records of one byte each (6 bytes a byte) and one record. */
	FUZZ_ASSERT(k != FR_MORE || size < limit || (data[0] == 22 && size < 6 * limit + 5 + 16384 + 2048));
	if (k == FR_HTTP || k == FR_TLS)
		FUZZ_ASSERT(r.used <= size && (k != FR_HTTP || r.used > 0));
	if (k == FR_MALFORMED || k == FR_TOO_LARGE)
		FUZZ_ASSERT(r.why && r.why[0]);
	FUZZ_ASSERT(strlen(r.host) < FR_HOST_MAX && strlen(r.path) < FR_PATH_MAX);
	for (const char *h = r.host; *h; h++)
		FUZZ_ASSERT((*h >= 'a' && *h <= 'z') || (*h >= '0' && *h <= '9') || strchr("-._[]:", *h));
	/* The same verdict from the shortest prefix that has one. */
	if (k == FR_MORE)
		return;
	for (size_t n = 0; n < size; n++) {
		enum fr_kind pk = first_request_parse(data, n, limit, &p);

		if (pk == FR_MORE)
			continue;
		FUZZ_ASSERT(pk == k);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(data, size, 16384);
	check(data, size, 64);
	return 0;
}
