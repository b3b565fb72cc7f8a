// SPDX-License-Identifier: BSD-2-Clause
/*
 * `tcpferry receive --listen-unix PATH`: channels from this machine (a
 * frontend's `via unix:PATH`, a migrate send's) on a unix socket instead of
 * stdin and stdout.  Each connection is one channel, served by a child of
 * its own (as sshd forks a session), so that one channel's end or fault is
 * no other's; the parent only accepts.  The socket is 0600, and a peer must
 * be root or our own user (SO_PEERCRED), so nothing else on the machine can
 * hand us images.  SIGTERM or SIGINT: the socket is removed and the parent
 * exits; the channels being served go on until they end.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

/* A socket file left by a listener that died is removed; anything else stays and is an error. */
static int clear_stale(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, live;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : cli_error("receive --listen-unix %s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return cli_error("receive --listen-unix %s: it exists and is no socket; give another path", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	live = fd >= 0 && connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	if (fd >= 0)
		close(fd);
	if (live)
		return cli_error("receive --listen-unix %s: another receive listens there already", path);
	unlink(path);
	return 0;
}

int cli_listen_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct sigaction sa = { .sa_handler = on_stop };
	struct sigaction ign = { .sa_handler = SIG_IGN, .sa_flags = SA_NOCLDWAIT };
	mode_t old;
	int lfd;

	if (!path[0] || strlen(path) >= sizeof(sun.sun_path))
		return cli_error("receive --listen-unix: give a path of at most %zu bytes", sizeof(sun.sun_path) - 1),
		       -EINVAL;
	strcpy(sun.sun_path, path);
	if (clear_stale(path, &sun))
		return -EEXIST;
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return cli_error("receive --listen-unix %s: socket: %s", path, strerror(errno)), -errno;
	old = umask(0177);	/* 0600 from its first moment */
	if (bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) || listen(lfd, 64)) {
		int e = errno;

		umask(old);
		close(lfd);
		return cli_error("receive --listen-unix %s: %s", path, strerror(e)), -e;
	}
	umask(old);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &ign, NULL);	/* the channels' children reap themselves */
	cli_info("receive: listening on %s", path);
	while (!stopping) {
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		pid_t pid;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				cli_warn("receive --listen-unix %s: accept: %s", path, strerror(errno));
			continue;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) || (cred.uid != 0 && cred.uid != getuid())) {
			cli_warn("receive --listen-unix %s: a peer of uid %d refused (root and uid %d only)", path,
				 (int)cred.uid, (int)getuid());
			close(fd);
			continue;
		}
		pid = fork();
		if (pid == 0) {
			struct sigaction dfl = { .sa_handler = SIG_DFL };

			sigaction(SIGTERM, &dfl, NULL);
			sigaction(SIGINT, &dfl, NULL);
			sigaction(SIGCHLD, &dfl, NULL);
			close(lfd);
			return fd;	/* the child serves this channel */
		}
		if (pid < 0)
			cli_warn("receive --listen-unix %s: fork: %s", path, strerror(errno));
		close(fd);
	}
	close(lfd);
	unlink(path);
	return -EINTR;	/* the parent's end: stopped */
}
