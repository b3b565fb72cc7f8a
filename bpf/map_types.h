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

#endif /* TCPFERRY_MAP_TYPES_H */
