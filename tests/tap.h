/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A minimal TAP producer for C tests, read by prove.
 *	plan(3); ok(x == 1, "x is one"); ... return done_testing();
 * skip_all("why") when the machine lacks what the test needs.
 */
#ifndef TF_TAP_H
#define TF_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed, tap_planned = -1;

static inline void plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

__attribute__((noreturn)) static inline void skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	fflush(stdout);
	exit(0);
}

__attribute__((noreturn, format(printf, 1, 2))) static inline void bail_out(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(255);
}

__attribute__((format(printf, 1, 2))) static inline void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static inline int ok_(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_n++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}
#define ok(cond, ...) ok_(!!(cond), __VA_ARGS__)

/* ok(got == want), saying both when they differ. */
static inline int is_int(long long got, long long want, const char *name)
{
	if (got != want)
		diag("%s: got %lld, want %lld", name, got, want);
	return ok(got == want, "%s", name);
}

static inline void skip(const char *why, const char *name)
{
	tap_n++;
	printf("ok %d - %s # SKIP %s\n", tap_n, name, why);
	fflush(stdout);
}

static inline int done_testing(void)
{
	if (tap_planned < 0)
		printf("1..%d\n", tap_n);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

#endif
