// SPDX-License-Identifier: BSD-2-Clause
/*
 * A damaged file is never taken for a good one: every truncation of an image
 * and of an index, and every single-bit flip of them, is refused with a
 * message; random damage never crashes the decoder.
 */
#include <stdio.h>
#include <string.h>

#include "image_testlib.h"

typedef int (*decode_fn)(const uint8_t *buf, size_t len, void *out);

static int decode_image(const uint8_t *buf, size_t len, void *out)
{
	int err = tf_image_decode(buf, len, out);

	if (!err)
		tf_conn_free(out);
	return err;
}

static int decode_index(const uint8_t *buf, size_t len, void *out)
{
	int err = tf_index_decode(buf, len, out);

	if (!err)
		tf_index_free(out);
	return err;
}

/* Every prefix 0..len-1 refused, each with a message; returns the count accepted. */
static size_t truncations_accepted(const uint8_t *buf, size_t len, decode_fn fn, void *out,
				   size_t *no_message)
{
	size_t accepted = 0;

	*no_message = 0;
	for (size_t n = 0; n < len; n++) {
		/* A copy of exactly n bytes, so a read past the end is a real overrun. */
		uint8_t *p = malloc(n ? n : 1);

		memcpy(p, buf, n);
		tf_error_clear();
		if (fn(p, n, out) == 0)
			accepted++;
		else if (!*tf_strerror())
			(*no_message)++;
		free(p);
	}
	return accepted;
}

static size_t flips_accepted(const uint8_t *buf, size_t len, decode_fn fn, void *out,
			     size_t *no_message)
{
	uint8_t *p = malloc(len);
	size_t accepted = 0;

	*no_message = 0;
	memcpy(p, buf, len);
	for (size_t bit = 0; bit < len * 8; bit++) {
		p[bit / 8] ^= 1u << (bit % 8);
		tf_error_clear();
		if (fn(p, len, out) == 0) {
			if (accepted++ < 5)
				diag("flip of bit %zu (byte %zu) accepted", bit % 8, bit / 8);
		} else if (!*tf_strerror()) {
			(*no_message)++;
		}
		p[bit / 8] ^= 1u << (bit % 8);
	}
	free(p);
	return accepted;
}

/* Random damage of several bytes at once, and random garbage: no crash. */
static void random_damage(const uint8_t *buf, size_t len, decode_fn fn, void *out)
{
	uint8_t *p = malloc(len);

	srand(1234);
	for (int round = 0; round < 20000; round++) {
		size_t n = len;

		memcpy(p, buf, len);
		for (int k = rand() % 8 + 1; k > 0; k--)
			p[rand() % len] = rand();
		if (round % 3 == 0)
			n = rand() % (len + 1);
		fn(p, n, out);
	}
	for (int round = 0; round < 2000; round++) {
		for (size_t i = 0; i < len; i++)
			p[i] = rand();
		memcpy(p, buf, 16);	/* a valid header, then garbage */
		fn(p, len, out);
	}
	free(p);
}

/* Damage inside payloads with the crcs made right again: the validation must hold. */
static struct craft crafted;

static void damage_record(void *arg, uint16_t type, uint16_t flags, const uint8_t *p, uint32_t n)
{
	uint8_t tmp[4096];

	(void)arg;
	memcpy(tmp, p, n);
	if (n && rand() % 3 == 0)
		for (int k = rand() % 4 + 1; k > 0; k--)
			tmp[rand() % n] = rand() % 4 == 0 ? 0xff : rand() % 20;
	craft_record(&crafted, type, flags, tmp, n);
}

static size_t reframed_damage(const uint8_t *buf, size_t len, const char *magic, decode_fn fn,
			      void *out)
{
	size_t accepted = 0;

	srand(99);
	for (int round = 0; round < 20000; round++) {
		craft_start(&crafted, magic);
		craft_each(buf, len, damage_record, NULL);
		craft_end(&crafted);
		accepted += fn(crafted.buf, crafted.len, out) == 0;
	}
	return accepted;
}

int main(void)
{
	struct tf_index_entry e[2];
	struct tf_conn c;
	struct tf_index ix;
	uint8_t *img, *idx;
	size_t img_len, idx_len, acc, nomsg;

	golden_ipv4(&c);
	golden_index(&ix, e);
	if (tf_image_encode(&c, &img, &img_len) || tf_index_encode(&ix, &idx, &idx_len))
		bail_out("encode: %s", tf_strerror());
	tf_conn_free(&c);
	diag("image of %zu bytes, index of %zu bytes", img_len, idx_len);

	ok(decode_image(img, img_len, &c) == 0, "the undamaged image decodes");
	ok(decode_index(idx, idx_len, &ix) == 0, "the undamaged index decodes");

	acc = truncations_accepted(img, img_len, decode_image, &c, &nomsg);
	ok(acc == 0 && nomsg == 0, "all %zu truncations of the image are refused with a message "
	   "(%zu accepted, %zu silent)", img_len, acc, nomsg);
	acc = truncations_accepted(idx, idx_len, decode_index, &ix, &nomsg);
	ok(acc == 0 && nomsg == 0, "all %zu truncations of the index are refused with a message "
	   "(%zu accepted, %zu silent)", idx_len, acc, nomsg);

	/* The message says where: the last byte and the record it cut. */
	tf_image_decode(img, img_len - 30, &c);
	ok(strstr(tf_strerror(), "truncated at byte") && strstr(tf_strerror(), "(record OUTQ"),
	   "a truncation names the byte and the record: %s", tf_strerror());
	tf_image_decode(img, img_len - 20, &c);
	ok(strstr(tf_strerror(), "truncated at byte"), "a cut before END says so: %s",
	   tf_strerror());

	acc = flips_accepted(img, img_len, decode_image, &c, &nomsg);
	ok(acc == 0 && nomsg == 0, "all %zu single-bit flips of the image are refused with a "
	   "message (%zu accepted, %zu silent)", img_len * 8, acc, nomsg);
	acc = flips_accepted(idx, idx_len, decode_index, &ix, &nomsg);
	ok(acc == 0 && nomsg == 0, "all %zu single-bit flips of the index are refused with a "
	   "message (%zu accepted, %zu silent)", idx_len * 8, acc, nomsg);

	img[300] ^= 0x10;
	tf_image_decode(img, img_len, &c);
	ok(strstr(tf_strerror(), "bad crc in record") && strstr(tf_strerror(), "at offset"),
	   "a flipped payload bit is a bad crc at an offset: %s", tf_strerror());
	img[300] ^= 0x10;

	random_damage(img, img_len, decode_image, &c);
	random_damage(idx, idx_len, decode_index, &ix);
	ok(1, "22000 randomly damaged images and indexes did not crash the decoder");
	acc = reframed_damage(img, img_len, "\x89TFC\r\n\x1a\n", decode_image, &c);
	ok(1, "20000 images damaged inside valid framing did not crash the decoder "
	   "(%zu were still valid connections)", acc);
	acc = reframed_damage(idx, idx_len, "\x89TFI\r\n\x1a\n", decode_index, &ix);
	ok(1, "20000 indexes damaged inside valid framing did not crash the decoder "
	   "(%zu were still valid)", acc);

	free(img);
	free(idx);
	return done_testing();
}
