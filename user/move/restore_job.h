/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The work of `tcpferry restore`, shared with `tcpferry migrate move`, in
 * the network namespace the sockets are to live in:
 *   read   every image read and checked, from a directory or an image stream
 *          (image_io.h); nothing has touched the kernel
 *   build  refused if a live socket here owns a tuple (nothing locked);
 *          every tuple locked on this host, then each socket rebuilt in
 *          repair mode; a failure closes what was built (silently: still in
 *          repair) and keeps the locks, so peers retransmit into them,
 *          except a lock taken here on a tuple a live socket owns (a race
 *          with the check): that one is dropped
 *   live   out of repair mode: the point of no return
 */
#ifndef TF_RESTORE_JOB_H
#define TF_RESTORE_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "conn_lock.h"
#include "tcpferry.h"

struct restored {
	struct tf_conn conn;
	int fd;
	char name[64];		/* the image's name without .tfc */
	uint32_t ts_dumped;	/* the image's clock */
	uint32_t ts_chosen;	/* what TCP_TIMESTAMP was set to */
	int32_t ts_offset;	/* and its offset from this host's TCP clock */
};

struct restore_job {
	/* in */
	const char *dir;	/* --in: a dump directory, a stream (file, FIFO), or "-" */
	const char *bpffs;	/* this host's lock table (pin directory) */
	bool lock;
	long ttl;		/* seconds; 0 = never expires */
	bool ts_bare;		/* this host's bare clock (--no-ts-fixup) */
	/* The caller checked that no live socket here owns a tuple before it
	 * locked them (receive's prepare, outside the pause): build does not
	 * ask sock_diag again (a lookup per tuple and device, tens of us for a
	 * few; for many, a walk of the host's whole established hash,
	 * milliseconds on a busy host).  A tuple taken since is still refused
	 * by connect(), and its lock dropped (restore_job_build). */
	bool owners_checked;
	struct tf_restore_opts ro;
	/* out */
	bool stream;		/* dir was an image stream (no restore.log beside it) */
	struct tf_index ix;
	struct restored *r;
	struct conn_locks locks;
	int built;
};

/* Each step prints its errors and returns 0 or 1. */
int restore_job_read(struct restore_job *j);
int restore_job_build(struct restore_job *j);
/* The check build starts with: does a live socket here own a tuple? 0 or 1 (printed). */
int restore_job_check_owners(struct restore_job *j);
int restore_job_live(struct restore_job *j, bool probe);
/*
 * The sockets and their names as the handoff calls take them (handoff.h):
 * two malloc'ed arrays of ix.n, for the caller to free.  0 or 1 (no memory).
 */
int restore_job_handover(const struct restore_job *j, int **fds, const char ***names);
/*
 * The built sockets back into repair mode (those that had left it), then
 * closed: nothing reaches a peer, and what a live one sent meanwhile died in
 * the lock.  The locks stay.
 */
void restore_job_discard(struct restore_job *j);
/* Frees the images; the sockets (r[i].fd) are the caller's. */
void restore_job_free(struct restore_job *j);

#endif
