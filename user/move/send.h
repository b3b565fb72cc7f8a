/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The source's side of a move between hosts (`tcpferry migrate send`): the
 * channel started first (any command whose stdio reaches `tcpferry receive`
 * on the target: `ssh root@hostB tcpferry receive`), the target prepared
 * (attached and locked) before anything here is frozen, then freeze, dump,
 * images over the channel, the target's build, the user's --flip, the
 * commit, and the source retired.  See proto.h for the protocol.
 */
#ifndef TF_MOVE_SEND_H
#define TF_MOVE_SEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

struct tf_route_change;

struct send_opts {
	pid_t pid;			/* the process whose connections move */
	const char *via;		/* sh -c VIA: its stdio reaches `tcpferry receive` */
	int channel;			/* without via: a byte stream to move_receive already
					 * (a socketpair: migrate move); closed at the end */
	const char *what;		/* the command in messages (NULL: "migrate send") */
	const char *bpffs;		/* this host's pin directory */
	const char *journal_dir;	/* this side's journal (and an in-doubt move's images) */
	const char *flip;		/* sh -c FLIP moves the traffic, after the build */
	const char *unflip;		/* sh -c UNFLIP moves it back, if the move aborts after FLIP */
	long ttl;			/* lock expiry on both hosts, seconds; 0 = never */
	long freeze_timeout_ms;
	int timeout_ms;			/* the longest wait for each of the target's answers */
	bool nudge, probe;
	char **cmd;			/* the target's program for the sockets */
	const char *send_to;		/* or: a running receiver's unix socket there */
	struct tf_route_change *route;	/* replaced at the flip, before --flip (route.h); or NULL */
	const char *keep_dir;		/* or NULL: the dump also written there as a dump
					 * directory, once sent (while the target builds), for
					 * tools/migrate.sh's steps after a crash */
	const char *target_journal;	/* the target's journal directory, for the advice of a
					 * move in doubt (NULL: receive's default, where --via reached) */
};

enum send_phase { S_CONNECT, S_PREPARE, S_FREEZE, S_DUMP, S_SEND, S_BUILD, S_FLIP, S_COMMIT, S_RETIRE, S_N };
extern const char *const send_phase_name[S_N];

struct send_result {
	char id[MV_ID_LEN];
	char target_host[64];
	uint32_t target_features;	/* MV_FEAT_* */
	pid_t to_pid;			/* who has the sockets at the target */
	int connections;
	int nudged;
	uint64_t dropped_from, dropped_to;	/* packets each host's locks dropped */
	double ms[S_N];
	double at[S_N + 1];		/* when each phase began (mv_now_ms), at[S_N] the end */
	double routed_at;		/* when the route was replaced (in the flip phase) */
	double locked_window_ms;	/* from the dump's first lock to the target's COMMITTED */
	bool in_doubt;			/* the commit's answer was lost: see the report */
};

/*
 * The whole move.  0 when it committed and the source retired; 1 with the
 * error reported: before COMMIT everything is back at the source (its
 * process continued, its locks dropped); after it, never (res->in_doubt
 * when nobody knows whether the target committed: the process stays
 * stopped and locked, and the report says how to settle it).
 */
int move_send(const struct send_opts *o, struct send_result *res);

#endif
