// SPDX-License-Identifier: BSD-2-Clause
/*
 * tf-relay: a program that is already running when connections are handed to
 * it, as a load balancer's backend or a service's new instance would be.  It
 * knows nothing of tcpferry but the line beside the fds (restore --send-to,
 * migrate move --send-to): it relays between the two sockets it is given, as
 * `socat FD:3 FD:4` does, without a program start inside the pause.
 *
 *   tf-relay PATH
 *
 * Listens on the unix stream socket PATH (removed once the fds arrived),
 * takes one message "tcpferry-fds 2 NAME NAME" with two sockets, then copies
 * bytes both ways with poll(); at EOF on one side it shuts down writing on the
 * other, and exits 0 when both directions are done.
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "helper.h"

static int receive_fds(const char *path, int fds[2])
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char text[512], ctl[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { text, sizeof(text) - 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			    .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c;
	int srv, s, n = 0;
	ssize_t len;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv < 0 || bind(srv, (struct sockaddr *)&a, sizeof(a)) || listen(srv, 1))
		die("%s: %s", path, strerror(errno));
	printf("listening %s\n", path);
	fflush(stdout);
	s = accept(srv, NULL, NULL);
	if (s < 0)
		die("accept: %s", strerror(errno));
	len = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
	if (len <= 0)
		die("no fds came: %s", len < 0 ? strerror(errno) : "EOF");
	text[len] = '\0';
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			if (n == 2)
				memcpy(fds, CMSG_DATA(c), sizeof(int) * 2);
		}
	if (strncmp(text, "tcpferry-fds 2 ", 15) || n != 2)
		die("expected two sockets with \"tcpferry-fds 2 ...\", got %d fds and \"%.40s\"", n, text);
	close(s);
	close(srv);
	unlink(path);
	printf("relaying %.*s", (int)strcspn(text + 15, "\n"), text + 15);
	printf("\n");
	fflush(stdout);
	return 0;
}

/* Write all of buf to fd (a blocking socket: a stop inside shows as a write, not a poll). */
static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			die("write fd %d: %s", fd, strerror(errno));
		buf += w;
		len -= w;
	}
}

int main(int argc, char **argv)
{
	static char buf[65536];
	bool eof[2] = { false, false };
	int fd[2];

	helper_name = "tf-relay";
	if (argc != 2)
		die("usage: tf-relay PATH");
	receive_fds(argv[1], fd);
	/*
	 * Direction d: read fd[d], write it all to fd[!d] at once, as socat does:
	 * between two polls this program holds no byte of its own, so a move
	 * that stops it while it waits in poll() loses nothing.
	 */
	while (!eof[0] || !eof[1]) {
		struct pollfd p[2] = { { .fd = fd[0], .events = eof[0] ? 0 : POLLIN },
				       { .fd = fd[1], .events = eof[1] ? 0 : POLLIN } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		for (int d = 0; d < 2; d++) {
			ssize_t r;

			if (eof[d] || !(p[d].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(fd[d], buf, sizeof(buf));
			if (r < 0 && errno != EAGAIN && errno != EINTR)
				die("read fd %d: %s", d, strerror(errno));
			if (r > 0)
				write_all(fd[!d], buf, r);
			if (r == 0) {
				eof[d] = true;
				shutdown(fd[!d], SHUT_WR);
			}
		}
	}
	return 0;
}
