// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry attach DEV [--xdp | --tc] [--max-locks N]
 * tcpferry detach DEV
 *
 * Put the lock programs on a device (or take them off), through links pinned
 * under the bpffs directory, so they stay after the command exits.
 */
#include <getopt.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>

#include "attach.h"
#include "cli.h"
#include "lock.h"
#include "tsval.h"

static const char attach_usage[] =
	"Usage: tcpferry attach DEV [--xdp | --tc] [--max-locks N] [--max-steers N] [--no-tsval]\n\n"
	"Attach the lock programs to DEV: ingress (XDP or tc) and tc egress, and the\n"
	"tsval recorder (tc egress and ingress: the largest TCP timestamp each\n"
	"connection put on the wire, for the restore's PAWS rule), kept by\n"
	"links pinned under the bpffs directory (--bpffs, $TCPFERRY_BPFFS, default\n"
	"/sys/fs/bpf/tcpferry; a bpffs is mounted there if needed).  Idempotent: what\n"
	"is attached stays, a stale attachment is replaced.\n\n"
	"  --xdp            XDP ingress: native, or generic where the driver has none\n"
	"  --tc             tc ingress (tcx; clsact filters before 6.6); not with --xdp\n"
	"                   default: keep the ingress that is there; otherwise native XDP\n"
	"                   on a NIC whose driver has it, tc everywhere else\n"
	"  --max-locks N    size of the lock table when it is created here (default 65536)\n"
	"  --max-steers N   size of the steer table (tcpferry steer) when it is created here\n"
	"                   (default 65536; a table of its own: steers never crowd out locks)\n"
	"  --no-tsval       no recorder: restores then rely on the dumped clock alone\n"
	"                   (enough unless the flow is paced ahead of its clock)\n"
	"  -j, -p           JSON output\n\n"
	"Environment: TCPFERRY_TC=clsact puts the tc programs on as clsact filters\n"
	"instead of tcx links (for a kernel whose tcx is broken; a tcx hook is moved).\n"
	"A clsact filter that is there stays one without it: detach, attach for tcx.\n";

static const char detach_usage[] =
	"Usage: tcpferry detach DEV\n\n"
	"Remove the lock programs and the tsval recorder from DEV, and their pins.\n"
	"Idempotent.  A clsact qdisc tcpferry made goes too once no filter is left on\n"
	"it.  The lock table stays (with its locks), for the other devices and\n"
	"the next attach.\n";

static void hook_json(struct json *j, const char *name, const struct tf_hook_state *h, enum tf_hook which)
{
	json_name(j, name);
	if (!h->attached) {
		json_null(j);
		return;
	}
	json_object_start(j);
	json_string_field(j, "hook", tf_hook_name(which));
	json_string_field(j, "how", h->how);
	json_uint_field(j, "prog_id", h->prog_id);
	json_uint_field(j, "link_id", h->link_id);
	json_bool_field(j, "alive", h->alive);
	json_bool_field(j, "new", h->created);
	json_object_end(j);
}

static void hook_text(char *buf, size_t len, const struct tf_hook_state *h, enum tf_hook which)
{
	snprintf(buf, len, "%s (%s, prog %u%s)", tf_hook_name(which), h->how, h->prog_id,
		 h->created ? ", new" : "");
}

int cmd_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "xdp", no_argument, NULL, 'x' },
		{ "tc", no_argument, NULL, 't' },
		{ "max-locks", required_argument, NULL, 'm' },
		{ "max-steers", required_argument, NULL, 's' },
		{ "no-tsval", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct tf_tsval_attach_info ts = {};
	bool tsval = true;
	enum tf_attach_mode mode = TF_ATTACH_AUTO;
	struct tf_attach_info info;
	unsigned long max_locks = 0, max_steers = 0;
	enum tf_hook in;
	struct json *j;
	char *end;
	int c, err;

	if (cli_wants_help(argc, argv, attach_usage))
		return 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'x':
		case 't':
			if (mode != TF_ATTACH_AUTO && mode != (c == 'x' ? TF_ATTACH_XDP : TF_ATTACH_TC)) {
				cli_error("attach: --xdp and --tc exclude each other: pick one (or neither: the "
					  "ingress there is kept, else XDP on a NIC with a native driver, tc elsewhere)");
				return EXIT_USAGE;
			}
			mode = c == 'x' ? TF_ATTACH_XDP : TF_ATTACH_TC;
			break;
		case 'n':
			tsval = false;
			break;
		case 'm':
		case 's': {
			unsigned long n = strtoul(optarg, &end, 10);

			if (!*optarg || *end || n == 0 || n > (1ul << 30)) {
				cli_error("attach: --max-%s '%s': expected a number from 1 to %lu",
					  c == 'm' ? "locks" : "steers", optarg, 1ul << 30);
				return EXIT_USAGE;
			}
			*(c == 'm' ? &max_locks : &max_steers) = n;
			break;
		}
		default:
			fputs(attach_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		fputs(attach_usage, stderr);
		return EXIT_USAGE;
	}
	if (cli_need_cap(CAP_NET_ADMIN, "attach") || cli_need_cap(CAP_BPF, "attach"))
		return 1;

	err = tf_attach(g.bpffs, argv[optind], mode, max_locks, max_steers, &info);
	if (err)
		return cli_lib_error(err, "attach %s", argv[optind]);
	/* After the lock: the recorder then skips the packets a lock drops. */
	if (tsval && (err = tf_tsval_attach(g.bpffs, argv[optind], 0, &ts)))
		return cli_lib_error(err, "attach %s: the tsval recorder (--no-tsval to go without)", argv[optind]);
	if (info.mounted[0])
		cli_info("mounted a bpffs on %s for the pins", info.mounted);
	if (info.note[0])
		cli_info("%s", info.note);
	if (max_locks) {
		struct tf_locktab *t;

		if (tf_locktab_open(g.bpffs, false, 0, &t) == 0) {
			if (tf_locktab_capacity(t) != max_locks)
				cli_warn("the lock table already exists with %u entries: --max-locks %lu ignored "
					 "(to resize: detach every device, remove %s/%s, attach again)",
					 tf_locktab_capacity(t), max_locks, g.bpffs, TF_PIN_LOCKS);
			tf_locktab_close(t);
		}
	}

	in = info.hook[TF_HOOK_XDP].attached ? TF_HOOK_XDP : TF_HOOK_TC_IN;
	j = cli_json_open();
	if (j) {
		json_object_start(j);
		json_string_field(j, "device", info.ifname);
		json_uint_field(j, "ifindex", info.ifindex);
		json_bool_field(j, "l3", info.l3);
		hook_json(j, "ingress", &info.hook[in], in);
		hook_json(j, "egress", &info.hook[TF_HOOK_TC_OUT], TF_HOOK_TC_OUT);
		json_bool_field(j, "tsval_recorder", tsval);
		json_string_field(j, "note", info.note);
		json_string_field(j, "mounted", info.mounted);
		json_object_end(j);
		cli_json_close(j);
	} else {
		char a[96], b[96];

		hook_text(a, sizeof(a), &info.hook[in], in);
		hook_text(b, sizeof(b), &info.hook[TF_HOOK_TC_OUT], TF_HOOK_TC_OUT);
		printf("%s: %s: ingress %s, egress %s%s\n", info.ifname,
		       info.hook[in].created || info.hook[TF_HOOK_TC_OUT].created ? "attached" : "already attached",
		       a, b, tsval ? "; tsval recorder on" : "");
	}
	return 0;
}

int cmd_detach(int argc, char **argv)
{
	struct json *j;
	int removed, c;
	bool gone;

	if (cli_wants_help(argc, argv, detach_usage))
		return 0;
	if (argc != 2 || argv[1][0] == '-') {
		fputs(detach_usage, stderr);
		return EXIT_USAGE;
	}
	if (cli_need_cap(CAP_NET_ADMIN, "detach") || cli_need_cap(CAP_BPF, "detach"))
		return 1;
	removed = tf_detach(g.bpffs, argv[1]);
	if (removed < 0)
		return cli_lib_error(removed, "detach %s", argv[1]);
	c = tf_tsval_detach(g.bpffs, argv[1]);
	if (c < 0)
		return cli_lib_error(c, "detach %s: the tsval recorder", argv[1]);
	removed += c;
	/* A device that is gone may have left pins (removed above); else it is a typo. */
	gone = !if_nametoindex(argv[1]);
	if (gone && !removed)
		return cli_error("detach %s: no such device in this network namespace (see ip link)", argv[1]);
	j = cli_json_open();
	if (j) {
		json_object_start(j);
		json_string_field(j, "device", argv[1]);
		json_uint_field(j, "removed", removed);
		json_bool_field(j, "device_gone", gone);
		json_object_end(j);
		cli_json_close(j);
	} else if (gone) {
		printf("%s: device gone; removed its pins (%d hook%s)\n", argv[1], removed, removed == 1 ? "" : "s");
	} else if (removed) {
		printf("%s: detached (%d hook%s)\n", argv[1], removed, removed == 1 ? "" : "s");
	} else {
		printf("%s: nothing attached\n", argv[1]);
	}
	return 0;
}
