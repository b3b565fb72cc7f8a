/* SPDX-License-Identifier: BSD-2-Clause */
/* Network namespaces by name (ip netns) or path, for -n and migrate move. */
#ifndef TF_CLI_NETNS_H
#define TF_CLI_NETNS_H

#include <stddef.h>

/* An fd for SPEC: a name under /run/netns, or a path (it has a '/') such as
 * /proc/PID/ns/net.  The path tried is left in PATH.  -errno on failure. */
int netns_open(const char *spec, char *path, size_t len);

#endif
