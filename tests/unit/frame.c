// SPDX-License-Identifier: BSD-2-Clause
/*
 * The frame codec (images/frame.h): frames go through buffers, pipes and
 * socketpairs unchanged; every truncation and every single-bit flip is
 * refused with the right error and a message; a length over the limit is
 * refused before the payload is read; a reader times out; a writer whose
 * reader is gone gets -EPIPE, not SIGPIPE.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "tap.h"
#include "internal.h"
#include "frame.h"

static uint8_t payload[300];

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A whole frame in a buffer; returns its length. */
static size_t build(uint8_t *out, uint16_t type, uint16_t version, const void *p, uint32_t len)
{
	if (tf_frame_encode(type, version, p, len, out))
		bail_out("encode: %s", tf_strerror());
	memcpy(out + TF_FRAME_HDR_LEN, p, len);
	return TF_FRAME_HDR_LEN + len;
}

static void write_bytes(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n)
		bail_out("write: %s", strerror(errno));
}

static bool frame_is(const struct tf_frame *f, uint16_t type, uint16_t version, const void *p,
		     uint32_t len)
{
	return f->type == type && f->version == version && f->len == len &&
	       (len ? f->data && !memcmp(f->data, p, len) : f->data == NULL);
}

static bool frame_empty(const struct tf_frame *f)
{
	return !f->type && !f->version && !f->len && !f->data;
}

static void test_layout(void)
{
	uint8_t hdr[TF_FRAME_HDR_LEN];
	uint32_t crc;

	tf_frame_encode(0x0102, 0x0304, "abc", 3, hdr);
	crc = crc32(crc32(0, hdr, 12), (const uint8_t *)"abc", 3);
	ok(!memcmp(hdr, "TFFR\x02\x01\x04\x03\x03\x00\x00\x00", 12) &&
	   hdr[12] == (crc & 0xff) && hdr[13] == (crc >> 8 & 0xff) && hdr[14] == (crc >> 16 & 0xff) &&
	   hdr[15] == crc >> 24,
	   "header: \"TFFR\", type, version, len, crc32 of header and payload, little-endian");
	ok(tf_frame_encode(1, 1, NULL, 5, hdr) == -EINVAL, "a length without a buffer is refused");
}

static void test_parse_roundtrip(void)
{
	static const uint32_t lens[] = { 0, 1, 17, sizeof(payload) };
	uint8_t buf[2 * (TF_FRAME_HDR_LEN + sizeof(payload))];
	bool all = true;

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		struct tf_frame f;
		size_t n = build(buf, 3 + i, 7, payload, lens[i]), used = 0;

		/* A second frame behind it: parse takes only the first. */
		memcpy(buf + n, buf, n);
		if (tf_frame_parse(buf, 2 * n, &f, 1 << 20, &used) || used != n ||
		    !frame_is(&f, 3 + i, 7, payload, lens[i])) {
			diag("length %u: %s", lens[i], tf_strerror());
			all = false;
		}
		tf_frame_free(&f);
	}
	ok(all, "encode then parse gives type, version and payload back (0, 1, 17, 300 bytes), "
	   "*used the frame's size");
}

static void test_truncations(void)
{
	uint8_t buf[TF_FRAME_HDR_LEN + 40];
	size_t n = build(buf, 5, 1, payload, 40), wrong = 0, nomsg = 0, wrong_fd = 0;
	struct tf_frame f;
	size_t used;

	for (size_t k = 0; k < n; k++) {
		uint8_t *p = malloc(k ? k : 1);	/* exactly k bytes: an overrun is a real one */
		int want = k ? -EPIPE : -ENODATA, err, fds[2];

		memcpy(p, buf, k);
		tf_error_clear();
		err = tf_frame_parse(p, k, &f, 1 << 20, &used);
		if (err != want || !frame_empty(&f) || used)
			wrong++;
		else if (!*tf_strerror())
			nomsg++;
		free(p);
		/* The same cut on a pipe whose writer then closes. */
		if (pipe(fds))
			bail_out("pipe");
		write_bytes(fds[1], buf, k);
		close(fds[1]);
		err = tf_frame_read(fds[0], &f, 1 << 20, -1);
		if (err != want || !frame_empty(&f))
			wrong_fd++;
		close(fds[0]);
	}
	ok(wrong == 0 && nomsg == 0, "every cut of a %zu-byte frame is refused by parse: none (0 bytes) "
	   "-ENODATA, the others -EPIPE, with a message (%zu wrong, %zu silent)", n, wrong, nomsg);
	ok(wrong_fd == 0, "and by read on a pipe closed after the cut (%zu wrong)", wrong_fd);
	tf_frame_parse(buf, n - 1, &f, 1 << 20, &used);
	ok(strstr(tf_strerror(), "truncated") && strstr(tf_strerror(), "55 bytes into a frame of 56"),
	   "a truncation says where: %s", tf_strerror());
}

static void test_flips(void)
{
	uint8_t buf[TF_FRAME_HDR_LEN + 40];
	size_t n = build(buf, 5, 1, payload, 40), accepted = 0, nomsg = 0, magic = 0, crcs = 0;

	for (size_t bit = 0; bit < n * 8; bit++) {
		struct tf_frame f;
		size_t used;
		int err;

		buf[bit / 8] ^= 1u << (bit % 8);
		tf_error_clear();
		err = tf_frame_parse(buf, n, &f, 1 << 20, &used);
		if (!err) {
			accepted++;
			tf_frame_free(&f);
		} else if (!*tf_strerror()) {
			nomsg++;
		}
		magic += bit < 32 && err == -EPROTO;
		crcs += err == -EBADMSG;
		buf[bit / 8] ^= 1u << (bit % 8);
	}
	ok(accepted == 0 && nomsg == 0, "all %zu single-bit flips are refused with a message "
	   "(%zu accepted, %zu silent)", n * 8, accepted, nomsg);
	ok(magic == 32, "each of the 32 flips in the magic is bad magic (-EPROTO): %zu", magic);
	ok(crcs >= n * 8 - 32 - 32, "flips in type, version, crc and payload are bad crc (-EBADMSG): %zu",
	   crcs);
}

static void test_fds(int domain_socket)
{
	const char *what = domain_socket ? "socketpair" : "pipe";
	int fds[2], err, e1, e2, e3;
	struct tf_frame f;

	if (domain_socket ? socketpair(AF_UNIX, SOCK_STREAM, 0, fds) : pipe(fds))
		bail_out("%s: %s", what, strerror(errno));
	e1 = tf_frame_write(fds[1], 9, 2, payload, sizeof(payload));
	e2 = tf_frame_write(fds[1], 10, 0, NULL, 0);
	e3 = tf_frame_write(fds[1], 127, 65535, "x", 1);
	ok(!e1 && !e2 && !e3, "%s: three frames written", what);
	err = tf_frame_read(fds[0], &f, 1 << 20, -1);
	ok(!err && frame_is(&f, 9, 2, payload, sizeof(payload)), "%s: the first read back", what);
	tf_frame_free(&f);
	err = tf_frame_read(fds[0], &f, 1 << 20, 1000);
	ok(!err && frame_is(&f, 10, 0, NULL, 0), "%s: an empty frame (data NULL)", what);
	err = tf_frame_read(fds[0], &f, 1 << 20, 0);
	ok(!err && frame_is(&f, 127, 65535, "x", 1), "%s: the third, with timeout 0 (it is there)", what);
	tf_frame_free(&f);
	close(fds[1]);
	err = tf_frame_read(fds[0], &f, 1 << 20, -1);
	ok(err == -ENODATA && frame_empty(&f), "%s: then a clean end is -ENODATA (closed)", what);
	close(fds[0]);
}

/* 4 MiB through a pipe of 64 KiB: the writer in a child, short writes and reads. */
static void test_big(void)
{
	size_t n = 4u << 20;
	uint8_t *big = malloc(n);
	struct tf_frame f;
	int fds[2], err, status;
	pid_t pid;

	for (size_t i = 0; i < n; i++)
		big[i] = i * 2654435761u >> 24;
	if (pipe(fds))
		bail_out("pipe");
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		_exit(tf_frame_write(fds[1], 11, 1, big, n) ? 1 : 0);
	}
	close(fds[1]);
	err = tf_frame_read(fds[0], &f, 8u << 20, 10000);
	waitpid(pid, &status, 0);
	ok(!err && frame_is(&f, 11, 1, big, n) && WIFEXITED(status) && !WEXITSTATUS(status),
	   "a 4 MiB frame crosses a 64 KiB pipe whole%s%s", err ? ": " : "", err ? tf_strerror() : "");
	tf_frame_free(&f);
	close(fds[0]);
	free(big);
}

static void test_too_long(void)
{
	uint8_t buf[TF_FRAME_HDR_LEN + 200];
	size_t n = build(buf, 6, 1, payload, 200), used;
	struct tf_frame f;
	int fds[2], err, left = 0;
	double t0;

	ok(tf_frame_parse(buf, n, &f, 199, &used) == -EMSGSIZE && frame_empty(&f) &&
	   strstr(tf_strerror(), "over the limit of 199"),
	   "parse: 200 bytes over a limit of 199 is -EMSGSIZE: %s", tf_strerror());
	ok(tf_frame_parse(buf, n, &f, 200, &used) == 0, "and a limit of 200 takes it");
	tf_frame_free(&f);

	if (pipe(fds))
		bail_out("pipe");
	write_bytes(fds[1], buf, n);
	err = tf_frame_read(fds[0], &f, 100, -1);
	ioctl(fds[0], FIONREAD, &left);
	ok(err == -EMSGSIZE && frame_empty(&f) && left == 200,
	   "read: refused (-EMSGSIZE) with its 200 payload bytes still unread in the pipe (%d)", left);
	close(fds[0]);
	close(fds[1]);

	/* A header that claims 1 GiB, and nothing behind it: no wait, no allocation. */
	if (pipe(fds))
		bail_out("pipe");
	memcpy(buf, "TFFR\x06\x00\x01\x00\x00\x00\x00\x40\0\0\0\0", TF_FRAME_HDR_LEN);
	write_bytes(fds[1], buf, TF_FRAME_HDR_LEN);
	t0 = now_ms();
	err = tf_frame_read(fds[0], &f, 1 << 20, -1);
	ok(err == -EMSGSIZE && now_ms() - t0 < 1000,
	   "a header claiming 1 GiB with the writer still open is refused at once");
	close(fds[0]);
	close(fds[1]);
}

static void test_magic_early(void)
{
	struct tf_frame f;
	int fds[2], err;

	if (pipe(fds))
		bail_out("pipe");
	write_bytes(fds[1], "HTTP", 4);	/* and the writer stays open */
	err = tf_frame_read(fds[0], &f, 1 << 20, 5000);
	ok(err == -EPROTO && strstr(tf_strerror(), "bad magic 48 54 54 50"),
	   "4 bytes of something else are bad magic at once (-EPROTO): %s", tf_strerror());
	close(fds[0]);
	close(fds[1]);
}

static void test_timeout(void)
{
	uint8_t buf[TF_FRAME_HDR_LEN + 40];
	size_t n = build(buf, 5, 1, payload, 40);
	struct tf_frame f;
	int fds[2], err;
	double t0, dt;

	if (pipe(fds))
		bail_out("pipe");
	t0 = now_ms();
	err = tf_frame_read(fds[0], &f, 1 << 20, 100);
	dt = now_ms() - t0;
	ok(err == -ETIMEDOUT && frame_empty(&f) && dt >= 95 && dt < 2000,
	   "an empty pipe times out after 100 ms (-ETIMEDOUT, %.0f ms): %s", dt, tf_strerror());
	write_bytes(fds[1], buf, n - 10);
	t0 = now_ms();
	err = tf_frame_read(fds[0], &f, 1 << 20, 100);
	dt = now_ms() - t0;
	ok(err == -ETIMEDOUT && frame_empty(&f) && dt >= 95 && dt < 2000 &&
	   strstr(tf_strerror(), "46 bytes of it in"),
	   "so does a frame that stops 10 bytes short (%.0f ms): %s", dt, tf_strerror());
	close(fds[0]);
	close(fds[1]);

	/* A non-blocking fd without a timeout waits in poll, not in a busy loop. */
	if (pipe2(fds, O_NONBLOCK))
		bail_out("pipe2");
	if (fork() == 0) {
		usleep(50000);
		write_bytes(fds[1], buf, 20);
		usleep(50000);
		write_bytes(fds[1], buf + 20, n - 20);
		_exit(0);
	}
	err = tf_frame_read(fds[0], &f, 1 << 20, -1);
	wait(NULL);
	ok(!err && frame_is(&f, 5, 1, payload, 40), "a non-blocking pipe fed in two pieces reads whole");
	tf_frame_free(&f);
	close(fds[0]);
	close(fds[1]);
}

static void test_epipe(void)
{
	int fds[2], err, sp[2];

	signal(SIGPIPE, SIG_DFL);	/* would kill this test if it were raised */
	if (pipe(fds))
		bail_out("pipe");
	close(fds[0]);
	err = tf_frame_write(fds[1], 5, 1, payload, 40);
	ok(err == -EPIPE && strstr(tf_strerror(), "the reader is gone"),
	   "a pipe without a reader: -EPIPE and no SIGPIPE: %s", tf_strerror());
	err = tf_frame_write_raw(fds[1], payload, 40);
	ok(err == -EPIPE, "tf_frame_write_raw likewise");
	close(fds[1]);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp))
		bail_out("socketpair");
	close(sp[0]);
	err = tf_frame_write(sp[1], 5, 1, payload, 40);
	ok(err == -EPIPE, "a socketpair whose other end closed: -EPIPE");
	close(sp[1]);
	{
		sigset_t set;

		sigpending(&set);
		ok(!sigismember(&set, SIGPIPE), "no SIGPIPE left pending");
	}
}

/* encode_running and view keep a crc32 over the frames' bytes: the same as crc32_z over them. */
static void test_running(void)
{
	static const uint32_t lens[] = { 0, 100, 4095, 4096, 100000 };
	size_t max = TF_FRAME_HDR_LEN + 100000;
	uint8_t *big = malloc(max), *buf = malloc(max);
	bool same = true, views = true, flips = true;

	for (size_t i = 0; i < max; i++)
		big[i] = i * 31 + 7;
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		uint32_t len = lens[i], run = 0x1234, vrun = 0x1234, want;
		uint8_t hdr[TF_FRAME_HDR_LEN], plain[TF_FRAME_HDR_LEN];
		struct tf_frame f;
		size_t used;

		tf_frame_encode_running(8, 1, big, len, hdr, &run);
		tf_frame_encode(8, 1, big, len, plain);
		memcpy(buf, hdr, sizeof(hdr));
		memcpy(buf + sizeof(hdr), big, len);
		want = crc32_z(0x1234, buf, sizeof(hdr) + len);
		same &= !memcmp(hdr, plain, sizeof(hdr)) && run == want;
		views &= !tf_frame_view(buf, sizeof(hdr) + len, &f, 1 << 20, &used, &vrun) && vrun == want &&
			 used == sizeof(hdr) + len && f.len == len && (!len || f.data == buf + sizeof(hdr));
		for (int k = 0; len && k < 3; k++) {
			size_t at = sizeof(hdr) + (k == 0 ? 0 : k == 1 ? len / 2 : len - 1);

			buf[at] ^= 0x20;
			flips &= tf_frame_view(buf, sizeof(hdr) + len, &f, 1 << 20, &used, &vrun) == -EBADMSG;
			buf[at] ^= 0x20;
		}
	}
	ok(same, "tf_frame_encode_running: the header of tf_frame_encode, and the running crc of crc32_z "
	   "over the frame's bytes (0, 100, 4095, 4096, 100000 bytes of payload)");
	ok(views, "tf_frame_view: no copy (data points into the buffer), the same running crc");
	ok(flips, "and a flipped payload byte (first, middle, last) is a bad crc on both paths");
	free(big);
	free(buf);
}

static void test_strerror(void)
{
	ok(!strcmp(tf_frame_strerror(-EPROTO), "bad magic") &&
	   !strcmp(tf_frame_strerror(-EMSGSIZE), "too long") &&
	   !strcmp(tf_frame_strerror(-EBADMSG), "bad crc") &&
	   !strcmp(tf_frame_strerror(-EPIPE), "truncated") &&
	   !strcmp(tf_frame_strerror(-ENODATA), "closed") &&
	   !strcmp(tf_frame_strerror(-ETIMEDOUT), "timed out") &&
	   !strcmp(tf_frame_strerror(-ENOENT), strerror(ENOENT)),
	   "tf_frame_strerror names each frame error");
}

int main(void)
{
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = i * 7 + 1;
	test_layout();
	test_parse_roundtrip();
	test_truncations();
	test_flips();
	test_fds(0);
	test_fds(1);
	test_big();
	test_too_long();
	test_magic_early();
	test_timeout();
	test_epipe();
	test_running();
	test_strerror();
	return done_testing();
}
