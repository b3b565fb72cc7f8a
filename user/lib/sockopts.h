/* SPDX-License-Identifier: BSD-2-Clause */
/* Carrying user-set socket options over (see sockopts.c for the table). */
#ifndef TF_SOCKOPTS_H
#define TF_SOCKOPTS_H

#include <stddef.h>
#include "tcpferry.h"

/* When in the restore an option is set. */
enum tf_sockopt_phase {
	TF_PHASE_BEFORE_BIND,	/* routing and device: before bind/connect */
	TF_PHASE_AFTER_QUEUES,	/* still in repair, queues and window in place */
	TF_PHASE_AFTER_REPAIR,	/* TCP_REPAIR off resets them */
};

int tf_sockopts_dump(int fd, struct tf_conn *c);
int tf_sockopts_restore(int fd, const struct tf_conn *c, enum tf_sockopt_phase phase);

/* "TCP_NODELAY", or NULL for an id this build does not know. */
const char *tf_sockopt_name(uint16_t id);
/* The value as text: "1", "cubic", "on,5". */
int tf_sockopt_format(const struct tf_sockopt *o, char *buf, size_t len);

#endif
