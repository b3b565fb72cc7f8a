// SPDX-License-Identifier: BSD-2-Clause
/* Errors, notes, JSON and option helpers for every command: one line, naming the object. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cli.h"
#include "report.h"
#include "tcpferry.h"

static void verror(const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (g.json) {
		struct json *j = json_new(stdout, g.pretty);

		json_object_start(j);
		json_string_field(j, "error", line);
		json_object_end(j);
		json_destroy(j);
	} else {
		fprintf(stderr, "tcpferry: %s\n", line);
	}
}

int cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
	return 1;
}

int cli_lib_error(int err, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return mv_lib_error(err, "%s", what);	/* the same wording; back through cli_error */
}

void cli_info(const char *fmt, ...)
{
	va_list ap;

	if (g.json)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("tcpferry: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool cli_have_cap(int cap)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {};

	if (syscall(SYS_capget, &h, d))
		return false;
	return d[cap / 32].effective & (1u << (cap % 32));
}

int cli_need_cap(int cap, const char *what)
{
	static const char *const names[] = {
		[CAP_NET_ADMIN] = "CAP_NET_ADMIN",
		[CAP_SYS_PTRACE] = "CAP_SYS_PTRACE",
		[CAP_SYS_ADMIN] = "CAP_SYS_ADMIN",
		[CAP_BPF] = "CAP_BPF",
	};
	const char *name = cap < (int)(sizeof(names) / sizeof(names[0])) && names[cap] ? names[cap] : "a capability";

	if (cli_have_cap(cap))
		return 0;
	cli_error("%s needs %s; run it as root (or grant %s)", what, name, name);
	return -1;
}

struct json *cli_json_open(void)
{
	return g.json ? json_new(stdout, g.pretty) : NULL;
}

void cli_json_close(struct json *j)
{
	json_destroy(j);
}

bool cli_wants_help(int argc, char **argv, const char *usage)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return true;
		}
	}
	return false;
}

int cli_parse_long(const char *s, const char *what, long min, long max, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < min || v > max) {
		cli_error("%s: '%s' is not a number from %ld to %ld", what, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

void cli_raise_nofile(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

void cli_json_move_report(struct json *j, const struct move_report *r)
{
	json_uint_field(j, "from_pid", r->from_pid);
	json_uint_field(j, "to_pid", r->to_pid);
	json_uint_field(j, "connections", r->connections);
	json_uint_field(j, "nudged", r->nudged);
	json_uint_field(j, "lock_dropped_packets_from", r->dropped_from);
	json_uint_field(j, "lock_dropped_packets_to", r->dropped_to);
	json_name(j, "ms");
	json_object_start(j);
	for (int i = 0; i < r->phases; i++) {
		json_name(j, r->phase_names[i]);
		json_double(j, r->ms[i]);
	}
	json_name(j, "locked_window");
	json_double(j, r->locked_window_ms);
	json_object_end(j);
}

/* The move engine's lines (report.h) as the command's own. */
static void move_line(enum mv_level level, const char *text, void *ctx)
{
	(void)ctx;
	if (level == MV_ERROR)
		cli_error("%s", text);
	else if (level == MV_WARN)
		cli_warn("%s", text);
	else
		cli_info("%s", text);
}

void cli_report_moves(void)
{
	mv_set_reporter(&(struct mv_reporter){ .line = move_line, .verbose = g.verbose > 0 });
}

void cli_fmt_secs(char *buf, size_t len, uint64_t ns)
{
	snprintf(buf, len, "%.1fs", ns / 1e9);
}

void cli_report_done(const char *verb, const char *what)
{
	struct json *j = cli_json_open();

	if (j) {
		json_object_start(j);
		json_string_field(j, verb, what);
		json_object_end(j);
		cli_json_close(j);
	} else {
		printf("%s %s\n", verb, what);
	}
}

void cli_report_removed(unsigned removed, const char *noun, bool expired_only)
{
	struct json *j = cli_json_open();

	if (j) {
		json_object_start(j);
		json_uint_field(j, "removed", removed);
		json_object_end(j);
		cli_json_close(j);
	} else {
		printf("removed %u %s%s%s\n", removed, noun, removed == 1 ? "" : "s", expired_only ? " (expired)" : "");
	}
}
