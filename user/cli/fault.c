// SPDX-License-Identifier: BSD-2-Clause
/* Fault injection points (see fault.h). */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

static bool wanted(const char *name)
{
	const char *want = getenv("TCPFERRY_FAULT");
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
	if (wanted(name)) {
		fprintf(stderr, "tcpferry: fault injection: SIGKILL at %s\n", name);
		fflush(NULL);
		raise(SIGKILL);
	}
}

bool fault_fails(const char *name)
{
	return wanted(name);
}
