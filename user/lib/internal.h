/* SPDX-License-Identifier: BSD-2-Clause */
/* What the library's files share and the public header does not show. */
#ifndef TF_INTERNAL_H
#define TF_INTERNAL_H

#include <errno.h>
#include "tcpferry.h"

#ifndef ENOTSUPP
#define ENOTSUPP 524	/* the kernel's internal "not supported", as the bpf syscall may return it */
#endif

/*
 * Record why something failed and return -err, so a caller can write
 *	return tf_fail(errno, "bind %s", addr);
 * and the message reads "bind 10.0.0.1:80: Cannot assign requested address".
 * With err == 0 nothing is appended and -EINVAL is returned.
 */
int tf_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same, with the whole line in fmt: tf_failx(EBUSY, "%s: in use", x). */
int tf_failx(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the recorded message with more context ("restore conn-3.img: ..."). */
void tf_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tf_error_clear(void);

/*
 * An endpoint's IPv4 address as it goes on the wire (AF_INET, or a
 * v4-mapped IPv6 socket): true and out filled, or false (real IPv6).
 */
bool tf_endpoint_wire_v4(const struct tf_endpoint *e, uint8_t out[4]);

/* Is e's address this network namespace's own (a bind to it, port 0, works)?
 * 0 if so, -EADDRNOTAVAIL if not, another -errno if it cannot be told. */
int tf_address_check(const struct tf_endpoint *e);

/*
 * path opened for reading only as a file tcpferry could have written
 * (images/FORMAT.md): not through a symbolic link, a regular file (or, with
 * fifo_ok, a fifo, opened as one), owned by root or getuid(), not writable
 * by group or others, in a directory owned likewise and not so writable.
 * The fd, or -errno with the reason as the library's error.  images/image.c.
 */
int tf_open_trusted(const char *path, bool fifo_ok);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
