/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The tuples of `tcpferry lock add|del --file F`: one "LOCAL PEER" pair a
 * line ("10.0.0.1:80 10.0.0.2:4567", "[fd00::1]:80 [fd00::2]:4567"), blank
 * lines and lines starting with # ignored.  Apart from the command so that a
 * fuzzer can feed it (tests/fuzz/fuzz_lock_file.c).
 */
#ifndef TF_LOCK_FILE_H
#define TF_LOCK_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "lock.h"

/* A tuple line is about 100 bytes; anything longer is not one. */
#define LOCK_FILE_LINE_MAX 4096

/*
 * Every tuple of f into *out (*n of them; free(*out) after, also when *n is 0).
 * At most max tuples.  0, or a negative errno with tf_strerror() naming the
 * line and what is wrong with it ("line 3: longer than 4096 bytes; one tuple
 * a line"); nothing is returned then.  Memory is bounded by max tuples and one
 * line, whatever f holds (/dev/zero is refused at its 4097th byte).
 */
int lock_file_read(FILE *f, size_t max, struct tf_tuple **out, size_t *n);

#endif
