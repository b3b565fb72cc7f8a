/* SPDX-License-Identifier: BSD-2-Clause */
#ifndef TF_TCP_AUTH_H
#define TF_TCP_AUTH_H

/*
 * Does the TCP socket fd carry authentication keys: TCP-MD5 (RFC 2385) or
 * TCP-AO (RFC 5925)?  Returns "TCP-MD5", "TCP-AO", or NULL for none or for
 * cannot tell (no sock_diag here, the socket in another network namespace).
 */
const char *tf_tcp_auth_keys(int fd);

#endif
