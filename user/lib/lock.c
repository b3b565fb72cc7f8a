// SPDX-License-Identifier: BSD-2-Clause
/*
 * The lock table: a pinned BPF hash map, one entry per locked connection.
 * The map is created from the lock programs' own object (so it carries their
 * BTF and bpftool prints it by field name) with every program left unloaded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "internal.h"
#include "lock.h"
#include "map_walk.h"
#include "lock.skel.h"
#include "lock_bulk.h"
#include "pinned_map.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif


struct tf_locktab {
	int fd;
	uint32_t capacity;
	uint32_t map_id;
	char mounted[PATH_MAX];
	struct tf_lock_bulk *bulk;	/* loaded on the first bulk lock or unlock */
};

/* ---- the pin directory ------------------------------------------------------- */

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

/*
 * A bpffs mounted in a mount namespace of this command's own (ip netns exec
 * makes one, with a fresh /sys) goes away with it, and with it the pins that
 * keep the lock table and the attached programs alive: an attach that seems
 * to work and is gone when the command returns.  So mount only in the mount
 * namespace of the process that started us (or where we cannot tell).  Not
 * PID 1's: containers and sandboxes often run every shell in a namespace of
 * their own, which lasts.
 */
static int mount_would_vanish(const char *where)
{
	struct stat self, parent;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)getppid());
	if (stat("/proc/self/ns/mnt", &self) || stat(path, &parent) ||
	    (self.st_ino == parent.st_ino && self.st_dev == parent.st_dev))
		return 0;
	return tf_failx(EXDEV, "pin directory %s: no bpffs here, and this command runs in a mount namespace of "
			"its own (ip netns exec makes one), where a bpffs it mounts vanishes when it exits, with the "
			"pins and the attached programs; use tcpferry -n NETNS instead of ip netns exec, or --bpffs "
			"on a bpffs mounted on the host", where);
}

/*
 * A bpffs mounted on a directory hides what it holds (a dump directory
 * given to --bpffs by mistake: its images vanish from view): only on an
 * empty one.  dir is the --bpffs path, where the mount point it names.
 */
static int check_empty(const char *where, const char *dir)
{
	struct dirent *e;
	char first[NAME_MAX + 1] = "", more[32] = "";
	int n = 0;
	DIR *d = opendir(where);

	if (!d)
		return tf_fail(errno, "pin directory %s: %s", dir, where);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!n++)
			snprintf(first, sizeof(first), "%s", e->d_name);
	}
	closedir(d);
	if (!n)
		return 0;
	if (n > 1)
		snprintf(more, sizeof(more), " and %d more", n - 1);
	return tf_failx(ENOTEMPTY, "pin directory %s: %s is no bpffs and not empty (it holds '%s'%s), and a bpffs "
			"mounted there would hide what it holds; give --bpffs an empty directory or one on a bpffs "
			"(default /sys/fs/bpf/tcpferry; mount -t bpf bpf DIR makes one)", dir, where, first, more);
}

static int mount_bpffs(const char *dir)
{
	int err = mount_would_vanish(dir);

	if (!err)
		err = check_empty(dir, dir);
	if (err)
		return err;
	if (mount("bpf", dir, "bpf", 0, "mode=0700"))
		return tf_fail(errno, "mount bpffs on %s", dir);
	return 0;
}

int tf_pin_dir_prepare(const char *dir, char *mounted, size_t mounted_len)
{
	char parent[PATH_MAX];
	struct stat st;
	char *slash;

	if (mounted && mounted_len)
		mounted[0] = '\0';
	if (!*dir)
		return tf_failx(EINVAL, "pin directory '': an empty path; give --bpffs a directory");
	if (snprintf(parent, sizeof(parent), "%s", dir) >= (int)sizeof(parent))
		return tf_failx(ENAMETOOLONG, "pin directory %s: path too long", dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	else
		snprintf(parent, sizeof(parent), "/");

	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return tf_failx(ENOTDIR, "pin directory %s: not a directory", dir);
		if (is_bpffs(dir))
			return 0;
		/* An ordinary directory: put a bpffs on it. */
		int err = mount_bpffs(dir);

		if (err)
			return err;
		if (mounted)
			snprintf(mounted, mounted_len, "%s", dir);
		return 0;
	}
	if (is_bpffs(parent)) {
		if (mkdir(dir, 0700) && errno != EEXIST)
			return tf_fail(errno, "pin directory %s: mkdir", dir);
		return 0;
	}
	/* The parent is no bpffs: a directory of our own with a bpffs on it ... */
	if (mkdir(dir, 0700) == 0) {
		int err = mount_bpffs(dir);

		if (err) {
			rmdir(dir);
			return err;
		}
		if (mounted)
			snprintf(mounted, mounted_len, "%s", dir);
		return 0;
	}
	/* ... or, where no directory can be made (/sys/fs/bpf on sysfs), on the parent. */
	if (stat(parent, &st) || !S_ISDIR(st.st_mode))
		return tf_failx(ENOENT, "pin directory %s: %s does not exist; create it or pass --bpffs",
				dir, parent);
	int err = mount_would_vanish(dir);

	if (!err)
		err = check_empty(parent, dir);
	if (err)
		return err;
	if (mount("bpf", parent, "bpf", 0, "mode=0700"))
		return tf_fail(errno, "pin directory %s: mount bpffs on %s", dir, parent);
	if (mounted)
		snprintf(mounted, mounted_len, "%s", parent);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return tf_fail(errno, "pin directory %s: mkdir", dir);
	return 0;
}

/* ---- the table ------------------------------------------------------------------ */

static int check_map(int fd, const char *what, struct tf_locktab *t)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return tf_fail(errno, "lock table %s: map info", what);
	if (info.type != BPF_MAP_TYPE_HASH || info.key_size != sizeof(struct tf_tuple) ||
	    info.value_size != sizeof(struct tf_lock))
		return tf_failx(EINVAL, "lock table %s: not a tcpferry lock map (type %u, key %u, value %u bytes); "
				"remove it or use another --bpffs", what, info.type, info.key_size,
				info.value_size);
	t->capacity = info.max_entries;
	t->map_id = info.id;
	return 0;
}

/* Create the map from the skeleton with no program loaded, and pin it. */
static int create_map(const char *path, uint32_t max_locks)
{
	struct lock_bpf *skel;
	int fd, err;

	err = tf_pinned_maps_create("lock table", path, "locks", max_locks, &skel);
	if (err)
		return err;
	fd = dup(bpf_map__fd(skel->maps.locks));
	lock_bpf__destroy(skel);
	if (fd < 0)
		return tf_fail(errno, "lock table %s: dup", path);
	err = tf_pinned_map_pin(fd, "lock table", path);
	if (err) {
		close(fd);
		return err;	/* -EEXIST: somebody else made it first: use theirs */
	}
	return fd;
}

int tf_locktab_open(const char *bpffs, bool create, uint32_t max_locks, struct tf_locktab **out)
{
	struct tf_locktab *t;
	char path[PATH_MAX];
	int fd, err;

	*out = NULL;
	if (!bpffs || !*bpffs)
		bpffs = TF_DEFAULT_BPFFS;
	if (snprintf(path, sizeof(path), "%s/%s", bpffs, TF_PIN_LOCKS) >= (int)sizeof(path))
		return tf_failx(ENAMETOOLONG, "lock table %s: path too long", bpffs);
	t = calloc(1, sizeof(*t));
	if (!t)
		return tf_fail(ENOMEM, "lock table %s", path);

	fd = bpf_obj_get(path);
	if (fd < 0 && errno == ENOENT && create) {
		err = tf_pin_dir_prepare(bpffs, t->mounted, sizeof(t->mounted));
		if (err) {
			free(t);
			return err;
		}
		fd = create_map(path, max_locks ? max_locks : TF_DEFAULT_MAX_LOCKS);
		if (fd == -EEXIST)
			fd = bpf_obj_get(path);
		else if (fd < 0) {
			free(t);
			return fd;
		}
	}
	if (fd < 0) {
		err = errno;
		free(t);
		return tf_pinned_map_open_failed(err, "lock table", path);
	}
	t->fd = fd;
	err = check_map(fd, path, t);
	if (err) {
		tf_locktab_close(t);
		return err;
	}
	*out = t;
	return 0;
}

int tf_locktab_from_fd(int map_fd, struct tf_locktab **out)
{
	struct tf_locktab *t = calloc(1, sizeof(*t));
	int err;

	*out = NULL;
	if (!t)
		return tf_fail(ENOMEM, "lock table fd %d", map_fd);
	t->fd = dup(map_fd);
	if (t->fd < 0) {
		free(t);
		return tf_fail(errno, "lock table fd %d", map_fd);
	}
	err = check_map(t->fd, "(fd)", t);
	if (err) {
		tf_locktab_close(t);
		return err;
	}
	*out = t;
	return 0;
}

void tf_locktab_close(struct tf_locktab *t)
{
	if (!t)
		return;
	if (t->bulk)
		tf_lock_bulk_unload(t->bulk);
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

int tf_locktab_fd(const struct tf_locktab *t) { return t->fd; }
uint32_t tf_locktab_capacity(const struct tf_locktab *t) { return t->capacity; }
uint32_t tf_locktab_map_id(const struct tf_locktab *t) { return t->map_id; }
const char *tf_locktab_mounted(const struct tf_locktab *t) { return t->mounted; }

/* ---- tuples ------------------------------------------------------------------------ */

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static bool is_v4mapped(const struct tf_endpoint *e)
{
	return e->family == AF_INET6 && !memcmp(e->addr, v4mapped_prefix, 12);
}

/* The wire family and address of an endpoint: v4-mapped counts as IPv4. */
static int wire_addr(const struct tf_endpoint *e, uint32_t addr[4])
{
	memset(addr, 0, 16);
	if (e->family == AF_INET) {
		memcpy(addr, e->addr, 4);
		return AF_INET;
	}
	if (e->family != AF_INET6)
		return -1;
	if (is_v4mapped(e)) {
		memcpy(addr, e->addr + 12, 4);
		return AF_INET;
	}
	memcpy(addr, e->addr, 16);
	return AF_INET6;
}

int tf_tuple_make(const struct tf_endpoint *local, const struct tf_endpoint *peer, struct tf_tuple *out)
{
	char a[TF_ADDRSTRLEN], b[TF_ADDRSTRLEN];
	int lf, pf;

	memset(out, 0, sizeof(*out));
	lf = wire_addr(local, out->local_addr);
	pf = wire_addr(peer, out->peer_addr);
	if (lf < 0 || pf < 0 || lf != pf)
		return tf_failx(EINVAL, "lock %s -> %s: addresses of different families",
				tf_endpoint_str(local, a, sizeof(a)), tf_endpoint_str(peer, b, sizeof(b)));
	if (!local->port || !peer->port)
		return tf_failx(EINVAL, "lock %s -> %s: port 0",
				tf_endpoint_str(local, a, sizeof(a)), tf_endpoint_str(peer, b, sizeof(b)));
	out->family = lf;
	out->local_port = htons(local->port);
	out->peer_port = htons(peer->port);
	return 0;
}

int tf_tuple_parse(const char *local, const char *peer, struct tf_tuple *out)
{
	struct tf_endpoint l, p;
	int err;

	err = tf_endpoint_parse(local, &l);
	if (!err)
		err = tf_endpoint_parse(peer, &p);
	if (err) {
		tf_error_prefix("lock %s %s", local, peer);
		return err;
	}
	return tf_tuple_make(&l, &p, out);
}

static void endpoint_of(int family, const uint32_t addr[4], uint16_t port_be, struct tf_endpoint *e)
{
	memset(e, 0, sizeof(*e));
	e->family = family;
	e->port = ntohs(port_be);
	memcpy(e->addr, addr, family == AF_INET ? 4 : 16);
}

void tf_tuple_endpoints(const struct tf_tuple *k, struct tf_endpoint *local, struct tf_endpoint *peer)
{
	endpoint_of(k->family, k->local_addr, k->local_port, local);
	endpoint_of(k->family, k->peer_addr, k->peer_port, peer);
}

const char *tf_tuple_str(const struct tf_tuple *k, char *buf, size_t len)
{
	char a[TF_ADDRSTRLEN], b[TF_ADDRSTRLEN];
	struct tf_endpoint l, p;

	tf_tuple_endpoints(k, &l, &p);
	snprintf(buf, len, "%s -> %s", tf_endpoint_str(&l, a, sizeof(a)), tf_endpoint_str(&p, b, sizeof(b)));
	return buf;
}

/* ---- locks ------------------------------------------------------------------------- */

uint64_t tf_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static const char *const reason_names[] = {
	[TF_LOCK_MANUAL] = "manual",
	[TF_LOCK_DUMP] = "dump",
	[TF_LOCK_RESTORE] = "restore",
	[TF_LOCK_HANDOFF] = "handoff",
};

const char *tf_lock_reason_name(uint32_t reason)
{
	return reason < ARRAY_SIZE(reason_names) ? reason_names[reason] : "unknown";
}

int tf_lock_reason_parse(const char *s, enum tf_lock_reason *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(reason_names); i++) {
		if (!strcmp(s, reason_names[i])) {
			*out = i;
			return 0;
		}
	}
	return tf_failx(EINVAL, "lock reason '%s': expected manual, dump, restore or handoff", s);
}

static void lock_value(struct tf_lock *v, enum tf_lock_reason why, uint64_t ttl_ns)
{
	memset(v, 0, sizeof(*v));
	v->since_ns = tf_mono_ns();
	v->expires_ns = ttl_ns ? v->since_ns + ttl_ns : 0;
	v->reason = why;
	v->owner_pid = getpid();
}

static int fail_full(struct tf_locktab *t, const char *what)
{
	return tf_failx(ENOSPC, "lock %s: table full (%u entries); raise --max-locks "
			"(tcpferry detach every device, remove the lock map, attach with --max-locks N)",
			what, t->capacity);
}

static int fail_exists(struct tf_locktab *t, const struct tf_tuple *k, const char *what)
{
	struct tf_lock old;
	uint64_t now = tf_mono_ns();

	if (bpf_map_lookup_elem(t->fd, k, &old))
		return tf_failx(EEXIST, "lock %s: already locked", what);
	return tf_failx(EEXIST, "lock %s: already locked (by %s, %llu s ago)", what,
			tf_lock_reason_name(old.reason),
			(unsigned long long)(now > old.since_ns ? (now - old.since_ns) / 1000000000ull : 0));
}

static bool expired(const struct tf_lock *v, uint64_t now)
{
	return v->expires_ns && now > v->expires_ns;
}

/*
 * Add k with BPF_NOEXIST; an expired lock there (it drops nothing: the
 * programs ignore it) counts as absent and is replaced.  It is deleted only
 * while a fresh look still finds it expired with the same since_ns, and
 * the add after it is BPF_NOEXIST again, so of two callers replacing it one
 * wins and the other gets EEXIST.  0, or -1 with errno (as the map calls).
 */
static int add_or_replace_expired(int fd, const struct tf_tuple *k, const struct tf_lock *v)
{
	struct tf_lock old, again;

	if (bpf_map_update_elem(fd, k, v, BPF_NOEXIST) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (bpf_map_lookup_elem(fd, k, &old) == 0) {
		if (!expired(&old, tf_mono_ns())) {
			errno = EEXIST;
			return -1;
		}
		if (bpf_map_lookup_elem(fd, k, &again) == 0 && again.since_ns == old.since_ns &&
		    again.expires_ns == old.expires_ns)
			bpf_map_delete_elem(fd, k);
	}
	return bpf_map_update_elem(fd, k, v, BPF_NOEXIST);
}

int tf_lock_add(struct tf_locktab *t, const struct tf_tuple *k, enum tf_lock_reason why, uint64_t ttl_ns)
{
	char what[TF_TUPLESTRLEN];
	struct tf_lock v;

	lock_value(&v, why, ttl_ns);
	if (add_or_replace_expired(t->fd, k, &v) == 0)
		return 0;
	tf_tuple_str(k, what, sizeof(what));
	if (errno == EEXIST)
		return fail_exists(t, k, what);
	if (errno == E2BIG || errno == ENOSPC || errno == ENOMEM)
		return fail_full(t, what);
	return tf_fail(errno, "lock %s", what);
}

int tf_lock_extend(struct tf_locktab *t, const struct tf_tuple *k, uint64_t ttl_ns)
{
	char what[TF_TUPLESTRLEN];
	struct tf_lock v;
	uint64_t want;

	tf_tuple_str(k, what, sizeof(what));
	if (bpf_map_lookup_elem(t->fd, k, &v))
		return errno == ENOENT ? tf_failx(ENOENT, "lock %s: not locked", what) : tf_fail(errno, "lock %s", what);
	want = ttl_ns ? tf_mono_ns() + ttl_ns : 0;
	if (!v.expires_ns || (want && want <= v.expires_ns))
		return 0;
	v.expires_ns = want;
	/* BPF_EXIST: if it went meanwhile, nothing is made up; counts dropped since the look are lost. */
	if (bpf_map_update_elem(t->fd, k, &v, BPF_EXIST))
		return errno == ENOENT ? tf_failx(ENOENT, "lock %s: not locked", what) : tf_fail(errno, "lock %s", what);
	return 0;
}

int tf_tuple_map_failed(const struct tf_tuple *k, const char *verb, const char *absent)
{
	char what[TF_TUPLESTRLEN];
	int err = errno;

	tf_tuple_str(k, what, sizeof(what));
	if (err == ENOENT)
		return tf_failx(ENOENT, "%s %s: %s", verb, what, absent);
	return tf_fail(err, "%s %s", verb, what);
}

int tf_lock_del(struct tf_locktab *t, const struct tf_tuple *k)
{
	if (bpf_map_delete_elem(t->fd, k) == 0)
		return 0;
	return tf_tuple_map_failed(k, "unlock", "not locked");
}

int tf_lock_get(struct tf_locktab *t, const struct tf_tuple *k, struct tf_lock *v)
{
	if (bpf_map_lookup_elem(t->fd, k, v) == 0)
		return 0;
	return tf_tuple_map_failed(k, "lock", "not locked");
}

static int walk(struct tf_locktab *t, struct tf_lock_entry **out, size_t *n)
{
	return TF_MAP_WALK(t->fd, struct tf_lock_entry, out, n, "lock table");
}

int tf_lock_list(struct tf_locktab *t, struct tf_lock_entry **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	return walk(t, out, n);
}

int tf_locktab_count(struct tf_locktab *t, uint32_t *n)
{
	struct tf_lock_entry *e;
	size_t cnt;
	int err = walk(t, &e, &cnt);

	if (err)
		return err;
	free(e);
	*n = cnt;
	return 0;
}

/*
 * Loading the bulk programs costs about 1 ms (the verifier); each tuple then
 * costs about 0.25 us, against about 2 us for a single update.  So: once
 * loaded, always; before that, only for lists long enough to pay for the load.
 */
static bool bulk_pays(const struct tf_locktab *t, size_t n)
{
	return tf_lock_bulk_loaded(t->bulk) || n >= TF_LOCK_BULK_LOAD_MIN;
}

int tf_locktab_bulk_prepare(struct tf_locktab *t)
{
	struct tf_lock v = {};

	/* An empty run loads the programs (or learns that it cannot). */
	return tf_lock_bulk_add(&t->bulk, t->fd, t->capacity, NULL, 0, &v, 0, NULL) == -EOPNOTSUPP ? -EOPNOTSUPP : 0;
}

/*
 * One update per tuple, each with BPF_NOEXIST: the kernel refuses a tuple
 * that is locked (also by someone who took it a moment ago), which is then
 * reported and kept.  The map batch update cannot do that (its elem_flags
 * takes BPF_F_LOCK only), and reading the table first leaves a window in
 * which another lock would be overwritten.
 */
static int add_each(struct tf_locktab *t, const struct tf_tuple *k, size_t n, enum tf_lock_reason why,
		    uint64_t ttl_ns, int *results)
{
	int *v = results ? results : malloc(n * sizeof(*v) + 1);
	char what[TF_TUPLESTRLEN];
	struct tf_lock val;
	size_t i, added = 0;
	int err = 0;

	if (!v)
		return tf_fail(ENOMEM, "lock %zu tuples", n);
	lock_value(&val, why, ttl_ns);
	for (i = 0; i < n; i++) {
		if (add_or_replace_expired(t->fd, &k[i], &val) == 0) {
			v[i] = 0;
			added++;
		} else if (errno == EEXIST) {
			v[i] = -EEXIST;
		} else {
			err = errno;
			break;
		}
	}
	if (err) {
		/* All or nothing: take back what this call added. */
		for (size_t j = 0; j < i; j++)
			if (v[j] == 0)
				bpf_map_delete_elem(t->fd, &k[j]);
		tf_tuple_str(&k[i], what, sizeof(what));
		if (err == E2BIG || err == ENOSPC || err == ENOMEM)
			err = tf_failx(ENOSPC, "lock %zu tuples: table full (%u entries) at %s; raise --max-locks",
				       n, t->capacity, what);
		else
			err = tf_fail(err, "lock %zu tuples: %s", n, what);
	}
	if (v != results)
		free(v);
	return err ? err : (int)added;
}

int tf_lock_add_bulk(struct tf_locktab *t, const struct tf_tuple *k, size_t n,
		     enum tf_lock_reason why, uint64_t ttl_ns, int *results)
{
	/* In the kernel, each with BPF_NOEXIST (lock_bulk.h), 8,192 to a system call. */
	if (n > TF_LOCK_BULK_SINGLE && bulk_pays(t, n)) {
		struct tf_lock v;
		int r;

		lock_value(&v, why, ttl_ns);
		r = tf_lock_bulk_add(&t->bulk, t->fd, t->capacity, k, n, &v, ttl_ns, results);
		if (r != -EOPNOTSUPP)
			return r;
	}
	return add_each(t, k, n, why, ttl_ns, results);
}

int tf_lock_del_bulk(struct tf_locktab *t, const struct tf_tuple *k, size_t n, int *results)
{
	size_t at = 0, removed = 0;

	if (n > TF_LOCK_BULK_SINGLE && bulk_pays(t, n)) {
		int r = tf_lock_bulk_del(&t->bulk, t->fd, t->capacity, k, n, results);

		if (r != -EOPNOTSUPP)
			return r;
	}

	while (at < n) {
		DECLARE_LIBBPF_OPTS(bpf_map_batch_opts, opts);
		__u32 cnt = n - at > UINT32_MAX ? UINT32_MAX : n - at;
		int r = bpf_map_delete_batch(t->fd, k + at, &cnt, &opts);
		int err = errno;

		if (results)
			for (__u32 i = 0; i < cnt; i++)
				results[at + i] = 0;
		removed += cnt;
		at += cnt;
		if (r == 0)
			continue;
		if (err == ENOENT) {	/* k[at] was not locked: note it, go on after it */
			if (results)
				results[at] = -ENOENT;
			at++;
			continue;
		}
		if (err == EINVAL || err == ENOTSUPP || err == EOPNOTSUPP) {
			for (; at < n; at++) {
				int d = bpf_map_delete_elem(t->fd, &k[at]) ? -errno : 0;

				if (d && d != -ENOENT)
					return tf_fail(-d, "unlock %zu tuples", n);
				if (results)
					results[at] = d;
				removed += !d;
			}
			break;
		}
		return tf_fail(err, "unlock %zu tuples: batch delete after %zu", n, removed);
	}
	return removed;
}

static int remove_if(struct tf_locktab *t, uint64_t now_ns, bool only_expired, unsigned *removed)
{
	struct tf_lock_entry *e;
	struct tf_tuple *keys;
	size_t n, m = 0;
	int r;

	*removed = 0;
	r = walk(t, &e, &n);
	if (r)
		return r;
	keys = malloc(n * sizeof(*keys) + 1);
	if (!keys) {
		free(e);
		return tf_fail(ENOMEM, "lock table: gc");
	}
	for (size_t i = 0; i < n; i++) {
		if (only_expired && !(e[i].val.expires_ns && now_ns > e[i].val.expires_ns))
			continue;
		keys[m++] = e[i].key;
	}
	free(e);
	/* Entries that vanished meanwhile (another gc) are not errors. */
	r = tf_lock_del_bulk(t, keys, m, NULL);
	free(keys);
	if (r < 0)
		return r;
	*removed = r;
	return 0;
}

int tf_lock_gc(struct tf_locktab *t, uint64_t now_ns, unsigned *removed)
{
	unsigned dummy;

	return remove_if(t, now_ns ? now_ns : tf_mono_ns(), true, removed ? removed : &dummy);
}

int tf_lock_flush(struct tf_locktab *t, unsigned *removed)
{
	unsigned dummy;

	return remove_if(t, 0, false, removed ? removed : &dummy);
}
