// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry tswatch DEV... [filters] [--duration SEC]: follow the TCP tsvals of
 * every matching connection in both directions through the recorder's ring
 * buffer and report each regression (a tsval before the largest one seen so
 * far in its direction, serial arithmetic) and each jump (more than --max-jump
 * after that largest one).  Exit status 3 when a
 * regression was seen, 4 when none was seen but events were lost (the ring
 * buffer was full) or the recorder gave up raising a maximum: a test suite runs it across a migration and asks it
 * whether the peer ever saw time go backwards, and must not take "none seen"
 * for "none" when it could not see everything.
 *
 * tcpferry tswatch --attach DEV... / --detach DEV...: leave the recorder
 * attached (always-on recording, so that a later dump finds the wire tsval)
 * or remove it.  tcpferry tswatch --list: what the recorder holds.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cli.h"
#include "lock.h"
#include "tsval.h"
#include "tswatch_event.h"

#define EXIT_REGRESSION 3
#define EXIT_LOST 4
#define MAX_DEVS 16

static const char usage[] =
	"Usage: tcpferry tswatch DEV... [--local ADDR:PORT] [--peer ADDR:PORT]\n"
	"                        [--duration SEC] [--max-jump N] [--slack N] [--quiet]\n"
	"       tcpferry tswatch --attach DEV... [--max-tsvals N]\n"
	"       tcpferry tswatch --detach DEV...\n"
	"       tcpferry tswatch --list [--local ADDR:PORT] [--peer ADDR:PORT]\n"
	"\n"
	"Follow the TCP timestamps (tsval) of every connection through DEV, both\n"
	"directions, until --duration passes or SIGINT/SIGTERM, and report:\n"
	"  first       the first tsval of a connection and direction (a SYN or SYN-ACK\n"
	"              starts a new connection on its tuple: no regression)\n"
	"  REGRESSION  a tsval before the largest one seen so far in its direction\n"
	"              (mod 2^32; by more than --slack): the peer's PAWS check drops\n"
	"              such segments; the line shows that largest one\n"
	"  jump        a tsval more than --max-jump after the largest one seen so far\n"
	"              in its direction\n"
	"Each line names the connection as LOCAL -> PEER (out: sent from this host)\n"
	"or LOCAL <- PEER (in: sent by the peer), with both tsvals.  At the end, each\n"
	"watched connection with its largest tsval each way, and how many events were\n"
	"lost because the ring buffer was full (tswatch fell behind) and how many\n"
	"raises of a maximum the recorder gave up under contention (so it stays low).\n"
	"\n"
	"Exit status:\n"
	"  0  no regression, and nothing lost\n"
	"  3  a regression was seen\n"
	"  4  no regression was seen, but events were lost or raises given up: the\n"
	"     answer is unknown\n"
	"  1  an error; 2  bad usage\n"
	"\n"
	"The recorder (tc egress and ingress) is attached to each DEV if it is not\n"
	"there already, and removed at exit if this command attached it.  It is the\n"
	"same recorder whose largest outgoing tsval dump stores in the image.\n"
	"On another host of a lab (a network namespace), with that host's pins:\n"
	"  tcpferry -n NETNS --bpffs DIR tswatch DEV...   or\n"
	"  tools/lab.sh exec peer tcpferry tswatch eth0\n"
	"\n"
	"  --local ADDR:PORT  only connections with this end on this host (port 0: any)\n"
	"  --peer ADDR:PORT   only connections with this remote end (port 0: any)\n"
	"  --duration SEC     stop after SEC seconds (default: until interrupted)\n"
	"  --max-jump N       report a tsval more than N after the largest earlier one\n"
	"                     (tsval units: ms, or us on usec-timestamp routes;\n"
	"                     default 0 = never)\n"
	"  --slack N          a tsval at most N before the largest earlier one is\n"
	"                     reordering, not a regression (default 0)\n"
	"  --quiet            no 'first' lines\n"
	"  --attach DEV...    attach the recorder and leave it (always-on recording for\n"
	"                     dump), then exit\n"
	"  --max-tsvals N     size of the LRU map when this creates it (default 65536)\n"
	"  --detach DEV...    remove the recorder from DEV\n"
	"  --list             the recorded connections: largest tsval each way\n"
	"  -j, -p             JSON output (one document at exit)\n"
	"\n"
	"Needs CAP_BPF and CAP_NET_ADMIN.\n";

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* An endpoint as the tuple keys have it: v4-mapped becomes IPv4. */
static int parse_filter_endpoint(const char *s, const char *opt, struct tf_endpoint *e)
{
	struct tf_tuple k;
	struct tf_endpoint other;

	if (tf_endpoint_parse(s, e))
		return cli_error("tswatch %s '%s': %s", opt, s, tf_strerror());
	other = *e;
	if (tf_tuple_make(e, &other, &k) == 0)
		tf_tuple_endpoints(&k, e, &other);
	return 0;
}

static int skip_event(void *ctx, void *data, size_t len)
{
	(void)ctx, (void)data, (void)len;
	return 0;
}

/* Every recorded connection that matches f: text lines or JSON array items. */
static int list_records(const struct tswatch_filter *f, struct json *j)
{
	struct tf_tuple k, next, *prev = NULL;
	char l[TF_ADDRSTRLEN], p[TF_ADDRSTRLEN];
	int fd = tf_tsval_map_open(g.bpffs, TF_PIN_TSVALS), n = 0;

	if (fd < 0)
		return 0;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct tf_tsval v;

		k = next;
		prev = &k;
		if (tf_tsval_get(fd, &k, &v) || !tswatch_tuple_match(f, &k))
			continue;
		n++;
		tswatch_tuple_strs(&k, l, p);
		if (j) {
			json_object_start(j);
			json_string_field(j, "local", l);
			json_string_field(j, "peer", p);
			json_name(j, "out_max");
			v.out_max.seen ? json_uint(j, v.out_max.tsval) : json_null(j);
			json_name(j, "in_max");
			v.in_max.seen ? json_uint(j, v.in_max.tsval) : json_null(j);
			json_uint_field(j, "out_packets", v.out_packets);
			json_uint_field(j, "in_packets", v.in_packets);
			json_object_end(j);
		} else {
			printf("%s <-> %s  out max ", l, p);
			v.out_max.seen ? printf("%u", v.out_max.tsval) : printf("-");
			printf(" (%llu pkts)  in max ", (unsigned long long)v.out_packets);
			v.in_max.seen ? printf("%u", v.in_max.tsval) : printf("-");
			printf(" (%llu pkts)\n", (unsigned long long)v.in_packets);
		}
	}
	close(fd);
	return n;
}

/* Count ourselves in (delta 1) or out (-1) of the recorder's watchers. */
static int set_watching(int delta, uint32_t max_jump, uint32_t slack)
{
	int fd = tf_tsval_map_open(g.bpffs, TF_PIN_TSVAL_CFG);
	struct tf_tsval_cfg cfg = {};
	uint32_t zero = 0;
	int err = 0;

	if (fd < 0)
		return fd;
	bpf_map_lookup_elem(fd, &zero, &cfg);
	if (delta > 0) {
		cfg.watchers++;
		cfg.max_jump = max_jump;
		cfg.slack = slack;
	} else if (cfg.watchers) {
		cfg.watchers--;
	}
	if (bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY))
		err = -errno;
	close(fd);
	return err;
}

static int parse_u32(const char *s, const char *what, uint32_t *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v > UINT32_MAX)
		return cli_error("tswatch %s: '%s' is not a number from 0 to %u", what, s, UINT32_MAX);
	*out = v;
	return 0;
}

int cmd_tswatch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "local", required_argument, NULL, 'l' },
		{ "peer", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "max-jump", required_argument, NULL, 'J' },
		{ "slack", required_argument, NULL, 'S' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "attach", no_argument, NULL, 'A' },
		{ "detach", no_argument, NULL, 'D' },
		{ "list", no_argument, NULL, 'L' },
		{ "max-tsvals", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct tswatch w = { .out = stdout };
	struct tf_tsval_attach_info info[MAX_DEVS] = {};
	bool attach_only = false, detach_only = false, list_only = false, created_maps = false;
	uint32_t max_jump = 0, slack = 0, max_tsvals = 0;
	double duration = 0;
	struct ring_buffer *rb = NULL;
	const char *devs[MAX_DEVS];
	int n_devs = 0, n_attached = 0, c, err, ret = 1, ev_fd = -1, stats_fd = -1;
	struct tf_tsval_stats stats0, stats1;
	uint64_t lost, giveups;
	struct timespec t0, now;
	char *end;

	if (cli_wants_help(argc, argv, usage))
		return 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (parse_filter_endpoint(optarg, "--local", &w.f.local))
				return EXIT_USAGE;
			w.f.has_local = true;
			break;
		case 'r':
			if (parse_filter_endpoint(optarg, "--peer", &w.f.peer))
				return EXIT_USAGE;
			w.f.has_peer = true;
			break;
		case 'd':
			duration = strtod(optarg, &end);
			if (!*optarg || *end || !(duration > 0))
				return cli_error("tswatch --duration '%s': expected seconds > 0", optarg), EXIT_USAGE;
			break;
		case 'J':
			if (parse_u32(optarg, "--max-jump", &max_jump))
				return EXIT_USAGE;
			break;
		case 'S':
			if (parse_u32(optarg, "--slack", &slack))
				return EXIT_USAGE;
			break;
		case 'm':
			if (parse_u32(optarg, "--max-tsvals", &max_tsvals))
				return EXIT_USAGE;
			break;
		case 'q': w.quiet = true; break;
		case 'A': attach_only = true; break;
		case 'D': detach_only = true; break;
		case 'L': list_only = true; break;
		default:
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	for (; optind < argc; optind++) {
		if (n_devs == MAX_DEVS)
			return cli_error("tswatch: at most %d devices", MAX_DEVS), EXIT_USAGE;
		devs[n_devs++] = argv[optind];
	}
	if (attach_only + detach_only + list_only > 1)
		return cli_error("tswatch: --attach, --detach and --list exclude each other"), EXIT_USAGE;
	if (!list_only && !n_devs)
		return cli_error("tswatch: name a device (e.g. tcpferry tswatch eth0); see tcpferry tswatch --help"),
		       EXIT_USAGE;
	if (cli_need_cap(CAP_NET_ADMIN, "tswatch"))
		return 1;

	if (list_only) {
		struct json *j = cli_json_open();
		int n;

		if (j) {
			json_object_start(j);
			json_name(j, "connections");
			json_array_start(j);
		}
		n = list_records(&w.f, j);
		if (j) {
			json_array_end(j);
			json_object_end(j);
			cli_json_close(j);
		} else if (!n) {
			printf("no recorded connection%s\n", w.f.has_local || w.f.has_peer ? " matches" : "");
		}
		return 0;
	}
	if (detach_only) {
		for (int i = 0; i < n_devs; i++) {
			err = tf_tsval_detach(g.bpffs, devs[i]);
			if (err < 0)
				return cli_lib_error(err, "tswatch --detach %s", devs[i]);
			if (!err)
				cli_info("tswatch: %s: no recorder was attached", devs[i]);
		}
		return 0;
	}

	for (int i = 0; i < n_devs; i++) {
		err = tf_tsval_attach(g.bpffs, devs[i], max_tsvals, &info[i]);
		if (err) {
			cli_lib_error(err, "tswatch %s", devs[i]);
			goto out;
		}
		n_attached = i + 1;
		created_maps |= info[i].created_maps;
	}
	if (attach_only) {
		for (int i = 0; i < n_devs; i++)
			cli_info("tswatch: recorder on %s%s%s", devs[i],
				 info[i].created_out || info[i].created_in ? " attached" : " already attached",
				 /* only known of a recorder loaded now */
				 !(info[i].created_out || info[i].created_in) || info[i].checks_locks
					 ? "" : " (no lock table here: locked packets are recorded too)");
		n_attached = 0;	/* it stays */
		ret = 0;
		goto out;
	}

	ev_fd = tf_tsval_map_open(g.bpffs, TF_PIN_TSVAL_EVENTS);
	if (ev_fd < 0) {
		cli_error("tswatch: %s/%s: %s; remove the recorder (tcpferry tswatch --detach DEV) and retry",
			  g.bpffs, TF_PIN_TSVAL_EVENTS, strerror(-ev_fd));
		goto out;
	}
	/*
	 * Empty the ring of what a killed tswatch left, so that it does not
	 * crowd out our events; tswatch_on_event skips anything older that is still
	 * there, and the loss counters are taken after: nor are earlier losses ours.
	 */
	rb = ring_buffer__new(ev_fd, skip_event, NULL, NULL);
	if (rb)
		ring_buffer__consume(rb);
	ring_buffer__free(rb);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	w.start_ns = (uint64_t)t0.tv_sec * 1000000000 + t0.tv_nsec;
	rb = ring_buffer__new(ev_fd, tswatch_on_event, &w, NULL);
	if (!rb) {
		cli_error("tswatch: ring buffer %s/%s: %s", g.bpffs, TF_PIN_TSVAL_EVENTS, strerror(errno));
		goto out;
	}
	stats_fd = tf_tsval_map_open(g.bpffs, TF_PIN_TSVAL_STATS);
	if (stats_fd < 0 || (err = tf_tsval_stats_sum(stats_fd, &stats0))) {
		cli_error("tswatch: %s/%s: %s; remove the recorder (tcpferry tswatch --detach DEV) and retry",
			  g.bpffs, TF_PIN_TSVAL_STATS, strerror(stats_fd < 0 ? -stats_fd : -err));
		goto out;
	}
	err = set_watching(1, max_jump, slack);
	if (err) {
		cli_error("tswatch: %s/%s: %s", g.bpffs, TF_PIN_TSVAL_CFG, strerror(-err));
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	w.j = cli_json_open();
	if (w.j) {
		json_object_start(w.j);
		json_name(w.j, "events");
		json_array_start(w.j);
	}
	/* On stderr also with -j: scripts wait for this line before they start traffic. */
	fprintf(stderr, "tswatch: watching %d device(s); stop with SIGINT\n", n_devs);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop) {
		err = ring_buffer__poll(rb, 100);
		if (err < 0 && err != -EINTR) {
			cli_error("tswatch: ring buffer: %s", strerror(-err));
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (duration > 0 && (now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 >= duration)
			break;
	}
	/* No new events from here on; then read what is still in the ring. */
	set_watching(-1, 0, 0);
	ring_buffer__consume(rb);
	if ((err = tf_tsval_stats_sum(stats_fd, &stats1))) {
		cli_error("tswatch: %s/%s: %s", g.bpffs, TF_PIN_TSVAL_STATS, strerror(-err));
		goto out;
	}
	/* Another tswatch's losses count too: the lost events may be ours. */
	lost = stats1.events_lost - stats0.events_lost;
	giveups = stats1.max_giveups - stats0.max_giveups;

	if (w.j) {
		json_array_end(w.j);
		json_name(w.j, "connections");
		json_array_start(w.j);
		list_records(&w.f, w.j);
		json_array_end(w.j);
		json_uint_field(w.j, "regressions", w.regressions);
		json_uint_field(w.j, "jumps", w.jumps);
		json_uint_field(w.j, "events_lost", lost);
		json_uint_field(w.j, "max_giveups", giveups);
		json_object_end(w.j);
		cli_json_close(w.j);
	} else {
		printf("-- connections --\n");
		list_records(&w.f, NULL);
		printf("tswatch: %lu regression(s), %lu jump(s), %llu events lost, %llu raises given up\n",
		       w.regressions, w.jumps, (unsigned long long)lost, (unsigned long long)giveups);
	}
	if (lost && !w.regressions)
		cli_warn("tswatch: %llu events lost (the ring buffer %s/%s was full): a regression may have "
			 "gone unseen; rerun with fewer connections through the device or a larger --max-jump",
			 (unsigned long long)lost, g.bpffs, TF_PIN_TSVAL_EVENTS);
	if (giveups && !w.regressions)
		cli_warn("tswatch: %llu raises of a maximum tsval given up under contention (see %s/%s): a "
			 "regression may have gone unseen", (unsigned long long)giveups, g.bpffs, TF_PIN_TSVAL_STATS);
	ret = w.regressions ? EXIT_REGRESSION : lost || giveups ? EXIT_LOST : 0;
out:
	ring_buffer__free(rb);
	if (ev_fd >= 0)
		close(ev_fd);
	if (stats_fd >= 0)
		close(stats_fd);
	/* Leave the host as we found it: remove only what we attached. */
	for (int i = 0; i < n_attached; i++)
		if (info[i].created_out || info[i].created_in)
			tf_tsval_detach(g.bpffs, devs[i]);
	if (created_maps && !attach_only)
		tf_tsval_unpin_maps(g.bpffs);
	return ret;
}
