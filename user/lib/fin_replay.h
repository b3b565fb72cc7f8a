/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The FINs of a half-closed connection, put back into its rebuilt socket
 * while it is still in repair mode.  Repair mode has no way to queue a FIN,
 * so each is replayed the way it first happened:
 *
 *   ours     shutdown(SHUT_WR) with the send repair queue selected: the
 *            kernel queues the FIN and, in repair mode, counts it as sent
 *            without a packet (tcp_write_xmit).  A FIN that was still behind
 *            unsent data (tf_conn.fin_unsent) is queued later, by a plain
 *            shutdown() once repair is off and the unsent tail is back
 *            (tf_restore_finish).
 *   peer's   a FIN segment as from the peer, through a raw socket to the
 *            socket's own address (it arrives over loopback, with the lock's
 *            pass mark), as CRIU does; no timestamp option, so PAWS has
 *            nothing to check.
 *   acked    (FIN_WAIT2) then an ACK as from the peer that covers our FIN.
 *
 * Order: ours, then the peer's (FIN_WAIT1 -> CLOSING), except in LAST_ACK,
 * where the peer closed first (CLOSE_WAIT -> LAST_ACK).  Each step is
 * checked by the state the socket reaches.  The replies the socket sends go
 * out into the restore's lock.
 */
#ifndef TF_FIN_REPLAY_H
#define TF_FIN_REPLAY_H

#include "tcpferry.h"

/* Which FINs a Linux TCP state has seen. */
bool tf_state_our_fin(unsigned state);		/* FIN_WAIT1/2, CLOSING, LAST_ACK */
bool tf_state_peer_fin(unsigned state);		/* CLOSE_WAIT, CLOSING, LAST_ACK */

/* fd: the rebuilt socket, in repair mode, queues and window restored. */
int tf_fin_replay(int fd, const struct tf_conn *c);

#endif
