// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry show [--payload[=N]] IMAGE|DIR|STREAM|-
 *
 * Prints one image, a dump directory (its index, then each image it lists),
 * or an image stream (a file, a FIFO, or standard input with "-"), as text
 * or with -j as JSON.  Reads only; every error names the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "image_format.h"
#include "restore_log.h"
#include "stream.h"
#include "tcpferry.h"

/* CLOCK_REALTIME in ns: the clock the timestamp rule measures elapsed time with. */
static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static const char usage[] =
	"Usage: tcpferry [-j] [-p] show [--payload[=N]] IMAGE|DIR|STREAM|-\n\n"
	"Print a connection image, a dump directory (its index, then every image it\n"
	"lists), or an image stream (a file dump --out FILE.tfs wrote, a FIFO, or -\n"
	"for standard input), checked whole.  Nothing is changed.\n\n"
	"  --payload[=N]  also hexdump the first N bytes of each queue (default 64)\n"
	"  -j, -p         JSON (-p indented): one object per image, \"connections\" for\n"
	"                 a DIR or a STREAM\n"
	"  -h, --help     this text\n\n"
	"Exit status: 0 all read and valid, 1 a file is missing or damaged, 2 bad usage.\n";

static const char *time_str(uint64_t ns, char *buf, size_t len)
{
	time_t secs = ns / 1000000000ull;
	struct tm tm;

	if (!gmtime_r(&secs, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, len, "%" PRIu64 " ns", ns);
		return buf;
	}
	snprintf(buf + strlen(buf), len - strlen(buf), ".%09uZ", (unsigned)(ns % 1000000000ull));
	return buf;
}

static bool is_v4_mapped(const struct tf_endpoint *e)
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };

	return e->family == AF_INET6 && !memcmp(e->addr, prefix, sizeof(prefix));
}

/* ---- text ---------------------------------------------------------------------------------- */

static void hexdump(const char *what, const uint8_t *p, uint32_t len, size_t max)
{
	size_t n = len < max ? len : max;

	printf("  %s, first %zu of %u bytes:\n", what, n, len);
	for (size_t off = 0; off < n; off += 16) {
		printf("    %06zx ", off);
		for (size_t i = off; i < off + 16; i++) {
			if (i < n)
				printf(" %02x", p[i]);
			else
				printf("   ");
		}
		printf("  |");
		for (size_t i = off; i < off + 16 && i < n; i++)
			putchar(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.');
		printf("|\n");
	}
}

/* logged: path is DIR/NAME.tfc, whose DIR/restore.log may say what a restore set. */
static void print_conn_text(const char *path, const struct tf_conn *c, size_t payload, bool logged)
{
	struct restore_record rec;
	char l[TF_ADDRSTRLEN], r[TF_ADDRSTRLEN], t[64], v[160];

	printf("image %s\n", path);
	printf("  connection   %s -> %s\n", tf_endpoint_str(&c->local, l, sizeof(l)),
	       tf_endpoint_str(&c->peer, r, sizeof(r)));
	printf("  socket       %s%s", c->sock_family == AF_INET ? "IPv4" : "IPv6",
	       is_v4_mapped(&c->local) ? " (v4-mapped)" : "");
	if (c->local.scope_id)
		printf(", scope id %u", c->local.scope_id);
	printf("\n  state        %s%s\n", tf_tcp_state_name(c->tcp_state),
	       c->fin_unsent ? " (our FIN queued behind unsent data)" : "");
	printf("  snd_seq      %u (write_seq)\n", c->snd_seq);
	printf("  rcv_seq      %u (rcv_nxt)\n", c->rcv_seq);
	printf("  mss          %u\n", c->mss_clamp);
	printf("  options     %s%s%s%s\n", c->opts & TF_OPT_SACK ? " sack" : "",
	       c->opts & TF_OPT_TSTAMP ? " timestamps" : "",
	       c->opts & TF_OPT_WSCALE ? " wscale" : "", c->opts ? "" : " none");
	if (c->opts & TF_OPT_WSCALE)
		printf("  wscale       snd %u, rcv %u\n", c->snd_wscale, c->rcv_wscale);
	if (c->has_window)
		printf("  window       snd_wl1 %u, snd_wnd %u, max_window %u, rcv_wnd %u, rcv_wup %u\n",
		       c->window.snd_wl1, c->window.snd_wnd, c->window.max_window,
		       c->window.rcv_wnd, c->window.rcv_wup);
	else
		printf("  window       not dumped\n");
	printf("  ts clock     %u (%s timestamps)\n", c->ts_clock,
	       c->ts_clock & 1 ? "usec" : "msec");
	if (c->has_ts_wire)
		printf("  ts wire      %u (%+" PRId32 " from the clock)\n", c->ts_wire,
		       (int32_t)(c->ts_wire - c->ts_clock));
	else
		printf("  ts wire      not recorded\n");
	{
		uint32_t v = tf_ts_restore_value(c, realtime_ns(), 0);

		printf("  ts restore   %u if restored now (max(wire, clock) + time since dump + margin; %+" PRId32
		       " from the clock)\n", v, (int32_t)(v - c->ts_clock));
	}
	if (logged && restore_log_find(path, &rec))
		printf("  ts restored  %u at %s on %s (%+" PRId32 " from the dumped clock; offset %+" PRId32
		       " from that host's TCP clock)\n", rec.ts_chosen, time_str(rec.time_ns, t, sizeof(t)), rec.host,
		       (int32_t)(rec.ts_chosen - c->ts_clock), rec.ts_offset);
	printf("  dumped at    %s\n", time_str(c->dump_time_ns, t, sizeof(t)));
	printf("  recv queue   %u bytes\n", c->inq_len);
	printf("  send queue   %u bytes: %u sent and unacked, %u unsent\n", c->outq_len,
	       c->outq_len - c->unsent_len, c->unsent_len);
	if (!c->n_sockopts)
		printf("  sockopts     none\n");
	for (uint32_t i = 0; i < c->n_sockopts; i++) {
		const struct tf_sockopt_info *info = tf_sockopt_info(c->sockopts[i].id);

		printf("  %-12s %-19s %s\n", i ? "" : "sockopts", info ? info->name : "?",
		       tf_sockopt_value_str(&c->sockopts[i], v, sizeof(v)));
	}
	if (payload && c->inq_len)
		hexdump("recv queue", c->inq, c->inq_len, payload);
	if (payload && c->outq_len)
		hexdump("send queue", c->outq, c->outq_len, payload);
}

/* ---- JSON ------------------------------------------------------------------------------------- */

static void json_endpoint(struct json *j, const char *name, const struct tf_endpoint *e)
{
	char buf[TF_ADDRSTRLEN], *colon;

	tf_endpoint_str(e, buf, sizeof(buf));
	colon = strrchr(buf, ':');
	if (colon)
		*colon = '\0';
	if (buf[0] == '[') {
		memmove(buf, buf + 1, strlen(buf));
		buf[strlen(buf) - 1] = '\0';
	}
	json_name(j, name);
	json_object_start(j);
	json_string_field(j, "address", buf);
	json_uint_field(j, "port", e->port);
	if (e->scope_id)
		json_uint_field(j, "scope_id", e->scope_id);
	json_object_end(j);
}

static void json_hex(struct json *j, const char *name, const uint8_t *p, uint32_t len, size_t max)
{
	size_t n = len < max ? len : max;
	char *hex = malloc(2 * n + 1);

	if (!hex)
		return;
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", p[i]);
	hex[2 * n] = '\0';
	json_string_field(j, name, hex);
	free(hex);
}

/* The fields of one image, inside an object the caller opened. */
static void print_conn_json(struct json *j, const char *path, const struct tf_conn *c, size_t payload,
			    bool logged)
{
	struct restore_record rec;
	char t[64], v[160];

	json_string_field(j, "family", c->sock_family == AF_INET ? "ipv4" : "ipv6");
	json_bool_field(j, "v4_mapped", is_v4_mapped(&c->local));
	json_endpoint(j, "local", &c->local);
	json_endpoint(j, "peer", &c->peer);
	json_string_field(j, "state", tf_tcp_state_name(c->tcp_state));
	json_uint_field(j, "snd_seq", c->snd_seq);
	json_uint_field(j, "rcv_seq", c->rcv_seq);
	json_uint_field(j, "mss", c->mss_clamp);
	json_name(j, "options");
	json_object_start(j);
	json_bool_field(j, "sack", c->opts & TF_OPT_SACK);
	json_bool_field(j, "timestamps", c->opts & TF_OPT_TSTAMP);
	json_bool_field(j, "wscale", c->opts & TF_OPT_WSCALE);
	json_object_end(j);
	json_uint_field(j, "snd_wscale", c->snd_wscale);
	json_uint_field(j, "rcv_wscale", c->rcv_wscale);
	json_name(j, "window");
	if (c->has_window) {
		json_object_start(j);
		json_uint_field(j, "snd_wl1", c->window.snd_wl1);
		json_uint_field(j, "snd_wnd", c->window.snd_wnd);
		json_uint_field(j, "max_window", c->window.max_window);
		json_uint_field(j, "rcv_wnd", c->window.rcv_wnd);
		json_uint_field(j, "rcv_wup", c->window.rcv_wup);
		json_object_end(j);
	} else {
		json_null(j);
	}
	json_uint_field(j, "ts_clock", c->ts_clock);
	json_bool_field(j, "ts_usec", c->ts_clock & 1);
	json_name(j, "ts_wire");
	if (c->has_ts_wire)
		json_uint(j, c->ts_wire);
	else
		json_null(j);
	json_uint_field(j, "ts_restore_now", tf_ts_restore_value(c, realtime_ns(), 0));
	json_name(j, "ts_restored");	/* from DIR/restore.log, once restored */
	if (logged && restore_log_find(path, &rec)) {
		json_object_start(j);
		json_uint_field(j, "ts", rec.ts_chosen);
		json_int_field(j, "offset", rec.ts_offset);
		json_uint_field(j, "time_ns", rec.time_ns);
		json_string_field(j, "time", time_str(rec.time_ns, t, sizeof(t)));
		json_string_field(j, "host", rec.host);
		json_object_end(j);
	} else {
		json_null(j);
	}
	json_uint_field(j, "dump_time_ns", c->dump_time_ns);
	json_string_field(j, "dump_time", time_str(c->dump_time_ns, t, sizeof(t)));
	json_uint_field(j, "inq_len", c->inq_len);
	json_uint_field(j, "outq_len", c->outq_len);
	json_uint_field(j, "unsent_len", c->unsent_len);
	json_bool_field(j, "fin_unsent", c->fin_unsent);
	json_name(j, "sockopts");
	json_array_start(j);
	for (uint32_t i = 0; i < c->n_sockopts; i++) {
		const struct tf_sockopt_info *info = tf_sockopt_info(c->sockopts[i].id);

		json_object_start(j);
		json_uint_field(j, "id", c->sockopts[i].id);
		json_string_field(j, "name", info ? info->name : "?");
		json_string_field(j, "value", tf_sockopt_value_str(&c->sockopts[i], v, sizeof(v)));
		json_object_end(j);
	}
	json_array_end(j);
	if (payload) {
		json_hex(j, "inq_hex", c->inq, c->inq_len, payload);
		json_hex(j, "outq_hex", c->outq, c->outq_len, payload);
	}
}

/* ---- files and directories ---------------------------------------------------------------------- */

static bool same_endpoint(const struct tf_endpoint *a, const struct tf_endpoint *b)
{
	return a->family == b->family && a->port == b->port && a->scope_id == b->scope_id &&
	       !memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16);
}

/* One image, or one of a directory's (e = its index entry). Returns 0 or 1. */
static int show_image(struct json *j, const char *path, const struct tf_index_entry *e,
		      size_t payload)
{
	struct tf_conn c;
	int err, rc = 0;

	err = tf_image_read(path, &c);
	if (j) {
		json_object_start(j);
		json_string_field(j, "file", path);
		if (err)
			json_string_field(j, "error", tf_strerror());
	}
	if (err) {
		if (j)
			json_object_end(j);
		else
			cli_error("%s", tf_strerror());
		return 1;
	}
	if (e && (!same_endpoint(&e->local, &c.local) || !same_endpoint(&e->peer, &c.peer))) {
		char l[TF_ADDRSTRLEN], r[TF_ADDRSTRLEN];

		tf_endpoint_str(&e->local, l, sizeof(l));
		tf_endpoint_str(&e->peer, r, sizeof(r));
		if (j)
			json_string_field(j, "error", "the index lists other endpoints for this image");
		else
			cli_error("%s: the index lists %s -> %s, the image holds another connection",
				  path, l, r);
		rc = 1;
	}
	if (j) {
		print_conn_json(j, path, &c, payload, true);
		json_object_end(j);
	} else {
		print_conn_text(path, &c, payload, true);
	}
	tf_conn_free(&c);
	return rc;
}

/* A dump's index: its fields inside an object the caller opened, or a text header. */
static void print_index(struct json *j, const char *what, const char *path, const struct tf_index *ix)
{
	char t[64];

	if (j) {
		json_string_field(j, what, path);
		json_uint_field(j, "pid", ix->pid);
		json_uint_field(j, "time_ns", ix->time_ns);
		json_string_field(j, "time", time_str(ix->time_ns, t, sizeof(t)));
		json_string_field(j, "host", ix->host);
		json_name(j, "connections");
		json_array_start(j);
	} else {
		printf("%s %s\n  host %s, pid %u, at %s, %u connection%s\n", what, path,
		       ix->host[0] ? ix->host : "(unknown)", ix->pid, time_str(ix->time_ns, t, sizeof(t)),
		       ix->n, ix->n == 1 ? "" : "s");
	}
}

/* A dump that cannot be read: {"dir"|"stream": path, "error": ...}, or the error line. */
static int show_unreadable(struct json *j, const char *what, const char *path)
{
	if (!j)
		return cli_error("%s", tf_strerror());
	json_object_start(j);
	json_string_field(j, what, path);
	json_string_field(j, "error", tf_strerror());
	json_object_end(j);
	return 1;
}

/* An image stream, checked whole before anything is printed. */
static int show_stream(struct json *j, const char *path, size_t payload)
{
	const char *name = path;
	struct tf_conn *c;
	struct tf_index ix;
	char label[PATH_MAX + 80];

	if (tf_stream_read_path(path, &ix, &c))
		return show_unreadable(j, "stream", name);
	if (j)
		json_object_start(j);
	print_index(j, "stream", name, &ix);
	for (uint32_t i = 0; i < ix.n; i++) {
		snprintf(label, sizeof(label), "%s:%s", name, ix.entries[i].file);
		if (j) {
			json_object_start(j);
			json_string_field(j, "file", ix.entries[i].file);
			print_conn_json(j, label, &c[i], payload, false);
			json_object_end(j);
		} else {
			printf("\n");
			print_conn_text(label, &c[i], payload, false);
		}
	}
	if (j) {
		json_array_end(j);
		json_object_end(j);
	}
	tf_stream_conns_free(c, ix.n);
	tf_index_free(&ix);
	return 0;
}

/* NAME.tfc or index.tfi: a dump directory's file, never a stream. */
static bool dump_file_name(const char *path)
{
	size_t n = strlen(path);

	return n >= 4 && (!strcmp(path + n - 4, ".tfc") || !strcmp(path + n - 4, ".tfi"));
}

/* A regular file that starts as a frame does: an image stream, not an image. */
static bool starts_as_stream(const char *path)
{
	uint8_t b[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	bool yes;

	if (fd < 0)
		return false;
	yes = read(fd, b, sizeof(b)) == (ssize_t)sizeof(b) && !memcmp(b, "TFFR", 4);
	close(fd);
	return yes;
}

static int show_dir(struct json *j, const char *dir, size_t payload)
{
	struct tf_index ix;
	char path[PATH_MAX];
	int rc = 0;

	if (tf_index_read(dir, &ix))
		return show_unreadable(j, "dir", dir);
	if (j)
		json_object_start(j);
	print_index(j, j ? "dir" : "dump", dir, &ix);
	for (uint32_t i = 0; i < ix.n; i++) {
		if (!j)
			printf("\n");
		snprintf(path, sizeof(path), "%s/%s", dir, ix.entries[i].file);
		rc |= show_image(j, path, &ix.entries[i], payload);
	}
	if (j) {
		json_array_end(j);
		json_object_end(j);
	}
	tf_index_free(&ix);
	return rc;
}

int cmd_show(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "payload", optional_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	size_t payload = 0;
	struct stat st;
	struct json *j;
	const char *path;
	int opt, rc;

	if (cli_wants_help(argc, argv, usage))
		return 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'P': {
			char *end;
			unsigned long n = optarg ? strtoul(optarg, &end, 10) : 64;

			if (optarg && (!*optarg || *end || n == 0 || n > TF_QUEUE_MAX)) {
				cli_error("show: --payload=%s: expected a byte count from 1 to %u",
					  optarg, TF_QUEUE_MAX);
				return EXIT_USAGE;
			}
			payload = n;
			break;
		}
		default:
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		cli_error("show: expected one IMAGE or DIR; see tcpferry show --help");
		return EXIT_USAGE;
	}
	path = argv[optind];
	if (strcmp(path, "-") && stat(path, &st))
		return cli_error("show %s: %s", path, strerror(errno));

	j = cli_json_open();
	/* Not a regular file: a stream (a FIFO, a socket), unless it has the
	 * name of a dump directory's file, which is refused as one (not read:
	 * a FIFO there would hang us). */
	if (!strcmp(path, "-") || (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode) && !dump_file_name(path)) ||
	    (S_ISREG(st.st_mode) && starts_as_stream(path)))
		rc = show_stream(j, path, payload);
	else if (S_ISDIR(st.st_mode))
		rc = show_dir(j, path, payload);
	else
		rc = show_image(j, path, NULL, payload);
	cli_json_close(j);
	return rc;
}
