// SPDX-License-Identifier: BSD-2-Clause
/*
 * A restore fed 10,000 mutated dumps (issue 16): the golden dump of
 * images/golden as a dump directory (index.tfi and its two images) and as an
 * image stream (v1-dump.tfs), damaged by bit flips, truncations, splices of
 * other real images (tests/fuzz/corpus/image), edits of the length fields and
 * of single bytes, three in four with every crc made right again (so the
 * damage reaches the checks behind them).  Each goes through what
 * `tcpferry restore --in` runs: restore_job_read (image_source_read), then,
 * if it was accepted, restore_job_build.  For every refused one:
 *   - a message on stderr, no crash, refused within a second (alarm);
 *   - no AF_INET or AF_INET6 socket made (socket() is wrapped below: the
 *     library's calls come here), no fd left open, no lock in the host's lock
 *     table (a real one, pinned in a bpffs this test mounts);
 * and a mutation that stays valid (a changed byte of a queue, a sequence
 * number; counted, not avoided) is restored as any dump would be: locked,
 * built in repair mode (within 5 s), then discarded and unlocked, and it too
 * must leave no fd and no lock behind; if the kernel refuses it, only for a reason of
 * this host (a route or address a mutation changed, a congestion control
 * not loaded), never for one the decoder could have seen.  Then a sample
 * (CLI_SAMPLE) of the refused ones goes through the real CLI,
 * build/tcpferry restore --in X -- true, under strace -f -e
 * trace=socket,bpf (killed after 5 s): it must exit 1 with a message, and
 * strace must see no AF_INET/AF_INET6 socket and no bpf() at all (no map
 * opened, none updated).
 *
 * Root (a network and mount namespace of the test's own: unshare; the
 * host's are untouched).  TF_SEED=N and TF_MUTATIONS=N change the run; a
 * failing input is kept in /tmp/tf-restore-mutated-fail.* for a look.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"
#include "fuzz/fuzz.h"	/* fuzz_fix_image_crcs, fuzz_fix_frame_crcs */
#include "internal.h"	/* ARRAY_SIZE */
#include "lock.h"
#include "restore_job.h"

#define MUTATIONS_DEFAULT 10000
#define CLI_SAMPLE 300		/* refused inputs through the CLI under strace, both forms */
#define INPUT_MAX (64 << 10)

/* ---- every socket the library makes comes through here ------------------------------------ */

static unsigned inet_sockets;

/* The library (linked in statically) calls this, not libc's: the count of IP sockets made. */
int socket(int domain, int type, int protocol)
{
	if (domain == AF_INET || domain == AF_INET6)
		inet_sockets++;
	return syscall(SYS_socket, domain, type, protocol);
}

/* ---- the inputs ------------------------------------------------------------------------ */

struct file {
	const char *name;	/* in the dump directory */
	uint8_t *data;
	size_t len;
};

/* The golden dump directory, and the stream of the same dump. */
static struct file gdir[] = { { .name = "index.tfi" }, { .name = "v1-ipv4.tfc" }, { .name = "v1-ipv6.tfc" } };
static struct file gstream = { .name = "v1-dump.tfs" };
/* What splices take their bytes from: real dumps' images and indexes. */
static struct file donors[] = {
	{ .name = "tests/fuzz/corpus/image/dump-conn-0001.tfc" },
	{ .name = "tests/fuzz/corpus/image/dump-conn-0003.tfc" },
	{ .name = "tests/fuzz/corpus/image/dump-conn-0004.tfc" },
	{ .name = "tests/fuzz/corpus/image/dump-index.tfi" },
	{ .name = "images/golden/v1-dump.tfs" },
};

static void slurp(const char *path, struct file *f)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st))
		bail_out("%s: %s (run from the source tree, or set TF_SRCDIR)", path, strerror(errno));
	f->len = st.st_size;
	f->data = malloc(f->len + 1);
	if (!f->data || read(fd, f->data, f->len) != (ssize_t)f->len)
		bail_out("%s: cannot read it", path);
	close(fd);
}

static uint64_t rng;

static uint32_t rnd(uint32_t n)	/* 0..n-1 (xorshift64*) */
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return n ? (uint32_t)((rng * 2685821657736338717ull) >> 32) % n : 0;
}

enum mutation { FLIP, TRUNCATE, SPLICE, LENGTH, BYTES, N_MUTATIONS };
static const char *const mutation_name[] = { "bit flips", "truncations", "splices", "length fields",
					      "byte values" };

/*
 * The offsets of the u32 length fields of a file, as far as they go: records
 * of an image or index (after its 16-byte header: 12 bytes of type, flags,
 * len and crc besides the payload; len at 4) or frames of a stream (16 bytes
 * of header; len at 8).
 */
static size_t length_fields(const uint8_t *p, size_t n, bool stream, size_t *at, size_t max)
{
	size_t pos = stream ? 0 : 16, fixed = stream ? 16 : 12, len_at = stream ? 8 : 4, k = 0;

	while (pos <= n && n - pos >= fixed && k < max) {
		uint32_t len = fuzz_get32le(p + pos + len_at);

		at[k++] = pos + len_at;
		if (len > n - pos - fixed)
			break;
		pos += fixed + len;
	}
	return k;
}

/* buf (len, room for INPUT_MAX) damaged by m; crcs fixed three times in four.  The new length. */
static size_t mutate(uint8_t *buf, size_t len, enum mutation m, bool stream)
{
	static const uint32_t lengths[] = { 0, 1, 2, 7, 8, 0x7fffffff, 0x80000000, 0xffffffff };
	static const uint8_t bytes[] = { 0, 1, 0x7f, 0x80, 0xff, '/', '.' };
	size_t at[256], k, pos;

	switch (m) {
	case FLIP:
		for (int i = 1 + rnd(4); i > 0 && len; i--)
			buf[rnd(len)] ^= 1u << rnd(8);
		break;
	case TRUNCATE:
		len = rnd(len);
		break;
	case SPLICE: {
		const struct file *d = &donors[rnd(ARRAY_SIZE(donors))];
		size_t from = rnd(d->len), n = 1 + rnd(64), gone = rnd(65);

		pos = rnd(len + 1);
		n = n < d->len - from ? n : d->len - from;
		gone = gone < len - pos ? gone : len - pos;
		if (len - gone + n > INPUT_MAX)
			break;
		memmove(buf + pos + n, buf + pos + gone, len - pos - gone);
		memcpy(buf + pos, d->data + from, n);
		len = len - gone + n;
		break;
	}
	case LENGTH:
		k = length_fields(buf, len, stream, at, ARRAY_SIZE(at));
		if (!k)
			break;
		pos = at[rnd(k)];
		if (rnd(2))
			fuzz_put32le(buf + pos, lengths[rnd(ARRAY_SIZE(lengths))]);
		else
			fuzz_put32le(buf + pos, fuzz_get32le(buf + pos) + (rnd(2) ? 1 : -1));
		break;
	case BYTES:
		for (int i = 1 + rnd(4); i > 0 && len; i--)
			buf[rnd(len)] = bytes[rnd(ARRAY_SIZE(bytes))];
		break;
	default:
		break;
	}
	if (rnd(4)) {
		if (stream)
			fuzz_fix_frame_crcs(buf, len, 1);
		else
			fuzz_fix_image_crcs(buf, len);
	}
	return len;
}

/* ---- the host side: a lock table, a namespace, the checks ---------------------------------- */

static char tmp[] = "/tmp/tf-restore-mutated.XXXXXX";
static char bpffs[PATH_MAX], dir[PATH_MAX], stream_path[PATH_MAX];
static struct tf_locktab *tab;
static int err_fd = -1, saved_stderr = -1;

static void cleanup(void)
{
	char cmd[PATH_MAX + 16];

	if (saved_stderr >= 0)
		dup2(saved_stderr, 2);
	tf_locktab_close(tab);
	umount2(bpffs, MNT_DETACH);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd))
		diag("could not remove %s", tmp);
}

static void setup(void)
{
	if (geteuid() != 0)
		skip_all("needs root (a network and mount namespace of its own, a bpffs, TCP_REPAIR)");
	if (unshare(CLONE_NEWNET | CLONE_NEWNS))
		skip_all("cannot create a network and mount namespace (unshare)");
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL))
		bail_out("making the test's mounts private: %s", strerror(errno));
	if (!mkdtemp(tmp))
		bail_out("mkdtemp %s: %s", tmp, strerror(errno));
	atexit(cleanup);
	snprintf(bpffs, sizeof(bpffs), "%s/bpffs", tmp);
	snprintf(dir, sizeof(dir), "%s/dump", tmp);
	snprintf(stream_path, sizeof(stream_path), "%s/dump.tfs", tmp);
	if (mkdir(bpffs, 0700) || mkdir(dir, 0700))
		bail_out("mkdir in %s: %s", tmp, strerror(errno));
	if (mount("bpf", bpffs, "bpf", 0, NULL))
		skip_all("cannot mount a bpffs (needs a kernel with BPF)");
	if (tf_locktab_open(bpffs, true, 0, &tab))
		skip_all("cannot make a lock table in the test's bpffs (BPF maps unavailable?)");
	/* The golden dump's addresses on lo, its peers routed there: an input that stays valid
	 * restores for real (into repair mode, never live). */
	if (system("ip link set lo up && ip addr add 192.0.2.1/32 dev lo && "
		   "ip route add 198.51.100.0/24 dev lo && ip -6 addr add 2001:db8::1/128 dev lo nodad && "
		   "ip -6 route add 2001:db8::/64 dev lo"))
		bail_out("setting up lo in the test's network namespace failed (ip(8) needed)");
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		bail_out("/proc/self/fd: %s", strerror(errno));
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static uint32_t locks_held(void)
{
	uint32_t n = 0;

	if (tf_locktab_count(tab, &n))
		bail_out("counting the locks: %s", tf_strerror());
	return n;
}

static void put(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd))
		bail_out("writing %s: %s", path, strerror(errno));
}

/* The input as the files restore --in reads: the dump directory, or the stream file. */
static const char *place(bool stream, int which, const uint8_t *data, size_t len)
{
	static int dirty = -1;	/* the mutated file now in the directory (-1: not written yet) */
	char path[PATH_MAX + 64];

	if (stream) {
		put(stream_path, data, len);
		return stream_path;
	}
	/* Only what differs from the directory as it is: the file mutated now and the last one. */
	for (size_t i = 0; i < ARRAY_SIZE(gdir); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, gdir[i].name);
		if ((int)i == which)
			put(path, data, len);
		else if (dirty < 0 || (int)i == dirty)
			put(path, gdir[i].data, gdir[i].len);
	}
	dirty = which;
	return dir;
}

static void keep_failure(int n, const char *in, bool stream)
{
	char cmd[3 * PATH_MAX];

	snprintf(cmd, sizeof(cmd), "rm -rf /tmp/tf-restore-mutated-fail.%d && cp -a '%s' "
		 "/tmp/tf-restore-mutated-fail.%d%s", n, in, n, stream ? ".tfs" : "");
	if (system(cmd) == 0)
		diag("input %d kept as /tmp/tf-restore-mutated-fail.%d%s", n, n, stream ? ".tfs" : "");
}

static char alarm_msg[256];

static void on_alarm(int sig)
{
	(void)sig;
	if (write(saved_stderr >= 0 ? saved_stderr : 2, alarm_msg, strlen(alarm_msg)) < 0)
		_exit(2);
	_exit(1);
}

/* What stderr got since the last call (the messages of one input), NUL-terminated in msg. */
static size_t take_stderr(char *msg, size_t len)
{
	ssize_t n = pread(err_fd, msg, len - 1, 0);

	msg[n > 0 ? n : 0] = 0;
	if (ftruncate(err_fd, 0) || lseek(err_fd, 0, SEEK_SET))
		bail_out("resetting the captured stderr: %s", strerror(errno));
	return n > 0 ? n : 0;
}

/* ---- one input ------------------------------------------------------------------------- */

enum verdict { REFUSED, RESTORED, BUILD_REFUSED, BAD };

static uint32_t locks_seen;	/* in the table while the last valid input was built */

static enum verdict restore_one(const char *in, char *why, size_t why_len)
{
	struct restore_job j = { .dir = in, .bpffs = bpffs, .lock = true, .ttl = 60 };
	int fds = open_fds();
	unsigned sockets = inet_sockets;
	enum verdict v;
	char msg[1024];
	int err;

	take_stderr(msg, sizeof(msg));
	/* Reading and checking: 1 s.  A valid input's build (locks, tc attach, sockets) does kernel
	 * work that a loaded machine may stretch: 5 s. */
	alarm(1);
	err = restore_job_read(&j);
	alarm(err ? 0 : 5);
	if (err) {
		v = REFUSED;
		if (!take_stderr(msg, sizeof(msg)) || !strstr(msg, "restore"))
			return snprintf(why, why_len, "refused without a message that names the restore (\"%.300s\")",
					msg), BAD;
		if (inet_sockets != sockets)
			return snprintf(why, why_len, "refused, but %u IP sockets were made: %.300s",
					inet_sockets - sockets, msg), BAD;
	} else if (restore_job_build(&j)) {
		v = BUILD_REFUSED;	/* valid, but this namespace refused it (a route, an address) */
		take_stderr(msg, sizeof(msg));
		snprintf(why, why_len, "%.300s", msg);
	} else {
		v = RESTORED;
		locks_seen = locks_held();
		restore_job_discard(&j);
	}
	alarm(0);
	conn_locks_release(&j.locks, true);
	restore_job_free(&j);
	if (open_fds() != fds)
		return snprintf(why, why_len, "%d fds left open (%s)", open_fds() - fds,
				v == REFUSED ? "refused" : "valid"), BAD;
	if (locks_held())
		return snprintf(why, why_len, "%u locks left in the table (%s)", locks_held(),
				v == REFUSED ? "refused" : "valid"), BAD;
	return v;
}

/* ---- the CLI under strace ---------------------------------------------------------------- */

struct cli_run {
	int status;		/* waitpid's */
	int inet_sockets;	/* socket(AF_INET...) and socket(AF_INET6...) strace saw */
	int bpf_calls;		/* bpf(...) strace saw */
	char msg[1024];		/* its stderr */
};

/* tcpferry --bpffs BPFFS restore --in in -- true, under strace -f -e trace=socket,bpf. */
static void cli_run(const char *cli, const char *in, struct cli_run *r)
{
	char trace[PATH_MAX], errs[PATH_MAX], line[512];
	pid_t pid;
	FILE *f;

	memset(r, 0, sizeof(*r));
	snprintf(trace, sizeof(trace), "%s/strace.log", tmp);
	snprintf(errs, sizeof(errs), "%s/cli.err", tmp);
	unlink(trace);
	pid = fork();
	if (pid < 0)
		bail_out("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(errs, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		char asan[2048];

		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(126);
		/* LeakSanitizer cannot work in a traced process (tests/sanitized.sh): off for this
		 * one under make test-asan; ASan and UBSan still check it. */
		snprintf(asan, sizeof(asan), "%s%sdetect_leaks=0", getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "",
			 getenv("ASAN_OPTIONS") ? ":" : "");
		setenv("ASAN_OPTIONS", asan, 1);
		/* A hang is killed after 5 s (and fails: exit 124): the CLI under strace, ASan and a
		 * loaded machine may take more than the 1 s the in-process restore gets. */
		execlp("timeout", "timeout", "-k", "1", "5", "strace", "-f", "-qq", "-e", "trace=socket,bpf", "-e",
		       "signal=none", "-o", trace, cli, "--bpffs", bpffs, "restore", "--in", in, "--", "true",
		       (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &r->status, 0) != pid)
		bail_out("waitpid: %s", strerror(errno));
	f = fopen(errs, "r");
	if (f) {
		r->msg[fread(r->msg, 1, sizeof(r->msg) - 1, f)] = 0;
		fclose(f);
	}
	f = fopen(trace, "r");
	if (!f)
		bail_out("strace left no log %s (exit status %#x: %s)", trace, r->status, r->msg);
	while (fgets(line, sizeof(line), f)) {
		r->inet_sockets += !!strstr(line, "socket(AF_INET");
		r->bpf_calls += !!strstr(line, "bpf(");
	}
	fclose(f);
}

/* The CLI on a refused input: "" if it refused as it must, or what went wrong. */
static const char *cli_refuses(const char *cli, const char *in, char *why, size_t why_len)
{
	struct cli_run r;

	cli_run(cli, in, &r);
	if (!WIFEXITED(r.status) || WEXITSTATUS(r.status) != 1)
		return snprintf(why, why_len, "exit status %#x, not 1 (%.300s)", r.status, r.msg), why;
	if (!strstr(r.msg, "restore"))
		return snprintf(why, why_len, "no message that names the restore (\"%.300s\")", r.msg), why;
	if (r.inet_sockets)
		return snprintf(why, why_len, "%d IP sockets made (%.300s)", r.inet_sockets, r.msg), why;
	if (r.bpf_calls)
		return snprintf(why, why_len, "%d bpf() calls: the lock table touched (%.300s)", r.bpf_calls, r.msg),
		       why;
	return "";
}

static bool have_strace(void)
{
	return system("strace -V >/dev/null 2>&1 && timeout --version >/dev/null 2>&1") == 0;
}

/* ---- the run ------------------------------------------------------------------------- */

/* What refused a valid input at build, for the summary: this namespace's routes or addresses
 * (the mutation changed one), a socket option this kernel lacks, or anything else. */
static const char *const refusal_kinds[] = { "no route", "address not here", "TCP_CONGESTION", "other" };

static int refusal_kind(const char *msg)
{
	if (strstr(msg, "Network is unreachable") || strstr(msg, "no route"))
		return 0;
	if (strstr(msg, "address not on this host"))
		return 1;
	if (strstr(msg, "TCP_CONGESTION"))
		return 2;
	return 3;
}

struct tally {
	int inputs, refused, restored, build_refused, bad;
};

int main(void)
{
	const char *src = getenv("TF_SRCDIR"), *build = getenv("BUILD"), *seed = getenv("TF_SEED"),
		   *count = getenv("TF_MUTATIONS");
	struct tally t[2][N_MUTATIONS] = {};
	int n = count ? atoi(count) : MUTATIONS_DEFAULT, cli_done[2] = { 0 }, cli_bad[2] = { 0 };
	char cli[PATH_MAX], why[1024], path[PATH_MAX], cli_why[2][1024] = { "", "" };
	bool strace_ok;
	uint8_t *buf = malloc(INPUT_MAX);
	double worst = 0, cli_secs = 0, cli_worst = 0, valid_secs = 0;
	struct timespec began, ended;
	char first_other[512] = "", worst_what[128] = "";
	int build_refused_shown = 0, kernel_refusals[ARRAY_SIZE(refusal_kinds)] = { 0 };

	if (src && chdir(src))
		bail_out("TF_SRCDIR %s: %s", src, strerror(errno));
	snprintf(cli, sizeof(cli), "%s/tcpferry", build ? build : "build");
	if (build && build[0] != '/' && realpath(cli, path))
		snprintf(cli, sizeof(cli), "%s", path);
	for (size_t i = 0; i < ARRAY_SIZE(gdir); i++) {
		snprintf(path, sizeof(path), "images/golden/%s", gdir[i].name);
		slurp(path, &gdir[i]);
	}
	slurp("images/golden/v1-dump.tfs", &gstream);
	for (size_t i = 0; i < ARRAY_SIZE(donors); i++)
		slurp(donors[i].name, &donors[i]);
	setup();
	strace_ok = have_strace() && access(cli, X_OK) == 0;
	rng = seed ? strtoull(seed, NULL, 0) : 0x16f022u;
	if (!rng)
		rng = 1;
	plan(3 + 2 * N_MUTATIONS + 3);
	diag("seed %#llx (TF_SEED), %d inputs (TF_MUTATIONS)", (unsigned long long)rng, n);

	/* Unmutated, both restore: else what follows proves nothing. */
	err_fd = memfd_create("restore-mutated-stderr", MFD_CLOEXEC);
	saved_stderr = dup(2);
	if (err_fd < 0 || saved_stderr < 0 || dup2(err_fd, 2) < 0)
		bail_out("capturing stderr: %s", strerror(errno));
	{
		unsigned sockets = inet_sockets;
		enum verdict d = restore_one(place(false, -1, NULL, 0), why, sizeof(why));
		uint32_t d_locks = locks_seen;
		unsigned d_sockets = inet_sockets - sockets;
		enum verdict s = restore_one(place(true, 0, gstream.data, gstream.len), why, sizeof(why));

		take_stderr(why, sizeof(why));
		dup2(saved_stderr, 2);
		/* What the checks below count is seen: two sockets made (the wrapper works), two locks. */
		ok(d == RESTORED && d_sockets == 2 && d_locks == 2,
		   "the golden dump directory, unmutated, restores into repair mode: %u IP sockets, %u locks",
		   d_sockets, d_locks);
		ok(s == RESTORED && inet_sockets - sockets == 4 && locks_seen == 2,
		   "the golden stream, unmutated, restores into repair mode: %u IP sockets, %u locks",
		   inet_sockets - sockets - d_sockets, locks_seen);
		if (d != RESTORED || s != RESTORED)
			diag("%s", why);
		dup2(err_fd, 2);
	}

	signal(SIGALRM, on_alarm);
	clock_gettime(CLOCK_MONOTONIC, &began);
	for (int i = 0; i < n; i++) {
		bool stream = i & 1;
		enum mutation m = (i >> 1) % N_MUTATIONS;
		int which = stream ? 0 : (int)rnd(ARRAY_SIZE(gdir));
		const struct file *base = stream ? &gstream : &gdir[which];
		struct tally *ty = &t[stream][m];
		struct timespec a, b;
		const char *in;
		enum verdict v;
		size_t len;
		double s;

		memcpy(buf, base->data, base->len);
		len = mutate(buf, base->len, m, stream);
		in = place(stream, which, buf, len);
		snprintf(alarm_msg, sizeof(alarm_msg),
			 "restore_mutated: input %d (%s, %s of %s) hung (1 s to read it, 5 s to build it)\n", i,
			 stream ? "stream" : "dump directory", mutation_name[m], base->name);
		clock_gettime(CLOCK_MONOTONIC, &a);
		v = restore_one(in, why, sizeof(why));
		clock_gettime(CLOCK_MONOTONIC, &b);
		s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
		if (v == REFUSED && s > worst) {
			worst = s;
			snprintf(worst_what, sizeof(worst_what), "input %d, %s, %s of %s", i,
				 stream ? "stream" : "dir", mutation_name[m], base->name);
		} else if (v != REFUSED) {
			valid_secs += s;
		}
		ty->inputs++;
		if (v == BAD) {
			if (ty->bad++ < 3) {
				dup2(saved_stderr, 2);
				diag("input %d (%s, %s of %s): %s", i, stream ? "stream" : "dir", mutation_name[m],
				     base->name, why);
				keep_failure(i, in, stream);
				dup2(err_fd, 2);
			}
			continue;
		}
		ty->refused += v == REFUSED;
		ty->restored += v == RESTORED;
		ty->build_refused += v == BUILD_REFUSED;
		if (v == BUILD_REFUSED && kernel_refusals[refusal_kind(why)]++ == 0 && refusal_kind(why) == 3)
			snprintf(first_other, sizeof(first_other), "input %d: %.300s", i, why);
		if (v == BUILD_REFUSED && build_refused_shown++ < 5) {
			dup2(saved_stderr, 2);
			diag("valid input %d (%s, %s of %s), refused by the kernel here: %s", i,
			     stream ? "stream" : "dir", mutation_name[m], base->name, why);
			dup2(err_fd, 2);
		}
		/* A sample of the refused ones through the CLI, while the input is on disk. */
		if (v == REFUSED && strace_ok && cli_done[stream] < CLI_SAMPLE / 2) {
			const char *bad;

			clock_gettime(CLOCK_MONOTONIC, &a);
			bad = cli_refuses(cli, in, why, sizeof(why));
			clock_gettime(CLOCK_MONOTONIC, &b);
			s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
			cli_secs += s;
			cli_worst = s > cli_worst ? s : cli_worst;

			cli_done[stream]++;
			if (*bad && !cli_bad[stream]++) {
				snprintf(cli_why[stream], sizeof(cli_why[stream]), "input %d (%s of %s): %.700s", i,
					 mutation_name[m], base->name, bad);
				keep_failure(i, in, stream);
			}
		}
	}
	take_stderr(why, sizeof(why));
	dup2(saved_stderr, 2);

	for (int f = 0; f < 2; f++) {
		for (int m = 0; m < N_MUTATIONS; m++) {
			const struct tally *ty = &t[f][m];

			ok(ty->bad == 0 && ty->inputs > 0,
			   "%s, %s: %d inputs: %d refused with a message, no IP socket, no fd, no lock; "
			   "%d still valid (%d restored into repair and discarded, %d refused by this namespace); "
			   "%d wrong", f ? "stream" : "dump directory", mutation_name[m], ty->inputs, ty->refused,
			   ty->restored + ty->build_refused, ty->restored, ty->build_refused, ty->bad);
		}
	}
	/* Else the decoder let through what the kernel refuses, after the locks (TCP_REPAIR_WINDOW did). */
	ok(kernel_refusals[3] == 0,
	   "valid inputs refused at build only for this host's reasons: %d %s, %d %s, %d %s; %d for another%s%s",
	   kernel_refusals[0], refusal_kinds[0], kernel_refusals[1], refusal_kinds[1], kernel_refusals[2],
	   refusal_kinds[2], kernel_refusals[3], kernel_refusals[3] ? ", the first: " : "", first_other);
	clock_gettime(CLOCK_MONOTONIC, &ended);
	diag("%d inputs in %.1f s, of which %.1f s the valid ones' restores, %.1f s the CLI under strace; the slowest "
	     "refused input %.3f s (%s; the alarm: 1 s), the slowest CLI run %.3f s (killed at 5 s)", n,
	     (ended.tv_sec - began.tv_sec) + (ended.tv_nsec - began.tv_nsec) / 1e9, valid_secs, cli_secs, worst,
	     worst_what, cli_worst);
	/* And strace sees what the CLI does: the unmutated dump makes its sockets and locks (last: its
	 * sockets, live and then closed, linger in FIN_WAIT1 on their tuples). */
	if (strace_ok) {
		struct cli_run r;

		cli_run(cli, place(false, -1, NULL, 0), &r);
		ok(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 && r.inet_sockets >= 2 && r.bpf_calls > 0,
		   "the golden dump directory through tcpferry restore under strace: exit %d, %d IP sockets, "
		   "%d bpf() calls seen", WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1, r.inet_sockets,
		   r.bpf_calls);
		if (locks_held())
			bail_out("tcpferry restore left %u locks in the test's table", locks_held());
	} else {
		skip("strace, timeout or the CLI ($BUILD/tcpferry) is missing",
		     "the golden dump through the CLI under strace");
	}
	for (int f = 0; f < 2; f++) {
		if (!strace_ok) {
			skip("strace, timeout or the CLI ($BUILD/tcpferry) is missing", "the CLI under strace");
			continue;
		}
		ok(cli_bad[f] == 0 && cli_done[f] > 0,
		   "%s: %d refused inputs through tcpferry restore under strace: each exit 1 with a message, "
		   "no AF_INET/AF_INET6 socket, no bpf() call%s%s", f ? "stream" : "dump directory", cli_done[f],
		   cli_bad[f] ? "; first wrong: " : "", cli_why[f]);
	}
	free(buf);
	return done_testing();
}
