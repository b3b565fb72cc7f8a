/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * DIR/restore.log: what each restore of a dump set, one line per connection,
 * appended (a retried restore adds lines; the last one counts).  The image
 * says what was dumped; this says which TCP_TIMESTAMP the restore chose and
 * the offset that put on the new host's clock, for `tcpferry show`.
 *
 *   # tcpferry restore log: name ts_chosen ts_offset restored_at_ns host
 *   conn-0001	123456790	-4001234	1795000000000000000	hostb
 */
#ifndef TF_RESTORE_LOG_H
#define TF_RESTORE_LOG_H

#include <stdint.h>

#include "restore_job.h"

#define RESTORE_LOG "restore.log"

struct restore_record {
	uint32_t ts_chosen;	/* the TCP_TIMESTAMP value set */
	int32_t ts_offset;	/* ts_chosen minus that host's bare TCP clock */
	uint64_t time_ns;	/* CLOCK_REALTIME of the restore */
	char host[64];
};

/* Appends the job's connections (created 0600).  Warns, never fails: the
 * sockets are restored whatever happens to their record. */
void restore_log_append(const struct restore_job *j);
/* The last record for IMAGE_PATH (DIR/NAME.tfc) in DIR/restore.log:
 * 1 found, 0 none (no log, or no line for it). */
int restore_log_find(const char *image_path, struct restore_record *out);

#endif
