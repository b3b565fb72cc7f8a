// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry lock add|del LOCAL PEER, lock add|del --file F, lock list|flush|gc:
 * the lock table by hand.  LOCAL is the end on this host (the socket's),
 * PEER the remote end: "10.0.0.1:80 10.0.0.2:4567", "[fd00::1]:80 [fd00::2]:4567".
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>

#include "attach.h"
#include "cli.h"
#include "lock.h"
#include "lock_file.h"
#include "tuple_args.h"

static const char lock_usage[] =
	"Usage: tcpferry lock add LOCAL PEER [--ttl SEC] [--reason manual|dump|restore|handoff] [--max-locks N]\n"
	"       tcpferry lock add --file FILE|- [--ttl SEC] [--reason R]\n"
	"       tcpferry lock del LOCAL PEER\n"
	"       tcpferry lock del --file FILE|-\n"
	"       tcpferry lock list\n"
	"       tcpferry lock flush\n"
	"       tcpferry lock gc\n\n"
	"Lock a TCP connection: the lock programs drop its packets in both directions\n"
	"(attach them first: tcpferry attach DEV).  LOCAL is this host's end, PEER the\n"
	"remote end, as ADDR:PORT or [IPv6]:PORT.\n\n"
	"  add            lock (fails if the tuple is locked already)\n"
	"  del            unlock (fails if it is not locked)\n"
	"  list           every lock, with age, expiry and dropped packets/bytes per direction\n"
	"  flush          remove every lock\n"
	"  gc             remove the locks whose expiry has passed\n"
	"  --file F       one \"LOCAL PEER\" pair per line (- for stdin; # comments), in bulk;\n"
	"                 lines of at most 4096 bytes, as many tuples as the table holds\n"
	"  --ttl SEC      expire after SEC seconds (an expired lock drops nothing; gc removes it);\n"
	"                 0, as without --ttl, never expires (as --lock-ttl 0 of dump and restore)\n"
	"  --reason R     recorded with the lock (default manual)\n"
	"  --max-locks N  table size if this creates the table (default 65536)\n"
	"  -j, -p         JSON output\n";

struct lock_args {
	const char *file;
	uint64_t ttl_ns;
	enum tf_lock_reason reason;
	uint32_t max_locks;
	int first;		/* index of the first positional argument after the verb */
};

static int parse_args(int argc, char **argv, struct lock_args *a)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "ttl", required_argument, NULL, 't' },
		{ "reason", required_argument, NULL, 'r' },
		{ "max-locks", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	double ttl;
	unsigned long m;
	int c;

	memset(a, 0, sizeof(*a));
	optind = 2;	/* argv[0] "lock", argv[1] the verb */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			a->file = optarg;
			break;
		case 't':
			ttl = strtod(optarg, &end);
			if (!*optarg || *end || !(ttl >= 0) || ttl > 1e9) {
				cli_error("lock: --ttl '%s': expected seconds, 0 for a lock that never expires", optarg);
				return -1;
			}
			a->ttl_ns = (uint64_t)(ttl * 1e9 + 0.5);
			break;
		case 'r':
			if (tf_lock_reason_parse(optarg, &a->reason)) {
				cli_error("lock: %s", tf_strerror());
				return -1;
			}
			break;
		case 'm':
			m = strtoul(optarg, &end, 10);
			if (!*optarg || *end || m == 0 || m > (1ul << 30)) {
				cli_error("lock: --max-locks '%s': expected a number from 1 to %lu", optarg, 1ul << 30);
				return -1;
			}
			a->max_locks = m;
			break;
		default:
			return -1;
		}
	}
	a->first = optind;
	return 0;
}

/* ---- verbs --------------------------------------------------------------------------------- */

/*
 * A lock is only a map entry: it drops packets where a lock program reading
 * this table runs.  Say so when no device of this network namespace has one.
 */
static void warn_if_nothing_attached(struct tf_locktab *t)
{
	struct tf_attach_info *d = NULL;
	size_t n = 0;
	bool live = false;

	if (tf_attach_list(g.bpffs, &d, &n))
		return;
	for (size_t i = 0; i < n && !live; i++)
		for (int h = 0; h < TF_HOOK__COUNT; h++)
			if (d[i].ifindex && d[i].hook[h].attached && d[i].hook[h].alive &&
			    d[i].hook[h].map_id == tf_locktab_map_id(t))
				live = true;
	free(d);
	if (!live)
		cli_warn("no device in this network namespace has the lock programs attached: "
			 "the lock drops nothing until `tcpferry attach DEV`");
}

static int print_result(const char *verb, size_t done, size_t n, const char *why_not, size_t not)
{
	struct json *j = cli_json_open();

	if (j) {
		json_object_start(j);
		json_uint_field(j, verb, done);
		json_uint_field(j, why_not, not);
		json_uint_field(j, "total", n);
		json_object_end(j);
		cli_json_close(j);
	} else {
		printf("%s %zu of %zu", verb, done, n);
		if (not)
			printf(" (%zu %s)", not, why_not);
		printf("\n");
	}
	return not ? 1 : 0;
}

/*
 * The tuples of --file F (- for stdin).  No more than the table can hold
 * (and at least the default table's worth, so that a list too long for a
 * small table still meets "table full"): bounded memory, whatever F is.
 */
static int read_tuples(struct tf_locktab *t, bool add, const char *file, struct tf_tuple **k, size_t *n)
{
	size_t max = tf_locktab_capacity(t) > TF_DEFAULT_MAX_LOCKS ? tf_locktab_capacity(t) : TF_DEFAULT_MAX_LOCKS;
	FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
	int err;

	if (!f)
		return cli_error("lock %s --file %s: %s", add ? "add" : "del", file, strerror(errno));
	err = lock_file_read(f, max, k, n);
	if (f != stdin)
		fclose(f);
	if (err) {
		cli_error("lock %s --file %s: %s", add ? "add" : "del", file, tf_strerror());
		return EXIT_USAGE;
	}
	return 0;
}

static int bulk(struct tf_locktab *t, bool add, const struct lock_args *a)
{
	struct tf_tuple *k = NULL;
	size_t n = 0, bad = 0;
	int *res, r;
	char s[TF_TUPLESTRLEN];

	r = read_tuples(t, add, a->file, &k, &n);
	if (r)
		return r;
	res = calloc(n + 1, sizeof(*res));
	if (!res) {
		free(k);
		return cli_error("lock: no memory");
	}
	r = add ? tf_lock_add_bulk(t, k, n, a->reason, a->ttl_ns, res) : tf_lock_del_bulk(t, k, n, res);
	if (r < 0) {
		free(k);
		free(res);
		return cli_error("%s", tf_strerror());
	}
	for (size_t i = 0; i < n; i++) {
		if (!res[i])
			continue;
		bad++;
		if (bad <= 10 && !g.json)
			fprintf(stderr, "tcpferry: %s %s: %s\n", add ? "lock" : "unlock",
				tf_tuple_str(&k[i], s, sizeof(s)), add ? "already locked" : "not locked");
	}
	if (bad > 10 && !g.json)
		fprintf(stderr, "tcpferry: ... and %zu more\n", bad - 10);
	free(k);
	free(res);
	return print_result(add ? "locked" : "unlocked", r, n, add ? "already_locked" : "not_locked", bad);
}

static int one(struct tf_locktab *t, bool add, int argc, char **argv, const struct lock_args *a)
{
	struct tf_tuple k;
	char s[TF_TUPLESTRLEN];
	int err;

	if ((err = cli_tuple_args(argc, argv, a->first, lock_usage, NULL, &k)))
		return err;
	err = add ? tf_lock_add(t, &k, a->reason, a->ttl_ns) : tf_lock_del(t, &k);
	if (err) {
		cli_error("%s", tf_strerror());
		return 1;
	}
	cli_report_done(add ? "locked" : "unlocked", tf_tuple_str(&k, s, sizeof(s)));
	return 0;
}

static int list(struct tf_locktab *t)
{
	struct tf_lock_entry *e = NULL;
	uint64_t now = tf_mono_ns();
	size_t n = 0;
	struct json *j;
	int err;

	if (t && (err = tf_lock_list(t, &e, &n)))
		return cli_lib_error(err, "lock list");
	j = cli_json_open();
	if (j) {
		json_object_start(j);
		json_uint_field(j, "max_locks", t ? tf_locktab_capacity(t) : 0);
		json_name(j, "locks");
		json_array_start(j);
	} else if (n) {
		printf("%-24s %-24s %-8s %8s %-14s %8s %10s %8s %10s %7s\n", "LOCAL", "PEER", "REASON", "AGE",
		       "EXPIRES", "IN-PKTS", "IN-BYTES", "OUT-PKTS", "OUT-BYTES", "PID");
	}
	for (size_t i = 0; i < n; i++) {
		const struct tf_lock *v = &e[i].val;
		char l[TF_ADDRSTRLEN], p[TF_ADDRSTRLEN], age[32], exp[40];
		struct tf_endpoint le, pe;
		bool expired = v->expires_ns && now > v->expires_ns;

		tf_tuple_endpoints(&e[i].key, &le, &pe);
		tf_endpoint_str(&le, l, sizeof(l));
		tf_endpoint_str(&pe, p, sizeof(p));
		if (j) {
			json_object_start(j);
			json_string_field(j, "local", l);
			json_string_field(j, "peer", p);
			json_string_field(j, "reason", tf_lock_reason_name(v->reason));
			json_uint_field(j, "since_ns", v->since_ns);
			json_uint_field(j, "age_ms", now > v->since_ns ? (now - v->since_ns) / 1000000 : 0);
			json_uint_field(j, "expires_ns", v->expires_ns);
			if (v->expires_ns)
				json_int_field(j, "expires_in_ms", ((int64_t)v->expires_ns - (int64_t)now) / 1000000);
			json_bool_field(j, "expired", expired);
			json_uint_field(j, "in_packets", v->in_packets);
			json_uint_field(j, "in_bytes", v->in_bytes);
			json_uint_field(j, "out_packets", v->out_packets);
			json_uint_field(j, "out_bytes", v->out_bytes);
			json_uint_field(j, "owner_pid", v->owner_pid);
			json_object_end(j);
			continue;
		}
		cli_fmt_secs(age, sizeof(age), now > v->since_ns ? now - v->since_ns : 0);
		if (!v->expires_ns)
			snprintf(exp, sizeof(exp), "-");
		else if (expired)
			snprintf(exp, sizeof(exp), "expired");
		else {
			char in[32];

			cli_fmt_secs(in, sizeof(in), v->expires_ns - now);
			snprintf(exp, sizeof(exp), "in %s", in);
		}
		printf("%-24s %-24s %-8s %8s %-14s %8llu %10llu %8llu %10llu %7u\n", l, p,
		       tf_lock_reason_name(v->reason), age, exp, (unsigned long long)v->in_packets,
		       (unsigned long long)v->in_bytes, (unsigned long long)v->out_packets,
		       (unsigned long long)v->out_bytes, v->owner_pid);
	}
	if (j) {
		json_array_end(j);
		json_object_end(j);
		cli_json_close(j);
	} else if (!n) {
		printf("no locks\n");
	}
	free(e);
	return 0;
}

int cmd_lock(int argc, char **argv)
{
	struct tf_locktab *t = NULL;
	struct lock_args a;
	const char *verb;
	bool add, del;
	int err, ret;

	if (cli_wants_help(argc, argv, lock_usage))
		return 0;
	if (argc < 2) {
		fputs(lock_usage, stderr);
		return EXIT_USAGE;
	}
	verb = argv[1];
	add = !strcmp(verb, "add");
	del = !strcmp(verb, "del");
	if (!add && !del && strcmp(verb, "list") && strcmp(verb, "flush") && strcmp(verb, "gc")) {
		cli_error("lock: unknown verb '%s'; expected add, del, list, flush or gc", verb);
		return EXIT_USAGE;
	}
	if (parse_args(argc, argv, &a)) {
		fputs(lock_usage, stderr);
		return EXIT_USAGE;
	}
	if (!add && !del && a.first != argc) {
		fputs(lock_usage, stderr);
		return EXIT_USAGE;
	}
	if ((add || del) && a.file && a.first != argc) {
		cli_error("lock %s: either --file or LOCAL PEER, not both", verb);
		return EXIT_USAGE;
	}
	if (cli_need_cap(CAP_BPF, "lock"))
		return 1;
	/* Bad input is refused before the table (or a bpffs) is made. */
	if ((add || del) && !a.file) {
		struct tf_tuple k;

		if ((ret = cli_tuple_args(argc, argv, a.first, lock_usage, NULL, &k)))
			return ret;
	}

	err = tf_locktab_open(g.bpffs, add, a.max_locks, &t);
	if (err == -ENOENT && !strcmp(verb, "list"))
		return list(NULL);
	if (err)
		return cli_lib_error(err, "lock %s", verb);
	if (tf_locktab_mounted(t)[0])
		cli_info("mounted a bpffs on %s for the lock table", tf_locktab_mounted(t));
	if (add && a.max_locks && tf_locktab_capacity(t) != a.max_locks)
		cli_warn("the lock table already exists with %u entries: --max-locks %u ignored "
			 "(to resize: detach every device, remove %s/%s, attach again)",
			 tf_locktab_capacity(t), a.max_locks, g.bpffs, TF_PIN_LOCKS);

	if ((add || del) && a.file) {
		ret = bulk(t, add, &a);
	} else if (add || del) {
		ret = one(t, add, argc, argv, &a);
	} else if (!strcmp(verb, "list")) {
		ret = list(t);
	} else {
		unsigned removed = 0;
		bool gc = !strcmp(verb, "gc");

		err = gc ? tf_lock_gc(t, 0, &removed) : tf_lock_flush(t, &removed);
		if (err) {
			tf_locktab_close(t);
			return cli_lib_error(err, "lock %s", verb);
		}
		cli_report_removed(removed, "lock", gc);
		ret = 0;
	}
	if (add && ret != EXIT_USAGE)
		warn_if_nothing_attached(t);
	tf_locktab_close(t);
	return ret;
}
