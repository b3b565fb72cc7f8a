// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry migrate move: a whole move between two network namespaces of this
 * machine.  It is the move between hosts (send.c and receive.c, the protocol
 * of proto.h) with a channel that happens to be local: this process runs the
 * source's side (move_send) in PID's namespace, and a child it forks runs the
 * target's side (move_receive) in --to-netns, the two joined by a socketpair.
 * What is here is the glue: the namespaces entered, the channel built, the
 * options mapped, tools/migrate.sh's work directory kept.
 *
 * Why a forked child and a socketpair, not a thread or direct calls: the
 * target's side is then exactly what `tcpferry receive` runs on another
 * host, with its own network namespace (setns is per thread, but the
 * engine's error text and fault points are per process), its own fds and
 * its own death: if either side dies, the other sees the channel close and
 * the protocol's rules apply (before COMMIT the source resumes; after it, the
 * move is in doubt and the journals say how it ended).  The fork and the
 * target's attach and locks happen at prepare, before anything is frozen;
 * inside the pause the channel costs four messages over a unix socketpair
 * (the dump's stream, BUILT, COMMIT, COMMITTED: a few tens of microseconds)
 * and no program start.
 *
 *   freeze   PID stopped at an idle moment (freeze.h)
 *   dump     locked on the source (--from-bpffs), repair mode, read
 *   restore  the images streamed to the target, which validates them and
 *            rebuilds the sockets in repair mode (every tuple was locked
 *            there, --to-bpffs, before the freeze); meanwhile the source
 *            writes the same dump to WORK/src (WORK/dst points at it)
 *   route    --route PREFIX --via ADDR: the route replaced through rtnetlink
 *            (in --route-netns)
 *   flip     --flip's shell command (any other way of moving the traffic)
 *   live     COMMIT: the target's sockets out of repair, CMD started with
 *            them (or a running receiver fed: --send-to), WORK/to.pid written
 *   unlock   the target's locks dropped
 *   nudge    each peer nudged (nudge.h); COMMITTED back at the source
 *   retire   PID killed (its sockets are in repair mode: it sends nothing),
 *            the source's locks dropped
 *
 * The work directory is tools/migrate.sh's, with the same marks (src, dst,
 * to.pid, unlocked, retired) and the two sides' journals (WORK/sent,
 * WORK/received), so a move cut short by a crash goes on with its steps or
 * its rollback; the phase times go to WORK/times ("PHASE<TAB>MS").  Any
 * failure before COMMIT is undone by the engine: the target's sockets
 * closed (still in repair: silently), the source's sockets out of repair,
 * its locks dropped, PID continued.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal.h"
#include "migrate_move.h"
#include "netns.h"
#include "phase.h"
#include "receive.h"
#include "report.h"
#include "route.h"
#include "send.h"

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

/*
 * The target's side: a child in the target's namespace running what
 * `tcpferry receive` runs, on its end of the channel.  Its result (and the
 * times of its commit) land in res, shared with us.  Its pid, or -1.
 */
static pid_t start_target(const struct move_opts *o, int to_ns, int chan, int ours, const char *work,
			  struct receive_result *res)
{
	char journal[4096], pid_file[4096], src[4096];
	/* Its longest wait is for the dump: the freeze may take all of --timeout-ms. */
	struct receive_opts ro = { .in = chan, .out = chan, .bpffs = o->to_bpffs,
				   .timeout_ms = (int)(o->freeze_timeout_ms + 30000), .output = -1,
				   .journal_dir = journal, .pid_file = pid_file, .log_dir = src };
	pid_t p;

	snprintf(journal, sizeof(journal), "%.4000s/received", work);
	snprintf(pid_file, sizeof(pid_file), "%.4000s/to.pid", work);
	snprintf(src, sizeof(src), "%.4000s/src", work);
	fflush(NULL);
	p = fork();
	if (p < 0)
		return mv_error("migrate move: the target's side: fork: %s", strerror(errno)), -1;
	if (p > 0)
		return p;
	close(ours);
	/* Its lines on stderr as they are (stdout is the command's JSON). */
	mv_report_to_stderr();
	if (setns(to_ns, CLONE_NEWNET)) {
		mv_error("migrate move: entering the target's network namespace %s: %s", o->to_netns,
			 strerror(errno));
		_exit(1);
	}
	close(to_ns);
	mv_phase_restart();
	p = move_receive(&ro, res);
	mv_phase_report();	/* TCPFERRY_PHASES: the target's side */
	_exit(p ? 1 : 0);
}

/* migrate move's phases from the two sides' clocks (one machine: one CLOCK_MONOTONIC). */
static void phases(const struct send_result *s, const struct receive_result *r, double *ms, double *window)
{
	double at[P_N + 1] = {
		[P_FREEZE] = s->at[S_FREEZE], [P_DUMP] = s->at[S_DUMP], [P_RESTORE] = s->at[S_SEND],
		[P_ROUTE] = s->at[S_FLIP],    [P_FLIP] = s->routed_at,  [P_LIVE] = s->at[S_COMMIT],
		[P_UNLOCK] = r->unlock_at,    [P_NUDGE] = r->nudge_at,  [P_RETIRE] = s->at[S_RETIRE],
		[P_N] = s->at[S_N],
	};

	for (int i = 0; i < P_N; i++)
		ms[i] = at[i + 1] - at[i];
	/* Locked from the dump's first lock to the target's unlock. */
	*window = at[P_NUDGE] - at[P_DUMP];
}

int migrate_move(const struct move_opts *o, struct move_result *res)
{
	char src[4096], dst[4096], sent[4096], received[4096], num[32];
	struct tf_route_change route = { .nl = -1 };
	struct send_opts so = {
		.pid = o->pid, .what = "migrate move", .bpffs = o->from_bpffs, .journal_dir = sent,
		.flip = o->flip, .ttl = o->ttl, .freeze_timeout_ms = o->freeze_timeout_ms,
		.timeout_ms = 30000, .nudge = o->nudge, .probe = true, .cmd = o->cmd, .send_to = o->send_to,
		.keep_dir = src, .target_journal = received,
	};
	struct send_result sr;
	struct receive_result *rr = MAP_FAILED;
	int from_ns = -1, to_ns = -1, sv[2] = { -1, -1 }, ret = 1, err, st;
	pid_t target = -1;
	double ms[P_N], window;

	snprintf(src, sizeof(src), "%.4000s/src", o->work);
	snprintf(dst, sizeof(dst), "%.4000s/dst", o->work);
	snprintf(sent, sizeof(sent), "%.4000s/sent", o->work);
	snprintf(received, sizeof(received), "%.4000s/received", o->work);
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
		so.route = &route;
	}
	rr = mmap(NULL, sizeof(*rr), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rr == MAP_FAILED) {
		mv_error("migrate move: no memory: %s", strerror(errno));
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		mv_error("migrate move: the channel: socketpair: %s", strerror(errno));
		goto out;
	}
	target = start_target(o, to_ns, sv[1], sv[0], o->work, rr);
	close(sv[1]);
	if (target < 0) {
		close(sv[0]);
		goto out;
	}
	/* The sockets are found, dumped and retired in the source's namespace
	 * (its devices, its sock_diag). */
	if (setns(from_ns, CLONE_NEWNET)) {
		mv_error("migrate move: entering the source's network namespace: %s; nothing moved",
			 strerror(errno));
		close(sv[0]);	/* the target sees the channel close before HELLO */
		goto out;
	}
	so.channel = sv[0];	/* move_send closes it */
	err = move_send(&so, &sr);
	while (waitpid(target, &st, 0) < 0 && errno == EINTR)
		;
	target = -1;
	if (err)
		goto out;

	symlink("src", dst);	/* the carry, as tools/migrate.sh's steps see it */
	mark(o->work, "unlocked", "");
	mark(o->work, "retired", "");
	phases(&sr, rr, ms, &window);
	write_times(o->work, ms, window);
	*res = (struct move_result){ .to_pid = sr.to_pid, .connections = sr.connections, .nudged = sr.nudged,
				     .dropped_from = sr.dropped_from, .dropped_to = sr.dropped_to,
				     .locked_window_ms = window };
	memcpy(res->ms, ms, sizeof(res->ms));
	ret = 0;
out:
	if (target > 0)
		waitpid(target, NULL, 0);
	if (rr != MAP_FAILED)
		munmap(rr, sizeof(*rr));
	tf_route_close(&route);
	if (from_ns >= 0)
		close(from_ns);
	if (to_ns >= 0)
		close(to_ns);
	return ret;
}
