// SPDX-License-Identifier: BSD-2-Clause
/* The user's command that moves the traffic (see flip.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flip.h"
#include "report.h"

/* The command started in the background: its pid, or -1 (reported). */
pid_t flip_start(const char *flip, const char *what)
{
	pid_t p = fork();

	if (p == 0) {
		execl("/bin/sh", "sh", "-c", flip, (char *)NULL);
		_exit(127);
	}
	if (p < 0)
		mv_error("%s: --flip: fork: %s", what, strerror(errno));
	return p;
}

int flip_wait(pid_t p, const char *flip, const char *what)
{
	int st;

	while (waitpid(p, &st, 0) < 0)
		if (errno != EINTR)
			return mv_error("%s: --flip: %s", what, strerror(errno));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	return mv_error("%s: the --flip command failed (%s %d): %s", what,
			 WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), flip);
}

int flip_run(const char *flip, const char *what)
{
	pid_t p = flip_start(flip, what);

	return p < 0 ? 1 : flip_wait(p, flip, what);
}
