// SPDX-License-Identifier: BSD-2-Clause
/*
 * The balancer's config parser (user/balance/rules.c): any text.  No crash
 * or leak; a refusal says where ("SOURCE:LINE: ..."); what parses refers
 * only to what it defined (every pool member a backend, every rule a pool),
 * and routes and picks within it.
 */
#include <string.h>

#include "fuzz.h"
#include "internal.h"
#include "pool.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char req[] = "GET /api/x HTTP/1.1\r\nHost: a.example.com\r\n\r\n";
	char *text = malloc(size + 1);
	struct first_request r;
	struct bal_config c;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (bal_config_parse(text, "f.conf", &c)) {
		FUZZ_ASSERT(!strncmp(tf_strerror(), "f.conf:", 7) || strstr(tf_strerror(), "no memory"));
		free(text);
		return 0;
	}
	for (int p = 0; p < c.n_pools; p++)
		for (int m = 0; m < c.pools[p].n; m++)
			FUZZ_ASSERT(c.pools[p].members[m].backend >= 0 &&
				    c.pools[p].members[m].backend < c.n_backends);
	for (int i = 0; i < c.n_rules; i++)
		FUZZ_ASSERT(c.rules[i].pool >= 0 && c.rules[i].pool < c.n_pools);
	FUZZ_ASSERT(c.default_pool >= -1 && c.default_pool < c.n_pools);
	FUZZ_ASSERT(c.default_status == 404 || c.default_status == 503);
	for (int i = 0; i < c.n_backends; i++)
		c.backends[i].up = true;
	first_request_parse((const uint8_t *)req, sizeof(req) - 1, 16384, &r);
	int pool = bal_route(&c, &r, (const uint8_t *)req, sizeof(req) - 1);
	FUZZ_ASSERT(pool >= -1 && pool < c.n_pools);
	if (pool >= 0) {
		int b = bal_pick(&c, pool, r.host, strlen(r.host), NULL);

		FUZZ_ASSERT(b >= -1 && b < c.n_backends && (b >= 0 || c.pools[pool].n == 0));
	}
	bal_config_free(&c);
	free(text);
	return 0;
}
