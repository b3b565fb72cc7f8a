// SPDX-License-Identifier: BSD-2-Clause
/*
 * The backend's side of hand-offs (see handoff_serve.h; proto.h has the
 * messages).  One loop: the channel's frames, the conn_end watcher's
 * reports, and the built sockets' deadlines.
 *
 *   OFFER      the image validated, the dump time moved onto our clock (the
 *              frontend's skew), the socket rebuilt in repair mode (bind to
 *              the VIP: a host without it refuses here, before the frontend
 *              lets go) -> BUILT
 *   COMMIT     out of repair, handed over, our copy closed (it would hold
 *              back the server's FIN) -> LIVE
 *   FLIPPED    the frontend steers the client here now: nudge (built from
 *              the image)
 *   DISCARD    closed in repair (silently); also when the channel closes or
 *              the step does not come in time
 *
 * No lock here: until the frontend's flip, the client's packets die in the
 * frontend's lock and never come here.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include "conn_end.h"
#include "decap_probe.h"
#include "fault.h"
#include "handoff.h"
#include "internal.h"
#include "handoff_serve.h"
#include "health_check.h"
#include "lock.h"
#include "sockdiag.h"
#include "nudge.h"
#include "proto.h"
#include "report.h"

enum built_state { B_BUILT, B_LIVE };

struct built {
	uint64_t seq;
	int fd;
	uint32_t flags;
	enum built_state state;
	double deadline_ms;
	struct tf_conn conn;
	char name[32];		/* "handoff-SEQ": its name for the server */
};

struct server {
	const struct serve_opts *o;
	struct mv_chan ch;
	struct mv_hello hello;
	int64_t skew_ns;
	struct built *b;
	int n, cap;
	struct tf_nudger nudger;
	struct tf_conn_end_watcher *ends;
	struct health_check check;
	struct serve_stats *st;
};

static uint64_t realtime_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec;
}

static int find(const struct server *s, uint64_t seq)
{
	for (int i = 0; i < s->n; i++)
		if (s->b[i].seq == seq)
			return i;
	return -1;
}

static void drop(struct server *s, int i)
{
	if (s->b[i].fd >= 0)
		close(s->b[i].fd);	/* in repair, or handed over already: silently */
	tf_conn_free(&s->b[i].conn);
	s->b[i] = s->b[--s->n];
}

static void reply(struct server *s, uint16_t type, uint64_t seq, int status, uint32_t pid, const char *text)
{
	struct mv_ho_reply r = { .seq = seq, .status = status, .pid = pid };

	snprintf(r.text, sizeof(r.text), "%s", text ? text : "");
	if (mv_send_ho_reply(&s->ch, type, &r))
		mv_warn("receive --serve: %s for hand-off %llu not sent: %s", mv_type_name(type),
			(unsigned long long)seq, tf_strerror());
}

static void on_offer(struct server *s, const struct tf_frame *f)
{
	struct mv_ho_offer o;
	struct tf_restore_opts ro = {};
	char l[TF_ADDRSTRLEN], p[TF_ADDRSTRLEN], text[512];
	struct built *b;
	int err, fd;

	s->st->offered++;
	err = mv_decode_ho_offer(f->data, f->len, &o);
	if (err) {
		/* The seq is the payload's first field: answer it if it is there. */
		snprintf(text, sizeof(text), "the offer was refused here: %s", tf_strerror());
		reply(s, MV_HO_BUILT, f->len >= 8 ? o.seq : 0, err, 0, text);
		s->st->refused++;
		return;
	}
	tf_endpoint_str(&o.conn.local, l, sizeof(l));
	tf_endpoint_str(&o.conn.peer, p, sizeof(p));
	if (find(s, o.seq) >= 0) {
		reply(s, MV_HO_BUILT, o.seq, -EEXIST, 0, "a hand-off of that number is under way here");
		tf_conn_free(&o.conn);
		return;
	}
	if (s->n == s->cap) {
		int cap = s->cap ? 2 * s->cap : 16;
		struct built *nb = realloc(s->b, cap * sizeof(*nb));

		if (!nb) {
			reply(s, MV_HO_BUILT, o.seq, -ENOMEM, 0, "no memory on the backend");
			tf_conn_free(&o.conn);
			return;
		}
		s->b = nb;
		s->cap = cap;
	}
	/* The dump time onto our clock, for the timestamp rule's elapsed time. */
	o.conn.dump_time_ns += o.skew_ns;
	fd = tf_restore(&o.conn, &ro);
	if (fd < 0) {
		snprintf(text, sizeof(text), "the backend cannot rebuild it: %s", tf_strerror());
		mv_warn("receive --serve: hand-off %s -> %s refused: %s", l, p, tf_strerror());
		reply(s, MV_HO_BUILT, o.seq, fd, 0, text);
		tf_conn_free(&o.conn);
		s->st->refused++;
		return;
	}
	b = &s->b[s->n++];
	*b = (struct built){ .seq = o.seq, .fd = fd, .flags = o.flags, .state = B_BUILT, .conn = o.conn,
			     .deadline_ms = mv_now_ms() + s->o->timeout_ms };
	snprintf(b->name, sizeof(b->name), "handoff-%llu", (unsigned long long)o.seq);
	s->st->built++;
	fault_point("serve-built");
	reply(s, MV_HO_BUILT, o.seq, 0, 0, NULL);
}

/* The socket to where this host says: a program for it, or a running server. Its pid, or -1. */
static pid_t hand_over(struct server *s, struct built *b)
{
	const char *name = b->name;
	pid_t pid = -1;

	if (s->o->send_to) {
		int c = tf_handoff_connect(s->o->send_to);
		struct ucred cr = {};
		socklen_t len = sizeof(cr);

		if (c < 0)
			return -1;
		getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &len);
		if (tf_handoff_send(c, s->o->send_to, &b->fd, &name, 1))	/* closes c */
			return -1;
		return cr.pid;
	}
	if (s->o->output >= 0) {
		/* The program outlives the channel's session: not on its stderr. */
		int saved1 = fcntl(1, F_DUPFD_CLOEXEC, 3), saved2 = fcntl(2, F_DUPFD_CLOEXEC, 3);

		dup2(s->o->output, 1);
		dup2(s->o->output, 2);
		if (tf_handoff_exec_each(&b->fd, &name, 1, s->o->each, &pid) < 1)
			pid = -1;
		dup2(saved1, 1);
		dup2(saved2, 2);
		close(saved1);
		close(saved2);
		return pid;
	}
	if (tf_handoff_exec_each(&b->fd, &name, 1, s->o->each, &pid) < 1)
		return -1;
	return pid;
}

static void on_commit(struct server *s, int i)
{
	struct built *b = &s->b[i];
	char text[512];
	pid_t pid;
	int err;

	err = tf_restore_finish(b->fd, &b->conn, !(b->flags & MV_HO_NO_PROBE));
	if (err) {
		snprintf(text, sizeof(text), "leaving repair mode failed on the backend: %s; nothing kept there",
			 tf_strerror());
		tf_repair_on(b->fd);
		reply(s, MV_HO_LIVE, b->seq, err, 0, text);
		drop(s, i);
		s->st->refused++;
		return;
	}
	/* Watched before the server has it: a fast one may close it at once. */
	if (s->ends && tf_conn_end_watch(s->ends, &b->conn.local, &b->conn.peer) && tf_strerror()[0])
		mv_warn("receive --serve: %s: its end will not be reported: %s", b->name, tf_strerror());
	pid = hand_over(s, b);
	if (pid < 0) {
		if (s->ends)
			tf_conn_end_unwatch(s->ends, &b->conn.local, &b->conn.peer);
		snprintf(text, sizeof(text), "the hand-over on the backend failed: %s; nothing kept there",
			 tf_strerror());
		mv_warn("receive --serve: %s: %s", b->name, text);
		/* Back into repair before the close: no FIN, no RST; the frontend takes it back. */
		tf_repair_on(b->fd);
		reply(s, MV_HO_LIVE, b->seq, -EPIPE, 0, text);
		drop(s, i);
		s->st->refused++;
		return;
	}
	/*
	 * Our copy goes now: while it is open, the server's close sends no
	 * FIN.  The nudge at FLIPPED is built from the image alone.
	 */
	close(b->fd);
	b->fd = -1;
	b->state = B_LIVE;
	b->deadline_ms = mv_now_ms() + s->o->timeout_ms;
	s->st->live++;
	fault_point("serve-handed");
	reply(s, MV_HO_LIVE, b->seq, 0, pid > 0 ? pid : 0, NULL);
	fault_point("serve-live");
}

/*
 * Does a socket in this state still wait for the client's ACKs?  Established;
 * FIN_WAIT1 (the server answered and closed while FLIPPED was on its way, and
 * the client's ACKs of the first flight met the frontend's lock: without a
 * prompt the rest waits for the retransmit timer, about a second on a restored
 * socket, which has no RTT sample); CLOSE_WAIT (the client's FIN in, our
 * answer still going).  Not once it is gone or ending (FIN_WAIT2, TIME_WAIT,
 * LAST_ACK, CLOSING): the client's answer could meet no socket here and draw
 * an RST.
 */
static bool waits_for_acks(int state)
{
	return state == TCP_ESTABLISHED || state == TCP_FIN_WAIT1 || state == TCP_CLOSE_WAIT;
}

/* Prompt the client if this end still waits for its ACKs. */
static void nudge(struct server *s, const struct built *b)
{
	struct tf_tuple_owner o = {};
	struct tf_tuple k;

	if (!(b->flags & MV_HO_NUDGE) || tf_tuple_make(&b->conn.local, &b->conn.peer, &k) ||
	    tf_tuple_owners(&k, 1, &o) < 0 || !waits_for_acks(o.state))
		return;
	tf_nudge(&s->nudger, -1, &b->conn, TF_NUDGE_DUPACKS_AUTO);
}

/* The client's packets come here now: prompt it, and forget the socket. */
static void on_flipped(struct server *s, int i)
{
	nudge(s, &s->b[i]);
	drop(s, i);
}

static int on_frame(struct server *s, const struct tf_frame *f)
{
	struct mv_ho_step st;
	int i, err;

	if (f->type == MV_HO_OFFER) {
		on_offer(s, f);
		return 0;
	}
	if (f->type == MV_HO_PING) {
		uint64_t seq;

		err = mv_decode_ho_beat(f->data, f->len, &seq);
		return err ? err : mv_send_ho_beat(&s->ch, MV_HO_PONG, seq);
	}
	if (f->type != MV_HO_STEP)
		return tf_failx(EPROTO, "the frontend said %s, not a hand-off step", mv_type_name(f->type));
	err = mv_decode_ho_step(f->data, f->len, &st);
	if (err)
		return err;
	i = find(s, st.seq);
	if (i < 0)
		return 0;	/* discarded here already (its deadline): the frontend hears of it as LIVE's absence */
	if (st.step == MV_HO_COMMIT && s->b[i].state == B_BUILT)
		on_commit(s, i);
	else if (st.step == MV_HO_DISCARD && s->b[i].state == B_BUILT) {
		s->st->discarded++;
		drop(s, i);
	} else if (st.step == MV_HO_FLIPPED && s->b[i].state == B_LIVE)
		on_flipped(s, i);
	return 0;
}

static void on_end(void *ctx, const struct tf_conn_end *e)
{
	struct server *s = ctx;
	struct mv_ho_ended m = { .local = e->local, .peer = e->peer };

	tf_conn_end_unwatch(s->ends, &e->local, &e->peer);
	s->st->ended++;
	if (mv_send_ho_ended(&s->ch, &m))
		mv_warn("receive --serve: a connection's end not sent: %s", tf_strerror());
}

/* Built sockets whose step did not come: closed in repair; live ones not nudged. */
static void deadlines(struct server *s)
{
	double now = mv_now_ms();

	for (int i = 0; i < s->n;) {
		if (s->b[i].deadline_ms > now) {
			i++;
			continue;
		}
		if (s->b[i].state == B_BUILT)
			s->st->discarded++;
		drop(s, i);
	}
}

/* The check's verdict changed: the frontend hands off here, or not, from now on. */
static void health_changed(struct server *s)
{
	struct mv_ho_health h = { .healthy = s->check.healthy };

	if (!h.healthy)
		snprintf(h.text, sizeof(h.text), "%s", s->check.why);
	mv_warn("receive --serve: this backend's check %s%s%s", h.healthy ? "passes again" : "fails: ", h.text,
		h.healthy ? "" : " (no hand-offs come here until it passes)");
	if (mv_send_ho_health(&s->ch, &h))
		mv_warn("receive --serve: HO_HEALTH not sent: %s", tf_strerror());
}

static int greet(struct server *s)
{
	struct mv_welcome w = { .version = MV_PROTO_VERSION, .features = MV_FEAT_SERVE | MV_FEAT_PING, .pid = getpid() };
	int err, decap;

	err = mv_recv_hello(&s->ch, &s->hello);
	if (err)
		return mv_lib_error(err, "receive --serve: no frontend said hello");
	if (s->hello.version != MV_PROTO_VERSION) {
		char text[200];

		snprintf(text, sizeof(text), "move protocol version %u; this tcpferry speaks version %d: "
			 "install the same tcpferry on both hosts", s->hello.version, MV_PROTO_VERSION);
		mv_send_abort(&s->ch, false, text);
		return mv_error("receive --serve %s: %s", s->hello.id, text);
	}
	if (s->ends)
		w.features |= MV_FEAT_CONN_END;
	if (s->o->check)
		w.features |= MV_FEAT_CHECK;
	decap = tf_decap_probe();
	if (decap >= 0)
		w.features |= MV_FEAT_DECAP_KNOWN | (decap & TF_DECAP_IPIP ? MV_FEAT_DECAP_IPIP : 0) |
			      (decap & TF_DECAP_IP6IP6 ? MV_FEAT_DECAP_IP6IP6 : 0);
	gethostname(w.host, sizeof(w.host) - 1);
	w.realtime_ns = realtime_ns();	/* as late as may be: the frontend's skew is measured on it */
	err = mv_send_welcome(&s->ch, &w);
	if (err)
		return mv_lib_error(err, "receive --serve %s", s->hello.id);
	return 0;
}

int handoff_serve(const struct serve_opts *o, struct serve_stats *st)
{
	struct server s = { .o = o, .nudger = TF_NUDGER_INIT, .st = st,
			    .ch = { .in = o->in, .out = o->out, .timeout_ms = o->timeout_ms } };
	int ret = 0;

	*st = (struct serve_stats){};
	hc_init(&s.check, o->check, o->check_interval_ms, o->output);
	if (!o->no_conn_end && tf_conn_end_open(0, &s.ends))
		mv_warn("receive --serve: connections' ends will not be reported (the frontend's steers end by "
			"their idle timeout): %s", tf_strerror());
	if (greet(&s)) {
		tf_conn_end_close(s.ends);
		return 1;
	}
	for (;;) {
		struct pollfd pfd[2] = { { .fd = s.ch.in, .events = POLLIN },
					 { .fd = s.ends ? tf_conn_end_fd(s.ends) : -1, .events = POLLIN } };
		struct tf_frame f;
		int err;

		pid_t pid;
		int status;

		/* The programs that served their connection, and the check's runs. */
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			if (hc_reaped(&s.check, pid, status))
				health_changed(&s);
		hc_tick(&s.check);
		deadlines(&s);
		err = poll(pfd, 2, 1000);
		if (err < 0 && errno != EINTR) {
			ret = mv_error("receive --serve: poll: %s", strerror(errno));
			break;
		}
		if (s.ends && (err == 0 || pfd[1].revents))
			tf_conn_end_poll(s.ends, 0, on_end, &s);
		if (err <= 0 || !pfd[0].revents)
			continue;
		err = mv_recv_frame(&s.ch, "the frontend's next hand-off", MV_MSG_MAX, &f);
		if (err == -ENODATA)
			break;	/* the frontend closed the channel: done */
		if (err) {
			ret = mv_lib_error(err, "receive --serve %s", s.hello.id);
			break;
		}
		err = on_frame(&s, &f);
		tf_frame_free(&f);
		if (err) {
			mv_send_abort(&s.ch, false, tf_strerror());
			ret = mv_lib_error(err, "receive --serve %s", s.hello.id);
			break;
		}
	}
	/* What was built and not committed goes silently; live ones were handed over already. */
	while (s.n) {
		if (s.b[0].state == B_BUILT)
			st->discarded++;
		else
			nudge(&s, &s.b[0]);
		drop(&s, 0);
	}
	free(s.b);
	hc_stop(&s.check);
	tf_nudger_close(&s.nudger);
	tf_conn_end_close(s.ends);
	return ret;
}
