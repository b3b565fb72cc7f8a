// SPDX-License-Identifier: BSD-2-Clause
/* Told when watched TCP connections end (conn_end.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "conn_end.h"
#include "internal.h"
#include "lock.h"
#include "map_types.h"
#include "conn_end.skel.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

struct tf_conn_end_watcher {
	struct conn_end_bpf *skel;
	struct ring_buffer *rb;
	void (*fn)(void *ctx, const struct tf_conn_end *e);
	void *ctx;
	int got;
};

static int netns_cookie(__u64 *cookie)
{
	socklen_t len = sizeof(*cookie);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (s < 0)
		return tf_fail(errno, "conn end: socket");
	if (getsockopt(s, SOL_SOCKET, SO_NETNS_COOKIE, cookie, &len))
		err = tf_fail(errno, "conn end: SO_NETNS_COOKIE (Linux 5.14 or later)");
	close(s);
	return err;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct tf_conn_end_watcher *w = ctx;
	const struct tf_conn_end_event *ev = data;
	struct tf_conn_end e = {};

	if (size < sizeof(*ev))
		return 0;
	tf_tuple_endpoints(&ev->key.tuple, &e.local, &e.peer);
	e.netns_cookie = ev->key.netns_cookie;
	e.time_ns = ev->time_ns;
	e.old_state = ev->old_state;
	w->got++;
	if (w->fn)
		w->fn(w->ctx, &e);
	return 0;
}

int tf_conn_end_open(unsigned max_watches, struct tf_conn_end_watcher **out)
{
	struct tf_conn_end_watcher *w = calloc(1, sizeof(*w));
	int err;

	*out = NULL;
	if (!w)
		return tf_failx(ENOMEM, "conn end: no memory");
	w->skel = conn_end_bpf__open();
	if (!w->skel) {
		err = tf_fail(errno, "conn end: open the BPF object");
		goto fail;
	}
	bpf_map__set_max_entries(w->skel->maps.conn_watch, max_watches ? max_watches : 65536);
	if ((err = conn_end_bpf__load(w->skel))) {
		err = tf_fail(-err, "conn end: load the tracepoint program (libbpf's log above says why; "
			      "it needs CAP_BPF and CAP_PERFMON: run it as root)");
		goto fail;
	}
	if ((err = conn_end_bpf__attach(w->skel))) {
		err = tf_fail(-err, "conn end: attach to the inet_sock_set_state tracepoint");
		goto fail;
	}
	w->rb = ring_buffer__new(bpf_map__fd(w->skel->maps.conn_ends), on_event, w, NULL);
	if (!w->rb) {
		err = tf_fail(errno, "conn end: ring buffer");
		goto fail;
	}
	*out = w;
	return 0;
fail:
	tf_conn_end_close(w);
	return err;
}

static int key_of(const struct tf_endpoint *local, const struct tf_endpoint *peer, struct tf_conn_watch_key *k)
{
	int err;

	memset(k, 0, sizeof(*k));
	if ((err = netns_cookie(&k->netns_cookie)))
		return err;
	return tf_tuple_make(local, peer, &k->tuple);
}

int tf_conn_end_watch(struct tf_conn_end_watcher *w, const struct tf_endpoint *local, const struct tf_endpoint *peer)
{
	struct tf_conn_watch_key k;
	struct tf_conn_watch v = {};
	struct timespec t;
	char l[TF_ADDRSTRLEN], p[TF_ADDRSTRLEN];
	int err = key_of(local, peer, &k);

	if (err)
		return err;
	clock_gettime(CLOCK_MONOTONIC, &t);
	v.since_ns = (uint64_t)t.tv_sec * 1000000000 + t.tv_nsec;
	if (bpf_map_update_elem(bpf_map__fd(w->skel->maps.conn_watch), &k, &v, BPF_NOEXIST))
		return tf_fail(errno, "conn end: watch %s -> %s%s", tf_endpoint_str(local, l, sizeof(l)),
			       tf_endpoint_str(peer, p, sizeof(p)),
			       errno == E2BIG ? ": the watch table is full (raise its size)" :
			       errno == EEXIST ? ": watched already" : "");
	return 0;
}

int tf_conn_end_unwatch(struct tf_conn_end_watcher *w, const struct tf_endpoint *local,
			const struct tf_endpoint *peer)
{
	struct tf_conn_watch_key k;
	int err = key_of(local, peer, &k);

	if (err)
		return err;
	if (bpf_map_delete_elem(bpf_map__fd(w->skel->maps.conn_watch), &k))
		return tf_fail(errno, "conn end: unwatch: not watched");
	return 0;
}

int tf_conn_end_watching(struct tf_conn_end_watcher *w)
{
	struct tf_conn_watch_key k, next;
	int n = 0, fd = bpf_map__fd(w->skel->maps.conn_watch);
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

int tf_conn_end_fd(struct tf_conn_end_watcher *w)
{
	return ring_buffer__epoll_fd(w->rb);
}

int tf_conn_end_poll(struct tf_conn_end_watcher *w, int timeout_ms,
		     void (*fn)(void *ctx, const struct tf_conn_end *e), void *ctx)
{
	int err;

	w->fn = fn;
	w->ctx = ctx;
	w->got = 0;
	err = ring_buffer__poll(w->rb, timeout_ms);
	if (err < 0 && err != -EINTR)
		return tf_fail(-err, "conn end: ring buffer poll");
	return w->got;
}

void tf_conn_end_close(struct tf_conn_end_watcher *w)
{
	if (!w)
		return;
	ring_buffer__free(w->rb);
	conn_end_bpf__destroy(w->skel);
	free(w);
}
