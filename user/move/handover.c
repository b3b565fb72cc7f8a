// SPDX-License-Identifier: BSD-2-Clause
/* The restored sockets to their new owner (see handover.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handoff.h"
#include "handover.h"
#include "report.h"

/* The sockets passed to the running receiver; its pid (SO_PEERCRED), or -1. */
pid_t handover_send(struct restore_job *rj, int s, const char *path, const char *what)
{
	int n = rj->ix.n, *fds, err;
	const char **names;
	struct ucred cred = {};
	socklen_t len = sizeof(cred);

	if (restore_job_handover(rj, &fds, &names)) {
		close(s);
		return -1;
	}
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		cred.pid = 0;
	err = tf_handoff_send(s, path, fds, names, n);	/* closes s */
	free(fds);
	free(names);
	if (err)
		return mv_lib_error(err, "%s: handing the sockets to %s", what, path), -1;
	return cred.pid;
}

/* CMD started in this namespace with the sockets; its pid, or -1. */
pid_t handover_exec(struct restore_job *rj, char **cmd, const char *what)
{
	int n = rj->ix.n, *fds;
	const char **names;
	pid_t p;

	if (restore_job_handover(rj, &fds, &names))
		return -1;
	fflush(NULL);
	p = fork();
	if (p == 0) {
		int err = tf_handoff_exec(fds, names, n, cmd);

		mv_lib_error(err, "%s: the sockets are live but", what);
		_exit(127);
	}
	if (p < 0)
		mv_error("%s: fork: %s", what, strerror(errno));
	free(fds);
	free(names);
	return p;
}

