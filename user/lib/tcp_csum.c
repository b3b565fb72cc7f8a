// SPDX-License-Identifier: BSD-2-Clause
/* The TCP checksum over a pseudo-header (see tcp_csum.h). */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "tcp_csum.h"

/* One's complement sum of 16-bit big-endian words. */
static uint32_t sum16(const void *p, size_t len, uint32_t sum)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	return sum;
}

uint16_t tf_tcp_csum(const uint8_t *src, const uint8_t *dst, size_t alen, const void *seg, size_t len)
{
	/* Both pseudo-headers sum to: addresses + protocol + TCP length. */
	uint32_t sum = sum16(src, alen, 0);

	sum = sum16(dst, alen, sum);
	sum += IPPROTO_TCP + (uint32_t)(len & 0xffff) + (uint32_t)(len >> 16);
	sum = sum16(seg, len, sum);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons(~sum & 0xffff);
}
