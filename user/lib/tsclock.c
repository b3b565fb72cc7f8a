// SPDX-License-Identifier: BSD-2-Clause
/*
 * The timestamp rule: which TCP_TIMESTAMP value a restored socket gets, so
 * that the tsvals the peer sees never go backwards (PAWS, RFC 7323 5.3).
 *
 *   value = max(wire tsval, dumped clock) + time since the dump + margin
 *
 * in the flow's unit (ms, or us when bit 0 of the clock says usec-TS), with
 * bit 0 set to that flag, because the kernel reads bit 0 as the usec switch.
 * "max" is serial arithmetic mod 2^32.  The elapsed time uses CLOCK_REALTIME
 * at dump and restore, the only clock two hosts share, and only roughly: a
 * target whose wall clock is behind the source's gets elapsed 0 (the margin
 * alone keeps the value after the last one sent); one that is ahead adds its
 * skew.  The elapsed time is capped at TF_TS_ELAPSED_MAX units, a quarter of
 * the serial space (12 days of ms, 17 minutes of us): the value may then run
 * behind real time, which PAWS does not mind, but it never jumps so far that
 * the peer reads it as older than the last tsval it saw (2^31 away).
 *
 * The wire tsval (the recorder's, bpf/tsval.bpf.c) is trusted only up to
 * TF_TS_WIRE_MAX_AHEAD_S ahead of the clock: pacing puts departure times at
 * most a few seconds ahead (fq's horizon is 10 s); a record further ahead
 * belongs to another connection that had the same 4-tuple, and following it
 * could push the peer's ts_recent towards the 2^31 window.
 */
#include <time.h>

#include "internal.h"
#include "tsval.h"

#define TF_TS_WIRE_MAX_AHEAD_S	60
#define TF_TS_ELAPSED_MAX	(1u << 30)

/* The dumped wire tsval, if it is usable: after the clock by a plausible amount. */
static bool wire_ahead(const struct tf_conn *c, bool usec)
{
	uint32_t limit = usec ? TF_TS_WIRE_MAX_AHEAD_S * 1000000u : TF_TS_WIRE_MAX_AHEAD_S * 1000u;

	return c->has_ts_wire && tf_ts_after(c->ts_wire, c->ts_clock) &&
	       c->ts_wire - c->ts_clock <= limit;
}

uint32_t tf_ts_restore_value(const struct tf_conn *c, uint64_t now_ns, uint32_t margin)
{
	bool usec = c->ts_clock & 1;
	uint32_t base = c->ts_clock;
	uint64_t elapsed_ns = now_ns > c->dump_time_ns ? now_ns - c->dump_time_ns : 0;
	uint64_t units = usec ? elapsed_ns / 1000 : elapsed_ns / 1000000;
	uint32_t elapsed = units > TF_TS_ELAPSED_MAX ? TF_TS_ELAPSED_MAX : (uint32_t)units;
	uint32_t v;

	if (wire_ahead(c, usec))
		base = c->ts_wire;
	if (!margin)
		margin = usec ? 1000 : 2;	/* 1 ms, and in ms flows 2: bit 0 is cleared after adding */
	v = base + elapsed + margin;
	return usec ? (v | 1) : (v & ~1u);
}

uint32_t tf_ts_bare_clock(bool usec)
{
	struct timespec ts;
	uint64_t ns;

	/* The kernel's TCP clock is ktime_get_ns(): CLOCK_MONOTONIC. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	return usec ? (uint32_t)(ns / 1000) | 1 : (uint32_t)(ns / 1000000) & ~1u;
}
