// SPDX-License-Identifier: BSD-2-Clause
/*
 * tf-cut: a channel that breaks.  It runs CMD (e.g. `ssh root@hostB tcpferry
 * receive`) with its stdin and stdout on pipes, and relays between them and
 * its own stdin and stdout, as the `--via` of `tcpferry migrate send`:
 *
 *   tf-cut [--log FILE] [--seed S --frames K (--cut | --flip)] -- CMD [ARG]...
 *
 * What flows upstream (the source's stdin -> CMD) is read as frames (16-byte
 * header, its u32 len at offset 8; images/FORMAT.md "Frames") and each one
 * is logged: "frame N type T offset O len L".  With --seed, one of the first
 * K upstream frames (chosen by the seed) is damaged at a position inside it
 * (header or payload, chosen by the seed too): --cut ends the upstream there
 * (CMD's stdin is closed: the target reads a stream that stops mid-frame, or
 * at a frame's first byte; what the source writes after it is read and
 * thrown away), --flip flips one bit there and relays everything else as it
 * is.  What it did is logged: "cut frame N type T (L bytes) at byte B,
 * stream offset O" or "flip frame N ... bit X". The same seed and K damage
 * the same place of the same frame again, for a replay.
 *
 * What flows downstream (CMD's stdout -> the source) is relayed untouched;
 * tf-cut exits when it ends (with CMD's status), so the source then sees its
 * channel close.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

static FILE *logf;
static uint64_t rng;

static uint64_t next_random(void)	/* splitmix64 */
{
	uint64_t z = (rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	if (!logf)
		return;
	va_start(ap, fmt);
	vfprintf(logf, fmt, ap);
	va_end(ap);
	fputc('\n', logf);
	fflush(logf);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= w;
	}
	return 0;
}

/* The upstream: frames parsed as they pass, one of them damaged. */
struct upstream {
	int to;			/* CMD's stdin; -1 once cut (or CMD is gone) */
	bool cut, flip;		/* the damage asked for */
	uint32_t victim;	/* that frame (1-based); 0: none */
	uint64_t where;		/* the damage's byte (or bit, --flip) inside it, modulo its size */
	uint64_t offset;	/* bytes of the stream seen so far */
	uint32_t frame;		/* the frame being read (1-based) */
	uint8_t hdr[16];
	uint32_t have;		/* header bytes held */
	uint64_t left;		/* payload bytes of this frame still to come */
	uint64_t pos;		/* the damage's byte in this frame (the victim only) */
	uint64_t frame_at;	/* this frame's offset */
	uint64_t size;		/* this frame's bytes, header included (as sent) */
};

static void forward(struct upstream *u, const uint8_t *p, size_t n)
{
	if (u->to >= 0 && write_all(u->to, p, n)) {
		close(u->to);	/* CMD went away: what comes next goes nowhere */
		u->to = -1;
	}
}

static void cut_here(struct upstream *u, uint64_t at)
{
	say("cut frame %u type %u (%llu bytes) at byte %llu, stream offset %llu", u->frame,
	    u->hdr[4] | u->hdr[5] << 8, (unsigned long long)u->size, (unsigned long long)u->pos,
	    (unsigned long long)at);
	if (u->to >= 0)
		close(u->to);
	u->to = -1;
}

/* n bytes from the source; each frame's header held until it is whole. */
static void upstream_feed(struct upstream *u, uint8_t *p, size_t n)
{
	while (n) {
		if (u->left == 0 && u->have < 16) {	/* a header */
			size_t k = 16 - u->have < n ? 16 - u->have : n;

			memcpy(u->hdr + u->have, p, k);
			u->have += k;
			p += k;
			n -= k;
			if (u->have < 16)
				return;
			u->frame++;
			u->frame_at = u->offset;
			u->left = u->hdr[8] | u->hdr[9] << 8 | u->hdr[10] << 16 | (uint64_t)u->hdr[11] << 24;
			u->size = 16 + u->left;
			say("frame %u type %u offset %llu len %llu", u->frame, u->hdr[4] | u->hdr[5] << 8,
			    (unsigned long long)u->frame_at, (unsigned long long)u->left);
			if (u->frame == u->victim) {
				uint64_t size = u->size;

				u->pos = u->flip ? u->where % (size * 8) : u->where % size;
				if (u->cut && u->pos < 16) {
					forward(u, u->hdr, u->pos);
					cut_here(u, u->frame_at + u->pos);
				} else if (u->flip && u->pos < 128) {
					say("flip frame %u type %u (%llu bytes) bit %llu (byte %llu), stream offset %llu",
					    u->frame, u->hdr[4] | u->hdr[5] << 8, (unsigned long long)size,
					    (unsigned long long)u->pos, (unsigned long long)u->pos / 8,
					    (unsigned long long)(u->frame_at + u->pos / 8));
					u->hdr[u->pos / 8] ^= 1u << (u->pos % 8);
				}
			}
			forward(u, u->hdr, 16);	/* (nothing, once cut) */
			u->offset += 16;
			if (u->left == 0)
				u->have = 0;
			continue;
		}
		/* payload */
		size_t k = u->left < n ? u->left : n;
		uint64_t in = u->offset - u->frame_at;	/* this chunk's first byte in the frame */

		if (u->frame == u->victim && u->cut && u->to >= 0 && u->pos >= in && u->pos < in + k) {
			forward(u, p, u->pos - in);
			cut_here(u, u->frame_at + u->pos);
		} else if (u->frame == u->victim && u->flip && u->pos >= 128 && u->pos / 8 >= in &&
			   u->pos / 8 < in + k) {
			say("flip frame %u type %u (%llu bytes) bit %llu (byte %llu), stream offset %llu", u->frame,
			    u->hdr[4] | u->hdr[5] << 8, (unsigned long long)u->size, (unsigned long long)u->pos,
			    (unsigned long long)u->pos / 8, (unsigned long long)(u->frame_at + u->pos / 8));
			p[u->pos / 8 - in] ^= 1u << (u->pos % 8);
		}
		forward(u, p, k);
		u->offset += k;
		u->left -= k;
		p += k;
		n -= k;
		if (u->left == 0)
			u->have = 0;
	}
}

int main(int argc, char **argv)
{
	struct upstream u = { .to = -1 };
	int in[2], out[2], i, status;
	uint64_t seed = 0, frames = 0;
	bool seeded = false;
	pid_t child;

	helper_name = "tf-cut";
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--log") && i + 1 < argc) {
			logf = fopen(argv[++i], "a");
			if (!logf)
				die("--log %s: %s", argv[i], strerror(errno));
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 0);
			seeded = true;
		} else if (!strcmp(argv[i], "--frames") && i + 1 < argc) {
			frames = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--cut")) {
			u.cut = true;
		} else if (!strcmp(argv[i], "--flip")) {
			u.flip = true;
		} else {
			die("usage: tf-cut [--log FILE] [--seed S --frames K (--cut | --flip)] -- CMD [ARG]...");
		}
	}
	if (i + 1 >= argc)
		die("no command after --");
	if (seeded) {
		if (!frames || u.cut == u.flip)
			die("--seed needs --frames K and one of --cut, --flip");
		rng = seed;
		u.victim = 1 + next_random() % frames;
		u.where = next_random();
		say("seed %llu: %s in frame %u of the first %llu", (unsigned long long)seed, u.cut ? "cut" : "flip",
		    u.victim, (unsigned long long)frames);
	}
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		die("pipe: %s", strerror(errno));
	child = fork();
	if (child < 0)
		die("fork: %s", strerror(errno));
	if (child == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[i + 1], argv + i + 1);
		die("%s: %s", argv[i + 1], strerror(errno));
	}
	close(in[0]);
	close(out[1]);
	u.to = in[1];

	struct pollfd p[2] = { { .fd = 0, .events = POLLIN }, { .fd = out[0], .events = POLLIN } };
	uint8_t buf[65536];

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (p[0].revents) {
			ssize_t n = read(0, buf, sizeof(buf));

			if (n <= 0) {	/* the source closed its side: so does CMD's stdin */
				if (u.to >= 0)
					close(u.to);
				u.to = -1;
				p[0].fd = -1;
			} else {
				upstream_feed(&u, buf, n);
			}
		}
		if (p[1].revents) {
			ssize_t n = read(out[0], buf, sizeof(buf));

			if (n <= 0 || write_all(1, buf, n))
				break;	/* CMD's side ended (or the source's): the channel closes */
		}
	}
	say("upstream %llu bytes in %u frames", (unsigned long long)u.offset, u.frame);
	close(out[0]);
	if (u.to >= 0)
		close(u.to);
	close(0);
	close(1);
	if (waitpid(child, &status, 0) != child)
		return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
