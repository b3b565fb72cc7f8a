// SPDX-License-Identifier: BSD-2-Clause
/* The move engine's lines, to the caller's reporter (see report.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report.h"
#include "tcpferry.h"

double mv_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void to_stderr(enum mv_level level, const char *text, void *ctx)
{
	(void)ctx;
	if (level == MV_INFO)
		fprintf(stderr, "%s\n", text);
	else
		fprintf(stderr, "tcpferry: %s%s\n", level == MV_WARN ? "warning: " : "", text);
}

static struct mv_reporter reporter = { .line = to_stderr };

void mv_set_reporter(const struct mv_reporter *r)
{
	reporter = r ? *r : (struct mv_reporter){ .line = to_stderr };
}

void mv_report_to_stderr(void)
{
	reporter = (struct mv_reporter){ .line = to_stderr, .verbose = reporter.verbose };
}

bool mv_verbose(void)
{
	return reporter.verbose;
}

static void say(enum mv_level level, const char *fmt, va_list ap)
{
	char text[1024];

	vsnprintf(text, sizeof(text), fmt, ap);
	reporter.line(level, text, reporter.ctx);
}

int mv_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(MV_ERROR, fmt, ap);
	va_end(ap);
	return 1;
}

int mv_lib_error(int err, const char *fmt, ...)
{
	char what[512];
	const char *detail = tf_strerror();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (detail && *detail)
		return mv_error("%s: %s", what, detail);
	return mv_error("%s: %s", what, strerror(err < 0 ? -err : err));
}

void mv_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(MV_WARN, fmt, ap);
	va_end(ap);
}

void mv_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(MV_INFO, fmt, ap);
	va_end(ap);
}
