// SPDX-License-Identifier: BSD-2-Clause
/* The balancer's configuration and its rules (rules.h). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "rules.h"

#define WORDS_MAX	64
#define WORD_MAX	1024
#define CONFIG_MAX	(1 << 20)

struct line {
	const char *source;
	int no;
	char w[WORDS_MAX][WORD_MAX];
	size_t len[WORDS_MAX];		/* a quoted word may hold NULs (\x00) */
	int n;
};

static int bad(const struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(const struct line *l, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return tf_failx(EINVAL, "%s:%d: %s", l->source, l->no, msg);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The words of one line (s up to its end, e), '#' comments gone. */
static int split(struct line *l, const char *s, const char *e)
{
	l->n = 0;
	while (s < e) {
		char *w;
		size_t n = 0;

		while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
			s++;
		if (s == e || *s == '#')
			break;
		if (l->n == WORDS_MAX)
			return bad(l, "more than %d words on one line", WORDS_MAX);
		w = l->w[l->n];
		if (*s == '"') {
			for (s++;; s++) {
				if (s == e)
					return bad(l, "a quoted word has no closing quote");
				if (*s == '"')
					break;
				if (n == WORD_MAX - 1)
					return bad(l, "a word longer than %d bytes", WORD_MAX - 1);
				if (*s == '\\' && s + 1 < e && (s[1] == '"' || s[1] == '\\')) {
					w[n++] = *++s;
				} else if (*s == '\\' && s + 3 < e && s[1] == 'x' && hexval(s[2]) >= 0 &&
					   hexval(s[3]) >= 0) {
					w[n++] = hexval(s[2]) << 4 | hexval(s[3]);
					s += 3;
				} else if (*s == '\\') {
					return bad(l, "a quoted word has an escape other than \\\", \\\\ or \\xNN");
				} else {
					w[n++] = *s;
				}
			}
			s++;
			if (s < e && *s != ' ' && *s != '\t' && *s != '\r' && *s != '#')
				return bad(l, "a closing quote is followed by more of the word; put a blank after it");
		} else {
			while (s < e && *s != ' ' && *s != '\t' && *s != '\r' && *s != '#') {
				if (*s == '"')
					return bad(l, "a quote inside a word; quote the whole word");
				if (n == WORD_MAX - 1)
					return bad(l, "a word longer than %d bytes", WORD_MAX - 1);
				w[n++] = *s++;
			}
		}
		w[n] = '\0';
		l->len[l->n++] = n;
	}
	return 0;
}

/* A name word: letters, digits, '-', '_', '.', at most BAL_NAME_MAX - 1 bytes. */
static int name_ok(const struct line *l, int i, const char *what)
{
	const char *w = l->w[i];

	if (!l->len[i] || l->len[i] >= BAL_NAME_MAX || strlen(w) != l->len[i] ||
	    strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != l->len[i])
		return bad(l, "'%.80s' is not a %s name (letters, digits, - _ . and at most %d bytes)", w, what,
			   BAL_NAME_MAX - 1);
	return 0;
}

static int find_backend(const struct bal_config *c, const char *name)
{
	for (int i = 0; i < c->n_backends; i++)
		if (!strcmp(c->backends[i].name, name))
			return i;
	return -1;
}

static int find_pool(const struct bal_config *c, const char *name)
{
	for (int i = 0; i < c->n_pools; i++)
		if (!strcmp(c->pools[i].name, name))
			return i;
	return -1;
}

static void *grow(void *p, int n, size_t size)
{
	return (n & (n - 1)) == 0 ? realloc(p, (n ? 2 * n : 1) * size) : p;	/* doubling at powers of two */
}

/* backend NAME's KEY VALUE pairs before its channel: how many words they took, or < 0. */
static int backend_opts(const struct line *l, struct bal_backend *b)
{
	static const struct {
		const char *key;
		size_t off, size;
	} keys[] = {
		{ "addr", offsetof(struct bal_backend, addr), sizeof(b->addr) },
		{ "addr6", offsetof(struct bal_backend, addr6), sizeof(b->addr6) },
		{ "mode", offsetof(struct bal_backend, mode), sizeof(b->mode) },
		{ "dev", offsetof(struct bal_backend, dev), sizeof(b->dev) },
		{ "mac", offsetof(struct bal_backend, mac), sizeof(b->mac) },
		{ "src", offsetof(struct bal_backend, src), sizeof(b->src) },
	};
	int i = 2;

	while (i + 1 < l->n) {
		int k = -1;

		for (int j = 0; j < (int)(sizeof(keys) / sizeof(keys[0])); j++)
			if (!strcmp(l->w[i], keys[j].key))
				k = j;
		if (k < 0)
			break;
		if (!l->len[i + 1] || l->len[i + 1] >= keys[k].size || strlen(l->w[i + 1]) != l->len[i + 1])
			return bad(l, "backend %s: '%.80s' is no %s (at most %zu bytes)", b->name, l->w[i + 1],
				   keys[k].key, keys[k].size - 1);
		strcpy((char *)b + keys[k].off, l->w[i + 1]);
		i += 2;
	}
	if (b->mode[0] && strcmp(b->mode, "l2") && strcmp(b->mode, "l3"))
		return bad(l, "backend %s: mode %.40s; use l2 or l3", b->name, b->mode);
	if (b->addr[0] && (strchr(b->addr, ':') || !strchr(b->addr, '.')))
		return bad(l, "backend %s: addr %s is not an IPv4 address (an IPv6 one goes in addr6)", b->name,
			   b->addr);
	if (b->addr6[0] && !strchr(b->addr6, ':'))
		return bad(l, "backend %s: addr6 %s is not an IPv6 address", b->name, b->addr6);
	if (i < l->n && !strcmp(l->w[i], "via"))
		i++;
	return i;
}

static int add_backend(struct bal_config *c, const struct line *l)
{
	struct bal_backend *b;
	size_t len = 0;
	int err, first;
	void *p;

	if (l->n < 3)
		return bad(l, "backend needs a name and the channel's command: backend NAME CMD...");
	if ((err = name_ok(l, 1, "backend")))
		return err;
	if (find_backend(c, l->w[1]) >= 0)
		return bad(l, "backend %s is defined twice; give each its own name", l->w[1]);
	if (!(p = grow(c->backends, c->n_backends, sizeof(*b))))
		return tf_failx(ENOMEM, "no memory");
	c->backends = p;
	b = &c->backends[c->n_backends];
	memset(b, 0, sizeof(*b));
	strcpy(b->name, l->w[1]);
	first = backend_opts(l, b);
	if (first < 0)
		return first;
	if (first >= l->n)
		return bad(l, "backend %s has no channel: end the line with its command (via CMD...)", b->name);
	for (int i = first; i < l->n; i++)
		len += l->len[i] + 1;
	b->channel = malloc(len + 1);
	if (!b->channel)
		return tf_failx(ENOMEM, "no memory");
	b->channel[0] = '\0';
	for (int i = first; i < l->n; i++) {
		if (strlen(l->w[i]) != l->len[i]) {
			free(b->channel);
			return bad(l, "backend %s: a NUL byte in its command", b->name);
		}
		if (i > first)
			strcat(b->channel, " ");
		strcat(b->channel, l->w[i]);
	}
	c->n_backends++;
	return 0;
}

static int add_pool(struct bal_config *c, const struct line *l)
{
	static const char *const policies[] = { "roundrobin", "leastconn", "hash-host", "hash-client" };
	struct bal_pool *pool;
	int policy = -1, err;
	void *p;

	if (l->n < 4)
		return bad(l, "pool needs a name, a policy and members: pool NAME roundrobin|leastconn|hash-host|"
			      "hash-client BACKEND[*WEIGHT]...");
	if ((err = name_ok(l, 1, "pool")))
		return err;
	if (find_pool(c, l->w[1]) >= 0)
		return bad(l, "pool %s is defined twice; give each its own name", l->w[1]);
	for (int i = 0; i < 4; i++)
		if (!strcmp(l->w[2], policies[i]))
			policy = i;
	if (policy < 0)
		return bad(l, "pool %s: '%.40s' is no policy; use roundrobin, leastconn, hash-host or hash-client",
			   l->w[1], l->w[2]);
	if (!(p = grow(c->pools, c->n_pools, sizeof(*pool))))
		return tf_failx(ENOMEM, "no memory");
	c->pools = p;
	pool = &c->pools[c->n_pools];
	memset(pool, 0, sizeof(*pool));
	strcpy(pool->name, l->w[1]);
	pool->policy = policy;
	pool->members = calloc(l->n - 3, sizeof(*pool->members));
	if (!pool->members)
		return tf_failx(ENOMEM, "no memory");
	for (int i = 3; i < l->n; i++) {
		char name[WORD_MAX], *star;
		long weight = 1;
		int b;

		snprintf(name, sizeof(name), "%s", l->w[i]);
		star = strchr(name, '*');
		if (star) {
			char *end;

			*star = '\0';
			weight = strtol(star + 1, &end, 10);
			if (end == star + 1 || *end || weight < 1 || weight > BAL_WEIGHT_MAX) {
				free(pool->members);
				return bad(l, "pool %s: weight '%.20s' of %s is not a whole number from 1 to %d",
					   pool->name, star + 1, name, BAL_WEIGHT_MAX);
			}
		}
		b = find_backend(c, name);
		if (b < 0) {
			free(pool->members);
			return bad(l, "pool %s: no backend called '%.64s' (define it with a backend line first)",
				   pool->name, name);
		}
		for (int k = 0; k < pool->n; k++)
			if (pool->members[k].backend == b) {
				free(pool->members);
				return bad(l, "pool %s: backend %s is listed twice; give it a weight instead",
					   pool->name, name);
			}
		pool->members[pool->n++] = (struct bal_member){ .backend = b, .weight = weight };
	}
	c->n_pools++;
	return 0;
}

/* "*.example.com" or "example.com", lower case, into out. */
static int host_pattern(const struct line *l, int i, char *out)
{
	const char *w = l->w[i];
	size_t n = l->len[i];

	if (!n || n >= FR_HOST_MAX || strlen(w) != n || strspn(w + (w[0] == '*' && w[1] == '.' ? 2 : 0),
							       "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
							       "0123456789-._[]:") != n - (w[0] == '*' && w[1] == '.' ? 2 : 0) ||
	    (w[0] == '*' && n < 3))
		return bad(l, "'%.80s' is not a host name or *.SUFFIX", w);
	for (size_t k = 0; k <= n; k++)
		out[k] = w[k] >= 'A' && w[k] <= 'Z' ? w[k] + 'a' - 'A' : w[k];
	return 0;
}

static int add_rule(struct bal_config *c, const struct line *l)
{
	struct bal_rule r = { .line = l->no };
	int at = 3, err;
	void *p;

	if (l->n < 5)
		return bad(l, "match needs what, a value and a pool: match host|path|sni|prefix VALUE pool NAME");
	if (!strcmp(l->w[1], "host") || !strcmp(l->w[1], "sni")) {
		r.kind = l->w[1][0] == 'h' ? BAL_MATCH_HOST : BAL_MATCH_SNI;
		if ((err = host_pattern(l, 2, r.host)))
			return err;
		if (r.kind == BAL_MATCH_HOST && !strcmp(l->w[3], "path")) {
			if (l->n < 7)
				return bad(l, "match host HOST path PREFIX pool NAME: the pool is missing");
			if (l->w[4][0] != '/' || l->len[4] >= FR_PATH_MAX || strlen(l->w[4]) != l->len[4])
				return bad(l, "a path prefix starts with '/' ('%.80s')", l->w[4]);
			strcpy(r.path, l->w[4]);
			at = 5;
		}
	} else if (!strcmp(l->w[1], "path")) {
		r.kind = BAL_MATCH_PATH;
		if (l->w[2][0] != '/' || l->len[2] >= FR_PATH_MAX || strlen(l->w[2]) != l->len[2])
			return bad(l, "a path prefix starts with '/' ('%.80s')", l->w[2]);
		strcpy(r.path, l->w[2]);
	} else if (!strcmp(l->w[1], "prefix")) {
		r.kind = BAL_MATCH_PREFIX;
		if (l->len[2] > BAL_PREFIX_MAX)
			return bad(l, "a prefix of %zu bytes; at most %d", l->len[2], BAL_PREFIX_MAX);
		memcpy(r.prefix, l->w[2], l->len[2]);
		r.prefix_len = l->len[2];
	} else {
		return bad(l, "match %.40s: match host, path, sni or prefix", l->w[1]);
	}
	if (l->n != at + 2 || strcmp(l->w[at], "pool"))
		return bad(l, "a match line ends in 'pool NAME' and nothing after it");
	r.pool = find_pool(c, l->w[at + 1]);
	if (r.pool < 0)
		return bad(l, "no pool called '%.64s' (define it with a pool line first)", l->w[at + 1]);
	if (!(p = grow(c->rules, c->n_rules, sizeof(r))))
		return tf_failx(ENOMEM, "no memory");
	c->rules = p;
	c->rules[c->n_rules++] = r;
	return 0;
}

static int set_default(struct bal_config *c, const struct line *l)
{
	if (c->default_seen)
		return bad(l, "a second default line; keep one");
	c->default_seen = true;
	if (l->n == 3 && !strcmp(l->w[1], "pool")) {
		c->default_pool = find_pool(c, l->w[2]);
		if (c->default_pool < 0)
			return bad(l, "no pool called '%.64s' (define it with a pool line first)", l->w[2]);
		return 0;
	}
	if (l->n == 3 && !strcmp(l->w[1], "status") && (!strcmp(l->w[2], "404") || !strcmp(l->w[2], "503"))) {
		c->default_status = atoi(l->w[2]);
		return 0;
	}
	return bad(l, "default pool NAME, or default status 404 or 503");
}

static int add_listen(struct bal_config *c, const struct line *l)
{
	struct tf_endpoint e;
	void *nl;

	if (l->n != 2 || strlen(l->w[1]) >= BAL_LISTEN_MAX || tf_endpoint_parse(l->w[1], &e) < 0)
		return bad(l, "listen ADDR:PORT or listen [ADDR6]:PORT");
	for (int i = 0; i < c->n_listens; i++)
		if (!strcmp(c->listens[i], l->w[1]))
			return bad(l, "listen %s a second time", l->w[1]);
	nl = realloc(c->listens, (c->n_listens + 1) * sizeof(*c->listens));
	if (!nl)
		return tf_failx(ENOMEM, "no memory");
	c->listens = nl;
	strcpy(c->listens[c->n_listens++], l->w[1]);
	return 0;
}

int bal_config_add(struct bal_config *c, const char *text, const char *source)
{
	struct line *l = malloc(sizeof(*l));
	int err = 0;

	if (!l)
		return tf_failx(ENOMEM, "no memory");
	l->source = source;
	l->no = 0;
	for (const char *s = text; *s && !err;) {
		const char *e = strchr(s, '\n');

		if (!e)
			e = s + strlen(s);
		l->no++;
		err = split(l, s, e);
		s = *e ? e + 1 : e;
		if (err || l->n == 0)
			continue;
		if (!strcmp(l->w[0], "backend"))
			err = add_backend(c, l);
		else if (!strcmp(l->w[0], "pool"))
			err = add_pool(c, l);
		else if (!strcmp(l->w[0], "match"))
			err = add_rule(c, l);
		else if (!strcmp(l->w[0], "default"))
			err = set_default(c, l);
		else if (!strcmp(l->w[0], "listen"))
			err = add_listen(c, l);
		else
			err = bad(l, "'%.40s' is no statement; a line is backend, pool, match, default or listen",
				  l->w[0]);
	}
	free(l);
	return err;
}

int bal_config_parse(const char *text, const char *source, struct bal_config *c)
{
	int err;

	memset(c, 0, sizeof(*c));
	c->default_pool = -1;
	c->default_status = 503;
	err = bal_config_add(c, text, source);
	if (err)
		bal_config_free(c);
	return err;
}

int bal_config_load(const char *path, struct bal_config *c)
{
	struct stat st;
	char *text;
	ssize_t n;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return tf_fail(errno, "%s", path);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX) {
		close(fd);
		return tf_failx(EINVAL, "%s: not a regular file of at most %d bytes", path, CONFIG_MAX);
	}
	text = malloc(st.st_size + 1);
	if (!text) {
		close(fd);
		return tf_failx(ENOMEM, "no memory");
	}
	n = read(fd, text, st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(text);
		return tf_failx(EIO, "%s: short read", path);
	}
	text[n] = '\0';
	if (memchr(text, '\0', n)) {
		free(text);
		return tf_failx(EINVAL, "%s: a NUL byte in the file; it is text", path);
	}
	err = bal_config_parse(text, path, c);
	free(text);
	return err;
}

void bal_config_free(struct bal_config *c)
{
	for (int i = 0; i < c->n_backends; i++)
		free(c->backends[i].channel);
	for (int i = 0; i < c->n_pools; i++)
		free(c->pools[i].members);
	free(c->backends);
	free(c->pools);
	free(c->rules);
	free(c->listens);
	memset(c, 0, sizeof(*c));
	c->default_pool = -1;
}

/* n elements of size in room that grow() would have made for them (a power of two). */
static void *dup_array(const void *p, int n, size_t size)
{
	size_t cap = 1;
	void *d;

	while (cap < (size_t)n)
		cap *= 2;
	d = malloc(cap * size);
	if (d && n)
		memcpy(d, p, n * size);
	return d;
}

int bal_config_dup(const struct bal_config *c, struct bal_config *out)
{
	*out = *c;
	out->backends = dup_array(c->backends, c->n_backends, sizeof(*c->backends));
	out->pools = dup_array(c->pools, c->n_pools, sizeof(*c->pools));
	out->rules = dup_array(c->rules, c->n_rules, sizeof(*c->rules));
	if (!out->backends || !out->pools || !out->rules) {
		free(out->backends);
		free(out->pools);
		free(out->rules);
		memset(out, 0, sizeof(*out));
		out->default_pool = -1;
		return tf_failx(ENOMEM, "balance: no memory for a copy of the config");
	}
	/* Each pointer inside is the copy's own from here on, or NULL (so a failure frees only those). */
	for (int i = 0; i < c->n_backends; i++)
		out->backends[i].channel = NULL;
	for (int i = 0; i < c->n_pools; i++)
		out->pools[i].members = NULL;
	out->listens = NULL;
	if (c->n_listens && !(out->listens = dup_array(c->listens, c->n_listens, sizeof(*c->listens))))
		goto fail;
	for (int i = 0; i < c->n_backends; i++)
		if (!(out->backends[i].channel = strdup(c->backends[i].channel)))
			goto fail;
	for (int i = 0; i < c->n_pools; i++)
		if (!(out->pools[i].members = dup_array(c->pools[i].members, c->pools[i].n, sizeof(*c->pools[i].members))))
			goto fail;
	return 0;
fail:
	bal_config_free(out);
	return tf_failx(ENOMEM, "balance: no memory for a copy of the config");
}

/* host against a pattern: equal, or "*.suffix" and host ends in ".suffix". */
static bool host_matches(const char *pattern, const char *host)
{
	size_t hl = strlen(host), sl;

	if (pattern[0] != '*')
		return !strcmp(pattern, host);
	sl = strlen(pattern + 1);	/* ".suffix" */
	return hl > sl && !strcmp(host + hl - sl, pattern + 1);
}

static bool path_matches(const char *prefix, const char *path)
{
	return !prefix[0] || !strncmp(path, prefix, strlen(prefix));
}

bool bal_route_needs_more(const struct bal_config *c, const uint8_t *bytes, size_t len)
{
	for (int i = 0; i < c->n_rules; i++) {
		const struct bal_rule *rule = &c->rules[i];

		if (rule->kind != BAL_MATCH_PREFIX)
			continue;
		if (len >= rule->prefix_len && !memcmp(bytes, rule->prefix, rule->prefix_len))
			return false;	/* this one matches, before any later one could */
		if (len < rule->prefix_len && !memcmp(bytes, rule->prefix, len))
			return true;
	}
	return false;
}

int bal_route(struct bal_config *c, const struct first_request *r, const uint8_t *bytes, size_t len)
{
	for (int i = 0; i < c->n_rules; i++) {
		struct bal_rule *rule = &c->rules[i];
		bool m = false;

		switch (rule->kind) {
		case BAL_MATCH_HOST:
			m = r->kind == FR_HTTP && host_matches(rule->host, r->host) && path_matches(rule->path, r->path);
			break;
		case BAL_MATCH_PATH:
			m = r->kind == FR_HTTP && r->path[0] && path_matches(rule->path, r->path);
			break;
		case BAL_MATCH_SNI:
			m = r->kind == FR_TLS && host_matches(rule->host, r->host);
			break;
		case BAL_MATCH_PREFIX:
			m = len >= rule->prefix_len && !memcmp(bytes, rule->prefix, rule->prefix_len);
			break;
		}
		if (m) {
			rule->matches++;
			return rule->pool;
		}
	}
	return c->default_pool;
}
