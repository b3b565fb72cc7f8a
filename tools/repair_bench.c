// SPDX-License-Identifier: BSD-2-Clause
/*
 * repair_bench: what dump and restore cost per connection, beside the
 * syscalls one connection costs and beside a floor, as tab-separated lines
 * "metric N value unit" (the format tools/bench reads; the human summary
 * goes to stderr).
 *
 *   repair_bench N...   N idle IPv4 connections each (default: 1 1000 10000);
 *                       with N = 1 also one connection holding 64 KiB and one
 *                       holding 1 MiB in each queue
 *
 * For each case, with P = "" (idle N), "q64k_" or "q1m_" (queues, N = 1):
 *   P dump_us            per connection: tf_repair_on + tf_dump
 *   P restore_us         per connection: tf_restore + tf_restore_finish
 *   P syscalls           per connection, dump + restore (counted, not guessed)
 *   P dump_syscalls, P restore_syscalls
 *   P floor_dump_us, P floor_restore_us, P floor_syscalls (+ _dump_, _restore_)
 *       the floor: the fewest calls the kernel needs to move the same state
 *       (floor_dump / floor_restore below), timed and counted the same way,
 *       so tcpferry's overhead reads as a ratio
 *
 *   P image_write_us     per connection: tf_image_write of its image, plus the
 *                        index (tf_index_write) shared out over the N
 *   P image_read_us      per connection: tf_index_read shared out, plus
 *                        tf_image_read of its image
 *   P image_write_syscalls, P image_read_syscalls   per connection, counted
 *       the files `tcpferry dump` writes and `tcpferry restore` reads
 *   P stream_write_us    per connection: the same dump as one image stream
 *                        file (tf_stream_file_create, tf_stream_write, one
 *                        fsync and the rename: `dump --out FILE.tfs`)
 *   P stream_read_us     per connection: tf_stream_read_path of it, every
 *                        frame and image validated (`restore --in FILE.tfs`)
 *   P stream_write_syscalls, P stream_read_syscalls   per connection, counted
 *       (tcpferry only: the floor has no file format), timed apart from
 *       dump_us and restore_us, which stay library calls on live sockets
 *
 * The images go into a fresh directory $TMPDIR/repair_bench.XXXXXX (/tmp
 * if TMPDIR is unset or empty), emptied after every cycle and removed at
 * exit, also after an error or SIGINT/SIGTERM/SIGHUP.  The library writes
 * each file under a temporary name, fsyncs it, renames it and fsyncs the
 * directory (images/image.c, write_atomic), so image_write_us is what the
 * file system makes of two fsyncs per file: on tmpfs nearly nothing, on a
 * disk the disk's flush.  On the development machine (the Debian 12 VM of
 * tools/bench/results) /tmp is not tmpfs but ext4 on the root disk
 * (/dev/vda).  The summary on stderr names the file system it found.  The
 * restore then rebuilds from what was read back, as `tcpferry restore` does.
 *
 * The connections live on loopback in a network namespace of the tool's own
 * (unshare).  Only the clients are moved.  The servers of the idle
 * connections live in a child process that echoes what it reads, so N
 * connections cost this process N fds, not 2N (raising the hard fd limit
 * needs CAP_SYS_RESOURCE, which root in a container may lack).
 *
 * Times are the median of several cycles (dump all, write the images, close
 * the originals in repair mode, read the images, restore all), tcpferry and
 * floor interleaved so machine noise hits both.  Syscalls are counted, in
 * one extra cycle that is not timed, by a perf counter on the
 * raw_syscalls:sys_enter tracepoint for this thread (tracefs is mounted in a
 * private mount namespace if it is not there).
 * After every restore a sample of connections must echo a message through
 * the server (data both ways), and the queues must come back byte-exact, or
 * the tool exits 1: it measures real restores.
 *
 * Needs root.  QUICK=1 in the environment: fewer cycles.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/perf_event.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tcpferry.h"
#include "repair_defs.h"
#include "stream.h"

#define DEFAULT_SIZES		{ 1, 1000, 10000 }
#define CONNS_PER_LISTENER	4000	/* well inside one destination's ephemeral ports */
#define FIRST_PORT		7000
#define QUEUE_PORT		6999
#define VERIFY_SAMPLE		16	/* connections checked after each restore */
#define IO_TIMEOUT_MS		5000
#define FLOOR_CHUNK		(256 * 1024)	/* the library's chunk: the floor differs in calls, not chunking */

/* ---- small things ------------------------------------------------------------ */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("repair_bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void setint(int fd, int level, int opt, int v, const char *what)
{
	if (setsockopt(fd, level, opt, &v, sizeof(v)))
		die("setsockopt %s: %s", what, strerror(errno));
}

static uint32_t ioctl_len(int fd, unsigned long req)
{
	int n;

	if (ioctl(fd, req, &n))
		die("ioctl %lu on a socket: %s", req, strerror(errno));
	return n;
}

/* The byte at offset k of every test stream: no short period, so a shifted
 * or repeated chunk shows. */
static uint8_t pattern(uint64_t k)
{
	return (uint8_t)((k * 2654435761u) >> 11) ^ (uint8_t)(k >> 16);
}

/* ---- the namespace, limits ------------------------------------------------------ */

/* Own network namespace (loopback only) and own mount namespace (for tracefs). */
static void private_namespaces(void)
{
	struct ifreq ifr = {};
	int s;

	if (geteuid() != 0)
		die("needs root (a network namespace of its own, TCP_REPAIR, perf counters); run it with sudo");
	if (unshare(CLONE_NEWNET | CLONE_NEWNS))
		die("unshare(CLONE_NEWNET | CLONE_NEWNS): %s", strerror(errno));
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		die("making / private in the new mount namespace: %s", strerror(errno));
	s = socket(AF_INET, SOCK_DGRAM, 0);
	strcpy(ifr.ifr_name, "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr))
		die("lo: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr))
		die("lo up: %s", strerror(errno));
	close(s);
}

/* One fd per client in this process (the servers live in the echo child), and some spare. */
static void raise_nofile(size_t conns)
{
	rlim_t need = conns + 64;
	struct rlimit rl, was;

	getrlimit(RLIMIT_NOFILE, &was);
	if (was.rlim_cur >= need)
		return;
	rl.rlim_cur = need;
	rl.rlim_max = was.rlim_max < need ? need : was.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("RLIMIT_NOFILE: %zu connections need %llu open files, the limit is %llu and raising it failed (%s; above the hard limit needs CAP_SYS_RESOURCE); run under ulimit -n %llu or use a smaller N",
		    conns, (unsigned long long)need, (unsigned long long)was.rlim_max, strerror(errno),
		    (unsigned long long)need);
}

/* ---- counting syscalls --------------------------------------------------------------
 * A perf counter on raw_syscalls:sys_enter, this thread only.  Reading it is
 * a syscall too: sc_base is what an empty region reads, subtracted each time.
 */
static int sc_fd = -1;
static uint64_t sc_base;

static int tracepoint_id(void)
{
	static const char *const paths[] = {
		"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
		"/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		FILE *f = fopen(paths[i], "r");

		if (f && fgets(buf, sizeof(buf), f)) {
			fclose(f);
			return atoi(buf);
		}
		if (f)
			fclose(f);
	}
	return -1;
}

static uint64_t sc_read(void)
{
	uint64_t v;

	if (read(sc_fd, &v, sizeof(v)) != sizeof(v))
		die("reading the syscall counter: %s", strerror(errno));
	return v;
}

static void sc_open(void)
{
	struct perf_event_attr a = { .type = PERF_TYPE_TRACEPOINT, .size = sizeof(a), .disabled = 1 };
	int id = tracepoint_id();
	uint64_t x;

	/* tracefs is often not mounted (and never inside ip netns exec's /sys):
	 * mount it in this process's private mount namespace. */
	if (id < 0 && mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0)
		id = tracepoint_id();
	if (id < 0)
		die("cannot count syscalls: no raw_syscalls:sys_enter tracepoint (tracefs mount failed: %s); needs a kernel with CONFIG_FTRACE_SYSCALLS",
		    strerror(errno));
	a.config = id;
	sc_fd = syscall(__NR_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (sc_fd < 0)
		die("cannot count syscalls: perf_event_open(raw_syscalls:sys_enter): %s; needs perf events (CONFIG_PERF_EVENTS) and root",
		    strerror(errno));
	ioctl(sc_fd, PERF_EVENT_IOC_ENABLE, 0);
	x = sc_read();
	sc_base = sc_read() - x;
	ioctl(sc_fd, PERF_EVENT_IOC_DISABLE, 0);
	if (sc_base < 1 || sc_base > 2)
		die("the syscall counter is implausible (%llu for one read); cannot count syscalls",
		    (unsigned long long)sc_base);
}

static void sc_enable(bool on)
{
	if (ioctl(sc_fd, on ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, 0))
		die("syscall counter: %s", strerror(errno));
}

/* ---- the floor: the fewest calls that move the same state ------------------------------
 * No checks of the socket, no carried options, no retry loop around the
 * queues, no error text: the kernel's protocol and nothing else (IPv4).
 *   dump (14 calls idle): TCP_REPAIR on, getsockname, getpeername, TCP_INFO,
 *     TCP_MAXSEG, TCP_REPAIR_WINDOW, TCP_TIMESTAMP, SIOCOUTQ, SIOCOUTQNSD,
 *     SIOCINQ, per queue: select + TCP_QUEUE_SEQ (+ one peek if not empty)
 *   restore (12 calls idle): socket, TCP_REPAIR on, bind, per queue: select +
 *     TCP_QUEUE_SEQ, connect, TCP_REPAIR_OPTIONS, TCP_TIMESTAMP, TCP_REPAIR_WINDOW,
 *     TCP_REPAIR off; with queues also the buffer sizes, a select and the
 *     writes per queue, and the unsent tail after repair is off
 */
struct floor_conn {
	struct sockaddr_in local, peer;
	struct tcp_info ti;
	int mss;
	struct tf_window window;
	uint32_t ts;
	uint32_t snd_seq, rcv_seq;	/* write_seq, rcv_nxt */
	uint32_t outq_len, unsent_len, inq_len;
	uint8_t *outq, *inq;
};

static char floor_err[160];

static int floor_fail(const char *what)
{
	int err = errno ? errno : EIO;

	snprintf(floor_err, sizeof(floor_err), "floor %s: %s", what, strerror(err));
	return -err;
}

static int fl_get(int fd, int opt, void *v, socklen_t len)
{
	return getsockopt(fd, IPPROTO_TCP, opt, v, &len);
}

static int fl_set(int fd, int opt, int v)
{
	return setsockopt(fd, IPPROTO_TCP, opt, &v, sizeof(v));
}

static int fl_peek(int fd, uint32_t len, uint8_t **out)
{
	*out = NULL;
	if (!len)
		return 0;
	*out = malloc(len + 1);
	if (!*out)
		return -ENOMEM;
	return recv(fd, *out, len + 1, MSG_PEEK | MSG_DONTWAIT) == (ssize_t)len ? 0 : -1;
}

static int floor_dump(int fd, void *st)
{
	struct floor_conn *f = st;
	socklen_t len = sizeof(f->local);

	if (fl_set(fd, TCP_REPAIR, TCP_REPAIR_ON))
		return floor_fail("TCP_REPAIR on");
	if (getsockname(fd, (void *)&f->local, &len))
		return floor_fail("getsockname");
	len = sizeof(f->peer);
	if (getpeername(fd, (void *)&f->peer, &len))
		return floor_fail("getpeername");
	if (fl_get(fd, TCP_INFO, &f->ti, sizeof(f->ti)) || fl_get(fd, TCP_MAXSEG, &f->mss, sizeof(int)) ||
	    fl_get(fd, TCP_REPAIR_WINDOW, &f->window, sizeof(f->window)) ||
	    fl_get(fd, TCP_TIMESTAMP, &f->ts, sizeof(int)))
		return floor_fail("getsockopt");
	if (ioctl(fd, SIOCOUTQ, &f->outq_len) || ioctl(fd, SIOCOUTQNSD, &f->unsent_len) ||
	    ioctl(fd, SIOCINQ, &f->inq_len))
		return floor_fail("queue sizes");
	if (fl_set(fd, TCP_REPAIR_QUEUE, TF_SEND_QUEUE) || fl_get(fd, TCP_QUEUE_SEQ, &f->snd_seq, sizeof(int)) ||
	    fl_peek(fd, f->outq_len, &f->outq))
		return floor_fail("send queue");
	if (fl_set(fd, TCP_REPAIR_QUEUE, TF_RECV_QUEUE) || fl_get(fd, TCP_QUEUE_SEQ, &f->rcv_seq, sizeof(int)) ||
	    fl_peek(fd, f->inq_len, &f->inq))
		return floor_fail("receive queue");
	return 0;
}

static int fl_write(int fd, const uint8_t *p, uint32_t len, int flags)
{
	for (uint32_t off = 0; off < len;) {
		ssize_t n = send(fd, p + off, len - off < FLOOR_CHUNK ? len - off : FLOOR_CHUNK, flags);

		if (n <= 0)
			return -1;
		off += n;
	}
	return 0;
}

static int floor_restore(void *st)
{
	struct floor_conn *f = st;
	uint32_t sent = f->outq_len - f->unsent_len;
	struct tf_repair_opt o[4] = { { TF_TCPOPT_MSS, f->mss } };
	int n = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return floor_fail("socket");
	if (f->ti.tcpi_options & TCPI_OPT_WSCALE)
		o[n++] = (struct tf_repair_opt){ TF_TCPOPT_WINDOW,
						 f->ti.tcpi_snd_wscale | (f->ti.tcpi_rcv_wscale << 16) };
	if (f->ti.tcpi_options & TCPI_OPT_SACK)
		o[n++] = (struct tf_repair_opt){ TF_TCPOPT_SACK_PERM, 0 };
	if (f->ti.tcpi_options & TCPI_OPT_TIMESTAMPS)
		o[n++] = (struct tf_repair_opt){ TF_TCPOPT_TIMESTAMP, 0 };
	if (fl_set(fd, TCP_REPAIR, TCP_REPAIR_ON))
		goto fail;
	/* Room for the queues (the kernel charges the repair writes to them). */
	if (f->outq_len && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &(int){ 2 * f->outq_len + 262144 }, sizeof(int)))
		goto fail;
	if (f->inq_len && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &(int){ 2 * f->inq_len + 262144 }, sizeof(int)))
		goto fail;
	if (bind(fd, (void *)&f->local, sizeof(f->local)) ||
	    fl_set(fd, TCP_REPAIR_QUEUE, TF_RECV_QUEUE) || fl_set(fd, TCP_QUEUE_SEQ, f->rcv_seq - f->inq_len) ||
	    fl_set(fd, TCP_REPAIR_QUEUE, TF_SEND_QUEUE) || fl_set(fd, TCP_QUEUE_SEQ, f->snd_seq - f->outq_len) ||
	    connect(fd, (void *)&f->peer, sizeof(f->peer)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, o, n * sizeof(o[0])))
		goto fail;
	if ((f->ti.tcpi_options & TCPI_OPT_TIMESTAMPS) && fl_set(fd, TCP_TIMESTAMP, f->ts))
		goto fail;
	if (f->inq_len && (fl_set(fd, TCP_REPAIR_QUEUE, TF_RECV_QUEUE) ||
			   fl_write(fd, f->inq, f->inq_len, MSG_DONTWAIT)))
		goto fail;
	if (sent && (fl_set(fd, TCP_REPAIR_QUEUE, TF_SEND_QUEUE) || fl_write(fd, f->outq, sent, MSG_DONTWAIT)))
		goto fail;
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &f->window, sizeof(f->window)) ||
	    fl_set(fd, TCP_REPAIR, TCP_REPAIR_OFF))
		goto fail;
	if (fl_write(fd, f->outq + sent, f->unsent_len, MSG_DONTWAIT | MSG_NOSIGNAL))
		goto fail;
	return fd;
fail:
	n = floor_fail("restore");
	close(fd);
	return n;
}

static void floor_release(void *st)
{
	struct floor_conn *f = st;

	free(f->outq);
	free(f->inq);
	memset(f, 0, sizeof(*f));
}

static const char *floor_strerror(void)
{
	return floor_err;
}

/* ---- tcpferry's path: what `tcpferry dump` and `tcpferry restore` call -------------- */

static int ours_dump(int fd, void *st)
{
	int err = tf_repair_on(fd);

	return err ? err : tf_dump(fd, st);
}

static int ours_restore(void *st)
{
	int fd = tf_restore(st, NULL), err;

	if (fd < 0)
		return fd;
	err = tf_restore_finish(fd, st, true);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

static void ours_release(void *st)
{
	tf_conn_free(st);
}

struct engine {
	const char *name;
	size_t state_size;
	int (*dump)(int fd, void *st);		/* 0 or -errno; leaves fd in repair mode */
	int (*restore)(void *st);		/* a connected fd out of repair, or -errno */
	void (*release)(void *st);
	const char *(*strerror)(void);
	bool images;				/* its state is a struct tf_conn: images written and read */
};

static const struct engine engines[] = {
	{ "tcpferry", sizeof(struct tf_conn), ours_dump, ours_restore, ours_release, tf_strerror, true },
	{ "floor", sizeof(struct floor_conn), floor_dump, floor_restore, floor_release, floor_strerror, false },
};
#define OURS  0
#define FLOOR 1

/* ---- connections ----------------------------------------------------------------- */

struct conn {
	int client, server;	/* the client is the one moved */
};

static int listen_on(int port, int rcvbuf)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (l < 0)
		die("socket: %s", strerror(errno));
	setint(l, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
	if (rcvbuf)
		setint(l, SOL_SOCKET, SO_RCVBUF, rcvbuf, "SO_RCVBUF");
	if (bind(l, (void *)&a, sizeof(a)) || listen(l, 4096))
		die("listen on 127.0.0.1:%d: %s", port, strerror(errno));
	return l;
}

/* A client connected to 127.0.0.1:port, with buffer sizes first if asked. */
static int connect_to(int port, int bufsize)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (bufsize) {
		setint(fd, SOL_SOCKET, SO_SNDBUFFORCE, bufsize, "SO_SNDBUFFORCE");
		setint(fd, SOL_SOCKET, SO_RCVBUFFORCE, bufsize, "SO_RCVBUFFORCE");
	}
	if (connect(fd, (void *)&a, sizeof(a)))
		die("connect 127.0.0.1:%d: %s", port, strerror(errno));
	return fd;
}

/*
 * The servers of the idle connections: a child that accepts on the listeners
 * and echoes whatever it reads, until the parent kills it (or dies).
 */
static void echo_serve(const int *listeners, int nl, pid_t parent)
{
	struct epoll_event ev[256];
	char buf[4096];
	int ep = epoll_create1(EPOLL_CLOEXEC);

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent || ep < 0)
		_exit(1);
	for (int i = 0; i < nl; i++) {
		fcntl(listeners[i], F_SETFL, O_NONBLOCK);	/* accept until EAGAIN */
		epoll_ctl(ep, EPOLL_CTL_ADD, listeners[i],
			  &(struct epoll_event){ .events = EPOLLIN, .data.u64 = (uint64_t)listeners[i] << 1 | 1 });
	}
	for (;;) {
		int k = epoll_wait(ep, ev, 256, -1);

		for (int i = 0; i < k; i++) {
			int fd = ev[i].data.u64 >> 1;
			ssize_t r;

			if (ev[i].data.u64 & 1) {	/* a listener */
				int s;

				while ((s = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0)
					epoll_ctl(ep, EPOLL_CTL_ADD, s,
						  &(struct epoll_event){ .events = EPOLLIN, .data.u64 = (uint64_t)s << 1 });
				continue;
			}
			r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r > 0 && send(fd, buf, r, MSG_NOSIGNAL) == r)
				continue;
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
				close(fd);	/* the client closed (at the end) */
			else if (r > 0)
				fprintf(stderr, "repair_bench: echo server: short echo\n");
		}
	}
}

/* n idle connections, spread over listeners so no destination runs out of
 * ports; *server gets the echo child's pid. */
static int *connect_idle(size_t n, pid_t *server)
{
	int nl = (n + CONNS_PER_LISTENER - 1) / CONNS_PER_LISTENER;
	int *l = calloc(nl, sizeof(int)), *c = calloc(n, sizeof(int));
	pid_t parent = getpid();

	if (!l || !c)
		die("no memory for %zu connections", n);
	for (int i = 0; i < nl; i++)
		l[i] = listen_on(FIRST_PORT + i, 0);
	fflush(NULL);
	*server = fork();
	if (*server < 0)
		die("fork: %s", strerror(errno));
	if (*server == 0)
		echo_serve(l, nl, parent);
	for (int i = 0; i < nl; i++)
		close(l[i]);
	free(l);
	for (size_t i = 0; i < n; i++)
		c[i] = connect_to(FIRST_PORT + i / CONNS_PER_LISTENER, 0);
	return c;
}

static void stop_server(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ---- checking that a restored connection is real ------------------------------------- */

/* Read exactly len bytes from fd within the timeout; compare with want or with
 * the pattern from offset pat_off (want == NULL). */
static bool read_exact(int fd, const uint8_t *want, size_t len, uint64_t pat_off)
{
	uint8_t buf[65536];
	uint64_t deadline = now_ns() + IO_TIMEOUT_MS * 1000000ull;
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		size_t want_n = len - got < sizeof(buf) ? len - got : sizeof(buf);
		ssize_t r;

		if (now_ns() > deadline || poll(&p, 1, 100) < 0)
			return false;
		r = recv(fd, buf, want_n, MSG_DONTWAIT);
		if (r == 0)
			return false;
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return false;
		}
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != (want ? want[got + i] : pattern(pat_off + got + i)))
				return false;
		got += r;
	}
	return true;
}

static bool send_all(int fd, const void *p, size_t len)
{
	return send(fd, p, len, MSG_NOSIGNAL) == (ssize_t)len;
}

/* The echo server sends back what it got: data went both ways. */
static bool echoes(int fd, size_t i)
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "connection %zu, there and back\n", i);

	return send_all(fd, msg, n) && read_exact(fd, (uint8_t *)msg, n, 0);
}

/* A message each way between a client and its server in this process. */
static bool carries_data(const struct conn *c)
{
	static const char up[] = "client -> server\n", down[] = "server -> client\n";

	return send_all(c->client, up, sizeof(up) - 1) &&
	       read_exact(c->server, (const uint8_t *)up, sizeof(up) - 1, 0) &&
	       send_all(c->server, down, sizeof(down) - 1) &&
	       read_exact(c->client, (const uint8_t *)down, sizeof(down) - 1, 0);
}

static void check_sample(const int *fds, size_t n, const char *engine)
{
	size_t k = n < VERIFY_SAMPLE ? n : VERIFY_SAMPLE;

	for (size_t j = 0; j < k; j++) {
		size_t i = k == n ? j : j * (n - 1) / (k - 1);	/* first to last, spread */

		if (!echoes(fds[i], i))
			die("%s: restored connection %zu of %zu does not carry data both ways: the restore is broken",
			    engine, i, n);
	}
}

/* ---- images: what `tcpferry dump` writes and `tcpferry restore` reads -----------------
 * For tcpferry only, in every cycle: after the dump every connection's image
 * and then the index go into img.dir, as user/move/dump_job.c writes them;
 * after the originals are closed the index and every image are read back, as
 * user/move/restore_job.c reads them, and the restore rebuilds from what was
 * read.  The files are removed after each cycle, untimed, so each write
 * creates its file anew, as a dump into an empty directory does.
 */
static struct {
	char dir[PATH_MAX];	/* "" until made */
	pid_t owner;		/* the echo child must not remove it */
	const char *fs;		/* the directory's file system, for the summary */
	struct tf_index ix;	/* entries for up to cap connections */
	size_t cap;
} img;

static bool dot_or_dotdot(const char *n)
{
	return n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]));
}

/* Remove every file in the directory, also a temporary file a write cut
 * short left behind.  Async-signal-safe (getdents64, no malloc): the
 * signal handler uses it too. */
static void images_clear(void)
{
	char buf[8192] __attribute__((aligned(8)));	/* struct dirent64 records */
	int fd, removed;
	ssize_t n;

	if (!img.dir[0] || img.owner != getpid())
		return;
	fd = open(img.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	do {	/* again until a pass finds nothing: removing while listing may skip names */
		removed = 0;
		lseek(fd, 0, SEEK_SET);
		while ((n = getdents64(fd, buf, sizeof(buf))) > 0)
			for (ssize_t off = 0; off < n;) {
				struct dirent64 *d = (struct dirent64 *)(buf + off);

				off += d->d_reclen;
				if (!dot_or_dotdot(d->d_name) && unlinkat(fd, d->d_name, 0) == 0)
					removed++;
			}
	} while (removed);
	close(fd);
}

/* At exit, also after die(), and on SIGINT, SIGTERM, SIGHUP. */
static void images_remove(void)
{
	images_clear();
	if (img.dir[0] && img.owner == getpid() && rmdir(img.dir) == 0)
		img.dir[0] = '\0';
}

static void images_on_signal(int sig)
{
	images_remove();
	signal(sig, SIG_DFL);
	raise(sig);
}

static const char *fs_name(const char *dir)
{
	struct statfs s;

	if (statfs(dir, &s))
		return "unknown file system";
	switch ((unsigned long)s.f_type) {
	case TMPFS_MAGIC:
		return "tmpfs";
	case EXT4_SUPER_MAGIC:
		return "ext2/3/4";
	case XFS_SUPER_MAGIC:
		return "xfs";
	case BTRFS_SUPER_MAGIC:
		return "btrfs";
	case OVERLAYFS_SUPER_MAGIC:
		return "overlayfs";
	default:
		return "a disk file system";
	}
}

/* A fresh directory under $TMPDIR, else /tmp. */
static void images_open(void)
{
	const char *t = getenv("TMPDIR");

	if (!t || !*t)
		t = "/tmp";
	if (snprintf(img.dir, sizeof(img.dir), "%s/repair_bench.XXXXXX", t) >= (int)sizeof(img.dir))
		die("TMPDIR %s: path too long for the image directory; set TMPDIR to a shorter path", t);
	if (!mkdtemp(img.dir)) {
		int err = errno;

		img.dir[0] = '\0';
		die("cannot make the image directory %s/repair_bench.XXXXXX: %s; set TMPDIR to a writable directory",
		    t, strerror(err));
	}
	img.owner = getpid();
	img.fs = fs_name(img.dir);
	atexit(images_remove);
	signal(SIGINT, images_on_signal);
	signal(SIGTERM, images_on_signal);
	signal(SIGHUP, images_on_signal);
}

static void images_reserve(size_t n)
{
	if (n <= img.cap)
		return;
	free(img.ix.entries);
	img.ix.entries = calloc(n, sizeof(*img.ix.entries));
	if (!img.ix.entries)
		die("no memory for an index of %zu connections", n);
	img.cap = n;
}

/* Every image, then the index last (a directory with an index is complete). */
static void images_write(const struct tf_conn *c, size_t n)
{
	char path[PATH_MAX + 80];

	img.ix.pid = getpid();
	img.ix.n = n;
	img.ix.time_ns = c[0].dump_time_ns;
	gethostname(img.ix.host, sizeof(img.ix.host) - 1);
	for (size_t i = 0; i < n; i++) {
		struct tf_index_entry *e = &img.ix.entries[i];

		snprintf(e->file, sizeof(e->file), "conn-%04zu.tfc", i + 1);
		e->local = c[i].local;
		e->peer = c[i].peer;
		snprintf(path, sizeof(path), "%s/%s", img.dir, e->file);
		if (tf_image_write(path, &c[i]))
			die("tcpferry: writing the image of connection %zu: %s", i, tf_strerror());
	}
	if (tf_index_write(img.dir, &img.ix))
		die("tcpferry: writing the index of %zu connections: %s", n, tf_strerror());
}

/* The index, then every image it names into c[] (which holds nothing). */
static void images_read(struct tf_conn *c, size_t n)
{
	char path[PATH_MAX + 80];
	struct tf_index ix;

	if (tf_index_read(img.dir, &ix))
		die("tcpferry: reading the index back: %s", tf_strerror());
	if (ix.n != n)
		die("tcpferry: the index read back names %u connections, %zu were written", ix.n, n);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", img.dir, ix.entries[i].file);
		if (tf_image_read(path, &c[i]))
			die("tcpferry: reading the image of connection %zu back: %s", i, tf_strerror());
	}
	tf_index_free(&ix);
}

/* The same dump as one stream file beside them (`dump --out FILE.tfs`); after images_write. */
static void stream_write(const struct tf_conn *c)
{
	struct tf_stream_file sf;
	char path[PATH_MAX + 16];
	int fd;

	snprintf(path, sizeof(path), "%s/dump.tfs", img.dir);
	fd = tf_stream_file_create(&sf, path);
	if (fd < 0)
		die("tcpferry: %s", tf_strerror());
	if (tf_stream_write(fd, &img.ix, c) || tf_stream_file_commit(&sf)) {
		tf_stream_file_abort(&sf);
		die("tcpferry: writing the stream of %u connections: %s", img.ix.n, tf_strerror());
	}
}

/* It read back whole into c[] (which holds nothing), as `restore --in FILE.tfs` reads it. */
static void stream_read(struct tf_conn *c, size_t n)
{
	char path[PATH_MAX + 16];
	struct tf_conn *back;
	struct tf_index ix;

	snprintf(path, sizeof(path), "%s/dump.tfs", img.dir);
	if (tf_stream_read_path(path, &ix, &back))
		die("tcpferry: reading the stream back: %s", tf_strerror());
	if (ix.n != n)
		die("tcpferry: the stream read back holds %u connections, %zu were written", ix.n, n);
	memcpy(c, back, n * sizeof(*c));	/* the buffers move over */
	free(back);
	tf_index_free(&ix);
}

/* ---- one cycle: dump all, (images), close the originals in repair mode, restore all ---- */

enum { DUMP, RESTORE, IMG_WRITE, IMG_READ, STREAM_WRITE, STREAM_READ, PHASES };

struct cycle {
	double ns[PHASES];	/* totals */
	uint64_t calls[PHASES];	/* totals, when counted */
};

/* A timed (and, if counted, syscall-counted) stretch of one cycle. */
struct stretch {
	uint64_t t0, s0;
	bool count;
};

static void stretch_start(struct stretch *s, bool count)
{
	s->count = count;
	if (count) {
		sc_enable(true);
		s->s0 = sc_read();
	}
	s->t0 = now_ns();
}

static void stretch_stop(struct stretch *s, struct cycle *r, int phase)
{
	uint64_t t1 = now_ns();

	if (s->count) {
		r->calls[phase] = sc_read() - s->s0 - sc_base;
		sc_enable(false);
	}
	r->ns[phase] = t1 - s->t0;
}

/* fds[] are the clients; they are replaced by the restored sockets. */
static struct cycle run_cycle(const struct engine *e, int *fds, size_t n, void *states, bool count)
{
	struct cycle r = {};
	struct stretch s;
	char *st = states;

	memset(states, 0, n * e->state_size);
	stretch_start(&s, count);
	for (size_t i = 0; i < n; i++)
		if (e->dump(fds[i], st + i * e->state_size))
			die("%s: dump of connection %zu: %s", e->name, i, e->strerror());
	stretch_stop(&s, &r, DUMP);

	if (e->images) {
		stretch_start(&s, count);
		images_write(states, n);
		stretch_stop(&s, &r, IMG_WRITE);
		stretch_start(&s, count);
		stream_write(states);
		stretch_stop(&s, &r, STREAM_WRITE);
	}

	for (size_t i = 0; i < n; i++)
		close(fds[i]);	/* in repair mode: no FIN, no RST */

	if (e->images) {
		/* The restore starts from what was read, as in `tcpferry restore`. */
		for (size_t i = 0; i < n; i++)
			e->release(st + i * e->state_size);
		stretch_start(&s, count);
		images_read(states, n);
		stretch_stop(&s, &r, IMG_READ);
		/* And the stream: the restore starts from what it gave back. */
		for (size_t i = 0; i < n; i++)
			e->release(st + i * e->state_size);
		stretch_start(&s, count);
		stream_read(states, n);
		stretch_stop(&s, &r, STREAM_READ);
		images_clear();
	}

	stretch_start(&s, count);
	for (size_t i = 0; i < n; i++) {
		int fd = e->restore(st + i * e->state_size);

		if (fd < 0)
			die("%s: restore of connection %zu: %s", e->name, i, e->strerror());
		fds[i] = fd;
	}
	stretch_stop(&s, &r, RESTORE);

	for (size_t i = 0; i < n; i++)
		e->release(st + i * e->state_size);
	return r;
}

/* ---- results ----------------------------------------------------------------------- */

/* One engine's figures per phase, per connection. */
struct figures {
	double us[PHASES], min[PHASES], max[PHASES];
	double calls[PHASES];
};

/* t[phase][run]: per-connection times in µs. */
static void summarize(struct figures *f, double *t[PHASES], int runs, const struct cycle *counted, size_t n)
{
	for (int p = 0; p < PHASES; p++) {
		f->min[p] = f->max[p] = t[p][0];
		for (int i = 1; i < runs; i++) {
			f->min[p] = t[p][i] < f->min[p] ? t[p][i] : f->min[p];
			f->max[p] = t[p][i] > f->max[p] ? t[p][i] : f->max[p];
		}
		f->us[p] = median(t[p], runs);
		f->calls[p] = (double)counted->calls[p] / n;
	}
}

static void line(const char *prefix, const char *metric, size_t n, double v, const char *unit)
{
	if (v == (double)(uint64_t)v)
		printf("%s%s\t%zu\t%.0f\t%s\n", prefix, metric, n, v, unit);
	else
		printf("%s%s\t%zu\t%.2f\t%s\n", prefix, metric, n, v, unit);
}

static void report(const char *prefix, const char *label, size_t n, const struct figures *f, int runs)
{
	const struct figures *o = &f[OURS], *fl = &f[FLOOR];

	line(prefix, "dump_us", n, o->us[DUMP], "us");
	line(prefix, "restore_us", n, o->us[RESTORE], "us");
	line(prefix, "syscalls", n, o->calls[DUMP] + o->calls[RESTORE], "count");
	line(prefix, "dump_syscalls", n, o->calls[DUMP], "count");
	line(prefix, "restore_syscalls", n, o->calls[RESTORE], "count");
	line(prefix, "floor_dump_us", n, fl->us[DUMP], "us");
	line(prefix, "floor_restore_us", n, fl->us[RESTORE], "us");
	line(prefix, "floor_syscalls", n, fl->calls[DUMP] + fl->calls[RESTORE], "count");
	line(prefix, "floor_dump_syscalls", n, fl->calls[DUMP], "count");
	line(prefix, "floor_restore_syscalls", n, fl->calls[RESTORE], "count");
	line(prefix, "image_write_us", n, o->us[IMG_WRITE], "us");
	line(prefix, "image_read_us", n, o->us[IMG_READ], "us");
	line(prefix, "image_write_syscalls", n, o->calls[IMG_WRITE], "count");
	line(prefix, "image_read_syscalls", n, o->calls[IMG_READ], "count");
	line(prefix, "stream_write_us", n, o->us[STREAM_WRITE], "us");
	line(prefix, "stream_read_us", n, o->us[STREAM_READ], "us");
	line(prefix, "stream_write_syscalls", n, o->calls[STREAM_WRITE], "count");
	line(prefix, "stream_read_syscalls", n, o->calls[STREAM_READ], "count");
	fflush(stdout);

	fprintf(stderr, "%-24s %-8s %9s %19s %8s %9s %19s %8s\n", label, "", "dump us", "(min-max)",
		"syscalls", "restore", "(min-max)", "syscalls");
	for (int e = 0; e < 2; e++)
		fprintf(stderr, "%-24s %-8s %9.2f (%8.2f-%8.2f) %8.1f %9.2f (%8.2f-%8.2f) %8.1f\n", "",
			engines[e].name, f[e].us[DUMP], f[e].min[DUMP], f[e].max[DUMP], f[e].calls[DUMP],
			f[e].us[RESTORE], f[e].min[RESTORE], f[e].max[RESTORE], f[e].calls[RESTORE]);
	fprintf(stderr, "%-24s %-8s %8.2fx %19s %7.2fx %8.2fx %19s %7.2fx   median of %d runs\n", "",
		"ratio", o->us[DUMP] / fl->us[DUMP], "", o->calls[DUMP] / fl->calls[DUMP],
		o->us[RESTORE] / fl->us[RESTORE], "", o->calls[RESTORE] / fl->calls[RESTORE], runs);
	fprintf(stderr, "%-24s %-8s %9.2f (%8.2f-%8.2f) %8.1f %9.2f (%8.2f-%8.2f) %8.1f   image write, read (%s)\n",
		"", "images", o->us[IMG_WRITE], o->min[IMG_WRITE], o->max[IMG_WRITE], o->calls[IMG_WRITE],
		o->us[IMG_READ], o->min[IMG_READ], o->max[IMG_READ], o->calls[IMG_READ], img.fs);
	fprintf(stderr, "%-24s %-8s %9.2f (%8.2f-%8.2f) %8.1f %9.2f (%8.2f-%8.2f) %8.1f   stream write, read (%s)\n",
		"", "stream", o->us[STREAM_WRITE], o->min[STREAM_WRITE], o->max[STREAM_WRITE], o->calls[STREAM_WRITE],
		o->us[STREAM_READ], o->min[STREAM_READ], o->max[STREAM_READ], o->calls[STREAM_READ], img.fs);
}

static bool quick(void)
{
	const char *q = getenv("QUICK");

	return q && !strcmp(q, "1");
}

/* Per engine and phase, one time per run. */
static void times_alloc(double *t[2][PHASES], int runs)
{
	for (int e = 0; e < 2; e++)
		for (int p = 0; p < PHASES; p++)
			if (!(t[e][p] = calloc(runs, sizeof(double))))
				die("no memory");
}

static void times_free(double *t[2][PHASES])
{
	for (int e = 0; e < 2; e++)
		for (int p = 0; p < PHASES; p++)
			free(t[e][p]);
}

static void times_put(double *t[PHASES], int run, const struct cycle *y, size_t n)
{
	for (int p = 0; p < PHASES; p++)
		t[p][run] = y->ns[p] / 1000.0 / n;
}

/* ---- idle connections --------------------------------------------------------------- */

static void bench_idle(size_t n)
{
	int runs = n <= 10 ? (quick() ? 11 : 41) : n <= 1000 ? (quick() ? 3 : 7) : 3;
	int *fds;
	pid_t server;
	void *states[2];
	double *t[2][PHASES];
	struct cycle counted[2];
	struct figures f[2];
	char label[48];
	uint64_t t0 = now_ns();

	raise_nofile(n);
	images_reserve(n);
	fds = connect_idle(n, &server);
	times_alloc(t, runs);
	for (int e = 0; e < 2; e++) {
		states[e] = calloc(n, engines[e].state_size);
		if (!states[e])
			die("no memory for %zu connections' state", n);
	}
	/* The counted cycle doubles as the warm-up; then the timed ones,
	 * tcpferry and floor alternating so machine noise hits both. */
	for (int e = 0; e < 2; e++) {
		counted[e] = run_cycle(&engines[e], fds, n, states[e], true);
		check_sample(fds, n, engines[e].name);
	}
	for (int r = 0; r < runs; r++)
		for (int e = 0; e < 2; e++) {
			struct cycle y = run_cycle(&engines[e], fds, n, states[e], false);

			times_put(t[e], r, &y, n);
			check_sample(fds, n, engines[e].name);
		}
	for (int e = 0; e < 2; e++)
		summarize(&f[e], t[e], runs, &counted[e], n);
	snprintf(label, sizeof(label), "%zu idle connection%s", n, n == 1 ? "" : "s");
	report("", label, n, f, runs);
	fprintf(stderr, "%-24s %.1f s, every restore checked on %d connections\n", "", (now_ns() - t0) / 1e9,
		n < VERIFY_SAMPLE ? (int)n : VERIFY_SAMPLE);

	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	stop_server(server);
	for (int e = 0; e < 2; e++)
		free(states[e]);
	times_free(t);
	free(fds);
}

/* ---- one connection with full queues -------------------------------------------------
 * The client holds q unread bytes in its receive queue and q never-sent bytes
 * in its send queue (the server stopped reading and its window closed).
 */
struct qconn {
	struct conn c;
	uint64_t up;		/* bytes the client wrote (client -> server stream) */
	uint32_t q;
};

static void send_pattern(int fd, uint64_t off, size_t len)
{
	uint8_t buf[65536];

	while (len) {
		size_t k = len < sizeof(buf) ? len : sizeof(buf);
		ssize_t n;

		for (size_t i = 0; i < k; i++)
			buf[i] = pattern(off + i);
		n = send(fd, buf, k, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			if (poll(&p, 1, IO_TIMEOUT_MS) <= 0)
				die("queue setup: a send of %zu bytes stalls", len);
			continue;
		}
		if (n <= 0)
			die("queue setup: send: %s", strerror(errno));
		off += n;
		len -= n;
	}
}

/* Wait until nothing the client sent is still unacknowledged. */
static void settle(int fd)
{
	for (int i = 0; i < 500 && ioctl_len(fd, SIOCOUTQ) != ioctl_len(fd, SIOCOUTQNSD); i++)
		usleep(100);
}

static struct qconn connect_queued(int l, uint32_t q)
{
	struct qconn x = { .q = q };
	uint64_t deadline = now_ns() + IO_TIMEOUT_MS * 1000000ull;
	uint32_t outq;

	/* Client buffers far above q: the queues fit; the server's are small,
	 * so its window closes after a few KiB. */
	x.c.client = connect_to(QUEUE_PORT, 4 * q + (1 << 20));
	x.c.server = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (x.c.server < 0)
		die("accept on 127.0.0.1:%d: %s", QUEUE_PORT, strerror(errno));
	setint(x.c.server, SOL_SOCKET, SO_SNDBUFFORCE, 4 * q + (1 << 20), "SO_SNDBUFFORCE");

	send_pattern(x.c.server, 0, q);	/* server -> client: q unread at the client */
	while (ioctl_len(x.c.client, SIOCINQ) < q) {
		if (now_ns() > deadline)
			die("queue setup: the client's receive queue holds %u of %u bytes",
			    ioctl_len(x.c.client, SIOCINQ), q);
		usleep(200);
	}
	/* client -> server: small writes until the server's window is closed ... */
	while (ioctl_len(x.c.client, SIOCOUTQNSD) == 0) {
		send_pattern(x.c.client, x.up, 4096);
		x.up += 4096;
		settle(x.c.client);
		if (x.up > (64u << 20))
			die("queue setup: the server's window never closed");
	}
	/* ... then exactly enough that q bytes wait unsent. */
	outq = ioctl_len(x.c.client, SIOCOUTQ);
	if (outq < q) {
		send_pattern(x.c.client, x.up, q - outq);
		x.up += q - outq;
		settle(x.c.client);
	}
	if (ioctl_len(x.c.client, SIOCOUTQNSD) != q || ioctl_len(x.c.client, SIOCINQ) != q)
		die("queue setup: wanted %u bytes in each queue, got send %u (unsent %u), receive %u", q,
		    ioctl_len(x.c.client, SIOCOUTQ), ioctl_len(x.c.client, SIOCOUTQNSD),
		    ioctl_len(x.c.client, SIOCINQ));
	return x;
}

/* Both queues arrive byte-exact, then the connection carries data both ways. */
static void check_queued(struct qconn *x, const char *engine)
{
	if (!read_exact(x->c.client, NULL, x->q, 0))
		die("%s: the restored receive queue (%u bytes) did not read back byte-exact", engine, x->q);
	if (!read_exact(x->c.server, NULL, x->up, 0))
		die("%s: the server did not receive the client's %llu bytes (%u unsent at dump) byte-exact",
		    engine, (unsigned long long)x->up, x->q);
	if (!carries_data(&x->c))
		die("%s: the restored connection with %u-byte queues does not carry data both ways", engine, x->q);
}

static void bench_queued(const char *prefix, uint32_t q)
{
	int runs = quick() ? 3 : q <= 65536 ? 15 : 7;
	int l = listen_on(QUEUE_PORT, 4096);
	double *t[2][PHASES];
	struct cycle counted[2];
	struct figures f[2];
	union {
		struct tf_conn ours;
		struct floor_conn floor;
	} st;
	char label[48];

	images_reserve(1);
	times_alloc(t, runs);
	/* Each run moves a fresh connection (a restore drains its queues). */
	for (int r = -1; r < runs; r++)
		for (int e = 0; e < 2; e++) {
			struct qconn x = connect_queued(l, q);
			struct cycle y = run_cycle(&engines[e], &x.c.client, 1, &st, r < 0);

			check_queued(&x, engines[e].name);
			if (r < 0)
				counted[e] = y;
			else
				times_put(t[e], r, &y, 1);
			close(x.c.client);
			close(x.c.server);
		}
	for (int e = 0; e < 2; e++)
		summarize(&f[e], t[e], runs, &counted[e], 1);
	times_free(t);
	if (q % (1 << 20) == 0)
		snprintf(label, sizeof(label), "%u MiB in each queue", q >> 20);
	else
		snprintf(label, sizeof(label), "%u KiB in each queue", q >> 10);
	report(prefix, label, 1, f, runs);
	close(l);
}

/* ---- main ----------------------------------------------------------------------------- */

static void usage(FILE *to)
{
	fputs("usage: repair_bench [N...]\n"
	      "  dump and restore N idle IPv4 connections each (default 1 1000 10000) in a network\n"
	      "  namespace of its own; with N = 1 also one connection with 64 KiB and 1 MiB queues.\n"
	      "  Each connection's image is also written and read back, timed apart, in a fresh\n"
	      "  directory under $TMPDIR (else /tmp), removed at exit.\n"
	      "  stdout: \"metric<TAB>N<TAB>value<TAB>unit\" lines; stderr: a summary.  Needs root.\n"
	      "  QUICK=1: fewer runs.\n",
	      to);
}

int main(int argc, char **argv)
{
	size_t defaults[] = DEFAULT_SIZES, sizes[16], n_sizes = 0;

	for (int i = 1; i < argc; i++) {
		char *end;
		unsigned long v;

		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		v = strtoul(argv[i], &end, 10);
		if (*end || v == 0 || v > 100000 || n_sizes == sizeof(sizes) / sizeof(sizes[0])) {
			fprintf(stderr, "repair_bench: '%s': N must be a number of connections from 1 to 100000\n",
				argv[i]);
			usage(stderr);
			return 2;
		}
		sizes[n_sizes++] = v;
	}
	if (!n_sizes) {
		memcpy(sizes, defaults, sizeof(defaults));
		n_sizes = sizeof(defaults) / sizeof(defaults[0]);
	}

	private_namespaces();
	sc_open();
	images_open();
	fprintf(stderr, "repair_bench: per connection, median of runs; floor = the fewest calls that move the same state\n");
	for (size_t i = 0; i < n_sizes; i++) {
		bench_idle(sizes[i]);
		if (sizes[i] == 1) {
			bench_queued("q64k_", 64 * 1024);
			bench_queued("q1m_", 1024 * 1024);
		}
	}
	return 0;
}
