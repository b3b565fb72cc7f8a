/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libtcpferry: take an established TCP socket out of the kernel with
 * TCP_REPAIR, keep it as a flat struct or an image file, and rebuild it.
 *
 * Every function returns 0 (or a count) on success and a negative errno on
 * failure; tf_strerror() then gives one line that says what failed and on
 * what, e.g. "bind 10.0.0.1:80: address not on this host".
 */
#ifndef TCPFERRY_H
#define TCPFERRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TF_VERSION "0.1.0"

/* An endpoint as the socket sees it: a v4-mapped socket has family AF_INET6. */
struct tf_endpoint {
	uint16_t family;	/* AF_INET or AF_INET6 */
	uint16_t port;		/* host byte order */
	uint32_t scope_id;	/* IPv6 link-local scope; 0 otherwise */
	uint8_t addr[16];	/* IPv4 in addr[0..3] */
};

/* TCP options negotiated at the handshake (tf_conn.opts). */
#define TF_OPT_SACK	(1u << 0)
#define TF_OPT_TSTAMP	(1u << 1)
#define TF_OPT_WSCALE	(1u << 2)

/* What TCP_REPAIR_WINDOW reads and writes (struct tcp_repair_window). */
struct tf_window {
	uint32_t snd_wl1;
	uint32_t snd_wnd;
	uint32_t max_window;
	uint32_t rcv_wnd;
	uint32_t rcv_wup;
};

/* User-set socket options carried over; ids are stable, they go in images. */
enum tf_sockopt_id {
	TF_SO_NODELAY = 1,
	TF_SO_CORK,
	TF_SO_KEEPALIVE,
	TF_SO_KEEPIDLE,
	TF_SO_KEEPINTVL,
	TF_SO_KEEPCNT,
	TF_SO_USER_TIMEOUT,
	TF_SO_CONGESTION,
	TF_SO_NOTSENT_LOWAT,
	TF_SO_MARK,
	TF_SO_PRIORITY,
	TF_SO_TOS,		/* IP_TOS or IPV6_TCLASS */
	TF_SO_TTL,		/* IP_TTL or IPV6_UNICAST_HOPS */
	TF_SO_SNDBUF,		/* only when set by hand (SO_BUF_LOCK) */
	TF_SO_RCVBUF,		/* only when set by hand (SO_BUF_LOCK) */
	TF_SO_LINGER,
	TF_SO_REUSEADDR,
	TF_SO_BINDTODEVICE,
	TF_SO_MAX_PACING_RATE,
	TF_SO_BUF_LOCK,
	TF_SO_V6ONLY,
	TF_SO_RCVLOWAT,
	TF_SO_MTU_DISCOVER,	/* IP_MTU_DISCOVER or IPV6_MTU_DISCOVER */
	TF_SO__COUNT
};

#define TF_SOCKOPT_MAX_LEN 32

struct tf_sockopt {
	uint16_t id;		/* enum tf_sockopt_id */
	uint16_t len;		/* bytes used in val */
	uint8_t val[TF_SOCKOPT_MAX_LEN];
};

/*
 * One TCP connection, established or half-closed, flat.  Sequence numbers
 * are the kernel's, counting data only: snd_seq is write_seq (after the last
 * byte the application queued), rcv_seq is rcv_nxt, each without a FIN that
 * tcp_state implies (ours in FIN_WAIT1/2, CLOSING and LAST_ACK; the peer's in
 * CLOSE_WAIT, CLOSING and LAST_ACK).  The send queue holds outq_len bytes
 * starting at snd_una; its last unsent_len bytes were never sent.
 */
struct tf_conn {
	uint16_t sock_family;	/* AF_INET or AF_INET6 (also for v4-mapped) */
	uint16_t tcp_state;	/* TCP_ESTABLISHED, or a half-closed state */
	struct tf_endpoint local;
	struct tf_endpoint peer;

	uint32_t snd_seq;
	uint32_t rcv_seq;
	uint32_t mss_clamp;
	uint32_t opts;		/* TF_OPT_* */
	uint8_t snd_wscale;
	uint8_t rcv_wscale;
	bool has_window;	/* TCP_REPAIR_WINDOW was read */
	struct tf_window window;

	/* Timestamp clock: TCP_TIMESTAMP at dump, bit 0 = usec-TS flag (from
	 * tcp_info: before 6.7 the kernel's bit 0 is the ms clock's). */
	uint32_t ts_clock;
	/* Largest tsval seen on the wire (from the BPF map), if any. */
	bool has_ts_wire;
	uint32_t ts_wire;
	/* When the dump happened (CLOCK_REALTIME, ns): elapsed time at restore. */
	uint64_t dump_time_ns;

	uint32_t inq_len;	/* unread bytes in the receive queue */
	uint8_t *inq;
	uint32_t outq_len;	/* unacked + unsent bytes in the send queue */
	uint32_t unsent_len;	/* the tail of outq that was never sent */
	uint8_t *outq;
	bool fin_unsent;	/* our FIN is queued but not sent yet (behind unsent data) */

	uint32_t n_sockopts;
	struct tf_sockopt sockopts[TF_SO__COUNT];
};

/* ---- repair: one socket --------------------------------------------------- */

/*
 * Why a socket cannot be carried, or 0: takes ESTABLISHED and the half-closed
 * states (FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, CLOSING, LAST_ACK); refuses
 * LISTEN, SYN_SENT, SYN_RECV, TIME_WAIT, CLOSE, non-TCP, MPTCP and sockets
 * with a ULP (kTLS).
 */
int tf_check_socket(int fd);
/* A Linux TCP state's name as ss and the kernel spell it ("CLOSE_WAIT"), or "?". */
const char *tf_tcp_state_name(unsigned state);

int tf_repair_on(int fd);
/* 1 if the socket is in repair mode, 0 if not, or a negative errno. */
int tf_repair_state(int fd);
/* probe: true sends the window probe (TCP_REPAIR 0), false does not (-1). */
int tf_repair_off(int fd, bool probe);
/*
 * Give a dumped socket back to its process: repair off, then what repair mode
 * changed put back from c (SO_REUSEADDR, as tf_conn_identify() read it before
 * repair on; c without it: left as repair off leaves it, 0).
 */
int tf_repair_leave(int fd, const struct tf_conn *c, bool probe);

/*
 * Start c: endpoints, family, and what repair mode would hide (SO_REUSEADDR).
 * Call it before tf_repair_on().
 */
int tf_conn_identify(int fd, struct tf_conn *c);
/*
 * The same for a socket identified before as before (a connected TCP socket
 * keeps its endpoints): endpoints and family copied, SO_REUSEADDR read again.
 */
int tf_conn_identify_again(int fd, const struct tf_conn *before, struct tf_conn *c);

/*
 * Read the whole state of a socket that is in repair mode into c, which
 * tf_conn_identify() started (a zeroed c works too, without SO_REUSEADDR).
 */
int tf_dump(int fd, struct tf_conn *c);

struct tf_restore_opts {
	bool freebind;		/* bind even if the local address is not here yet */
	bool no_ts_fixup;	/* restore the dumped clock as is (tests: proves PAWS) */
	uint32_t ts_margin;	/* added to the timestamp, in the flow's unit; 0 = default */
	uint32_t ts_chosen;	/* out: the TCP_TIMESTAMP value that was set */
	int32_t ts_offset;	/* out: ts_chosen minus this host's bare TCP clock then (the socket's tsoffset, to a unit) */
};

/*
 * Rebuild c into a new socket, left in repair mode with everything but the
 * unsent tail in place.  Returns the fd (>= 0) or a negative errno.
 */
int tf_restore(const struct tf_conn *c, struct tf_restore_opts *o);

/*
 * Take a restored socket out of repair mode and queue the unsent tail, so
 * the kernel sends it.  probe as in tf_repair_off().
 */
int tf_restore_finish(int fd, const struct tf_conn *c, bool probe);

/* The value restore gives TCP_TIMESTAMP (see user/lib/tsclock.c). */
uint32_t tf_ts_restore_value(const struct tf_conn *c, uint64_t now_realtime_ns,
			     uint32_t margin);

void tf_conn_free(struct tf_conn *c);

/* ---- images ---------------------------------------------------------------- */

/* Encode c into a malloc'ed buffer; *len gets its size. */
int tf_image_encode(const struct tf_conn *c, uint8_t **buf, size_t *len);
/* Decode and validate; nothing of buf is trusted.  c must be freed. */
int tf_image_decode(const uint8_t *buf, size_t len, struct tf_conn *c);

/*
 * Files are created 0600 (they hold connection payload), under a temporary
 * name and renamed, so a reader never sees half a file.  An image is durable
 * once tf_index_write() for its directory returns: it syncs the directory's
 * file system before the index, which marks the dump complete, is written
 * (and fsynced).
 */
int tf_image_write(const char *path, const struct tf_conn *c);
int tf_image_read(const char *path, struct tf_conn *c);

/* The index of a dump directory. */
struct tf_index_entry {
	char file[64];		/* image file name within the directory */
	struct tf_endpoint local;
	struct tf_endpoint peer;
};

struct tf_index {
	uint32_t pid;		/* the process the dump came from */
	uint64_t time_ns;	/* CLOCK_REALTIME at dump */
	char host[64];
	uint32_t n;
	struct tf_index_entry *entries;
};

int tf_index_encode(const struct tf_index *ix, uint8_t **buf, size_t *len);
int tf_index_decode(const uint8_t *buf, size_t len, struct tf_index *ix);
int tf_index_write(const char *dir, const struct tf_index *ix);
int tf_index_read(const char *dir, struct tf_index *ix);
void tf_index_free(struct tf_index *ix);

/* ---- taking restored sockets: the receiving end of --send-to PATH ----------- */

/*
 * A server that takes connections restored by `tcpferry restore --send-to
 * PATH` or `tcpferry receive --send-to PATH` (over a unix socket, SCM_RIGHTS)
 * uses these as it would socket/bind/listen and accept(2):
 *
 *	struct tf_handoff_listener *l;
 *	struct tf_handoff_conn c;
 *
 *	if (tf_handoff_listen("/run/myserver.sock", &l) < 0) ...tf_strerror()...
 *	while (tf_handoff_accept(l, &c) >= 0)
 *		serve(c.fd, &c.local, &c.peer);	// a live, connected TCP socket
 *
 * Each socket comes out of repair mode already, with whatever its peer had
 * sent still to be read, as a freshly accepted one.  Only root and the
 * server's own user may hand sockets over: the socket file is created 0600
 * and each sender's SO_PEERCRED is checked (others are closed unheard).
 */
#define TF_HANDOFF_NAME_MAX 72

struct tf_handoff_listener;

struct tf_handoff_conn {
	int fd;					/* the connection; the caller closes it */
	char name[TF_HANDOFF_NAME_MAX];		/* its name in the sender's dump */
	struct tf_endpoint local, peer;		/* getsockname, getpeername */
	uint32_t sender_uid;			/* who handed it over (0: root) */
};

/* A listening unix stream socket at path (a stale socket there is replaced). */
int tf_handoff_listen(const char *path, struct tf_handoff_listener **l);
/* The next socket handed over (blocks until one comes): its fd, or a
 * negative errno (-EINTR on a signal; -EPROTO for a sender that is not
 * tcpferry's hand-off, whose fds are closed: call it again). */
int tf_handoff_accept(struct tf_handoff_listener *l, struct tf_handoff_conn *c);
/* Closes what was received and not taken, and removes the socket file. */
void tf_handoff_listener_close(struct tf_handoff_listener *l);

/* ---- handing a connection to another host for good ------------------------- */

/*
 * A frontend (a load balancer that read the first request) gives a connected
 * socket to a backend host for the rest of its life.  The backend runs
 * `tcpferry receive --serve`, which rebuilds the socket and hands it to its
 * server (exec per connection, or tf_handoff_accept() above); from then on
 * this host's ingress program steers the client's packets of that tuple to
 * the backend (the steer table: l2 MAC rewrite, or l3 IPIP / IP6IP6), and
 * the backend answers the client directly.  The client sees nothing: before
 * the backend says it has the socket, the connection is still this host's
 * and any failure gives it back (lock dropped, repair off).
 *	struct tf_backend *b;
 *	struct tf_backend_opts o = { .via = "ssh root@b1 tcpferry receive --serve --send-to /run/srv.sock",
 *				     .addr = "10.0.0.11", .mode = "l3" };
 *	if (tf_backend_open(&o, &b) < 0) ...tf_strerror()...
 *	// fd: an accepted connection; buf holds the n bytes of its first request we read
 *	if (tf_handoff(b, fd, buf, n) < 0) ...still ours, live: tf_strerror() says why...
 * One channel per backend, kept open; hand-offs on it may be pipelined
 * (tf_handoff_submit, then tf_handoff_poll when tf_backend_fd is readable
 * or a deadline passes).  Needs CAP_NET_ADMIN and CAP_BPF.
 */
struct tf_backend;

struct tf_backend_opts {
	const char *via;	/* sh -c VIA: its stdin and stdout reach `tcpferry receive --serve` */
	/* The backend's addresses, where the client's packets are steered: one
	 * for IPv4 clients, one for IPv6 (either may be NULL; a steer's outer
	 * family is the connection's). */
	const char *addr, *addr6;
	const char *mode;	/* "l2" (same segment, VIP on the backend's lo) or "l3" (tunnel); NULL: "l3" */
	const char *dev;	/* NULL: the route's device towards addr */
	const char *mac;	/* NULL: from the neighbour table */
	const char *outer_src;	/* l3: the outer source; NULL: the route's preferred source */
	const char *bpffs;	/* this host's pin directory; NULL: /sys/fs/bpf/tcpferry */
	int timeout_ms;		/* the longest wait for each of the backend's answers; 0: 2000 */
	unsigned lock_ttl_s;	/* the lock's expiry while a hand-off is under way; 0: 30 */
	bool no_nudge;		/* the backend does not nudge the client after the flip */
	/* A channel quiet for this long is pinged, and taken for broken when the
	 * ping gets no answer within timeout_ms (a backend host gone silent,
	 * an ssh session hung); 0: 1000, < 0: never. */
	int heartbeat_ms;
};

int tf_backend_open(const struct tf_backend_opts *o, struct tf_backend **b);
/*
 * Poll it for tf_backend_events (POLLIN, and POLLOUT while messages wait to
 * be written: the channel never blocks the caller), and call tf_handoff_poll
 * when it is ready.  Messages wait only for that: a caller that blocks
 * elsewhere (in accept) with POLLOUT asked holds up the backend's answers.
 */
int tf_backend_fd(const struct tf_backend *b);
short tf_backend_events(const struct tf_backend *b);
/* Is the channel up?  A backend whose channel broke takes no more hand-offs. */
bool tf_backend_up(const struct tf_backend *b);
/* Up, and its own check (if it runs one) passes: a caller hands off only to
 * a healthy backend (submit does not refuse: the policy is the caller's). */
bool tf_backend_healthy(const struct tf_backend *b);
/* Hand-offs under way are taken back first (those past the commit are left in doubt). */
void tf_backend_close(struct tf_backend *b);

struct tf_backend_stats {
	uint64_t offered, handed_off, refused, taken_back, in_doubt;
	uint64_t ended;		/* connections the backend reported ended: their steers linger */
	uint64_t steers_removed;	/* by the gc that submit and poll run (once a second) */
	uint32_t in_flight;
	uint32_t backend_pid;	/* its tcpferry receive */
	char backend_host[64];
	uint64_t pings;		/* heartbeats sent on the quiet channel */
	char down_why[256];	/* why the channel broke ("" while it is up) */
	bool checked;		/* it runs a check of its own (receive --serve --check) */
	bool unhealthy;		/* and that check fails now: hand it nothing */
	char unhealthy_why[256];
};
void tf_backend_stats(const struct tf_backend *b, struct tf_backend_stats *s);

struct tf_handoff_req {
	int fd;			/* a connected TCP socket of this host (ours, or a pidfd_getfd copy) */
	const void *prepend;	/* bytes already read from it, put back in front of what is
				 * unread (the last prepend_len bytes read: the sequence
				 * numbers stay exact), or NULL */
	size_t prepend_len;
	void *cookie;		/* the caller's, given back in tf_handoff_done */
};

/*
 * Start a hand-off: the tuple locked and steered (the lock wins until the
 * backend has the socket), the socket in repair mode and read, its image
 * sent.  0, or a negative errno when nothing was changed (the socket as it
 * was: a tuple locked or steered already, a full steer table, a channel
 * down, a prepend longer than what was read).
 */
int tf_handoff_submit(struct tf_backend *b, const struct tf_handoff_req *r);

struct tf_handoff_done {
	void *cookie;
	int fd;			/* the request's */
	/*
	 * 0: the backend has the connection; fd was closed here (silently:
	 * in repair).  Negative: it is still this host's, out of repair and
	 * unlocked, as before (text says why), except -EINPROGRESS: in doubt,
	 * the backend's answer to the commit was lost: fd stays in repair
	 * and locked (text says how to settle it).
	 */
	int status;
	uint32_t backend_pid;	/* who has it there */
	double ms;		/* from submit to the end */
	char text[512];
};

/*
 * What the backend said, and deadlines that passed: up to max hand-offs
 * ended, in out; waits up to timeout_ms (0: not at all, < 0: for ever) for
 * the first.  Connections the backend reports ended have their steers
 * linger (their last packets still go there), and gc removes the steers
 * that ended or idled out (at most once a second: call it at least that
 * often, e.g. from an idle loop).  Returns how many ended, or a negative errno (the channel broke:
 * the hand-offs under way are ended with it).
 */
int tf_handoff_poll(struct tf_backend *b, int timeout_ms, struct tf_handoff_done *out, int max);

/* submit and wait for its end: 0, or its negative status (tf_strerror()). */
int tf_handoff(struct tf_backend *b, int fd, const void *prepend, size_t prepend_len);

/* ---- errors ------------------------------------------------------------------ */

/* The detail of the last failure in this thread ("" if none). */
const char *tf_strerror(void);

/* "10.0.0.1:80" or "[fd00::1]:80" into buf (at least TF_ADDRSTRLEN). */
#define TF_ADDRSTRLEN 64
const char *tf_endpoint_str(const struct tf_endpoint *e, char *buf, size_t len);
/* The address alone, without the port: "10.0.0.1", "fd00::1". */
const char *tf_addr_str(const struct tf_endpoint *e, char *buf, size_t len);
/* Parse "10.0.0.1:80" or "[fd00::1]:80". */
int tf_endpoint_parse(const char *s, struct tf_endpoint *e);

#ifdef __cplusplus
}
#endif
#endif /* TCPFERRY_H */
