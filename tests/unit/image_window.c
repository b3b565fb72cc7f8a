// SPDX-License-Identifier: BSD-2-Clause
/*
 * The TCP_REPAIR_WINDOW fields of a CONN record are checked as the kernel
 * checks them when a restore sets them (images/FORMAT.md): max_window not
 * below snd_wnd, snd_wl1 not after rcv_seq + rcv_wnd, rcv_wup not after
 * rcv_seq (sequence arithmetic, mod 2^32).  An image that breaks one is
 * refused by the decoder (crcs right: crafted, as restore_mutated.t's
 * mutations made them) and by the encoder, before a restore takes any lock
 * or makes any socket; it used to pass, and the restore failed in the
 * kernel, "TCP_REPAIR_WINDOW: Invalid argument", after locking its tuples.
 * The limits themselves are accepted.
 */
#include <stdio.h>
#include <string.h>

#include "image_testlib.h"

static struct craft out;
static struct tf_window win;

/* CONN's window fields (payload offsets 88..107) replaced by win. */
static void copy_with_window(void *arg, uint16_t type, uint16_t flags, const uint8_t *p, uint32_t n)
{
	uint8_t conn[116];

	(void)arg;
	if (type != 0x0010 || n != sizeof(conn)) {
		craft_record(&out, type, flags, p, n);
		return;
	}
	memcpy(conn, p, n);
	craft_le(conn + 88, win.snd_wl1, 4);
	craft_le(conn + 92, win.snd_wnd, 4);
	craft_le(conn + 96, win.max_window, 4);
	craft_le(conn + 100, win.rcv_wnd, 4);
	craft_le(conn + 104, win.rcv_wup, 4);
	craft_record(&out, type, flags, conn, n);
}

/* The golden IPv4 image with the window w: decode's and encode's verdicts (0 or not), the message in why. */
static void try(const struct tf_window *w, int *dec, int *enc, char *why, size_t len)
{
	struct tf_conn c, got;
	uint8_t *buf;
	size_t n;

	golden_ipv4(&c);
	if (tf_image_encode(&c, &buf, &n))
		bail_out("encode of the golden image: %s", tf_strerror());
	win = *w;
	craft_start(&out, "\x89TFC\r\n\x1a\n");
	craft_each(buf, n, copy_with_window, NULL);
	craft_end(&out);
	free(buf);

	tf_error_clear();
	*dec = tf_image_decode(out.buf, out.len, &got);
	snprintf(why, len, "%s", *dec ? tf_strerror() : "");
	if (!*dec)
		tf_conn_free(&got);
	c.window = *w;
	tf_error_clear();
	*enc = tf_image_encode(&c, &buf, &n);
	if (!*enc)
		free(buf);
	tf_conn_free(&c);
}

int main(void)
{
	struct tf_conn g;
	struct tf_window base;
	uint32_t rcv;
	struct {
		const char *what;
		struct tf_window w;
		bool good;
		const char *says;
	} cases[7] = {};
	int k = 0;

	golden_ipv4(&g);
	base = g.window;
	rcv = g.rcv_seq;
	tf_conn_free(&g);

	cases[k].what = "the golden window";
	cases[k].w = base;
	cases[k].good = true;
	cases[k++].says = "";
	cases[k].what = "max_window equal to snd_wnd";
	cases[k].w = base;
	cases[k].w.max_window = base.snd_wnd;
	cases[k].good = true;
	cases[k++].says = "";
	cases[k].what = "max_window one below snd_wnd";
	cases[k].w = base;
	cases[k].w.max_window = base.snd_wnd - 1;
	cases[k++].says = "max_window 65534 is below snd_wnd 65535";
	cases[k].what = "snd_wl1 at rcv_seq + rcv_wnd";
	cases[k].w = base;
	cases[k].w.snd_wl1 = rcv + base.rcv_wnd;
	cases[k].good = true;
	cases[k++].says = "";
	cases[k].what = "snd_wl1 one after rcv_seq + rcv_wnd";
	cases[k].w = base;
	cases[k].w.snd_wl1 = rcv + base.rcv_wnd + 1;
	cases[k++].says = "snd_wl1 2696002497 is after rcv_seq + rcv_wnd (2696002496)";
	cases[k].what = "rcv_wup one after rcv_seq";
	cases[k].w = base;
	cases[k].w.rcv_wup = rcv + 1;
	cases[k++].says = "rcv_wup 2695938257 is after rcv_seq 2695938256";
	cases[k].what = "rcv_wup half the sequence space before rcv_seq (still before: mod 2^32)";
	cases[k].w = base;
	cases[k].w.rcv_wup = rcv - 0x7fffffff;
	cases[k].good = true;
	cases[k++].says = "";

	plan(k);
	for (int i = 0; i < k; i++) {
		char why[512];
		int dec, enc;

		try(&cases[i].w, &dec, &enc, why, sizeof(why));
		if (cases[i].good)
			ok(!dec && !enc, "%s: decoded and encoded (%s)", cases[i].what, why);
		else
			ok(dec && enc && strstr(why, cases[i].says) && strstr(why, "TCP_REPAIR_WINDOW"),
			   "%s: refused by decode and encode, saying \"%s\" (said \"%s\")", cases[i].what,
			   cases[i].says, why);
	}
	return done_testing();
}
