// SPDX-License-Identifier: BSD-2-Clause
/* DIR/restore.log (see restore_log.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "report.h"
#include "restore_log.h"

void restore_log_append(const struct restore_job *j)
{
	char path[PATH_MAX], host[64] = "", last;
	struct timespec now;
	struct stat st;
	uint64_t ns;
	FILE *f;
	int fd;

	if (j->stream)
		return;	/* no directory to keep it in: -j and -v show what was set */
	snprintf(path, sizeof(path), "%s/%s", j->dir, RESTORE_LOG);
	/* 0600 like the images: it names the connections.  Never blocking on a
	 * fifo someone put there, never through a symbolic link.  Read too: its last byte. */
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd >= 0 && (fstat(fd, &st) || !S_ISREG(st.st_mode))) {
		mv_warn("restore %s: %s is not a regular file: the timestamps chosen are not recorded "
			"(the connections are restored); remove it", j->dir, path);
		close(fd);
		return;
	}
	if (fd < 0 || !(f = fdopen(fd, "a"))) {
		mv_warn("restore %s: cannot record the timestamps chosen in %s: %s (the connections are restored)",
			 j->dir, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	gethostname(host, sizeof(host) - 1);
	clock_gettime(CLOCK_REALTIME, &now);
	ns = (uint64_t)now.tv_sec * 1000000000ull + now.tv_nsec;
	/* The header into a new file only (ftell is 0 on an O_APPEND stream whatever its size); a
	 * record never joins the unterminated last line of an earlier, interrupted write. */
	if (st.st_size == 0)
		fputs("# tcpferry restore log: name ts_chosen ts_offset restored_at_ns host\n", f);
	else if (pread(fd, &last, 1, st.st_size - 1) != 1 || last != '\n')
		fputc('\n', f);
	for (uint32_t i = 0; i < j->ix.n; i++)
		fprintf(f, "%s\t%" PRIu32 "\t%" PRId32 "\t%" PRIu64 "\t%s\n", j->r[i].name, j->r[i].ts_chosen,
			j->r[i].ts_offset, ns, host[0] ? host : "-");
	if (fclose(f))
		mv_warn("restore %s: writing %s: %s (the connections are restored)", j->dir, path, strerror(errno));
}

int restore_log_find(const char *image_path, struct restore_record *out)
{
	const char *slash = strrchr(image_path, '/'), *base = slash ? slash + 1 : image_path;
	char path[PATH_MAX], name[64], line[512];
	int found = 0, fd;
	struct stat st;
	FILE *f;

	snprintf(name, sizeof(name), "%.*s", (int)strcspn(base, "."), base);
	snprintf(path, sizeof(path), "%.*s%s", slash ? (int)(slash - image_path + 1) : 0, image_path, RESTORE_LOG);
	/* A record, not part of the dump: anything but a plain file is no log (a fifo would block). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || !(f = fdopen(fd, "r"))) {
		close(fd);
		return 0;
	}
	/* A line longer than line[] is no record, not even its tail (tcpferry writes none).  line[]
	 * is cleared before each read: a newline in it is then this read's. */
	for (bool rest = false;;) {
		struct restore_record r = { 0 };
		bool ended, cut;
		char n[64];

		memset(line, 0, sizeof(line));
		if (!fgets(line, sizeof(line), f))
			break;
		ended = memchr(line, '\n', sizeof(line));
		cut = rest || (!ended && !feof(f));
		rest = !ended;
		if (cut || line[0] == '#' ||
		    sscanf(line, "%63s %" SCNu32 " %" SCNd32 " %" SCNu64 " %63s", n, &r.ts_chosen, &r.ts_offset,
			   &r.time_ns, r.host) != 5 || strcmp(n, name))
			continue;
		*out = r;	/* the last line wins: a retried restore */
		found = 1;
	}
	fclose(f);
	return found;
}
