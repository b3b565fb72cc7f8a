// SPDX-License-Identifier: BSD-2-Clause
/*
 * The frontend's side of a hand-off (tcpferry.h: tf_backend_open,
 * tf_handoff_submit, tf_handoff_poll; proto.h has the messages).  Per
 * connection, on a channel kept open to the backend:
 *
 *   submit   the tuple steered to the backend and locked (the lock wins
 *            over the steer: the client's packets are dropped), repair mode,
 *            the socket read, the prepend put in front of its receive queue,
 *            OFFER sent
 *   built    the backend rebuilt it in repair mode: COMMIT
 *   live     the backend took it out of repair and handed it over: the lock
 *            dropped (the steer takes over, one map delete), our copy closed
 *            (in repair: no FIN, no RST), FLIPPED (the backend nudges the
 *            client now, so that its answer crosses the steer, not the lock)
 *
 * Until LIVE the connection is ours: a refusal, a deadline passed or the
 * channel broken takes it back (steer and lock removed, repair off), and the
 * client saw a pause, nothing else.  LIVE lost after COMMIT leaves it in
 * doubt (tf_handoff_done.status -EINPROGRESS): locked, in repair, for the
 * caller to settle.
 */
#include <errno.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "attach.h"
#include "channel.h"
#include "fault.h"
#include "internal.h"
#include "lock.h"
#include "proto.h"
#include "report.h"
#include "steer.h"
#include "tsval.h"

enum ho_state { HO_OFFERED, HO_COMMITTING };

struct ho_pending {
	uint64_t seq;
	int fd;
	void *cookie;
	struct tf_conn ident;	/* tf_conn_identify's: for repair off (SO_REUSEADDR) */
	struct tf_tuple key;
	enum ho_state state;
	double started_ms, deadline_ms;
};

struct tf_backend {
	struct mv_chan ch;
	struct mv_outq outq;		/* the channel's writes never block (proto.h) */
	pid_t via;
	bool up;
	char name[96];			/* "backend 10.0.0.11" in messages */
	char bpffs[256];
	struct tf_locktab *locks;
	struct tf_steertab *steers;
	struct tf_steer steer[2];	/* for IPv4 and IPv6 tuples */
	bool has_steer[2];
	int tsvals;			/* the tsval recorder's map, or < 0 */
	int64_t skew_ns;
	uint32_t flags;			/* MV_HO_* for each offer */
	int timeout_ms;
	uint64_t ttl_ns;
	uint64_t next_seq;
	uint8_t attached_peer[16];
	bool attached;
	struct ho_pending *p;
	int n, cap;
	struct tf_handoff_done *done;	/* ended, not yet given to the caller */
	int n_done, cap_done;
	struct tf_backend_stats st;
	double gc_ms;			/* the last steer gc */
	/* The heartbeat: a quiet channel is pinged (if the backend answers pings). */
	bool pings;
	int heartbeat_ms;
	double heard_ms;		/* the backend's last frame */
	double ping_ms;			/* the ping waiting for its PONG was sent then; 0: none */
	uint64_t ping_seq;
};

static uint64_t realtime_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec;
}

static int family_slot(const struct tf_tuple *k)
{
	return k->family == AF_INET6;
}

/* ---- opening ---------------------------------------------------------------- */

static int resolve(struct tf_backend *b, const struct tf_backend_opts *o, const char *addr)
{
	struct tf_endpoint be = {}, src = {};
	enum tf_steer_mode mode;
	uint8_t mac[6];
	int err, slot;

	if (inet_pton(AF_INET, addr, be.addr) == 1)
		be.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, be.addr) == 1)
		be.family = AF_INET6;
	else
		return tf_failx(EINVAL, "backend '%s': expected an IPv4 or IPv6 address (no port)", addr);
	err = tf_steer_mode_parse(o->mode ? o->mode : "l3", &mode);
	if (err)
		return err;
	if (o->mac && (err = tf_mac_parse(o->mac, mac)))
		return err;
	if (o->outer_src) {
		if (inet_pton(AF_INET, o->outer_src, src.addr) == 1)
			src.family = AF_INET;
		else if (inet_pton(AF_INET6, o->outer_src, src.addr) == 1)
			src.family = AF_INET6;
		else
			return tf_failx(EINVAL, "backend %s: outer source '%s' is not an address", addr, o->outer_src);
	}
	slot = be.family == AF_INET6;
	if (b->has_steer[slot])
		return tf_failx(EINVAL, "backend %s: two IPv%d addresses given", addr, slot ? 6 : 4);
	err = tf_steer_resolve(&b->steer[slot], mode, &be, o->dev, o->mac ? mac : NULL,
			       o->outer_src && src.family == be.family ? &src : NULL);
	if (err)
		return err;
	b->has_steer[slot] = true;
	return 0;
}

/* HELLO, and the backend's WELCOME: a hand-off service of our version. */
static int greet(struct tf_backend *b)
{
	struct mv_hello h = { .version = MV_PROTO_VERSION, .realtime_ns = realtime_ns() };
	struct mv_welcome w;
	int err;

	gethostname(h.host, sizeof(h.host) - 1);
	snprintf(h.id, sizeof(h.id), "handoff-%d-%llx", getpid(), (unsigned long long)(h.realtime_ns / 1000000));
	err = mv_send_hello(&b->ch, &h);
	if (!err)
		err = mv_recv_welcome(&b->ch, &w);
	if (err)
		return tf_failx(-err, "%s: no hand-off service answered: %s", b->name, tf_strerror());
	/* Its clock at WELCOME minus ours now: at most the skew (proto.h). */
	b->skew_ns = (int64_t)(w.realtime_ns - realtime_ns());
	if (w.version != MV_PROTO_VERSION)
		return tf_failx(EPROTO, "%s: it speaks move protocol version %u, this tcpferry %d: install the same "
				"tcpferry on both hosts", b->name, w.version, MV_PROTO_VERSION);
	if (!(w.features & MV_FEAT_SERVE))
		return tf_failx(EPROTO, "%s: the command reached `tcpferry receive` without --serve (a move's "
				"target, not a hand-off service)", b->name);
	/* An l3 steer's packets reach it wrapped: it must be able to unwrap them (decap_probe.h). */
	for (int slot = 0; slot < 2 && (w.features & MV_FEAT_DECAP_KNOWN); slot++) {
		uint32_t need = slot ? MV_FEAT_DECAP_IP6IP6 : MV_FEAT_DECAP_IPIP;

		if (b->has_steer[slot] && b->steer[slot].mode == TF_STEER_L3 && !(w.features & need))
			return tf_failx(EPROTO, "%s (%s): mode l3, but that host takes no %s packets: nothing there unwraps "
					"them (no up %s device in external mode, nor tcpferry's BPF decap); on it: `ip link "
					"add tfin%s type %s external && ip link set tfin%s up`, or use mode l2", b->name,
					w.host, slot ? "IP6IP6" : "IPIP", slot ? "ip6tnl" : "ipip", slot ? "6" : "",
					slot ? "ip6tnl" : "ipip", slot ? "6" : "");
	}
	b->pings = w.features & MV_FEAT_PING;
	b->st.checked = w.features & MV_FEAT_CHECK;
	b->heard_ms = mv_now_ms();
	b->st.backend_pid = w.pid;
	snprintf(b->st.backend_host, sizeof(b->st.backend_host), "%s", w.host);
	return 0;
}

int tf_backend_open(const struct tf_backend_opts *o, struct tf_backend **out)
{
	struct tf_backend *b;
	int err;

	*out = NULL;
	if (!o->via || (!o->addr && !o->addr6))
		return tf_failx(EINVAL, "backend: the channel command (via) and an address are needed");
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ch.in = b->ch.out = -1;
	b->via = -1;
	b->tsvals = -1;
	snprintf(b->name, sizeof(b->name), "backend %s", o->addr ? o->addr : o->addr6);
	snprintf(b->bpffs, sizeof(b->bpffs), "%s", o->bpffs ? o->bpffs : TF_DEFAULT_BPFFS);
	b->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 2000;
	b->heartbeat_ms = o->heartbeat_ms ? o->heartbeat_ms : 1000;
	b->ttl_ns = (uint64_t)(o->lock_ttl_s ? o->lock_ttl_s : 30) * 1000000000ull;
	b->flags = MV_HO_NO_PROBE | (o->no_nudge ? 0 : MV_HO_NUDGE);
	if ((o->addr && (err = resolve(b, o, o->addr))) || (o->addr6 && (err = resolve(b, o, o->addr6)))) {
		tf_error_prefix("%s", b->name);
		goto fail;
	}
	err = tf_locktab_open(b->bpffs, true, 0, &b->locks);
	if (!err)
		err = tf_steertab_open(b->bpffs, true, 0, &b->steers);
	if (err) {
		tf_error_prefix("%s", b->name);
		goto fail;
	}
	b->tsvals = tf_tsval_map_open(b->bpffs, TF_PIN_TSVALS);
	err = mv_chan_start(o->via, b->timeout_ms, &b->ch, &b->via);
	if (!err)
		err = greet(b);
	if (err)
		goto fail;
	b->ch.outq = &b->outq;
	b->up = true;
	*out = b;
	return 0;
fail:
	tf_backend_close(b);
	return err;
}

int tf_backend_fd(const struct tf_backend *b)
{
	return b->ch.in;
}

short tf_backend_events(const struct tf_backend *b)
{
	return POLLIN | (mv_unflushed(&b->ch) ? POLLOUT : 0);
}

bool tf_backend_up(const struct tf_backend *b)
{
	return b->up;
}

bool tf_backend_healthy(const struct tf_backend *b)
{
	return b->up && !b->st.unhealthy;
}

void tf_backend_stats(const struct tf_backend *b, struct tf_backend_stats *s)
{
	*s = b->st;
	s->in_flight = b->n;
}

/* ---- one hand-off's end ------------------------------------------------------- */

static void finish(struct tf_backend *b, int i, int status, uint32_t pid, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static void finish(struct tf_backend *b, int i, int status, uint32_t pid, const char *fmt, ...)
{
	struct ho_pending *p = &b->p[i];
	struct tf_handoff_done *d;
	va_list ap;

	d = &b->done[b->n_done++];	/* room reserved by submit (room_for_one) */
	*d = (struct tf_handoff_done){ .cookie = p->cookie, .fd = p->fd, .status = status, .backend_pid = pid,
				       .ms = mv_now_ms() - p->started_ms };
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(d->text, sizeof(d->text), fmt, ap);
		va_end(ap);
	}
	b->p[i] = b->p[--b->n];
}

/*
 * The connection back as it was: the steer removed (the lock still drops),
 * repair off without a probe (the lock would drop it), then the lock.
 */
static void take_back(struct tf_backend *b, struct ho_pending *p)
{
	tf_steer_del(b->steers, &p->key);
	tf_repair_leave(p->fd, &p->ident, false);
	tf_lock_del(b->locks, &p->key);
	b->st.taken_back++;
}

static void refused(struct tf_backend *b, int i, int err, const char *why)
{
	char t[TF_TUPLESTRLEN];

	tf_tuple_str(&b->p[i].key, t, sizeof(t));
	take_back(b, &b->p[i]);
	b->st.refused++;
	finish(b, i, err, 0, "hand-off %s to %s: %s; the connection stays here, live", t, b->name, why);
}

static void in_doubt(struct tf_backend *b, int i, const char *why)
{
	char t[TF_TUPLESTRLEN];

	tf_tuple_str(&b->p[i].key, t, sizeof(t));
	b->st.in_doubt++;
	finish(b, i, -EINPROGRESS, 0,
	       "hand-off %s to %s: in doubt: %s after the commit; the socket stays here in repair mode and "
	       "locked (the lock expires in %llu s). If the backend has it (it logs each hand-off), "
	       "`tcpferry lock del` the tuple: the steer takes over; if not, `tcpferry steer del` it and "
	       "take the socket out of repair", t, b->name, why, (unsigned long long)(b->ttl_ns / 1000000000ull));
}

/* The channel is gone: what was under way ends with it. */
static void broken(struct tf_backend *b, const char *why)
{
	char text[400];

	snprintf(text, sizeof(text), "%s", why);
	snprintf(b->st.down_why, sizeof(b->st.down_why), "%s", why);
	b->up = false;
	mv_chan_kill(&b->ch, &b->via);	/* broken: nothing to wait for (a silent one would hold the caller 2 s) */
	while (b->n) {
		if (b->p[0].state == HO_COMMITTING)
			in_doubt(b, 0, text);
		else
			refused(b, 0, -EPIPE, text);
	}
}

/* Ended and idle steers removed, at most once a second (the table is this host's, shared). */
static void gc(struct tf_backend *b)
{
	double now = mv_now_ms();
	unsigned removed;

	if (now - b->gc_ms < 1000)
		return;
	b->gc_ms = now;
	if (tf_steer_gc(b->steers, 0, &removed) == 0)
		b->st.steers_removed += removed;
}

/* ---- submit ------------------------------------------------------------------------ */

static int find(const struct tf_backend *b, uint64_t seq)
{
	for (int i = 0; i < b->n; i++)
		if (b->p[i].seq == seq)
			return i;
	return -1;
}

/* Put the bytes read already back in front of what is unread. */
static int prepend(struct tf_conn *c, int fd, const void *buf, size_t len)
{
	struct tcp_info ti = {};
	socklen_t tl = sizeof(ti);
	uint8_t *q;

	if (!len)
		return 0;
	/* They must be the last bytes read: no more than were received. */
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 &&
	    tl >= offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received) &&
	    ti.tcpi_bytes_received < (uint64_t)c->inq_len + len)
		return tf_failx(EINVAL, "a prepend of %zu bytes, but only %llu were received (%u unread)", len, (unsigned long long)ti.tcpi_bytes_received - c->inq_len, c->inq_len);
	if ((uint64_t)c->inq_len + len > (64u << 20) / 4)
		return tf_failx(E2BIG, "a prepend of %zu bytes is too long", len);
	q = malloc(c->inq_len + len);
	if (!q)
		return -ENOMEM;
	memcpy(q, buf, len);
	if (c->inq_len)
		memcpy(q + len, c->inq, c->inq_len);
	free(c->inq);
	c->inq = q;
	c->inq_len += len;
	return 0;
}

/*
 * Room for one more hand-off under way, and for its end among those not yet
 * given to the caller: every one under way may end before the caller polls,
 * so an end never needs memory that may not be there.
 */
static int room_for_one(struct tf_backend *b)
{
	if (b->n == b->cap) {
		int cap = b->cap ? 2 * b->cap : 16;
		struct ho_pending *np = realloc(b->p, cap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	if (b->n + b->n_done + 1 > b->cap_done) {
		int cap = 2 * (b->n + b->n_done + 1);
		struct tf_handoff_done *nd = realloc(b->done, cap * sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		b->done = nd;
		b->cap_done = cap;
	}
	return 0;
}

int tf_handoff_submit(struct tf_backend *b, const struct tf_handoff_req *r)
{
	struct ho_pending p = { .fd = r->fd, .cookie = r->cookie, .started_ms = mv_now_ms() };
	struct mv_ho_offer offer = { .flags = b->flags, .skew_ns = b->skew_ns };
	char t[TF_TUPLESTRLEN], what[TF_TUPLESTRLEN + 128], ifname[32];
	struct tf_lock lk;
	struct tf_steer sv;
	int err, slot;

	gc(b);
	if (!b->up)
		return tf_failx(EPIPE, "hand-off to %s: its channel is down (reopen it)", b->name);
	err = tf_check_socket(r->fd);
	if (!err)
		err = tf_conn_identify(r->fd, &p.ident);
	if (!err)
		err = tf_tuple_make(&p.ident.local, &p.ident.peer, &p.key);
	if (err) {
		tf_error_prefix("hand-off fd %d to %s", r->fd, b->name);
		return err;
	}
	tf_tuple_str(&p.key, t, sizeof(t));
	snprintf(what, sizeof(what), "hand-off %s to %s", t, b->name);
	slot = family_slot(&p.key);
	if (!b->has_steer[slot])
		return tf_failx(EAFNOSUPPORT, "%s: the backend has no IPv%d address here (give one)", what,
				slot ? 6 : 4);
	if (tf_lock_get(b->locks, &p.key, &lk) == 0)
		return tf_failx(EEXIST, "%s: the tuple is locked already (a move or a hand-off of it is under way)",
				what);
	/* An expired entry that gc has not removed yet no longer steers: tf_steer_add replaces it. */
	if (tf_steer_get_live(b->steers, &p.key, &sv) == 0)
		return tf_failx(EEXIST, "%s: the tuple is steered already (to another backend?)", what);
	/* The programs on the client's device (once per peer address in a row). */
	if (!b->attached || memcmp(b->attached_peer, p.ident.peer.addr, sizeof(b->attached_peer))) {
		err = tf_attach_for_peer(b->bpffs, &p.ident.peer, ifname);
		if (err) {
			tf_error_prefix("%s", what);
			return err;
		}
		memcpy(b->attached_peer, p.ident.peer.addr, sizeof(b->attached_peer));
		b->attached = true;
	}
	/* Steered, but locked: the lock wins until the backend has the socket. */
	err = tf_steer_add(b->steers, &p.key, &b->steer[slot]);
	if (err) {
		tf_error_prefix("hand-off to %s", b->name);
		return err;
	}
	err = tf_lock_add(b->locks, &p.key, TF_LOCK_HANDOFF, b->ttl_ns);
	if (err) {
		tf_steer_del(b->steers, &p.key);
		tf_error_prefix("hand-off to %s", b->name);
		return err;
	}
	offer.conn = p.ident;
	err = tf_repair_on(r->fd);
	if (err)
		goto undo_locked;
	err = tf_dump(r->fd, &offer.conn);
	if (!err) {
		tf_tsval_fill_conn_fd(b->tsvals, &offer.conn);
		err = prepend(&offer.conn, r->fd, r->prepend, r->prepend_len);
	}
	if (err)
		goto undo;
	err = room_for_one(b);
	if (err)
		goto undo;
	p.seq = offer.seq = ++b->next_seq;
	p.state = HO_OFFERED;
	p.deadline_ms = mv_now_ms() + b->timeout_ms;
	err = mv_send_ho_offer(&b->ch, &offer);
	tf_conn_free(&offer.conn);
	if (err) {
		char why[300];

		snprintf(why, sizeof(why), "the channel broke: %s", tf_strerror());
		take_back(b, &p);
		broken(b, why);		/* and the others under way */
		return tf_failx(EPIPE, "%s: %s; the connection stays here, live", what, why);
	}
	b->p[b->n++] = p;
	b->st.offered++;
	return 0;
undo:
	tf_conn_free(&offer.conn);
	tf_repair_leave(r->fd, &p.ident, false);
undo_locked:
	tf_steer_del(b->steers, &p.key);
	tf_lock_del(b->locks, &p.key);
	if (*tf_strerror())
		tf_error_prefix("%s", what);
	else
		tf_failx(-err, "%s: %s", what, strerror(-err));
	return err;
}

/* ---- what the backend says ------------------------------------------------------------ */

static void on_built(struct tf_backend *b, const struct mv_ho_reply *r)
{
	int i = find(b, r->seq);

	if (i < 0 || b->p[i].state != HO_OFFERED) {
		mv_warn("%s: BUILT for hand-off %llu, which is not waiting for it", b->name, (unsigned long long)r->seq);
		return;
	}
	if (r->status) {
		refused(b, i, r->status, r->text);
		return;
	}
	if (mv_send_ho_step(&b->ch, r->seq, MV_HO_COMMIT)) {
		char why[300];

		/* Not sent: the backend discards it when it sees the channel closed. */
		snprintf(why, sizeof(why), "the channel broke before the commit: %s", tf_strerror());
		refused(b, i, -EPIPE, why);
		broken(b, why);
		return;
	}
	b->p[i].state = HO_COMMITTING;
	b->p[i].deadline_ms = mv_now_ms() + b->timeout_ms;
}

static void on_live(struct tf_backend *b, const struct mv_ho_reply *r)
{
	int i = find(b, r->seq);
	struct ho_pending *p;

	if (i < 0 || b->p[i].state != HO_COMMITTING) {
		mv_warn("%s: LIVE for hand-off %llu, which is not waiting for it", b->name, (unsigned long long)r->seq);
		return;
	}
	p = &b->p[i];
	if (r->status) {
		/* The backend kept nothing (it closed its copy in repair mode). */
		refused(b, i, r->status, r->text);
		return;
	}
	fault_point("handoff-live");
	/* The flip: the lock goes, the steer under it takes over. */
	tf_lock_del(b->locks, &p->key);
	close(p->fd);		/* in repair: silently */
	if (mv_send_ho_step(&b->ch, r->seq, MV_HO_FLIPPED))
		mv_warn("%s: FLIPPED not sent (%s): the client is not nudged, it retransmits", b->name, tf_strerror());
	b->st.handed_off++;
	finish(b, i, 0, r->pid, NULL);
}

static void on_ended(struct tf_backend *b, const struct mv_ho_ended *e)
{
	struct tf_tuple k;

	/* It lingers, and gc removes it (steer.h); the client's RST may have ended it already. */
	if (tf_tuple_make(&e->local, &e->peer, &k) == 0)
		tf_steer_end(b->steers, &k);
	b->st.ended++;
}

static int on_frame(struct tf_backend *b, struct tf_frame *f)
{
	struct mv_ho_reply r;
	struct mv_ho_ended e;
	struct mv_ho_health h;
	uint64_t seq;
	int err;

	b->heard_ms = mv_now_ms();
	switch (f->type) {
	case MV_HO_HEALTH:
		err = mv_decode_ho_health(f->data, f->len, &h);
		if (!err) {
			b->st.unhealthy = !h.healthy;
			snprintf(b->st.unhealthy_why, sizeof(b->st.unhealthy_why), "%s", h.text);
		}
		return err;
	case MV_HO_PONG:
		err = mv_decode_ho_beat(f->data, f->len, &seq);
		if (!err && seq == b->ping_seq)
			b->ping_ms = 0;
		return err;
	case MV_HO_BUILT:
	case MV_HO_LIVE:
		err = mv_decode_ho_reply(f->data, f->len, &r);
		if (!err)
			(f->type == MV_HO_BUILT ? on_built : on_live)(b, &r);
		return err;
	case MV_HO_ENDED:
		err = mv_decode_ho_ended(f->data, f->len, &e);
		if (!err)
			on_ended(b, &e);
		return err;
	default:
		return tf_failx(EPROTO, "%s said %s, not a hand-off's answer", b->name, mv_type_name(f->type));
	}
}

static void deadlines(struct tf_backend *b)
{
	double now = mv_now_ms();

	for (int i = 0; i < b->n;) {
		char why[160];

		if (b->p[i].deadline_ms > now) {
			i++;
			continue;
		}
		snprintf(why, sizeof(why), "no answer within %d ms", b->timeout_ms);
		if (b->p[i].state == HO_COMMITTING) {
			in_doubt(b, i, why);
			continue;
		}
		/* Told to drop what it may have built; ours is taken back now. */
		mv_send_ho_step(&b->ch, b->p[i].seq, MV_HO_DISCARD);
		refused(b, i, -ETIMEDOUT, why);
	}
}

/*
 * A channel that stays quiet is asked whether the backend is still there: a
 * host that died without closing the channel (its link down, an ssh session
 * hung) would otherwise keep getting hand-offs that each wait out their
 * deadline.  When the next heartbeat action is due (ms), or -1.
 */
static double heartbeat(struct tf_backend *b)
{
	double now = mv_now_ms();

	if (!b->up || !b->pings || b->heartbeat_ms < 0)
		return -1;
	if (b->ping_ms > 0) {
		char why[200];

		if (now < b->ping_ms + b->timeout_ms)
			return b->ping_ms + b->timeout_ms;
		snprintf(why, sizeof(why), "no answer to a heartbeat within %d ms: the backend's host or its channel "
			 "went silent", b->timeout_ms);
		broken(b, why);
		return -1;
	}
	if (now < b->heard_ms + b->heartbeat_ms)
		return b->heard_ms + b->heartbeat_ms;
	b->ping_ms = now;
	b->st.pings++;
	if (mv_send_ho_beat(&b->ch, MV_HO_PING, ++b->ping_seq)) {
		char why[400];

		snprintf(why, sizeof(why), "the channel broke: %s", tf_strerror());
		broken(b, why);
		return -1;
	}
	return now + b->timeout_ms;
}

int tf_handoff_poll(struct tf_backend *b, int timeout_ms, struct tf_handoff_done *out, int max)
{
	double end = timeout_ms < 0 ? -1 : mv_now_ms() + timeout_ms;
	int n = 0;

	for (;;) {
		struct pollfd pfd = { .fd = b->ch.in, .events = POLLIN };
		double now = mv_now_ms(), wake = end, beat;
		int wait, err;

		deadlines(b);
		beat = heartbeat(b);
		gc(b);
		if (mv_unflushed(&b->ch))
			pfd.events |= POLLOUT;
		while (b->n_done && n < max) {
			out[n++] = b->done[0];
			memmove(b->done, b->done + 1, --b->n_done * sizeof(*b->done));
		}
		for (int i = 0; i < b->n; i++)
			if (wake < 0 || b->p[i].deadline_ms < wake)
				wake = b->p[i].deadline_ms;
		if (beat >= 0 && (wake < 0 || beat < wake))
			wake = beat;
		/* With something to give, only what is waiting already. */
		wait = n ? 0 : wake < 0 ? -1 : wake <= now ? 0 : (int)(wake - now) + 1;
		if (!b->up)
			return n ? n : tf_failx(EPIPE, "%s: the channel is down (%s)", b->name, b->st.down_why);
		if (n == max)
			return n;
		err = poll(&pfd, 1, wait);
		if (err < 0 && errno != EINTR)
			return tf_fail(errno, "%s: poll", b->name);
		if (err > 0 && (pfd.revents & POLLOUT) && mv_flush(&b->ch)) {
			char why[400];

			snprintf(why, sizeof(why), "the channel broke: %s", tf_strerror());
			broken(b, why);
			continue;
		}
		if (err > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
			struct tf_frame f;

			err = mv_recv_frame(&b->ch, "the backend's answer", MV_MSG_MAX, &f);
			if (!err) {
				err = on_frame(b, &f);
				tf_frame_free(&f);
			}
			if (err) {
				char why[400];

				snprintf(why, sizeof(why), "the channel broke: %s", tf_strerror());
				broken(b, why);
			}
			continue;
		}
		if (n || (end >= 0 && mv_now_ms() >= end))
			return n;
	}
}

int tf_handoff(struct tf_backend *b, int fd, const void *pre, size_t pre_len)
{
	struct tf_handoff_req r = { .fd = fd, .prepend = pre, .prepend_len = pre_len };
	struct tf_handoff_done d;
	int err, n;

	r.cookie = &r;
	err = tf_handoff_submit(b, &r);
	if (err)
		return err;
	for (;;) {
		n = tf_handoff_poll(b, -1, &d, 1);
		if (n < 0)
			return n;
		if (n == 1 && d.cookie == &r)
			break;
		/* Another caller's hand-off on this channel: not ours to keep; it is dropped. */
	}
	if (d.status)
		return tf_failx(-d.status, "%s", d.text);
	return 0;
}

void tf_backend_close(struct tf_backend *b)
{
	if (!b)
		return;
	if (b->up) {
		while (b->n) {
			if (b->p[0].state == HO_COMMITTING)
				in_doubt(b, 0, "the frontend closed the channel");
			else
				refused(b, 0, -ECANCELED, "the frontend closed the channel");
		}
	}
	/* What is queued (discards, the last FLIPPED) goes before the close, within a second. */
	for (int i = 0; i < 100 && b->ch.in >= 0 && mv_unflushed(&b->ch); i++) {
		struct pollfd pfd = { .fd = b->ch.out, .events = POLLOUT };

		if (poll(&pfd, 1, 10) < 0 || mv_flush(&b->ch))
			break;
	}
	if (b->ch.in >= 0 || b->via > 0)
		mv_chan_stop(&b->ch, &b->via);
	free(b->outq.buf);
	if (b->tsvals >= 0)
		close(b->tsvals);
	tf_steertab_close(b->steers);
	tf_locktab_close(b->locks);
	free(b->p);
	free(b->done);
	free(b);
}
