// SPDX-License-Identifier: BSD-2-Clause
/*
 * What a frame header claims costs memory only as far as the stream holds
 * the bytes.  A stream of 24 bytes whose first frame claims 2 GB (a length a
 * CONN frame may have) is refused as truncated, read from a file and from a
 * pipe, and the reading process's address space grows by less than 64 MB.
 * The reader used to grow its buffer to the claim before reading on: 3.2 GB
 * for the file, 4 GB for the pipe (found by restore_mutated.t under ASan,
 * where the 1 s alarm caught it: ASan maps and poisons what malloc gets).
 * Likewise a HEAD (crc right) counting 2^20 connections and nothing after
 * it: the reader made room for them all, 1 GB, before any INDEX.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zlib.h>

#include "tap.h"
#include "stream.h"

static const uint8_t claim[24] = {
	'T', 'F', 'F', 'R', 0x02, 0x00, 0x01, 0x00,	/* magic, type INDEX, version 1 */
	0x00, 0x00, 0x00, 0x80,				/* len 2^31 */
	0, 0, 0, 0,					/* crc (not reached) */
	1, 2, 3, 4, 5, 6, 7, 8,				/* 8 of the 2^31 bytes */
};

/* HEAD: version 1, 2^20 connections, a dump time; its crc set below. */
static uint8_t head[32] = {
	'T', 'F', 'F', 'R', 0x01, 0x00, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00, 0, 0, 0, 0,
	0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 1, 2, 3, 4, 5, 6, 7, 8,
};

/* VmPeak of this process, in kB. */
static long vm_peak_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		bail_out("/proc/self/status: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPeak: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* In a child: read the stream from fd; how many MB VmPeak grew by, and the message. */
static long grown_mb(int fd, char *msg, size_t len)
{
	int p[2], status;
	pid_t pid;
	ssize_t n;

	if (pipe(p))
		bail_out("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		struct tf_index ix;
		struct tf_conn *c;
		char out[512];
		long before = vm_peak_kb(), mb;
		int err = tf_stream_read(fd, &ix, &c);

		mb = (vm_peak_kb() - before) / 1024;
		snprintf(out, sizeof(out), "%ld %s", mb, err ? tf_strerror() : "(accepted)");
		if (write(p[1], out, strlen(out) + 1) < 0)
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], msg, len - 1);
	close(p[0]);
	waitpid(pid, &status, 0);
	msg[n > 0 ? n : 0] = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n <= 0)
		bail_out("the reading child died (status %#x)", status);
	return atol(msg);
}

static void check(const char *what, int fd)
{
	char msg[600];
	long mb = grown_mb(fd, msg, sizeof(msg));

	ok(mb < 64 && strstr(msg, "truncated"), "%s: refused as truncated, the address space grown by %ld MB (%s)",
	   what, mb, strchr(msg, ' ') ? strchr(msg, ' ') + 1 : msg);
}

int main(void)
{
	char path[] = "/tmp/tf-stream-claims.XXXXXX";
	int fd = mkstemp(path), p[2];

	plan(3);
	if (fd < 0 || write(fd, claim, sizeof(claim)) != sizeof(claim) || lseek(fd, 0, SEEK_SET))
		bail_out("writing %s: %s", path, strerror(errno));
	unlink(path);
	check("a 24-byte stream file claiming a 2 GB frame", fd);
	close(fd);

	if (pipe(p) || write(p[1], claim, sizeof(claim)) != sizeof(claim))
		bail_out("pipe: %s", strerror(errno));
	close(p[1]);
	check("the same 24 bytes through a pipe", p[0]);
	close(p[0]);

	{
		uint32_t crc = crc32(crc32(0, head, 12), head + 16, 16);

		for (int i = 0; i < 4; i++)
			head[12 + i] = crc >> (8 * i);
	}
	if (pipe(p) || write(p[1], head, sizeof(head)) != sizeof(head))
		bail_out("pipe: %s", strerror(errno));
	close(p[1]);
	check("a HEAD counting 2^20 connections, and nothing after it", p[0]);
	close(p[0]);
	return done_testing();
}
