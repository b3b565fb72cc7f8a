// SPDX-License-Identifier: BSD-2-Clause
/*
 * Attaching the lock programs: links pinned under <bpffs>/links/<netns>, so that an
 * attachment outlives the command and a second attach finds (and keeps) it.
 *
 * tc hooks are tcx links (BPF_TCX_INGRESS / BPF_TCX_EGRESS, 6.6+), created
 * by hand because libbpf 1.1 has no helper for them; older kernels, and
 * TCPFERRY_TC=clsact, get clsact filters (clsact.c).  XDP is a BPF_XDP link,
 * native first, then generic.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <net/if_arp.h>
#include <linux/if_link.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "attach.h"
#include "clsact.h"
#include "internal.h"
#include "netdev.h"
#include "route.h"
#include "lock.h"
#include "lock.skel.h"
#include "steer.h"

/* Not in the 6.1 uapi headers that Debian 12 ships. */
#define TF_BPF_TCX_INGRESS	46
#define TF_BPF_TCX_EGRESS	47
#define TF_BPF_LINK_TYPE_TCX	11
#define TF_BPF_F_BEFORE		(1U << 3)

/* bpffs refuses names with a dot (kept for its own progs.debug, maps.debug) */
#define CLSACT_SUFFIX		"-clsact"

static const char *const hook_names[TF_HOOK__COUNT] = {
	[TF_HOOK_XDP] = "xdp",
	[TF_HOOK_TC_IN] = "tc-in",
	[TF_HOOK_TC_OUT] = "tc-out",
};

const char *tf_hook_name(enum tf_hook h)
{
	return h < TF_HOOK__COUNT ? hook_names[h] : "?";
}

int tf_tc_want_clsact(void)
{
	const char *v = getenv("TCPFERRY_TC");

	if (!v || !*v || !strcmp(v, "tcx"))
		return 0;
	if (!strcmp(v, "clsact"))
		return 1;
	return tf_failx(EINVAL, "TCPFERRY_TC=%s: expected clsact or tcx (or unset it)", v);
}

static void ns_links_dir(char *buf, size_t len, const char *bpffs)
{
	snprintf(buf, len, "%s/links/%lu", bpffs, tf_netns_id());
}

static int pin_path(char *buf, size_t len, const char *bpffs, const char *ifname, enum tf_hook h,
		    bool clsact)
{
	char pin[IF_NAMESIZE];

	if (snprintf(buf, len, "%s/links/%lu/%s-%s%s", bpffs, tf_netns_id(), tf_dev_pin_name(ifname, pin),
		     hook_names[h], clsact ? CLSACT_SUFFIX : "") >= (int)len)
		return tf_failx(ENAMETOOLONG, "device %s: pin path too long", ifname);
	return 0;
}

/* ---- reading back what is attached -------------------------------------------------- */

/* The id of the map named name that program prog_id reads (want_map if it reads that one), or 0. */
static uint32_t prog_map_check(uint32_t prog_id, const char *name, uint32_t want_map)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), ids[8];
	uint32_t found = 0;
	int fd = bpf_prog_get_fd_by_id(prog_id);

	if (fd < 0)
		return 0;
	info.nr_map_ids = ARRAY_SIZE(ids);
	info.map_ids = (uintptr_t)ids;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
		for (__u32 i = 0; i < info.nr_map_ids && i < ARRAY_SIZE(ids); i++) {
			struct bpf_map_info mi = {};
			__u32 ml = sizeof(mi);
			int mfd = bpf_map_get_fd_by_id(ids[i]);

			if (mfd < 0)
				continue;
			if (bpf_obj_get_info_by_fd(mfd, &mi, &ml) == 0 && !strcmp(mi.name, name))
				found = ids[i];
			close(mfd);
			if (found && (found == want_map || !want_map))
				break;
		}
	}
	close(fd);
	return found;
}

static void xdp_mode(int ifindex, struct tf_hook_state *s)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	snprintf(s->how, sizeof(s->how), "xdp");
	if (bpf_xdp_query(ifindex, 0, &q))
		return;
	if (q.drv_prog_id == s->prog_id || q.attach_mode == XDP_ATTACHED_DRV)
		snprintf(s->how, sizeof(s->how), "xdp-native");
	else if (q.skb_prog_id == s->prog_id || q.attach_mode == XDP_ATTACHED_SKB)
		snprintf(s->how, sizeof(s->how), "xdp-generic");
}

/*
 * The state of one pinned hook.  Returns the pinned object's fd (>= 0) when
 * there is one, -ENOENT when nothing is pinned.
 */
static int read_hook(const char *bpffs, const char *ifname, int ifindex, enum tf_hook h,
		     struct tf_hook_state *s)
{
	char path[PATH_MAX];
	int fd, err;

	memset(s, 0, sizeof(*s));
	if ((err = pin_path(path, sizeof(path), bpffs, ifname, h, false)))
		return err;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);

		s->attached = true;
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
			s->link_id = info.id;
			s->prog_id = info.prog_id;
			/* xdp.ifindex and tcx.ifindex share the union's first word; 0 = detached */
			s->alive = ifindex && info.xdp.ifindex == (__u32)ifindex;
			if (info.type == TF_BPF_LINK_TYPE_TCX)
				snprintf(s->how, sizeof(s->how), "tcx");
			else if (info.type == BPF_LINK_TYPE_XDP)
				xdp_mode(ifindex, s);
		}
		s->map_id = prog_map_check(s->prog_id, "locks", 0);
	s->steer_map_id = prog_map_check(s->prog_id, "steers", 0);
		return fd;
	}
	if (h == TF_HOOK_XDP)
		return -ENOENT;
	/* A clsact filter: the pin is the program; ask tc whether it is still there. */
	if ((err = pin_path(path, sizeof(path), bpffs, ifname, h, true)))
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -ENOENT;
	s->attached = true;
	snprintf(s->how, sizeof(s->how), "clsact");
	s->prog_id = tf_clsact_prog(ifindex, h == TF_HOOK_TC_IN, TF_CLSACT_LOCK);
	s->alive = s->prog_id != 0;
	s->map_id = prog_map_check(s->prog_id, "locks", 0);
	s->steer_map_id = prog_map_check(s->prog_id, "steers", 0);
	return fd;
}

/* Remove hook h's link (even if someone else holds it) and its pin: 1, or 0 if none. */
static int remove_link(const char *bpffs, const char *ifname, enum tf_hook h)
{
	char path[PATH_MAX];
	int fd;

	pin_path(path, sizeof(path), bpffs, ifname, h, false);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	bpf_link_detach(fd);	/* fails on an already dead link: fine */
	close(fd);
	if (unlink(path) && errno != ENOENT)
		return tf_fail(errno, "device %s: remove pin %s", ifname, path);
	return 1;
}

/* Remove hook h's clsact filter and its pin: 1, or 0 if none. */
static int remove_clsact(const char *bpffs, const char *ifname, int ifindex, enum tf_hook h)
{
	char path[PATH_MAX];

	pin_path(path, sizeof(path), bpffs, ifname, h, true);
	if (access(path, F_OK))
		return 0;
	tf_clsact_detach(ifindex, h == TF_HOOK_TC_IN, TF_CLSACT_LOCK);
	if (unlink(path) && errno != ENOENT)
		return tf_fail(errno, "device %s: remove pin %s", ifname, path);
	return 1;
}

/* Remove one hook, whichever way it is attached. */
static int remove_hook(const char *bpffs, const char *ifname, int ifindex, enum tf_hook h)
{
	int a = remove_link(bpffs, ifname, h), b = 0;

	if (a < 0)
		return a;
	if (h != TF_HOOK_XDP && (b = remove_clsact(bpffs, ifname, ifindex, h)) < 0)
		return b;
	return a || b;
}

/* ---- making attachments ------------------------------------------------------------- */

struct loader {
	struct lock_bpf *skel;
	int map_fd;
	int steer_fd, steer_cfg_fd;	/* the pinned steer table and its settings */
	bool l3;
	bool clsact;	/* TCPFERRY_TC=clsact: tc hooks as clsact filters */
};

static int load_progs(struct loader *ld, const char *ifname)
{
	int err;

	if (ld->skel)
		return 0;
	ld->skel = lock_bpf__open();
	if (!ld->skel)
		return tf_fail(errno, "device %s: open the lock programs", ifname);
	ld->skel->rodata->tf_l3_dev = ld->l3;
	err = bpf_map__reuse_fd(ld->skel->maps.locks, ld->map_fd);
	if (!err)
		err = bpf_map__reuse_fd(ld->skel->maps.steers, ld->steer_fd);
	if (!err)
		err = bpf_map__reuse_fd(ld->skel->maps.steer_cfg, ld->steer_cfg_fd);
	if (!err)
		err = lock_bpf__load(ld->skel);
	if (err) {
		lock_bpf__destroy(ld->skel);
		ld->skel = NULL;
		return tf_fail(-err, "device %s: load the lock programs", ifname);
	}
	return 0;
}

static int prog_fd_for(struct loader *ld, enum tf_hook h)
{
	switch (h) {
	case TF_HOOK_XDP:
		return bpf_program__fd(ld->skel->progs.tf_lock_xdp);
	case TF_HOOK_TC_IN:
		return bpf_program__fd(ld->skel->progs.tf_lock_tc_in);
	default:
		return bpf_program__fd(ld->skel->progs.tf_lock_tc_out);
	}
}

static int pin_link(int link_fd, const char *bpffs, const char *ifname, enum tf_hook h)
{
	char path[PATH_MAX];
	int err = pin_path(path, sizeof(path), bpffs, ifname, h, false);

	if (!err && bpf_obj_pin(link_fd, path))
		err = tf_fail(errno, "device %s: pin %s", ifname, path);
	return err;
}

static int xdp_busy(const char *ifname, int ifindex)
{
	__u32 id = 0;

	bpf_xdp_query_id(ifindex, 0, &id);
	return tf_failx(EBUSY, "device %s: already has an XDP program (id %u) that is not tcpferry's; "
			"remove it (ip link set dev %s xdp off) or use --tc", ifname, id, ifname);
}

static int attach_xdp(struct loader *ld, const char *bpffs, const char *ifname, int ifindex,
		      bool allow_generic, struct tf_attach_info *info)
{
	LIBBPF_OPTS(bpf_link_create_opts, o, .flags = XDP_FLAGS_DRV_MODE);
	int fd, err, native_err;

	fd = bpf_link_create(prog_fd_for(ld, TF_HOOK_XDP), ifindex, BPF_XDP, &o);
	if (fd < 0) {
		native_err = errno;
		if (native_err == EBUSY || native_err == EEXIST)
			return xdp_busy(ifname, ifindex);
		if (!allow_generic)
			return -native_err;
		o.flags = XDP_FLAGS_SKB_MODE;
		fd = bpf_link_create(prog_fd_for(ld, TF_HOOK_XDP), ifindex, BPF_XDP, &o);
		if (fd < 0) {
			if (errno == EBUSY || errno == EEXIST)
				return xdp_busy(ifname, ifindex);
			return tf_fail(errno, "device %s: attach XDP", ifname);
		}
		snprintf(info->note, sizeof(info->note),
			 "%s: no native XDP in its driver (%s): generic XDP", ifname, strerror(native_err));
	}
	err = pin_link(fd, bpffs, ifname, TF_HOOK_XDP);
	close(fd);
	return err;
}

/* A clsact filter, remembered by pinning the program; ours is replaced in place. */
static int attach_clsact(struct loader *ld, const char *bpffs, const char *ifname, int ifindex, enum tf_hook h)
{
	char path[PATH_MAX];
	int err;

	if ((err = pin_path(path, sizeof(path), bpffs, ifname, h, true)))
		return err;
	err = tf_clsact_attach(bpffs, ifname, ifindex, h == TF_HOOK_TC_IN, TF_CLSACT_LOCK, prog_fd_for(ld, h));
	if (err)
		return err;
	unlink(path);	/* the program it replaced */
	if (bpf_obj_pin(prog_fd_for(ld, h), path)) {
		err = tf_fail(errno, "device %s: pin %s", ifname, path);
		/* unpinned, no detach would find it: take it off again */
		tf_clsact_detach(ifindex, h == TF_HOOK_TC_IN, TF_CLSACT_LOCK);
		tf_clsact_release(bpffs, ifname, ifindex);
		return err;
	}
	return 0;
}

static int attach_tc(struct loader *ld, const char *bpffs, const char *ifname, int ifindex, enum tf_hook h)
{
	/*
	 * BPF_F_BEFORE with no relative program: first in the chain, so that no
	 * program before ours can pass a locked connection's packet with a final
	 * verdict (the recorder appends: it records only what the lock let by).
	 */
	LIBBPF_OPTS(bpf_link_create_opts, o, .flags = TF_BPF_F_BEFORE);
	int fd, err;

	if (ld->clsact)
		return attach_clsact(ld, bpffs, ifname, ifindex, h);
	fd = bpf_link_create(prog_fd_for(ld, h), ifindex,
			     h == TF_HOOK_TC_IN ? TF_BPF_TCX_INGRESS : TF_BPF_TCX_EGRESS, &o);
	if (fd >= 0) {
		err = pin_link(fd, bpffs, ifname, h);
		close(fd);
		return err;
	}
	if (errno != EINVAL)
		return tf_fail(errno, "device %s: attach tc %s", ifname, h == TF_HOOK_TC_IN ? "ingress" : "egress");
	return attach_clsact(ld, bpffs, ifname, ifindex, h);	/* no tcx: before 6.6 */
}

/*
 * Make hook h what it should be: keep a live link that reads our map, point
 * a live one that reads another map at new programs, replace a dead one.
 * TCPFERRY_TC=clsact moves a tcx hook to a clsact filter; without it a live
 * clsact filter stays one (as a live ingress flavour stays): to go back to
 * tcx, detach and attach.
 */
static int ensure_hook(struct loader *ld, const char *bpffs, const char *ifname, int ifindex,
		       enum tf_hook h, const uint32_t map_id[2], bool allow_generic, struct tf_attach_info *info)
{
	struct tf_hook_state s;
	bool clsact_now, move;
	int fd, err;

	fd = read_hook(bpffs, ifname, ifindex, h, &s);
	clsact_now = fd >= 0 && !strcmp(s.how, "clsact");
	move = h != TF_HOOK_XDP && ld->clsact && fd >= 0 && !clsact_now;
	/* map_id: the lock table's and the steer table's; egress reads no steers */
	if (fd >= 0 && s.alive && s.map_id == map_id[0] && (h == TF_HOOK_TC_OUT || s.steer_map_id == map_id[1]) &&
	    !move) {
		close(fd);
		return 0;
	}
	if ((err = load_progs(ld, ifname))) {
		if (fd >= 0)
			close(fd);
		return err;
	}
	if ((clsact_now && s.alive) || move) {
		/* The new filter first, then the old one goes: no packet passes unchecked. */
		if (fd >= 0)
			close(fd);
		err = attach_clsact(ld, bpffs, ifname, ifindex, h);
		if (!err && move && (err = remove_link(bpffs, ifname, h)) > 0)
			err = 0;
		info->hook[h].created = !err;
		return err;
	}
	if (fd >= 0 && s.alive && s.link_id) {
		/* Reads an older lock map: swap the program in place, no gap. */
		err = bpf_link_update(fd, prog_fd_for(ld, h), NULL);
		close(fd);
		if (err)
			return tf_fail(-err, "device %s: update %s link", ifname, hook_names[h]);
		info->hook[h].created = true;
		return 0;
	}
	if (fd >= 0)
		close(fd);
	if (s.attached && (err = remove_hook(bpffs, ifname, ifindex, h)) < 0)
		return err;
	if (h == TF_HOOK_XDP)
		err = attach_xdp(ld, bpffs, ifname, ifindex, allow_generic, info);
	else
		err = attach_tc(ld, bpffs, ifname, ifindex, h);
	info->hook[h].created = !err;
	return err;
}

/* A directory of pins: there already, or made root-only. */
static int pin_dir(const char *ifname, const char *path)
{
	struct stat st;
	int err;

	if (mkdir(path, 0700) == 0)
		return 0;
	err = errno;
	if (err == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	if (err == EEXIST)
		return tf_failx(ENOTDIR, "device %s: pin directory %s: something else is there; "
				"remove it or pass another --bpffs", ifname, path);
	return tf_failx(err, "device %s: pin directory %s: %s; pass another --bpffs", ifname, path,
			strerror(err));
}

static int links_dir(const char *bpffs, const char *ifname)
{
	char path[PATH_MAX];
	int err;

	snprintf(path, sizeof(path), "%s/links", bpffs);
	if ((err = pin_dir(ifname, path)))
		return err;
	ns_links_dir(path, sizeof(path), bpffs);
	return pin_dir(ifname, path);
}

static void prog_name(uint32_t id, char name[16])
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);

	snprintf(name, 16, "?");
	if (fd < 0)
		return;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
		snprintf(name, 16, "%s", info.name);
	close(fd);
}

/* The programs the kernel has at a hook of ifindex (ours should be alone), and their names. */
static void progs_on_hook(int ifindex, enum tf_hook h, struct tf_hook_state *s)
{
	__u32 ids[64], cnt = ARRAY_SIZE(ids), flags = 0;

	s->on_hook = 0;
	if (!ifindex)
		return;
	if (h == TF_HOOK_XDP) {
		LIBBPF_OPTS(bpf_xdp_query_opts, q);

		if (bpf_xdp_query(ifindex, 0, &q))
			return;
		cnt = 0;
		if (q.drv_prog_id)
			ids[cnt++] = q.drv_prog_id;
		if (q.skb_prog_id)
			ids[cnt++] = q.skb_prog_id;
		if (q.hw_prog_id)
			ids[cnt++] = q.hw_prog_id;
	} else {
		/* tcx programs run first, then the clsact filters (none without tcx before 6.6) */
		if (bpf_prog_query(ifindex, h == TF_HOOK_TC_IN ? TF_BPF_TCX_INGRESS : TF_BPF_TCX_EGRESS, 0,
				   &flags, ids, &cnt))
			cnt = 0;
		cnt += tf_clsact_filters(ifindex, h == TF_HOOK_TC_IN, ids + cnt, ARRAY_SIZE(ids) - cnt);
		cnt = cnt < ARRAY_SIZE(ids) ? cnt : ARRAY_SIZE(ids);
	}
	s->on_hook = cnt;
	for (__u32 i = 0; i < cnt && i < TF_ON_HOOK_NAMES; i++)
		prog_name(ids[i], s->on_hook_names[i]);
}

static void fill_info(const char *bpffs, const char *ifname, int ifindex, struct tf_attach_info *info)
{
	snprintf(info->ifname, sizeof(info->ifname), "%s", ifname);
	info->ifindex = ifindex;
	for (int h = 0; h < TF_HOOK__COUNT; h++) {
		bool created = info->hook[h].created;
		int fd = read_hook(bpffs, ifname, ifindex, h, &info->hook[h]);

		if (fd >= 0)
			close(fd);
		info->hook[h].created = created;
		progs_on_hook(ifindex, h, &info->hook[h]);
	}
}

static int do_attach(const char *bpffs, const char *ifname, enum tf_attach_mode mode, bool prefer_tc,
		     uint32_t max_locks, uint32_t max_steers, struct tf_attach_info *info)
{
	struct tf_attach_info local_info;
	struct tf_locktab *tab = NULL;
	struct tf_steertab *steers = NULL;
	struct loader ld = { 0 };
	struct tf_hook_state cur = { 0 };
	enum tf_hook ingress;
	uint32_t map_id[2];
	int ifindex, err, fd;

	if (!info)
		info = &local_info;
	memset(info, 0, sizeof(*info));
	if (!bpffs || !*bpffs)
		bpffs = TF_DEFAULT_BPFFS;
	ifindex = if_nametoindex(ifname);
	if (!ifindex)
		return tf_failx(ENODEV, "device %s: no such device in this network namespace (see ip link)",
				ifname);
	if ((err = tf_tc_want_clsact()) < 0)
		return err;
	ld.clsact = err;
	info->l3 = ld.l3 = !tf_dev_has_eth_header(ifname);
	if (mode == TF_ATTACH_XDP && ld.l3)
		return tf_failx(EINVAL, "device %s: no Ethernet header, XDP cannot serve it; use --tc", ifname);

	err = tf_locktab_open(bpffs, true, max_locks, &tab);
	if (err)
		return err;
	snprintf(info->mounted, sizeof(info->mounted), "%s", tf_locktab_mounted(tab));
	ld.map_fd = tf_locktab_fd(tab);
	map_id[0] = tf_locktab_map_id(tab);
	if ((err = tf_steertab_open(bpffs, true, max_steers, &steers)))
		goto out;
	ld.steer_fd = tf_steertab_fd(steers);
	ld.steer_cfg_fd = tf_steertab_cfg_fd(steers);
	map_id[1] = tf_steertab_map_id(steers);
	if ((err = links_dir(bpffs, ifname)))
		goto out;

	/* Which ingress flavour. */
	if (mode == TF_ATTACH_XDP) {
		ingress = TF_HOOK_XDP;
	} else if (mode == TF_ATTACH_TC) {
		ingress = TF_HOOK_TC_IN;
	} else {
		fd = read_hook(bpffs, ifname, ifindex, TF_HOOK_XDP, &cur);
		if (fd >= 0)
			close(fd);
		if (cur.attached && cur.alive)
			ingress = TF_HOOK_XDP;
		else if (!prefer_tc && !ld.l3 && tf_dev_is_nic(ifname))
			ingress = TF_HOOK_XDP;	/* tried native below, tc if the driver has none */
		else
			ingress = TF_HOOK_TC_IN;
	}

	if (ingress == TF_HOOK_XDP && mode == TF_ATTACH_AUTO && !(cur.attached && cur.alive)) {
		err = ensure_hook(&ld, bpffs, ifname, ifindex, TF_HOOK_XDP, map_id, false, info);
		if (err == -EOPNOTSUPP || err == -EINVAL) {
			snprintf(info->note, sizeof(info->note), "%s: no native XDP in its driver: tc ingress",
				 ifname);
			ingress = TF_HOOK_TC_IN;
			err = 0;
		} else if (err) {
			goto out;
		}
	}
	err = ensure_hook(&ld, bpffs, ifname, ifindex, ingress, map_id, mode == TF_ATTACH_XDP, info);
	if (err)
		goto out;
	/* One ingress flavour only. */
	err = remove_hook(bpffs, ifname, ifindex, ingress == TF_HOOK_XDP ? TF_HOOK_TC_IN : TF_HOOK_XDP);
	if (err < 0)
		goto out;
	err = ensure_hook(&ld, bpffs, ifname, ifindex, TF_HOOK_TC_OUT, map_id, false, info);
	if (err)
		goto out;
	fill_info(bpffs, ifname, ifindex, info);
out:
	if (ld.skel)
		lock_bpf__destroy(ld.skel);	/* the pinned links keep the programs */
	tf_locktab_close(tab);
	tf_steertab_close(steers);
	if (err == -EINVAL && !*tf_strerror())
		err = tf_failx(EINVAL, "device %s: attach failed", ifname);
	return err;
}

int tf_attach(const char *bpffs, const char *ifname, enum tf_attach_mode mode, uint32_t max_locks,
	      uint32_t max_steers, struct tf_attach_info *info)
{
	tf_error_clear();
	return do_attach(bpffs, ifname, mode, false, max_locks, max_steers, info);
}

int tf_detach(const char *bpffs, const char *ifname)
{
	int ifindex = if_nametoindex(ifname);	/* 0 if the device is gone: pins still go */
	int removed = 0;

	if (!bpffs || !*bpffs)
		bpffs = TF_DEFAULT_BPFFS;
	for (int h = 0; h < TF_HOOK__COUNT; h++) {
		int r = remove_hook(bpffs, ifname, ifindex, h);

		if (r < 0)
			return r;
		removed += r;
	}
	tf_clsact_release(bpffs, ifname, ifindex);	/* a qdisc made for our filters, once empty */
	{
		char path[PATH_MAX];

		ns_links_dir(path, sizeof(path), bpffs);
		rmdir(path);	/* only if this namespace has nothing attached any more */
	}
	return removed;
}

int tf_attach_list(const char *bpffs, struct tf_attach_info **out, size_t *n)
{
	char path[PATH_MAX];
	struct tf_attach_info *v = NULL;
	struct dirent *de;
	size_t cnt = 0;
	DIR *d;

	*out = NULL;
	*n = 0;
	if (!bpffs || !*bpffs)
		bpffs = TF_DEFAULT_BPFFS;
	ns_links_dir(path, sizeof(path), bpffs);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : tf_fail(errno, "pin directory %s", path);
	while ((de = readdir(d))) {
		char name[sizeof(de->d_name)], *dash = NULL;
		bool known = false;
		size_t i;

		memcpy(name, de->d_name, sizeof(name));
		/* "<ifname>-<hook>[-clsact]": the hook names have dashes, so try each suffix */
		for (int h = 0; h < TF_HOOK__COUNT && !known; h++) {
			for (int c = 0; c < 2 && !known; c++) {
				char suffix[32];
				size_t ln = strlen(name), ls;

				snprintf(suffix, sizeof(suffix), "-%s%s", hook_names[h], c ? CLSACT_SUFFIX : "");
				ls = strlen(suffix);
				if (ln > ls && ln - ls < IF_NAMESIZE && !strcmp(name + ln - ls, suffix)) {
					dash = name + ln - ls;
					known = true;
				}
			}
		}
		if (!known)
			continue;
		*dash = '\0';
		tf_dev_unpin_name(name);
		for (i = 0; i < cnt && strcmp(v[i].ifname, name); i++)
			;
		if (i == cnt) {
			struct tf_attach_info *nv = realloc(v, (cnt + 1) * sizeof(*v));

			if (!nv) {
				closedir(d);
				free(v);
				return tf_fail(ENOMEM, "pin directory %s", path);
			}
			v = nv;
			memset(&v[cnt], 0, sizeof(v[cnt]));
			fill_info(bpffs, name, if_nametoindex(name), &v[cnt]);
			v[cnt].l3 = v[cnt].ifindex && !tf_dev_has_eth_header(name);
			cnt++;
		}
	}
	closedir(d);
	*out = v;
	*n = cnt;
	return 0;
}

/* ---- the device towards a peer ------------------------------------------------------------- */

int tf_route_dev(const struct tf_endpoint *addr, char *ifname, int *ifindex)
{
	char a[TF_ADDRSTRLEN];
	struct tf_route_info r;
	int err = tf_route_lookup(addr, &r);

	if (err)
		return err;
	if (!if_indextoname(r.oif, ifname))
		return tf_fail(errno, "route to %s: device %d", tf_endpoint_str(addr, a, sizeof(a)), r.oif);
	if (ifindex)
		*ifindex = r.oif;
	return 0;
}

static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;

int tf_attach_for_peer(const char *bpffs, const struct tf_endpoint *peer, char *ifname_out)
{
	char a[TF_ADDRSTRLEN];
	int err;

	tf_error_clear();
	err = tf_route_dev(peer, ifname_out, NULL);
	if (err)
		return err;
	/* AUTO keeps an ingress flavour that is there; prefer_tc picks tc when there is none.
	 * One thread at a time: two of a balancer's loops handing off their first
	 * connections at once would both find the device bare, and both attach. */
	pthread_mutex_lock(&attach_lock);
	err = do_attach(bpffs, ifname_out, TF_ATTACH_AUTO, true, 0, 0, NULL);
	pthread_mutex_unlock(&attach_lock);
	if (err)
		tf_error_prefix("lock device for peer %s", tf_endpoint_str(peer, a, sizeof(a)));
	return err;
}
