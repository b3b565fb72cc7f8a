/* SPDX-License-Identifier: BSD-2-Clause */
#ifndef TF_TCP_AUTH_H
#define TF_TCP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Does the TCP socket fd carry authentication keys: TCP-MD5 (RFC 2385) or
 * TCP-AO (RFC 5925)?  Returns "TCP-MD5", "TCP-AO", or NULL for none or for
 * cannot tell (no sock_diag here, the socket in another network namespace).
 */
const char *tf_tcp_auth_keys(int fd);

/*
 * The TCP-MD5 answer for many sockets at once: one sock_diag dump of this
 * network namespace's TCP sockets in the states a dump carries (both
 * families), remembered by socket cookie.  A socket the scan did not see (made
 * since, in another state then, in another namespace) is asked about alone,
 * as tf_tcp_auth_keys does, so the answer is the same, only cheaper: two
 * system calls a socket (TCP_AO_INFO, SO_COOKIE) instead of nine.
 */
struct tf_auth_scan;
/*
 * Does a scan pay for n sockets?  It walks the host's whole established hash
 * table first (a few ms), then costs about a quarter of a lone question for
 * every TCP socket of the namespace, n or not (sockstat's inuse): for fewer
 * than 512 sockets, or on a host with many more connections than the process
 * holds, asking each one alone is cheaper.
 */
bool tf_auth_scan_pays(size_t n);
/* 0 and *out, or a negative errno (no sock_diag: ask each socket alone). */
int tf_auth_scan(struct tf_auth_scan **out);
void tf_auth_scan_free(struct tf_auth_scan *s);
/* The scan's answer for fd: 1 TCP-MD5 keys, 0 none, -1 not in the scan. */
int tf_auth_scan_md5(const struct tf_auth_scan *s, int fd);
/* tf_tcp_auth_keys with the scan's answer where it has one; s may be NULL. */
const char *tf_tcp_auth_keys_scan(int fd, const struct tf_auth_scan *s);
/* The same with the TCP-MD5 answer given (tf_auth_scan_md5's: -1 asks alone). */
const char *tf_tcp_auth_keys_md5(int fd, int md5);
/*
 * tf_check_socket (tcpferry.h), its TCP-MD5 question answered from s (or
 * NULL); a socket in s is a TCP socket of AF_INET or AF_INET6, so its type is
 * not read again.
 */
int tf_check_socket_scan(int fd, const struct tf_auth_scan *s);
/*
 * Its second half, for a socket that passed it before (a TCP socket of
 * family AF_INET or AF_INET6 stays one): the state, the ULP, the keys.
 */
int tf_check_connection(int fd, const struct tf_auth_scan *s);

#endif
