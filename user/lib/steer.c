// SPDX-License-Identifier: BSD-2-Clause
/*
 * The steer table: a pinned BPF hash map, one entry per handed-off
 * connection, and its settings (an array of one).  Both are created from the
 * lock programs' own object, which reads them, so they carry its BTF and
 * bpftool prints them by field name; no program is loaded for that.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "internal.h"
#include "lock.h"
#include "lock.skel.h"
#include "pinned_map.h"
#include "route.h"
#include "steer.h"
#include "map_walk.h"

struct tf_steertab {
	int fd;
	int cfg_fd;
	uint32_t capacity;
	uint32_t map_id;
	char mounted[PATH_MAX];
};

/* ---- the table ------------------------------------------------------------------------ */

static int check_maps(struct tf_steertab *t, const char *what)
{
	struct bpf_map_info info = {}, cinfo = {};
	__u32 len = sizeof(info), clen = sizeof(cinfo);

	if (bpf_obj_get_info_by_fd(t->fd, &info, &len) || bpf_obj_get_info_by_fd(t->cfg_fd, &cinfo, &clen))
		return tf_fail(errno, "steer table %s: map info", what);
	if (info.type != BPF_MAP_TYPE_HASH || info.key_size != sizeof(struct tf_tuple) ||
	    info.value_size != sizeof(struct tf_steer))
		return tf_failx(EINVAL, "steer table %s: not a tcpferry steer map (type %u, key %u, value %u bytes); "
				"remove it or use another --bpffs", what, info.type, info.key_size, info.value_size);
	if (cinfo.type != BPF_MAP_TYPE_ARRAY || cinfo.value_size != sizeof(struct tf_steer_cfg))
		return tf_failx(EINVAL, "steer table %s: its settings map is not tcpferry's (type %u, value %u bytes); "
				"remove %s and %s or use another --bpffs", what, cinfo.type, cinfo.value_size,
				TF_PIN_STEERS, TF_PIN_STEER_CFG);
	t->capacity = info.max_entries;
	t->map_id = info.id;
	return 0;
}

/* Make both maps from the skeleton, with no program loaded, and pin them (settings first). */
static int create_maps(const char *bpffs, uint32_t max_steers)
{
	char path[PATH_MAX], cfg_path[PATH_MAX];
	struct lock_bpf *skel;
	int err;

	snprintf(path, sizeof(path), "%s/%s", bpffs, TF_PIN_STEERS);
	snprintf(cfg_path, sizeof(cfg_path), "%s/%s", bpffs, TF_PIN_STEER_CFG);
	err = tf_pinned_maps_create("steer table", path, "steers", max_steers, &skel);
	if (err)
		return err;
	/* -EEXIST: somebody else made it first; theirs is used */
	err = tf_pinned_map_pin(bpf_map__fd(skel->maps.steer_cfg), "steer table", cfg_path);
	if (!err || err == -EEXIST)
		err = tf_pinned_map_pin(bpf_map__fd(skel->maps.steers), "steer table", path);
	lock_bpf__destroy(skel);
	return err == -EEXIST ? 0 : err;
}

static int open_pins(struct tf_steertab *t, const char *bpffs)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", bpffs, TF_PIN_STEER_CFG);
	t->cfg_fd = bpf_obj_get(path);
	if (t->cfg_fd < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/%s", bpffs, TF_PIN_STEERS);
	t->fd = bpf_obj_get(path);
	if (t->fd < 0)
		return -errno;
	return 0;
}

int tf_steertab_open(const char *bpffs, bool create, uint32_t max_steers, struct tf_steertab **out)
{
	struct tf_steertab *t;
	char path[PATH_MAX];
	int err;

	*out = NULL;
	if (!bpffs || !*bpffs)
		bpffs = TF_DEFAULT_BPFFS;
	if (snprintf(path, sizeof(path), "%s/%s", bpffs, TF_PIN_STEER_CFG) >= (int)sizeof(path))
		return tf_failx(ENAMETOOLONG, "steer table %s: path too long", bpffs);
	snprintf(path, sizeof(path), "%s/%s", bpffs, TF_PIN_STEERS);
	t = calloc(1, sizeof(*t));
	if (!t)
		return tf_fail(ENOMEM, "steer table %s", path);
	t->fd = t->cfg_fd = -1;
	err = open_pins(t, bpffs);
	if (err == -ENOENT && create) {
		tf_steertab_close(t);
		t = calloc(1, sizeof(*t));
		if (!t)
			return tf_fail(ENOMEM, "steer table %s", path);
		t->fd = t->cfg_fd = -1;
		err = tf_pin_dir_prepare(bpffs, t->mounted, sizeof(t->mounted));
		if (!err)
			err = create_maps(bpffs, max_steers ? max_steers : TF_DEFAULT_MAX_STEERS);
		if (!err)
			err = open_pins(t, bpffs);
		else {
			tf_steertab_close(t);
			return err;
		}
	}
	if (err) {
		tf_steertab_close(t);
		return tf_pinned_map_open_failed(-err, "steer table", path);
	}
	err = check_maps(t, path);
	if (err) {
		tf_steertab_close(t);
		return err;
	}
	*out = t;
	return 0;
}

int tf_steertab_from_fds(int steers_fd, int cfg_fd, struct tf_steertab **out)
{
	struct tf_steertab *t = calloc(1, sizeof(*t));
	int err;

	*out = NULL;
	if (!t)
		return tf_fail(ENOMEM, "steer table fd %d", steers_fd);
	t->fd = dup(steers_fd);
	t->cfg_fd = dup(cfg_fd);
	if (t->fd < 0 || t->cfg_fd < 0) {
		err = errno;
		tf_steertab_close(t);
		return tf_fail(err, "steer table fd %d", steers_fd);
	}
	err = check_maps(t, "(fd)");
	if (err) {
		tf_steertab_close(t);
		return err;
	}
	*out = t;
	return 0;
}

void tf_steertab_close(struct tf_steertab *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	if (t->cfg_fd >= 0)
		close(t->cfg_fd);
	free(t);
}

int tf_steertab_fd(const struct tf_steertab *t) { return t->fd; }
int tf_steertab_cfg_fd(const struct tf_steertab *t) { return t->cfg_fd; }
uint32_t tf_steertab_capacity(const struct tf_steertab *t) { return t->capacity; }
uint32_t tf_steertab_map_id(const struct tf_steertab *t) { return t->map_id; }
const char *tf_steertab_mounted(const struct tf_steertab *t) { return t->mounted; }

int tf_steer_cfg_get(struct tf_steertab *t, struct tf_steer_cfg *c)
{
	__u32 zero = 0;

	if (bpf_map_lookup_elem(t->cfg_fd, &zero, c))
		return tf_fail(errno, "steer table: read its settings (%s)", TF_PIN_STEER_CFG);
	return 0;
}

static int cfg_put(struct tf_steertab *t, const struct tf_steer_cfg *c)
{
	__u32 zero = 0;

	if (bpf_map_update_elem(t->cfg_fd, &zero, c, BPF_ANY))
		return tf_fail(errno, "steer table: write its settings (%s)", TF_PIN_STEER_CFG);
	return 0;
}

int tf_steer_cfg_set(struct tf_steertab *t, uint64_t idle_timeout_ns, uint64_t fin_linger_ns)
{
	struct tf_steer_cfg c;
	int err = tf_steer_cfg_get(t, &c);

	if (err)
		return err;
	c.idle_timeout_ns = idle_timeout_ns;
	c.fin_linger_ns = fin_linger_ns;
	return cfg_put(t, &c);
}

/* ---- entries ----------------------------------------------------------------------------- */

static const char *const mode_names[] = {
	[TF_STEER_L2] = "l2",
	[TF_STEER_L3] = "l3",
};

const char *tf_steer_mode_name(uint32_t mode)
{
	return mode < ARRAY_SIZE(mode_names) && mode_names[mode] ? mode_names[mode] : "unknown";
}

int tf_steer_mode_parse(const char *s, enum tf_steer_mode *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(mode_names); i++) {
		if (mode_names[i] && !strcmp(s, mode_names[i])) {
			*out = i;
			return 0;
		}
	}
	return tf_failx(EINVAL, "steer mode '%s': expected l2 (rewrite the MACs) or l3 (IPIP / IP6IP6)", s);
}

bool tf_steer_expired(const struct tf_steer *v, const struct tf_steer_cfg *c, uint64_t now_ns)
{
	return now_ns > tf_steer_expires_ns(v, c);
}

static void backend_str(const struct tf_steer *v, char *buf, size_t len)
{
	if (!inet_ntop(v->backend_family == AF_INET6 ? AF_INET6 : AF_INET, v->backend_addr, buf, len))
		snprintf(buf, len, "?");
}

static int fail_exists(struct tf_steertab *t, const struct tf_tuple *k, const char *what)
{
	char b[INET6_ADDRSTRLEN];
	struct tf_steer old;
	uint64_t now = tf_mono_ns();

	if (bpf_map_lookup_elem(t->fd, k, &old))
		return tf_failx(EEXIST, "steer %s: already steered; tcpferry steer del it first", what);
	backend_str(&old, b, sizeof(b));
	return tf_failx(EEXIST, "steer %s: already steered (to %s, %s, %llu s ago); tcpferry steer del it first",
			what, b, tf_steer_mode_name(old.mode),
			(unsigned long long)(now > old.since_ns ? (now - old.since_ns) / 1000000000ull : 0));
}

/*
 * Add with BPF_NOEXIST; an expired entry there (the programs ignore it) is
 * replaced, deleted only while a fresh look still finds it expired with the
 * same since_ns.  0, or -1 with errno.
 */
static int add_or_replace_expired(struct tf_steertab *t, const struct tf_tuple *k, const struct tf_steer *v)
{
	struct tf_steer old, again;
	int err;

	if (bpf_map_update_elem(t->fd, k, v, BPF_NOEXIST) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	err = tf_steer_get_live(t, k, &old);
	if (err == 0) {
		errno = EEXIST;
		return -1;
	}
	if (err == -ESTALE && bpf_map_lookup_elem(t->fd, k, &again) == 0 && again.since_ns == old.since_ns &&
	    again.last_seen_ns == old.last_seen_ns)
		bpf_map_delete_elem(t->fd, k);
	return bpf_map_update_elem(t->fd, k, v, BPF_NOEXIST);
}

int tf_steer_add(struct tf_steertab *t, const struct tf_tuple *k, const struct tf_steer *spec)
{
	char what[TF_TUPLESTRLEN];
	struct tf_steer v = *spec;
	struct tf_steer_cfg c;
	int err;

	tf_tuple_str(k, what, sizeof(what));
	if (v.mode != TF_STEER_L2 && v.mode != TF_STEER_L3)
		return tf_failx(EINVAL, "steer %s: mode %u is neither l2 nor l3", what, v.mode);
	if (!v.out_ifindex)
		return tf_failx(EINVAL, "steer %s: no output device", what);
	if (v.backend_family != k->family)
		return tf_failx(EINVAL, "steer %s: the backend's address family differs from the connection's", what);
	memset(v.pad, 0, sizeof(v.pad));
	v.since_ns = v.last_seen_ns = tf_mono_ns();
	v.fin_ns = v.packets = v.bytes = 0;
	v.owner_pid = getpid();
	/* The programs look steers up once in_use is set: before the first entry goes in. */
	err = tf_steer_cfg_get(t, &c);
	if (!err && !c.in_use) {
		c.in_use = 1;
		err = cfg_put(t, &c);
	}
	if (err) {
		tf_error_prefix("steer %s", what);
		return err;
	}
	if (add_or_replace_expired(t, k, &v) == 0)
		return 0;
	if (errno == EEXIST)
		return fail_exists(t, k, what);
	if (errno == E2BIG || errno == ENOSPC || errno == ENOMEM)
		return tf_failx(ENOSPC, "steer %s: steer table full (%u entries); remove ended ones (tcpferry steer gc) "
				"or raise --max-steers (detach every device, remove %s, attach with --max-steers N)",
				what, t->capacity, TF_PIN_STEERS);
	return tf_fail(errno, "steer %s", what);
}

int tf_steer_del(struct tf_steertab *t, const struct tf_tuple *k)
{
	if (bpf_map_delete_elem(t->fd, k) == 0)
		return 0;
	return tf_tuple_map_failed(k, "steer del", "not steered (see tcpferry steer list)");
}

int tf_steer_get(struct tf_steertab *t, const struct tf_tuple *k, struct tf_steer *v)
{
	if (bpf_map_lookup_elem(t->fd, k, v) == 0)
		return 0;
	return tf_tuple_map_failed(k, "steer", "not steered");
}

int tf_steer_get_live(struct tf_steertab *t, const struct tf_tuple *k, struct tf_steer *v)
{
	struct tf_steer_cfg c = {};

	if (bpf_map_lookup_elem(t->fd, k, v))
		return -ENOENT;
	tf_steer_cfg_get(t, &c);
	return tf_steer_expired(v, &c, tf_mono_ns()) ? -ESTALE : 0;
}

int tf_steer_end(struct tf_steertab *t, const struct tf_tuple *k)
{
	struct tf_steer v;

	if (bpf_map_lookup_elem(t->fd, k, &v))
		return tf_tuple_map_failed(k, "steer", "not steered");
	if (v.fin_ns)
		return 0;
	/* A packet steered meanwhile may lose its count: counters only. */
	v.fin_ns = tf_mono_ns();
	if (bpf_map_update_elem(t->fd, k, &v, BPF_EXIST))
		return tf_tuple_map_failed(k, "steer", "not steered");
	return 0;
}

int tf_steer_list(struct tf_steertab *t, struct tf_steer_entry **out, size_t *n)
{
	return TF_MAP_WALK(t->fd, struct tf_steer_entry, out, n, "steer table");
}

static int remove_if(struct tf_steertab *t, uint64_t now_ns, bool only_expired, unsigned *removed)
{
	struct tf_steer_entry *e;
	struct tf_steer_cfg c = {};
	size_t n;
	int err = tf_steer_list(t, &e, &n);

	*removed = 0;
	if (err)
		return err;
	if (only_expired && (err = tf_steer_cfg_get(t, &c))) {
		free(e);
		return err;
	}
	for (size_t i = 0; i < n; i++) {
		if (only_expired && !tf_steer_expired(&e[i].val, &c, now_ns))
			continue;
		/* Gone meanwhile (an RST, another gc): not an error. */
		if (bpf_map_delete_elem(t->fd, &e[i].key) == 0)
			(*removed)++;
		else if (errno != ENOENT) {
			err = tf_fail(errno, "steer table: remove an entry");
			break;
		}
	}
	free(e);
	return err;
}

int tf_steer_gc(struct tf_steertab *t, uint64_t now_ns, unsigned *removed)
{
	unsigned dummy;

	return remove_if(t, now_ns ? now_ns : tf_mono_ns(), true, removed ? removed : &dummy);
}

int tf_steer_flush(struct tf_steertab *t, unsigned *removed)
{
	unsigned dummy;

	return remove_if(t, 0, false, removed ? removed : &dummy);
}

/* ---- where the packets go ------------------------------------------------------------------ */

int tf_mac_parse(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
		return tf_failx(EINVAL, "MAC address '%s': expected six hex bytes, as 02:00:5e:10:00:01", s);
	for (int i = 0; i < 6; i++)
		mac[i] = b[i];
	return 0;
}

const char *tf_mac_str(const uint8_t mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return buf;
}

static int dev_mac(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr = {};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (s < 0)
		return tf_fail(errno, "device %s: socket", ifname);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(s, SIOCGIFHWADDR, &ifr))
		err = tf_fail(errno, "device %s: its MAC address", ifname);
	else if (ifr.ifr_hwaddr.sa_family != 1 /* ARPHRD_ETHER */)
		err = tf_failx(EINVAL, "device %s: no Ethernet device (hardware type %u); steering needs one",
			       ifname, ifr.ifr_hwaddr.sa_family);
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(s);
	return err;
}

/*
 * The MAC of addr on ifindex; when the neighbour table has none, a datagram
 * to addr's discard port (9) out of that device makes the kernel ask, and
 * the table is read again for up to a second.
 */
static int neigh_mac(int family, const uint8_t *addr, int ifindex, const char *ifname, uint8_t mac[6])
{
	struct sockaddr_storage ss = {};
	socklen_t sl;
	char a[INET6_ADDRSTRLEN];
	int s, err;

	if (tf_neigh_lookup(family, addr, ifindex, mac) == 0)
		return 0;
	inet_ntop(family, addr, a, sizeof(a));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons(9);
		memcpy(&in->sin_addr, addr, 4);
		sl = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(9);
		memcpy(&in6->sin6_addr, addr, 16);
		in6->sin6_scope_id = ifindex;
		sl = sizeof(*in6);
	}
	s = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s >= 0) {
		setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, ifname, strlen(ifname));
		sendto(s, "", 0, MSG_DONTWAIT, (struct sockaddr *)&ss, sl);
		close(s);
	}
	for (int i = 0; i < 100; i++) {
		poll(NULL, 0, 10);
		err = tf_neigh_lookup(family, addr, ifindex, mac);
		if (err != -ENOENT)
			return err ? tf_fail(-err, "neighbour %s on %s", a, ifname) : 0;
	}
	return tf_failx(EHOSTUNREACH, "neighbour %s on %s: no answer to ARP / neighbour discovery within 1 s; "
			"is it up on that segment? (or give its MAC with --mac)", a, ifname);
}

int tf_steer_resolve(struct tf_steer *v, enum tf_steer_mode mode, const struct tf_endpoint *backend,
		     const char *dev, const uint8_t mac[6], const struct tf_endpoint *outer_src)
{
	char a[TF_ADDRSTRLEN], ifname[IF_NAMESIZE] = "";
	struct tf_route_info r;
	struct tf_tuple wire;	/* the backend's address as on the wire (v4-mapped: IPv4) */
	struct tf_endpoint any = { 0 };
	const uint8_t *hop;
	int err;

	memset(v, 0, sizeof(*v));
	tf_addr_str(backend, a, sizeof(a));
	v->mode = mode;
	any = *backend;
	any.port = 1;
	err = tf_tuple_make(&any, &any, &wire);
	if (err)
		return tf_failx(EINVAL, "backend %s: not an IPv4 or IPv6 address", a);
	v->backend_family = wire.family;
	memcpy(v->backend_addr, wire.local_addr, sizeof(v->backend_addr));

	err = tf_route_lookup(backend, &r);
	if (err && (mode == TF_STEER_L3 || !dev)) {
		char why[256];

		snprintf(why, sizeof(why), "%s", tf_strerror());
		return tf_failx(-err, "backend %s: %s; add a route to it (ip route)%s", a, why,
				mode == TF_STEER_L2 ? " or give --dev" : "");
	}
	if (dev) {
		v->out_ifindex = if_nametoindex(dev);
		if (!v->out_ifindex)
			return tf_failx(ENODEV, "backend %s: device %s: no such device in this network namespace", a, dev);
		snprintf(ifname, sizeof(ifname), "%s", dev);
	} else {
		v->out_ifindex = r.oif;
		if (!if_indextoname(r.oif, ifname))
			return tf_fail(errno, "backend %s: device %d", a, r.oif);
	}
	if ((err = dev_mac(ifname, v->src_mac))) {
		tf_error_prefix("backend %s", a);
		return err;
	}
	if (mode == TF_STEER_L3) {
		if (outer_src) {
			struct tf_tuple s;
			struct tf_endpoint e = *outer_src;

			e.port = 1;
			if (tf_tuple_make(&e, &e, &s) || s.family != wire.family)
				return tf_failx(EINVAL, "backend %s: the outer source is not an address of its family", a);
			memcpy(v->outer_src, s.local_addr, sizeof(v->outer_src));
		} else if (r.has_prefsrc) {
			memcpy(v->outer_src, r.prefsrc, wire.family == AF_INET ? 4 : 16);
		} else {
			return tf_failx(EADDRNOTAVAIL, "backend %s: the route to it names no source address; "
					"give the outer source with --src", a);
		}
	} else if (!err && r.has_gateway && !dev) {
		return tf_failx(EINVAL, "backend %s: not on a segment of this host (the route goes via a router); "
				"l2 steering needs the backend on the same segment: use --mode l3", a);
	}
	if (mac) {
		memcpy(v->next_hop_mac, mac, 6);
		return 0;
	}
	hop = mode == TF_STEER_L3 && r.has_gateway ? r.gateway : (const uint8_t *)v->backend_addr;
	err = neigh_mac(wire.family, hop, v->out_ifindex, ifname, v->next_hop_mac);
	if (err)
		tf_error_prefix("backend %s: %s", a, mode == TF_STEER_L3 && r.has_gateway ? "its router" : "itself");
	return err;
}
