// SPDX-License-Identifier: BSD-2-Clause
/* One record of the tsval recorder's ring buffer, as tswatch reports it (see tswatch_event.h). */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "tsval.h"
#include "tswatch_event.h"

static const char *const kind_names[] = {
	[TF_TSV_EV_FIRST] = "first",
	[TF_TSV_EV_REGRESSION] = "regression",
	[TF_TSV_EV_JUMP] = "jump",
};

static bool endpoint_match(const struct tf_endpoint *want, const struct tf_endpoint *got)
{
	int len = want->family == AF_INET ? 4 : 16;

	if (want->port && want->port != got->port)
		return false;
	return want->family == got->family && !memcmp(want->addr, got->addr, len);
}

bool tswatch_tuple_match(const struct tswatch_filter *f, const struct tf_tuple *k)
{
	struct tf_endpoint l, p;

	tf_tuple_endpoints(k, &l, &p);
	return (!f->has_local || endpoint_match(&f->local, &l)) && (!f->has_peer || endpoint_match(&f->peer, &p));
}

void tswatch_tuple_strs(const struct tf_tuple *k, char *l, char *p)
{
	struct tf_endpoint le, pe;

	tf_tuple_endpoints(k, &le, &pe);
	tf_endpoint_str(&le, l, TF_ADDRSTRLEN);
	tf_endpoint_str(&pe, p, TF_ADDRSTRLEN);
}

int tswatch_on_event(void *ctx, void *data, size_t len)
{
	struct tswatch *w = ctx;
	const struct tf_tsval_event *e = data;
	char l[TF_ADDRSTRLEN], p[TF_ADDRSTRLEN];
	const char *dir;

	if (len < sizeof(*e) || e->kind > TF_TSV_EV_JUMP || !tswatch_tuple_match(&w->f, &e->tuple))
		return 0;
	/*
	 * Before our start: left in the ring by a tswatch that was killed
	 * (its watcher count stays up, so the recorder kept emitting).
	 */
	if (e->time_ns < w->start_ns)
		return 0;
	w->events++;
	if (e->kind == TF_TSV_EV_REGRESSION)
		w->regressions++;
	if (e->kind == TF_TSV_EV_JUMP)
		w->jumps++;
	if (e->kind == TF_TSV_EV_FIRST && w->quiet)
		return 0;
	tswatch_tuple_strs(&e->tuple, l, p);
	dir = e->dir == TF_TSV_IN ? "in" : "out";
	if (w->j) {
		json_object_start(w->j);
		json_string_field(w->j, "kind", kind_names[e->kind]);
		json_string_field(w->j, "dir", dir);
		json_string_field(w->j, "local", l);
		json_string_field(w->j, "peer", p);
		json_uint_field(w->j, "tsval", e->tsval);
		json_uint_field(w->j, "prev", e->prev);
		json_uint_field(w->j, "last", e->last);
		json_int_field(w->j, "delta", (int32_t)(e->tsval - e->prev));
		json_uint_field(w->j, "time_ns", e->time_ns);
		json_object_end(w->j);
		return 0;
	}
	switch (e->kind) {
	case TF_TSV_EV_FIRST:
		fprintf(w->out, "first       %-3s %s %s %s  tsval %u\n", dir, l, e->dir == TF_TSV_IN ? "<-" : "->", p, e->tsval);
		break;
	case TF_TSV_EV_REGRESSION:
		fprintf(w->out, "REGRESSION  %-3s %s %s %s  tsval %u after max %u (%+d; previous packet %u)\n", dir, l,
		       e->dir == TF_TSV_IN ? "<-" : "->", p, e->tsval, e->prev, (int32_t)(e->tsval - e->prev), e->last);
		break;
	default:
		fprintf(w->out, "jump        %-3s %s %s %s  tsval %u after max %u (%+d)\n", dir, l, e->dir == TF_TSV_IN ? "<-" : "->",
		       p, e->tsval, e->prev, (int32_t)(e->tsval - e->prev));
	}
	fflush(w->out);
	return 0;
}
