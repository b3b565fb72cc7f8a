// SPDX-License-Identifier: BSD-2-Clause
/*
 * tf-halfclose: one end of a TCP connection that closes half of itself on
 * cue, for the half-closed states' tests (repair_halfclosed.t).
 *
 *   tf-halfclose listen ADDR PORT [OPTIONS] ACTION...   accept one connection
 *   tf-halfclose connect ADDR PORT [OPTIONS] ACTION...
 *   tf-halfclose fd N [OPTIONS] ACTION...                a socket it was given
 *
 * Options: --rcvbuf BYTES (before connect), --rx-offset N, --tx-offset N
 * (where this end's streams stand, for a program that takes over a socket),
 * --timeout SEC (default 60: then SIGALRM ends it, whatever it waits for).
 * The connecting end sends stream PEER_SEED, the other APP_SEED (helper.h);
 * every byte read is checked against the other end's stream.
 *
 * Actions, in order:
 *   send:N     write N bytes of our stream (blocking)
 *   fill       write our stream without blocking until the socket takes no
 *              more; prints "filled N"
 *   skip:N     read exactly N bytes
 *   eof[:N]    read until EOF; prints "got N" (all bytes read so far); with
 *              N, exits 1 unless that is N
 *   shut       shutdown(SHUT_WR): our FIN
 *   touch:PATH create PATH          wait:PATH  wait until PATH exists
 *   pause      sleep until killed
 * Exits 0 when the actions are done; 1 on a wrong byte, a reset, an error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

static int endpoint(const char *addr, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *a = (void *)ss;
	struct sockaddr_in6 *a6 = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		return sizeof(*a6);
	}
	if (inet_pton(AF_INET, addr, &a->sin_addr) != 1)
		die("bad address %s", addr);
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	return sizeof(*a);
}

static int open_socket(int argc, char **argv, int *first_action)
{
	struct sockaddr_storage ss;
	int s, len, one = 1, rcvbuf = arg_num(argc, argv, "--rcvbuf", 0);

	if (argc >= 3 && !strcmp(argv[1], "fd")) {
		*first_action = 3;
		return atoi(argv[2]);
	}
	if (argc < 4)
		die("usage: see the comment at the top of tests/helpers/tf-halfclose.c");
	*first_action = 4;
	len = endpoint(argv[2], atoi(argv[3]), &ss);
	s = socket(ss.ss_family, SOCK_STREAM, 0);
	if (s < 0)
		die("socket: %s", strerror(errno));
	if (rcvbuf && setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)))
		die("SO_RCVBUF: %s", strerror(errno));
	if (!strcmp(argv[1], "connect")) {
		if (connect(s, (struct sockaddr *)&ss, len))
			die("connect %s:%s: %s", argv[2], argv[3], strerror(errno));
		return s;
	}
	if (strcmp(argv[1], "listen"))
		die("listen, connect or fd, not %s", argv[1]);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&ss, len) || listen(s, 1))
		die("listen %s:%s: %s", argv[2], argv[3], strerror(errno));
	int c = accept(s, NULL, NULL);

	if (c < 0)
		die("accept: %s", strerror(errno));
	close(s);
	return c;
}

int main(int argc, char **argv)
{
	static uint8_t buf[64 * 1024];
	uint64_t rx, tx;
	uint32_t my_seed, their_seed;
	int s, first;

	helper_name = "tf-halfclose";
	/* A test that goes wrong never leaves one behind for long. */
	alarm(arg_num(argc, argv, "--timeout", 60));
	s = open_socket(argc, argv, &first);
	my_seed = !strcmp(argv[1], "connect") ? PEER_SEED : APP_SEED;
	if (!strcmp(argv[1], "fd")) /* the program that takes over the app's end */
		my_seed = APP_SEED;
	their_seed = my_seed == PEER_SEED ? APP_SEED : PEER_SEED;
	rx = arg_num(argc, argv, "--rx-offset", 0);
	tx = arg_num(argc, argv, "--tx-offset", 0);
	setvbuf(stdout, NULL, _IOLBF, 0);

	for (int i = first; i < argc; i++) {
		const char *a = argv[i], *arg = strchr(a, ':');

		if (!strncmp(a, "--", 2)) {
			i++;	/* an option and its value */
			continue;
		}
		arg = arg ? arg + 1 : "";
		if (!strncmp(a, "send:", 5) || !strcmp(a, "fill")) {
			bool fill = !strcmp(a, "fill");
			uint64_t want = fill ? UINT64_MAX : strtoull(arg, NULL, 0), done = 0;

			if (fill)
				fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
			while (done < want) {
				size_t n = want - done < sizeof(buf) ? want - done : sizeof(buf);

				for (size_t k = 0; k < n; k++)
					buf[k] = pattern(my_seed, tx + done + k);
				ssize_t w = send(s, buf, n, MSG_NOSIGNAL);

				if (w < 0 && fill && errno == EAGAIN)
					break;
				if (w < 0)
					die("send at %llu: %s", (unsigned long long)(tx + done), strerror(errno));
				done += w;
			}
			tx += done;
			if (fill) {
				fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
				printf("filled %llu\n", (unsigned long long)done);
			}
		} else if (!strncmp(a, "skip:", 5) || !strncmp(a, "eof", 3)) {
			bool to_eof = a[0] == 'e';
			uint64_t end = to_eof ? UINT64_MAX : rx + strtoull(arg, NULL, 0);

			while (rx < end) {
				size_t n = end - rx < sizeof(buf) ? end - rx : sizeof(buf);
				ssize_t r = recv(s, buf, n, 0);

				if (r < 0)
					die("recv at %llu: %s", (unsigned long long)rx, strerror(errno));
				if (r == 0) {
					if (!to_eof)
						die("EOF at %llu, %llu bytes short", (unsigned long long)rx,
						    (unsigned long long)(end - rx));
					break;
				}
				for (ssize_t k = 0; k < r; k++)
					if (buf[k] != pattern(their_seed, rx + k))
						die("wrong byte at offset %llu", (unsigned long long)(rx + k));
				rx += r;
			}
			if (to_eof) {
				printf("got %llu\n", (unsigned long long)rx);
				if (*arg && rx != strtoull(arg, NULL, 0))
					die("EOF after %llu bytes, expected %s", (unsigned long long)rx, arg);
			}
		} else if (!strcmp(a, "shut")) {
			if (shutdown(s, SHUT_WR))
				die("shutdown: %s", strerror(errno));
		} else if (!strncmp(a, "touch:", 6)) {
			int f = open(arg, O_WRONLY | O_CREAT, 0600);

			if (f < 0)
				die("%s: %s", arg, strerror(errno));
			close(f);
		} else if (!strncmp(a, "wait:", 5)) {
			struct stat st;

			for (int k = 0; stat(arg, &st); k++) {
				if (k > 60 * 100)
					die("%s never came", arg);
				usleep(10000);
			}
		} else if (!strcmp(a, "pause")) {
			for (;;)
				pause();
		} else {
			die("unknown action %s", a);
		}
	}
	return 0;
}
