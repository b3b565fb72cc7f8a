// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The end of a watched TCP connection: on the inet_sock_set_state
 * tracepoint, a socket that reaches TCP_CLOSE and whose tuple (in its
 * network namespace) is in conn_watch is reported on the ring buffer
 * conn_ends and forgotten.  A backend that was handed a connection watches
 * it, so it can tell the frontend when the connection is over (and the
 * frontend drop its steer entry), whichever side closed first.
 *
 * The tracepoint sees every socket of the host, in every namespace: the
 * key carries the namespace's cookie, so equal tuples in two namespaces
 * (two labs, two containers) stay apart.  A v4-mapped IPv6 socket is keyed
 * by its IPv4 tuple, as the lock is.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "map_types.h"

#define AF_INET		2
#define AF_INET6	10
#define IPPROTO_TCP	6
#define TCP_CLOSE	7

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);	/* set by the loader */
	__type(key, struct tf_conn_watch_key);
	__type(value, struct tf_conn_watch);
} conn_watch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} conn_ends SEC(".maps");

static __always_inline bool v4mapped(const __u8 *a)
{
	return !a[0] && !a[1] && !a[2] && !a[3] && !a[4] && !a[5] && !a[6] && !a[7] && !a[8] && !a[9] &&
	       a[10] == 0xff && a[11] == 0xff;
}

/*
 * tp_btf: attached by name (no tracefs needed), the socket itself as the
 * argument, read with CO-RE.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tf_conn_end, const struct sock *sk, const int oldstate, const int newstate)
{
	struct tf_conn_watch_key key = {};
	struct tf_conn_end_event *e;
	__u16 family;

	if (newstate != TCP_CLOSE || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET6) {
		__u8 s6[16], d6[16];

		BPF_CORE_READ_INTO(&s6, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&d6, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
		if (v4mapped(s6)) {
			key.tuple.family = AF_INET;
			__builtin_memcpy(key.tuple.local_addr, s6 + 12, 4);
			__builtin_memcpy(key.tuple.peer_addr, d6 + 12, 4);
		} else {
			key.tuple.family = AF_INET6;
			__builtin_memcpy(key.tuple.local_addr, s6, 16);
			__builtin_memcpy(key.tuple.peer_addr, d6, 16);
		}
	} else if (family == AF_INET) {
		key.tuple.family = AF_INET;
		key.tuple.local_addr[0] = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		key.tuple.peer_addr[0] = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	} else {
		return 0;
	}
	/* inet_sport, not skc_num: closing unhashes the socket and zeroes its
	 * inet_num (__inet_put_port) before the tracepoint fires. */
	key.tuple.local_port = BPF_CORE_READ((const struct inet_sock *)sk, inet_sport);
	key.tuple.peer_port = BPF_CORE_READ(sk, __sk_common.skc_dport);
	key.netns_cookie = BPF_CORE_READ(sk, __sk_common.skc_net.net, net_cookie);
	if (!bpf_map_lookup_elem(&conn_watch, &key))
		return 0;
	bpf_map_delete_elem(&conn_watch, &key);
	e = bpf_ringbuf_reserve(&conn_ends, sizeof(*e), 0);
	if (!e)
		return 0;	/* the reader is behind: the watcher's idle timeout catches it */
	e->key = key;
	e->time_ns = bpf_ktime_get_ns();
	e->old_state = oldstate;
	e->pad = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
