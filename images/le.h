/* SPDX-License-Identifier: BSD-2-Clause */
/* Little-endian integers byte by byte, as every tcpferry format writes them. */
#ifndef TF_LE_H
#define TF_LE_H

#include <stdint.h>

static inline uint16_t get16(const uint8_t *p) { return p[0] | p[1] << 8; }
static inline uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static inline uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static inline void set16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static inline void set32(uint8_t *p, uint32_t v) { set16(p, v); set16(p + 2, v >> 16); }
static inline void set64(uint8_t *p, uint64_t v) { set32(p, v); set32(p + 4, v >> 32); }

#endif
