// SPDX-License-Identifier: BSD-2-Clause
/*
 * The target's side of a move (see receive.h and proto.h for the states).
 *
 *   hello      versions, features and clocks exchanged; the source's clock
 *              against ours gives the skew that the restore's timestamp
 *              rule needs (its elapsed time is taken on one clock)
 *   prepare    every local address checked to be here, the hand-over checked
 *              (the program exists, or the receiver's socket answers), the
 *              lock programs attached and every tuple locked: all before the
 *              source freezes anything
 *   receive    the index and each image, every one validated
 *   build      each socket rebuilt in repair mode (it sends nothing)
 *   commit     out of repair, handed over, unlocked, peers nudged
 *
 * Before COMMIT, anything that goes wrong (here, at the source, or the
 * channel) ends the move here: the built sockets are closed (silently: still
 * in repair) and the source resumes.  Our locks then stay to their expiry,
 * unless the source said its --flip had not run (no packet of these tuples
 * comes here: they are dropped at once).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "internal.h"	/* tf_endpoint_wire_v4, tf_address_check */
#include "fault.h"
#include "handoff.h"
#include "handover.h"
#include "journal.h"
#include "nudge.h"
#include "phase.h"
#include "proto.h"
#include "receive.h"
#include "report.h"
#include "restore_job.h"
#include "restore_log.h"
#include "stream.h"

static uint64_t realtime_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec;
}

static uint32_t features(void)
{
	struct utsname u;
	int ma = 0, mi = 0;
	uint32_t f = 0;

	if (!tf_tc_want_clsact())
		f |= MV_FEAT_TCX;
	if (!uname(&u) && sscanf(u.release, "%d.%d", &ma, &mi) == 2 && (ma > 6 || (ma == 6 && mi >= 7)))
		f |= MV_FEAT_USEC_TS;
	return f;
}

struct target {
	const struct receive_opts *o;
	struct mv_chan ch;
	struct mv_journal jn;
	struct mv_hello hello;
	int64_t skew_ns;		/* our clock minus the source's (plus one way of the channel) */
	struct mv_prepare prep;
	struct restore_job rj;
	int handoff;			/* the running receiver (MV_PREP_SEND_TO) */
	bool built_sent;		/* BUILT sent: the source may flip from now on */
	bool told;			/* the source heard why this side stopped */
	char id[MV_ID_LEN];
};

/* Report the error here and, as an ABORT, to the source; returns 1. */
static int refuse(struct target *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(struct target *t, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	mv_error("receive %s: %s", t->id, text);
	if (!t->ch.aborted && mv_send_abort(&t->ch, false, text) == 0)
		t->told = true;
	return 1;
}

/* A step's error with the library's detail, reported and told; returns 1. */
static int refuse_lib(struct target *t, int err, const char *what)
{
	const char *detail = tf_strerror();

	return refuse(t, "%s: %s", what, detail && *detail ? detail : strerror(-err));
}

static int step_hello(struct target *t)
{
	struct mv_welcome w = { .version = MV_PROTO_VERSION, .features = features(),
				.pid = getpid() };
	int err;

	err = mv_recv_hello(&t->ch, &t->hello);
	if (err) {
		/* A damaged or foreign HELLO: the source hears why (a closed channel hears nothing). */
		if (err != -ENODATA && err != -EPIPE && err != -ECONNABORTED) {
			char text[512];

			snprintf(text, sizeof(text), "no move started: %s", tf_strerror());
			mv_send_abort(&t->ch, false, text);
			return mv_error("receive: %s", text);
		}
		return mv_lib_error(err, "receive: no move started");
	}
	t->skew_ns = (int64_t)(realtime_ns() - t->hello.realtime_ns);
	snprintf(t->id, sizeof(t->id), "%s", t->hello.id);
	if (t->hello.version != MV_PROTO_VERSION) {
		char text[200];

		snprintf(text, sizeof(text), "move protocol version %u; this tcpferry speaks version %d: "
			 "install the same tcpferry on both hosts", t->hello.version, MV_PROTO_VERSION);
		mv_send_abort(&t->ch, false, text);
		return mv_error("receive %s: %s", t->id, text);
	}
	err = mv_journal_open(&t->jn, t->o->journal_dir, t->id);
	if (err) {
		mv_send_abort(&t->ch, false, tf_strerror());
		return mv_lib_error(err, "receive %s", t->id);
	}
	mv_journal_mark(&t->jn, "hello", t->hello.host);
	gethostname(w.host, sizeof(w.host) - 1);
	w.realtime_ns = realtime_ns();
	err = mv_send_welcome(&t->ch, &w);
	if (err)
		return mv_lib_error(err, "receive %s", t->id);
	fault_point("receive-hello");
	mv_phase("hello");
	return 0;
}

/* The i-th entry of an index as a connection (its tuple is all the owner check reads). */
static const struct tf_conn *entry_at(void *arg, size_t i, const char **name)
{
	static struct tf_conn c;
	const struct tf_index *ix = arg;

	c = (struct tf_conn){ .local = ix->entries[i].local, .peer = ix->entries[i].peer };
	if (name)
		*name = NULL;
	return &c;
}

/* Does this host let the sockets go where PREPARE says (receive --allow)? */
static bool allowed(const struct receive_opts *o, const struct mv_prepare *p)
{
	const char *const *list = p->flags & MV_PREP_SEND_TO ? o->allow_send_to : o->allow_exec;

	if (!o->allow_exec && !o->allow_send_to)
		return true;
	for (; list && *list; list++)
		if (!strcmp(*list, p->argv[0]))
			return true;
	return false;
}

static int step_prepare(struct target *t)
{
	struct mv_prepare *p = &t->prep;
	char l[TF_ADDRSTRLEN], r[TF_ADDRSTRLEN], why[1024];
	struct mv_reply ok = {};
	int err;

	err = mv_recv_prepare(&t->ch, p);
	if (err)
		return refuse_lib(t, err, "prepare");
	for (uint32_t i = 0; i < p->ix.n; i++) {
		const struct tf_index_entry *e = &p->ix.entries[i];

		uint8_t v4[4];
		/* --freebind does not help IPv4: the kernel routes an IPv4 connect
		 * only from a local address (restore's --freebind, tcpferry(8)). */
		bool ipv4 = tf_endpoint_wire_v4(&e->local, v4);

		if ((!t->o->freebind || ipv4) && (err = tf_address_check(&e->local)))
			return refuse(t, "%s -> %s: the local address is not on this host "
				      "(%s); add it before the move%s",
				      tf_endpoint_str(&e->local, l, sizeof(l)),
				      tf_endpoint_str(&e->peer, r, sizeof(r)), strerror(-err),
				      ipv4 ? " (an IPv4 connect needs it here, even with --freebind)"
					   : ", or use receive --freebind");
	}
	if (!allowed(t->o, p)) {
		return refuse(t, "%s %s is not one that this host's receive allows (--allow%s); the source "
			      "must name one of those", p->flags & MV_PREP_SEND_TO ? "the receiver" : "the program",
			      p->argv[0], p->flags & MV_PREP_SEND_TO ? "-send-to" : "");
	} else if (p->flags & MV_PREP_SEND_TO) {
		t->handoff = tf_handoff_connect(p->argv[0]);
		if (t->handoff < 0)
			return refuse(t, "the receiver %s: %s", p->argv[0], tf_strerror());
	} else if ((err = tf_handoff_exec_check(p->argv))) {
		return refuse(t, "the program to hand the sockets to: %s", tf_strerror());
	}
	/* A tuple a live socket here owns: a lock would drop its packets, and
	 * the build could not take the tuple anyway. */
	err = conn_owners_find(p->ix.n, entry_at, &p->ix, "nothing was locked here", why, sizeof(why));
	if (err > 0)
		return refuse(t, "%s", why);
	if (err < 0)
		mv_warn("receive %s: %s; going on", t->id, why);
	/* Locked before the source freezes: the peers' packets meet a lock here
	 * as soon as the traffic moves, and attaching costs them nothing now. */
	t->rj.locks.bpffs = t->o->bpffs;
	for (uint32_t i = 0; i < p->ix.n; i++) {
		struct tf_conn c = { .local = p->ix.entries[i].local, .peer = p->ix.entries[i].peer };

		if (conn_locks_add(&t->rj.locks, &c, TF_LOCK_RESTORE, (uint64_t)p->ttl_s * 1000000000ull))
			return refuse(t, "lock %s -> %s: %s",
				      tf_endpoint_str(&c.local, l, sizeof(l)), tf_endpoint_str(&c.peer, r, sizeof(r)),
				      tf_strerror());
	}
	mv_journal_mark(&t->jn, "prepared", "");
	ok.count = p->ix.n;
	err = mv_send_reply(&t->ch, MV_PREPARED, &ok);
	if (err)
		return mv_lib_error(err, "receive %s", t->id);
	fault_point("receive-prepared");
	mv_phase("prepare");
	return 0;
}

/* The dump, an image stream: all of it validated (END included) before anything is built. */
static int step_images(struct target *t)
{
	struct restore_job *rj = &t->rj;
	struct tf_stream_reader sr;
	struct tf_conn *conns = NULL;
	struct tf_frame f;
	uint64_t at = 0, off = 0;	/* the frame's offset in the dump, the next one's */
	bool reading = false;		/* the error came from reading the frame, not from its checks */
	int err = 0;

	tf_stream_reader_init(&sr);
	while (err == 0) {
		at = off;
		err = mv_recv_frame(&t->ch, "the dump", TF_STREAM_FRAME_MAX, &f);
		if (err) {
			reading = true;
			break;
		}
		mv_phase(sr.frames ? "stream" : "wait-stream");
		off += TF_FRAME_HDR_LEN + (uint64_t)f.len;
		err = tf_stream_reader_feed(&sr, &f);
		tf_frame_free(&f);
	}
	if (err == 1)
		err = tf_stream_reader_take(&sr, &rj->ix, &conns);
	else if (err != -ECONNABORTED)	/* the frame being read is one past those fed */
		tf_error_prefix("the dump's frame %u at offset %llu", sr.frames + reading, (unsigned long long)at);
	tf_stream_reader_free(&sr);
	if (err)
		return refuse_lib(t, err, "the dump");
	rj->r = calloc(rj->ix.n ? rj->ix.n : 1, sizeof(*rj->r));
	if (!rj->r) {
		tf_stream_conns_free(conns, rj->ix.n);
		return refuse(t, "no memory for %u connections", rj->ix.n);
	}
	for (uint32_t i = 0; i < rj->ix.n; i++) {
		struct restored *r = &rj->r[i];
		const char *file = rj->ix.entries[i].file;

		r->fd = -1;
		r->conn = conns[i];	/* its buffers move over */
		snprintf(r->name, sizeof(r->name), "%.*s", (int)strcspn(file, "."), file);
		/* Its dump time on our clock: the elapsed time is then ours alone. */
		r->conn.dump_time_ns += t->skew_ns;
	}
	free(conns);
	mv_phase("stream-take");
	mv_journal_mark(&t->jn, "received", "");
	fault_point("receive-received");
	mv_phase("journal");
	return 0;
}

static int step_build(struct target *t)
{
	struct mv_reply ok = {};
	int err;

	t->rj.dir = t->id;
	t->rj.bpffs = t->o->bpffs;
	t->rj.lock = false;		/* locked at prepare */
	t->rj.owners_checked = true;	/* there too, before the locks */
	t->rj.ro.freebind = t->o->freebind;
	if (restore_job_build(&t->rj))
		return refuse(t, "rebuilding the sockets failed: %s", tf_strerror());
	mv_journal_mark(&t->jn, "built", "");
	fault_point("receive-built");
	mv_phase("journal");
	ok.count = t->rj.built;
	err = mv_send_reply(&t->ch, MV_BUILT, &ok);
	if (err)
		return mv_lib_error(err, "receive %s", t->id);
	mv_phase("built-sent");
	t->built_sent = true;
	return 0;
}

/* COMMITTED with an error: count, the sockets kept here (0: the source may resume). */
static int fail_commit(struct target *t, uint32_t count, const char *text)
{
	struct mv_reply r = { .status = -EIO, .count = count };

	snprintf(r.text, sizeof(r.text), "%s", text);
	mv_error("receive %s: %s", t->id, text);
	mv_send_reply(&t->ch, MV_COMMITTED, &r);
	return 1;
}

/* PATH: the pid who has the sockets, for an orchestrator; a warning if it cannot be written. */
static void write_pid(struct target *t, const char *path, pid_t pid)
{
	FILE *f = fopen(path, "w");
	bool failed = !f || fprintf(f, "%d\n", pid) < 0;

	if (f && fclose(f))
		failed = true;
	if (failed)
		mv_warn("receive %s: %s: %s (pid %d has the sockets)", t->id, path, strerror(errno), pid);
}

/*
 * Between leaving repair and the hand-over the sockets are live and only
 * ours: if this tcpferry dies there, closing them must not leave FIN_WAIT1
 * orphans, which hold the tuples (a retry here is refused) and send their FIN
 * to the peer once the locks expire.  SO_LINGER {1, 0} makes that close an
 * RST, which our locks drop, and frees the tuples at once; each socket gets
 * its own SO_LINGER (the image's, set by the build) back before it is handed
 * over.  saved: one per socket; set: true to abort, false to put back.
 */
static void linger_abortive(struct restore_job *rj, struct linger *saved, bool set)
{
	for (uint32_t i = 0; saved && i < rj->ix.n; i++) {
		struct linger abort = { .l_onoff = 1, .l_linger = 0 };
		socklen_t len = sizeof(saved[i]);

		if (set && getsockopt(rj->r[i].fd, SOL_SOCKET, SO_LINGER, &saved[i], &len))
			saved[i] = (struct linger){};
		if (setsockopt(rj->r[i].fd, SOL_SOCKET, SO_LINGER, set ? &abort : &saved[i], sizeof(abort)))
			mv_warn("receive: %s: SO_LINGER: %s", rj->r[i].name, strerror(errno));
	}
}

/* After COMMIT: the sockets are ours whatever happens to the channel. */
static int step_commit(struct target *t, struct receive_result *res)
{
	struct restore_job *rj = &t->rj;
	struct tf_nudger nudger = TF_NUDGER_INIT;
	struct mv_reply done = {};
	char **argv = t->prep.argv;
	struct linger *linger = calloc(rj->ix.n ? rj->ix.n : 1, sizeof(*linger));
	pid_t to;

	mv_phase("wait-commit");
	mv_journal_mark(&t->jn, "committing", "");
	fault_point("receive-committing");
	mv_phase("journal");
	res->live_at = mv_now_ms();
	linger_abortive(rj, linger, true);
	if (restore_job_live(rj, !(t->prep.flags & MV_PREP_NO_PROBE))) {
		/* Back in repair and closed: nothing of them reached a peer.
		 * The locks stay, so the source can take them back. */
		free(linger);
		restore_job_discard(rj);
		mv_journal_mark(&t->jn, "aborted", "leaving repair mode failed; no socket kept");
		return fail_commit(t, 0, "leaving repair mode failed; no socket kept here, the source may resume");
	}
	linger_abortive(rj, linger, false);
	free(linger);
	if (t->prep.flags & MV_PREP_SEND_TO) {
		to = handover_send(rj, t->handoff, argv[0], "receive");
		t->handoff = -1;
	} else if (t->o->output < 0) {
		to = handover_exec(rj, argv, "receive");
	} else {
		/* The program outlives this session: it must not hold the
		 * channel's stderr (an ssh session stays open while it does). */
		int saved = fcntl(2, F_DUPFD_CLOEXEC, 3);

		dup2(t->o->output, 1);
		dup2(t->o->output, 2);
		to = handover_exec(rj, argv, "receive");
		if (saved >= 0) {
			dup2(saved, 1);
			dup2(saved, 2);
			close(saved);
		}
	}
	mv_phase("handover");
	done.count = rj->ix.n;
	if (to < 0) {
		mv_journal_mark(&t->jn, "committed", "the hand-over failed");
		return fail_commit(t, rj->ix.n, "the sockets are live here but the hand-over failed");
	}
	if (t->o->pid_file)
		write_pid(t, t->o->pid_file, to);
	mv_phase("pid-file");
	res->unlock_at = mv_now_ms();
	done.dropped = conn_locks_dropped(&rj->locks);
	conn_locks_release(&rj->locks, true);
	mv_phase("unlock");
	res->nudge_at = mv_now_ms();
	for (uint32_t i = 0; (t->prep.flags & MV_PREP_NUDGE) && i < rj->ix.n; i++)
		if (tf_nudge(&nudger, rj->r[i].fd, &rj->r[i].conn, TF_NUDGE_DUPACKS_AUTO) >= 0)
			done.nudged++;
	tf_nudger_close(&nudger);
	mv_phase("nudge");
	done.pid = to;
	{
		char detail[64];

		snprintf(detail, sizeof(detail), "pid %d, %u connection(s)", to, rj->ix.n);
		mv_journal_mark(&t->jn, "committed", detail);
	}
	fault_point("receive-committed");
	mv_phase("journal");
	res->connections = rj->ix.n;
	res->pid = to;
	if (mv_send_reply(&t->ch, MV_COMMITTED, &done))
		mv_warn("receive %s: committed, but the source did not hear it: %s", t->id, tf_strerror());
	mv_phase("committed-sent");
	if (t->o->log_dir) {	/* after the answer: off the pause */
		rj->dir = t->o->log_dir;
		restore_log_append(rj);
	}
	return 0;
}

/*
 * Before COMMIT: nothing stays here.  Our locks go too when no packet of
 * these tuples can come here: BUILT not sent yet (the source flips only
 * after it), or the source said its --flip had not run.  Otherwise they
 * stay to their expiry, and the peers retransmit into them.
 */
static void abort_here(struct target *t)
{
	bool flip_may_have_run = t->built_sent;
	struct tf_frame f;

	restore_job_discard(&t->rj);	/* in repair mode: no FIN, no RST */
	if (t->ch.aborted) {
		flip_may_have_run = t->ch.abort.flip_ran;	/* the source's ABORT, read already */
	} else if (t->built_sent && !t->told && mv_recv(&t->ch, MV_ABORT, &f) == 0) {
		struct mv_abort a;

		if (!mv_decode_abort(f.data, f.len, &a))
			flip_may_have_run = a.flip_ran;
		tf_frame_free(&f);
	}
	if (!flip_may_have_run)
		conn_locks_release(&t->rj.locks, false);
	mv_journal_mark(&t->jn, "aborted", flip_may_have_run ? "locks kept to their expiry" : "locks dropped");
	if (t->rj.locks.n)
		mv_info("receive %s: aborted; the sockets built here are closed (silently), the locks stay "
			"to their expiry (%u s): the source's --flip may have sent traffic here", t->id,
			t->prep.ttl_s);
	else if (t->id[0])
		mv_info("receive %s: aborted; nothing kept here", t->id);
}

int move_receive(const struct receive_opts *o, struct receive_result *res)
{
	struct target t = { .o = o, .handoff = -1, .jn = { .fd = -1 } };
	int ret = 1, err;
	struct tf_frame f;

	memset(res, 0, sizeof(*res));
	t.ch = (struct mv_chan){ .in = o->in, .out = o->out, .timeout_ms = o->timeout_ms };
	if (step_hello(&t))
		goto out;
	if (step_prepare(&t) || step_images(&t) || step_build(&t))
		goto abort;
	/* The source flips the traffic now; then it commits, or aborts. */
	t.ch.timeout_ms = -1;	/* its --flip takes what it takes; a closed channel ends the wait */
	err = mv_recv(&t.ch, MV_COMMIT, &f);
	if (err) {
		mv_lib_error(err, "receive %s: no commit", t.id);
		goto abort;
	}
	tf_frame_free(&f);
	t.ch.timeout_ms = o->timeout_ms;
	ret = step_commit(&t, res);
	if (!ret && mv_recv(&t.ch, MV_DONE, &f) == 0)
		tf_frame_free(&f);
	goto out;
abort:
	abort_here(&t);
out:
	snprintf(res->id, sizeof(res->id), "%s", t.id);
	if (t.jn.fd >= 0) {
		struct mv_journal_state st;

		if (!mv_journal_read(o->journal_dir, t.id, &st))
			snprintf(res->state, sizeof(res->state), "%s", st.state);
	}
	mv_journal_close(&t.jn);
	if (t.handoff >= 0)
		close(t.handoff);
	for (int i = 0; ret == 0 && i < t.rj.built; i++)
		close(t.rj.r[i].fd);	/* live: the new owner has its own copies */
	restore_job_free(&t.rj);
	mv_prepare_free(&t.prep);
	return ret;
}
