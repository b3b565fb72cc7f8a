// SPDX-License-Identifier: BSD-2-Clause
/* A move's journal (see journal.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "journal.h"

/* dir and its parents, 0700 for the ones made here. */
static int make_dirs(const char *dir)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s", dir);
	for (char *s = path + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(path, 0700) && errno != EEXIST)
			return tf_fail(errno, "journal directory %s", path);
		*s = '/';
	}
	if (mkdir(path, 0700) && errno != EEXIST)
		return tf_fail(errno, "journal directory %s", path);
	return 0;
}

int mv_journal_open(struct mv_journal *j, const char *dir, const char *id)
{
	int err = make_dirs(dir);

	j->fd = -1;
	if (err)
		return err;
	snprintf(j->path, sizeof(j->path), "%s/%s.state", dir, id);
	j->fd = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (j->fd < 0)
		return tf_fail(errno, "journal %s%s", j->path,
			       errno == EEXIST ? " (a move with this id ran here already)" : "");
	return 0;
}

int mv_journal_mark(struct mv_journal *j, const char *state, const char *detail)
{
	struct timespec t;
	char line[700];
	int n, at;

	if (j->fd < 0)
		return 0;
	clock_gettime(CLOCK_REALTIME, &t);
	at = snprintf(line, sizeof(line), "%.31s\t%llu\t", state,
		      (unsigned long long)t.tv_sec * 1000000000ull + t.tv_nsec);
	n = at + snprintf(line + at, sizeof(line) - at, "%.500s\n", detail ? detail : "");
	/* Only the detail's own tabs and newlines go (the field separators stay). */
	for (char *s = line + at; *s && s < line + n - 1; s++)
		if (*s == '\n' || *s == '\t')
			*s = ' ';
	if (write(j->fd, line, n) != n || fdatasync(j->fd))
		return tf_fail(errno ? errno : EIO, "journal %s", j->path);
	return 0;
}

void mv_journal_close(struct mv_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}

int mv_journal_read(const char *dir, const char *id, struct mv_journal_state *out)
{
	char path[4096], line[1024];
	FILE *f;
	int fd;

	memset(out, 0, sizeof(*out));
	if (strchr(id, '/') || !*id || id[0] == '.')
		return tf_failx(EINVAL, "move id '%s': not a move id (letters, digits, '-', '.', '_')", id);
	snprintf(path, sizeof(path), "%s/%s.state", dir, id);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return tf_fail(errno, "journal %s", path);
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return tf_fail(errno, "journal %s", path);
	}
	while (fgets(line, sizeof(line), f)) {
		char *tab = strchr(line, '\t'), *tab2;

		if (!tab)
			continue;
		*tab = '\0';
		tab2 = strchr(tab + 1, '\t');
		if (tab2)
			*tab2 = '\0';
		snprintf(out->state, sizeof(out->state), "%.31s", line);
		out->time_ns = strtoull(tab + 1, NULL, 10);
		snprintf(out->detail, sizeof(out->detail), "%.511s", tab2 ? tab2 + 1 : "");
		out->detail[strcspn(out->detail, "\n")] = '\0';
		out->steps++;
	}
	fclose(f);
	if (!out->steps)
		return tf_failx(ENODATA, "journal %s: empty", path);
	return 0;
}
