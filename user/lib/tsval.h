/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The tsval recorder (bpf/tsval.bpf.c): the largest TCP timestamp value each
 * connection sent, kept in the pinned LRU map <bpffs>/tsvals beside the lock
 * table, so that dump can store it and restore never starts a clock below it.
 *
 * When it runs (decided): always, for every connection through a device where
 * it is attached (tcpferry tswatch DEV --attach, or for as long as a tswatch
 * runs), in an LRU map (--max-tsvals, default 65536).  Not "from the moment a
 * connection is marked": it has to have seen the connection's packets before
 * the dump, because dump locks the tuple before it reads the socket and the
 * lock drops our packets from then on; an always-on recorder needs no extra
 * orchestration step.  Measured (tools/tsval_bench, BPF_PROG_TEST_RUN, this
 * 2-core VM): 95-100 ns per packet with the option (the floor of an empty tc
 * program is 26 ns), ~128 ns when the options must be walked, 29 ns for TCP
 * without options; the same with 0, 1,000 and 1,000,000 connections
 * recorded.  tc egress sees each GSO packet once.  Throughput with and
 * without the recorder: see BENCHMARKS.md.
 *
 * Pins (besides <bpffs>/locks):
 *   <bpffs>/tsvals                 key struct tf_tuple, value struct tf_tsval
 *   <bpffs>/tsval_cfg              tswatch's settings (struct tf_tsval_cfg)
 *   <bpffs>/tsval_events           ring buffer of struct tf_tsval_event
 *   <bpffs>/tsval_stats            what it could not do (struct tf_tsval_stats, per CPU)
 *   <bpffs>/tsval-links/<netns>/<ifname>-out, -in   the tcx links
 *   <bpffs>/tsval-links/<netns>/<ifname>-out-clsact, -in-clsact
 *                                  the programs of clsact filters instead
 *                                  (no tcx, or TCPFERRY_TC=clsact: clsact.h)
 */
#ifndef TF_TSVAL_H
#define TF_TSVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tcpferry.h"
#include "map_types.h"

/* a after b, mod 2^32 (RFC 1982): the comparison PAWS uses. */
static inline bool tf_ts_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

/* What tf_tsval_attach found or made. */
struct tf_tsval_attach_info {
	bool created_out;	/* the egress link is new (tf_tsval_detach removes it) */
	bool created_in;	/* the ingress link is new */
	bool created_maps;	/* tsvals (and the other maps with it) were pinned just now */
	bool checks_locks;	/* the lock table was there: locked packets are not recorded */
	char mounted[256];	/* where a bpffs was mounted, or "" */
};

/*
 * Attach the recorder to ifname's tc egress and ingress (tcx links, pinned;
 * clsact filters as the lock's, see tf_tc_want_clsact), creating and pinning
 * the maps when missing (max_tsvals entries, 0 = the default).  Idempotent:
 * live links and filters stay; TCPFERRY_TC=clsact moves tcx links to filters.
 * info may be NULL.
 */
int tf_tsval_attach(const char *bpffs, const char *ifname, uint32_t max_tsvals,
		    struct tf_tsval_attach_info *info);
/* Remove ifname's recorder links or filters (the maps stay), and a clsact
 * qdisc tcpferry made once empty.  Returns how many were removed. */
int tf_tsval_detach(const char *bpffs, const char *ifname);
/* Unpin the recorder's maps (tsvals, tsval_cfg, tsval_events, tsval_stats). */
void tf_tsval_unpin_maps(const char *bpffs);
/* Both recorder links of ifname are pinned and alive. */
bool tf_tsval_attached(const char *bpffs, const char *ifname);

/* Open a pinned recorder map (TF_PIN_TSVALS, ...): fd, or -ENOENT when none. */
int tf_tsval_map_open(const char *bpffs, const char *pin);

/* The recorder's counters (the tsval_stats map), summed over the CPUs. */
int tf_tsval_stats_sum(int stats_fd, struct tf_tsval_stats *sum);

/* The record of one tuple: 0, or -ENOENT when the recorder has none. */
int tf_tsval_get(int map_fd, const struct tf_tuple *k, struct tf_tsval *v);

/*
 * For dump: fill c->has_ts_wire / c->ts_wire from <bpffs>/tsvals.  No map or
 * no record is not an error: has_ts_wire stays false and 0 is returned (1
 * when a wire tsval was found).
 */
int tf_tsval_fill_conn(const char *bpffs, struct tf_conn *c);
/* The same from the map tf_tsval_map_open(bpffs, TF_PIN_TSVALS) gave (< 0: no recorder). */
int tf_tsval_fill_conn_fd(int map_fd, struct tf_conn *c);

/*
 * The value TCP_TIMESTAMP gets when the clock is not carried over: this
 * host's bare TCP clock (tsoffset 0, what a socket made in repair mode has),
 * in ms, or in us with bit 0 set when usec is true.
 */
uint32_t tf_ts_bare_clock(bool usec);

#endif /* TF_TSVAL_H */
