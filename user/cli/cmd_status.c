// SPDX-License-Identifier: BSD-2-Clause
/*
 * tcpferry status: the lock table (where, how big, how full) and every device
 * with lock programs on it (hooks, modes, program and link ids).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>

#include "attach.h"
#include "cli.h"
#include "lock.h"
#include "steer.h"

static const char status_usage[] =
	"Usage: tcpferry status\n\n"
	"Show the lock table (pin, map id, locks held of how many), the steer table\n"
	"(steers of how many, how many of them expired and waiting for gc), and the devices\n"
	"with lock programs attached (hook, mode, program and link ids, and the names\n"
	"of all programs on the hook, in the kernel's order).  -j for JSON.\n";

int cmd_status(int argc, char **argv)
{
	struct tf_attach_info *devs = NULL;
	struct tf_locktab *t = NULL;
	struct tf_steertab *st = NULL;
	uint32_t fill = 0, steers = 0, expired = 0;
	size_t n = 0;
	struct json *j;
	int err;

	if (cli_wants_help(argc, argv, status_usage))
		return 0;
	if (argc != 1) {
		fputs(status_usage, stderr);
		return EXIT_USAGE;
	}
	if (cli_need_cap(CAP_BPF, "status"))
		return 1;

	err = tf_locktab_open(g.bpffs, false, 0, &t);
	if (err && err != -ENOENT)
		return cli_lib_error(err, "status");
	if (t && (err = tf_locktab_count(t, &fill)))
		return cli_lib_error(err, "status");
	err = tf_steertab_open(g.bpffs, false, 0, &st);
	if (!err) {
		struct tf_steer_entry *e = NULL;
		struct tf_steer_cfg cfg = {};
		size_t ne = 0;
		uint64_t now = tf_mono_ns();

		if (tf_steer_cfg_get(st, &cfg) == 0 && tf_steer_list(st, &e, &ne) == 0) {
			steers = ne;
			for (size_t i = 0; i < ne; i++)
				expired += tf_steer_expired(&e[i].val, &cfg, now);
		}
		free(e);
	} else if (err != -ENOENT) {
		tf_locktab_close(t);
		return cli_lib_error(err, "status");
	}
	err = tf_attach_list(g.bpffs, &devs, &n);
	if (err) {
		tf_locktab_close(t);
		tf_steertab_close(st);
		return cli_lib_error(err, "status");
	}

	j = cli_json_open();
	if (j) {
		json_object_start(j);
		json_string_field(j, "bpffs", g.bpffs);
		json_name(j, "lock_table");
		if (t) {
			json_object_start(j);
			json_uint_field(j, "map_id", tf_locktab_map_id(t));
			json_uint_field(j, "max_locks", tf_locktab_capacity(t));
			json_uint_field(j, "locks", fill);
			json_object_end(j);
		} else {
			json_null(j);
		}
		json_name(j, "steer_table");
		if (st) {
			json_object_start(j);
			json_uint_field(j, "map_id", tf_steertab_map_id(st));
			json_uint_field(j, "max_steers", tf_steertab_capacity(st));
			json_uint_field(j, "steers", steers);
			json_uint_field(j, "expired", expired);
			json_object_end(j);
		} else {
			json_null(j);
		}
		json_name(j, "devices");
		json_array_start(j);
		for (size_t i = 0; i < n; i++) {
			json_object_start(j);
			json_string_field(j, "device", devs[i].ifname);
			json_uint_field(j, "ifindex", devs[i].ifindex);
			json_bool_field(j, "l3", devs[i].l3);
			json_name(j, "hooks");
			json_array_start(j);
			for (int h = 0; h < TF_HOOK__COUNT; h++) {
				const struct tf_hook_state *s = &devs[i].hook[h];

				if (!s->attached)
					continue;
				json_object_start(j);
				json_string_field(j, "hook", tf_hook_name(h));
				json_string_field(j, "how", s->how);
				json_uint_field(j, "prog_id", s->prog_id);
				json_uint_field(j, "link_id", s->link_id);
				json_uint_field(j, "map_id", s->map_id);
				json_bool_field(j, "alive", s->alive);
				json_uint_field(j, "progs_on_hook", s->on_hook);
				json_name(j, "progs");
				json_array_start(j);
				for (uint32_t k = 0; k < s->on_hook && k < TF_ON_HOOK_NAMES; k++)
					json_string(j, s->on_hook_names[k]);
				json_array_end(j);
				json_object_end(j);
			}
			json_array_end(j);
			json_object_end(j);
		}
		json_array_end(j);
		json_object_end(j);
		cli_json_close(j);
	} else {
		if (t)
			printf("lock table %s/%s: map id %u, %u of %u locks\n", g.bpffs, TF_PIN_LOCKS,
			       tf_locktab_map_id(t), fill, tf_locktab_capacity(t));
		else
			printf("lock table %s/%s: none (nothing attached yet)\n", g.bpffs, TF_PIN_LOCKS);
		if (st)
			printf("steer table %s/%s: map id %u, %u of %u steers (%u expired: tcpferry steer gc)\n", g.bpffs,
			       TF_PIN_STEERS, tf_steertab_map_id(st), steers, tf_steertab_capacity(st), expired);
		if (!n)
			printf("no device attached\n");
		for (size_t i = 0; i < n; i++) {
			printf("%s", devs[i].ifname);
			if (devs[i].ifindex)
				printf(" (ifindex %d%s)", devs[i].ifindex, devs[i].l3 ? ", no link-layer header" : "");
			else
				printf(" (device gone)");
			printf(":");
			for (int h = 0; h < TF_HOOK__COUNT; h++) {
				const struct tf_hook_state *s = &devs[i].hook[h];

				if (!s->attached)
					continue;
				printf(" %s %s prog %u", tf_hook_name(h), s->how[0] ? s->how : "?", s->prog_id);
				if (s->link_id)
					printf(" link %u", s->link_id);
				if (s->alive && s->on_hook > 1) {
					printf(" (%u programs on this hook:", s->on_hook);
					for (uint32_t k = 0; k < s->on_hook && k < TF_ON_HOOK_NAMES; k++)
						printf(" %s", s->on_hook_names[k]);
					printf(")");
				}
				if (!s->alive)
					printf(" (detached: run tcpferry attach or detach %s)", devs[i].ifname);
				else if (t && s->map_id != tf_locktab_map_id(t))
					printf(" (reads another lock map: run tcpferry attach %s)", devs[i].ifname);
				printf(";");
			}
			printf("\n");
		}
	}
	free(devs);
	tf_locktab_close(t);
	tf_steertab_close(st);
	return 0;
}
