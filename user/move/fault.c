// SPDX-License-Identifier: BSD-2-Clause
/* Fault injection points (see fault.h). */
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

void fault_point(const char *name)
{
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
	return named("TCPFERRY_FAULT", name);
}
