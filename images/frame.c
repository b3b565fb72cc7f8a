// SPDX-License-Identifier: BSD-2-Clause
/*
 * The frame codec (frame.h; images/FORMAT.md, "Frames").  A reader trusts
 * nothing: the magic is checked as soon as its bytes are in, the length
 * against the caller's limit before anything is allocated or read, the crc
 * before the payload is handed out.  Every failure says what, and how many
 * bytes of the frame had arrived, in tf_strerror().
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "frame.h"
#include "internal.h"
#include "le.h"

static const uint8_t magic_bytes[4] = { 'T', 'F', 'F', 'R' };

static uint32_t frame_crc(const uint8_t hdr[TF_FRAME_HDR_LEN], const uint8_t *p, uint32_t len)
{
	uint32_t c = crc32_z(0, hdr, 12);

	return len ? crc32_z(c, p, len) : c;
}

/*
 * A payload this long or longer is crc'ed once when a running crc is kept
 * too: the frame's crc and the running one are both combined from that pass
 * (crc32_combine costs about what 200 bytes of crc32 do).
 */
#define ONE_PASS_MIN 4096

struct fcrc {
	uint32_t frame;		/* crc32 of hdr[0..12) then the payload */
	uint32_t payload;	/* crc32 of the payload alone, with one_pass */
	bool one_pass;
};

static void fcrc_compute(const uint8_t *hdr, const uint8_t *p, uint32_t len, bool running, struct fcrc *c)
{
	c->one_pass = running && len >= ONE_PASS_MIN;
	if (c->one_pass) {
		c->payload = crc32_z(0, p, len);
		c->frame = crc32_combine(crc32_z(0, hdr, 12), c->payload, len);
	} else {
		c->frame = frame_crc(hdr, p, len);
	}
}

/* running moved over the 16 header bytes (crc included), then the payload. */
static uint32_t fcrc_running(uint32_t running, const uint8_t *hdr, const uint8_t *p, uint32_t len,
			     const struct fcrc *c)
{
	running = crc32_z(running, hdr, TF_FRAME_HDR_LEN);
	if (c->one_pass)
		return crc32_combine(running, c->payload, len);
	return len ? crc32_z(running, p, len) : running;
}

int tf_frame_encode_running(uint16_t type, uint16_t version, const void *p, uint32_t len,
			    uint8_t hdr[TF_FRAME_HDR_LEN], uint32_t *running)
{
	struct fcrc c;

	if (len && !p)
		return tf_failx(EINVAL, "frame type %u: %u bytes of payload but no buffer", type, len);
	set32(hdr, TF_FRAME_MAGIC);
	set16(hdr + 4, type);
	set16(hdr + 6, version);
	set32(hdr + 8, len);
	fcrc_compute(hdr, p, len, running, &c);
	set32(hdr + 12, c.frame);
	if (running)
		*running = fcrc_running(*running, hdr, p, len, &c);
	return 0;
}

int tf_frame_encode(uint16_t type, uint16_t version, const void *p, uint32_t len,
		    uint8_t hdr[TF_FRAME_HDR_LEN])
{
	return tf_frame_encode_running(type, version, p, len, hdr, NULL);
}

const char *tf_frame_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case EPROTO:	return "bad magic";
	case EMSGSIZE:	return "too long";
	case EBADMSG:	return "bad crc";
	case EPIPE:	return "truncated";
	case ENODATA:	return "closed";
	case ETIMEDOUT:	return "timed out";
	default:	return strerror(err < 0 ? -err : err);
	}
}

void tf_frame_free(struct tf_frame *f)
{
	if (!f)
		return;
	free(f->data);
	memset(f, 0, sizeof(*f));
}

/* ---- checks shared by read and parse ------------------------------------------------------ */

static int check_magic(const uint8_t *hdr)
{
	if (!memcmp(hdr, magic_bytes, sizeof(magic_bytes)))
		return 0;
	return tf_failx(EPROTO, "frame header: bad magic %02x %02x %02x %02x (a frame starts "
			"with \"TFFR\"): not a tcpferry stream, or not at a frame boundary",
			hdr[0], hdr[1], hdr[2], hdr[3]);
}

static int check_len(const uint8_t *hdr, uint32_t max_len)
{
	uint32_t len = get32(hdr + 8);

	if (len <= max_len)
		return 0;
	return tf_failx(EMSGSIZE, "frame type %u: %u bytes of payload, over the limit of %u",
			get16(hdr + 4), len, max_len);
}

static int crc_mismatch(const uint8_t *hdr)
{
	return tf_failx(EBADMSG, "frame type %u version %u (%u bytes): bad crc (damaged)",
			get16(hdr + 4), get16(hdr + 6), get32(hdr + 8));
}

static int check_crc(const uint8_t *hdr, const uint8_t *p)
{
	if (get32(hdr + 12) == frame_crc(hdr, p, get32(hdr + 8)))
		return 0;
	return crc_mismatch(hdr);
}

static int truncated(size_t got, uint32_t len)
{
	if (got < TF_FRAME_HDR_LEN)
		return tf_failx(EPIPE, "truncated: the stream ends %zu bytes into a frame header of %u",
				got, TF_FRAME_HDR_LEN);
	return tf_failx(EPIPE, "truncated: the stream ends %zu bytes into a frame of %zu",
			got, (size_t)TF_FRAME_HDR_LEN + len);
}

static int closed(void)
{
	return tf_failx(ENODATA, "closed: the stream ends before a frame");
}

static void fill(struct tf_frame *f, const uint8_t *hdr, uint8_t *data)
{
	f->type = get16(hdr + 4);
	f->version = get16(hdr + 6);
	f->len = get32(hdr + 8);
	f->data = data;
}

/* ---- buffers ---------------------------------------------------------------------------------- */

int tf_frame_view(const uint8_t *buf, size_t n, struct tf_frame *f, uint32_t max_len, size_t *used,
		  uint32_t *running)
{
	const uint8_t *p = buf + TF_FRAME_HDR_LEN;
	struct fcrc c;
	uint32_t len;
	int err;

	memset(f, 0, sizeof(*f));
	*used = 0;
	if (n == 0)
		return closed();
	if (n >= 4 && (err = check_magic(buf)))
		return err;
	if (n < TF_FRAME_HDR_LEN)
		return truncated(n, 0);
	if ((err = check_len(buf, max_len)))
		return err;
	len = get32(buf + 8);
	if (n - TF_FRAME_HDR_LEN < len)
		return truncated(n, len);
	fcrc_compute(buf, p, len, running, &c);
	if (get32(buf + 12) != c.frame)
		return crc_mismatch(buf);
	if (running)
		*running = fcrc_running(*running, buf, p, len, &c);
	fill(f, buf, len ? (uint8_t *)p : NULL);
	*used = TF_FRAME_HDR_LEN + (size_t)len;
	return 0;
}

int tf_frame_parse(const uint8_t *buf, size_t n, struct tf_frame *f, uint32_t max_len,
		   size_t *used)
{
	int err = tf_frame_view(buf, n, f, max_len, used, NULL);
	uint8_t *data;

	if (err || !f->len)
		return err;
	data = malloc(f->len);
	if (!data) {
		err = tf_failx(ENOMEM, "frame type %u: no memory for %u bytes", f->type, f->len);
		memset(f, 0, sizeof(*f));
		*used = 0;
		return err;
	}
	memcpy(data, f->data, f->len);
	f->data = data;
	return 0;
}

/* ---- file descriptors ------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Until fd has events (or forever with deadline < 0): 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline < 0 ? -1 : deadline - now_ms();
		int r;

		if (deadline >= 0 && left < 0)
			left = 0;	/* one look still: what is there is taken */
		r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0)
			return 0;
		if (deadline >= 0 && deadline - now_ms() <= 0)
			return -ETIMEDOUT;
	}
}

/*
 * Read into buf until *got reaches want: 0, or -EPIPE at EOF, -ETIMEDOUT, or
 * -errno.  With a header, the magic is checked once its 4 bytes are in.
 */
static int read_upto(int fd, uint8_t *buf, size_t want, size_t *got, int64_t deadline, bool hdr)
{
	while (*got < want) {
		ssize_t r;
		int err;

		if (deadline >= 0 && (err = wait_fd(fd, POLLIN, deadline)))
			return err;
		r = read(fd, buf + *got, want - *got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((err = wait_fd(fd, POLLIN, deadline)))
				return err;
			continue;
		}
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EPIPE;
		if (hdr && *got < 4 && *got + r >= 4 && (err = check_magic(buf)))
			return err;
		*got += r;
	}
	return 0;
}

int tf_frame_read(int fd, struct tf_frame *f, uint32_t max_len, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	uint8_t hdr[TF_FRAME_HDR_LEN], *data = NULL;
	size_t got = 0, pgot = 0;
	uint32_t len = 0;
	int err;

	memset(f, 0, sizeof(*f));
	err = read_upto(fd, hdr, sizeof(hdr), &got, deadline, true);
	if (!err)
		err = check_len(hdr, max_len);
	if (!err) {
		len = get32(hdr + 8);
		data = len ? malloc(len) : NULL;
		if (len && !data)
			return tf_failx(ENOMEM, "frame type %u: no memory for %u bytes", get16(hdr + 4), len);
		err = read_upto(fd, data, len, &pgot, deadline, false);
		got += pgot;
	}
	if (!err)
		err = check_crc(hdr, data);
	if (!err) {
		fill(f, hdr, data);
		return 0;
	}
	free(data);
	if (err == -EPIPE)
		return got ? truncated(got, len) : closed();
	if (err == -ETIMEDOUT)
		return tf_failx(ETIMEDOUT, "timed out: no whole frame within %d ms (%zu bytes of it in)",
				timeout_ms, got);
	if (err == -EPROTO || err == -EMSGSIZE || err == -EBADMSG)
		return err;	/* detail already set */
	return tf_fail(-err, "reading a frame (%zu bytes of it in)", got);
}

/* SIGPIPE blocked around a write, and one that the write raised taken back. */
static int write_iov(int fd, struct iovec *iov, int n)
{
	sigset_t pipe_set, old;
	bool was_blocked;
	int err = 0;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	was_blocked = sigismember(&old, SIGPIPE);
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((err = wait_fd(fd, POLLOUT, -1)))
				break;
			continue;
		}
		if (w < 0) {
			err = -errno;
			break;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= w;
		}
	}
	if (err == -EPIPE && !was_blocked) {
		static const struct timespec zero;

		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	if (!was_blocked)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

int tf_frame_write_raw(int fd, const void *buf, size_t n)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = n };
	int err = n ? write_iov(fd, &iov, 1) : 0;

	if (err == -EPIPE)
		return tf_failx(EPIPE, "writing %zu bytes of frames: the reader is gone", n);
	if (err)
		return tf_fail(-err, "writing %zu bytes of frames", n);
	return 0;
}

int tf_frame_write(int fd, uint16_t type, uint16_t version, const void *p, uint32_t len)
{
	uint8_t hdr[TF_FRAME_HDR_LEN];
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)p, .iov_len = len },
	};
	int err;

	if ((err = tf_frame_encode(type, version, p, len, hdr)))
		return err;
	err = write_iov(fd, iov, len ? 2 : 1);
	if (err == -EPIPE)
		return tf_failx(EPIPE, "writing frame type %u: the reader is gone", type);
	if (err)
		return tf_fail(-err, "writing frame type %u (%u bytes)", type, len);
	return 0;
}
