// SPDX-License-Identifier: BSD-2-Clause
/*
 * The image and index decoders (tf_image_decode and tf_index_decode: what
 * tf_image_read and tf_index_read run on a file's bytes) on any input, both
 * on each (the magic tells them apart: at most one accepts).  A decoder must
 * refuse with a message or accept; what it accepts must encode (the checks
 * are shared), into no more bytes than it read, and decoding that encoding
 * must give the same bytes again.  Each input is tried twice: as it is, and
 * with every crc of its framing made right (header, records, END's file crc),
 * so that mutations reach the record decoders behind the checksums.  An
 * accepted image also goes through what tcpferry show and restore make of
 * its fields (endpoints and socket options as text, into buffers of every
 * size, the TCP_TIMESTAMP a restore would choose).
 */
#include <string.h>

#include "fuzz.h"
#include "sockopts.h"
#include "tcpferry.h"

/* A buffer of exactly n bytes for text: writing past it is an overrun under ASan. */
static void text(const char *(*fn)(const void *, char *, size_t), const void *what, size_t n)
{
	char *buf = malloc(n);

	if (!buf)
		return;
	fn(what, buf, n);
	FUZZ_ASSERT(memchr(buf, '\0', n));
	free(buf);
}

static const char *endpoint_text(const void *e, char *buf, size_t n) { return tf_endpoint_str(e, buf, n); }
static const char *sockopt_text(const void *o, char *buf, size_t n) { return tf_sockopt_value_str(o, buf, n); }

static void use_conn(const struct tf_conn *c)
{
	for (size_t n = 1; n <= 64; n += 7) {
		text(endpoint_text, &c->local, n);
		text(endpoint_text, &c->peer, n);
		for (uint32_t i = 0; i < c->n_sockopts; i++)
			text(sockopt_text, &c->sockopts[i], n);
	}
	for (uint32_t i = 0; i < c->n_sockopts; i++)
		text(sockopt_text, &c->sockopts[i], 160);	/* show's buffer */
	FUZZ_ASSERT(tf_tcp_state_name(c->tcp_state));
	(void)tf_ts_restore_value(c, 0, 0);
	(void)tf_ts_restore_value(c, c->dump_time_ns + 1000000000ull, 0);
	(void)tf_ts_restore_value(c, UINT64_MAX, 1u << 31);
}

union decoded {
	struct tf_conn c;
	struct tf_index ix;
};

struct codec {
	int (*decode)(const uint8_t *buf, size_t len, union decoded *d);
	int (*encode)(const union decoded *d, uint8_t **buf, size_t *len);
	void (*free)(union decoded *d);
};

static int image_decode(const uint8_t *b, size_t n, union decoded *d)
{
	int err = tf_image_decode(b, n, &d->c);

	if (!err)
		use_conn(&d->c);
	return err;
}

static int image_encode(const union decoded *d, uint8_t **b, size_t *n) { return tf_image_encode(&d->c, b, n); }
static void image_free(union decoded *d) { tf_conn_free(&d->c); }
static int index_decode(const uint8_t *b, size_t n, union decoded *d) { return tf_index_decode(b, n, &d->ix); }
static int index_encode(const union decoded *d, uint8_t **b, size_t *n) { return tf_index_encode(&d->ix, b, n); }
static void index_free(union decoded *d) { tf_index_free(&d->ix); }

static const struct codec codecs[] = {
	{ image_decode, image_encode, image_free },
	{ index_decode, index_encode, index_free },
};

/* 1 if the codec accepted data, 0 if it refused it. */
static int roundtrip(const struct codec *k, const uint8_t *data, size_t size)
{
	union decoded d, again;
	uint8_t *enc, *enc2;
	size_t len, len2;

	if (k->decode(data, size, &d)) {
		FUZZ_ASSERT(tf_strerror()[0]);
		return 0;
	}
	FUZZ_ASSERT(k->encode(&d, &enc, &len) == 0);
	FUZZ_ASSERT(len <= size);
	FUZZ_ASSERT(k->decode(enc, len, &again) == 0);
	FUZZ_ASSERT(k->encode(&again, &enc2, &len2) == 0);
	FUZZ_ASSERT(len == len2 && !memcmp(enc, enc2, len));
	free(enc);
	free(enc2);
	k->free(&d);
	k->free(&again);
	return 1;
}

static void both(const uint8_t *data, size_t size)
{
	int accepted = 0;

	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		accepted += roundtrip(&codecs[i], data, size);
	FUZZ_ASSERT(accepted <= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_raw_and_fixed(data, size, both, fuzz_fix_image_crcs);
	return 0;
}
