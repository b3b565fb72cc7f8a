// SPDX-License-Identifier: BSD-2-Clause
/*
 * The receiving end of a hand-off over a unix socket (tcpferry.h,
 * tf_handoff_listen): what `restore --send-to PATH` and `receive --send-to
 * PATH` send (tf_handoff_send: "tcpferry-fds N NAME..." beside N fds, at
 * most TF_HANDOFF_BATCH a message, then the sender closes), taken one socket
 * at a time, as accept(2) takes connections.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "handoff.h"
#include "internal.h"

/* One message's text: the header, TF_HANDOFF_BATCH names and their spaces. */
#define MSG_TEXT_MAX (TF_HANDOFF_BATCH * 72 + 32)

struct tf_handoff_listener {
	int fd;			/* the listening unix socket */
	int from;		/* the sender being read, or -1 */
	uid_t from_uid;
	/* Received, not yet taken: fds[at..n) with their names. */
	int fds[TF_HANDOFF_BATCH];
	char names[TF_HANDOFF_BATCH][TF_HANDOFF_NAME_MAX];
	int n, at;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

int tf_handoff_listen(const char *path, struct tf_handoff_listener **out)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct tf_handoff_listener *l;
	struct stat st;
	mode_t old;
	int err;

	*out = NULL;
	if (strlen(path) >= sizeof(sun.sun_path))
		return tf_failx(ENAMETOOLONG, "%s: unix socket path too long (%zu bytes at most)", path,
				sizeof(sun.sun_path) - 1);
	/* A socket left by an earlier run goes; anything else at path stays. */
	if (!lstat(path, &st) && !S_ISSOCK(st.st_mode))
		return tf_failx(EEXIST, "%s: exists and is not a socket; remove it or choose another path", path);
	l = calloc(1, sizeof(*l));
	if (!l)
		return tf_failx(ENOMEM, "%s: no memory", path);
	l->from = -1;
	strcpy(l->path, path);
	strcpy(sun.sun_path, path);
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		err = tf_fail(errno, "%s: socket", path);
		free(l);
		return err;
	}
	unlink(path);
	/* Whoever can connect can hand us sockets: root and our own user only
	 * (the socket's mode; each sender's credentials are checked too). */
	old = umask(0177);
	err = bind(l->fd, (struct sockaddr *)&sun, sizeof(sun)) ? tf_fail(errno, "%s: bind", path) : 0;
	umask(old);
	if (!err && listen(l->fd, 64))
		err = tf_fail(errno, "%s: listen", path);
	if (err) {
		close(l->fd);
		free(l);
		return err;
	}
	*out = l;
	return 0;
}

static void drop_pending(struct tf_handoff_listener *l)
{
	for (int i = l->at; i < l->n; i++)
		close(l->fds[i]);
	l->n = l->at = 0;
}

static void end_sender(struct tf_handoff_listener *l)
{
	if (l->from >= 0)
		close(l->from);
	l->from = -1;
}

/* The next sender: accepted, and allowed (root or our own user). */
static int next_sender(struct tf_handoff_listener *l)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int s;

	for (;;) {
		s = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (s < 0)
			return errno == EINTR ? -EINTR : tf_fail(errno, "%s: accept", l->path);
		if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
		    (cred.uid == 0 || cred.uid == geteuid())) {
			l->from = s;
			l->from_uid = cred.uid;
			return 0;
		}
		close(s);	/* not ours to take sockets from: as if never connected */
	}
}

/* Close every fd in the control messages of mh (a message we refuse). */
static void close_rights(struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		int n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int fds[TF_HANDOFF_BATCH];

		if (n > TF_HANDOFF_BATCH)
			n = TF_HANDOFF_BATCH;
		memcpy(fds, CMSG_DATA(cm), n * sizeof(int));
		for (int i = 0; i < n; i++)
			close(fds[i]);
	}
}

/*
 * One message from the current sender into fds/names.  0 with l->n > 0, or
 * 1 at the sender's end (nothing more from it), or a negative errno for a
 * message that is not the protocol's (its fds closed).
 */
static int read_message(struct tf_handoff_listener *l)
{
	char text[MSG_TEXT_MAX + 1], ctl[CMSG_SPACE(sizeof(int) * TF_HANDOFF_BATCH)];
	struct iovec iov = { .iov_base = text, .iov_len = MSG_TEXT_MAX };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			     .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm;
	char *p, *end, *save = NULL;
	int nfds = 0, count;
	ssize_t got;

	/* The sender writes each message whole with its fds: one recvmsg takes it. */
	got = recvmsg(l->from, &mh, MSG_CMSG_CLOEXEC);
	if (got < 0)
		return errno == EINTR ? -EINTR : tf_fail(errno, "%s: recvmsg", l->path);
	if (got == 0 && !(mh.msg_controllen))
		return 1;
	cm = CMSG_FIRSTHDR(&mh);
	if ((mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) || !cm || cm->cmsg_level != SOL_SOCKET ||
	    cm->cmsg_type != SCM_RIGHTS || CMSG_NXTHDR(&mh, cm)) {
		close_rights(&mh);
		return tf_failx(EPROTO, "%s: a message without its sockets, or with too many; "
				"the sender is not tcpferry's hand-off", l->path);
	}
	nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	text[got] = '\0';
	end = memchr(text, '\n', got);
	if (!end || strncmp(text, "tcpferry-fds ", 13) || (count = strtol(text + 13, &p, 10)) != nfds ||
	    count < 1 || (*p != ' ' && *p != '\n')) {
		close_rights(&mh);
		return tf_failx(EPROTO, "%s: expected \"tcpferry-fds N NAME...\" with N sockets, got %d sockets "
				"and \"%.*s\"", l->path, nfds, (int)strcspn(text, "\n") < 40 ? (int)strcspn(text, "\n") : 40,
				text);
	}
	*end = '\0';
	memcpy(l->fds, CMSG_DATA(cm), nfds * sizeof(int));
	for (int i = 0; i < nfds; i++) {
		const char *name = strtok_r(i ? NULL : p, " ", &save);

		snprintf(l->names[i], sizeof(l->names[i]), "%s", name ? name : "");
	}
	l->n = nfds;
	l->at = 0;
	return 0;
}

/* sa (from getsockname/getpeername) as an endpoint. */
static void endpoint_from(const struct sockaddr_storage *sa, struct tf_endpoint *e)
{
	memset(e, 0, sizeof(*e));
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)sa;

		e->family = AF_INET;
		e->port = ntohs(a->sin_port);
		memcpy(e->addr, &a->sin_addr, 4);
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;

		e->family = AF_INET6;
		e->port = ntohs(a->sin6_port);
		e->scope_id = a->sin6_scope_id;
		memcpy(e->addr, &a->sin6_addr, 16);
	}
}

int tf_handoff_accept(struct tf_handoff_listener *l, struct tf_handoff_conn *c)
{
	struct sockaddr_storage sa;
	socklen_t len;
	int err;

	memset(c, 0, sizeof(*c));
	while (l->at >= l->n) {
		if (l->from < 0 && (err = next_sender(l)))
			return err;
		err = read_message(l);
		if (err == -EINTR)
			return err;
		if (err) {
			/* The end of this sender, or a sender that broke the protocol:
			 * either way the next one. */
			end_sender(l);
			if (err < 0)
				return err;
		}
	}
	c->fd = l->fds[l->at];
	snprintf(c->name, sizeof(c->name), "%s", l->names[l->at]);
	c->sender_uid = l->from_uid;
	l->at++;
	len = sizeof(sa);
	if (!getsockname(c->fd, (struct sockaddr *)&sa, &len))
		endpoint_from(&sa, &c->local);
	len = sizeof(sa);
	if (!getpeername(c->fd, (struct sockaddr *)&sa, &len))
		endpoint_from(&sa, &c->peer);
	return c->fd;
}

void tf_handoff_listener_close(struct tf_handoff_listener *l)
{
	if (!l)
		return;
	drop_pending(l);
	end_sender(l);
	close(l->fd);
	unlink(l->path);
	free(l);
}
