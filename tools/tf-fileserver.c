// SPDX-License-Identifier: BSD-2-Clause
/*
 * tf-fileserver: an example server that takes its connections from tcpferry
 * instead of accept(2): `tcpferry restore --send-to PATH` (or `receive
 * --send-to PATH`) hands it live TCP sockets over a unix socket, and it
 * serves files to them with sendfile(2), HTTP/1.0 style.
 *
 *   tf-fileserver --listen PATH --root DIR [--once]
 *
 * A handed-over connection is read from where the old owner left it: a
 * request its client sent before the move (still in the receive queue the
 * image carried) is read here as if it had just arrived.  One request a
 * connection ("GET /NAME HTTP/1.x", NAME a file directly under DIR), then
 * the response and close.  Each connection is served by a child of its own;
 * one line a request to stderr:
 *
 *   tf-fileserver: conn-0001 10.0.0.2:4567 -> 10.0.0.1:80 GET /blob 200 10485760
 *
 * --once: exit after the first connection is served (for tests).
 *
 * The calls a server needs are three (tcpferry.h): tf_handoff_listen,
 * tf_handoff_accept (like accept(2), with the tuple and the image's name),
 * tf_handoff_listener_close.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tcpferry.h"

#define REQUEST_MAX 16384

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void respond(int fd, const char *status, const char *text)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "HTTP/1.0 %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 status, strlen(text), text);

	(void)!write(fd, buf, n);
}

/* One request on fd; returns the HTTP status sent, *bytes the file's bytes sent. */
static int serve(int fd, int root, char *path_out, size_t path_len, long long *bytes)
{
	char req[REQUEST_MAX + 1], name[256], head[256];
	size_t got = 0;
	struct stat st;
	int file, n;

	*bytes = 0;
	snprintf(path_out, path_len, "-");
	while (!memmem(req, got, "\r\n\r\n", 4)) {
		ssize_t r;

		if (got == REQUEST_MAX) {
			respond(fd, "431 Request Header Fields Too Large", "request too large\n");
			return 431;
		}
		r = read(fd, req + got, REQUEST_MAX - got);
		if (r <= 0)
			return 0;	/* the client went away before asking */
		got += r;
	}
	req[got] = '\0';
	if (sscanf(req, "GET /%255[^ ] HTTP/1.%*c", name) != 1) {
		respond(fd, "400 Bad Request", "expected GET /NAME HTTP/1.x\n");
		return 400;
	}
	snprintf(path_out, path_len, "/%s", name);
	/* A name directly under the root: no way up or down the tree. */
	if (strchr(name, '/') || name[0] == '.' ||
	    (file = openat(root, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		respond(fd, "404 Not Found", "no such file\n");
		return 404;
	}
	if (fstat(file, &st) || !S_ISREG(st.st_mode)) {
		close(file);
		respond(fd, "404 Not Found", "not a file\n");
		return 404;
	}
	n = snprintf(head, sizeof(head), "HTTP/1.0 200 OK\r\nContent-Length: %lld\r\nConnection: close\r\n\r\n",
		     (long long)st.st_size);
	if (write(fd, head, n) != n) {
		close(file);
		return 0;
	}
	while (*bytes < st.st_size) {
		ssize_t w = sendfile(fd, file, NULL, st.st_size - *bytes);

		if (w <= 0)
			break;
		*bytes += w;
	}
	close(file);
	return 200;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: tf-fileserver --listen PATH --root DIR [--once]\n"
		   "Serves files under DIR (HTTP/1.0 GET, sendfile) to TCP connections handed over by\n"
		   "`tcpferry restore --send-to PATH` or `tcpferry receive --send-to PATH`.\n");
}

int main(int argc, char **argv)
{
	const char *listen_path = NULL, *root_dir = NULL;
	struct sigaction sa = { .sa_handler = on_term };
	struct tf_handoff_listener *l;
	bool once = false;
	int root, err;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--listen") && i + 1 < argc)
			listen_path = argv[++i];
		else if (!strcmp(argv[i], "--root") && i + 1 < argc)
			root_dir = argv[++i];
		else if (!strcmp(argv[i], "--once"))
			once = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!listen_path || !root_dir) {
		usage(stderr);
		return 2;
	}
	root = open(root_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		fprintf(stderr, "tf-fileserver: --root %s: %s\n", root_dir, strerror(errno));
		return 1;
	}
	if (tf_handoff_listen(listen_path, &l) < 0) {
		fprintf(stderr, "tf-fileserver: %s\n", tf_strerror());
		return 1;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		struct tf_handoff_conn c;
		char l_str[TF_ADDRSTRLEN], p_str[TF_ADDRSTRLEN];
		pid_t pid;
		int fd = tf_handoff_accept(l, &c);

		if (fd == -EINTR)
			continue;
		if (fd < 0) {
			fprintf(stderr, "tf-fileserver: %s\n", tf_strerror());
			continue;	/* a sender that broke the protocol: the next one */
		}
		tf_endpoint_str(&c.peer, p_str, sizeof(p_str));
		tf_endpoint_str(&c.local, l_str, sizeof(l_str));
		pid = fork();
		if (pid == 0) {
			char path[300];
			long long bytes;
			int status = serve(fd, root, path, sizeof(path), &bytes);

			fprintf(stderr, "tf-fileserver: %s %s -> %s GET %s %d %lld\n", c.name, p_str, l_str, path,
				status, bytes);
			close(fd);
			_exit(0);
		}
		close(fd);
		if (pid < 0)
			fprintf(stderr, "tf-fileserver: %s: fork: %s\n", c.name, strerror(errno));
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (once) {
			waitpid(pid, NULL, 0);
			break;
		}
	}
	tf_handoff_listener_close(l);
	err = 0;
	while (wait(NULL) > 0)
		;
	return err;
}
