// SPDX-License-Identifier: BSD-2-Clause
/*
 * The source's side of a move between hosts (see send.h; proto.h has the
 * protocol).
 *
 *   connect   sh -c VIA started on a socketpair; HELLO, WELCOME
 *   prepare   the sockets listed and identified, this host's lock table and
 *             programs ready; PREPARE (the tuples, the hand-over) and the
 *             target's PREPARED: it has attached and locked every tuple
 *   freeze    the process stopped at an idle moment (freeze.h)
 *   dump      locked here, repair mode, read: the images in memory
 *   send      INDEX and each CONN over the channel
 *   build     the target's BUILT: its sockets rebuilt, still in repair
 *   flip      the user's --flip moves the traffic
 *   commit    COMMIT sent, the target's COMMITTED: live there, unlocked,
 *             nudged
 *   retire    the process killed (its sockets in repair: no FIN, no RST),
 *             the locks here dropped; DONE
 *
 * Anything that fails before COMMIT is sent puts the move back here: ABORT
 * to the target (saying whether --flip ran), --unflip if --flip ran, the
 * dump undone (repair off, unlocked, the process continued).  After COMMIT
 * the source is never resumed, except when the target answers that it kept
 * nothing (leaving repair failed there).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "dump_job.h"
#include "fault.h"
#include "flip.h"
#include "freeze.h"
#include "journal.h"
#include "phase.h"
#include "proc.h"
#include "route.h"
#include "report.h"
#include "send.h"
#include "stream.h"

const char *const send_phase_name[S_N] = { "connect", "prepare", "freeze", "dump",  "send",
					   "build",   "flip",    "commit", "retire" };

struct source {
	const struct send_opts *o;
	struct mv_chan ch;
	pid_t via;			/* the channel's command */
	struct mv_journal jn;
	struct dump_job dj;
	char id[MV_ID_LEN];
	char name[MV_ID_LEN + 32];	/* "migrate send ID": the command and the move, in messages */
	bool flipped;
	int64_t skew_ns;		/* the target's clock minus ours, at most (PREPARE) */
	char why[1024];			/* a step's failure, not reported yet (failed()) */
};

/*
 * A step of this file failed: what and why kept for the move's one error,
 * which adds what became of the move and the way out (move_send).  A step
 * of the engine below (dump, freeze, flip) reports its own error.  Returns 1.
 */
static int failed(struct source *s, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failed(struct source *s, int err, const char *fmt, ...)
{
	const char *detail = tf_strerror();
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!err)
		snprintf(s->why, sizeof(s->why), "%s", what);
	else
		snprintf(s->why, sizeof(s->why), "%s: %s", what,
			 detail && *detail ? detail : strerror(err < 0 ? -err : err));
	return 1;
}

/* A move's id: this host, the process, the time; what a journal file may be called. */
static void make_id(char *id, size_t len, pid_t pid)
{
	char host[64] = "";
	struct timespec t;

	gethostname(host, sizeof(host) - 1);
	for (char *s = host; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      *s == '-' || *s == '.'))
			*s = '_';
	clock_gettime(CLOCK_REALTIME, &t);
	snprintf(id, len, "%.24s-%d-%llx", host[0] && host[0] != '.' ? host : "host", pid,
		 (unsigned long long)t.tv_sec * 1000 + t.tv_nsec / 1000000);
}

/* sh -c VIA (channel.h).  Without --via the caller's channel (migrate move's socketpair). */
static int start_channel(struct source *s)
{
	int err;

	if (!s->o->via) {
		s->ch = (struct mv_chan){ .in = s->o->channel, .out = s->o->channel, .timeout_ms = s->o->timeout_ms };
		return 0;
	}
	err = mv_chan_start(s->o->via, s->o->timeout_ms, &s->ch, &s->via);
	if (err)
		return mv_lib_error(err, "migrate send: --via");
	return 0;
}

static void stop_channel(struct source *s)
{
	mv_chan_stop(&s->ch, &s->via);
}

static int connect_target(struct source *s, struct send_result *res)
{
	struct mv_hello h = { .version = fault_fails("send-bad-version") ? 99 : MV_PROTO_VERSION };
	struct mv_welcome w;
	struct timespec t;
	int err;

	snprintf(h.id, sizeof(h.id), "%s", s->id);
	gethostname(h.host, sizeof(h.host) - 1);
	clock_gettime(CLOCK_REALTIME, &t);
	h.realtime_ns = (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec;
	err = mv_send_hello(&s->ch, &h);
	if (!err)
		err = mv_recv_welcome(&s->ch, &w);
	clock_gettime(CLOCK_REALTIME, &t);
	/* The target's clock at WELCOME minus ours now: the skew, less one way of the channel. */
	s->skew_ns = (int64_t)(w.realtime_ns - ((uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec));
	if (err == -ECONNABORTED)
		return failed(s, err, "%s: the target (%s) refused the move", s->name, s->o->via ? s->o->via : "its channel");
	if (err)
		return failed(s, err, "%s: the target (%s) did not answer", s->name,
			      s->o->via ? s->o->via : "its channel");
	if (w.version != MV_PROTO_VERSION)
		return failed(s, 0, "%s: the target speaks move protocol version %u, this tcpferry %d: "
			      "install the same tcpferry on both hosts", s->name, w.version, MV_PROTO_VERSION);
	snprintf(res->target_host, sizeof(res->target_host), "%s", w.host);
	res->target_features = w.features;
	return 0;
}

/* The sockets found here, and the target locked for them. */
static int prepare(struct source *s)
{
	const struct send_opts *o = s->o;
	char *argv_send_to[2] = { (char *)o->send_to, NULL };
	struct mv_prepare p = { .ttl_s = o->ttl, .skew_ns = s->skew_ns };
	struct mv_reply r;
	int err;

	s->dj.pid = o->pid;
	s->dj.dir = o->keep_dir;	/* the images go over the channel (and there) */
	s->dj.bpffs = o->bpffs;
	s->dj.lock = true;
	s->dj.ttl = o->ttl;
	if (dump_job_collect(&s->dj))
		return 1;
	p.flags = (o->nudge ? MV_PREP_NUDGE : 0) | (o->probe ? 0 : MV_PREP_NO_PROBE) |
		  (o->send_to ? MV_PREP_SEND_TO : 0);
	p.argv = o->send_to ? argv_send_to : o->cmd;
	for (p.argc = 0; p.argv[p.argc]; p.argc++)
		;
	p.ix.pid = o->pid;
	p.ix.n = s->dj.n;
	gethostname(p.ix.host, sizeof(p.ix.host) - 1);
	p.ix.entries = calloc(s->dj.n, sizeof(*p.ix.entries));
	if (!p.ix.entries)
		return failed(s, 0, "%s: prepare: no memory", s->name);
	for (int i = 0; i < s->dj.n; i++) {
		snprintf(p.ix.entries[i].file, sizeof(p.ix.entries[i].file), "conn-%04d.tfc", i + 1);
		p.ix.entries[i].local = s->dj.d[i].conn.local;
		p.ix.entries[i].peer = s->dj.d[i].conn.peer;
	}
	err = mv_send_prepare(&s->ch, &p);
	free(p.ix.entries);
	if (!err)
		err = mv_recv_reply(&s->ch, MV_PREPARED, &r);
	if (err)
		return failed(s, err, "%s: prepare", s->name);
	if (r.status)
		return failed(s, 0, "%s: the target refused: %s", s->name, r.text);
	mv_journal_mark(&s->jn, "prepared", "");
	fault_point("send-prepared");
	return 0;
}

/* The first CONN frame with a bit flipped inside a record (its frame is
 * whole): the target must refuse it by the record's crc (a fault point). */
static int send_corrupt_conn(struct source *s, struct tf_stream_writer *w)
{
	uint8_t *payload;
	size_t len;
	int err = tf_stream_flush(w);

	if (!err)
		err = tf_stream_conn_encode(s->dj.ix.entries[0].file, &s->dj.d[0].conn, &payload, &len);
	if (err)
		return err;
	payload[len / 2] ^= 0x10;
	err = tf_frame_write(s->ch.out, TF_SFR_CONN, TF_STREAM_VERSION, payload, len);
	free(payload);
	return err;
}

/* The dump over the channel, as an image stream (the frames `dump --out -` writes). */
static int send_images(struct source *s)
{
	struct tf_stream_writer w;
	int err;

	err = tf_stream_begin(&w, s->ch.out, &s->dj.ix);
	if (!err && fault_fails("send-corrupt-image"))
		err = send_corrupt_conn(s, &w);
	for (int i = 0; !err && i < s->dj.n; i++)
		err = tf_stream_put_conn(&w, &s->dj.d[i].conn);
	if (!err)
		err = tf_stream_finish(&w);
	tf_stream_writer_free(&w);
	if (err)
		return failed(s, err, "%s: sending the images", s->name);
	fault_point("send-sent");
	return 0;
}

static int wait_built(struct source *s)
{
	struct mv_reply r;
	int err = mv_recv_reply(&s->ch, MV_BUILT, &r);

	if (err)
		return failed(s, err, "%s: build", s->name);
	if (r.status)
		return failed(s, 0, "%s: the target could not rebuild the sockets: %s", s->name, r.text);
	mv_journal_mark(&s->jn, "built", "");
	fault_point("send-built");
	return 0;
}

/* Did the target say anything (or close the channel) since BUILT?  1: the
 * move cannot commit, the reason reported. */
static int channel_spoke(struct source *s)
{
	struct pollfd p = { .fd = s->ch.in, .events = POLLIN };
	struct tf_frame f;
	int err;

	if (poll(&p, 1, 0) <= 0)
		return 0;
	err = mv_recv(&s->ch, MV_COMMITTED, &f);	/* no COMMITTED comes before COMMIT */
	if (!err)
		tf_frame_free(&f);
	return failed(s, err ? err : -EPROTO, "%s: before the commit", s->name);
}

/* Before COMMIT: everything back here. */
static void abort_move(struct source *s, const char *why, bool dumped)
{
	char text[512];

	snprintf(text, sizeof(text), "the source aborted: %s", why);
	if (s->ch.out >= 0 && !s->ch.aborted)
		mv_send_abort(&s->ch, s->flipped, text);
	if (s->flipped) {
		/* The route we changed goes back as it was; a --flip needs its --unflip. */
		const char *left = NULL;

		if (s->o->route && tf_route_undo(s->o->route))
			left = tf_strerror();
		if (!left && s->o->flip && !(s->o->unflip && !flip_run(s->o->unflip, "migrate send: --unflip")))
			left = s->o->unflip ? "--unflip failed" : "nothing moves it back (no --unflip)";
		if (!left)
			s->flipped = false;
		else
			mv_warn("%s: the traffic was flipped to the target and %s: move it back by "
				"hand; the target's locks drop its packets until then (expiry %ld s)", s->name, left,
				s->o->ttl);
	}
	if (dumped)
		dump_job_undo(&s->dj);
	else
		conn_locks_release(&s->dj.locks, false);
	mv_journal_mark(&s->jn, "aborted", why);
}

/* The commit's answer was lost: nobody here knows whether the target has the sockets. */
static void in_doubt(struct source *s, struct send_result *res, const char *why)
{
	char dir[4096], ask[4200];
	int err = 0;

	res->in_doubt = true;
	/* What resume needs (SO_REUSEADDR, the tuples), written only now: off
	 * the pause (with keep_dir it is there already). */
	if (s->o->keep_dir)
		snprintf(dir, sizeof(dir), "%s", s->o->keep_dir);
	else
		snprintf(dir, sizeof(dir), "%.3000s/%.60s", s->o->journal_dir, s->id);
	if (!s->o->keep_dir && mkdir(dir, 0700) && errno != EEXIST)
		err = -errno;
	for (int i = 0; !s->o->keep_dir && !err && i < s->dj.n; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%.3900s/%.63s", dir, s->dj.ix.entries[i].file);
		err = tf_image_write(path, &s->dj.d[i].conn);
	}
	if (!s->o->keep_dir && !err)
		err = tf_index_write(dir, &s->dj.ix);
	if (s->o->target_journal)
		snprintf(ask, sizeof(ask), "tcpferry receive --status %s --journal %s", s->id, s->o->target_journal);
	else
		snprintf(ask, sizeof(ask), "(where --via reached): tcpferry receive --status %s", s->id);
	mv_journal_mark(&s->jn, "in-doubt", why);
	mv_error("%s: the move is in doubt: COMMIT was sent but the target's answer was lost "
		 "(%s). pid %d stays stopped, its connections locked here (expiry %ld s). Ask the target "
		 "%s. If it says committed: kill -KILL %d (its "
		 "sockets close silently) and the locks expire; otherwise: tcpferry resume --pid %d --in %s%s",
		 s->name, why, s->o->pid, s->o->ttl, ask, s->o->pid, s->o->pid, dir,
		 err ? " (writing that dump failed: resume without --in)" : "");
}

int move_send(const struct send_opts *o, struct send_result *res)
{
	struct source s = { .o = o, .via = -1, .jn = { .fd = -1 }, .ch = { .in = -1, .out = -1 } };
	double *t = res->at;
	struct mv_reply r;
	int tries, err, ret = 1;

	memset(res, 0, sizeof(*res));
	make_id(s.id, sizeof(s.id), o->pid);
	snprintf(s.name, sizeof(s.name), "%s %s", o->what ? o->what : "migrate send", s.id);
	snprintf(res->id, sizeof(res->id), "%s", s.id);
	s.dj.pidfd = tf_proc_open(o->pid);
	if (s.dj.pidfd < 0) {
		if (!o->via)
			close(o->channel);
		return mv_lib_error(s.dj.pidfd, "%s: pid %d", o->what ? o->what : "migrate send", o->pid);
	}
	err = mv_journal_open(&s.jn, o->journal_dir, s.id);
	if (err) {
		mv_lib_error(err, "%s", s.name);
		if (!o->via)
			close(o->channel);
		goto out;
	}
	t[S_CONNECT] = mv_now_ms();
	if (start_channel(&s) || connect_target(&s, res))
		goto fail_early;
	t[S_PREPARE] = mv_now_ms();
	mv_phase("connect");
	if (prepare(&s))
		goto fail_early;

	t[S_FREEZE] = mv_now_ms();
	mv_phase("prepare");
	if (freeze_idle(s.dj.pidfd, o->pid, o->freeze_timeout_ms, &tries))
		goto fail_early;
	t[S_DUMP] = mv_now_ms();
	mv_phase("freeze");
	if (dump_job_read(&s.dj))	/* undone if it fails: the process goes on */
		goto fail_early;
	mv_journal_mark(&s.jn, "dumped", "");
	mv_phase("journal");
	t[S_SEND] = mv_now_ms();
	if (send_images(&s))
		goto fail;
	mv_phase("send");
	/* The copy on disk (keep_dir) while the target validates and builds. */
	if (dump_job_write(&s.dj))
		goto fail_undone;
	t[S_BUILD] = mv_now_ms();
	if (wait_built(&s))
		goto fail;
	mv_phase("wait-built");
	t[S_FLIP] = mv_now_ms();
	if (o->route) {
		err = tf_route_apply(o->route);
		if (err) {	/* refused by netlink: the route has not changed */
			mv_lib_error(err, "%s", s.name);
			goto fail;
		}
		s.flipped = true;
		mv_journal_mark(&s.jn, "routed", "");
	}
	res->routed_at = mv_now_ms();
	mv_phase("route");
	if (o->flip) {
		s.flipped = true;	/* in part, perhaps, even when it fails */
		if (flip_run(o->flip, o->what ? o->what : "migrate send"))
			goto fail;
		mv_journal_mark(&s.jn, "flipped", "");
	}
	fault_point("send-flipped");

	/* The target said nothing since BUILT: anything it did say (an ABORT,
	 * or the channel closing as it died) means it cannot commit. */
	if (channel_spoke(&s))
		goto fail;

	/* The point of no return. */
	t[S_COMMIT] = mv_now_ms();
	mv_journal_mark(&s.jn, "committing", "");
	err = mv_send(&s.ch, MV_COMMIT, NULL, 0);
	if (err) {	/* not written whole: the target cannot have read it */
		failed(&s, err, "%s: commit", s.name);
		goto fail;
	}
	fault_point("send-committing");
	mv_phase("commit-sent");
	err = mv_recv_reply(&s.ch, MV_COMMITTED, &r);
	mv_phase("wait-committed");
	if (err) {
		in_doubt(&s, res, tf_strerror());
		goto out;
	}
	if (r.status && r.count == 0) {
		/* The target kept nothing: the connections are only here. */
		failed(&s, 0, "%s: the target failed at the commit and kept nothing: %s", s.name, r.text);
		s.ch.aborted = true;	/* nothing more to tell it */
		abort_move(&s, "the target kept nothing", true);
		goto said;
	}
	if (r.status) {
		mv_error("%s: the target failed after the commit: %s; pid %d stays stopped and "
			 "locked: see the target's error", s.name, r.text, o->pid);
		mv_journal_mark(&s.jn, "in-doubt", r.text);
		res->in_doubt = true;
		goto out;
	}
	mv_journal_mark(&s.jn, "committed", "");
	res->to_pid = r.pid;
	res->connections = s.dj.n;
	res->nudged = r.nudged;
	res->dropped_to = r.dropped;

	t[S_RETIRE] = mv_now_ms();
	if (tf_proc_kill(s.dj.pidfd, o->pid))
		mv_warn("%s: pid %d: %s; kill it by hand", s.name, o->pid, tf_strerror());
	res->dropped_from = conn_locks_dropped(&s.dj.locks);
	conn_locks_release(&s.dj.locks, true);
	mv_journal_mark(&s.jn, "retired", "");
	mv_send(&s.ch, MV_DONE, NULL, 0);
	t[S_N] = mv_now_ms();
	mv_phase("retire");
	for (int i = 0; i < S_N; i++)
		res->ms[i] = t[i + 1] > 0 ? t[i + 1] - t[i] : 0;
	res->locked_window_ms = t[S_RETIRE] - t[S_DUMP];
	ret = 0;
	goto out;

fail:
	abort_move(&s, s.why[0] ? s.why : tf_strerror()[0] ? tf_strerror() : "see the error above", true);
	goto said;
fail_early:
	/* Nothing frozen (or the dump undone itself): tell the target, drop what we hold. */
	image_sink_undo(&s.dj.sink);
fail_undone:
	abort_move(&s, s.why[0] ? s.why : tf_strerror()[0] ? tf_strerror() : "see the error above", false);
said:
	/* One error: what failed, what became of the move, the way out. */
	if (s.why[0])
		mv_error("%s; nothing moved: pid %d goes on at the source; "
			 "move it again once that is fixed", s.why, o->pid);
	else
		mv_info("tcpferry: %s: nothing moved; pid %d goes on at the source", s.name, o->pid);
out:
	stop_channel(&s);
	mv_journal_close(&s.jn);
	dump_job_free(&s.dj);
	if (s.dj.pidfd >= 0)
		close(s.dj.pidfd);
	return ret;
}
