/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Fault injection for tests: with TCPFERRY_FAULT=<point> in the environment,
 * the command SIGKILLs itself when it reaches that point, as a crash or an
 * OOM kill would, leaving whatever state it had made.  Several points may be
 * given, comma-separated.  With TCPFERRY_PAUSE=<point> it SIGSTOPs itself
 * there instead, until the test, having done what a race would do in that
 * moment, sends SIGCONT.  The points, in the order a command meets them:
 *
 *   dump-listed       the sockets listed and identified; the process not yet
 *                     stopped
 *   dump-stopped      the process is stopped; nothing locked yet
 *   dump-locked       every connection is locked, none in repair mode yet
 *   dump-repaired     every connection locked, in repair mode and read
 *   dump-images       the images are written, the index (which marks a
 *                     complete dump) is not
 *   dump-done         the index is written; the process not yet killed/resumed
 *   restore-checked   every image read and validated; nothing locked
 *   restore-locked    the first tuple is locked, its socket not yet built
 *   restore-built     every socket rebuilt, still in repair mode
 *   restore-live      every socket out of repair mode, the locks still held
 *   restore-unlocked  the locks dropped (unless --keep-lock), not yet handed over
 *
 * A move between hosts (migrate send at the source, receive at the target;
 * migrate move is both: its source side meets the dump and send points, the
 * child that is its target side the restore and receive points):
 *
 *   send-prepared      the target has locked every tuple; nothing frozen yet
 *   send-sent          frozen, dumped, the images sent; not yet built there
 *   send-built         the target's sockets are built (in repair)
 *   send-flipped       --flip has run; COMMIT not sent
 *   send-committing    COMMIT sent, its answer not read
 *   receive-hello      WELCOME sent
 *   receive-prepared   every tuple locked here, PREPARED sent
 *   receive-received   every image read and validated; nothing built
 *   receive-built      the sockets rebuilt in repair mode, BUILT not sent yet
 *   receive-committing COMMIT received (journal: committing); still in repair
 *   receive-committed  live, handed over, unlocked; COMMITTED not sent
 *
 * A hand-off's backend (receive --serve):
 *   serve-built        the offered socket rebuilt in repair mode; BUILT not sent
 *   serve-handed       COMMIT received, out of repair and handed over; LIVE not sent
 *   serve-live         LIVE sent; FLIPPED (and the nudge) not yet
 * A hand-off's frontend (tf_handoff_submit and its backend's channel):
 *   handoff-live       the backend said LIVE; the tuple still locked here, not steered
 * Points where a step fails instead (fault_fails), as the kernel or a bad
 * channel could:
 *
 *   restore-live-fails  the first socket does not leave repair mode
 *   send-corrupt-image  the first image sent has a bit flipped (in a record)
 *   send-bad-version    HELLO says move protocol version 99
 *
 * With TCPFERRY_FAULT_TRACE=PATH, every point the command passes (and every
 * fault_fails step it asks about) is appended to PATH as it is reached, one
 * line each: "point NAME" or "fails NAME", so that a test can take the list
 * of points from a run instead of a copy of the list above that can go
 * stale.  A line is written whole (O_APPEND), before any pause or kill
 * there; a trace that cannot be written is said once on stderr.
 */
#ifndef TF_FAULT_H
#define TF_FAULT_H

#include <stdbool.h>

void fault_point(const char *name);
/* Should the step called name fail (TCPFERRY_FAULT lists it)? */
bool fault_fails(const char *name);

#endif
