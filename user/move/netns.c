// SPDX-License-Identifier: BSD-2-Clause
/* Network namespaces by name or path (see netns.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "netns.h"

int netns_open(const char *spec, char *path, size_t len)
{
	int fd;

	if (strchr(spec, '/'))
		snprintf(path, len, "%s", spec);
	else
		snprintf(path, len, "/run/netns/%s", spec);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}
