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

/* How a socket option's value bytes read (for show and for validation). */
enum tf_sockopt_kind {
	TF_SOK_INT,		/* int, 4 bytes */
	TF_SOK_U64,		/* unsigned 64-bit, 8 bytes (or 4 as u32) */
	TF_SOK_STRING,		/* name, not necessarily NUL-terminated */
	TF_SOK_LINGER,		/* struct linger: int onoff, int seconds */
};

struct tf_sockopt_info {
	const char *name;	/* as the user knows it: "TCP_NODELAY" */
	enum tf_sockopt_kind kind;
};

/* NULL for an id this tcpferry does not know. */
const struct tf_sockopt_info *tf_sockopt_info(uint16_t id);

/* "1", "cubic", "on, 5 s", "0x..." into buf; returns buf. */
const char *tf_sockopt_value_str(const struct tf_sockopt *o, char *buf, size_t len);


#endif
