// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry migrate move: a whole move between two network namespaces of this
 * machine in one process, so the peer's packets meet a lock for as short a
 * time as the work itself takes (tools/migrate.sh's steps each start a
 * program; here no program starts inside the locked window but an optional
 * --flip command, and that runs beside the rest).
 *
 *   freeze   PID stopped at an idle moment (freeze.h)
 *   dump     in PID's namespace: locked on the source (--from-bpffs), repair
 *            mode, images in WORK/src; WORK/dst points at them (the carry)
 *   restore  in --to-netns (every tuple locked there, --to-bpffs, before the
 *            freeze): the sockets rebuilt in repair mode; later CMD is
 *            started with them as fds 3, 4, ..., or they are passed to a
 *            running receiver (--send-to, as restore does)
 *   route    --route PREFIX --via ADDR: the route replaced through rtnetlink
 *            (in --route-netns), once both ends are locked and the target's
 *            sockets are built (a failure before this is undone)
 *   flip     --flip's shell command (any other way of moving the traffic),
 *            started then too
 *   live     the target's sockets out of repair, the receiver started or
 *            fed, --flip awaited
 *   unlock   the target's locks dropped, each peer nudged (nudge.h)
 *   retire   PID killed (its sockets are in repair mode: it sends nothing),
 *            the source's locks dropped
 *
 * The work directory is tools/migrate.sh's, with the same marks (to.pid,
 * unlocked, retired), so a move cut short by a crash goes on with its steps
 * (restore, flip, unlock, retire) or its rollback; the phase times go to
 * its WORK/times ("PHASE<TAB>MS", written here so that the orchestrator
 * starts no parser while the moved stream picks up on the same cores).
 * A failure before the route changes is undone here: the target's sockets
 * closed (still in repair: silently) and its locks dropped, the source's
 * sockets out of repair, its locks dropped, PID continued.
 */
#include <stdio.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "report.h"
#include "dump_job.h"
#include "flip.h"
#include "freeze.h"
#include "handoff.h"
#include "handover.h"
#include "migrate_move.h"
#include "nudge.h"
#include "proc.h"
#include "netns.h"
#include "restore_job.h"
#include "restore_log.h"
#include "route.h"

const char *const move_phase_name[P_N] = { "freeze", "dump", "restore", "route", "flip",
					  "live",   "unlock", "nudge", "retire" };


/* An fd for a network namespace: a name under /run/netns, or a path. */
static int open_netns(const char *spec)
{
	char path[4096];
	int fd = netns_open(spec, path, sizeof(path));

	if (fd < 0)
		return mv_error("migrate move: network namespace %s: %s; give a name under /run/netns "
				 "(ip netns list) or a path such as /proc/PID/ns/net", path, strerror(-fd)), -1;
	return fd;
}

static int enter(int nsfd, const char *which)
{
	if (setns(nsfd, CLONE_NEWNET))
		return mv_error("migrate move: entering the %s network namespace: %s", which, strerror(errno));
	return 0;
}

static int mark(const char *work, const char *name, const char *text)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", work, name);
	f = fopen(path, "w");
	if (!f)
		return mv_error("migrate move: %s: %s", path, strerror(errno));
	fputs(text, f);
	return fclose(f) ? mv_error("migrate move: %s: %s", path, strerror(errno)) : 0;
}

/* WORK/times: each phase and the locked window, appended after the steps
 * the orchestrator timed itself (prepare). */
static void write_times(const char *work, const double *ms, double window)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/times", work);
	f = fopen(path, "a");
	if (!f) {
		mv_warn("migrate move: %s: %s", path, strerror(errno));
		return;
	}
	for (int i = 0; i < P_N; i++)
		fprintf(f, "%s\t%.3f\n", move_phase_name[i], ms[i]);
	fprintf(f, "locked_window\t%.3f\n", window);
	if (fclose(f))
		mv_warn("migrate move: %s: %s", path, strerror(errno));
}

static const struct tf_conn *dumped_at(void *arg, size_t i, const char **name)
{
	(void)name;
	return &((struct dump_job *)arg)->d[i].conn;
}

int migrate_move(const struct move_opts *o, struct move_result *res)
{
	char src[4096], dst[4096];
	struct dump_job dj = {};
	struct restore_job rj = { .lock = true };
	struct tf_route_change route = { .nl = -1 };
	struct tf_nudger nudger = TF_NUDGER_INIT;
	int handoff = -1;
	double t[P_N + 1], ms[P_N] = {};
	int from_ns = -1, to_ns = -1, pidfd = -1, tries, ret = 1, nudged = 0, err;
	uint64_t dropped_from, dropped_to;
	pid_t flip = -1, to_pid = -1;
	char num[32];
	bool live = false;

	/* Where the sockets go must be there: once live, they cannot wait. */
	err = o->send_to ? 0 : tf_handoff_exec_check(o->cmd);
	if (err)
		return mv_lib_error(err, "migrate move: nothing moved");
	snprintf(src, sizeof(src), "%s/src", o->work);
	snprintf(dst, sizeof(dst), "%s/dst", o->work);
	if (mkdir(o->work, 0700) && errno != EEXIST)
		return mv_error("migrate move: --work %s: %s", o->work, strerror(errno));
	if (access(dst, F_OK) == 0 || access(src, F_OK) == 0)
		return mv_error("migrate move: %s holds a move already; go on with its steps (tools/migrate.sh "
				 "status) or use a fresh --work", o->work);
	snprintf(num, sizeof(num), "/proc/%d/ns/net", o->pid);
	from_ns = open_netns(num);
	to_ns = open_netns(o->to_netns);
	if (from_ns < 0 || to_ns < 0)
		goto out;
	pidfd = tf_proc_open(o->pid);
	if (pidfd < 0) {
		mv_lib_error(pidfd, "migrate move");
		goto out;
	}
	if (o->send_to && (handoff = tf_handoff_connect(o->send_to)) < 0) {
		mv_lib_error(handoff, "migrate move: nothing moved");
		goto out;
	}
	if (o->route) {
		int rt_ns = o->route_netns ? open_netns(o->route_netns) : -1;

		if (o->route_netns && rt_ns < 0)
			goto out;
		err = tf_route_prepare(&route, o->route, o->via, rt_ns);
		if (rt_ns >= 0)
			close(rt_ns);
		if (err) {
			mv_lib_error(err, "migrate move: nothing moved");
			goto out;
		}
	}

	/* The sockets found in the source's namespace (its devices are there). */
	if (enter(from_ns, "source"))
		goto out;
	dj.pid = o->pid;
	dj.pidfd = pidfd;
	dj.dir = src;
	dj.bpffs = o->from_bpffs;
	dj.lock = true;
	dj.ttl = o->ttl;
	if (dump_job_collect(&dj))
		goto unlock_target;
	/* The target's locks before the process stops: attaching the lock
	 * programs there costs the peer nothing yet. */
	if (enter(to_ns, "target"))
		goto unlock_target;
	rj.locks.bpffs = o->to_bpffs;
	/* A live socket there with one of these tuples: a lock would drop
	 * its packets, and the restore could not take the tuple anyway. */
	if (conn_owners_check(dj.n, dumped_at, &dj, "migrate move: target:",
			      "nothing was locked or stopped"))
		goto unlock_target;
	for (int i = 0; i < dj.n; i++)
		if (conn_locks_add(&rj.locks, &dj.d[i].conn, TF_LOCK_RESTORE, (uint64_t)o->ttl * 1000000000ull))
			goto unlock_target;

	t[P_FREEZE] = mv_now_ms();
	if (freeze_idle(pidfd, o->pid, o->freeze_timeout_ms, &tries))
		goto unlock_target;
	t[P_DUMP] = mv_now_ms();
	if (enter(from_ns, "source")) {
		tf_proc_cont(pidfd, o->pid);
		goto unlock_target;
	}
	if (dump_job_take(&dj))
		goto unlock_target;	/* undone: the process goes on */
	if (symlink("src", dst)) {
		mv_error("migrate move: %s: %s", dst, strerror(errno));
		goto undo;
	}
	/* Rebuilt at the target, still in repair mode (they send nothing): a
	 * failure up to here is undone, the route being untouched. */
	t[P_RESTORE] = mv_now_ms();
	rj.dir = dst;
	rj.bpffs = o->to_bpffs;
	rj.ttl = o->ttl;
	rj.lock = false;	/* locked above */
	if (enter(to_ns, "target") || restore_job_read(&rj) || restore_job_build(&rj))
		goto undo;
	/* Both ends are locked: the traffic may move now.  A route that
	 * netlink refused has not changed, so that is still undone here. */
	t[P_ROUTE] = mv_now_ms();
	if (o->route && (err = tf_route_apply(&route))) {
		mv_lib_error(err, "migrate move");
		goto undo;
	}
	/* From here on a failure is not undone here: the route would have to
	 * come back too (tools/migrate.sh rollback). */
	t[P_FLIP] = mv_now_ms();
	if (o->flip && (flip = flip_start(o->flip, "migrate move")) < 0)
		goto stuck;
	t[P_LIVE] = mv_now_ms();
	/* Not all live: the locks stay (no peer meets an RST); migrate.sh's
	 * restore clears the leftovers under the lock and retries. */
	if (restore_job_live(&rj, true))
		goto stuck;
	live = true;
	if (o->send_to) {
		to_pid = handover_send(&rj, handoff, o->send_to, "migrate move");
		handoff = -1;
	} else {
		to_pid = handover_exec(&rj, o->cmd, "migrate move");
	}
	if (to_pid < 0)
		goto stuck;
	snprintf(num, sizeof(num), "%d\n", to_pid);
	if (mark(o->work, "to.pid", num))
		goto stuck;

	if (flip > 0) {
		err = flip_wait(flip, o->flip, "migrate move");
		flip = -1;
		if (err)
			goto stuck;
	}

	t[P_UNLOCK] = mv_now_ms();
	dropped_to = conn_locks_dropped(&rj.locks);
	conn_locks_release(&rj.locks, true);
	t[P_NUDGE] = mv_now_ms();
	for (uint32_t i = 0; o->nudge && i < rj.ix.n; i++)
		if (tf_nudge(&nudger, rj.r[i].fd, &rj.r[i].conn, TF_NUDGE_DUPACKS_AUTO) >= 0)
			nudged++;
	tf_nudger_close(&nudger);
	t[P_RETIRE] = mv_now_ms();
	if (mark(o->work, "unlocked", ""))
		goto out;

	/* Its sockets are in repair mode: they close without a FIN or an RST. */
	if (tf_proc_kill(pidfd, o->pid))
		mv_warn("migrate move: pid %d: %s; kill it by hand", o->pid, tf_strerror());
	dropped_from = conn_locks_dropped(&dj.locks);
	conn_locks_release(&dj.locks, true);
	t[P_N] = mv_now_ms();
	mark(o->work, "retired", "");

	for (int i = 0; i < P_N; i++)
		ms[i] = t[i + 1] - t[i];
	/* Locked from the dump's first lock to the target's unlock. */
	write_times(o->work, ms, t[P_NUDGE] - t[P_DUMP]);
	restore_log_append(&rj);
	*res = (struct move_result){ .to_pid = to_pid, .connections = rj.ix.n, .nudged = nudged,
				     .dropped_from = dropped_from, .dropped_to = dropped_to,
				     .locked_window_ms = t[P_NUDGE] - t[P_DUMP] };
	memcpy(res->ms, ms, sizeof(res->ms));
	ret = 0;
	goto out;

undo:
	/* Nothing has moved: put it all back at the source.  The target's
	 * sockets are still in repair mode: closing them sends nothing. */
	for (int i = 0; i < rj.built; i++)
		close(rj.r[i].fd);
	rj.built = 0;
	unlink(dst);
	dump_job_undo(&dj);
unlock_target:
	conn_locks_release(&rj.locks, true);
	rmdir(src);	/* made by the dump, empty again */
	mv_info("tcpferry: migrate move: nothing moved; pid %d goes on at the source", o->pid);
	goto out;
stuck:
	mv_info("tcpferry: migrate move: the connections are %s at the target and stay locked on both hosts "
		 "(expiry %ld s); go on with tools/migrate.sh --work %s (restore, flip, unlock, retire) or roll back",
		 live ? "live" : "built", o->ttl, o->work);
out:
	if (flip > 0)
		waitpid(flip, NULL, 0);
	tf_route_close(&route);
	if (handoff >= 0)
		close(handoff);
	for (int i = 0; live && i < rj.built; i++)
		close(rj.r[i].fd);
	restore_job_free(&rj);
	dump_job_free(&dj);
	if (pidfd >= 0)
		close(pidfd);
	if (from_ns >= 0)
		close(from_ns);
	if (to_ns >= 0)
		close(to_ns);
	return ret;
}
