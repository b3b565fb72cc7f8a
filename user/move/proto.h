/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The move protocol: how a source (`tcpferry migrate send`) and a target
 * (`tcpferry receive`) move connections over any byte stream that joins them
 * (ssh's stdio, a unix socket, a socketpair).  Every message is one frame
 * (images/frame.h: length, type, version, crc), checked before it is acted
 * on; its payload is decoded here, every field's range checked.
 *
 * The states, in order (source -> target unless marked <-):
 *
 *   HELLO          protocol version, the move's id, the source's clock
 *   <- WELCOME     the target's version, features (tcx, usec timestamps),
 *                  clock, pid
 *   PREPARE        lock expiry, the hand-over (PROG ARGS to exec, or a unix
 *                  socket of a running receiver), the tuples (an index):
 *                  the target checks it has each local address and the
 *                  hand-over, attaches its programs and locks every tuple;
 *                  all of this before the source freezes anything
 *   <- PREPARED    ok, or the error (nothing was frozen: the source just stops)
 *     ... the source freezes, locks and dumps: the pause begins ...
 *   the dump       as an image stream (images/stream.h: HEAD, INDEX, one
 *                  CONN per connection, END; the same frames and records as
 *                  `dump --out -`): the target validates all of it, END's
 *                  count and crc included, then rebuilds each socket in
 *                  repair mode
 *   <- BUILT       ok, or the error
 *     ... the source runs the user's --flip (traffic moves to the target) ...
 *   COMMIT         the point of no return: once sent, the source never resumes
 *   <- COMMITTED   the target took the sockets out of repair, handed them
 *                  over, dropped its locks and nudged the peers; or the error
 *   DONE           the source killed the process silently and unlocked
 *
 * ABORT, from either side at any point before COMMIT, ends the move: the
 * target closes its repaired sockets (silently: still in repair) and the
 * source resumes.  A channel that breaks before COMMIT is an ABORT.  A
 * channel that breaks after COMMIT was sent and before COMMITTED arrived
 * leaves the move in doubt: the source stays frozen and locked, and the
 * target's journal (journal.h) says how it ended.
 */
#ifndef TF_MOVE_PROTO_H
#define TF_MOVE_PROTO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "frame.h"
#include "tcpferry.h"

#define MV_PROTO_VERSION 2	/* 2: PREPARE carries the clock skew */
#define MV_ID_LEN 48		/* a move's id, NUL included */
#define MV_MSG_MAX (64u << 20)	/* no message is longer (an image: 2 queues) */

enum mv_type {
	MV_HELLO = 32,
	MV_WELCOME,
	MV_PREPARE,
	MV_PREPARED,
	MV_BUILT,
	MV_COMMIT,
	MV_COMMITTED,
	MV_DONE,
	MV_ABORT,
	/* The hand-off service (handoff.h): after HELLO and WELCOME, any
	 * number of hand-offs on one channel, pipelined, each named by its seq. */
	MV_HO_OFFER,		/* one connection's image, to be built in repair mode */
	MV_HO_BUILT,		/* <- built (still in repair), or why not */
	MV_HO_STEP,		/* commit it, discard it, or: the frontend steers it now */
	MV_HO_LIVE,		/* <- out of repair and handed over, or why not */
	MV_HO_ENDED,		/* <- a connection handed over here has ended */
	MV_HO_PING,		/* are you there? (the frontend, on a quiet channel) */
	MV_HO_PONG,		/* <- yes: the ping's number back */
	MV_HO_HEALTH,		/* <- its own check's verdict changed (receive --serve --check) */
	MV_TYPE_END
};

const char *mv_type_name(uint16_t type);

/* What the target's kernel and tcpferry can do (WELCOME.features). */
#define MV_FEAT_TCX		(1u << 0)	/* tcx links (Linux 6.6) */
#define MV_FEAT_USEC_TS		(1u << 1)	/* usec TCP timestamps (6.7) */
#define MV_FEAT_SERVE		(1u << 2)	/* a hand-off service (receive --serve) */
#define MV_FEAT_CONN_END	(1u << 3)	/* it reports connections' ends (HO_ENDED) */
#define MV_FEAT_PING		(1u << 4)	/* it answers HO_PING with HO_PONG */
#define MV_FEAT_CHECK		(1u << 5)	/* it runs a health check of its own (HO_HEALTH) */
#define MV_FEAT_DECAP_KNOWN	(1u << 6)	/* the next two bits say what it unwraps (decap_probe.h): */
#define MV_FEAT_DECAP_IPIP	(1u << 7)	/* IPIP: an l3 steer of IPv4 clients reaches it */
#define MV_FEAT_DECAP_IP6IP6	(1u << 8)	/* IP6IP6: of IPv6 clients */

struct mv_hello {
	uint32_t version;
	uint64_t realtime_ns;
	char id[MV_ID_LEN];
	char host[64];
};

struct mv_welcome {
	uint32_t version;
	uint32_t features;
	uint64_t realtime_ns;
	uint32_t pid;
	char host[64];
};

#define MV_PREP_NUDGE	(1u << 0)	/* nudge each peer after the unlock */
#define MV_PREP_SEND_TO	(1u << 1)	/* argv[0] is a unix socket path, not a program */
#define MV_PREP_NO_PROBE (1u << 2)	/* leave repair without the window probe */
#define MV_ARGS_MAX 64

struct mv_prepare {
	uint32_t ttl_s;		/* lock expiry; 0 = never */
	uint32_t flags;
	/*
	 * The target's CLOCK_REALTIME minus the source's, at most: WELCOME's
	 * clock minus the source's when it read WELCOME.  Too small by one way
	 * of the channel, never too large, so a dump time moved onto the
	 * target's clock is never later than it was, and the timestamp rule's
	 * elapsed time is never too short (a HELLO-based skew, read when the
	 * target's tcpferry has started, can be seconds too large).
	 */
	int64_t skew_ns;
	uint32_t argc;
	char **argv;		/* argc strings, NULL-terminated (malloc'ed) */
	struct tf_index ix;	/* the tuples (the images' names are the dump's) */
};

/* PREPARED, BUILT and COMMITTED: how the step went at the target. */
struct mv_reply {
	int32_t status;		/* 0, or a negative errno */
	uint32_t pid;		/* COMMITTED: who has the sockets now */
	uint32_t count;		/* connections built / handed over */
	uint32_t nudged;
	uint64_t dropped;	/* packets the target's locks dropped */
	char text[512];		/* the error line, or a note */
};

struct mv_abort {
	uint32_t flip_ran;	/* the source ran --flip: traffic may reach the target */
	char text[512];
};

/*
 * A hand-off (handoff.h), one connection: the frontend's OFFER carries its
 * image (the bytes the frontend read already put back in front of the
 * receive queue); the backend builds it and says BUILT; the frontend says
 * COMMIT (or DISCARD: it took the connection back); the backend takes it out
 * of repair, hands it over and says LIVE; the frontend steers the tuple to
 * the backend, closes its copy silently and says FLIPPED, on which the
 * backend nudges the client (before it, the client's answer would still
 * meet the frontend's lock).
 */
#define MV_HO_NUDGE	(1u << 0)	/* nudge the client at FLIPPED */
#define MV_HO_NO_PROBE	(1u << 1)	/* leave repair without the window probe */

struct mv_ho_offer {
	uint64_t seq;
	uint32_t flags;		/* MV_HO_* */
	int64_t skew_ns;	/* as PREPARE's */
	struct tf_conn conn;	/* decoded and validated (tf_image_decode); free it */
};

enum mv_ho_step_kind { MV_HO_COMMIT = 1, MV_HO_DISCARD, MV_HO_FLIPPED };

struct mv_ho_step {
	uint64_t seq;
	uint32_t step;		/* enum mv_ho_step_kind */
};

/* BUILT and LIVE. */
struct mv_ho_reply {
	uint64_t seq;
	int32_t status;		/* 0, or a negative errno */
	uint32_t pid;		/* LIVE: who has the socket now */
	char text[512];		/* the error line */
};

struct mv_ho_ended {
	struct tf_endpoint local, peer;
};

struct mv_ho_health {
	uint32_t healthy;	/* 0 or 1 */
	char text[256];		/* why not ("" when healthy) */
};

/*
 * Frames waiting to be written, for a channel whose writer must never block
 * (a hand-off frontend: while the other side is blocked writing answers we
 * do not read, a blocking write of ours would deadlock both).
 */
struct mv_outq {
	uint8_t *buf;
	size_t off, len, cap;
};

/* One end of the channel. */
struct mv_chan {
	int in, out;		/* read from, write to (may be the same fd) */
	struct mv_outq *outq;	/* NULL: each send writes the whole frame, blocking */
	int timeout_ms;		/* for each reply; < 0: wait for ever */
	bool aborted;		/* the other side sent ABORT: */
	struct mv_abort abort;	/* what it said */
};

int mv_send(struct mv_chan *c, uint16_t type, const void *p, uint32_t len);
/* With an outq: write what the socket takes now, without blocking; 0 or a negative errno. */
int mv_flush(struct mv_chan *c);
/* Does the outq hold bytes not yet written (poll for POLLOUT)? */
bool mv_unflushed(const struct mv_chan *c);
/*
 * The next frame, whatever its type (the dump's stream frames come this
 * way), at most max_len bytes; an ABORT is -ECONNABORTED, as below.
 */
int mv_recv_frame(struct mv_chan *c, const char *what, uint32_t max_len, struct tf_frame *f);
/*
 * Wait for a message of type want.  An ABORT instead is -ECONNABORTED (its
 * c->abort), a closed channel -ENODATA or -EPIPE, another type
 * -EPROTO; every error has its detail in tf_strerror().
 */
int mv_recv(struct mv_chan *c, uint16_t want, struct tf_frame *f);

int mv_send_hello(struct mv_chan *c, const struct mv_hello *h);
int mv_recv_hello(struct mv_chan *c, struct mv_hello *h);
int mv_send_welcome(struct mv_chan *c, const struct mv_welcome *w);
int mv_recv_welcome(struct mv_chan *c, struct mv_welcome *w);
int mv_send_prepare(struct mv_chan *c, const struct mv_prepare *p);
int mv_recv_prepare(struct mv_chan *c, struct mv_prepare *p);
void mv_prepare_free(struct mv_prepare *p);
int mv_send_reply(struct mv_chan *c, uint16_t type, const struct mv_reply *r);
int mv_recv_reply(struct mv_chan *c, uint16_t type, struct mv_reply *r);
int mv_send_abort(struct mv_chan *c, bool flip_ran, const char *text);

int mv_send_ho_offer(struct mv_chan *c, const struct mv_ho_offer *o);
int mv_send_ho_step(struct mv_chan *c, uint64_t seq, enum mv_ho_step_kind step);
int mv_send_ho_reply(struct mv_chan *c, uint16_t type, const struct mv_ho_reply *r);
int mv_send_ho_ended(struct mv_chan *c, const struct mv_ho_ended *e);
/* HO_PING or HO_PONG (type), with the ping's number. */
int mv_send_ho_beat(struct mv_chan *c, uint16_t type, uint64_t seq);
int mv_send_ho_health(struct mv_chan *c, const struct mv_ho_health *h);

/* The payload decoders alone (for the fuzzers): 0 or -EBADMSG. */
int mv_decode_hello(const uint8_t *p, size_t n, struct mv_hello *h);
int mv_decode_welcome(const uint8_t *p, size_t n, struct mv_welcome *w);
int mv_decode_prepare(const uint8_t *p, size_t n, struct mv_prepare *out);
int mv_decode_reply(const uint8_t *p, size_t n, struct mv_reply *r);
int mv_decode_abort(const uint8_t *p, size_t n, struct mv_abort *a);
int mv_decode_ho_offer(const uint8_t *p, size_t n, struct mv_ho_offer *o);
int mv_decode_ho_step(const uint8_t *p, size_t n, struct mv_ho_step *s);
int mv_decode_ho_reply(const uint8_t *p, size_t n, struct mv_ho_reply *r);
int mv_decode_ho_ended(const uint8_t *p, size_t n, struct mv_ho_ended *e);
int mv_decode_ho_beat(const uint8_t *p, size_t n, uint64_t *seq);
int mv_decode_ho_health(const uint8_t *p, size_t n, struct mv_ho_health *h);

#endif
