/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A move's journal: one small file per move and side, DIR/ID.state, where
 * each step appends "STATE<TAB>CLOCK_REALTIME ns<TAB>detail" before it acts
 * (fdatasync'ed).  Its last line is how far the move got, so a side that lost
 * the channel, or the user, can tell a move in doubt from one that committed
 * or aborted (`tcpferry receive --status ID`).  The states a target goes
 * through: hello prepared received built committing committed, or aborted;
 * a source: prepared dumped built flipped committing committed retired, or
 * aborted, or in-doubt.
 */
#ifndef TF_MOVE_JOURNAL_H
#define TF_MOVE_JOURNAL_H

#include <stdint.h>

#define MV_JOURNAL_DIR "/run/tcpferry/moves"

struct mv_journal {
	int fd;
	char path[4096];
};

/* A new journal for move id in dir (made 0700); -EEXIST if id has one. */
int mv_journal_open(struct mv_journal *j, const char *dir, const char *id);
/* Append a state; 0 or -errno (the caller decides whether to go on). */
int mv_journal_mark(struct mv_journal *j, const char *state, const char *detail);
void mv_journal_close(struct mv_journal *j);

struct mv_journal_state {
	char state[32];
	uint64_t time_ns;
	char detail[512];
	int steps;		/* lines in the journal */
};

/* The last state of move id: 0, -ENOENT if there is no journal for it. */
int mv_journal_read(const char *dir, const char *id, struct mv_journal_state *out);

#endif
