/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * How the move engine speaks to whoever runs it.  Every step of a move
 * reports its own errors, warnings and notes as one line each, naming the
 * object and the way out; the caller decides where a line goes (the tcpferry
 * command prints it, or puts an error in its JSON; a balancer would log it).
 * Without a reporter, lines go to stderr as "tcpferry: ...".
 */
#ifndef TF_MOVE_REPORT_H
#define TF_MOVE_REPORT_H

#include <stdbool.h>

enum mv_level {
	MV_ERROR,	/* the step failed */
	MV_WARN,	/* it went on, but the user should know */
	MV_INFO,	/* what happened (progress, a summary) */
};

struct mv_reporter {
	/* One line, without a newline or a "tcpferry:" prefix. */
	void (*line)(enum mv_level level, const char *text, void *ctx);
	void *ctx;
	bool verbose;	/* the steps add detail (each socket, each adopted lock) */
};

/* Where the engine's lines go from now on (NULL: back to stderr). */
void mv_set_reporter(const struct mv_reporter *r);
/* Back to stderr, as plain lines, keeping the verbosity (a child of the
 * command, whose stdout is not its own: migrate move's target side). */
void mv_report_to_stderr(void);
bool mv_verbose(void);

/* Report an error; returns 1, so a step can end with `return mv_error(...)`. */
int mv_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "<what>: <the library's last error, or strerror(err)>"; returns 1. */
int mv_lib_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mv_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mv_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* CLOCK_MONOTONIC in ms, for the phases' times. */
double mv_now_ms(void);

#endif
