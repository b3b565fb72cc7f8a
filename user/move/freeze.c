// SPDX-License-Identifier: BSD-2-Clause
/* Stopping a process at an idle moment (see freeze.h). */
#include <dirent.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "report.h"
#include "freeze.h"
#include "proc.h"

/* Syscalls in which a thread waits for work, holding nothing in hand. */
static bool waiting_syscall(long nr)
{
	static const long waits[] = {
#ifdef SYS_poll
		SYS_poll,
#endif
#ifdef SYS_select
		SYS_select,
#endif
#ifdef SYS_epoll_wait
		SYS_epoll_wait,
#endif
#ifdef SYS_pause
		SYS_pause,
#endif
#ifdef SYS_nanosleep
		SYS_nanosleep,
#endif
		SYS_ppoll, SYS_pselect6, SYS_epoll_pwait, SYS_clock_nanosleep, SYS_rt_sigsuspend,
	};

	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++)
		if (nr == waits[i])
			return true;
	return false;
}

/* Every thread of pid stopped inside a waiting syscall (/proc/PID/task/TID/syscall)? */
static bool all_waiting(pid_t pid)
{
	char path[300], buf[256];
	struct dirent *de;
	bool waiting = true;
	int threads = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return false;
	while (waiting && (de = readdir(d))) {
		long nr;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/syscall", pid, de->d_name);
		f = fopen(path, "r");
		if (!f || !fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		if (f)
			fclose(f);
		waiting = sscanf(buf, "%ld", &nr) == 1 && waiting_syscall(nr);
		threads++;
	}
	closedir(d);
	return waiting && threads > 0;
}

int freeze_idle(int pidfd, pid_t pid, long timeout_ms, int *tries)
{
	struct timespec t0, t;
	int err;

	*tries = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		(*tries)++;
		err = tf_proc_stop(pidfd, pid);
		if (err)
			return mv_lib_error(err, "migrate freeze");
		if (all_waiting(pid))
			return 0;
		tf_proc_cont(pidfd, pid);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms)
			return mv_error("migrate freeze: pid %d was never caught waiting in poll/select/epoll "
					 "within %ld ms (%d tries); it is running again. Retry, or raise --timeout-ms",
					 pid, timeout_ms, *tries);
		usleep(200 + *tries * 50);
	}
}
