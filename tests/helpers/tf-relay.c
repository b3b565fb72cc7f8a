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

int main(int argc, char **argv)
{
	static char buf[2][65536];
	size_t have[2] = { 0, 0 }, off[2] = { 0, 0 };
	bool eof[2] = { false, false }, shut[2] = { false, false };
	int fd[2];

	helper_name = "tf-relay";
	if (argc != 2)
		die("usage: tf-relay PATH");
	receive_fds(argv[1], fd);
	/* Direction d: read fd[d], write fd[!d]. */
	while (!shut[0] || !shut[1]) {
		struct pollfd p[2] = { { .fd = fd[0] }, { .fd = fd[1] } };

		for (int d = 0; d < 2; d++) {
			if (!eof[d] && have[d] == 0)
				p[d].events |= POLLIN;
			if (have[d] > off[d])
				p[!d].events |= POLLOUT;
		}
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		for (int d = 0; d < 2; d++) {
			if ((p[d].revents & (POLLIN | POLLHUP | POLLERR)) && !eof[d] && have[d] == 0) {
				ssize_t r = read(fd[d], buf[d], sizeof(buf[d]));

				if (r < 0 && errno != EAGAIN && errno != EINTR)
					die("read fd %d: %s", d, strerror(errno));
				if (r == 0)
					eof[d] = true;
				if (r > 0)
					have[d] = r, off[d] = 0;
			}
			if (have[d] > off[d] && (p[!d].revents & (POLLOUT | POLLERR))) {
				ssize_t w = write(fd[!d], buf[d] + off[d], have[d] - off[d]);

				if (w < 0 && errno != EAGAIN && errno != EINTR)
					die("write fd %d: %s", !d, strerror(errno));
				if (w > 0 && (off[d] += w) == have[d])
					have[d] = off[d] = 0;
			}
			if (eof[d] && have[d] == 0 && !shut[d]) {
				shutdown(fd[!d], SHUT_WR);
				shut[d] = true;
			}
		}
	}
	return 0;
}
