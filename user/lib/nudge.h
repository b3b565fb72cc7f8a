/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Prompting the peer after a move, so that it does not wait for its
 * retransmission timer: a few ACKs sent through a raw socket with the lock's
 * pass mark (TF_PASS_MARK), built from the image and the restored socket's
 * own timestamp clock (an estimated clock would poison the peer's ts_recent).
 *
 *   1. one ACK with seq = snd_nxt - 1 (out of window): the peer answers at
 *      once with an ACK of everything it has, so our restored socket learns
 *      what of its in-flight data arrived (the window probe repair-off sends,
 *      which a held lock drops);
 *   2. dupacks ACKs with seq = snd_nxt, ack = rcv_nxt and the last advertised
 *      window: duplicate ACKs, meant to start the peer's fast retransmit of
 *      what the lock dropped.  (Linux peers that negotiated SACK start
 *      recovery only on SACKed data, so these mostly matter for non-SACK peers;
 *      see tools/bench/migrate.sh for what they do here.)
 */
#ifndef TF_NUDGE_H
#define TF_NUDGE_H

#include "tcpferry.h"

/*
 * fd: the live restored socket (only its TCP_TIMESTAMP is read); c: its
 * image.  Returns how many packets went out, or a negative errno.
 */
int tf_nudge(int fd, const struct tf_conn *c, int dupacks);

#endif
