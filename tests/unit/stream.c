// SPDX-License-Identifier: BSD-2-Clause
/*
 * The image stream (images/stream.h): a dump goes through memory, a pipe and
 * a stream file unchanged; every truncation (at a frame boundary too) and
 * every single-bit flip is refused with a message that names the frame and
 * its offset; unknown types and versions, a missing END, duplicated,
 * reordered or dropped frames and index/image mismatches are refused.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "image_testlib.h"
#include "stream.h"

static struct tf_index_entry entries[2];
static struct tf_index gix;
static struct tf_conn gconn[2];

/* ---- the golden dump as a stream, and its frames ------------------------------------------ */

static uint8_t *encode_stream(const struct tf_index *ix, const struct tf_conn *c, size_t *len)
{
	char path[] = "/tmp/tf-stream-test.XXXXXX";
	int fd = mkstemp(path);
	struct stat st;
	uint8_t *buf;

	if (fd < 0)
		bail_out("mkstemp: %s", strerror(errno));
	unlink(path);
	if (tf_stream_write(fd, ix, c)) {
		close(fd);
		return NULL;
	}
	fstat(fd, &st);
	buf = malloc(st.st_size);
	if (pread(fd, buf, st.st_size, 0) != st.st_size)
		bail_out("pread");
	close(fd);
	*len = st.st_size;
	return buf;
}

struct frames {
	struct tf_frame f[16];
	int n;
};

static void split(const uint8_t *buf, size_t len, struct frames *fs)
{
	size_t pos = 0, used;

	fs->n = 0;
	while (pos < len && fs->n < 16) {
		if (tf_frame_parse(buf + pos, len - pos, &fs->f[fs->n], 1u << 30, &used))
			bail_out("split: %s", tf_strerror());
		fs->n++;
		pos += used;
	}
}

/* The frames (without the END in fs) again, then an END that is right for them. */
static uint8_t *join(const struct frames *fs, int n, bool end, size_t *len)
{
	uint8_t *buf = malloc(1 << 16), hdr[TF_FRAME_HDR_LEN];
	size_t pos = 0;

	for (int i = 0; i < n; i++) {
		tf_frame_encode(fs->f[i].type, fs->f[i].version, fs->f[i].data, fs->f[i].len, hdr);
		memcpy(buf + pos, hdr, sizeof(hdr));
		memcpy(buf + pos + sizeof(hdr), fs->f[i].data, fs->f[i].len);
		pos += sizeof(hdr) + fs->f[i].len;
	}
	if (end) {
		uint8_t p[8];
		uint32_t crc = crc32(0, buf, pos);

		for (int k = 0; k < 4; k++) {
			p[k] = n >> (8 * k);
			p[4 + k] = crc >> (8 * k);
		}
		tf_frame_encode(TF_SFR_END, 1, p, 8, hdr);
		memcpy(buf + pos, hdr, sizeof(hdr));
		memcpy(buf + pos + sizeof(hdr), p, 8);
		pos += sizeof(hdr) + 8;
	}
	*len = pos;
	return buf;
}

static int decode(const uint8_t *buf, size_t len)
{
	struct tf_index ix;
	struct tf_conn *c;
	int err;

	tf_error_clear();
	err = tf_stream_decode(buf, len, &ix, &c);
	if (!err) {
		tf_stream_conns_free(c, ix.n);
		tf_index_free(&ix);
	}
	return err;
}

/* Decoding fails and the message has each of the words. */
static bool refused_with(const uint8_t *buf, size_t len, const char *w1, const char *w2)
{
	int err = decode(buf, len);

	if (!err || !strstr(tf_strerror(), w1) || (w2 && !strstr(tf_strerror(), w2))) {
		diag("got %d: %s", err, tf_strerror());
		return false;
	}
	return true;
}

static bool same_dump(const struct tf_index *ix, const struct tf_conn *c)
{
	return index_equal(&gix, ix) && conn_equal(&gconn[0], &c[0]) && conn_equal(&gconn[1], &c[1]);
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_roundtrip(const uint8_t *s, size_t len)
{
	struct tf_index ix;
	struct tf_conn *c;
	struct frames fs;
	int err, fds[2], status;
	pid_t pid;

	err = tf_stream_decode(s, len, &ix, &c);
	ok(!err && same_dump(&ix, c), "memory: the golden dump comes back whole%s%s", err ? ": " : "",
	   err ? tf_strerror() : "");
	if (!err) {
		tf_stream_conns_free(c, ix.n);
		tf_index_free(&ix);
	}

	split(s, len, &fs);
	ok(fs.n == 5 && fs.f[0].type == TF_SFR_HEAD && fs.f[1].type == TF_SFR_INDEX &&
	   fs.f[2].type == TF_SFR_CONN && fs.f[3].type == TF_SFR_CONN && fs.f[4].type == TF_SFR_END,
	   "the frames: HEAD, INDEX, CONN, CONN, END");
	{
		uint8_t *idx, *img;
		size_t il, imgl;

		tf_index_encode(&gix, &idx, &il);
		tf_image_encode(&gconn[1], &img, &imgl);
		ok(fs.f[1].len == il && !memcmp(fs.f[1].data, idx, il),
		   "INDEX holds exactly the bytes of index.tfi");
		ok(fs.f[3].len == 2 + 11 + imgl && !memcmp(fs.f[3].data, "\x0b\x00v1-ipv6.tfc", 13) &&
		   !memcmp(fs.f[3].data + 13, img, imgl),
		   "CONN holds its name, then exactly the bytes of its .tfc file");
		free(idx);
		free(img);
	}
	{
		struct tf_frame cf = fs.f[2];
		struct tf_conn one;
		char name[64];

		err = tf_stream_conn_decode(&cf, name, &one);
		ok(!err && !strcmp(name, "v1-ipv4.tfc") && conn_equal(&gconn[0], &one),
		   "tf_stream_conn_decode takes one CONN frame on its own");
		tf_conn_free(&one);
		cf.version = 2;
		err = tf_stream_conn_decode(&cf, name, &one);
		ok(err == -EPROTO && strstr(tf_strerror(), "CONN version 2; this tcpferry reads up to 1; "
					    "upgrade the target"),
		   "and refuses a newer version: %s", tf_strerror());
	}
	for (int i = 0; i < fs.n; i++)
		tf_frame_free(&fs.f[i]);

	/* Through a pipe, from a writer in a child. */
	if (pipe(fds))
		bail_out("pipe");
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		_exit(tf_stream_write(fds[1], &gix, gconn) ? 1 : 0);
	}
	close(fds[1]);
	err = tf_stream_read(fds[0], &ix, &c);
	waitpid(pid, &status, 0);
	close(fds[0]);
	ok(!err && same_dump(&ix, c) && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "pipe: written by one process, read whole by another%s%s", err ? ": " : "",
	   err ? tf_strerror() : "");
	if (!err) {
		tf_stream_conns_free(c, ix.n);
		tf_index_free(&ix);
	}
}

static void test_truncations(const uint8_t *s, size_t len)
{
	size_t wrong = 0, at_boundary = 0, boundary_ok = 0, pos = 0, used;
	struct tf_frame f;

	for (size_t n = 0; n < len; n++) {
		uint8_t *p = malloc(n ? n : 1);

		memcpy(p, s, n);
		if (!decode(p, n) || !*tf_strerror() || (n && !strstr(tf_strerror(), "at offset")))
			wrong++;
		free(p);
	}
	ok(wrong == 0, "all %zu cuts of the stream are refused, each naming a frame and an offset "
	   "(%zu not)", len, wrong);
	/* Cut exactly after a whole frame: the frames are fine, END is missing. */
	while (pos < len && !tf_frame_parse(s + pos, len - pos, &f, 1u << 30, &used)) {
		tf_frame_free(&f);
		pos += used;
		if (pos == len)
			break;
		at_boundary++;
		boundary_ok += refused_with(s, pos, "no END frame", "cut short");
	}
	ok(at_boundary == 4 && boundary_ok == 4, "a cut at each of the 4 frame boundaries says the END "
	   "frame is missing (%zu of %zu)", boundary_ok, at_boundary);
	ok(refused_with(s, len - 10, "frame 5 at offset", "truncated"),
	   "a cut inside END names frame 5: %s", tf_strerror());
	ok(refused_with(s, 0, "empty", NULL), "nothing at all is an empty stream: %s", tf_strerror());
}

static void test_flips(const uint8_t *s, size_t len)
{
	uint8_t *p = malloc(len);
	size_t accepted = 0, nomsg = 0;

	memcpy(p, s, len);
	for (size_t bit = 0; bit < len * 8; bit++) {
		p[bit / 8] ^= 1u << (bit % 8);
		if (decode(p, len) == 0) {
			if (accepted++ < 5)
				diag("flip of bit %zu of byte %zu accepted", bit % 8, bit / 8);
		} else if (!*tf_strerror()) {
			nomsg++;
		}
		p[bit / 8] ^= 1u << (bit % 8);
	}
	free(p);
	ok(accepted == 0 && nomsg == 0, "all %zu single-bit flips are refused with a message "
	   "(%zu accepted, %zu silent)", len * 8, accepted, nomsg);
	p = malloc(len);
	memcpy(p, s, len);
	p[len - 30] ^= 4;	/* inside the second CONN */
	ok(refused_with(p, len, "frame 4 at offset", "bad crc"), "a damaged CONN is a bad crc at frame 4: %s",
	   tf_strerror());
	free(p);
}

static void test_crafted(const uint8_t *s, size_t len)
{
	struct frames fs, alt;
	uint8_t *b;
	size_t n;

	split(s, len, &fs);

	b = join(&fs, 4, false, &n);
	ok(refused_with(b, n, "no END frame", NULL), "a stream without END: %s", tf_strerror());
	free(b);

	fs.f[2].version = 2;
	b = join(&fs, 4, true, &n);
	ok(refused_with(b, n, "frame 3 at offset", "CONN version 2; this tcpferry reads up to 1; upgrade the target"),
	   "a CONN of a newer version: %s", tf_strerror());
	free(b);
	fs.f[2].version = 1;

	fs.f[0].version = 7;
	b = join(&fs, 4, true, &n);
	ok(refused_with(b, n, "frame 1 at offset 0", "HEAD version 7; this tcpferry reads up to 1; upgrade"),
	   "a HEAD of a newer version: %s", tf_strerror());
	free(b);
	fs.f[0].version = 1;

	fs.f[3].type = 9;
	b = join(&fs, 4, true, &n);
	ok(refused_with(b, n, "frame 4", "frame type 9 is unknown"), "an unknown frame type: %s", tf_strerror());
	free(b);
	fs.f[3].type = 40;
	b = join(&fs, 4, true, &n);
	ok(refused_with(b, n, "frame 4", "move protocol"), "a move protocol frame: %s", tf_strerror());
	free(b);
	fs.f[3].type = TF_SFR_CONN;

	/* Reordered, duplicated, dropped (each with a right END). */
	alt = fs;
	alt.f[2] = fs.f[3];
	alt.f[3] = fs.f[2];
	b = join(&alt, 4, true, &n);
	ok(refused_with(b, n, "CONN v1-ipv6.tfc where the index lists v1-ipv4.tfc", NULL),
	   "swapped CONN frames: %s", tf_strerror());
	free(b);
	alt = fs;
	alt.f[3] = fs.f[2];
	b = join(&alt, 4, true, &n);
	ok(refused_with(b, n, "frame 4", "duplicated"), "a CONN twice: %s", tf_strerror());
	free(b);
	alt = fs;
	alt.f[4] = fs.f[3];
	b = join(&alt, 5, true, &n);
	ok(refused_with(b, n, "frame 5", "beyond the 2 connections"), "a third CONN: %s", tf_strerror());
	free(b);
	b = join(&fs, 3, true, &n);
	ok(refused_with(b, n, "END after 1 of the 2 connections", NULL), "a CONN dropped: %s", tf_strerror());
	free(b);
	alt = fs;
	alt.f[1] = fs.f[0];
	b = join(&alt, 4, true, &n);
	ok(refused_with(b, n, "frame 2", "a second HEAD"), "HEAD twice: %s", tf_strerror());
	free(b);
	alt = fs;
	alt.f[2] = fs.f[1];
	b = join(&alt, 4, true, &n);
	ok(refused_with(b, n, "frame 3", "a second INDEX"), "INDEX twice: %s", tf_strerror());
	free(b);
	b = join(&(struct frames){ .f = { fs.f[1], fs.f[2] } }, 2, true, &n);
	ok(refused_with(b, n, "frame 1", "the first frame is INDEX, not HEAD"), "no HEAD: %s", tf_strerror());
	free(b);

	/* The index and the images disagree. */
	{
		struct tf_index_entry e2[2];
		struct tf_index ix2;
		uint8_t *o;
		size_t on;

		golden_index(&ix2, e2);
		e2[1].peer.port = 40001;
		o = encode_stream(&ix2, (struct tf_conn[]){ gconn[0], gconn[0] }, &on);
		ok(o == NULL && strstr(tf_strerror(), "v1-ipv6.tfc holds 192.0.2.1:443 -> 198.51.100.7:51234 "
					  "but the index lists"),
		   "the writer refuses a connection that is not its entry's: %s", tf_strerror());
		(void)on;
	}

	/* The END's count and crc. */
	b = join(&fs, 4, true, &n);
	b[n - 8] ^= 1;		/* the count, with the frame's crc made right again */
	{
		uint8_t hdr[TF_FRAME_HDR_LEN];

		tf_frame_encode(TF_SFR_END, 1, b + n - 8, 8, hdr);
		memcpy(b + n - 24, hdr, sizeof(hdr));
	}
	ok(refused_with(b, n, "END counts 5 frames before it, the stream has 4", NULL), "a wrong END count: %s",
	   tf_strerror());
	free(b);

	/* Trailing bytes. */
	b = malloc(len + 3);
	memcpy(b, s, len);
	memcpy(b + len, "abc", 3);
	ok(refused_with(b, len + 3, "trailing data after END", NULL), "bytes after END: %s", tf_strerror());
	free(b);

	for (int i = 0; i < fs.n; i++)
		tf_frame_free(&fs.f[i]);
}

/* The same frames fed one at a time, as a channel that carries them would. */
static void test_reader(const uint8_t *s, size_t len)
{
	struct tf_stream_reader r;
	struct tf_index ix;
	struct tf_conn *c;
	struct frames fs;
	int rc[5], err;

	split(s, len, &fs);
	tf_stream_reader_init(&r);
	for (int i = 0; i < 5; i++)
		rc[i] = tf_stream_reader_feed(&r, &fs.f[i]);
	ok(!rc[0] && !rc[1] && !rc[2] && !rc[3] && rc[4] == 1 && tf_stream_reader_end(&r) == 0,
	   "tf_stream_reader_feed: 0 for HEAD, INDEX and each CONN, 1 for END");
	ok(tf_stream_reader_feed(&r, &fs.f[2]) == -EINVAL && strstr(tf_strerror(), "after END"),
	   "a frame after END is refused: %s", tf_strerror());
	err = tf_stream_reader_take(&r, &ix, &c);
	ok(!err && same_dump(&ix, c), "tf_stream_reader_take hands over the whole dump");
	if (!err) {
		tf_stream_conns_free(c, ix.n);
		tf_index_free(&ix);
	}
	tf_stream_reader_free(&r);

	tf_stream_reader_init(&r);
	for (int i = 0; i < 4; i++)
		tf_stream_reader_feed(&r, &fs.f[i]);
	ok(tf_stream_reader_end(&r) == -EPIPE && strstr(tf_strerror(), "no END frame after 4 frames (2 of 2"),
	   "ended without END: %s", tf_strerror());
	ok(tf_stream_reader_take(&r, &ix, &c) == -EINVAL, "and nothing to take");
	tf_stream_reader_free(&r);
	tf_stream_reader_init(&r);
	ok(tf_stream_reader_end(&r) == -ENODATA, "ended before any frame: %s", tf_strerror());
	fs.f[3].version = 3;
	tf_stream_reader_feed(&r, &fs.f[0]);
	tf_stream_reader_feed(&r, &fs.f[1]);
	tf_stream_reader_feed(&r, &fs.f[2]);
	ok(tf_stream_reader_feed(&r, &fs.f[3]) == -EPROTO && r.frames == 4 &&
	   strstr(tf_strerror(), "CONN version 3; this tcpferry reads up to 1; upgrade the target"),
	   "a newer CONN: %s", tf_strerror());
	tf_stream_reader_free(&r);
	for (int i = 0; i < fs.n; i++)
		tf_frame_free(&fs.f[i]);
}

static void test_writer(void)
{
	struct tf_stream_writer w;
	int fds[2], err;

	signal(SIGPIPE, SIG_DFL);
	if (pipe(fds))
		bail_out("pipe");
	close(fds[0]);
	err = tf_stream_write(fds[1], &gix, gconn);
	ok(err == -EPIPE && strstr(tf_strerror(), "the reader is gone"),
	   "a writer whose reader is gone gets -EPIPE (no SIGPIPE): %s", tf_strerror());
	close(fds[1]);

	if (pipe(fds))
		bail_out("pipe");
	err = tf_stream_begin(&w, fds[1], &gix);
	if (!err)
		err = tf_stream_put_conn(&w, &gconn[0]);
	if (!err)
		err = tf_stream_finish(&w);
	ok(err == -EINVAL && strstr(tf_strerror(), "1 of the 2 connections"),
	   "finishing early is refused: %s", tf_strerror());
	tf_stream_writer_free(&w);
	close(fds[0]);
	close(fds[1]);
}

static void test_files(const uint8_t *s, size_t len)
{
	char dir[] = "/tmp/tf-stream-files.XXXXXX", path[PATH_MAX], tmp[PATH_MAX];
	struct tf_stream_file sf;
	struct tf_index ix;
	struct tf_conn *c;
	struct stat st;
	int fd, err;

	if (!mkdtemp(dir))
		bail_out("mkdtemp");
	snprintf(path, sizeof(path), "%s/dump.tfs", dir);
	fd = tf_stream_file_create(&sf, path);
	snprintf(tmp, sizeof(tmp), "%s", sf.tmp);
	ok(fd >= 0 && access(path, F_OK) && !stat(tmp, &st) && (st.st_mode & 0777) == 0600,
	   "a stream file is written under a temporary name, mode 0600");
	err = tf_stream_write(fd, &gix, gconn) || tf_stream_file_commit(&sf);
	ok(!err && !stat(path, &st) && (st.st_mode & 0777) == 0600 && access(tmp, F_OK) &&
	   (size_t)st.st_size == len, "and renamed into place whole (%zu bytes)", len);
	err = tf_stream_read_path(path, &ix, &c);
	ok(!err && same_dump(&ix, c), "tf_stream_read_path reads it back");
	if (!err) {
		tf_stream_conns_free(c, ix.n);
		tf_index_free(&ix);
	}
	ok(tf_stream_file_create(&sf, path) == -EEXIST && strstr(tf_strerror(), "never overwritten"),
	   "an existing stream file is not overwritten: %s", tf_strerror());
	snprintf(path, sizeof(path), "%s/b.tfs", dir);
	fd = tf_stream_file_create(&sf, path);
	snprintf(tmp, sizeof(tmp), "%s", sf.tmp);
	tf_stream_file_abort(&sf);
	ok(fd >= 0 && access(tmp, F_OK) && access(path, F_OK), "abort leaves nothing behind");

	snprintf(path, sizeof(path), "%s/x.tfc", dir);
	tf_image_write(path, &gconn[0]);
	ok(tf_stream_read_path(path, &ix, &c) == -EPROTO &&
	   strstr(tf_strerror(), "a connection image (.tfc), not an image stream"),
	   "an image file is told apart: %s", tf_strerror());
	unlink(path);
	ok(tf_stream_read_path(dir, &ix, &c) == -EISDIR, "a directory is not a stream: %s", tf_strerror());
	snprintf(path, sizeof(path), "%s/dump.tfs", dir);
	unlink(path);
	rmdir(dir);
	(void)s;
}

/* Many connections through a pipe: the buffer refills across frames. */
static void test_many(void)
{
	uint32_t n = 3000;
	struct tf_index ix = { .pid = 1, .time_ns = 5, .n = n }, got;
	struct tf_conn *c = calloc(n, sizeof(*c)), *back;
	int fds[2], err, status;
	bool same = true;
	pid_t pid;

	ix.entries = calloc(n, sizeof(*ix.entries));
	for (uint32_t i = 0; i < n; i++) {
		golden_ipv4(&c[i]);
		c[i].peer.port = 1000 + i;
		snprintf(ix.entries[i].file, sizeof(ix.entries[i].file), "conn-%04u.tfc", i + 1);
		ix.entries[i].local = c[i].local;
		ix.entries[i].peer = c[i].peer;
	}
	if (pipe(fds))
		bail_out("pipe");
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		_exit(tf_stream_write(fds[1], &ix, c) ? 1 : 0);
	}
	close(fds[1]);
	err = tf_stream_read(fds[0], &got, &back);
	waitpid(pid, &status, 0);
	close(fds[0]);
	for (uint32_t i = 0; !err && i < n && same; i++)
		same = conn_equal(&c[i], &back[i]);
	ok(!err && got.n == n && same, "%u connections through a pipe, each the same%s%s", n,
	   err ? ": " : "", err ? tf_strerror() : "");
	if (!err) {
		tf_stream_conns_free(back, n);
		tf_index_free(&got);
	}
	tf_stream_conns_free(c, n);
	free(ix.entries);
}

/* One connection with 1 MiB in each queue through a pipe (frames longer than the reader's
 * first buffer), and a flipped queue byte in a copy of it refused. */
static void test_big(void)
{
	struct tf_index_entry e = {};
	struct tf_index ix = { .pid = 1, .time_ns = gconn[0].dump_time_ns, .n = 1, .entries = &e }, got;
	struct tf_conn c, *back;
	int fds[2], err, status;
	uint8_t *s;
	size_t len;
	pid_t pid;

	golden_ipv4(&c);
	free(c.inq);
	free(c.outq);
	c.inq_len = c.outq_len = 1u << 20;
	c.inq = malloc(c.inq_len);
	c.outq = malloc(c.outq_len);
	for (uint32_t i = 0; i < c.inq_len; i++) {
		c.inq[i] = i * 13;
		c.outq[i] = i * 17 + 1;
	}
	strcpy(e.file, "conn-0001.tfc");
	e.local = c.local;
	e.peer = c.peer;
	if (pipe(fds))
		bail_out("pipe");
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		_exit(tf_stream_write(fds[1], &ix, &c) ? 1 : 0);
	}
	close(fds[1]);
	err = tf_stream_read(fds[0], &got, &back);
	waitpid(pid, &status, 0);
	close(fds[0]);
	ok(!err && got.n == 1 && conn_equal(&c, &back[0]), "2 MiB of queues through a pipe, the same%s%s",
	   err ? ": " : "", err ? tf_strerror() : "");
	if (!err) {
		tf_stream_conns_free(back, 1);
		tf_index_free(&got);
	}
	s = encode_stream(&ix, &c, &len);
	s[len / 2] ^= 0x01;
	ok(refused_with(s, len, "frame 3 at offset", "bad crc"), "a flipped queue byte in it: %s", tf_strerror());
	s[len / 2] ^= 0x01;
	ok(decode(s, len) == 0, "(and the undamaged copy decodes)");
	free(s);
	tf_conn_free(&c);
}

int main(void)
{
	uint8_t *s;
	size_t len;

	golden_ipv4(&gconn[0]);
	golden_ipv6(&gconn[1]);
	golden_index(&gix, entries);
	s = encode_stream(&gix, gconn, &len);
	if (!s)
		bail_out("tf_stream_write: %s", tf_strerror());
	diag("the golden dump is a stream of %zu bytes", len);

	test_roundtrip(s, len);
	test_truncations(s, len);
	test_flips(s, len);
	test_crafted(s, len);
	test_reader(s, len);
	test_writer();
	test_files(s, len);
	test_many();
	test_big();
	free(s);
	tf_conn_free(&gconn[0]);
	tf_conn_free(&gconn[1]);
	return done_testing();
}
