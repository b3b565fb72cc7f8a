// SPDX-License-Identifier: BSD-2-Clause
/* clsact filters for the lock and the recorder: see clsact.h. */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "clsact.h"
#include "internal.h"
#include "netdev.h"

static void marker_path(char *buf, size_t len, const char *bpffs, const char *ifname)
{
	char pin[IF_NAMESIZE];

	snprintf(buf, len, "%s/links/%lu/%s-clsact-qdisc", bpffs, tf_netns_id(), tf_dev_pin_name(ifname, pin));
}

/* The marker says "tcpferry made this qdisc"; its directories are made as attach makes them. */
static int mark_created(const char *bpffs, const char *ifname)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/links", bpffs);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/links/%lu", bpffs, tf_netns_id());
	mkdir(path, 0700);
	marker_path(path, sizeof(path), bpffs, ifname);
	if (mkdir(path, 0700) && errno != EEXIST)
		return tf_fail(errno, "device %s: mark the clsact qdisc as tcpferry's (%s)", ifname, path);
	return 0;
}

/*
 * libbpf prints the kernel's words for what we expect (a qdisc that is there,
 * a filter that is not); a failure is reported through tf_fail instead.
 */
static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
	return 0;
}

int tf_clsact_attach(const char *bpffs, const char *ifname, int ifindex, bool ingress, uint32_t handle,
		     int prog_fd)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = handle, .priority = handle, .prog_fd = prog_fd,
			    .flags = BPF_TC_F_REPLACE);
	libbpf_print_fn_t old = libbpf_set_print(quiet);
	int err;

	err = bpf_tc_hook_create(&hook);
	if (!err && (err = mark_created(bpffs, ifname))) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);	/* not remembered: would never be removed */
		libbpf_set_print(old);
		return err;
	}
	if (err && err != -EEXIST) {
		libbpf_set_print(old);
		return tf_fail(-err, "device %s: create a clsact qdisc", ifname);
	}
	err = bpf_tc_attach(&hook, &o);
	libbpf_set_print(old);
	if (err)
		return tf_fail(-err, "device %s: attach a tc filter at clsact %s", ifname,
			       ingress ? "ingress" : "egress");
	return 0;
}

uint32_t tf_clsact_prog(int ifindex, bool ingress, uint32_t handle)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = handle, .priority = handle);
	libbpf_print_fn_t old;
	int err;

	if (!ifindex)
		return 0;
	old = libbpf_set_print(quiet);
	err = bpf_tc_query(&hook, &o);
	libbpf_set_print(old);
	return err ? 0 : o.prog_id;
}

void tf_clsact_detach(int ifindex, bool ingress, uint32_t handle)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = handle, .priority = handle);

	libbpf_print_fn_t old;

	if (!ifindex)
		return;
	old = libbpf_set_print(quiet);
	bpf_tc_detach(&hook, &o);
	libbpf_set_print(old);
}

void tf_clsact_release(const char *bpffs, const char *ifname, int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	char path[PATH_MAX];

	marker_path(path, sizeof(path), bpffs, ifname);
	if (access(path, F_OK))
		return;
	if (ifindex) {
		if (tf_clsact_filters(ifindex, true, NULL, 0) || tf_clsact_filters(ifindex, false, NULL, 0))
			return;	/* someone's filters are still there: the qdisc stays, and the marker */
		libbpf_print_fn_t old = libbpf_set_print(quiet);

		bpf_tc_hook_destroy(&hook);
		libbpf_set_print(old);
	}
	rmdir(path);
	snprintf(path, sizeof(path), "%s/links/%lu", bpffs, tf_netns_id());
	rmdir(path);	/* only if nothing else is pinned there */
}

/* One RTM_NEWTFILTER: a filter (it has a handle; the per-priority header has none) and its program. */
static void count_filter(struct nlmsghdr *nh, uint32_t *ids, uint32_t max, int *n)
{
	struct tcmsg *t = NLMSG_DATA(nh);
	int len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*t));
	uint32_t id = 0;

	if (len < 0 || !t->tcm_handle)
		return;
	for (struct rtattr *a = (struct rtattr *)((char *)t + NLMSG_ALIGN(sizeof(*t))); RTA_OK(a, len);
	     a = RTA_NEXT(a, len)) {
		int ol = RTA_PAYLOAD(a);

		if (a->rta_type != TCA_OPTIONS)
			continue;
		for (struct rtattr *o = RTA_DATA(a); RTA_OK(o, ol); o = RTA_NEXT(o, ol))
			if (o->rta_type == TCA_BPF_ID && RTA_PAYLOAD(o) >= 4)
				memcpy(&id, RTA_DATA(o), 4);
	}
	if (ids && (uint32_t)*n < max)
		ids[*n] = id;
	(*n)++;
}

int tf_clsact_filters(int ifindex, bool ingress, uint32_t *ids, uint32_t max)
{
	struct {
		struct nlmsghdr nh;
		struct tcmsg t;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETTFILTER,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.t = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex,
		       .tcm_parent = TC_H_MAKE(TC_H_CLSACT, ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS) },
	};
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[16384] __attribute__((aligned(4)));
	int s, n = 0, len;
	bool done = false;

	if (!ifindex)
		return 0;
	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0)
		return 0;
	if (sendto(s, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	while (!done && (len = recv(s, buf, sizeof(buf), 0)) > 0) {
		for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (unsigned)len);
		     nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR) {
				done = true;	/* an error: no clsact qdisc, so no filter */
				break;
			}
			if (nh->nlmsg_type == RTM_NEWTFILTER)
				count_filter(nh, ids, max, &n);
		}
	}
out:
	close(s);
	return n;
}
