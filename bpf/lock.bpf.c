// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The lock: drop every packet of a locked TCP 4-tuple; and the steer: send
 * the peer's packets of a handed-off tuple on to its backend (steer_path.h).
 *
 *   tf_lock_xdp     ingress, XDP      the peer's packets: key (local = dst, peer = src);
 *                                     locked: dropped; else steered: sent on
 *   tf_lock_tc_in   ingress, tc       the same, for devices and hosts without XDP
 *   tf_lock_tc_out  egress, tc        our own packets: key (local = src, peer = dst),
 *                                     so a socket being moved cannot talk (no steering:
 *                                     the backend answers the client itself)
 *
 * One key is built per packet and looked up in the lock table, then (only
 * when a steer was ever added, steer_cfg.in_use) in the steer table.  A lock
 * wins over a steer of the same tuple.  The client's RST deletes its steer
 * entry after it was sent on; devices without an Ethernet header have no
 * steering.
 *
 * A lock whose expiry has passed never drops (a crashed tool cannot black-hole
 * a connection).  Packets that are not TCP, fragments and truncated headers
 * pass.  In tc, skb->mark == TF_PASS_MARK passes: tcpferry's own injected
 * packets (the duplicate ACKs that prompt the peer, a FIN) carry it.
 *
 * "Pass" is TC_ACT_UNSPEC (TCX_NEXT), so other tc programs on the hook still run.
 * "Drop" is TC_ACT_SHOT at ingress, TC_ACT_REDIRECT to no device at egress
 * (see tc_lock: the sender's TCP must see loss, not a local drop).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "map_types.h"
#include "lock_maps.h"
#include "parse.h"
#include "steer_path.h"

#define TC_ACT_UNSPEC	(-1)
#define TC_ACT_SHOT	2
#define TC_ACT_REDIRECT	7

/* Headers that tc pulls into the linear area when they are not there yet. */
#define TF_PULL_LEN	256

/* Set before load: the device has no link-layer header (tun, wireguard). */
const volatile __u8 tf_l3_dev = 0;

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline int parse(void *data, void *data_end, struct tf_pkt *p)
{
	if (tf_l3_dev)
		return tf_parse_ip(data, data_end, p);
	return tf_parse_eth(data, data_end, p);
}

/*
 * The table key of this packet.  ingress: the packet came from the peer
 * (dst is local); otherwise we are sending it (src is local).
 */
static __always_inline void packet_key(const struct tf_pkt *p, bool ingress, struct tf_tuple *key)
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

/* The live lock on key, or NULL. */
static __always_inline struct tf_lock *find_lock(const struct tf_tuple *key)
{
	struct tf_lock *lock;
	__u64 expires;

	lock = bpf_map_lookup_elem(&locks, key);
	if (!lock)
		return NULL;
	expires = lock->expires_ns;
	if (expires && bpf_ktime_get_ns() > expires)
		return NULL;
	return lock;
}

/* Parse a tc packet, pulling non-linear headers in once if needed. */
static __always_inline int tc_parse(struct __sk_buff *skb, struct tf_pkt *p)
{
	int kind = parse((void *)(long)skb->data, (void *)(long)skb->data_end, p);

	if (kind != TF_PKT_TRUNCATED)
		return kind;
	if (bpf_skb_pull_data(skb, skb->len < TF_PULL_LEN ? skb->len : TF_PULL_LEN))
		return kind;
	return parse((void *)(long)skb->data, (void *)(long)skb->data_end, p);
}

SEC("xdp")
int tf_lock_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct tf_pkt p = {};
	struct tf_tuple key;
	struct tf_lock *lock;
	struct tf_steer *steer;
	__u8 flags = 0;
	int verdict;

	if (parse(data, data_end, &p) != TF_PKT_TCP)
		return XDP_PASS;
	packet_key(&p, true, &key);
	lock = find_lock(&key);
	if (lock) {
		__sync_fetch_and_add(&lock->in_packets, 1);
		__sync_fetch_and_add(&lock->in_bytes, (__u64)(data_end - data));
		return XDP_DROP;
	}
	if (tf_l3_dev)
		return XDP_PASS;
	steer = tf_steer_find(&key, &p, (__u64)(data_end - data), &flags);
	if (!steer)
		return XDP_PASS;
	verdict = tf_xdp_steer(ctx, &p, steer);
	if (flags & TF_TCP_RST)
		bpf_map_delete_elem(&steers, &key);
	return verdict;
}

/* The tc verdict for one direction: drop and count, or pass to the next program. */
static __always_inline int tc_lock(struct __sk_buff *skb, bool ingress)
{
	struct tf_pkt p = {};
	struct tf_tuple key;
	struct tf_lock *lock;

	if (skb->mark == TF_PASS_MARK)
		return TC_ACT_UNSPEC;
	if (tc_parse(skb, &p) != TF_PKT_TCP)
		return TC_ACT_UNSPEC;
	packet_key(&p, ingress, &key);
	lock = find_lock(&key);
	if (!lock) {
		struct tf_steer *steer;
		__u8 flags = 0;
		int verdict;

		if (!ingress || tf_l3_dev)
			return TC_ACT_UNSPEC;
		steer = tf_steer_find(&key, &p, skb->len, &flags);
		if (!steer)
			return TC_ACT_UNSPEC;
		verdict = tf_tc_steer(skb, &p, steer);
		if (flags & TF_TCP_RST)
			bpf_map_delete_elem(&steers, &key);
		return verdict;
	}
	if (ingress) {
		__sync_fetch_and_add(&lock->in_packets, 1);
		__sync_fetch_and_add(&lock->in_bytes, skb->len);
	} else {
		__sync_fetch_and_add(&lock->out_packets, 1);
		__sync_fetch_and_add(&lock->out_bytes, skb->len);
	}
	if (ingress)
		return TC_ACT_SHOT;
	/*
	 * Egress: a redirect to ifindex 0, which the kernel drops while telling
	 * the sender NET_XMIT_SUCCESS.  TC_ACT_SHOT there reads as local
	 * congestion (NET_XMIT_DROP): TCP then probes every 500 ms without
	 * backing off and after tcp_retries2 (15) probes, about 7.5 s, kills the
	 * locked socket with ETIMEDOUT.  Seen as loss, it backs off as it would
	 * on a quiet network, and lives for minutes.  Same on clsact and tcx.
	 */
	return bpf_redirect(0, 0);
}

SEC("tc")
int tf_lock_tc_in(struct __sk_buff *skb)
{
	return tc_lock(skb, true);
}

SEC("tc")
int tf_lock_tc_out(struct __sk_buff *skb)
{
	return tc_lock(skb, false);
}
