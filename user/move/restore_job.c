// SPDX-License-Identifier: BSD-2-Clause
/* The work of a restore (see restore_job.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "phase.h"
#include "report.h"
#include "fault.h"
#include "image_io.h"
#include "restore_job.h"
#include "tsval.h"

int restore_job_read(struct restore_job *j)
{
	struct tf_conn *c;
	int err = image_source_read(j->dir, &j->ix, &c, &j->stream);

	if (err && !j->stream)
		return mv_lib_error(err, "restore");	/* the error names the index or the image */
	if (err)
		return mv_error("restore %s: %s; nothing was restored (no lock taken, no socket made): the "
				"connections are still at the source: dump again, or roll back there with "
				"tcpferry resume", j->dir, *tf_strerror() ? tf_strerror() : strerror(-err));
	j->r = calloc(j->ix.n ? j->ix.n : 1, sizeof(*j->r));
	if (!j->r) {
		tf_stream_conns_free(c, j->ix.n);
		return mv_error("restore %s: no memory", j->dir);
	}
	for (uint32_t i = 0; i < j->ix.n; i++) {
		const char *file = j->ix.entries[i].file;

		j->r[i].fd = -1;
		j->r[i].conn = c[i];	/* the image's buffers move over */
		snprintf(j->r[i].name, sizeof(j->r[i].name), "%.*s", (int)strcspn(file, "."), file);
	}
	free(c);
	fault_point("restore-checked");
	return 0;
}

struct at_arg {
	struct restore_job *j;
	char path[4096];
};

static const struct tf_conn *restored_at(void *arg, size_t i, const char **name)
{
	struct at_arg *a = arg;

	if (name) {
		snprintf(a->path, sizeof(a->path), "%s/%s", a->j->dir, a->j->ix.entries[i].file);
		*name = a->path;
	}
	return &a->j->r[i].conn;
}

/* A failure after the locks: none of ours may stay on a tuple a live socket here owns. */
static int build_failed(struct restore_job *j)
{
	/* Still in repair mode: closing them sends nothing.  The locks stay. */
	for (int k = 0; k < j->built; k++) {
		close(j->r[k].fd);
		j->r[k].fd = -1;
	}
	j->built = 0;
	conn_locks_release_owned(&j->locks);
	return 1;
}

int restore_job_check_owners(struct restore_job *j)
{
	struct at_arg a = { .j = j };

	/* Called before build locks anything (migrate move locked the target itself). */
	return conn_owners_check(j->ix.n, restored_at, &a, "restore",
				 j->lock ? "nothing was locked or restored" : "nothing was restored");
}

int restore_job_build(struct restore_job *j)
{
	j->locks.bpffs = j->bpffs;
	/* A tuple a live socket here owns is refused before any lock: the
	 * lock would drop that connection's packets (a dump --leave-running
	 * restored on its own host, or a restore on the wrong host). */
	if (!j->owners_checked && restore_job_check_owners(j))
		return 1;
	mv_phase("owners");
	/* Every tuple locked before the first socket exists: an orchestrator
	 * may point the route here as soon as this returns. */
	for (uint32_t i = 0; j->lock && i < j->ix.n; i++) {
		if (conn_locks_add(&j->locks, &j->r[i].conn, TF_LOCK_RESTORE, (uint64_t)j->ttl * 1000000000ull))
			return build_failed(j);
		if (i == 0)
			fault_point("restore-locked");
	}
	for (uint32_t i = 0; i < j->ix.n; i++) {
		struct restored *r = &j->r[i];
		char l[TF_ADDRSTRLEN], p[TF_ADDRSTRLEN];

		r->ts_dumped = r->conn.ts_clock;
		if (j->ts_bare) {
			/* Set exactly this host's bare clock, keeping the flow's usec flag. */
			r->conn.ts_clock = tf_ts_bare_clock(r->conn.ts_clock & 1);
			j->ro.no_ts_fixup = true;
		}
		r->fd = tf_restore(&r->conn, &j->ro);
		r->ts_chosen = j->ro.ts_chosen;
		r->ts_offset = j->ro.ts_offset;
		if (r->fd < 0) {
			mv_lib_error(r->fd, "restore %s -> %s (%s)", tf_endpoint_str(&r->conn.local, l, sizeof(l)),
				      tf_endpoint_str(&r->conn.peer, p, sizeof(p)), r->name);
			return build_failed(j);
		}
		j->built++;
		mv_phase("tf_restore");
		if (mv_verbose())
			mv_info("%s: TCP_TIMESTAMP %u (dumped clock %u, wire %s%u; offset %+d from this host's clock)",
				 r->name, j->ro.ts_chosen, r->ts_dumped, r->conn.has_ts_wire ? "" : "none ",
				 r->conn.ts_wire, j->ro.ts_offset);
	}
	fault_point("restore-built");
	return 0;
}

int restore_job_live(struct restore_job *j, bool probe)
{
	int ret = 0;

	for (uint32_t i = 0; i < j->ix.n; i++) {
		int err;

		if (i == 0 && fault_fails("restore-live-fails")) {
			ret = mv_error("restore %s: leaving repair mode: fault injection (restore-live-fails)",
					j->r[i].name);
			continue;
		}
		err = tf_restore_finish(j->r[i].fd, &j->r[i].conn, probe);
		if (err)
			ret = mv_lib_error(err, "restore %s: leaving repair mode", j->r[i].name);
	}
	mv_phase("live");
	fault_point("restore-live");
	return ret;
}

int restore_job_handover(const struct restore_job *j, int **fds, const char ***names)
{
	*fds = malloc((j->ix.n + 1) * sizeof(**fds));
	*names = malloc((j->ix.n + 1) * sizeof(**names));
	if (!*fds || !*names) {
		free(*fds);
		free(*names);
		*fds = NULL;
		*names = NULL;
		return mv_error("restore %s: no memory", j->dir);
	}
	for (uint32_t i = 0; i < j->ix.n; i++) {
		(*fds)[i] = j->r[i].fd;
		(*names)[i] = j->r[i].name;
	}
	return 0;
}

void restore_job_discard(struct restore_job *j)
{
	for (int k = 0; k < j->built; k++) {
		tf_repair_on(j->r[k].fd);
		close(j->r[k].fd);
		j->r[k].fd = -1;
	}
	j->built = 0;
}

void restore_job_free(struct restore_job *j)
{
	conn_locks_done(&j->locks);
	for (uint32_t i = 0; j->r && i < j->ix.n; i++)
		tf_conn_free(&j->r[i].conn);
	free(j->r);
	j->r = NULL;
	tf_index_free(&j->ix);
}
