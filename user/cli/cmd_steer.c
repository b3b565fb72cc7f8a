// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry steer add|del LOCAL PEER, steer list|gc|flush|config: the steer
 * table by hand (user/lib/steer.h).  LOCAL is this host's end of the
 * client's connection (the VIP), PEER the client, as for `lock add`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>

#include "attach.h"
#include "cli.h"
#include "lock.h"
#include "steer.h"
#include "tuple_args.h"

static const char steer_usage[] =
	"Usage: tcpferry steer add LOCAL PEER --to BACKEND --mode l2|l3 [--dev IFACE] [--mac MAC]\n"
	"                          [--src ADDR] [--idle-timeout SEC] [--max-steers N]\n"
	"       tcpferry steer del LOCAL PEER\n"
	"       tcpferry steer list\n"
	"       tcpferry steer gc\n"
	"       tcpferry steer flush\n"
	"       tcpferry steer config [--idle-timeout SEC] [--fin-linger SEC]\n\n"
	"Steer a TCP connection whose socket now lives on another host (the backend):\n"
	"the ingress programs (tcpferry attach DEV) send the client's packets of it on\n"
	"to the backend, unchanged at L4; the backend answers the client directly.\n"
	"LOCAL is this host's end (the VIP:PORT the client reached), PEER the client's,\n"
	"as ADDR:PORT or [IPv6]:PORT.  A lock on the tuple wins over its steer.\n\n"
	"  add              steer (fails if the tuple is steered already)\n"
	"  del              stop steering (fails if it is not steered)\n"
	"  list             every entry: backend, how, age, idle, packets and bytes steered\n"
	"  gc               remove the entries past their idle timeout or FIN linger\n"
	"  flush            remove every entry\n"
	"  config           print, or set, the table's idle timeout and FIN linger\n"
	"  --to BACKEND     the backend's address (the VIP is on its lo)\n"
	"  --mode l2        rewrite the MACs only: the backend is on this segment and\n"
	"                   does not answer ARP / ND for the VIP (arp_ignore=1, arp_announce=2)\n"
	"  --mode l3        IPIP (IPv4) or IP6IP6 (IPv6) to BACKEND, routed: the backend\n"
	"                   decapsulates (ip link add NAME type ipip external, or ip6tnl)\n"
	"  --dev IFACE      the device to send on (default: the route's to BACKEND)\n"
	"  --mac MAC        the next hop's MAC: the backend's (l2) or the router's (l3);\n"
	"                   default: from the neighbour table, asked for if missing\n"
	"  --src ADDR       l3: the outer source (default: the route's preferred source)\n"
	"  --idle-timeout SEC  this entry's (add) or the table's default (config; 900)\n"
	"  --fin-linger SEC    how long an entry lives after the client's FIN and its last\n"
	"                   packet (config; default 5); the client's RST ends it at once\n"
	"  --max-steers N   table size if this creates the table (default 65536)\n"
	"  -j, -p           JSON output\n";

struct steer_args {
	const char *to, *dev, *mac, *src;
	enum tf_steer_mode mode;
	bool idle_set, linger_set;
	uint64_t idle_ns, linger_ns;
	uint32_t max_steers;
	int first;		/* index of the first positional argument after the verb */
};

static int parse_secs(const char *opt, const char *s, uint64_t *ns)
{
	char *end;
	double v = strtod(s, &end);

	if (!*s || *end || !(v >= 0) || v > 1e9) {
		cli_error("steer: --%s '%s': expected seconds (0: the default)", opt, s);
		return -1;
	}
	*ns = (uint64_t)(v * 1e9 + 0.5);
	return 0;
}

static int parse_args(int argc, char **argv, struct steer_args *a)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "mode", required_argument, NULL, 'M' },
		{ "dev", required_argument, NULL, 'd' },
		{ "mac", required_argument, NULL, 'a' },
		{ "src", required_argument, NULL, 's' },
		{ "idle-timeout", required_argument, NULL, 'i' },
		{ "fin-linger", required_argument, NULL, 'f' },
		{ "max-steers", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	long m;
	int c;

	memset(a, 0, sizeof(*a));
	optind = 2;	/* argv[0] "steer", argv[1] the verb */
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			a->to = optarg;
			break;
		case 'M':
			if (tf_steer_mode_parse(optarg, &a->mode))
				return cli_error("steer: --mode: %s", tf_strerror()), -1;
			break;
		case 'd':
			a->dev = optarg;
			break;
		case 'a':
			a->mac = optarg;
			break;
		case 's':
			a->src = optarg;
			break;
		case 'i':
			a->idle_set = true;
			if (parse_secs("idle-timeout", optarg, &a->idle_ns))
				return -1;
			break;
		case 'f':
			a->linger_set = true;
			if (parse_secs("fin-linger", optarg, &a->linger_ns))
				return -1;
			break;
		case 'm':
			if (cli_parse_long(optarg, "steer: --max-steers", 1, 1l << 30, &m))
				return -1;
			a->max_steers = m;
			break;
		default:
			return -1;
		}
	}
	a->first = optind;
	return 0;
}

/* An address without a port ("10.0.0.2", "fd00::2") as an endpoint. */
static int parse_addr(const char *opt, const char *s, struct tf_endpoint *e)
{
	memset(e, 0, sizeof(*e));
	if (inet_pton(AF_INET, s, e->addr) == 1)
		e->family = AF_INET;
	else if (inet_pton(AF_INET6, s, e->addr) == 1)
		e->family = AF_INET6;
	else
		return cli_error("steer: %s '%s': expected an IPv4 or IPv6 address (no port)", opt, s);
	return 0;
}

/* ---- verbs ----------------------------------------------------------------------------------- */

/* A steer is only a map entry: say so when no device here has a program reading this table. */
static void warn_if_nothing_attached(void)
{
	struct tf_attach_info *d = NULL;
	size_t n = 0;
	bool live = false;

	if (tf_attach_list(g.bpffs, &d, &n))
		return;
	for (size_t i = 0; i < n && !live; i++)
		for (int h = TF_HOOK_XDP; h <= TF_HOOK_TC_IN; h++)
			if (d[i].ifindex && d[i].hook[h].attached && d[i].hook[h].alive && d[i].hook[h].steer_map_id)
				live = true;
	free(d);
	if (!live)
		cli_warn("no device in this network namespace has the ingress programs attached: "
			 "the steer sends nothing on until `tcpferry attach DEV`");
}

static int add(struct tf_steertab *t, const struct tf_tuple *k, const struct steer_args *a)
{
	struct tf_endpoint backend, src;
	char s[TF_TUPLESTRLEN], b[INET6_ADDRSTRLEN], mac[18], dev[IF_NAMESIZE] = "?";
	uint8_t mac_bytes[6];
	struct tf_steer v;
	struct json *j;

	tf_tuple_str(k, s, sizeof(s));
	if (parse_addr("--to", a->to, &backend) || (a->src && parse_addr("--src", a->src, &src)))
		return EXIT_USAGE;
	if (a->mac && tf_mac_parse(a->mac, mac_bytes)) {
		cli_error("steer add %s: --mac: %s", s, tf_strerror());
		return EXIT_USAGE;
	}
	if (tf_steer_resolve(&v, a->mode, &backend, a->dev, a->mac ? mac_bytes : NULL, a->src ? &src : NULL))
		return cli_error("steer add %s: %s", s, tf_strerror());
	v.idle_timeout_ns = a->idle_ns;
	if (tf_steer_add(t, k, &v))
		return cli_error("%s", tf_strerror());
	if_indextoname(v.out_ifindex, dev);
	inet_ntop(v.backend_family, v.backend_addr, b, sizeof(b));
	tf_mac_str(v.next_hop_mac, mac, sizeof(mac));
	j = cli_json_open();
	if (j) {
		json_object_start(j);
		json_string_field(j, "steered", s);
		json_string_field(j, "backend", b);
		json_string_field(j, "mode", tf_steer_mode_name(v.mode));
		json_string_field(j, "dev", dev);
		json_string_field(j, "next_hop_mac", mac);
		json_object_end(j);
		cli_json_close(j);
	} else {
		printf("steered %s to %s (%s, via %s to %s)\n", s, b, tf_steer_mode_name(v.mode), dev, mac);
	}
	return 0;
}

static int list(struct tf_steertab *t)
{
	struct tf_steer_entry *e = NULL;
	struct tf_steer_cfg c = {};
	uint64_t now = tf_mono_ns();
	size_t n = 0;
	struct json *j;
	int err;

	if (t && ((err = tf_steer_list(t, &e, &n)) || (err = tf_steer_cfg_get(t, &c))))
		return cli_lib_error(err, "steer list");
	j = cli_json_open();
	if (j) {
		json_object_start(j);
		json_uint_field(j, "max_steers", t ? tf_steertab_capacity(t) : 0);
		json_name(j, "steers");
		json_array_start(j);
	} else if (n) {
		printf("%-24s %-24s %-4s %-20s %-10s %8s %8s %-10s %9s %11s\n", "LOCAL", "PEER", "MODE", "BACKEND",
		       "DEV", "AGE", "IDLE", "EXPIRES", "PACKETS", "BYTES");
	}
	for (size_t i = 0; i < n; i++) {
		const struct tf_steer *v = &e[i].val;
		char l[TF_ADDRSTRLEN], p[TF_ADDRSTRLEN], b[INET6_ADDRSTRLEN], dev[IF_NAMESIZE] = "?", mac[18];
		char age[32], idle[32], exp[32];
		struct tf_endpoint le, pe;
		uint64_t until = tf_steer_expires_ns(v, &c);
		bool expired = now > until;

		tf_tuple_endpoints(&e[i].key, &le, &pe);
		tf_endpoint_str(&le, l, sizeof(l));
		tf_endpoint_str(&pe, p, sizeof(p));
		inet_ntop(v->backend_family == AF_INET6 ? AF_INET6 : AF_INET, v->backend_addr, b, sizeof(b));
		if_indextoname(v->out_ifindex, dev);
		tf_mac_str(v->next_hop_mac, mac, sizeof(mac));
		if (j) {
			char src[INET6_ADDRSTRLEN];

			json_object_start(j);
			json_string_field(j, "local", l);
			json_string_field(j, "peer", p);
			json_string_field(j, "mode", tf_steer_mode_name(v->mode));
			json_string_field(j, "backend", b);
			if (v->mode == TF_STEER_L3) {
				inet_ntop(v->backend_family == AF_INET6 ? AF_INET6 : AF_INET, v->outer_src, src,
					  sizeof(src));
				json_string_field(j, "outer_src", src);
			}
			json_string_field(j, "dev", dev);
			json_uint_field(j, "ifindex", v->out_ifindex);
			json_string_field(j, "next_hop_mac", mac);
			json_string_field(j, "src_mac", tf_mac_str(v->src_mac, src, sizeof(src)));
			json_uint_field(j, "since_ns", v->since_ns);
			json_uint_field(j, "last_seen_ns", v->last_seen_ns);
			json_uint_field(j, "age_ms", now > v->since_ns ? (now - v->since_ns) / 1000000 : 0);
			json_uint_field(j, "idle_ms", now > v->last_seen_ns ? (now - v->last_seen_ns) / 1000000 : 0);
			json_uint_field(j, "idle_timeout_ns", v->idle_timeout_ns);
			json_bool_field(j, "fin_seen", v->fin_ns != 0);
			json_int_field(j, "expires_in_ms", ((int64_t)until - (int64_t)now) / 1000000);
			json_bool_field(j, "expired", expired);
			json_uint_field(j, "packets", v->packets);
			json_uint_field(j, "bytes", v->bytes);
			json_uint_field(j, "owner_pid", v->owner_pid);
			json_object_end(j);
			continue;
		}
		cli_fmt_secs(age, sizeof(age), now > v->since_ns ? now - v->since_ns : 0);
		cli_fmt_secs(idle, sizeof(idle), now > v->last_seen_ns ? now - v->last_seen_ns : 0);
		if (expired) {
			snprintf(exp, sizeof(exp), "expired");
		} else {
			char in[24];

			cli_fmt_secs(in, sizeof(in), until - now);
			snprintf(exp, sizeof(exp), "%s%s", v->fin_ns ? "fin " : "", in);
		}
		printf("%-24s %-24s %-4s %-20s %-10s %8s %8s %-10s %9llu %11llu\n", l, p, tf_steer_mode_name(v->mode),
		       b, dev, age, idle, exp, (unsigned long long)v->packets, (unsigned long long)v->bytes);
	}
	if (j) {
		json_array_end(j);
		json_object_end(j);
		cli_json_close(j);
	} else if (!n) {
		printf("no steers\n");
	}
	free(e);
	return 0;
}

static int config(struct tf_steertab *t, const struct steer_args *a)
{
	struct tf_steer_cfg c;
	struct json *j;
	int err = tf_steer_cfg_get(t, &c);

	if (!err && (a->idle_set || a->linger_set))
		err = tf_steer_cfg_set(t, a->idle_set ? a->idle_ns : c.idle_timeout_ns,
				       a->linger_set ? a->linger_ns : c.fin_linger_ns);
	if (!err)
		err = tf_steer_cfg_get(t, &c);
	if (err)
		return cli_lib_error(err, "steer config");
	if (!c.idle_timeout_ns)
		c.idle_timeout_ns = TF_STEER_DEFAULT_IDLE_NS;
	if (!c.fin_linger_ns)
		c.fin_linger_ns = TF_STEER_DEFAULT_LINGER_NS;
	j = cli_json_open();
	if (j) {
		json_object_start(j);
		json_uint_field(j, "max_steers", tf_steertab_capacity(t));
		json_uint_field(j, "idle_timeout_ns", c.idle_timeout_ns);
		json_uint_field(j, "fin_linger_ns", c.fin_linger_ns);
		json_bool_field(j, "in_use", c.in_use);
		json_object_end(j);
		cli_json_close(j);
	} else {
		printf("max steers %u, idle timeout %.1fs, FIN linger %.1fs%s\n", tf_steertab_capacity(t),
		       c.idle_timeout_ns / 1e9, c.fin_linger_ns / 1e9, c.in_use ? "" : " (no steer added yet)");
	}
	return 0;
}

int cmd_steer(int argc, char **argv)
{
	static const char *const verbs[] = { "add", "del", "list", "gc", "flush", "config" };
	struct tf_steertab *t = NULL;
	struct steer_args a;
	struct tf_tuple k;
	const char *verb;
	bool known = false, add_v, del_v;
	int err, ret;

	if (cli_wants_help(argc, argv, steer_usage))
		return 0;
	if (argc < 2) {
		fputs(steer_usage, stderr);
		return EXIT_USAGE;
	}
	verb = argv[1];
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		known |= !strcmp(verb, verbs[i]);
	if (!known) {
		cli_error("steer: unknown verb '%s'; expected add, del, list, gc, flush or config", verb);
		return EXIT_USAGE;
	}
	add_v = !strcmp(verb, "add");
	del_v = !strcmp(verb, "del");
	if (parse_args(argc, argv, &a)) {
		fputs(steer_usage, stderr);
		return EXIT_USAGE;
	}
	/* Bad input is refused before the table (or a bpffs) is made. */
	if (add_v || del_v) {
		if ((ret = cli_tuple_args(argc, argv, a.first, steer_usage, "steer", &k)))
			return ret;
	} else if (a.first != argc) {
		fputs(steer_usage, stderr);
		return EXIT_USAGE;
	}
	if (add_v && (!a.to || !a.mode)) {
		cli_error("steer add: --to BACKEND and --mode l2|l3 are needed");
		return EXIT_USAGE;
	}
	if (add_v && a.mode == TF_STEER_L2 && a.src) {
		cli_error("steer add: --src is the outer source of --mode l3; l2 does not encapsulate");
		return EXIT_USAGE;
	}
	if (!add_v && (a.to || a.mode || a.dev || a.mac || a.src || a.max_steers)) {
		cli_error("steer %s: --to, --mode, --dev, --mac, --src and --max-steers are options of steer add", verb);
		return EXIT_USAGE;
	}
	if ((a.idle_set && !add_v && strcmp(verb, "config")) || (a.linger_set && strcmp(verb, "config"))) {
		cli_error("steer %s: --idle-timeout is an option of add and config, --fin-linger of config", verb);
		return EXIT_USAGE;
	}
	if (cli_need_cap(CAP_BPF, "steer"))
		return 1;

	err = tf_steertab_open(g.bpffs, add_v, a.max_steers, &t);
	if (err == -ENOENT && !strcmp(verb, "list"))
		return list(NULL);
	if (err)
		return cli_lib_error(err, "steer %s", verb);
	if (tf_steertab_mounted(t)[0])
		cli_info("mounted a bpffs on %s for the steer table", tf_steertab_mounted(t));
	if (add_v && a.max_steers && tf_steertab_capacity(t) != a.max_steers)
		cli_warn("the steer table already exists with %u entries: --max-steers %u ignored "
			 "(to resize: detach every device, remove %s/%s, attach again with --max-steers)",
			 tf_steertab_capacity(t), a.max_steers, g.bpffs, TF_PIN_STEERS);

	if (add_v) {
		ret = add(t, &k, &a);
		if (!ret)
			warn_if_nothing_attached();
	} else if (del_v) {
		ret = tf_steer_del(t, &k) ? cli_error("%s", tf_strerror()) : 0;
		if (!ret) {
			char s[TF_TUPLESTRLEN];

			cli_report_done("unsteered", tf_tuple_str(&k, s, sizeof(s)));
		}
	} else if (!strcmp(verb, "list")) {
		ret = list(t);
	} else if (!strcmp(verb, "config")) {
		ret = config(t, &a);
	} else {
		unsigned removed = 0;
		bool gc = !strcmp(verb, "gc");

		err = gc ? tf_steer_gc(t, 0, &removed) : tf_steer_flush(t, &removed);
		if (err) {
			tf_steertab_close(t);
			return cli_lib_error(err, "steer %s", verb);
		}
		cli_report_removed(removed, "steer", gc);
		ret = 0;
	}
	tf_steertab_close(t);
	return ret;
}
