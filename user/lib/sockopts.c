// SPDX-License-Identifier: BSD-2-Clause
/*
 * The socket options a user may have set, carried from the old socket to the
 * new one.  One table row per option: where it lives for each family, how it
 * is read, and when in the restore it must be set.
 */
#include <linux/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "repair_defs.h"
#include "sockopts.h"

struct sockopt_desc {
	uint16_t id;
	struct tf_sockopt_info info;	/* name and kind */
	enum tf_sockopt_phase phase;
	int level4, opt4;	/* for AF_INET sockets and v4-mapped IPv6 ones */
	int level6, opt6;	/* for AF_INET6 sockets with an IPv6 peer */
};

#define BOTH(l, o) l, o, l, o

static const struct sockopt_desc table[] = {
	{ TF_SO_V6ONLY,		 { "IPV6_V6ONLY", TF_SOK_INT },	 TF_PHASE_BEFORE_BIND, -1, -1, IPPROTO_IPV6, IPV6_V6ONLY },
	{ TF_SO_BINDTODEVICE,	 { "SO_BINDTODEVICE", TF_SOK_STRING },	 TF_PHASE_BEFORE_BIND, BOTH(SOL_SOCKET, SO_BINDTODEVICE) },
	{ TF_SO_MARK,		 { "SO_MARK", TF_SOK_INT },	 TF_PHASE_BEFORE_BIND, BOTH(SOL_SOCKET, SO_MARK) },
	{ TF_SO_TOS,		 { "IP_TOS", TF_SOK_INT },	 TF_PHASE_BEFORE_BIND, IPPROTO_IP, IP_TOS, IPPROTO_IPV6, IPV6_TCLASS },
	/* after IP_TOS, which resets sk_priority from the TOS bits */
	{ TF_SO_PRIORITY,	 { "SO_PRIORITY", TF_SOK_INT },	 TF_PHASE_BEFORE_BIND, BOTH(SOL_SOCKET, SO_PRIORITY) },
	{ TF_SO_TTL,		 { "IP_TTL", TF_SOK_INT },	 TF_PHASE_BEFORE_BIND, IPPROTO_IP, IP_TTL, IPPROTO_IPV6, IPV6_UNICAST_HOPS },
	{ TF_SO_CONGESTION,	 { "TCP_CONGESTION", TF_SOK_STRING },	 TF_PHASE_BEFORE_BIND, BOTH(IPPROTO_TCP, TCP_CONGESTION) },
	{ TF_SO_MAX_PACING_RATE, { "SO_MAX_PACING_RATE", TF_SOK_U64 }, TF_PHASE_BEFORE_BIND, BOTH(SOL_SOCKET, SO_MAX_PACING_RATE) },
	/* before connect(), which looks up the route and its path MTU */
	{ TF_SO_MTU_DISCOVER,	 { "IP_MTU_DISCOVER", TF_SOK_INT }, TF_PHASE_BEFORE_BIND, IPPROTO_IP, IP_MTU_DISCOVER,
	  IPPROTO_IPV6, IPV6_MTU_DISCOVER },
	{ TF_SO_NODELAY,	 { "TCP_NODELAY", TF_SOK_INT },	 TF_PHASE_AFTER_QUEUES, BOTH(IPPROTO_TCP, TCP_NODELAY) },
	{ TF_SO_CORK,		 { "TCP_CORK", TF_SOK_INT },	 TF_PHASE_AFTER_QUEUES, BOTH(IPPROTO_TCP, TCP_CORK) },
	{ TF_SO_KEEPALIVE,	 { "SO_KEEPALIVE", TF_SOK_INT },	 TF_PHASE_AFTER_QUEUES, BOTH(SOL_SOCKET, SO_KEEPALIVE) },
	{ TF_SO_KEEPIDLE,	 { "TCP_KEEPIDLE", TF_SOK_INT },	 TF_PHASE_AFTER_QUEUES, BOTH(IPPROTO_TCP, TCP_KEEPIDLE) },
	{ TF_SO_KEEPINTVL,	 { "TCP_KEEPINTVL", TF_SOK_INT },	 TF_PHASE_AFTER_QUEUES, BOTH(IPPROTO_TCP, TCP_KEEPINTVL) },
	{ TF_SO_KEEPCNT,	 { "TCP_KEEPCNT", TF_SOK_INT },	 TF_PHASE_AFTER_QUEUES, BOTH(IPPROTO_TCP, TCP_KEEPCNT) },
	{ TF_SO_USER_TIMEOUT,	 { "TCP_USER_TIMEOUT", TF_SOK_INT },	 TF_PHASE_AFTER_QUEUES, BOTH(IPPROTO_TCP, TCP_USER_TIMEOUT) },
	{ TF_SO_NOTSENT_LOWAT,	 { "TCP_NOTSENT_LOWAT", TF_SOK_INT },	 TF_PHASE_AFTER_QUEUES, BOTH(IPPROTO_TCP, TCP_NOTSENT_LOWAT) },
	{ TF_SO_RCVLOWAT,	 { "SO_RCVLOWAT", TF_SOK_INT },	 TF_PHASE_AFTER_QUEUES, BOTH(SOL_SOCKET, SO_RCVLOWAT) },
	{ TF_SO_LINGER,		 { "SO_LINGER", TF_SOK_LINGER }, TF_PHASE_AFTER_QUEUES, BOTH(SOL_SOCKET, SO_LINGER) },
	/* Buffers: the values only when set by hand (SO_BUF_LOCK, read first);
	 * restore forces them, then puts the locks back as they were. */
	{ TF_SO_BUF_LOCK,	 { "SO_BUF_LOCK", TF_SOK_INT },	 TF_PHASE_AFTER_QUEUES, BOTH(SOL_SOCKET, SO_BUF_LOCK) },
	{ TF_SO_SNDBUF,		 { "SO_SNDBUF", TF_SOK_INT },	 TF_PHASE_AFTER_QUEUES, BOTH(SOL_SOCKET, SO_SNDBUFFORCE) },
	{ TF_SO_RCVBUF,		 { "SO_RCVBUF", TF_SOK_INT },	 TF_PHASE_AFTER_QUEUES, BOTH(SOL_SOCKET, SO_RCVBUFFORCE) },
	/* TCP_REPAIR off clears sk_reuse (read before repair, in tf_conn_identify);
	 * the buffer locks must follow the buffers. */
	{ TF_SO_REUSEADDR,	 { "SO_REUSEADDR", TF_SOK_INT },	 TF_PHASE_AFTER_REPAIR, BOTH(SOL_SOCKET, SO_REUSEADDR) },
};

#define SOCK_SNDBUF_LOCK 1
#define SOCK_RCVBUF_LOCK 2

static const struct sockopt_desc *find(uint16_t id)
{
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (table[i].id == id)
			return &table[i];
	return NULL;
}

const struct tf_sockopt_info *tf_sockopt_info(uint16_t id)
{
	const struct sockopt_desc *d = find(id);

	return d ? &d->info : NULL;
}

static bool is_v4mapped(const struct tf_endpoint *e)
{
	static const uint8_t prefix[12] = { [10] = 0xff, [11] = 0xff };

	return e->family == AF_INET6 && !memcmp(e->addr, prefix, sizeof(prefix));
}

/* The level/name pair for this socket: IPv6 options only for real IPv6 peers. */
static bool where(const struct sockopt_desc *d, const struct tf_conn *c, int *level, int *opt)
{
	bool v6 = c->sock_family == AF_INET6 && !is_v4mapped(&c->peer);

	if (d->id == TF_SO_V6ONLY) {
		*level = IPPROTO_IPV6;
		*opt = IPV6_V6ONLY;
		return c->sock_family == AF_INET6;
	}
	*level = v6 ? d->level6 : d->level4;
	*opt = v6 ? d->opt6 : d->opt4;
	return *level >= 0;
}

static int read_one(int fd, const struct sockopt_desc *d, int level, int opt, struct tf_sockopt *o)
{
	socklen_t len = sizeof(o->val);

	memset(o, 0, sizeof(*o));
	o->id = d->id;
	if (d->id == TF_SO_SNDBUF)
		opt = SO_SNDBUF;
	else if (d->id == TF_SO_RCVBUF)
		opt = SO_RCVBUF;
	if (d->info.kind == TF_SOK_INT)
		len = sizeof(int);
	else if (d->info.kind == TF_SOK_U64)
		len = sizeof(uint64_t);
	else if (d->info.kind == TF_SOK_LINGER)
		len = sizeof(struct linger);
	if (getsockopt(fd, level, opt, o->val, &len))
		return -errno;
	o->len = len;
	if (d->info.kind == TF_SOK_STRING) {
		o->val[sizeof(o->val) - 1] = '\0';
		o->len = strnlen((char *)o->val, sizeof(o->val) - 1);
	}
	return 0;
}

/*
 * What a fresh socket of the same kind reads.  An option that still has that
 * value was not set by the user: it is not carried, so the target's own
 * defaults (its sysctls) apply, and the restore spends no syscall on it.
 * Cached per thread for the three kinds: IPv4, v4-mapped IPv6, IPv6.
 */
struct defaults {
	bool ready;
	bool have[ARRAY_SIZE(table)];
	struct tf_sockopt val[ARRAY_SIZE(table)];
};
static __thread struct defaults defaults_cache[3];

static const struct defaults *defaults_for(const struct tf_conn *c)
{
	int kind = c->sock_family == AF_INET ? 0 : c->local.family == AF_INET6 && is_v4mapped(&c->peer) ? 1 : 2;
	struct defaults *df = &defaults_cache[kind];
	int fresh, level, opt;

	if (df->ready)
		return df;
	fresh = socket(c->sock_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fresh < 0)
		return NULL;	/* then everything is carried */
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		df->have[i] = where(&table[i], c, &level, &opt) &&
			      read_one(fresh, &table[i], level, opt, &df->val[i]) == 0;
	close(fresh);
	df->ready = true;
	return df;
}

static bool is_default(const struct defaults *df, size_t i, const struct tf_sockopt *o)
{
	/* The buffer locks always go: restore forces the buffers, they must be undone. */
	if (!df || !df->have[i] || table[i].id == TF_SO_BUF_LOCK)
		return false;
	return df->val[i].len == o->len && !memcmp(df->val[i].val, o->val, o->len);
}

int tf_sockopts_dump(int fd, struct tf_conn *c)
{
	const struct defaults *df = defaults_for(c);
	int locks = 0, level, opt, err;

	/* Entries already there came from tf_conn_identify() (SO_REUSEADDR). */
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		const struct sockopt_desc *d = &table[i];
		struct tf_sockopt *o = &c->sockopts[c->n_sockopts];

		if (!where(d, c, &level, &opt) || d->id == TF_SO_REUSEADDR)
			continue;
		/* Buffer sizes only when set by hand (pre-5.14 kernels: never). */
		if ((d->id == TF_SO_SNDBUF && !(locks & SOCK_SNDBUF_LOCK)) ||
		    (d->id == TF_SO_RCVBUF && !(locks & SOCK_RCVBUF_LOCK)))
			continue;
		err = read_one(fd, d, level, opt, o);
		if (err == -ENOPROTOOPT || err == -EOPNOTSUPP || err == -EINVAL)
			continue;	/* this kernel lacks it: nothing to carry */
		if (err)
			return tf_fail(-err, "getsockopt %s", d->info.name);
		if (d->id == TF_SO_BUF_LOCK)
			memcpy(&locks, o->val, sizeof(locks));
		if ((d->info.kind == TF_SOK_STRING && o->len == 0) || is_default(df, i, o))
			continue;
		c->n_sockopts++;
	}
	return 0;
}

int tf_sockopts_restore(int fd, const struct tf_conn *c, enum tf_sockopt_phase phase)
{
	int level, opt;

	for (uint32_t i = 0; i < c->n_sockopts; i++) {
		const struct tf_sockopt *o = &c->sockopts[i];
		const struct sockopt_desc *d = find(o->id);
		char v[TF_SOCKOPT_MAX_LEN + 1];
		int ival;
		const void *p = o->val;
		socklen_t len = o->len;

		if (!d || d->phase != phase || !where(d, c, &level, &opt))
			continue;
		if (d->id == TF_SO_SNDBUF || d->id == TF_SO_RCVBUF) {
			/* getsockopt showed the doubled value; the set doubles again */
			memcpy(&ival, o->val, sizeof(ival));
			ival /= 2;
			p = &ival;
			len = sizeof(ival);
		} else if (d->info.kind == TF_SOK_STRING) {
			memcpy(v, o->val, o->len);
			v[o->len] = '\0';
			p = v;
			len = o->len + 1;
		}
		if (setsockopt(fd, level, opt, p, len) == 0)
			continue;
		if (d->id == TF_SO_BINDTODEVICE && errno == ENODEV)
			return tf_failx(ENODEV, "SO_BINDTODEVICE %s: no such device on this host", v);
		if (d->id == TF_SO_CONGESTION && errno == ENOENT)
			return tf_failx(ENOENT, "TCP_CONGESTION %s: not available on this host (modprobe tcp_%s?)",
					v, v);
		return tf_fail(errno, "setsockopt %s", d->info.name);
	}
	return 0;
}

/* Values are as this (little-endian) host's getsockopt gave them. */
const char *tf_sockopt_value_str(const struct tf_sockopt *o, char *buf, size_t len)
{
	const struct tf_sockopt_info *info = tf_sockopt_info(o->id);
	size_t n = o->len < TF_SOCKOPT_MAX_LEN ? o->len : TF_SOCKOPT_MAX_LEN;
	int32_t iv[2];
	uint64_t u = 0;

	if (info && info->kind == TF_SOK_INT && n == 4) {
		memcpy(iv, o->val, 4);
		snprintf(buf, len, "%d", iv[0]);
	} else if (info && info->kind == TF_SOK_U64 && (n == 4 || n == 8)) {
		memcpy(&u, o->val, n);
		snprintf(buf, len, "%llu", (unsigned long long)u);
	} else if (info && info->kind == TF_SOK_LINGER && n == 8) {
		memcpy(iv, o->val, 8);
		snprintf(buf, len, "%s, %d s", iv[0] ? "on" : "off", iv[1]);
	} else if (info && info->kind == TF_SOK_STRING) {
		size_t w = 0;

		for (size_t i = 0; i < n && o->val[i] && w + 5 < len; i++) {
			unsigned char ch = o->val[i];

			if (ch >= 0x20 && ch < 0x7f && ch != '\\')
				buf[w++] = ch;
			else
				w += snprintf(buf + w, len - w, "\\x%02x", ch);
		}
		buf[w < len ? w : len - 1] = '\0';
	} else {
		size_t w = snprintf(buf, len, "0x");

		for (size_t i = 0; i < n && w + 3 <= len; i++)
			w += snprintf(buf + w, len - w, "%02x", o->val[i]);
	}
	return buf;
}
