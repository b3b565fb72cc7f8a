/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A backend's own health check (`tcpferry receive --serve --check CMD`):
 * sh -c CMD every interval, exit 0 is healthy.  It runs on the backend,
 * where the service is: with the VIP on the backend's lo and servers started
 * per connection (--each), nothing listens that the frontend could probe,
 * while a command here can ask what the connections will meet (a database,
 * a disk, `curl -sf http://127.0.0.1:8080/health`).  The verdict travels on
 * the channel (HO_HEALTH) and an unhealthy backend gets no hand-offs.
 *
 * The first run decides; after it, FALL failed runs in a row make it
 * unhealthy and RISE passed ones healthy again (HAProxy's fall and rise).  A
 * run that outlasts the interval is killed and fails.  Never blocks: the
 * caller's loop starts runs (hc_tick) and gives it the children it reaps.
 */
#ifndef TF_MOVE_HEALTH_CHECK_H
#define TF_MOVE_HEALTH_CHECK_H

#include <stdbool.h>
#include <sys/types.h>

#define HC_FALL 2
#define HC_RISE 2

struct health_check {
	const char *cmd;		/* NULL: no check, always healthy */
	int interval_ms;
	int output;			/* its stdout and stderr (< 0: ours) */
	pid_t pid;			/* a run under way, or 0 */
	double started_ms, next_ms;
	bool decided, healthy;
	int streak;			/* runs in a row against the current verdict */
	char why[256];			/* the last failed run: "exit 1", "killed after 2000 ms" */
};

void hc_init(struct health_check *h, const char *cmd, int interval_ms, int output);
/* Starts a run when one is due; kills one past its time. */
void hc_tick(struct health_check *h);
/* A child the caller reaped: if it was the check's run, true when the verdict changed. */
bool hc_reaped(struct health_check *h, pid_t pid, int status);
/* The run under way, killed and reaped (the caller is done). */
void hc_stop(struct health_check *h);

#endif
