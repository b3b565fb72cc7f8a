// SPDX-License-Identifier: BSD-2-Clause
/* A dump's images into a directory or a stream, and back (see image_io.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_format.h"
#include "image_io.h"
#include "internal.h"
#include "report.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && !strcmp(s + n - k, suffix);
}

int image_form_of_out(const char *out, bool use_fd, enum image_form *form)
{
	struct stat st;

	if (use_fd || !strcmp(out, "-")) {
		*form = IMAGE_STREAM_FD;
		return 0;
	}
	if (stat(out, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			*form = IMAGE_DIR;
			return 0;
		}
		if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISSOCK(st.st_mode)) {
			*form = IMAGE_STREAM_FD;
			return 0;
		}
		if (ends_with(out, TF_STREAM_SUFFIX))
			return mv_error("--out %s: already exists; a stream file is never overwritten: choose a "
					"new name", out);
		return mv_error("--out %s: is a file; --out takes a directory, a new NAME%s stream file, "
				"or - (standard output)", out, TF_STREAM_SUFFIX);
	}
	*form = ends_with(out, TF_STREAM_SUFFIX) ? IMAGE_STREAM_FILE : IMAGE_DIR;
	return 0;
}

const char *image_sink_name(const struct image_sink *s)
{
	if (!s->out)
		return "the stream";	/* a fd the caller gave, unnamed */
	return !strcmp(s->out, "-") ? "standard output" : s->out;
}

static int prepare_dir(const char *dir, bool *made)
{
	struct stat st;
	char path[4096];

	*made = mkdir(dir, 0700) == 0;
	if (!*made && errno != EEXIST)
		return mv_error("--out %s: cannot create: %s", dir, strerror(errno));
	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return mv_error("--out %s: not a directory", dir);
	snprintf(path, sizeof(path), "%s/%s", dir, TF_INDEX_FILE);
	if (access(path, F_OK) == 0)
		return mv_error("--out %s: already holds a dump (index.tfi); choose an empty directory", dir);
	return 0;
}

int image_sink_open(struct image_sink *s)
{
	int fd;

	s->own_fd = -1;
	s->sf.fd = -1;
	s->sf.tmp[0] = '\0';
	s->opened = true;
	if (image_form_of_out(s->out, s->use_fd, &s->form))
		return 1;
	switch (s->form) {
	case IMAGE_DIR:
		return prepare_dir(s->out, &s->made_dir);
	case IMAGE_STREAM_FILE:
		fd = tf_stream_file_create(&s->sf, s->out);
		if (fd < 0)
			return mv_error("--out %s; choose a new name", tf_strerror());
		s->fd = fd;
		return 0;
	case IMAGE_STREAM_FD:
		if (s->use_fd)
			return 0;
		if (!strcmp(s->out, "-"))
			return mv_error("--out -: no standard output given to write the stream to");
		/* A FIFO opens when its reader does: that is before the process stops. */
		fd = open(s->out, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return mv_error("--out %s: cannot open: %s", s->out, strerror(errno));
		if (isatty(fd)) {
			close(fd);
			return mv_error("--out %s: a terminal; a stream goes into a pipe, a FIFO or a NAME%s file",
					s->out, TF_STREAM_SUFFIX);
		}
		s->fd = s->own_fd = fd;
		return 0;
	}
	return 1;
}

int image_sink_begin(struct image_sink *s, const struct tf_index *ix)
{
	s->ix = ix;
	if (!s->opened || s->form == IMAGE_DIR)
		return 0;
	return tf_stream_begin(&s->w, s->fd, ix);
}

int image_sink_conn(struct image_sink *s, const struct tf_conn *c)
{
	char path[4096];
	int err;

	if (!s->opened)
		return 0;
	if (s->form != IMAGE_DIR)
		return tf_stream_put_conn(&s->w, c);
	if (s->written >= s->ix->n)
		return tf_failx(EINVAL, "more connections than the %u of the index", s->ix->n);
	snprintf(path, sizeof(path), "%s/%s", s->out, s->ix->entries[s->written].file);
	if ((err = tf_image_write(path, c)))
		return err;
	s->written++;
	return 0;
}

int image_sink_flush(struct image_sink *s)
{
	return !s->opened || s->form == IMAGE_DIR ? 0 : tf_stream_flush(&s->w);
}

int image_sink_commit(struct image_sink *s)
{
	int err;

	if (!s->opened)
		return 0;
	switch (s->form) {
	case IMAGE_DIR:
		err = tf_index_write(s->out, s->ix);
		break;
	case IMAGE_STREAM_FILE:
		err = tf_stream_finish(&s->w);
		if (!err)
			err = tf_stream_file_commit(&s->sf);
		break;
	default:
		/* A FIFO we opened is closed by image_sink_free: its reader sees
		 * the end only once the whole dump is done (as with "-"). */
		err = tf_stream_finish(&s->w);
		break;
	}
	if (!err)
		s->committed = true;
	else if (s->form != IMAGE_DIR)	/* the index's error names its path */
		tf_error_prefix("%s", image_sink_name(s));
	return err;
}

void image_sink_undo(struct image_sink *s)
{
	char path[4096];

	if (!s->opened)
		return;
	switch (s->form) {
	case IMAGE_DIR:
		for (uint32_t i = 0; s->ix && i < s->written; i++) {
			snprintf(path, sizeof(path), "%s/%s", s->out, s->ix->entries[i].file);
			unlink(path);
		}
		snprintf(path, sizeof(path), "%s/%s", s->out, TF_INDEX_FILE);
		unlink(path);
		if (s->made_dir)
			rmdir(s->out);	/* ours: gone again (the user's stays) */
		s->made_dir = false;
		s->written = 0;
		break;
	case IMAGE_STREAM_FILE:
		if (s->committed)
			unlink(s->out);
		else
			tf_stream_file_abort(&s->sf);
		break;
	default:
		break;	/* sent: a reader without END refuses it */
	}
	s->committed = false;
}

void image_sink_free(struct image_sink *s)
{
	if (!s->opened)
		return;
	tf_stream_writer_free(&s->w);
	if (s->own_fd >= 0)
		close(s->own_fd);
	s->own_fd = -1;
	if (s->form == IMAGE_STREAM_FILE && !s->committed)
		tf_stream_file_abort(&s->sf);
}

static int read_dir(const char *dir, struct tf_index *ix, struct tf_conn **conns)
{
	struct tf_conn *c;
	char path[4096];
	int err = tf_index_read(dir, ix);

	if (err)
		return err;
	c = calloc(ix->n ? ix->n : 1, sizeof(*c));
	if (!c) {
		tf_index_free(ix);
		return tf_failx(ENOMEM, "%s: no memory", dir);
	}
	for (uint32_t i = 0; i < ix->n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, ix->entries[i].file);
		if ((err = tf_image_read(path, &c[i]))) {
			tf_stream_conns_free(c, i);
			tf_index_free(ix);
			return err;
		}
	}
	*conns = c;
	return 0;
}

int image_source_read(const char *in, struct tf_index *ix, struct tf_conn **conns, bool *stream)
{
	struct stat st;

	*conns = NULL;
	/* Whatever exists and is not a directory is read as a stream, and so is
	 * a NAME.tfs that does not (its error then names the stream). */
	if (stat(in, &st))
		*stream = !strcmp(in, "-") || ends_with(in, TF_STREAM_SUFFIX);
	else
		*stream = !S_ISDIR(st.st_mode);
	if (*stream)
		return tf_stream_read_path(in, ix, conns);
	return read_dir(in, ix, conns);
}
