// SPDX-License-Identifier: BSD-2-Clause
/*
 * Serial comparison of tsvals at the 2^32 wrap, and the restore rule
 * (user/lib/tsclock.c): max(wire, clock) + elapsed + margin, bit 0 = usec flag,
 * a wire value implausibly far ahead ignored, the bare clock's unit and flag.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "tcpferry.h"
#include "tsval.h"

static struct tf_conn conn(uint32_t clock, bool has_wire, uint32_t wire)
{
	struct tf_conn c;

	memset(&c, 0, sizeof(c));
	c.ts_clock = clock;
	c.has_ts_wire = has_wire;
	c.ts_wire = wire;
	c.dump_time_ns = 1000000000000ull;
	return c;
}

int main(void)
{
	const uint64_t t0 = 1000000000000ull;
	struct tf_conn c;
	uint32_t v;

	plan(21);
	ok(tf_ts_after(1, 0), "1 after 0");
	ok(!tf_ts_after(0, 1), "0 not after 1");
	ok(!tf_ts_after(7, 7), "equal is not after");
	ok(tf_ts_after(0x00000005u, 0xfffffff0u), "5 after 0xfffffff0 (across the wrap)");
	ok(!tf_ts_after(0xfffffff0u, 0x00000005u), "0xfffffff0 not after 5");
	ok(tf_ts_after(0x7fffffffu, 0), "2^31 - 1 ahead is after");
	ok(!tf_ts_after(0x80000000u, 0), "2^31 ahead is not after (half the space)");

	c = conn(1000, false, 0);
	v = tf_ts_restore_value(&c, t0, 0);
	ok(v == 1002, "ms, no wire, no time passed: clock + 2 ms margin, still after the clock once bit 0 is cleared (%u)", v);
	v = tf_ts_restore_value(&c, t0 + 2500000000ull, 0);
	ok(v == 3502, "ms, 2.5 s later: + 2500 + margin (%u)", v);
	c = conn(1000, true, 1400);
	v = tf_ts_restore_value(&c, t0 + 10000000ull, 0);
	ok(v == 1412, "ms, wire 400 ahead: wire + 10 ms + margin, even (%u)", v);
	c = conn(1000, true, 900);
	ok(tf_ts_restore_value(&c, t0, 5) == 1004, "ms, wire behind the clock: the clock wins (margin 5 -> 1005 & ~1)");
	c = conn(0xfffffff0u, true, 0x00000010u);
	v = tf_ts_restore_value(&c, t0, 0);
	ok(v == 0x12, "ms, wire ahead across the wrap: wire wins (%#x)", v);
	c = conn(1000, true, 1000 + 61000);
	ok(tf_ts_restore_value(&c, t0, 0) == 1002, "ms, wire 61 s ahead: ignored as another connection's (stale)");
	c = conn(2001, true, 2001 + 500000);
	v = tf_ts_restore_value(&c, t0 + 1000000ull, 0);
	ok(v == ((2001 + 500000 + 1000 + 1000) | 1), "usec: wire + 1000 us + 1000 us margin, bit 0 set (%u)", v);
	c = conn(0xffffff01u, false, 0);
	v = tf_ts_restore_value(&c, t0 + 1000000ull, 0);
	ok((v & 1) && v == ((0xffffff01u + 2000) | 1), "usec across the wrap keeps bit 0 (%#x)", v);
	/* Hosts whose wall clocks differ: elapsed comes from CLOCK_REALTIME. */
	c = conn(1000, false, 0);
	v = tf_ts_restore_value(&c, t0 - 600000000000ull, 0);
	ok(v == 1002, "ms, the target's wall clock 10 minutes behind the dump's: elapsed 0, clock + margin (%u)", v);
	c = conn(1001, true, 1001 + 3000);
	v = tf_ts_restore_value(&c, t0 - 1000000000ull, 0);
	ok(v == ((1001 + 3000 + 1000) | 1), "usec, wall clock behind: the wire + margin, still after it (%u)", v);
	c = conn(1001, false, 0);
	v = tf_ts_restore_value(&c, t0 + 86400ull * 1000000000ull, 0);
	ok(v == ((1001 + (1u << 30) + 1000) | 1) && tf_ts_after(v, 1001),
	   "usec, the target's wall clock a day ahead: elapsed capped at 2^30 us, still after the clock (%#x)", v);
	c = conn(1000, false, 0);
	v = tf_ts_restore_value(&c, t0 + 40ull * 86400ull * 1000000000ull, 0);
	ok(v == 1000 + (1u << 30) + 2 && tf_ts_after(v, 1000),
	   "ms, 40 days later: elapsed capped at 2^30 ms, not past the 2^31 half (%#x)", v);
	{
		struct timespec ts;
		uint32_t ms, us;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ms = tf_ts_bare_clock(false);
		us = tf_ts_bare_clock(true);
		ok(!(ms & 1) && labs((long)(int32_t)(ms - (uint32_t)(ts.tv_sec * 1000ull + ts.tv_nsec / 1000000))) < 100,
		   "bare clock, ms: CLOCK_MONOTONIC in ms, bit 0 clear");
		ok((us & 1) && labs((long)(int32_t)(us - (uint32_t)(ts.tv_sec * 1000000ull + ts.tv_nsec / 1000))) < 100000,
		   "bare clock, usec: CLOCK_MONOTONIC in us, bit 0 set");
	}
	return done_testing();
}
