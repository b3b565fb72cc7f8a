// SPDX-License-Identifier: BSD-2-Clause
/* Restored sockets to their new owner: exec with LISTEN_FDS, or SCM_RIGHTS. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "handoff.h"
#include "internal.h"

#define LISTEN_FDS_START 3

int tf_handoff_exec(const int *fds, const char *const *names, int n, char *const argv[])
{
	char num[32], *fdnames;
	size_t len = 1;
	int *high;

	high = malloc((n ? n : 1) * sizeof(*high));
	for (int i = 0; i < n; i++)
		len += strlen(names[i]) + 1;
	fdnames = malloc(len);
	if (!high || !fdnames)
		return tf_failx(ENOMEM, "exec %s: no memory", argv[0]);
	/* First lift every fd above the target range, then place them: no clobbering. */
	for (int i = 0; i < n; i++) {
		high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, LISTEN_FDS_START + n);
		if (high[i] < 0)
			return tf_fail(errno, "exec %s: dup", argv[0]);
	}
	for (int i = 0; i < n; i++) {
		if (dup2(high[i], LISTEN_FDS_START + i) < 0)	/* dup2 clears CLOEXEC */
			return tf_fail(errno, "exec %s: dup2", argv[0]);
		close(high[i]);
	}
	fdnames[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(fdnames, ":");
		strcat(fdnames, names[i]);
	}
	snprintf(num, sizeof(num), "%d", n);
	setenv("LISTEN_FDS", num, 1);
	snprintf(num, sizeof(num), "%d", (int)getpid());
	setenv("LISTEN_PID", num, 1);
	setenv("LISTEN_FDNAMES", fdnames, 1);
	execvp(argv[0], argv);
	return tf_fail(errno, "exec %s", argv[0]);
}

int tf_handoff_exec_each(const int *fds, const char *const *names, int n, char *const argv[], pid_t *pids)
{
	int started = 0;

	for (int i = 0; i < n; i++) {
		pid_t p = fork();

		if (p < 0) {
			int err = tf_fail(errno, "exec %s for %s: fork", argv[0], names[i]);

			pids[i] = -1;
			if (!started)
				return err;
			continue;
		}
		if (p == 0) {
			char num[32];
			int mine = fcntl(fds[i], F_DUPFD_CLOEXEC, 10);

			/* This child's socket alone: the others are their own children's
			 * (a copy left here would keep their connections open). */
			for (int k = 0; k < n; k++)
				close(fds[k]);
			if (mine < 0 || dup2(mine, 0) < 0 || dup2(mine, 1) < 0 || dup2(mine, LISTEN_FDS_START) < 0)
				_exit(127);
			close(mine);
			/* A session of its own: the connection outlives whatever started
			 * it, and a signal to that one's process group (a channel's
			 * command killed with its group, a Ctrl-C) does not reach it. */
			setsid();
			snprintf(num, sizeof(num), "%d", (int)getpid());
			setenv("LISTEN_FDS", "1", 1);
			setenv("LISTEN_PID", num, 1);
			setenv("LISTEN_FDNAMES", names[i], 1);
			execvp(argv[0], argv);
			fprintf(stderr, "tcpferry: exec %s for %s: %s; its connection is closed\n", argv[0], names[i],
				strerror(errno));
			_exit(127);
		}
		pids[i] = p;
		started++;
	}
	return started;
}

int tf_handoff_exec_check(char *const argv[])
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (strchr(argv[0], '/'))
		return access(argv[0], X_OK) ? tf_fail(errno, "%s", argv[0]) : 0;
	for (const char *p = path ? path : "/usr/bin:/bin"; *p; p += strcspn(p, ":") + (p[strcspn(p, ":")] == ':')) {
		int n = strcspn(p, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", n, p, argv[0]);
		if (access(buf, X_OK) == 0)
			return 0;
		if (!p[n])
			break;
	}
	return tf_failx(ENOENT, "%s: not found in PATH", argv[0]);
}

int tf_handoff_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int s;

	if (strlen(path) >= sizeof(sun.sun_path))
		return tf_failx(ENAMETOOLONG, "%s: unix socket path too long", path);
	strcpy(sun.sun_path, path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return tf_fail(errno, "%s: socket", path);
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun))) {
		int err = tf_fail(errno, "%s: connect (is the receiving process listening?)", path);

		close(s);
		return err;
	}
	return s;
}

int tf_handoff_send(int s, const char *path, const int *fds, const char *const *names, int n)
{
	int err = 0;

	for (int at = 0; at < n && !err; at += TF_HANDOFF_BATCH) {
		int k = n - at < TF_HANDOFF_BATCH ? n - at : TF_HANDOFF_BATCH;
		char ctl[CMSG_SPACE(sizeof(int) * TF_HANDOFF_BATCH)] = {};
		char text[TF_HANDOFF_BATCH * 72 + 32];
		size_t tl = snprintf(text, sizeof(text), "tcpferry-fds %d", k);
		struct iovec iov;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
				     .msg_controllen = CMSG_SPACE(sizeof(int) * k) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

		for (int i = 0; i < k && tl < sizeof(text) - 70; i++)
			tl += snprintf(text + tl, sizeof(text) - tl, " %s", names[at + i]);
		tl += snprintf(text + tl, sizeof(text) - tl, "\n");
		iov.iov_base = text;
		iov.iov_len = tl;
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * k);
		memcpy(CMSG_DATA(cm), fds + at, sizeof(int) * k);
		if (sendmsg(s, &mh, MSG_NOSIGNAL) != (ssize_t)tl)
			err = tf_fail(errno, "%s: sendmsg SCM_RIGHTS", path);
	}
	close(s);
	return err;
}
