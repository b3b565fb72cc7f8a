// SPDX-License-Identifier: BSD-2-Clause
/*
 * tswatch's reading of the recorder's ring buffer records
 * (user/cli/tswatch_event.c) on any bytes of any length: the first byte
 * picks text or JSON, --quiet and the filters (taken from the record's own
 * tuple, with or without its ports, or the other way round), the rest is the
 * record.  Nothing it counts may go beyond what it saw.
 */
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "tsval.h"
#include "tswatch_event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct tswatch w = {};
	struct tf_tsval_event ev = {};
	uint8_t flags, *rec;
	size_t len;

	if (!devnull && !(devnull = fopen("/dev/null", "w")))
		return 0;
	if (size < 1)
		return 0;
	flags = data[0];
	len = size - 1;
	/* The record in a buffer of its own size: a read past it is an overrun. */
	rec = malloc(len ? len : 1);
	if (!rec)
		return 0;
	memcpy(rec, data + 1, len);
	memcpy(&ev, rec, len < sizeof(ev) ? len : sizeof(ev));

	w.out = devnull;
	w.quiet = flags & 1;
	w.j = flags & 2 ? json_new(devnull, flags & 4) : NULL;
	w.start_ns = flags & 8 ? ev.time_ns : 0;
	if (flags & 0x30) {
		struct tf_endpoint l, p;

		tf_tuple_endpoints(&ev.tuple, &l, &p);
		if (flags & 0x40)
			l.port = p.port = 0;	/* any port */
		w.f.has_local = flags & 0x10;
		w.f.has_peer = flags & 0x20;
		w.f.local = flags & 0x80 ? p : l;
		w.f.peer = flags & 0x80 ? l : p;
	}
	FUZZ_ASSERT(tswatch_on_event(&w, rec, len) == 0);
	FUZZ_ASSERT(w.events <= 1 && w.regressions + w.jumps <= w.events);
	if (w.j)
		json_destroy(w.j);
	free(rec);
	return 0;
}
