/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Prompting the peer after a move, so that it does not wait for its
 * retransmission timer: a few ACKs sent through a raw socket with the lock's
 * pass mark (TF_PASS_MARK), built from the image and the restored socket's
 * own timestamp clock (an estimated clock would poison the peer's ts_recent).
 *
 *   1. a probe, as a tail loss probe is: the last byte we sent again
 *      (seq = snd_nxt - 1, its content from the image's send queue; with
 *      nothing in flight the peer has that byte already).  The peer answers
 *      at once, whatever it holds: a duplicate gets an ACK with a D-SACK, a
 *      byte past a hole an ACK that SACKs it, the next byte an ACK.  So our
 *      restored socket learns what of its in-flight data arrived (and starts
 *      recovery of the rest) without waiting for its retransmission timer
 *      (the window probe repair-off sends is dropped by the lock still held
 *      then).  It carries data so that the peer's rate limit on answering
 *      out-of-window pure ACKs (one per 500 ms: tcp_invalid_ratelimit) does
 *      not silence it when a connection moves twice in quick succession;
 *   2. dupacks ACKs with seq = snd_nxt, ack = rcv_nxt and the last advertised
 *      window: duplicate ACKs, meant to start the peer's fast retransmit of
 *      what the lock dropped.  Only a peer without SACK counts them (Linux
 *      with SACK starts recovery on SACKed data alone: tcp_time_to_recover
 *      counts sacked_out), so by default (TF_NUDGE_DUPACKS_AUTO) they go
 *      only to connections that did not negotiate SACK, 3 of them.
 */
#ifndef TF_NUDGE_H
#define TF_NUDGE_H

#include "tcpferry.h"

/*
 * The raw sockets the ACKs leave through: one per address family, opened on
 * first use and kept for every connection of a move (the connection's own
 * address goes into each packet as IP_PKTINFO / IPV6_PKTINFO), so a move of
 * many connections costs one sendmmsg() each, not a socket each.
 */
struct tf_nudger {
	int raw4, raw6;
};

#define TF_NUDGER_INIT { .raw4 = -1, .raw6 = -1 }

#define TF_NUDGE_DUPACKS_AUTO (-1)	/* 3 without SACK, none with it */

/*
 * fd: the live restored socket (only its TCP_TIMESTAMP is read, and only
 * with TCPFERRY_NUDGE_TS set); c: its image; dupacks: how many duplicate
 * ACKs follow the first, or TF_NUDGE_DUPACKS_AUTO.  Returns how many packets
 * went out, or a negative errno.
 */
int tf_nudge(struct tf_nudger *n, int fd, const struct tf_conn *c, int dupacks);
void tf_nudger_close(struct tf_nudger *n);

#endif
