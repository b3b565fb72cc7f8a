// SPDX-License-Identifier: BSD-2-Clause
/*
 * DIR/restore.log (user/move/restore_log.c: what show reads back of the
 * timestamps a restore chose) on any bytes, as the file of a dump
 * directory.  restore_log_find of DIR/conn-0001.tfc must give what a plain
 * reading of the lines gives (the last line for conn-0001 of at most
 * RECORD_MAX bytes; longer lines are no record, not even their tail); and
 * after restore_log_append has added a record for conn-0001 to whatever is
 * there, that record is the one found, on a line of its own, and the
 * file's header line is written only into an empty file.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "restore_log.h"

#define NAME "conn-0001"
/* The longest line (without its newline) restore_log_find takes as a record. */
#define RECORD_MAX 510

static char dir[] = "/tmp/tf-fuzz-restore-log.XXXXXX";
static char log_path[PATH_MAX], image_path[PATH_MAX];

static void cleanup(void)
{
	unlink(log_path);
	rmdir(dir);
}

static void setup(void)
{
	if (log_path[0])
		return;
	if (!mkdtemp(dir)) {
		perror("fuzz_restore_log: mkdtemp in /tmp");
		abort();
	}
	snprintf(log_path, sizeof(log_path), "%s/%s", dir, RESTORE_LOG);
	snprintf(image_path, sizeof(image_path), "%s/%s.tfc", dir, NAME);
	atexit(cleanup);
}

/* The last record for NAME in data, read line by line without a line buffer: 1 found, 0 none. */
static int reference(const uint8_t *data, size_t size, struct restore_record *out)
{
	char line[RECORD_MAX + 1];
	int found = 0;

	for (size_t pos = 0; pos < size;) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t len = (nl ? (size_t)(nl - data) : size) - pos;
		struct restore_record r = { 0 };
		char n[64];

		if (len <= RECORD_MAX) {
			memcpy(line, data + pos, len);
			line[len] = 0;
			if (line[0] != '#' &&
			    sscanf(line, "%63s %" SCNu32 " %" SCNd32 " %" SCNu64 " %63s", n, &r.ts_chosen,
				   &r.ts_offset, &r.time_ns, r.host) == 5 && !strcmp(n, NAME)) {
				*out = r;
				found = 1;
			}
		}
		pos += len + 1;
	}
	return found;
}

static int same(const struct restore_record *a, const struct restore_record *b)
{
	return a->ts_chosen == b->ts_chosen && a->ts_offset == b->ts_offset && a->time_ns == b->time_ns &&
	       !strcmp(a->host, b->host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct restore_record got, want, added;
	static struct restored r;
	struct restore_job j = { .ix.n = 1, .r = &r };
	uint8_t *after, *rec;
	int fd, found, lines = 0;
	ssize_t len;

	setup();
	fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_ASSERT(fd >= 0 && write(fd, data, size) == (ssize_t)size && close(fd) == 0);

	memset(&got, 0x55, sizeof(got));
	found = restore_log_find(image_path, &got);
	FUZZ_ASSERT(found == 0 || found == 1);
	FUZZ_ASSERT(found == reference(data, size, &want));
	if (found) {
		FUZZ_ASSERT(memchr(got.host, 0, sizeof(got.host)) && got.host[0]);
		FUZZ_ASSERT(same(&got, &want));
	}

	/* A retried restore appends its record: it wins, whatever came before. */
	j.dir = dir;
	snprintf(r.name, sizeof(r.name), NAME);
	r.ts_chosen = found ? got.ts_chosen + 1 : 7;
	r.ts_offset = found ? -(got.ts_offset / 2) : -7;
	restore_log_append(&j);
	FUZZ_ASSERT(restore_log_find(image_path, &added) == 1);
	/* What was there, then (a newline if it lacked one) the record; the header only in an empty file. */
	after = malloc(size + 1024);
	fd = open(log_path, O_RDONLY | O_CLOEXEC);
	FUZZ_ASSERT(after && fd >= 0);
	len = read(fd, after, size + 1024);
	close(fd);
	FUZZ_ASSERT(len > (ssize_t)size && (size_t)len < size + 1024 && !memcmp(after, data, size));
	rec = after + size + (size && data[size - 1] != '\n');
	FUZZ_ASSERT(size ? !memcmp(rec, NAME "\t", strlen(NAME) + 1) : rec[0] == '#');
	for (const uint8_t *p = rec; p < after + len; p++)
		lines += *p == '\n';
	FUZZ_ASSERT(after[len - 1] == '\n' && lines == (size ? 1 : 2));
	free(after);
	return 0;
}
