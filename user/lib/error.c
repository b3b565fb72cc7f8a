// SPDX-License-Identifier: BSD-2-Clause
/* The last error of this thread, as one line that names the object. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static __thread char last_error[512];

const char *tf_strerror(void)
{
	return last_error;
}

void tf_error_clear(void)
{
	last_error[0] = '\0';
}

/*
 * Formatted aside first: a caller may pass tf_strerror() itself as an
 * argument (tf_failx(e, "%s: ...: %s", name, tf_strerror())), and a
 * vsnprintf into the buffer it reads from garbles both.
 */
static int vfail(int err, const char *reason, const char *fmt, va_list ap)
{
	char line[sizeof(last_error)];
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(line) && reason)
		snprintf(line + n, sizeof(line) - n, ": %s", reason);
	memcpy(last_error, line, sizeof(last_error));
	return err > 0 ? -err : -EINVAL;
}

int tf_fail(int err, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(err, err > 0 ? strerror(err) : NULL, fmt, ap);
	va_end(ap);
	return ret;
}

int tf_failx(int err, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vfail(err, NULL, fmt, ap);
	va_end(ap);
	return ret;
}

void tf_error_prefix(const char *fmt, ...)
{
	char prefix[256], line[sizeof(prefix) + sizeof(last_error) + 2];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	if (last_error[0])
		snprintf(line, sizeof(line), "%s: %s", prefix, last_error);
	else
		snprintf(line, sizeof(line), "%s", prefix);
	n = strnlen(line, sizeof(last_error) - 1);
	memcpy(last_error, line, n);
	last_error[n] = '\0';
}
