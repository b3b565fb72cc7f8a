// SPDX-License-Identifier: BSD-2-Clause
/*
 * systemd's readiness protocol (sd_notify(3)), for Type=notify services:
 * a datagram with "READY=1" (or RELOADING=1, STOPPING=1) to the unix socket
 * named by $NOTIFY_SOCKET ("@name" is in the abstract namespace).  No
 * libsystemd for one sendto; nothing happens without the variable.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"

int cli_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n;
	int fd, err = 0;

	if (!path || !path[0])
		return 0;
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(a.sun_path))
		return -EINVAL;
	memcpy(a.sun_path, path, n);
	if (path[0] == '@')
		a.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&a,
		   offsetof(struct sockaddr_un, sun_path) + n) < 0)
		err = -errno;
	close(fd);
	return err;
}
