/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What tcpferry tswatch makes of one record of the recorder's ring buffer
 * (struct tf_tsval_event, bpf/map_types.h): filtered, counted, printed as a
 * line or a JSON object.  Apart from cmd_tswatch.c so that a fuzzer can feed
 * it (tests/fuzz/fuzz_tswatch_event.c).
 */
#ifndef TF_TSWATCH_EVENT_H
#define TF_TSWATCH_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "json.h"
#include "lock.h"

struct tswatch_filter {
	bool has_local, has_peer;
	struct tf_endpoint local, peer;	/* port 0: any */
};

struct tswatch {
	struct tswatch_filter f;
	bool quiet;		/* no 'first' lines */
	struct json *j;		/* JSON objects here, or */
	FILE *out;		/* text lines here (stdout) */
	uint64_t start_ns;	/* CLOCK_MONOTONIC (the recorder's bpf_ktime_get_ns) at our start */
	unsigned long events, regressions, jumps;
};

bool tswatch_tuple_match(const struct tswatch_filter *f, const struct tf_tuple *k);
/* Both ends as text, each into TF_ADDRSTRLEN bytes. */
void tswatch_tuple_strs(const struct tf_tuple *k, char *l, char *p);
/* A ring_buffer__new callback (ctx: struct tswatch); any len, any bytes.  Returns 0. */
int tswatch_on_event(void *ctx, void *data, size_t len);

#endif
