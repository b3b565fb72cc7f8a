// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry balance: the hand-off balancer (user/balance/balancer.h).  Loads
 * the config (rules.h's grammar) and the --rule lines, starts --threads
 * loops (each with one channel a backend and a listener on each address),
 * says "ready" on stdout once all listen, and runs until SIGTERM or SIGINT
 * (SIGHUP reloads the rules of every loop); then the hand-offs under way
 * end, the channels close, and the counters, summed over the loops, are
 * printed (text, or one JSON object with -j).  The status socket and the
 * signals are served by the control loop, in this thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/capability.h>

#include "balancer.h"
#include "cli.h"
#include "json.h"
#include "tcpferry.h"

#define RULES_MAX 256
#define STATUS_SOCKET "/run/tcpferry-balance.sock"
/* Repair and the steer and lock maps (net_admin, bpf), and the channels'
 * commands that enter a namespace, as `ip netns exec` does (sys_admin). */
#define DEFAULT_CAPS ((1ull << CAP_NET_ADMIN) | (1ull << CAP_BPF) | (1ull << CAP_SYS_ADMIN))

static const char usage[] =
	"Usage: tcpferry balance [--config FILE] [--rule LINE]... --listen ADDR:PORT...\n"
	"                        [--max-header BYTES] [--request-timeout-ms MS]\n"
	"                        [--timeout-ms MS] [--lock-ttl SEC] [--no-nudge]\n"
	"                        [--threads N] [--status-socket PATH] [--caps LIST]\n"
	"       tcpferry balance status [-j] [--status-socket PATH]\n"
	"\n"
	"A load balancer that reads each new connection's first request (HTTP/1.x\n"
	"Host and path, a TLS ClientHello's SNI, or its first bytes), picks a backend\n"
	"by the rules, and hands the connection to it for good: the backend's\n"
	"`tcpferry receive --serve` rebuilds it, and from then on this host only\n"
	"steers the client's packets to it; the backend answers the client directly.\n"
	"A backend that refuses (or does not answer in time) gives the connection\n"
	"back, and the next backend of the pool gets it; none left: 503 from here.\n"
	"\n"
	"  --config FILE         backends, pools and rules, one statement a line:\n"
	"                          backend NAME addr A [addr6 A6] [mode l2|l3] via CMD...\n"
	"                          pool NAME roundrobin|leastconn|hash-host|hash-client B[*W]...\n"
	"                          match host H [path /P] | path /P | sni H | prefix BYTES pool NAME\n"
	"                          default pool NAME | default status 404|503\n"
	"                          listen ADDR:PORT (as --listen; at the start only)\n"
	"                        (tcpferry(8), under balance, has the whole grammar)\n"
	"  --rule LINE           one more statement, after the file's (repeatable)\n"
	"  --listen ADDR:PORT    a listener ([ADDR6]:PORT for IPv6; repeatable)\n"
	"  --max-header BYTES    the largest request head (default 16384; over: 431)\n"
	"  --request-timeout-ms MS  the first request's deadline from the accept\n"
	"                        (default 10000; past it: 408)\n"
	"  --timeout-ms MS       the longest wait for each of a backend's answers\n"
	"                        (default 2000)\n"
	"  --lock-ttl SEC        a lock's expiry while its hand-off is under way (30)\n"
	"  --no-nudge            the backends do not prompt the clients after the flip\n"
	"  --threads N           event loops (1 to 256; default: the CPUs it may run\n"
	"                        on), each a thread with its own listener on each\n"
	"                        address (SO_REUSEPORT: the kernel spreads the clients)\n"
	"                        and its own channel to each backend (N `receive\n"
	"                        --serve` a backend); round robin and leastconn count\n"
	"                        per loop\n"
	"  --caps LIST           the capabilities it keeps once it listens (default\n"
	"                        net_admin,bpf,sys_admin; the rest are dropped, with\n"
	"                        no_new_privs, and its channels' commands get no more):\n"
	"                        net_admin,bpf when no channel enters a namespace\n"
	"                        (ssh); all keeps everything\n"
	"  --status-socket PATH  where `balance status` asks for the counters (default\n"
	"                        " STATUS_SOCKET ", mode 0600; removed at exit)\n"
	"\n"
	"It runs in the foreground and prints \"ready\" on stdout once every loop\n"
	"listens (and tells systemd: READY=1 to $NOTIFY_SOCKET, for Type=notify).\n"
	"SIGTERM or SIGINT: the hand-offs under way end, the channels\n"
	"close, and the counters (summed over the loops) are printed.  SIGHUP: the\n"
	"config and the --rule lines are read again, and the new rules, pools and\n"
	"defaults take over in every loop (the backends' lines must stay as they\n"
	"were: changing them needs a restart).  `balance status` prints the running\n"
	"balancer's counters, as the exit report's lines (JSON with -j: listener,\n"
	"per backend, per loop, per rule).  Each waiting client holds an fd: the open-\n"
	"file limit is raised to its hard limit (ulimit -Hn), which must be above\n"
	"the clients it is to hold at once.\n"
	"Needs CAP_NET_ADMIN and CAP_BPF.\n";

static struct bal_balancer *running;
static int hup_pipe[2] = { -1, -1 };	/* SIGHUP's handler writes a byte; the loop reloads */

static void on_stop(int sig)
{
	(void)sig;
	if (running)
		bal_balancer_stop(running);
}

static void on_hup(int sig)
{
	int e = errno;

	(void)sig;
	(void)!write(hup_pipe[1], "h", 1);
	errno = e;
}

/* Where the config comes from, for the start and each reload. */
struct config_src {
	const char *file;
	const char **rules;
	int n_rules;
	struct bal_balancer *b;
};

/* The file's lines, then each --rule; 0, or -1 with tf_strerror(). */
static int load_config(const struct config_src *src, struct bal_config *cfg)
{
	if (src->file ? bal_config_load(src->file, cfg) : bal_config_parse("", "--rule", cfg))
		return -1;
	for (int i = 0; i < src->n_rules; i++) {
		char source[32];

		snprintf(source, sizeof(source), "--rule %d", i + 1);
		if (bal_config_add(cfg, src->rules[i], source)) {
			bal_config_free(cfg);
			return -1;
		}
	}
	return 0;
}

static bool same_listens(const struct bal_config *a, const struct bal_config *b)
{
	if (a->n_listens != b->n_listens)
		return false;
	for (int i = 0; i < a->n_listens; i++)
		if (strcmp(a->listens[i], b->listens[i]))
			return false;
	return true;
}

static void reload(void *ctx, int fd, uint32_t events)
{
	const struct config_src *src = ctx;
	struct bal_config cfg;
	char buf[64];

	(void)events;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	cli_sd_notify("RELOADING=1");
	if (load_config(src, &cfg)) {
		cli_warn("balance: SIGHUP: %s; the rules stay as they were", tf_strerror());
		cli_sd_notify("READY=1");
		return;
	}
	if (!same_listens(bal_balancer_config(src->b), &cfg))
		cli_warn("balance: SIGHUP: the listen lines changed; listeners change only with a restart (they "
			 "stay as they are)");
	if (bal_balancer_reload(src->b, &cfg)) {
		cli_warn("%s", tf_strerror());
		bal_config_free(&cfg);
		cli_sd_notify("READY=1");
		return;
	}
	cli_info("balance: SIGHUP: reloaded (%d pools, %d rules)", bal_balancer_config(src->b)->n_pools,
		 bal_balancer_config(src->b)->n_rules);
	cli_sd_notify("READY=1");
}

/* A backend's channels: "up" in every loop, "down" in none, else "partial". */
static const char *backend_state(const struct bal_totals *t, int i)
{
	return t->backends[i].up == t->threads ? "up" : t->backends[i].up ? "partial" : "down";
}

/* The counters, summed over the loops, as one JSON object (the exit report with -j, and balance status). */
static void report_json(struct json *j, const struct bal_config *c, const struct bal_totals *t)
{
	const struct bal_service_counters *sc = &t->service;
	const struct bal_reader_counters *rc = &t->reader;

	json_object_start(j);
	json_uint_field(j, "threads", t->threads);
	json_name(j, "listener");
	json_object_start(j);
	json_uint_field(j, "accepted", rc->accepted);
	json_uint_field(j, "decided", rc->decided);
	json_uint_field(j, "http", rc->http);
	json_uint_field(j, "tls", rc->tls);
	json_uint_field(j, "other", rc->other);
	json_uint_field(j, "pending", t->pending);
	json_uint_field(j, "closed_early", rc->closed_early);
	json_uint_field(j, "status_400", rc->status_400);
	json_uint_field(j, "status_408", rc->status_408);
	json_uint_field(j, "status_431", rc->status_431);
	json_uint_field(j, "timeout_closed", rc->timeout_closed);
	json_uint_field(j, "closed_bad", rc->closed_bad);
	json_uint_field(j, "refused_full", rc->refused_full);
	json_uint_field(j, "no_match", sc->no_match);
	json_uint_field(j, "no_backend", sc->no_backend);
	json_uint_field(j, "retried", sc->retried);
	json_uint_field(j, "handed_off", sc->handed_off);
	json_object_end(j);
	json_name(j, "backends");
	json_array_start(j);
	for (int i = 0; i < c->n_backends; i++) {
		const struct bal_backend_counters *bc = &t->backends[i].c;

		json_object_start(j);
		json_string_field(j, "name", c->backends[i].name);
		json_bool_field(j, "up", t->backends[i].up == t->threads);
		json_uint_field(j, "channels_up", t->backends[i].up);
		json_bool_field(j, "healthy", t->backends[i].healthy == t->threads);
		json_uint_field(j, "submitted", bc->submitted);
		json_uint_field(j, "handed_off", bc->handed_off);
		json_uint_field(j, "refused", bc->refused);
		json_uint_field(j, "submit_failed", bc->submit_failed);
		json_uint_field(j, "in_doubt", bc->in_doubt);
		json_uint_field(j, "live", t->backends[i].live);
		json_object_end(j);
	}
	json_array_end(j);
	json_name(j, "loops");
	json_array_start(j);
	for (int i = 0; i < t->threads; i++) {
		json_object_start(j);
		json_uint_field(j, "accepted", t->loops[i].accepted);
		json_uint_field(j, "pending", t->loops[i].pending);
		json_uint_field(j, "handed_off", t->loops[i].handed_off);
		json_object_end(j);
	}
	json_array_end(j);
	json_name(j, "rules");
	json_array_start(j);
	for (int i = 0; i < c->n_rules; i++) {
		json_object_start(j);
		json_uint_field(j, "line", c->rules[i].line);
		json_string_field(j, "pool", c->pools[c->rules[i].pool].name);
		json_uint_field(j, "matches", t->matches[i]);
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}

/* The counters, summed over the loops, as lines of words (the exit report, and balance status without -j). */
static void report_text(FILE *f, const struct bal_config *c, const struct bal_totals *t)
{
	const struct bal_service_counters *sc = &t->service;
	const struct bal_reader_counters *rc = &t->reader;

	fprintf(f, "accepted %llu decided %llu handed_off %llu no_match %llu no_backend %llu retried %llu "
	       "status_400 %llu status_408 %llu status_431 %llu\n",
	       (unsigned long long)rc->accepted, (unsigned long long)rc->decided,
	       (unsigned long long)sc->handed_off, (unsigned long long)sc->no_match,
	       (unsigned long long)sc->no_backend, (unsigned long long)sc->retried,
	       (unsigned long long)rc->status_400, (unsigned long long)rc->status_408,
	       (unsigned long long)rc->status_431);
	for (int i = 0; i < c->n_backends; i++) {
		const struct bal_backend_counters *bc = &t->backends[i].c;

		fprintf(f, "backend %s %s submitted %llu handed_off %llu refused %llu submit_failed %llu "
		       "in_doubt %llu\n",
		       c->backends[i].name, backend_state(t, i), (unsigned long long)bc->submitted,
		       (unsigned long long)bc->handed_off, (unsigned long long)bc->refused,
		       (unsigned long long)bc->submit_failed, (unsigned long long)bc->in_doubt);
	}
	for (int i = 0; i < c->n_rules; i++)
		fprintf(f, "rule %d pool %s matches %llu\n", i + 1, c->pools[c->rules[i].pool].name,
		       (unsigned long long)t->matches[i]);
}

static void report(struct bal_balancer *b)
{
	const struct bal_config *c = bal_balancer_config(b);
	struct bal_totals t;
	struct json *j;

	if (bal_balancer_totals(b, &t)) {
		cli_error("%s", tf_strerror());
		return;
	}
	j = cli_json_open();
	if (j) {
		report_json(j, c, &t);
		cli_json_close(j);
		bal_totals_free(&t);
		return;
	}
	report_text(stdout, c, &t);
	fflush(stdout);
	bal_totals_free(&t);
}

/* ---- the status socket: each connection asks "json\n" or "text\n", gets the counters so, and the close ---- */

static int status_listen(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(a.sun_path))
		return cli_error("balance: --status-socket %s: longer than %zu bytes", path, sizeof(a.sun_path) - 1),
		       -1;
	strcpy(a.sun_path, path);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);	/* a stale one (a live balancer on it: its own status is lost) */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || chmod(path, 0600) || listen(fd, 16)) {
		cli_error("balance: --status-socket %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void on_status(void *ctx, int fd, uint32_t events)
{
	struct timeval tv = { .tv_sec = 1 };
	struct bal_balancer *b = ctx;
	struct bal_totals t;
	struct json *j;
	char req[8];
	bool text;
	FILE *f;
	int c;

	(void)events;
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	if (bal_balancer_totals(b, &t)) {
		cli_warn("balance status: %s", tf_strerror());
		close(c);
		return;
	}
	/* A reader that does not read (or ask) holds the control loop up a second at most (never the loops). */
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	text = read(c, req, sizeof(req)) >= 5 && !memcmp(req, "text\n", 5);	/* else "json\n" */
	f = fdopen(c, "w");
	if (!f) {
		close(c);
		bal_totals_free(&t);
		return;
	}
	j = text ? NULL : json_new(f, g.pretty);
	if (text)
		report_text(f, bal_balancer_config(b), &t);
	else if (j) {
		report_json(j, bal_balancer_config(b), &t);
		json_destroy(j);
	}
	fclose(f);
	bal_totals_free(&t);
}

/* tcpferry balance status: the running balancer's counters (lines of words, or JSON with -j). */
static int balance_status(int argc, char **argv, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char buf[4096];
	ssize_t n;
	int fd;

	bool json = g.json;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--status-socket") && i + 1 < argc)
			path = argv[++i];
		else if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json"))
			json = true;
		else
			return cli_error("balance status: unexpected argument '%s'", argv[i]), EXIT_USAGE;
	}
	if (strlen(path) >= sizeof(a.sun_path))
		return cli_error("balance status: %s: too long a path", path), EXIT_USAGE;
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		return cli_error("balance status: %s: %s (is tcpferry balance running, with this --status-socket?)",
				 path, strerror(errno));
	if (write(fd, json ? "json\n" : "text\n", 5) != 5) {
		close(fd);
		return cli_error("balance status: %s: %s", path, strerror(errno));
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, n, stdout);
	close(fd);
	return n < 0 ? cli_error("balance status: %s: %s", path, strerror(errno)) : 0;
}

int cmd_balance(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "rule", required_argument, NULL, 'r' },
		{ "listen", required_argument, NULL, 'l' },
		{ "max-header", required_argument, NULL, 'H' },
		{ "request-timeout-ms", required_argument, NULL, 'R' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "lock-ttl", required_argument, NULL, 'L' },
		{ "no-nudge", no_argument, NULL, 'N' },
		{ "status-socket", required_argument, NULL, 'S' },
		{ "threads", required_argument, NULL, 't' },
		{ "caps", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct bal_balancer_opts bo = { .service = { .bpffs = g.bpffs } };
	struct bal_service_opts *so = &bo.service;
	static char cfg_listens[RULES_MAX][BAL_LISTEN_MAX];
	uint64_t keep_caps = DEFAULT_CAPS;
	char caps[256];
	const char *config = NULL, *status_path = STATUS_SOCKET, *rules[RULES_MAX], *listens[RULES_MAX];
	int n_rules = 0, n_listens = 0, status_fd = -1, c, err;
	struct sigaction sa = { .sa_handler = on_stop };
	struct config_src src;
	struct bal_config cfg;
	struct bal_balancer *b;
	long v;

	if (cli_wants_help(argc, argv, usage))
		return 0;
	if (argc > 1 && !strcmp(argv[1], "status"))
		return balance_status(argc - 1, argv + 1, STATUS_SOCKET);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'r':
			if (n_rules == RULES_MAX)
				return cli_error("balance: more than %d --rule lines; put them in --config", RULES_MAX),
				       EXIT_USAGE;
			rules[n_rules++] = optarg;
			break;
		case 'l':
			if (n_listens == RULES_MAX)
				return cli_error("balance: more than %d --listen", RULES_MAX), EXIT_USAGE;
			listens[n_listens++] = optarg;
			break;
		case 'H':
			if (cli_parse_long(optarg, "--max-header", 256, 1L << 20, &v))
				return EXIT_USAGE;
			so->reader.max_header = v;
			break;
		case 'R':
			if (cli_parse_long(optarg, "--request-timeout-ms", 1, 1L << 30, &v))
				return EXIT_USAGE;
			so->reader.timeout_ms = v;
			break;
		case 'T':
			if (cli_parse_long(optarg, "--timeout-ms", 1, 1L << 30, &v))
				return EXIT_USAGE;
			so->handoff_timeout_ms = v;
			break;
		case 'L':
			if (cli_parse_long(optarg, "--lock-ttl", 1, 86400, &v))
				return EXIT_USAGE;
			so->lock_ttl_s = v;
			break;
		case 'N': so->no_nudge = true; break;
		case 'S': status_path = optarg; break;
		case 't':
			if (cli_parse_long(optarg, "--threads", 1, BAL_THREADS_MAX, &v))
				return EXIT_USAGE;
			bo.threads = v;
			break;
		case 'C':
			if (cli_caps_parse(optarg, &keep_caps))
				return EXIT_USAGE;
			break;
		default:
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cli_error("balance: unexpected argument '%s'", argv[optind]), EXIT_USAGE;
	if (!config && !n_rules)
		return cli_error("balance: no backends or rules; give --config FILE or --rule lines (see "
				 "tcpferry balance --help)"), EXIT_USAGE;
	src = (struct config_src){ .file = config, .rules = rules, .n_rules = n_rules };
	if (load_config(&src, &cfg))
		return cli_error("balance: %s", tf_strerror()), EXIT_USAGE;
	/* The config's listen lines (copied: the balancer takes the config), then the --listen flags. */
	for (int i = 0; i < cfg.n_listens && n_listens < RULES_MAX; i++) {
		memmove(listens + i + 1, listens + i, (n_listens - i) * sizeof(*listens));
		snprintf(cfg_listens[i], sizeof(cfg_listens[i]), "%s", cfg.listens[i]);
		listens[i] = cfg_listens[i];
		n_listens++;
	}
	if (!n_listens) {
		bal_config_free(&cfg);
		return cli_error("balance: no listener; give --listen ADDR:PORT (or a listen line in the config)"),
		       EXIT_USAGE;
	}
	if (cli_need_cap(CAP_NET_ADMIN, "balance") || cli_need_cap(CAP_BPF, "balance")) {
		bal_config_free(&cfg);
		return 1;
	}
	cli_raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	err = bal_balancer_new(&cfg, &bo, &b);
	signal(SIGHUP, SIG_IGN);	/* until the loop can reload (after the channels' fork: they keep the default) */
	if (err)
		return cli_error("%s", tf_strerror());
	for (int i = 0; i < n_listens; i++) {
		err = bal_balancer_listen(b, listens[i]);
		if (err) {
			bal_balancer_free(b);
			return cli_error("%s", tf_strerror());
		}
	}
	status_fd = status_listen(status_path);
	err = status_fd < 0 ? -EINVAL : bal_balancer_watch(b, status_fd, on_status, b);
	if (err) {
		if (status_fd >= 0) {
			cli_lib_error(err, "balance: --status-socket %s", status_path);
			close(status_fd);
			unlink(status_path);
		}
		bal_balancer_free(b);
		return 1;
	}
	src.b = b;
	if (pipe2(hup_pipe, O_CLOEXEC | O_NONBLOCK) || bal_balancer_watch(b, hup_pipe[0], reload, &src)) {
		cli_error("balance: SIGHUP's pipe: %s", strerror(errno));
		close(status_fd);
		unlink(status_path);
		bal_balancer_free(b);
		return 1;
	}
	/* Listening, channels open, no loop's thread yet (capabilities are a
	 * thread's): from here on it parses what clients send. */
	if (cli_caps_limit(keep_caps, "balance")) {
		close(status_fd);
		unlink(status_path);
		bal_balancer_free(b);
		return 1;
	}
	cli_caps_names(keep_caps, caps, sizeof(caps));
	cli_info("balance: keeps %s of its capabilities%s", caps,
		 keep_caps == UINT64_MAX ? "" : " (the rest dropped; no_new_privs)");
	running = b;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_hup;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
	/* Every loop listens: the kernel queues their clients until each loop's thread runs. */
	printf("ready\n");
	fflush(stdout);
	if (cli_sd_notify("READY=1"))
		cli_warn("balance: NOTIFY_SOCKET %s: %s (systemd is not told it is ready)", getenv("NOTIFY_SOCKET"),
			 strerror(errno));
	/* Until SIGTERM; then the hand-offs under way end first, so their counts are in the report. */
	err = bal_balancer_run(b);
	cli_sd_notify("STOPPING=1");
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_IGN);
	running = NULL;
	if (err)
		cli_error("%s", tf_strerror());
	report(b);
	bal_balancer_free(b);
	close(status_fd);
	unlink(status_path);
	close(hup_pipe[0]);
	close(hup_pipe[1]);
	return err ? 1 : 0;
}
