// SPDX-License-Identifier: BSD-2-Clause
/* A move channel through a command (see channel.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "internal.h"

/* "unix:PATH": a `tcpferry receive --listen-unix PATH` on this machine. */
static int chan_unix(const char *via, int timeout_ms, struct mv_chan *c, pid_t *pid)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *path = via + 5;
	int fd, err;

	if (!path[0] || strlen(path) >= sizeof(sun.sun_path))
		return tf_failx(EINVAL, "channel '%s': give the socket's path (at most %zu bytes) after unix:", via,
				sizeof(sun.sun_path) - 1);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return tf_fail(errno, "channel '%s': socket", via);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		err = errno;
		close(fd);
		return tf_fail(err, "channel '%s': connect (is `tcpferry receive --serve --listen-unix %s` running?)",
			       via, path);
	}
	*pid = -1;
	*c = (struct mv_chan){ .in = fd, .out = fd, .timeout_ms = timeout_ms };
	return 0;
}

int mv_chan_start(const char *via, int timeout_ms, struct mv_chan *c, pid_t *pid)
{
	int sv[2];

	if (!strncmp(via, "unix:", 5))
		return chan_unix(via, timeout_ms, c, pid);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return tf_fail(errno, "channel: socketpair");
	fflush(NULL);
	*pid = fork();
	if (*pid < 0) {
		int err = errno;

		close(sv[0]);
		close(sv[1]);
		return tf_fail(err, "channel '%s': fork", via);
	}
	if (*pid == 0) {
		setpgid(0, 0);	/* its own group: mv_chan_stop ends all of it */
		dup2(sv[1], 0);
		dup2(sv[1], 1);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", via, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	setpgid(*pid, *pid);	/* either side may win the race; both set it */
	*c = (struct mv_chan){ .in = sv[0], .out = sv[0], .timeout_ms = timeout_ms };
	return 0;
}

static void close_ends(struct mv_chan *c)
{
	if (c->in >= 0)
		close(c->in);
	if (c->out >= 0 && c->out != c->in)
		close(c->out);
	c->in = c->out = -1;
}

void mv_chan_kill(struct mv_chan *c, pid_t *pid)
{
	close_ends(c);
	if (*pid > 0) {
		kill(-*pid, SIGKILL);	/* a stopped or hung command dies of it too */
		waitpid(*pid, NULL, 0);
		*pid = -1;
	}
}

void mv_chan_stop(struct mv_chan *c, pid_t *pid)
{
	close_ends(c);
	for (int i = 0; *pid > 0 && i < 200; i++) {
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = -1;
			return;
		}
		usleep(10000);
	}
	if (*pid > 0) {
		kill(-*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
		*pid = -1;
	}
}
