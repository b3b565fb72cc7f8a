/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The LOCAL PEER arguments of `lock add|del` and `steer add|del`: this
 * host's end, then the remote one, as ADDR:PORT or [IPv6]:PORT.
 */
#ifndef TF_TUPLE_ARGS_H
#define TF_TUPLE_ARGS_H

#include "lock.h"

/*
 * Exactly two arguments from argv[first] on, into *k: 0, or EXIT_USAGE
 * after printing usage (not two) or why they are no tuple (prefixed "CMD: "
 * when cmd is not NULL).
 */
int cli_tuple_args(int argc, char **argv, int first, const char *usage, const char *cmd, struct tf_tuple *k);

#endif
