// SPDX-License-Identifier: BSD-2-Clause
/*
 * Every SOCKOPT record is checked as images/FORMAT.md defines it, with its
 * crc right (so only the value can be what is refused): a name is printable
 * text without NUL (TCP_CONGESTION "\0ubic" or "c\0\0\0\0" are no names),
 * and each int option is within the range the kernel gives it.  The encoder
 * refuses the same values, and each value at the edge of its range is read.
 */
#include <stdio.h>
#include <string.h>

#include "image_testlib.h"
#include "sockopts.h"	/* tf_sockopt_value_str, as show prints a value */

static struct craft out;

static void copy_all(void *arg, uint16_t type, uint16_t flags, const uint8_t *p, uint32_t n)
{
	(void)arg;
	craft_record(&out, type, flags, p, n);
}

/* The golden IPv6 image (no options) with one SOCKOPT record of id and value added. */
static void with_opt(uint16_t id, const void *val, uint16_t len)
{
	uint8_t rec[4 + TF_SOCKOPT_MAX_LEN];
	struct tf_conn c;
	uint8_t *buf;
	size_t n;

	golden_ipv6(&c);
	if (tf_image_encode(&c, &buf, &n))
		bail_out("encode: %s", tf_strerror());
	tf_conn_free(&c);
	craft_start(&out, "\x89TFC\r\n\x1a\n");
	craft_each(buf, n, copy_all, NULL);
	craft_le(rec, id, 2);
	craft_le(rec + 2, len, 2);
	memcpy(rec + 4, val, len);
	craft_record(&out, 0x0013, 0, rec, 4 + len);
	craft_end(&out);
	free(buf);
}

/* Decoded: the option's value as show prints it, or NULL when refused (the message in *why). */
static const char *decoded(const char **why)
{
	static char shown[128];
	struct tf_conn got;

	tf_error_clear();
	if (tf_image_decode(out.buf, out.len, &got)) {
		*why = tf_strerror();
		return NULL;
	}
	*why = "";
	if (got.n_sockopts != 1)
		snprintf(shown, sizeof(shown), "(%u options)", got.n_sockopts);
	else
		tf_sockopt_value_str(&got.sockopts[0], shown, sizeof(shown));
	tf_conn_free(&got);
	return shown;
}

static void refused(uint16_t id, const void *val, uint16_t len, const char *words, const char *what)
{
	const char *why, *shown;

	with_opt(id, val, len);
	shown = decoded(&why);
	ok(!shown && strstr(why, words), "%s is refused: %s", what, shown ? shown : why);
	if (shown)
		diag("  accepted as '%s'", shown);
	else if (!strstr(why, words))
		diag("  the message lacks '%s'", words);
}

static void accepted(uint16_t id, const void *val, uint16_t len, const char *want, const char *what)
{
	const char *why, *shown;

	with_opt(id, val, len);
	shown = decoded(&why);
	ok(shown && !strcmp(shown, want), "%s is read as %s", what, shown ? shown : why);
}

/* An int option of value v: read back as v when in range, else refused as out of range. */
static void int_case(uint16_t id, int32_t v, bool in_range, const char *what)
{
	uint8_t b[4];
	char text[64];

	craft_le(b, (uint32_t)v, 4);
	if (in_range) {
		snprintf(text, sizeof(text), "%d", v);
		accepted(id, b, 4, text, what);
	} else {
		snprintf(text, sizeof(text), "%d is out of range", v);
		refused(id, b, 4, text, what);
	}
}
#define accepted_int(id, v, what) int_case(id, v, true, what)
#define refused_int(id, v, what) int_case(id, v, false, what)

/* The encoder writes only what reads back: it refuses the same value. */
static void encoder_refuses(uint16_t id, const void *val, uint16_t len, const char *what)
{
	struct tf_conn c;
	uint8_t *buf = NULL;
	size_t n;
	int err;

	golden_ipv6(&c);
	add_opt(&c, id, val, len);
	tf_error_clear();
	err = tf_image_encode(&c, &buf, &n);
	ok(err < 0 && *tf_strerror(), "the encoder refuses %s too: %s", what, tf_strerror());
	if (!err)
		free(buf);
	tf_conn_free(&c);
}

int main(void)
{
	static const int linger_on[2] = { 1, 5 }, linger_2[2] = { 2, 5 }, linger_neg[2] = { 1, -1 };

	plan(34);

	/* Names. */
	accepted(TF_SO_CONGESTION, "cubic", 5, "cubic", "TCP_CONGESTION 'cubic'");
	refused(TF_SO_CONGESTION, "\0ubic", 5, "byte 0 of the name is 0x00", "TCP_CONGESTION '\\0ubic'");
	refused(TF_SO_CONGESTION, "c\0\0\0\0", 5, "byte 1 of the name is 0x00", "TCP_CONGESTION 'c\\0\\0\\0\\0'");
	refused(TF_SO_CONGESTION, "cu bic", 6, "byte 2 of the name is 0x20", "TCP_CONGESTION with a space");
	refused(TF_SO_CONGESTION, "cub\x1b[2J", 7, "byte 3 of the name is 0x1b", "TCP_CONGESTION with an escape");
	refused(TF_SO_CONGESTION, "cubic\xff", 6, "byte 5 of the name is 0xff", "TCP_CONGESTION with a byte over 0x7e");
	refused(TF_SO_CONGESTION, "", 0, "a value of 0 bytes", "an empty TCP_CONGESTION");
	refused(TF_SO_CONGESTION, "abcdefghijklmnop", 16, "a name of 16 bytes, more than the kernel's 15",
		"a TCP_CONGESTION name of 16 bytes");
	accepted(TF_SO_CONGESTION, "abcdefghijklmno", 15, "abcdefghijklmno", "a TCP_CONGESTION name of 15 bytes");
	encoder_refuses(TF_SO_CONGESTION, "\0ubic", 5, "TCP_CONGESTION '\\0ubic'");
	accepted(TF_SO_BINDTODEVICE, "veth0", 5, "veth0", "SO_BINDTODEVICE 'veth0'");
	refused(TF_SO_BINDTODEVICE, "veth0\0", 6, "byte 5 of the name is 0x00", "SO_BINDTODEVICE with its NUL");
	refused(TF_SO_BINDTODEVICE, "a/b", 3, "or '/'", "SO_BINDTODEVICE 'a/b'");
	refused(TF_SO_BINDTODEVICE, "..", 2, "is no device name", "SO_BINDTODEVICE '..'");

	/* Ints: the edges of their ranges. */
	accepted_int(TF_SO_NODELAY, 1, "TCP_NODELAY 1");
	refused_int(TF_SO_NODELAY, 2, "TCP_NODELAY 2");
	refused_int(TF_SO_KEEPALIVE, -1, "SO_KEEPALIVE -1");
	accepted_int(TF_SO_KEEPIDLE, 32767, "TCP_KEEPIDLE 32767");
	refused_int(TF_SO_KEEPIDLE, 0, "TCP_KEEPIDLE 0");
	refused_int(TF_SO_KEEPINTVL, 32768, "TCP_KEEPINTVL 32768");
	refused_int(TF_SO_KEEPCNT, 128, "TCP_KEEPCNT 128");
	refused_int(TF_SO_USER_TIMEOUT, -5, "TCP_USER_TIMEOUT -5");
	refused_int(TF_SO_TOS, 256, "IP_TOS 256");
	accepted_int(TF_SO_TTL, 255, "IP_TTL 255");
	refused_int(TF_SO_TTL, 256, "IP_TTL 256");
	refused_int(TF_SO_SNDBUF, 0, "SO_SNDBUF 0");
	refused_int(TF_SO_BUF_LOCK, 4, "SO_BUF_LOCK 4");
	refused_int(TF_SO_RCVLOWAT, 0, "SO_RCVLOWAT 0");
	refused_int(TF_SO_MTU_DISCOVER, 6, "IP_MTU_DISCOVER 6");
	accepted_int(TF_SO_MARK, -1, "SO_MARK 0xffffffff (any 32 bits)");

	/* Linger. */
	accepted(TF_SO_LINGER, linger_on, 8, "on, 5 s", "SO_LINGER on, 5 s");
	refused(TF_SO_LINGER, linger_2, 8, "l_onoff 2 is neither 0 nor 1", "SO_LINGER with l_onoff 2");
	refused(TF_SO_LINGER, linger_neg, 8, "l_linger -1 s is negative", "SO_LINGER with l_linger -1");
	encoder_refuses(TF_SO_KEEPCNT, (int[]){ 128 }, 4, "TCP_KEEPCNT 128");
	return done_testing();
}
