/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The work of `tcpferry dump`, shared with `tcpferry migrate move`: stop the
 * process, lock each connection, put it in repair mode, read it, write the
 * images and then the index (a directory with an index is a complete dump),
 * or the image stream (complete with its END frame; image_io.h).  A failure,
 * a stream whose reader went away too, undoes all of it: repair off without
 * a probe, the locks this job took dropped, the process continued, the
 * images (or the stream file) removed.
 */
#ifndef TF_DUMP_JOB_H
#define TF_DUMP_JOB_H

#include <stdbool.h>
#include <sys/types.h>

#include "conn_lock.h"
#include "image_io.h"
#include "tcpferry.h"

struct dumped {
	int fd;			/* the process's fd number */
	int ours;		/* our copy */
	ino_t ino;		/* the socket's inode: the same one after the stop? */
	bool repair;		/* we turned repair on */
	struct tf_conn conn;
	/* While the list after the stop is made: the entry of the list before
	 * that is the same open file (kcmp), whose copy this one shares. */
	const struct dumped *same;
};

struct dump_job {
	/* in */
	pid_t pid;
	int pidfd;
	const int *want;	/* only these fds; NULL: every established TCP socket */
	int n_want;
	const char *dir;	/* --out: a directory, a stream file, a FIFO, or "-"; NULL: no
				 * images written, they stay in d[i].conn, the index in ix */
	int out_fd;		/* with out_to_fd: the stream goes to this fd (for "-") */
	bool out_to_fd;
	const char *bpffs;	/* the source host's lock table and tsval recorder */
	bool lock;
	long ttl;		/* seconds; 0 = never expires */
	/* Sockets the process got between collect and the stop: taken (dump),
	 * or left behind with a warning (a move: migrate send or move, whose
	 * target locks are taken before the stop from the sockets collect found). */
	bool take_new;
	/* out */
	struct dumped *d;
	int n;
	struct tf_index ix;
	struct conn_locks locks;
	struct image_sink sink;	/* where the images go (image_io.h) */
};

/* The whole dump; prints its errors.  0, or 1 with everything undone. */
int dump_job_run(struct dump_job *j);
/* Its two halves: the sockets found and identified, the locks made ready (the
 * process untouched: this only saves time once it is stopped); then stopped,
 * the sockets listed again (the fd table is fixed now: what is there then is
 * dumped, a socket gone or no longer a connection skipped), locked, read and
 * written. */
int dump_job_collect(struct dump_job *j);
int dump_job_take(struct dump_job *j);
/* dump_job_take's two halves: stopped, listed again, locked, in repair mode
 * and read (the images in d[i].conn, the index in ix); then written to the
 * sink (nothing when it has none).  A move between hosts sends the images
 * between the two, so the copy on disk costs the pause nothing. */
int dump_job_read(struct dump_job *j);
int dump_job_write(struct dump_job *j);
/* Back as before the dump: the connections go on at the source. */
void dump_job_undo(struct dump_job *j);
/* Close our copies of the sockets and free; the locks stay in the table. */
void dump_job_free(struct dump_job *j);

#endif
