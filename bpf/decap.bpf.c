// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The backend's half of l3 steering where the kernel has no ipip / ip6tnl
 * device (CONFIG_NET_IPIP, CONFIG_IPV6_TUNNEL off, as on some lab kernels):
 * at tc ingress, an IPIP packet (IPv4, protocol 4, inner IPv4) or an IP6IP6
 * one (IPv6, next header 41, inner IPv6) loses its outer header and goes on
 * into the stack as the client's own packet.  Every other packet passes as
 * it is.  It strips any such packet it sees, whoever sent it: put it only
 * on the device the frontend's steered packets arrive on.
 *
 *   tc qdisc add dev eth0 clsact
 *   tc filter add dev eth0 ingress bpf direct-action obj decap.bpf.o sec tc
 *
 * With the kernel's devices (`ip link add NAME type ipip external`,
 * `ip link add NAME type ip6tnl external`) this program is not needed.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "parse.h"

#define TC_ACT_UNSPEC	(-1)
#define TC_ACT_SHOT	2
#define TF_ETH_HLEN	14
#define TF_IPPROTO_IPIP	4
#define TF_IPPROTO_IPV6	41

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int tf_decap_tc_in(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct tf_eth_hdr *eth = data;
	int outer = 0;

	if (data + TF_ETH_HLEN + sizeof(struct tf_ipv6_hdr) + 1 > data_end)
		return TC_ACT_UNSPEC;
	if (eth->proto == bpf_htons(TF_ETH_P_IP)) {
		struct tf_ipv4_hdr *ip = data + TF_ETH_HLEN;

		/* No outer options, not a fragment, an IPv4 packet inside. */
		if (ip->ver_ihl == 0x45 && ip->protocol == TF_IPPROTO_IPIP &&
		    !(ip->frag_off & bpf_htons(TF_IP_MF_OFFSET)) && (((__u8 *)(ip + 1))[0] >> 4) == 4)
			outer = sizeof(*ip);
	} else if (eth->proto == bpf_htons(TF_ETH_P_IPV6)) {
		struct tf_ipv6_hdr *ip6 = data + TF_ETH_HLEN;

		if (ip6->nexthdr == TF_IPPROTO_IPV6 && (((__u8 *)(ip6 + 1))[0] >> 4) == 6)
			outer = sizeof(*ip6);
	}
	if (!outer)
		return TC_ACT_UNSPEC;
	/* Half a packet must not go on: drop it if the header cannot come off. */
	if (bpf_skb_adjust_room(skb, -outer, BPF_ADJ_ROOM_MAC, 0))
		return TC_ACT_SHOT;
	return TC_ACT_UNSPEC;
}
