// SPDX-License-Identifier: BSD-2-Clause
/*
 * Images and indexes survive encode -> decode and write -> read unchanged,
 * for every shape of connection; the decoder skips what it may skip and
 * refuses, with a message that says why, what it must not accept.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_testlib.h"

static bool roundtrip(const struct tf_conn *c, const char *what)
{
	struct tf_conn got;
	uint8_t *buf = NULL;
	size_t len = 0;
	bool same;

	if (tf_image_encode(c, &buf, &len)) {
		diag("%s: encode: %s", what, tf_strerror());
		return false;
	}
	if (tf_image_decode(buf, len, &got)) {
		diag("%s: decode: %s", what, tf_strerror());
		free(buf);
		return false;
	}
	same = conn_equal(c, &got);
	tf_conn_free(&got);
	free(buf);
	return same;
}

static void test_roundtrips(void)
{
	struct tf_conn c;

	golden_ipv4(&c);
	ok(roundtrip(&c, "ipv4"), "IPv4 with queues, window, wire tsval and options round-trips");
	tf_conn_free(&c);

	golden_ipv6(&c);
	ep_set(&c.local, AF_INET6, "fe80::1", 22);
	ep_set(&c.peer, AF_INET6, "fe80::2", 50000);
	c.local.scope_id = c.peer.scope_id = 3;
	ok(roundtrip(&c, "ipv6"), "IPv6 link-local with scope id and empty queues round-trips");
	tf_conn_free(&c);

	golden_ipv4(&c);
	c.sock_family = AF_INET6;
	ep_set(&c.local, AF_INET6, "::ffff:10.0.0.1", 80);
	ep_set(&c.peer, AF_INET6, "::ffff:10.0.0.2", 4567);
	ok(roundtrip(&c, "v4-mapped"), "v4-mapped IPv6 socket round-trips");
	tf_conn_free(&c);

	golden_ipv4(&c);
	free(c.inq);
	free(c.outq);
	c.inq = c.outq = NULL;
	c.inq_len = c.outq_len = c.unsent_len = 0;
	c.has_window = c.has_ts_wire = false;
	memset(&c.window, 0, sizeof(c.window));
	c.ts_wire = 0;
	c.n_sockopts = 0;
	ok(roundtrip(&c, "empty"), "empty queues, no window, no options round-trip");

	/* Every state that still holds a connection. */
	{
		static const uint16_t states[] = { 1, 4, 5, 8, 9, 11 };
		bool all = true;

		for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
			c.tcp_state = states[i];
			all &= roundtrip(&c, "state");
		}
		ok(all, "every carriable TCP state round-trips");
	}
	c.tcp_state = 4;	/* FIN_WAIT1, our FIN behind unsent data */
	c.fin_unsent = true;
	ok(roundtrip(&c, "fin-unsent"), "an unsent FIN of ours (FIN_WAIT1) round-trips");
	c.fin_unsent = false;
	tf_conn_free(&c);
}

static void test_big_queues(void)
{
	struct tf_conn c;

	golden_ipv4(&c);
	free(c.inq);
	free(c.outq);
	c.inq_len = 3 << 20;
	c.outq_len = 5 << 20;
	c.unsent_len = 1 << 20;
	c.inq = malloc(c.inq_len);
	c.outq = malloc(c.outq_len);
	srand(7);
	for (uint32_t i = 0; i < c.inq_len; i++)
		c.inq[i] = rand();
	for (uint32_t i = 0; i < c.outq_len; i++)
		c.outq[i] = rand();
	ok(roundtrip(&c, "big"), "3 MiB receive and 5 MiB send queue (1 MiB unsent) round-trip");
	tf_conn_free(&c);
}

static void test_all_sockopts(void)
{
	static const uint64_t pacing = 12345678901ull;
	static const int linger[2] = { 1, 30 };
	struct tf_conn c;
	bool all_ids = true;

	golden_ipv6(&c);
	for (uint16_t id = 1; id < TF_SO__COUNT; id++) {
		if (id == TF_SO_CONGESTION)
			add_opt(&c, id, "bbr", 3);
		else if (id == TF_SO_BINDTODEVICE)
			add_opt(&c, id, "veth0", 5);
		else if (id == TF_SO_LINGER)
			add_opt(&c, id, linger, sizeof(linger));
		else if (id == TF_SO_MAX_PACING_RATE)
			add_opt(&c, id, &pacing, sizeof(pacing));
		else if (id == TF_SO_NODELAY || id == TF_SO_CORK || id == TF_SO_KEEPALIVE ||
			 id == TF_SO_REUSEADDR || id == TF_SO_V6ONLY)
			add_int(&c, id, 1);	/* booleans */
		else if (id == TF_SO_BUF_LOCK || id == TF_SO_MTU_DISCOVER)
			add_int(&c, id, 3);
		else
			add_int(&c, id, 100 + id);	/* in every other option's range */
	}
	all_ids = c.n_sockopts == TF_SO__COUNT - 1;
	ok(all_ids && roundtrip(&c, "sockopts"), "all %u socket options round-trip",
	   c.n_sockopts);
	tf_conn_free(&c);
}

/* Each of these must be refused by the encoder, with a message. */
static const char *const bad_conn_names[] = {
	"window scale 15", "window scale without the option", "local port 0",
	"unknown address family", "IPv4 endpoints on an IPv6 socket",
	"IPv6 peer with IPv4 local", "LISTEN state", "mss 0", "unknown option bits",
	"unsent > outq", "queue over 1 GiB", "queue length without data",
	"unknown socket option id", "socket option twice", "socket option of 33 bytes",
	"int option of 3 bytes", "IPv4 endpoint with a scope id",
	"an unsent FIN of ours in ESTABLISHED",
};

static void bad_conn(struct tf_conn *c, size_t i)
{
	switch (i) {
	case 0: c->snd_wscale = 15; break;
	case 1: c->opts &= ~TF_OPT_WSCALE; break;
	case 2: c->local.port = 0; break;
	case 3: c->peer.family = 1; break;
	case 4: c->sock_family = AF_INET6; break;
	case 5: ep_set(&c->peer, AF_INET6, "2001:db8::9", 80); break;
	case 6: c->tcp_state = 10; break;
	case 7: c->mss_clamp = 0; break;
	case 8: c->opts |= 1u << 5; break;
	case 9: c->unsent_len = c->outq_len + 1; break;
	case 10: c->inq_len = (1u << 30) + 1; break;
	case 11: free(c->inq); c->inq = NULL; break;
	case 12: c->sockopts[0].id = 99; break;
	case 13: c->sockopts[1].id = c->sockopts[0].id; break;
	case 14: c->sockopts[2].len = 33; break;
	case 15: c->sockopts[0].len = 3; break;
	case 16: c->local.scope_id = 2; break;
	case 17: c->fin_unsent = true; break;
	}
}

static void test_encode_refuses(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad_conn_names); i++) {
		struct tf_conn c;
		uint8_t *buf = NULL;
		size_t len = 0;
		int err;

		golden_ipv4(&c);
		bad_conn(&c, i);
		tf_error_clear();
		err = tf_image_encode(&c, &buf, &len);
		ok(err < 0 && *tf_strerror(), "encode refuses %s (%s)", bad_conn_names[i],
		   tf_strerror());
		if (!err)
			free(buf);
		if (i == 10)
			c.inq_len = 0;	/* the buffer is not that big */
		tf_conn_free(&c);
	}
}

/* ---- crafted files --------------------------------------------------------------------- */

static struct craft out;
static uint16_t edit_type;			/* the record to edit (0: none) */
static void (*edit)(uint8_t *p, uint32_t *n);	/* changes it in place */
static int copies = 1;				/* how many times to copy it */
static bool edited;				/* only the first of its type */

static void copy_record(void *arg, uint16_t type, uint16_t flags, const uint8_t *p, uint32_t n)
{
	uint8_t tmp[4096];

	(void)arg;
	if (type != edit_type || edited) {
		craft_record(&out, type, flags, p, n);
		return;
	}
	memcpy(tmp, p, n);
	if (edit)
		edit(tmp, &n);
	for (int i = 0; i < copies; i++)
		craft_record(&out, type, flags, tmp, n);
	edited = true;
}

/*
 * Rebuild the golden IPv4 image with the first record of a type edited (or
 * copied ncopies times), plus one extra record before END.
 */
static void rebuild(uint16_t type, void (*fn)(uint8_t *, uint32_t *), int ncopies,
		    uint16_t extra_type, uint16_t extra_flags, const void *extra, uint32_t extra_len)
{
	struct tf_conn c;
	uint8_t *buf;
	size_t len;

	golden_ipv4(&c);
	if (tf_image_encode(&c, &buf, &len))
		bail_out("encode: %s", tf_strerror());
	tf_conn_free(&c);
	edit_type = type;
	edit = fn;
	edited = false;
	copies = ncopies;
	craft_start(&out, "\x89TFC\r\n\x1a\n");
	craft_each(buf, len, copy_record, NULL);
	if (extra_type)
		craft_record(&out, extra_type, extra_flags, extra, extra_len);
	craft_end(&out);
	free(buf);
}

/* Decodes and equals the golden connection? */
static bool decodes_as_golden(void)
{
	struct tf_conn want, got;
	bool same;

	if (tf_image_decode(out.buf, out.len, &got)) {
		diag("decode: %s", tf_strerror());
		return false;
	}
	golden_ipv4(&want);
	same = conn_equal(&want, &got);
	tf_conn_free(&want);
	tf_conn_free(&got);
	return same;
}

/* Refused, with a message containing `words`, and c left empty? */
static bool refused_with(const char *words)
{
	struct tf_conn got;
	int err;

	memset(&got, 0xa5, sizeof(got));
	err = tf_image_decode(out.buf, out.len, &got);
	if (!err) {
		diag("accepted");
		tf_conn_free(&got);
		return false;
	}
	if (!strstr(tf_strerror(), words)) {
		diag("message '%s' lacks '%s'", tf_strerror(), words);
		return false;
	}
	if (got.inq || got.outq || got.inq_len || got.n_sockopts) {
		diag("the connection was not cleared");
		return false;
	}
	return true;
}

static void set_u8(uint8_t *p, int off, uint8_t v) { p[off] = v; }
static void wscale15(uint8_t *p, uint32_t *n) { (void)n; set_u8(p, 72, 15); }
static void family5(uint8_t *p, uint32_t *n) { (void)n; set_u8(p, 8, 5); }
static void port0(uint8_t *p, uint32_t *n) { (void)n; set_u8(p, 34, 0); set_u8(p, 35, 0); }
static void inq_plus1(uint8_t *p, uint32_t *n) { (void)n; p[108]++; }
static void outq_zero(uint8_t *p, uint32_t *n) { (void)n; memset(p + 112, 0, 4); }
static void ipv4_tail(uint8_t *p, uint32_t *n) { (void)n; set_u8(p, 8 + 8 + 5, 1); }
static void state_listen(uint8_t *p, uint32_t *n) { (void)n; set_u8(p, 2, 10); }
static void conn_short(uint8_t *p, uint32_t *n) { (void)p; *n -= 1; }
static void unsent_big(uint8_t *p, uint32_t *n) { (void)n; p[0] = 0xff; p[1] = 0xff; }
static void opt_id_200(uint8_t *p, uint32_t *n) { (void)n; p[0] = 200; p[1] = 0; }
static void opt_len_lie(uint8_t *p, uint32_t *n) { (void)n; p[2]++; }
static void window_without_flag(uint8_t *p, uint32_t *n) { (void)n; p[4] = 0; }
static void flag_bit2(uint8_t *p, uint32_t *n) { (void)n; p[4] |= 4; }

static void test_crafted(void)
{
	static const uint8_t junk[] = "something from the future";
	static const uint8_t opt200[] = { 200, 0, 4, 0, 1, 0, 0, 0 };

	rebuild(0, NULL, 1, 0, 0, NULL, 0);
	ok(decodes_as_golden(), "the independent writer of FORMAT.md gives a valid image");

	rebuild(0, NULL, 1, 0x0099, 0, junk, sizeof(junk));
	ok(decodes_as_golden(), "an unknown optional record is skipped");
	rebuild(0, NULL, 1, 0x1234, 1, junk, sizeof(junk));
	ok(refused_with("record type 0x1234 is required but unknown; written by a newer tcpferry?"),
	   "an unknown required record is refused: %s", tf_strerror());

	rebuild(0, NULL, 1, 0x0013, 0, opt200, sizeof(opt200));
	ok(decodes_as_golden(), "an optional socket option of unknown id is skipped");
	rebuild(0, NULL, 1, 0x0013, 1, opt200, sizeof(opt200));
	ok(refused_with("socket option id 200 is required but unknown"),
	   "a required socket option of unknown id is refused: %s", tf_strerror());

	rebuild(0x0010, NULL, 2, 0, 0, NULL, 0);
	ok(refused_with("appears twice"), "a second CONN is refused: %s", tf_strerror());
	rebuild(0x0011, NULL, 2, 0, 0, NULL, 0);
	ok(refused_with("appears twice"), "a second INQ is refused: %s", tf_strerror());
	rebuild(0x0014, NULL, 2, 0, 0, NULL, 0);
	ok(refused_with("appears twice"), "a second TSWIRE is refused: %s", tf_strerror());
	{
		static const uint8_t nodelay[] = { 1, 0, 4, 0, 0, 0, 0, 0 };

		rebuild(0, NULL, 1, 0x0013, 0, nodelay, sizeof(nodelay));
		ok(refused_with("TCP_NODELAY appears twice"), "a socket option twice is refused: %s",
		   tf_strerror());
	}
	rebuild(0x0010, NULL, 0, 0, 0, NULL, 0);
	ok(refused_with("expected CONN"), "an image without CONN is refused: %s", tf_strerror());
	rebuild(0x0011, NULL, 0, 0, 0, NULL, 0);
	ok(refused_with("no INQ record"), "a missing INQ is refused: %s", tf_strerror());

	rebuild(0x0010, wscale15, 1, 0, 0, NULL, 0);
	ok(refused_with("window scale"), "wscale 15 is refused: %s", tf_strerror());
	rebuild(0x0010, family5, 1, 0, 0, NULL, 0);
	ok(refused_with("family code 5"), "address family 5 is refused: %s", tf_strerror());
	rebuild(0x0010, port0, 1, 0, 0, NULL, 0);
	ok(refused_with("port 0"), "peer port 0 is refused: %s", tf_strerror());
	rebuild(0x0010, inq_plus1, 1, 0, 0, NULL, 0);
	ok(refused_with("CONN says"), "INQ shorter than CONN says is refused: %s", tf_strerror());
	rebuild(0x0010, outq_zero, 1, 0, 0, NULL, 0);
	ok(refused_with("CONN says 0"), "OUTQ present when CONN says empty is refused: %s",
	   tf_strerror());
	rebuild(0x0010, ipv4_tail, 1, 0, 0, NULL, 0);
	ok(refused_with("past the fourth"), "junk after an IPv4 address is refused: %s",
	   tf_strerror());
	rebuild(0x0010, state_listen, 1, 0, 0, NULL, 0);
	ok(refused_with("TCP state 10"), "a LISTEN socket is refused: %s", tf_strerror());
	rebuild(0x0010, conn_short, 1, 0, 0, NULL, 0);
	ok(refused_with("expected 116"), "a short CONN is refused: %s", tf_strerror());
	rebuild(0x0010, window_without_flag, 1, 0, 0, NULL, 0);
	ok(refused_with("without the window flag"), "window values without the flag are refused: %s",
	   tf_strerror());
	rebuild(0x0010, flag_bit2, 1, 0, 0, NULL, 0);
	ok(refused_with("unknown flag bits 0x5"), "an unknown CONN flag is refused: %s", tf_strerror());
	rebuild(0x0012, unsent_big, 1, 0, 0, NULL, 0);
	ok(refused_with("unsent"), "unsent > outq is refused: %s", tf_strerror());
	rebuild(0x0013, opt_id_200, 1, 0, 0, NULL, 0);
	{
		struct tf_conn got;
		int err = tf_image_decode(out.buf, out.len, &got);
		bool dropped = !err && got.n_sockopts == 5;

		for (uint32_t i = 0; dropped && i < got.n_sockopts; i++)
			dropped = got.sockopts[i].id != 200 && got.sockopts[i].id != TF_SO_NODELAY;
		ok(dropped, "an optional option of unknown id is dropped, the others kept");
		tf_conn_free(&got);
	}
	rebuild(0x0013, opt_len_lie, 1, 0, 0, NULL, 0);
	ok(refused_with("the value says"), "a socket option whose length lies is refused: %s",
	   tf_strerror());

	/* END must be last, count the records and carry the file's crc. */
	rebuild(0, NULL, 1, 0, 0, NULL, 0);
	out.buf[out.len++] = 0;
	ok(refused_with("trailing data after END"), "bytes after END are refused: %s", tf_strerror());
	rebuild(0, NULL, 1, 0, 0, NULL, 0);
	out.len = 16;
	out.nrec = 0;
	craft_end(&out);
	ok(refused_with("no CONN record"),
	   "an image of nothing but END is refused: %s", tf_strerror());

	/* A header from the future. */
	rebuild(0, NULL, 1, 0, 0, NULL, 0);
	out.buf[8] = 2;
	craft_le(out.buf + 12, crc32(0, out.buf, 12), 4);
	ok(refused_with("format version 2"), "format version 2 is refused: %s", tf_strerror());
}

/* ---- files ------------------------------------------------------------------------------ */

static char tmpdir[] = "/tmp/tf-image-XXXXXX";

static int count_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void test_files(void)
{
	struct tf_conn c, got;
	struct tf_index_entry e[2];
	struct tf_index ix, ixgot;
	char path[PATH_MAX];
	struct stat st;
	int err;

	if (!mkdtemp(tmpdir))
		bail_out("mkdtemp: %m");
	golden_ipv4(&c);
	snprintf(path, sizeof(path), "%s/conn-0001.tfc", tmpdir);
	err = tf_image_write(path, &c);
	ok(!err, "tf_image_write %s", err ? tf_strerror() : "");
	memset(&st, 0, sizeof(st));
	stat(path, &st);
	ok((st.st_mode & 07777) == 0600, "the image is mode 0600 (%o)", st.st_mode & 07777);
	err = tf_image_read(path, &got);
	ok(!err && conn_equal(&c, &got), "tf_image_read gives it back %s", err ? tf_strerror() : "");
	tf_conn_free(&got);
	c.snd_seq++;
	err = tf_image_write(path, &c);
	ok(!err && !tf_image_read(path, &got) && got.snd_seq == c.snd_seq,
	   "writing again replaces the image");
	tf_conn_free(&got);
	tf_conn_free(&c);

	golden_index(&ix, e);
	err = tf_index_write(tmpdir, &ix);
	ok(!err, "tf_index_write %s", err ? tf_strerror() : "");
	snprintf(path, sizeof(path), "%s/index.tfi", tmpdir);
	ok(!stat(path, &st) && (st.st_mode & 07777) == 0600, "the index is mode 0600");
	err = tf_index_read(tmpdir, &ixgot);
	ok(!err && index_equal(&ix, &ixgot), "tf_index_read gives it back %s",
	   err ? tf_strerror() : "");
	tf_index_free(&ixgot);
	ok(count_dir(tmpdir) == 2, "no temporary files are left behind");

	/* An index of many entries, and one of none. */
	{
		struct tf_index big = ix;
		bool same;

		big.n = 5000;
		big.entries = calloc(big.n, sizeof(*big.entries));
		for (uint32_t i = 0; i < big.n; i++) {
			snprintf(big.entries[i].file, sizeof(big.entries[i].file), "conn-%04u.tfc", i + 1);
			big.entries[i].local = e[i % 2].local;
			big.entries[i].peer = e[i % 2].peer;
		}
		err = tf_index_write(tmpdir, &big);
		same = !err && !tf_index_read(tmpdir, &ixgot) && index_equal(&big, &ixgot);
		ok(same, "an index of 5000 entries round-trips");
		tf_index_free(&ixgot);
		strcpy(big.entries[4000].file, big.entries[17].file);
		err = tf_index_write(tmpdir, &big);
		ok(err && strstr(tf_strerror(), "listed twice"), "an index naming a file twice is refused: %s",
		   tf_strerror());
		strcpy(big.entries[4000].file, "../etc/passwd");
		err = tf_index_write(tmpdir, &big);
		ok(err && strstr(tf_strerror(), "plain name"), "an index entry with a path is refused: %s",
		   tf_strerror());
		free(big.entries);

		big.n = 0;
		big.entries = NULL;
		big.host[0] = '\0';
		err = tf_index_write(tmpdir, &big);
		ok(!err && !tf_index_read(tmpdir, &ixgot) && index_equal(&big, &ixgot),
		   "an empty index round-trips");
		tf_index_free(&ixgot);
	}

	/* The wrong kind of file, and no file. */
	snprintf(path, sizeof(path), "%s/index.tfi", tmpdir);
	err = tf_image_read(path, &got);
	ok(err && strstr(tf_strerror(), "is a tcpferry index, not an image") &&
	   strstr(tf_strerror(), path), "reading an index as an image says so: %s", tf_strerror());
	snprintf(path, sizeof(path), "%s/none.tfc", tmpdir);
	err = tf_image_read(path, &got);
	ok(err == -ENOENT && strstr(tf_strerror(), path), "a missing image is named: %s",
	   tf_strerror());
	err = tf_index_read("/nonexistent-tf-dir", &ixgot);
	ok(err == -ENOENT && strstr(tf_strerror(), "/nonexistent-tf-dir/index.tfi"),
	   "a missing index is named: %s", tf_strerror());
	snprintf(path, sizeof(path), "%s/a-dir.tfc", tmpdir);	/* in our 0700 directory, not in /tmp */
	mkdir(path, 0700);
	err = tf_image_read(path, &got);
	ok(err && strstr(tf_strerror(), "not a regular file (a directory)"), "a directory is not an image: %s",
	   tf_strerror());
	rmdir(path);
	snprintf(path, sizeof(path), "%s/no-such-dir/conn.tfc", tmpdir);
	golden_ipv6(&c);
	err = tf_image_write(path, &c);
	ok(err == -ENOENT && strstr(tf_strerror(), path), "a failed write names the file: %s",
	   tf_strerror());

	snprintf(path, sizeof(path), "rm -rf '%s'", tmpdir);
	if (system(path))
		diag("could not remove %s", tmpdir);
}

int main(void)
{
	test_roundtrips();
	test_big_queues();
	test_all_sockopts();
	test_encode_refuses();
	test_crafted();
	test_files();
	return done_testing();
}
