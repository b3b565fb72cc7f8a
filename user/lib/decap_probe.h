/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Can this host take the packets an l3 steer sends it?  A frontend steering
 * in mode l3 wraps the client's packets in IPIP (IPv4 clients) or IP6IP6
 * (IPv6): a backend without a device to unwrap them drops every one, and the
 * handed-off connection dies without a word.  So `receive --serve` asks, and
 * says in its WELCOME (proto.h: MV_FEAT_DECAP*), and the frontend refuses an
 * l3 backend that cannot.  What counts: an up ipip (IPv4) or ip6tnl (IPv6)
 * device in external (collect_md) mode, which takes packets from any
 * frontend, or tcpferry's BPF decap (bpf/decap.bpf.c, both) at the tc
 * ingress of one of this namespace's devices.
 */
#ifndef TF_LIB_DECAP_PROBE_H
#define TF_LIB_DECAP_PROBE_H

#define TF_DECAP_IPIP	(1u << 0)
#define TF_DECAP_IP6IP6	(1u << 1)

/* TF_DECAP_* of this network namespace, or a negative errno. */
int tf_decap_probe(void);

#endif
