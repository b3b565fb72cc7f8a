/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The balancer's configuration: backends, pools of them, and rules that
 * send a connection's first request (first_request.h) to a pool.  One
 * statement a line; '#' starts a comment; words are separated by blanks; a
 * word may be double-quoted (with \", \\ and \xNN inside):
 *
 *   backend NAME [addr A] [addr6 A6] [mode l2|l3] [dev IFACE] [mac MAC]
 *                [src ADDR] [via] CHANNEL...
 *       a host running `tcpferry receive --serve`; CHANNEL is the command
 *       whose stdin/stdout reach it (ssh root@10.0.0.2 tcpferry receive
 *       --serve ...), or unix:PATH for one on this machine.  The KEY VALUE
 *       pairs before it say where the client's packets are steered once
 *       the backend has a connection (tcpferry.h, tf_backend_opts): addr
 *       and addr6 the backend's IPv4 and IPv6 address (`tcpferry balance`
 *       needs at least one), mode l2 (same segment) or l3 (a tunnel, the
 *       default), dev, mac and src the device, next hop and outer source
 *       (default: from the routes).  The optional word via ends them; the
 *       rest of the line is the channel.
 *   pool NAME POLICY MEMBER...
 *       POLICY: roundrobin | leastconn | hash-host | hash-client
 *       MEMBER: BACKEND or BACKEND*WEIGHT (1 to 1000; 1 if not given)
 *   match host PATTERN [path PREFIX] pool NAME
 *   match path PREFIX pool NAME
 *   match sni PATTERN pool NAME
 *   match prefix BYTES pool NAME
 *       PATTERN: a host name, or *.SUFFIX for any name under it (not
 *       SUFFIX itself); case does not matter.  host matches HTTP's Host,
 *       sni a TLS ClientHello's server name, prefix the first bytes of
 *       anything (HTTP and TLS included), path an HTTP path prefix.
 *   default pool NAME
 *   default status 404|503
 *       what a connection no rule matches gets (without a default: 503)
 *   listen ADDR:PORT | [ADDR6]:PORT
 *       a listener, as --listen (both add up); read at the start only
 *
 * Rules are tried in their order; the first that matches wins.  A name is
 * defined before it is used, once.  Errors say "FILE:LINE: what; how to fix".
 */
#ifndef TF_BALANCE_RULES_H
#define TF_BALANCE_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "first_request.h"

#define BAL_NAME_MAX	64
#define BAL_PREFIX_MAX	64
#define BAL_WEIGHT_MAX	1000
#define BAL_LISTEN_MAX	80		/* "[ADDR6%scope]:PORT" */

enum bal_policy { BAL_ROUNDROBIN, BAL_LEASTCONN, BAL_HASH_HOST, BAL_HASH_CLIENT };
enum bal_match { BAL_MATCH_HOST, BAL_MATCH_PATH, BAL_MATCH_SNI, BAL_MATCH_PREFIX };

struct bal_backend {
	char name[BAL_NAME_MAX];
	char *channel;			/* the command line, words joined by spaces */
	/* Where the steer sends the client's packets ("" when not given). */
	char addr[64], addr6[64], mode[4], dev[32], mac[24], src[64];
	bool up;			/* the channel is there (the service sets it) */
	bool unhealthy;			/* and its own check fails (the service sets it) */
	unsigned conns;			/* live connections handed to it */
};

struct bal_member {
	int backend;			/* index in bal_config.backends */
	unsigned weight;
	long current;			/* smooth weighted round robin's running score */
};

struct bal_pool {
	char name[BAL_NAME_MAX];
	enum bal_policy policy;
	struct bal_member *members;
	int n;
};

struct bal_rule {
	enum bal_match kind;
	char host[FR_HOST_MAX];		/* host, sni: the pattern, lower case */
	char path[FR_PATH_MAX];		/* path, or host ... path: the prefix ("" none) */
	uint8_t prefix[BAL_PREFIX_MAX];
	size_t prefix_len;
	int pool;
	int line;
	uint64_t matches;
};

struct bal_config {
	struct bal_backend *backends;
	struct bal_pool *pools;
	struct bal_rule *rules;
	int n_backends, n_pools, n_rules;
	int default_pool;		/* -1: none */
	int default_status;		/* without a default pool: 404 or 503 */
	bool default_seen;		/* a default line was read (a second is an error) */
	char (*listens)[BAL_LISTEN_MAX];	/* listen lines, in order */
	int n_listens;
};

/* text (named source in errors) into c; 0 or -EINVAL with tf_strerror(). */
int bal_config_parse(const char *text, const char *source, struct bal_config *c);
int bal_config_load(const char *path, struct bal_config *c);
/* More lines (the --rule flags' one each) into a config parsed already: they
 * may use its names.  0, or -EINVAL with tf_strerror() (c is kept as it was
 * before the failing line's statement, and stays the caller's to free). */
int bal_config_add(struct bal_config *c, const char *text, const char *source);
/* A deep copy of c (each loop of a balancer has its own: balancer.h); 0 or -ENOMEM. */
int bal_config_dup(const struct bal_config *c, struct bal_config *out);
void bal_config_free(struct bal_config *c);

/*
 * The pool for a connection whose first bytes are bytes[0..len) and r their
 * reading: the first rule that matches (its count goes up), else the
 * default pool; -1 if neither (answer c->default_status).
 */
int bal_route(struct bal_config *c, const struct first_request *r, const uint8_t *bytes, size_t len);
/*
 * Would more bytes of a connection that is neither HTTP nor TLS change its
 * route?  True while a prefix rule, before any that matches already, starts
 * with all it sent (it sent "SA", a rule wants "SAY"): the reader waits.
 */
bool bal_route_needs_more(const struct bal_config *c, const uint8_t *bytes, size_t len);

#endif
