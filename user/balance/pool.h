/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Which backend of a pool gets a connection (rules.h has the pool):
 *
 *   roundrobin   smooth weighted round robin (as nginx's): over any stretch
 *                each backend gets its weight's share, interleaved
 *   leastconn    the fewest live connections for its weight (conns/weight),
 *                ties to the first listed
 *   hash-host    rendezvous (highest random weight) hashing of the Host or
 *   hash-client  SNI, or of the client's address: the same key goes to the
 *                same backend while it is up, and a backend going down moves
 *                only its own keys
 *
 * Only backends that are up and not tried yet take part, so a hand-off a
 * backend refused is retried on the next one before any error reaches the
 * client.
 */
#ifndef TF_BALANCE_POOL_H
#define TF_BALANCE_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "rules.h"

/* A backend index, or -1 when none is left; tried[] (or NULL) by backend index. */
int bal_pick(struct bal_config *c, int pool, const void *key, size_t key_len, const bool *tried);

#endif
