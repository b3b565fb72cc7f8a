/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Where a dump's images go (a sink) and where a restore reads them from (a
 * source), in either form of images/FORMAT.md: a dump directory (index.tfi
 * and one .tfc per connection) or an image stream (images/stream.h) in a
 * file, a FIFO, or a file descriptor such as standard output or a channel.
 *
 * Which form --out names (image_form_of_out):
 *   "-"                              a stream on the sink's fd (the caller's:
 *                                    tcpferry dump gives it standard output)
 *   an existing FIFO, character
 *   device or socket                 a stream written straight into it
 *   NAME.tfs (not existing yet)      a stream file: written as a temporary
 *                                    file beside it, fsynced once, renamed
 *   anything else                    a dump directory (created 0700 if missing;
 *                                    it must hold no dump); an existing file
 *                                    that is none of the above is refused
 * and --in (image_source_read): "-" is standard input, a directory is a
 * dump directory, anything else (a file, a FIFO) is read as a stream.
 */
#ifndef TF_IMAGE_IO_H
#define TF_IMAGE_IO_H

#include <stdbool.h>

#include "stream.h"
#include "tcpferry.h"

enum image_form {
	IMAGE_DIR,		/* DIR/index.tfi and DIR/conn-0001.tfc, ... */
	IMAGE_STREAM_FILE,	/* NAME.tfs, renamed into place when complete */
	IMAGE_STREAM_FD,	/* frames straight into a fd (stdout, a FIFO, a channel) */
};

struct image_sink {
	/* in */
	const char *out;	/* as --out names it; "-" with fd set */
	int fd;			/* with use_fd: the stream goes here (not closed) */
	bool use_fd;
	/* out */
	bool opened;		/* image_sink_open got this far: undo and free act */
	enum image_form form;
	bool made_dir;		/* IMAGE_DIR: the directory did not exist before */
	bool committed;
	uint32_t written;	/* IMAGE_DIR: images on disk */
	const struct tf_index *ix;
	struct tf_stream_file sf;
	struct tf_stream_writer w;
	int own_fd;		/* a FIFO we opened, or -1 */
};

/* The form out names, or 1 with the error printed. */
int image_form_of_out(const char *out, bool use_fd, enum image_form *form);
/* "DIR", "stream NAME.tfs", "standard output": for messages. */
const char *image_sink_name(const struct image_sink *s);
/*
 * Ready to take a dump: the directory made (and checked to hold none), the
 * stream file created under its temporary name, the FIFO opened.  Nothing is
 * written yet.  0, or 1 with the error printed.
 */
int image_sink_open(struct image_sink *s);
/*
 * The dump: ix first (a stream starts with it), then conns in its order,
 * then commit (a directory's index, a stream's END; a stream file fsynced
 * and renamed into place).  Each returns 0 or a negative errno with the
 * detail in tf_strerror() (-EPIPE: a stream's reader is gone).
 */
int image_sink_begin(struct image_sink *s, const struct tf_index *ix);
int image_sink_conn(struct image_sink *s, const struct tf_conn *c);
int image_sink_commit(struct image_sink *s);
/* A stream's frames so far out to their fd (before a fault point: a reader
 * then sees every CONN and no END); nothing for a directory. */
int image_sink_flush(struct image_sink *s);
/* Nothing left behind: the images and index, the directory we made, the
 * stream file (temporary or committed).  What went into a fd is gone. */
void image_sink_undo(struct image_sink *s);
/* Also closes a FIFO image_sink_open opened: its reader sees the end now. */
void image_sink_free(struct image_sink *s);

/*
 * A whole dump from in (see above), validated: the index and *conns, an
 * array of ix->n (tf_stream_conns_free).  *stream says which form it was.
 * 0 or a negative errno, tf_strerror() naming the file and the place.
 */
int image_source_read(const char *in, struct tf_index *ix, struct tf_conn **conns, bool *stream);

#endif
