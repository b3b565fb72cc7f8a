// SPDX-License-Identifier: BSD-2-Clause
/*
 * The tsval recorder's user side: attach its two tc programs as tcx links
 * pinned per network namespace (clsact filters where there is no tcx, or
 * with TCPFERRY_TC=clsact, as the lock's), keep its maps pinned beside the
 * lock table, and read what it recorded.  See tsval.h for when it runs and why.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <net/if.h>
#include <net/if_arp.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "clsact.h"
#include "internal.h"
#include "netdev.h"
#include "lock.h"
#include "tsval.h"
#include "tsval.skel.h"

/* Not in the 6.1 uapi headers that Debian 12 ships (as in attach.c). */
#define TF_BPF_TCX_INGRESS	46
#define TF_BPF_TCX_EGRESS	47

#define LINKS_DIR "tsval-links"

static const char *default_bpffs(const char *bpffs)
{
	return bpffs && *bpffs ? bpffs : TF_DEFAULT_BPFFS;
}

/* The pin of a tcx link, or with clsact the pin of the filter's program. */
static int link_path(char *buf, size_t len, const char *bpffs, const char *ifname, bool ingress, bool clsact)
{
	char pin[IF_NAMESIZE];

	if (snprintf(buf, len, "%s/" LINKS_DIR "/%lu/%s-%s%s", bpffs, tf_netns_id(), tf_dev_pin_name(ifname, pin),
		     ingress ? "in" : "out", clsact ? "-clsact" : "") >= (int)len)
		return tf_failx(ENAMETOOLONG, "device %s: pin path too long", ifname);
	return 0;
}

static int make_links_dir(const char *bpffs)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/" LINKS_DIR, bpffs);
	if (mkdir(path, 0700) && errno != EEXIST)
		return tf_fail(errno, "pin directory %s", path);
	snprintf(path, sizeof(path), "%s/" LINKS_DIR "/%lu", bpffs, tf_netns_id());
	if (mkdir(path, 0700) && errno != EEXIST)
		return tf_fail(errno, "pin directory %s", path);
	return 0;
}

int tf_tsval_map_open(const char *bpffs, const char *pin)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", default_bpffs(bpffs), pin);
	fd = bpf_obj_get(path);
	return fd >= 0 ? fd : -errno;
}

/* A pinned link that still points at ifindex: its fd; -ENOENT or -ESTALE otherwise. */
static int live_link(const char *path, int ifindex)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return -errno;
	/* xdp.ifindex and tcx.ifindex share the union's first word; 0 = detached */
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || !ifindex || info.xdp.ifindex != (__u32)ifindex) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* Our clsact filter is there and runs the pinned program. */
static bool live_filter(const char *path, int ifindex, bool ingress)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	uint32_t id = tf_clsact_prog(ifindex, ingress, TF_CLSACT_TSVAL);
	int fd;

	if (!id || (fd = bpf_obj_get(path)) < 0)
		return false;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.id = 0;
	close(fd);
	return info.id == id;
}

enum hook_kind { HOOK_NONE, HOOK_TCX, HOOK_CLSACT };

/* How one side of the recorder is attached, if it is alive. */
static enum hook_kind hook_live(const char *bpffs, const char *ifname, int ifindex, bool ingress)
{
	char path[PATH_MAX];
	int fd;

	if (link_path(path, sizeof(path), bpffs, ifname, ingress, false))
		return HOOK_NONE;
	fd = live_link(path, ifindex);
	if (fd >= 0) {
		close(fd);
		return HOOK_TCX;
	}
	link_path(path, sizeof(path), bpffs, ifname, ingress, true);
	return live_filter(path, ifindex, ingress) ? HOOK_CLSACT : HOOK_NONE;
}

bool tf_tsval_attached(const char *bpffs, const char *ifname)
{
	int ifindex = if_nametoindex(ifname);

	bpffs = default_bpffs(bpffs);
	return hook_live(bpffs, ifname, ifindex, false) && hook_live(bpffs, ifname, ifindex, true);
}

/* Attached as wanted: both sides alive, and clsact filters if clsact is asked for. */
static bool attached_as(const char *bpffs, const char *ifname, bool clsact)
{
	int ifindex = if_nametoindex(ifname);

	for (int in = 0; in < 2; in++) {
		enum hook_kind k = hook_live(bpffs, ifname, ifindex, in);

		if (k == HOOK_NONE || (clsact && k != HOOK_CLSACT))
			return false;
	}
	return true;
}

/* Reuse the pinned map pin if it is there; otherwise say that it must be pinned after load. */
static int reuse_or_mark(struct bpf_map *map, const char *bpffs, const char *pin, bool *pin_after)
{
	int fd = tf_tsval_map_open(bpffs, pin), err;

	*pin_after = false;
	if (fd == -ENOENT) {
		*pin_after = true;
		return 0;
	}
	if (fd < 0)
		return tf_fail(-fd, "tsval map %s/%s", bpffs, pin);
	err = bpf_map__reuse_fd(map, fd);
	close(fd);
	if (err)
		return tf_fail(-err, "tsval map %s/%s: not the recorder's (remove the pin)", bpffs, pin);
	return 0;
}

/* A clsact filter (ours replaced in place), remembered by pinning its program. */
static int attach_filter(int prog_fd, const char *bpffs, const char *ifname, int ifindex, bool ingress)
{
	char path[PATH_MAX];
	int err;

	if ((err = link_path(path, sizeof(path), bpffs, ifname, ingress, true)))
		return err;
	if ((err = tf_clsact_attach(bpffs, ifname, ifindex, ingress, TF_CLSACT_TSVAL, prog_fd)))
		return err;
	unlink(path);	/* the program it replaced */
	if (bpf_obj_pin(prog_fd, path)) {
		err = tf_fail(errno, "device %s: pin %s", ifname, path);
		/* unpinned, no detach would find it: take it off again */
		tf_clsact_detach(ifindex, ingress, TF_CLSACT_TSVAL);
		tf_clsact_release(bpffs, ifname, ifindex);
		return err;
	}
	return 0;
}

/* Remove one side's tcx link (tcx) or clsact filter (!tcx) and its pin. */
static int remove_one(const char *bpffs, const char *ifname, int ifindex, bool ingress, bool tcx)
{
	char path[PATH_MAX];
	int fd;

	if (link_path(path, sizeof(path), bpffs, ifname, ingress, !tcx))
		return 0;
	if (tcx) {
		fd = bpf_obj_get(path);
		if (fd < 0)
			return 0;
		bpf_link_detach(fd);	/* fails on a link whose device is gone: fine */
		close(fd);
	} else if (access(path, F_OK)) {
		return 0;
	} else {
		tf_clsact_detach(ifindex, ingress, TF_CLSACT_TSVAL);
	}
	if (unlink(path) && errno != ENOENT)
		return tf_fail(errno, "device %s: remove pin %s", ifname, path);
	return 1;
}

/*
 * One side: a live attachment stays, except that clsact (TCPFERRY_TC) moves
 * a tcx link to a filter, the filter first; dead ones are replaced.
 */
static int attach_one(struct tsval_bpf *skel, const char *bpffs, const char *ifname, int ifindex,
		      bool ingress, bool clsact, bool *created)
{
	int prog_fd = bpf_program__fd(ingress ? skel->progs.tf_tsval_tc_in : skel->progs.tf_tsval_tc_out);
	enum hook_kind k = hook_live(bpffs, ifname, ifindex, ingress);
	char path[PATH_MAX];
	int fd, err;

	*created = false;
	if (k == HOOK_CLSACT || (k == HOOK_TCX && !clsact))
		return 0;
	if (clsact || k == HOOK_NONE) {
		/* what is pinned is dead (the device was re-created) or is moved */
		if (!clsact && (err = remove_one(bpffs, ifname, ifindex, ingress, true)) < 0)
			return err;
		if ((err = remove_one(bpffs, ifname, ifindex, ingress, false)) < 0)
			return err;
	}
	if (clsact) {
		err = attach_filter(prog_fd, bpffs, ifname, ifindex, ingress);
		if (!err && (err = remove_one(bpffs, ifname, ifindex, ingress, true)) > 0)
			err = 0;
		*created = !err;
		return err;
	}
	if ((err = link_path(path, sizeof(path), bpffs, ifname, ingress, false)))
		return err;
	fd = bpf_link_create(prog_fd, ifindex, ingress ? TF_BPF_TCX_INGRESS : TF_BPF_TCX_EGRESS, NULL);
	if (fd < 0 && errno == EINVAL) {
		err = attach_filter(prog_fd, bpffs, ifname, ifindex, ingress);	/* no tcx: before 6.6 */
		*created = !err;
		return err;
	}
	if (fd < 0)
		return tf_fail(errno, "device %s: attach the tsval recorder at tc %s", ifname,
			       ingress ? "ingress" : "egress");
	err = 0;
	if (bpf_obj_pin(fd, path))
		err = tf_fail(errno, "device %s: pin %s", ifname, path);
	close(fd);
	*created = !err;
	return err;
}

int tf_tsval_attach(const char *bpffs, const char *ifname, uint32_t max_tsvals,
		    struct tf_tsval_attach_info *info)
{
	struct tf_tsval_attach_info local;
	bool pin_tsvals, pin_cfg, pin_events, pin_stats;
	struct tsval_bpf *skel = NULL;
	char path[PATH_MAX];
	int ifindex, err, lock_fd, clsact;

	tf_error_clear();
	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	bpffs = default_bpffs(bpffs);
	ifindex = if_nametoindex(ifname);
	if (!ifindex)
		return tf_failx(ENODEV, "device %s: no such device in this network namespace (see ip link)", ifname);
	if ((clsact = tf_tc_want_clsact()) < 0)
		return clsact;
	if (attached_as(bpffs, ifname, clsact))
		return 0;
	if ((err = tf_pin_dir_prepare(bpffs, info->mounted, sizeof(info->mounted))))
		return err;
	if ((err = make_links_dir(bpffs)))
		return err;

	skel = tsval_bpf__open();
	if (!skel)
		return tf_fail(errno, "device %s: open the tsval recorder", ifname);
	skel->rodata->tf_l3_dev = !tf_dev_has_eth_header(ifname);
	err = reuse_or_mark(skel->maps.tsvals, bpffs, TF_PIN_TSVALS, &pin_tsvals);
	if (!err && pin_tsvals)
		err = bpf_map__set_max_entries(skel->maps.tsvals, max_tsvals ? max_tsvals : TF_DEFAULT_MAX_TSVALS);
	if (!err)
		err = reuse_or_mark(skel->maps.tsval_cfg, bpffs, TF_PIN_TSVAL_CFG, &pin_cfg);
	if (!err)
		err = reuse_or_mark(skel->maps.tsval_events, bpffs, TF_PIN_TSVAL_EVENTS, &pin_events);
	if (!err)
		err = reuse_or_mark(skel->maps.tsval_stats, bpffs, TF_PIN_TSVAL_STATS, &pin_stats);
	if (err)
		goto out;
	/* The lock table, if this host has one: packets it drops are not recorded. */
	lock_fd = tf_tsval_map_open(bpffs, TF_PIN_LOCKS);
	if (lock_fd >= 0) {
		err = bpf_map__reuse_fd(skel->maps.locks, lock_fd);
		close(lock_fd);
		if (err) {
			err = tf_fail(-err, "lock table %s/%s", bpffs, TF_PIN_LOCKS);
			goto out;
		}
		skel->rodata->tf_check_locks = 1;
		info->checks_locks = true;
	} else {
		bpf_map__set_max_entries(skel->maps.locks, 1);	/* never read */
	}
	err = tsval_bpf__load(skel);
	if (err) {
		err = tf_fail(-err, "device %s: load the tsval recorder", ifname);
		goto out;
	}
	{
		struct { struct bpf_map *map; const char *pin; bool want; } pins[] = {
			{ skel->maps.tsvals, TF_PIN_TSVALS, pin_tsvals },
			{ skel->maps.tsval_cfg, TF_PIN_TSVAL_CFG, pin_cfg },
			{ skel->maps.tsval_events, TF_PIN_TSVAL_EVENTS, pin_events },
			{ skel->maps.tsval_stats, TF_PIN_TSVAL_STATS, pin_stats },
		};

		for (size_t i = 0; i < ARRAY_SIZE(pins); i++) {
			if (!pins[i].want)
				continue;
			snprintf(path, sizeof(path), "%s/%s", bpffs, pins[i].pin);
			if (bpf_obj_pin(bpf_map__fd(pins[i].map), path) && errno != EEXIST) {
				err = tf_fail(errno, "pin %s", path);
				goto out;
			}
			chmod(path, 0600);
			/* Only a new tsvals says the set is ours to unpin: a recorder
			 * pinned by an older tcpferry gains tsval_stats here. */
			if (pins[i].map == skel->maps.tsvals)
				info->created_maps = true;
		}
	}
	err = attach_one(skel, bpffs, ifname, ifindex, false, clsact, &info->created_out);
	if (!err)
		err = attach_one(skel, bpffs, ifname, ifindex, true, clsact, &info->created_in);
out:
	tsval_bpf__destroy(skel);	/* the pinned links and maps keep what is needed */
	return err;
}

int tf_tsval_detach(const char *bpffs, const char *ifname)
{
	int ifindex = if_nametoindex(ifname);	/* 0 if the device is gone: pins still go */
	char path[PATH_MAX];
	int removed = 0;

	bpffs = default_bpffs(bpffs);
	for (int in = 0; in < 2; in++) {
		for (int tcx = 0; tcx < 2; tcx++) {
			int r = remove_one(bpffs, ifname, ifindex, in, tcx);

			if (r < 0)
				return r;
			removed += r;
		}
	}
	tf_clsact_release(bpffs, ifname, ifindex);
	snprintf(path, sizeof(path), "%s/" LINKS_DIR "/%lu", bpffs, tf_netns_id());
	rmdir(path);	/* only when empty */
	snprintf(path, sizeof(path), "%s/" LINKS_DIR, bpffs);
	rmdir(path);
	return removed;
}

void tf_tsval_unpin_maps(const char *bpffs)
{
	static const char *const pins[] = { TF_PIN_TSVALS, TF_PIN_TSVAL_CFG, TF_PIN_TSVAL_EVENTS,
					    TF_PIN_TSVAL_STATS };
	char path[PATH_MAX];

	bpffs = default_bpffs(bpffs);
	for (size_t i = 0; i < ARRAY_SIZE(pins); i++) {
		snprintf(path, sizeof(path), "%s/%s", bpffs, pins[i]);
		unlink(path);
	}
}

int tf_tsval_get(int map_fd, const struct tf_tuple *k, struct tf_tsval *v)
{
	if (bpf_map_lookup_elem(map_fd, k, v))
		return -errno;
	return 0;
}

int tf_tsval_stats_sum(int stats_fd, struct tf_tsval_stats *sum)
{
	int ncpus = libbpf_num_possible_cpus(), err = 0;
	struct tf_tsval_stats *per_cpu;
	__u32 zero = 0;

	memset(sum, 0, sizeof(*sum));
	if (ncpus < 0)
		return ncpus;
	per_cpu = calloc(ncpus, sizeof(*per_cpu));
	if (!per_cpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(stats_fd, &zero, per_cpu))
		err = -errno;
	for (int i = 0; !err && i < ncpus; i++) {
		sum->events_lost += per_cpu[i].events_lost;
		sum->max_giveups += per_cpu[i].max_giveups;
	}
	free(per_cpu);
	return err;
}

int tf_tsval_fill_conn_fd(int map_fd, struct tf_conn *c)
{
	struct tf_tuple k;
	struct tf_tsval v;
	int err;

	c->has_ts_wire = false;
	if (!(c->opts & TF_OPT_TSTAMP))
		return 0;	/* no timestamps on this connection: nothing to carry */
	if (map_fd < 0)
		return 0;	/* no recorder on this host: the dumped clock alone */
	err = tf_tuple_make(&c->local, &c->peer, &k);
	if (err)
		return err;
	err = tf_tsval_get(map_fd, &k, &v);
	if (err || !v.out_max.seen)
		return 0;
	c->has_ts_wire = true;
	c->ts_wire = v.out_max.tsval;
	return 1;
}

int tf_tsval_fill_conn(const char *bpffs, struct tf_conn *c)
{
	int fd, r;

	c->has_ts_wire = false;
	if (!(c->opts & TF_OPT_TSTAMP))
		return 0;
	fd = tf_tsval_map_open(bpffs, TF_PIN_TSVALS);
	r = tf_tsval_fill_conn_fd(fd, c);
	if (fd >= 0)
		close(fd);
	return r;
}
