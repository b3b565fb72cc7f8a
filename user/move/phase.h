/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Where a command's time goes: with TCPFERRY_PHASES set in the environment,
 * mv_phase(NAME) charges the time since the previous mark to NAME (the same
 * name again adds to it), and mv_phase_report() prints one line on stderr,
 * each phase's wall time and the CPU time this thread spent in it
 * (CLOCK_THREAD_CPUTIME_ID: what the phase costs, however loaded the machine):
 *   tcpferry phases (us wall cpu): list 850 610 ... total 9100 7020
 * Unset, each call is one branch.  For tools/bench/dump.sh.
 */
#ifndef TF_PHASE_H
#define TF_PHASE_H

/* The clock starts (the first mark does this too). */
void mv_phase_start(void);
/* Forget the phases so far and start again (a forked child: its own thread clock). */
void mv_phase_restart(void);
void mv_phase(const char *name);
void mv_phase_report(void);

#endif
