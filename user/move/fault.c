// SPDX-License-Identifier: BSD-2-Clause
/* Fault injection points (see fault.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"

/* Is name in the comma-separated list in the environment variable var? */
static bool named(const char *var, const char *name)
{
	const char *want = getenv(var);
	size_t n = strlen(name);

	for (const char *p = want; p && *p; p += strcspn(p, ",")) {
		p += *p == ',';
		if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}

/* One line "KIND NAME" appended to TCPFERRY_FAULT_TRACE, if it is set. */
static void trace(const char *kind, const char *name)
{
	static bool warned;
	const char *path = getenv("TCPFERRY_FAULT_TRACE");
	char line[128];
	int fd, n, saved = errno;

	if (!path || !*path)
		return;
	n = snprintf(line, sizeof(line), "%s %s\n", kind, name);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, line, n) != n) {
		if (!warned)
			fprintf(stderr, "tcpferry: TCPFERRY_FAULT_TRACE %s: %s; the trace is incomplete\n", path,
				strerror(errno));
		warned = true;
	}
	if (fd >= 0)
		close(fd);
	errno = saved;
}

void fault_point(const char *name)
{
	trace("point", name);
	if (named("TCPFERRY_PAUSE", name)) {
		fprintf(stderr, "tcpferry: fault injection: SIGSTOP at %s (pid %d)\n", name, (int)getpid());
		fflush(NULL);
		raise(SIGSTOP);	/* the test opens its race window, then SIGCONT */
	}
	if (named("TCPFERRY_FAULT", name)) {
		fprintf(stderr, "tcpferry: fault injection: SIGKILL at %s\n", name);
		fflush(NULL);
		raise(SIGKILL);
	}
}

bool fault_fails(const char *name)
{
	trace("fails", name);
	return named("TCPFERRY_FAULT", name);
}
