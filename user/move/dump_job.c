// SPDX-License-Identifier: BSD-2-Clause
/* The work of a dump (see dump_job.h). */
#include <stdio.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "report.h"
#include "dump_job.h"
#include "fault.h"
#include "phase.h"
#include "proc.h"
#include "tcp_auth.h"
#include "tsval.h"

/*
 * A socket dump leaves behind that still carries (or is making) a connection:
 * TCP or MPTCP, neither listening nor closed.  Those the new program will not
 * have, so skipping them is said even without -v.
 */
static bool connection_left_behind(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(int);
	int proto = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) ||
	    (proto != IPPROTO_TCP && proto != IPPROTO_MPTCP))
		return false;
	len = sizeof(ti);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		return false;
	return ti.tcpi_state != TCP_LISTEN && ti.tcpi_state != TCP_CLOSE;
}

/*
 * The entry of before (the list before the stop) that is the process's fd
 * now: same number, and the very open file our copy holds (kcmp; no kcmp:
 * NULL, and the fd is taken again).  cursor: where the last one was (both
 * lists are mostly in fd order).
 */
static const struct dumped *same_file(pid_t pid, pid_t self, int fd, const struct dumped *before, int n_before,
				      int *cursor)
{
	for (int t = 0; t < n_before; t++) {
		int k = (*cursor + t) % n_before;

		if (before[k].fd != fd)
			continue;
		*cursor = k + 1;
		if (before[k].conn.sock_family && before[k].ours >= 0 &&
		    syscall(SYS_kcmp, pid, self, KCMP_FILE, fd, before[k].ours) == 0)
			return &before[k];
		return NULL;
	}
	return NULL;
}

/*
 * Collect the sockets to dump: the named fds, or every TCP connection it can
 * carry (established or half-closed).  before: the list before the stop, for
 * the list after it, which says nothing of the ones left out (the first list
 * said so), and shares the copies of the sockets that are still the same
 * open files (e->same): their type and endpoints cannot have changed, so
 * only their state, ULP and keys are checked again.
 */
static int collect(pid_t pid, int pidfd, const int *want, int n_want, const struct dumped *before, int n_before,
		   struct dumped **out, int *n_out)
{
	struct tf_auth_scan *scan = NULL;
	bool quiet = before != NULL;
	pid_t self = getpid();
	int *fds = NULL, n = 0, err, cursor = 0;
	struct dumped *d;
	struct stat st;

	if (n_want) {
		fds = malloc(n_want * sizeof(*fds));
		if (!fds)
			return mv_error("no memory");
		memcpy(fds, want, n_want * sizeof(*fds));
		n = n_want;
	} else if ((err = tf_proc_list_fds(pid, &fds, &n))) {
		return mv_lib_error(err, "dump pid %d", pid);
	}
	mv_phase(quiet ? "relist-fds" : "list-fds");
	/* TCP-MD5 keys of every socket here in one sock_diag dump (tcp_auth.h),
	 * where that pays; without it, each socket is asked alone. */
	if (n > 1 && tf_auth_scan_pays(n))
		tf_auth_scan(&scan);
	mv_phase(quiet ? "relist-md5scan" : "md5scan");
	d = calloc(n ? n : 1, sizeof(*d));
	if (!d) {
		free(fds);
		tf_auth_scan_free(scan);
		return mv_error("no memory");
	}
	*n_out = 0;
	for (int i = 0; i < n; i++) {
		const struct dumped *same = quiet ? same_file(pid, self, fds[i], before, n_before, &cursor) : NULL;
		int ours;

		if (same) {
			err = tf_check_connection(same->ours, scan);
			mv_phase("relist-same");
			if (err && n_want) {
				mv_lib_error(err, "dump pid %d fd %d", pid, fds[i]);
				goto fail;
			}
			if (err)
				continue;	/* closed meanwhile: the caller says so with -v */
			d[*n_out] = (struct dumped){ .fd = fds[i], .ours = same->ours, .ino = same->ino, .same = same };
			(*n_out)++;
			continue;
		}
		ours = tf_proc_getfd(pidfd, pid, fds[i]);

		if (ours < 0) {
			if (n_want) {
				mv_lib_error(ours, "dump");
				goto fail;
			}
			continue;	/* closed meanwhile, or not a file we may take */
		}
		mv_phase(quiet ? "relist-getfd" : "getfd");
		err = tf_check_socket_scan(ours, scan);
		mv_phase(quiet ? "relist-check" : "check");
		if (err) {
			if (n_want) {
				close(ours);
				mv_lib_error(err, "dump pid %d fd %d", pid, fds[i]);
				goto fail;
			}
			if (quiet)
				;	/* said by the first list */
			else if (connection_left_behind(ours))
				mv_warn("dump pid %d fd %d: left behind (the new program will not have it): %s",
					 pid, fds[i], tf_strerror());
			else if (mv_verbose())
				mv_info("pid %d fd %d: skipped: %s", pid, fds[i], tf_strerror());
			close(ours);
			continue;
		}
		d[*n_out].fd = fds[i];
		d[*n_out].ours = ours;
		d[*n_out].ino = fstat(ours, &st) ? 0 : st.st_ino;
		(*n_out)++;
	}
	free(fds);
	tf_auth_scan_free(scan);
	*out = d;
	return 0;
fail:
	for (int i = 0; i < *n_out; i++)
		if (!d[i].same)
			close(d[i].ours);
	free(d);
	free(fds);
	tf_auth_scan_free(scan);
	return 1;
}

static void describe(const struct dumped *d, char *buf, size_t len)
{
	char l[TF_ADDRSTRLEN], p[TF_ADDRSTRLEN];

	snprintf(buf, len, "fd %d (%s -> %s)", d->fd, tf_endpoint_str(&d->conn.local, l, sizeof(l)),
		 tf_endpoint_str(&d->conn.peer, p, sizeof(p)));
}

static int find_sockets(struct dump_job *j)
{
	int err;

	if (collect(j->pid, j->pidfd, j->want, j->n_want, NULL, 0, &j->d, &j->n))
		return 1;
	mv_phase("list-rest");
	if (j->n == 0)
		return mv_error("dump pid %d: no TCP connection to take (established or half-closed)", j->pid);
	for (int i = 0; i < j->n; i++) {
		err = tf_conn_identify(j->d[i].ours, &j->d[i].conn);
		if (err && j->n_want)
			return mv_lib_error(err, "dump pid %d fd %d", j->pid, j->d[i].fd);
		if (err)
			continue;	/* closing as we look: the list after the stop decides */
		/* Table and programs ready while the process still runs. */
		j->locks.bpffs = j->bpffs;
		if (j->lock && conn_locks_ready(&j->locks, &j->d[i].conn))
			return 1;
	}
	mv_phase("identify+ready");
	return 0;
}

/* The entry of the list before the stop that is the same socket as e, or NULL. */
static const struct dumped *listed_before(const struct dump_job *j, const struct dumped *e)
{
	for (int i = 0; i < j->n; i++)
		if (j->d[i].fd == e->fd && j->d[i].ino == e->ino && j->d[i].conn.sock_family)
			return &j->d[i];
	return NULL;
}

static void free_list(struct dumped *d, int n)
{
	for (int i = 0; i < n; i++) {
		if (d[i].ours >= 0)
			close(d[i].ours);
		tf_conn_free(&d[i].conn);
	}
	free(d);
}

/*
 * The sockets again, now that the process is stopped and its fd table fixed:
 * the list before the stop may miss a connection accepted since, or hold one
 * that closed since.  What is there now is dumped.  Identified again too, so
 * SO_REUSEADDR is the value the stopped process left.  On failure j->d is
 * as it was (nothing locked or repaired yet).
 */
static int list_again(struct dump_job *j)
{
	struct dumped *now = NULL;
	int n = 0, kept = 0, i, err;
	char what[256];

	if (collect(j->pid, j->pidfd, j->want, j->n_want, j->d, j->n, &now, &n))
		return 1;
	mv_phase("relist-rest");
	for (i = 0; i < n; i++) {
		struct dumped *e = &now[i];
		bool known = e->same || listed_before(j, e);

		err = e->same ? tf_conn_identify_again(e->ours, &e->same->conn, &e->conn) :
				tf_conn_identify(e->ours, &e->conn);
		if (err && j->n_want) {
			mv_lib_error(err, "dump pid %d fd %d", j->pid, e->fd);
			goto fail;
		}
		if (err) {
			if (mv_verbose())
				mv_info("pid %d fd %d: skipped: %s", j->pid, e->fd, tf_strerror());
			close(e->ours);
			continue;
		}
		if (!known) {
			describe(e, what, sizeof(what));
			if (!j->take_new) {
				mv_warn("dump pid %d %s: left behind (the process got it while the sockets were "
					 "listed; the new program will not have it)", j->pid, what);
				close(e->ours);
				tf_conn_free(&e->conn);
				continue;
			}
			if (j->lock && conn_locks_ready(&j->locks, &e->conn))
				goto fail;
			if (mv_verbose())
				mv_info("pid %d %s: taken too (the process got it while the sockets were listed)",
					 j->pid, what);
		}
		now[kept++] = *e;
	}
	/* The ones that closed, or stopped being a connection, before the stop. */
	for (int i = 0; mv_verbose() && i < j->n; i++) {
		bool still = false;

		for (int k = 0; k < kept && !still; k++)
			still = now[k].fd == j->d[i].fd && now[k].ino == j->d[i].ino;
		if (!still && j->d[i].conn.sock_family) {
			describe(&j->d[i], what, sizeof(what));
			mv_info("pid %d %s: skipped: closed or no longer a connection once the process stopped",
				 j->pid, what);
		}
	}
	/* The copies shared with the list before now belong to this one. */
	for (int k = 0; k < kept; k++)
		if (now[k].same) {
			j->d[now[k].same - j->d].ours = -1;
			now[k].same = NULL;
		}
	free_list(j->d, j->n);
	j->d = now;
	j->n = kept;
	mv_phase("reidentify");
	if (!kept)
		return mv_error("dump pid %d: no TCP connection to take once it was stopped (the ones listed "
				 "closed meanwhile)", j->pid);
	return 0;
fail:
	/* Kept so far in [0, kept), not looked at yet in [i, n). */
	for (int k = 0; k < n; k++)
		if (k < kept || k >= i) {
			if (!now[k].same)
				close(now[k].ours);
			tf_conn_free(&now[k].conn);
		}
	free(now);
	return 1;
}

int dump_job_collect(struct dump_job *j)
{
	j->sink.out = j->dir;
	j->sink.fd = j->out_fd;
	j->sink.use_fd = j->out_to_fd;
	/* Without --out, nothing is written: the caller sends what is in memory. */
	if ((j->dir || j->out_to_fd) && image_sink_open(&j->sink))
		return 1;
	if (find_sockets(j)) {
		image_sink_undo(&j->sink);
		return 1;
	}
	fault_point("dump-listed");
	return 0;
}

int dump_job_read(struct dump_job *j)
{
	char what[256];
	long ttl = j->ttl;
	int err, tsvals = -1;

	j->locks.bpffs = j->bpffs;
	mv_phase("collect-rest");
	err = tf_proc_stop(j->pidfd, j->pid);
	if (err)
		return mv_lib_error(err, "dump");
	mv_phase("stop");
	fault_point("dump-stopped");
	if (list_again(j))
		goto undo;
	/* The recorder's map, once for all (none: -ENOENT, the dumped clocks alone). */
	tsvals = tf_tsval_map_open(j->bpffs, TF_PIN_TSVALS);
	/* Every connection locked before the first goes into repair mode: one
	 * map update each (the bulk program for long lists), one getpid. */
	if (j->lock) {
		struct tf_tuple *k = malloc(j->n * sizeof(*k));

		if (!k) {
			mv_error("dump pid %d: no memory", j->pid);
			goto undo;
		}
		for (int i = 0; i < j->n; i++) {
			err = tf_tuple_make(&j->d[i].conn.local, &j->d[i].conn.peer, &k[i]);
			if (err) {
				free(k);
				mv_lib_error(err, "dump pid %d", j->pid);
				goto undo;
			}
		}
		err = conn_locks_add_tuples(&j->locks, k, j->n, TF_LOCK_DUMP, (uint64_t)ttl * 1000000000ull);
		free(k);
		if (err)
			goto undo;
		mv_phase("lock");
		fault_point("dump-locked");
	}
	for (int i = 0; i < j->n; i++) {
		struct dumped *d = &j->d[i], named = *d;	/* for the message: a failed tf_dump clears d->conn */

		err = tf_repair_on(d->ours);
		if (err) {
			describe(&named, what, sizeof(what));
			mv_lib_error(err, "dump pid %d %s", j->pid, what);
			goto undo;
		}
		d->repair = true;
		mv_phase("repair-on");
		err = tf_dump(d->ours, &d->conn);
		if (err) {
			describe(&named, what, sizeof(what));
			mv_lib_error(err, "dump pid %d %s", j->pid, what);
			goto undo;
		}
		mv_phase("tf_dump");
		/* The largest tsval that reached the wire, if the recorder ran (tsval.h). */
		tf_tsval_fill_conn_fd(tsvals, &d->conn);
		mv_phase("tsval");
	}

	fault_point("dump-repaired");
	j->ix.pid = j->pid;
	j->ix.n = j->n;
	j->ix.time_ns = j->d[0].conn.dump_time_ns;
	gethostname(j->ix.host, sizeof(j->ix.host) - 1);
	j->ix.entries = calloc(j->n, sizeof(*j->ix.entries));
	if (!j->ix.entries) {
		mv_error("no memory");
		goto undo;
	}
	for (int i = 0; i < j->n; i++) {
		snprintf(j->ix.entries[i].file, sizeof(j->ix.entries[i].file), "conn-%04d.tfc", i + 1);
		j->ix.entries[i].local = j->d[i].conn.local;
		j->ix.entries[i].peer = j->d[i].conn.peer;
	}
	if (tsvals >= 0)
		close(tsvals);
	return 0;
undo:
	if (tsvals >= 0)
		close(tsvals);
	dump_job_undo(j);
	return 1;
}

int dump_job_write(struct dump_job *j)
{
	int err = image_sink_begin(&j->sink, &j->ix);

	for (int i = 0; !err && i < j->n; i++)
		err = image_sink_conn(&j->sink, &j->d[i].conn);
	if (!err)	/* a stream's reader has all but END: what the fault point leaves */
		err = image_sink_flush(&j->sink);
	if (err) {
		mv_lib_error(err, "dump pid %d to %s", j->pid, image_sink_name(&j->sink));
		goto undo;
	}
	mv_phase("images");
	fault_point("dump-images");
	/* The index (a directory), or END (a stream): now the dump is complete. */
	err = image_sink_commit(&j->sink);
	if (err) {
		mv_lib_error(err, "dump pid %d", j->pid);
		goto undo;
	}
	mv_phase("index");
	fault_point("dump-done");
	return 0;
undo:
	dump_job_undo(j);
	return 1;
}

int dump_job_take(struct dump_job *j)
{
	return dump_job_read(j) || dump_job_write(j);
}

int dump_job_run(struct dump_job *j)
{
	return dump_job_collect(j) || dump_job_take(j);
}

void dump_job_undo(struct dump_job *j)
{
	for (int i = 0; i < j->n; i++)
		if (j->d[i].repair) {
			tf_repair_leave(j->d[i].ours, &j->d[i].conn, false);
			j->d[i].repair = false;
		}
	conn_locks_release(&j->locks, false);
	tf_proc_cont(j->pidfd, j->pid);
	image_sink_undo(&j->sink);
	mv_info("tcpferry: dump undone: pid %d continues with its connections where they were", j->pid);
}

void dump_job_free(struct dump_job *j)
{
	conn_locks_done(&j->locks);
	image_sink_free(&j->sink);
	for (int i = 0; i < j->n; i++) {
		close(j->d[i].ours);
		tf_conn_free(&j->d[i].conn);
	}
	free(j->d);
	free(j->ix.entries);
	j->d = NULL;
	j->ix.entries = NULL;
	j->n = 0;
}
