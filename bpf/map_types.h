/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The types of tcpferry's pinned BPF maps: the one header that both the BPF
 * programs in bpf/ and the library in user/ include.  Keys and values are BTF
 * types, so `bpftool map dump pinned <bpffs>/locks` prints them by field.
 *
 * Everything here is laid out by hand: explicit padding (always zero), no
 * implicit holes, addresses and ports in network byte order.
 */
#ifndef TCPFERRY_MAP_TYPES_H
#define TCPFERRY_MAP_TYPES_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Pin names below the bpffs directory (default /sys/fs/bpf/tcpferry). */
#define TF_PIN_LOCKS		"locks"
#define TF_PIN_TSVALS		"tsvals"

#define TF_DEFAULT_MAX_LOCKS	65536

/*
 * Packets carrying this skb->mark pass a lock: tcpferry's own injected packets
 * (duplicate ACKs that prompt the peer, a FIN it must see) use it.
 */
#define TF_PASS_MARK		0x7466c0deU

/*
 * One TCP connection seen from the host that holds (or will hold) the socket.
 * IPv4 addresses sit in addr[0] with addr[1..3] zero; a v4-mapped IPv6 socket
 * is keyed by its IPv4 tuple, as it appears on the wire.
 */
struct tf_tuple {
	__u32 local_addr[4];	/* network byte order */
	__u32 peer_addr[4];	/* network byte order */
	__u16 local_port;	/* network byte order */
	__u16 peer_port;	/* network byte order */
	__u8  family;		/* AF_INET (2) or AF_INET6 (10) */
	__u8  pad[3];		/* zero */
};

enum tf_lock_reason {
	TF_LOCK_MANUAL	= 0,	/* tcpferry lock add */
	TF_LOCK_DUMP	= 1,	/* taken by dump on the source host */
	TF_LOCK_RESTORE	= 2,	/* taken by restore on the target host */
	TF_LOCK_HANDOFF	= 3,	/* taken by a frontend while it hands the connection over */
};

/* Why and since when a tuple is locked, and what the lock has dropped. */
struct tf_lock {
	__u64 since_ns;		/* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 expires_ns;	/* CLOCK_MONOTONIC; 0 = no expiry */
	__u64 in_packets;	/* peer -> us, dropped */
	__u64 in_bytes;
	__u64 out_packets;	/* us -> peer, dropped */
	__u64 out_bytes;
	__u32 reason;		/* enum tf_lock_reason */
	__u32 owner_pid;	/* the tcpferry process that took it; 0 = none */
};

/*
 * Bulk locking in one system call (bpf/lock_bulk.bpf.c): the context of a
 * BPF_PROG_RUN of lock_bulk.  The first n entries of its staging array are
 * locked with value (since_ns and expires_ns are set from the kernel's clock
 * and ttl_ns); at most TF_LOCK_BULK_CHUNK tuples to a run.
 */
#define TF_LOCK_BULK_CHUNK	8192
struct tf_lock_bulk_args {
	__u32 n;
	__u32 pad;
	__u64 ttl_ns;		/* 0 = no expiry */
	struct tf_lock value;
};

/* ---- the tsval recorder (bpf/tsval.bpf.c, user/lib/tsval.c) ---------------- */

#define TF_PIN_TSVAL_CFG	"tsval_cfg"
#define TF_PIN_TSVAL_EVENTS	"tsval_events"
#define TF_PIN_TSVAL_STATS	"tsval_stats"
#define TF_DEFAULT_MAX_TSVALS	65536

/*
 * The largest tsval seen in one direction.  tsval and seen share one 8-byte
 * word so that the programs can raise the maximum with one 64-bit
 * compare-and-swap; seen is 1 once any tsval was recorded (0 is a valid tsval).
 */
struct tf_tsval_max {
	__u32 tsval;		/* host byte order */
	__u32 seen;		/* 0: nothing recorded yet, 1: tsval is valid */
};

/*
 * What the recorder knows about the connection on one 4-tuple (key: struct
 * tf_tuple, local = this host), since its SYN or SYN-ACK (either starts the
 * record over: a new connection may reuse a tuple).  out = the tsvals our
 * socket sent (what restore must not go below), in = the peer's tsvals (for
 * inspection and tswatch).
 */
struct tf_tsval {
	struct tf_tsval_max out_max;	/* largest tsval that left (serial, mod 2^32) */
	struct tf_tsval_max in_max;	/* largest tsval the peer sent us */
	__u64 out_seen_ns;	/* CLOCK_MONOTONIC when out_max took its value */
	__u64 in_seen_ns;	/* the same for in_max */
	__u32 out_last;		/* the last tsval each way, for tswatch */
	__u32 in_last;
	__u64 out_packets;	/* packets with a timestamp option recorded */
	__u64 in_packets;
};

/* tswatch's settings, one entry (key 0) of an array map. */
struct tf_tsval_cfg {
	__u32 watchers;		/* > 0: send events to the ring buffer */
	__u32 max_jump;		/* report a tsval more than this above the maximum (0: never) */
	__u32 slack;		/* a tsval at most this much below the maximum is not a regression */
	__u32 pad;		/* zero */
};

/*
 * What the recorder could not do, counted per CPU (a per-CPU array, key 0;
 * the sum over CPUs is the total).  Readers take the difference between two
 * reads: the counters only grow.
 */
struct tf_tsval_stats {
	__u64 events_lost;	/* events dropped because tsval_events was full */
	__u64 max_giveups;	/* raises of a maximum given up under contention (it stays low) */
};

enum tf_tsval_dir {
	TF_TSV_OUT = 0,		/* our socket -> peer (tc egress) */
	TF_TSV_IN = 1,		/* peer -> our socket (tc ingress) */
};

enum tf_tsval_event_kind {
	TF_TSV_EV_FIRST = 0,	/* first tsval of a connection and direction */
	TF_TSV_EV_REGRESSION,	/* tsval more than slack before the maximum so far */
	TF_TSV_EV_JUMP,		/* tsval more than max_jump after the maximum so far */
};

/* One ring buffer record. */
struct tf_tsval_event {
	struct tf_tuple tuple;
	__u64 time_ns;		/* CLOCK_MONOTONIC */
	__u32 prev;		/* regression, jump: the largest earlier tsval (the maximum) */
	__u32 tsval;		/* this packet's */
	__u32 last;		/* the previous packet's tsval */
	__u8  dir;		/* enum tf_tsval_dir */
	__u8  kind;		/* enum tf_tsval_event_kind */
	__u8  pad[2];
};

/* ---- the steer table (bpf/lock.bpf.c, bpf/steer_path.h, user/lib/steer.c) -------- */

#define TF_PIN_STEERS		"steers"
#define TF_PIN_STEER_CFG	"steer_cfg"
#define TF_DEFAULT_MAX_STEERS	65536

#define TF_STEER_DEFAULT_IDLE_NS	(15ull * 60 * 1000000000ull)	/* 15 min */
#define TF_STEER_DEFAULT_LINGER_NS	(5ull * 1000000000ull)		/* after the client's FIN */

enum tf_steer_mode {
	TF_STEER_L2 = 1,	/* rewrite the MACs, send out on out_ifindex (backend on this segment) */
	TF_STEER_L3 = 2,	/* IPIP (IPv4) or IP6IP6 (IPv6) to backend_addr, then as L2 to next_hop_mac */
};

/*
 * A connection handed to another host: the ingress programs send the
 * client's packets of the tuple (key: struct tf_tuple, local = the VIP here)
 * on to the backend, untouched at L4.  In L2 mode the frame keeps its IP
 * header and gets next_hop_mac (the backend's own) and src_mac; in L3 mode it
 * is encapsulated first (outer source outer_src, destination backend_addr)
 * and next_hop_mac is the router's towards the backend (or the backend's, on
 * the same segment).  Sent on out_ifindex: XDP_TX or a redirect.
 *
 * Its life: every steered packet sets last_seen_ns; the client's FIN sets
 * fin_ns, after which the entry lives fin_linger (steer_cfg) past the last
 * packet; the client's RST deletes it (after forwarding the RST).  An entry
 * idle longer than its idle timeout (idle_timeout_ns, 0 = steer_cfg's) is
 * treated as absent by the programs and removed by `tcpferry steer gc`.
 */
struct tf_steer {
	__u32 backend_addr[4];	/* network byte order; IPv4 in [0] */
	__u32 outer_src[4];	/* L3: the outer header's source, an address of this host */
	__u8  next_hop_mac[6];	/* the frame's new destination MAC */
	__u8  src_mac[6];	/* the frame's new source MAC: out_ifindex's own */
	__u32 out_ifindex;	/* where the frame leaves this host */
	__u8  mode;		/* enum tf_steer_mode */
	__u8  backend_family;	/* AF_INET or AF_INET6: the tuple's */
	__u8  pad[2];		/* zero */
	__u32 owner_pid;	/* the tcpferry process that added it */
	__u64 since_ns;		/* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 last_seen_ns;	/* the last steered packet (since_ns until one) */
	__u64 idle_timeout_ns;	/* 0: steer_cfg's idle_timeout_ns */
	__u64 fin_ns;		/* the client's FIN was seen then; 0: not yet */
	__u64 packets;		/* steered */
	__u64 bytes;		/* steered, as received (before any encapsulation) */
};

/* The steer table's settings: key 0 of an array map (pinned <bpffs>/steer_cfg). */
struct tf_steer_cfg {
	__u64 idle_timeout_ns;	/* 0: TF_STEER_DEFAULT_IDLE_NS */
	__u64 fin_linger_ns;	/* 0: TF_STEER_DEFAULT_LINGER_NS */
	__u32 in_use;		/* 1 once a steer was added: the programs look steers up only then */
	__u32 pad;		/* zero */
};

/*
 * When an entry stops steering (CLOCK_MONOTONIC): its last packet plus the
 * idle timeout, or plus the linger once the client's FIN was seen.  The
 * programs and gc decide with this one rule.
 */
static inline __u64 tf_steer_expires_ns(const struct tf_steer *s, const struct tf_steer_cfg *c)
{
	__u64 idle = s->idle_timeout_ns, linger = c ? c->fin_linger_ns : 0;

	if (!idle)
		idle = c && c->idle_timeout_ns ? c->idle_timeout_ns : TF_STEER_DEFAULT_IDLE_NS;
	if (!linger)
		linger = TF_STEER_DEFAULT_LINGER_NS;
	if (s->fin_ns && linger < idle)
		return s->last_seen_ns + linger;
	return s->last_seen_ns + idle;
}

/*
 * The end of a watched connection (bpf/conn_end.bpf.c): which sockets of
 * which network namespace to watch, and what is reported when one closes.
 * Not pinned: the watching process owns them.
 */
struct tf_conn_watch_key {
	__u64 netns_cookie;	/* SO_NETNS_COOKIE of the socket's namespace */
	struct tf_tuple tuple;
};

struct tf_conn_watch {
	__u64 since_ns;		/* CLOCK_MONOTONIC, when the watch began */
};

struct tf_conn_end_event {
	struct tf_conn_watch_key key;
	__u64 time_ns;		/* CLOCK_MONOTONIC, when it reached TCP_CLOSE */
	__u32 old_state;	/* the state it closed from (TCP_LAST_ACK, TCP_FIN_WAIT2, ...) */
	__u32 pad;
};

#endif /* TCPFERRY_MAP_TYPES_H */
