// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The tsval recorder: per TCP 4-tuple, the largest TCP timestamp value that
 * left this host (what a restored socket's clock must not go below) and the
 * largest one the peer sent, each with when it was seen (the time the
 * maximum was raised to it, CLOCK_MONOTONIC), in the pinned LRU map
 * <bpffs>/tsvals.
 *
 *   tf_tsval_tc_out   tc egress:  our tsvals     key (local = src, peer = dst)
 *   tf_tsval_tc_in    tc ingress: the peer's     key (local = dst, peer = src)
 *
 * Each runs as its own tcx link beside the lock programs and always passes
 * (TC_ACT_UNSPEC, i.e. TCX_NEXT).  It records every connection that goes
 * through the device (always-on, LRU): a dump locks the tuple before it reads
 * the socket, and the lock drops our packets from then on, so only a recorder
 * that was already running has seen the tsvals that reached the peer.
 * Packets that a lock drops are not recorded (they never reached the peer)
 * when the lock table was pinned at load time (tf_check_locks).
 *
 * A SYN or SYN-ACK, either way, starts a new connection on the tuple: the
 * record starts over (both directions; a SYN-ACK keeps the SYN it answers)
 * from that packet, so that neither
 * tswatch nor a restore compares with an earlier connection's clock.  A SYN
 * without the option empties the record (the new connection has no tsvals).
 *
 * tswatch: while tsval_cfg.watchers > 0, the first tsval of a connection, each
 * tsval before the largest one seen so far in its direction by more than
 * slack (a regression, serial arithmetic mod 2^32) and each one more than
 * max_jump after that largest one (a jump) go to the ring buffer tsval_events; an event that
 * does not fit (tswatch is behind) is counted in tsval_stats.events_lost, so
 * that tswatch can tell "no regression" from "no regression it could see".
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "map_types.h"
#include "lock_maps.h"
#include "parse.h"

#define TC_ACT_UNSPEC	(-1)
#define TF_PULL_LEN	256
/*
 * Each failed compare-and-swap means another CPU changed the word meanwhile,
 * i.e. raised the maximum: giving up needs 64 raises of one tuple's maximum
 * within one packet's few instructions, and is counted (tsval_stats).
 */
#define TF_CAS_TRIES	64
#define TF_TCP_FLAGS	13	/* offset of the flags byte in the TCP header */
#define TF_TCP_SYN	0x02
#define TF_TCP_ACK	0x10

/* Set before load. */
const volatile __u8 tf_l3_dev = 0;		/* no link-layer header (tun, wireguard) */
const volatile __u8 tf_check_locks = 0;		/* skip packets a live lock drops */
const volatile __u32 tf_cas_tries = TF_CAS_TRIES;	/* tests: 0 takes the give-up path */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TF_DEFAULT_MAX_TSVALS);
	__type(key, struct tf_tuple);
	__type(value, struct tf_tsval);
} tsvals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tf_tsval_cfg);
} tsval_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} tsval_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tf_tsval_stats);
} tsval_stats SEC(".maps");

/* a after b, mod 2^32 (RFC 1982, as the kernel's after()) */
static __always_inline bool ts_after(__u32 a, __u32 b)
{
	return (__s32)(a - b) > 0;
}

union tsval_word {
	struct tf_tsval_max m;
	__u64 w;
};

static __always_inline int parse(void *data, void *data_end, struct tf_pkt *p)
{
	if (tf_l3_dev)
		return tf_parse_ip(data, data_end, p);
	return tf_parse_eth(data, data_end, p);
}

/*
 * skb->data and skb->data_end, each loaded straight from the context: clang
 * otherwise may keep "skb + 76" in a register and load through it later,
 * which the verifier refuses (dereference of modified ctx ptr).
 */
static __always_inline void *skb_data(struct __sk_buff *skb)
{
	void *p;

	asm volatile("%0 = *(u32 *)(%1 + %2)" : "=r"(p) : "r"(skb), "i"(__builtin_offsetof(struct __sk_buff, data)));
	return p;
}

static __always_inline void *skb_data_end(struct __sk_buff *skb)
{
	void *p;

	asm volatile("%0 = *(u32 *)(%1 + %2)" : "=r"(p) : "r"(skb),
		     "i"(__builtin_offsetof(struct __sk_buff, data_end)));
	return p;
}

/* Parse, pulling the headers into the linear area once if they are not there. */
static __always_inline int tc_parse(struct __sk_buff *skb, struct tf_pkt *p)
{
	int kind = parse(skb_data(skb), skb_data_end(skb), p);

	if (kind != TF_PKT_TRUNCATED)
		return kind;
	if (bpf_skb_pull_data(skb, skb->len < TF_PULL_LEN ? skb->len : TF_PULL_LEN))
		return kind;
	return parse(skb_data(skb), skb_data_end(skb), p);
}

/* The TCP packet's tsval: TF_TS_FOUND or why not; *flags: its TCP flags (0 if not TCP). */
static __always_inline int packet_tsval(struct __sk_buff *skb, struct tf_pkt *p, __u32 *tsval, __u8 *flags)
{
	__u8 buf[TF_TCPOPT_BUF] = {};
	__u32 optlen, opt_off;
	int r;

	void *data, *data_end;

	*flags = 0;
	if (tc_parse(skb, p) != TF_PKT_TCP)
		return TF_TS_NONE;
	*flags = ((__u8 *)p->tcp)[TF_TCP_FLAGS];
	data = skb_data(skb);
	data_end = skb_data_end(skb);
	r = tf_tcp_tsval_fast(p->tcp, data_end, tsval);
	if (r == TF_TS_TRUNCATED) {
		/* Options outside the linear data: the walk reads them with load_bytes. */
		r = TF_TS_WALK;
	}
	if (r != TF_TS_WALK)
		return r;
	optlen = tf_tcp_hlen(p->tcp) - TF_TCP_HDR_MIN;
	if (optlen > TF_TCPOPT_SPACE || optlen == 0)
		return TF_TS_MALFORMED;
	opt_off = (__u32)((long)p->tcp - (long)data) + TF_TCP_HDR_MIN;
	if (bpf_skb_load_bytes(skb, opt_off, buf, optlen))
		return TF_TS_TRUNCATED;	/* the options run past the packet */
	return tf_tcp_opts_tsval(buf, optlen, tsval);
}

static __always_inline void make_key(const struct tf_pkt *p, bool ingress, struct tf_tuple *key)
{
	__builtin_memset(key, 0, sizeof(*key));
	key->family = p->family;
	if (ingress) {
		__builtin_memcpy(key->local_addr, p->daddr, sizeof(key->local_addr));
		__builtin_memcpy(key->peer_addr, p->saddr, sizeof(key->peer_addr));
		key->local_port = p->dport;
		key->peer_port = p->sport;
	} else {
		__builtin_memcpy(key->local_addr, p->saddr, sizeof(key->local_addr));
		__builtin_memcpy(key->peer_addr, p->daddr, sizeof(key->peer_addr));
		key->local_port = p->sport;
		key->peer_port = p->dport;
	}
}

/* A live (unexpired) lock drops this tuple's packets: the lock's own rule. */
static __always_inline bool locked(const struct tf_tuple *key)
{
	struct tf_lock *lock = bpf_map_lookup_elem(&locks, key);
	__u64 expires;

	if (!lock)
		return false;
	expires = lock->expires_ns;
	return !expires || bpf_ktime_get_ns() <= expires;
}

/*
 * Raise *m to tsval if tsval is after it (or nothing was there), with a
 * 64-bit compare-and-swap: packets of one tuple may pass on several CPUs.
 * (Not a per-CPU maximum: the serial comparison needs the values within 2^31
 * of each other, which a CPU's stale value is not after 35 minutes of usec
 * tsvals, and tswatch needs the one maximum.)  Returns the maximum as it was
 * before; *raised: this tsval is the maximum now.
 */
static __always_inline struct tf_tsval_max raise_max(struct tf_tsval_max *m, __u32 tsval, bool *raised)
{
	struct tf_tsval_stats *st;
	union tsval_word old, new;
	__u32 zero = 0, i;

	*raised = false;
	old.w = *(volatile __u64 *)m;
	for (i = 0; i <= TF_CAS_TRIES; i++) {
		__u64 seen;

		if (old.m.seen && !ts_after(tsval, old.m.tsval))
			return old.m;	/* not above the maximum: nothing to raise */
		if (i >= tf_cas_tries)
			break;
		new.m.tsval = tsval;
		new.m.seen = 1;
		seen = __sync_val_compare_and_swap((__u64 *)m, old.w, new.w);
		if (seen == old.w) {
			*raised = true;
			return old.m;
		}
		old.w = seen;
	}
	/* Given up: the maximum stays below this tsval.  Counted, not silent. */
	st = bpf_map_lookup_elem(&tsval_stats, &zero);
	if (st)
		__sync_fetch_and_add(&st->max_giveups, 1);
	return old.m;
}

static __always_inline void emit(const struct tf_tuple *key, __u64 now, __u8 dir, __u8 kind,
				 __u32 prev, __u32 tsval, __u32 last)
{
	struct tf_tsval_event *e = bpf_ringbuf_reserve(&tsval_events, sizeof(*e), 0);

	if (!e) {
		/* The ring is full (tswatch is behind): count the loss, tswatch reports it. */
		__u32 zero = 0;
		struct tf_tsval_stats *st = bpf_map_lookup_elem(&tsval_stats, &zero);

		if (st)
			__sync_fetch_and_add(&st->events_lost, 1);
		return;
	}
	e->tuple = *key;
	e->time_ns = now;
	e->prev = prev;
	e->tsval = tsval;
	e->last = last;
	e->dir = dir;
	e->kind = kind;
	e->pad[0] = 0;
	e->pad[1] = 0;
	bpf_ringbuf_submit(e, 0);
}

/* A record that holds this one packet. */
static __always_inline void first_record(struct tf_tsval *nv, __u32 tsval, bool ingress, __u64 now)
{
	__builtin_memset(nv, 0, sizeof(*nv));
	if (ingress) {
		nv->in_max.tsval = tsval;
		nv->in_max.seen = 1;
		nv->in_seen_ns = now;
		nv->in_last = tsval;
		nv->in_packets = 1;
	} else {
		nv->out_max.tsval = tsval;
		nv->out_max.seen = 1;
		nv->out_seen_ns = now;
		nv->out_last = tsval;
		nv->out_packets = 1;
	}
}

/*
 * A SYN or SYN-ACK: a new connection on the tuple.  Its record starts over
 * with this packet, whatever an earlier connection left (a CPU that is
 * raising the old record's maximum meanwhile writes into the replaced one).
 * A SYN-ACK keeps the other direction when that holds one packet: the SYN it
 * answers (each SYN, also a retransmitted one, starts the record over).
 */
static __always_inline void restart(const struct tf_tuple *key, __u32 tsval, bool ingress, bool has_ts,
				    bool synack)
{
	__u32 zero = 0;
	struct tf_tsval_cfg *cfg = bpf_map_lookup_elem(&tsval_cfg, &zero);
	__u64 now = bpf_ktime_get_ns();
	struct tf_tsval nv;

	if (!has_ts) {
		/* No timestamps on this connection: an empty record, if there was one. */
		__builtin_memset(&nv, 0, sizeof(nv));
		bpf_map_update_elem(&tsvals, key, &nv, BPF_EXIST);
		return;
	}
	first_record(&nv, tsval, ingress, now);
	if (synack) {
		struct tf_tsval *v = bpf_map_lookup_elem(&tsvals, key);

		if (v && ingress && v->out_packets == 1) {
			nv.out_max = v->out_max;
			nv.out_seen_ns = v->out_seen_ns;
			nv.out_last = v->out_last;
			nv.out_packets = 1;
		} else if (v && !ingress && v->in_packets == 1) {
			nv.in_max = v->in_max;
			nv.in_seen_ns = v->in_seen_ns;
			nv.in_last = v->in_last;
			nv.in_packets = 1;
		}
	}
	if (bpf_map_update_elem(&tsvals, key, &nv, BPF_ANY) == 0 && cfg && cfg->watchers)
		emit(key, now, ingress ? TF_TSV_IN : TF_TSV_OUT, TF_TSV_EV_FIRST, tsval, tsval, tsval);
}

static __always_inline void record(const struct tf_tuple *key, __u32 tsval, bool ingress)
{
	__u32 zero = 0, last;
	struct tf_tsval_cfg *cfg = bpf_map_lookup_elem(&tsval_cfg, &zero);
	bool watching = cfg && cfg->watchers;
	__u64 now = bpf_ktime_get_ns();
	__u8 dir = ingress ? TF_TSV_IN : TF_TSV_OUT;
	struct tf_tsval_max before;
	struct tf_tsval *v;
	bool raised;

	v = bpf_map_lookup_elem(&tsvals, key);
	if (!v) {
		struct tf_tsval nv;

		first_record(&nv, tsval, ingress, now);
		if (bpf_map_update_elem(&tsvals, key, &nv, BPF_NOEXIST) == 0) {
			if (watching)
				emit(key, now, dir, TF_TSV_EV_FIRST, tsval, tsval, tsval);
			return;
		}
		v = bpf_map_lookup_elem(&tsvals, key);	/* another CPU made it meanwhile */
		if (!v)
			return;
	}

	if (ingress) {
		before = raise_max(&v->in_max, tsval, &raised);
		last = v->in_last;
		v->in_last = tsval;
		if (raised)
			v->in_seen_ns = now;
		__sync_fetch_and_add(&v->in_packets, 1);
	} else {
		before = raise_max(&v->out_max, tsval, &raised);
		last = v->out_last;
		v->out_last = tsval;
		if (raised)
			v->out_seen_ns = now;
		__sync_fetch_and_add(&v->out_packets, 1);
	}
	if (!watching)
		return;
	/*
	 * Both compare with the maximum before this packet, not the previous
	 * packet: the peer's PAWS drops anything before ts_recent, so every
	 * packet below the maximum is a regression, not only the first one.
	 */
	if (!before.seen)
		emit(key, now, dir, TF_TSV_EV_FIRST, tsval, tsval, tsval);
	else if (ts_after(before.tsval, tsval) && before.tsval - tsval > cfg->slack)
		emit(key, now, dir, TF_TSV_EV_REGRESSION, before.tsval, tsval, last);
	else if (cfg->max_jump && ts_after(tsval, before.tsval) && tsval - before.tsval > cfg->max_jump)
		emit(key, now, dir, TF_TSV_EV_JUMP, before.tsval, tsval, last);
}

static __always_inline int tsval_tc(struct __sk_buff *skb, bool ingress)
{
	struct tf_pkt p = {};
	struct tf_tuple key;
	__u32 tsval = 0;
	__u8 flags;
	bool has_ts = packet_tsval(skb, &p, &tsval, &flags) == TF_TS_FOUND;

	if (!has_ts && !(flags & TF_TCP_SYN))
		return TC_ACT_UNSPEC;
	make_key(&p, ingress, &key);
	if (tf_check_locks && skb->mark != TF_PASS_MARK && locked(&key))
		return TC_ACT_UNSPEC;	/* dropped by the lock: it never reaches the peer */
	if (flags & TF_TCP_SYN)
		restart(&key, tsval, ingress, has_ts, flags & TF_TCP_ACK);
	else
		record(&key, tsval, ingress);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int tf_tsval_tc_out(struct __sk_buff *skb)
{
	return tsval_tc(skb, false);
}

SEC("tc")
int tf_tsval_tc_in(struct __sk_buff *skb)
{
	return tsval_tc(skb, true);
}
