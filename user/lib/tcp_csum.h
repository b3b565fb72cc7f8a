/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The TCP checksum over the IPv4 or IPv6 pseudo-header, for the segments
 * tcpferry builds itself (nudge.c's ACKs, fin_replay.c's FINs).
 */
#ifndef TF_TCP_CSUM_H
#define TF_TCP_CSUM_H

#include <stddef.h>
#include <stdint.h>

/*
 * src, dst: 4 bytes (IPv4) or 16 (IPv6) in network order; seg: the TCP
 * header (checksum field 0) and payload, len bytes.  Returns the checksum
 * in network order, ready for th->check.
 */
uint16_t tf_tcp_csum(const uint8_t *src, const uint8_t *dst, size_t alen, const void *seg, size_t len);

#endif
