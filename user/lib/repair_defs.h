/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * TCP_REPAIR constants that Debian 12's kernel headers (6.1) may lack or that
 * glibc's <netinet/tcp.h> does not carry.  Values are the kernel's ABI.
 */
#ifndef TF_REPAIR_DEFS_H
#define TF_REPAIR_DEFS_H

#include <netinet/tcp.h>

#ifndef TCP_REPAIR
#define TCP_REPAIR		19
#endif
#ifndef TCP_REPAIR_QUEUE
#define TCP_REPAIR_QUEUE	20
#endif
#ifndef TCP_QUEUE_SEQ
#define TCP_QUEUE_SEQ		21
#endif
#ifndef TCP_REPAIR_OPTIONS
#define TCP_REPAIR_OPTIONS	22
#endif
#ifndef TCP_TIMESTAMP
#define TCP_TIMESTAMP		24
#endif
#ifndef TCP_ULP
#define TCP_ULP			31
#endif
#ifndef TCP_REPAIR_WINDOW
#define TCP_REPAIR_WINDOW	29
#endif
#ifndef TCP_REPAIR_ON
#define TCP_REPAIR_ON		1
#define TCP_REPAIR_OFF		0
#define TCP_REPAIR_OFF_NO_WP	-1
#endif

/* tcp_info's tcpi_options: the flow uses usec timestamps (6.7; no older
 * kernel sets the bit, so it also says whether usec flows exist) */
#ifndef TCPI_OPT_USEC_TS
#define TCPI_OPT_USEC_TS	64
#endif

/* TCP_REPAIR_QUEUE values */
#define TF_NO_QUEUE		0
#define TF_RECV_QUEUE		1
#define TF_SEND_QUEUE		2

/* TCP_REPAIR_OPTIONS codes (TCPOPT_*) */
#define TF_TCPOPT_MSS		2
#define TF_TCPOPT_WINDOW	3
#define TF_TCPOPT_SACK_PERM	4
#define TF_TCPOPT_TIMESTAMP	8

#ifndef SO_BUF_LOCK
#define SO_BUF_LOCK		72
#endif
#ifndef SO_MAX_PACING_RATE
#define SO_MAX_PACING_RATE	47
#endif
#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP		262
#endif
#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND		78
#endif

struct tf_repair_opt {
	uint32_t opt_code;
	uint32_t opt_val;
};

#endif
