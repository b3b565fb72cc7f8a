/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * What the test helper programs share: the verifiable byte pattern (both ends
 * of a stream must agree on it), argument lookup, and dying with a message.
 */
#ifndef TF_HELPER_H
#define TF_HELPER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEER_SEED 1
#define APP_SEED 2

/* Set by each program: "tf-stream", "tf-flow". */
static const char *helper_name;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", helper_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* Byte i of stream seed: depends on the seed and every bit of the offset. */
static inline uint8_t pattern(uint32_t seed, uint64_t i)
{
	uint64_t x = (i >> 3) * 0x9E3779B97F4A7C15ull + seed * 0xC2B2AE3D27D4EB4Full;

	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ull;
	x ^= x >> 32;
	return (uint8_t)(x >> (8 * (i & 7)));
}

static inline long long arg_num(int argc, char **argv, const char *name, long long def)
{
	for (int i = 0; i < argc - 1; i++)
		if (!strcmp(argv[i], name))
			return strtoll(argv[i + 1], NULL, 0);
	return def;
}

static inline const char *arg_str(int argc, char **argv, const char *name)
{
	for (int i = 0; i < argc - 1; i++)
		if (!strcmp(argv[i], name))
			return argv[i + 1];
	return NULL;
}

static inline bool has_flag(int argc, char **argv, const char *name)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return false;
}

#endif
