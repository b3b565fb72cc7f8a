// SPDX-License-Identifier: BSD-2-Clause
/*
 * tf_handoff_accept, the server's side of `--send-to PATH`: real TCP
 * connections over loopback (in a network namespace of the test's own when
 * it may make one), handed over by the very sender restore uses
 * (tf_handoff_send: batches of TF_HANDOFF_BATCH), taken one at a time with
 * their names and endpoints; a sender that is not the protocol's is refused
 * with its fds closed, and the next sender is served; the socket file is
 * 0600 and gone after close.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "tcpferry.h"
#include "../../user/lib/handoff.h"
#include "netns_lo.h"

#define N 300	/* two messages: 250 and 50 */

static uint16_t port_of(int fd, bool peer)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	if (peer ? getpeername(fd, (struct sockaddr *)&a, &len) : getsockname(fd, (struct sockaddr *)&a, &len))
		return 0;
	return ntohs(a.sin_port);
}

/* A raw message on the listener's socket, as a sender that is not tcpferry's would send it. */
static void send_raw(const char *path, const char *text, int fd)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char ctl[CMSG_SPACE(sizeof(int))] = {};
	struct iovec iov = { .iov_base = (void *)text, .iov_len = strlen(text) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sun.sun_path, path);
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)))
		bail_out("connect %s: %s", path, strerror(errno));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(s, &mh, 0) < 0)
		bail_out("sendmsg: %s", strerror(errno));
	close(s);
}

int main(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int lsn, client[N], server[N], took[N], n_took = 0, in_order = 1, names_ok = 1, ends_ok = 1;
	char dir[] = "/tmp/tf-handoff-XXXXXX", path[128], names[N][16];
	const char *name_p[N];
	struct tf_handoff_listener *l;
	struct tf_handoff_conn c;
	struct stat st;
	pid_t pid;
	int status, err;

	plan(12);
	want_fds(4 * N + 64);
	own_netns();
	if (!mkdtemp(dir))
		bail_out("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/accept.sock", dir);

	lsn = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(lsn, (struct sockaddr *)&a, sizeof(a)) || listen(lsn, N) ||
	    getsockname(lsn, (struct sockaddr *)&a, &len))
		bail_out("listen on loopback: %s", strerror(errno));
	for (int i = 0; i < N; i++) {
		client[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(client[i], (struct sockaddr *)&a, sizeof(a)))
			bail_out("connect %d: %s", i, strerror(errno));
		server[i] = accept(lsn, NULL, NULL);
		if (server[i] < 0)
			bail_out("accept %d: %s", i, strerror(errno));
		snprintf(names[i], sizeof(names[i]), "conn-%04d", i + 1);
		name_p[i] = names[i];
	}

	err = tf_handoff_listen(path, &l);
	ok(err == 0, "tf_handoff_listen %s (%s)", path, err ? tf_strerror() : "ok");
	if (err)
		bail_out("no listener");
	err = stat(path, &st);
	ok(!err && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600, "the socket file is 0600 (%o)",
	   st.st_mode & 0777);

	/* First a sender that is not the protocol's, then tcpferry's own. */
	pid = fork();
	if (pid == 0) {
		send_raw(path, "hello 1 x\n", server[0]);
		int s = tf_handoff_connect(path);

		_exit(s < 0 || tf_handoff_send(s, path, server, name_p, N) ? 1 : 0);
	}
	err = tf_handoff_accept(l, &c);
	ok(err == -EPROTO, "a message that is not \"tcpferry-fds N ...\": -EPROTO (%s)", tf_strerror());
	ok(strstr(tf_strerror(), "expected \"tcpferry-fds N NAME...\"") != NULL, "  saying what was expected");

	for (int i = 0; i < N; i++) {
		int fd = tf_handoff_accept(l, &c);

		if (fd < 0) {
			diag("accept %d: %s", i, tf_strerror());
			break;
		}
		took[n_took++] = fd;
		if (strcmp(c.name, names[i]))
			names_ok = 0;
		if (port_of(fd, true) != port_of(client[i], false))
			in_order = 0;
		if (c.local.family != AF_INET || c.local.port != ntohs(a.sin_port) || c.peer.port != port_of(client[i], false))
			ends_ok = 0;
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the sender (tf_handoff_send, %d sockets) succeeded", N);
	ok(n_took == N, "every socket taken, one per call (%d of %d, in %d messages)", n_took, N,
	   (N + TF_HANDOFF_BATCH - 1) / TF_HANDOFF_BATCH);
	ok(in_order, "in the order they were sent");
	ok(names_ok, "each with its name");
	ok(ends_ok, "each with its local and peer endpoints");
	ok(c.sender_uid == geteuid(), "the sender's uid is reported (%u)", c.sender_uid);

	/* A taken socket is the connection: a byte from its client arrives. */
	if (n_took) {
		char b = 0;

		send(client[N - 1], "x", 1, 0);
		ok(recv(took[n_took - 1], &b, 1, 0) == 1 && b == 'x', "a taken socket carries its connection");
	} else {
		ok(0, "a taken socket carries its connection");
	}
	tf_handoff_listener_close(l);
	ok(access(path, F_OK) && errno == ENOENT, "tf_handoff_listener_close removes the socket file");
	rmdir(dir);
	return done_testing();
}
