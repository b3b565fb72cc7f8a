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
 * at dump and restore, the only clock two hosts share (roughly: a target whose
 * wall clock is behind the source's gets elapsed 0, and the margin).
 */
#include "internal.h"

/* a after b, mod 2^32 (RFC 1982) */
static bool ts_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

uint32_t tf_ts_restore_value(const struct tf_conn *c, uint64_t now_ns, uint32_t margin)
{
	bool usec = c->ts_clock & 1;
	uint32_t base = c->ts_clock;
	uint64_t elapsed_ns = now_ns > c->dump_time_ns ? now_ns - c->dump_time_ns : 0;
	uint32_t elapsed = usec ? elapsed_ns / 1000 : elapsed_ns / 1000000;
	uint32_t v;

	if (c->has_ts_wire && ts_after(c->ts_wire, base))
		base = c->ts_wire;
	if (!margin)
		margin = usec ? 1000 : 1;	/* 1 ms, covering the bit-0 rounding */
	v = base + elapsed + margin;
	return usec ? (v | 1) : (v & ~1u);
}
