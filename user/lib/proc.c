// SPDX-License-Identifier: BSD-2-Clause
/*
 * A running process's sockets, taken with pidfd_getfd (5.6+) while the
 * process is stopped, so that it reads and writes nothing while we work.
 */
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "proc.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

int tf_proc_open(pid_t pid)
{
	int fd = syscall(SYS_pidfd_open, pid, 0);

	if (fd >= 0)
		return fd;
	if (errno == ESRCH)
		return tf_failx(ESRCH, "pid %d: no such process", pid);
	if (errno == ENOSYS)
		return tf_failx(ENOSYS, "pid %d: pidfd_open: this kernel is older than 5.3", pid);
	return tf_fail(errno, "pid %d: pidfd_open", pid);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

int tf_proc_list_fds(pid_t pid, int **fds, int *n)
{
	char path[64];
	struct dirent *de;
	int cap = 64, *v;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return tf_fail(errno, "pid %d: %s", pid, path);
	v = malloc(cap * sizeof(*v));
	*n = 0;
	while (v && (de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (*n == cap) {
			int *nv = realloc(v, (cap *= 2) * sizeof(*v));

			if (!nv) {
				free(v);
				v = NULL;
				break;
			}
			v = nv;
		}
		v[(*n)++] = atoi(de->d_name);
	}
	closedir(d);
	if (!v)
		return tf_failx(ENOMEM, "pid %d: no memory for its fd list", pid);
	qsort(v, *n, sizeof(*v), cmp_int);
	*fds = v;
	return 0;
}

int tf_proc_getfd(int pidfd, pid_t pid, int fd)
{
	int ours = syscall(SYS_pidfd_getfd, pidfd, fd, 0);

	if (ours >= 0)
		return ours;
	if (errno == EBADF)
		return tf_failx(EBADF, "pid %d fd %d: no such file descriptor", pid, fd);
	if (errno == EPERM)
		return tf_failx(EPERM, "pid %d fd %d: pidfd_getfd needs CAP_SYS_PTRACE over the process", pid, fd);
	if (errno == ESRCH)
		return tf_failx(ESRCH, "pid %d: the process exited", pid);
	return tf_fail(errno, "pid %d fd %d: pidfd_getfd", pid, fd);
}

static int send_signal(int pidfd, pid_t pid, int sig)
{
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0)
		return 0;
	if (errno == ESRCH)
		return tf_failx(ESRCH, "pid %d: the process exited", pid);
	return tf_fail(errno, "pid %d: signal %d", pid, sig);
}

/* Every thread of pid in state T (stopped) or t (traced)? */
static bool all_stopped(pid_t pid)
{
	char path[300], buf[512];
	struct dirent *de;
	bool stopped = true;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return false;
	while (stopped && (de = readdir(d))) {
		FILE *f;
		char *p;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", pid, de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;	/* the thread exited */
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
		/* "tid (comm) S ...": comm may hold spaces and parentheses */
		p = strrchr(buf, ')');
		stopped = p && (p[2] == 'T' || p[2] == 't');
	}
	closedir(d);
	return stopped;
}

int tf_proc_stop(int pidfd, pid_t pid)
{
	int err = send_signal(pidfd, pid, SIGSTOP);

	if (err)
		return err;
	/* The process must run to take the signal: on a busy machine (or with a
	 * move's other side on the other core) it is often not stopped yet at
	 * the first look.  Look again soon for the first millisecond rather
	 * than sleep half of one: the freeze is part of the peer's pause. */
	for (int i = 0; i < 2000; i++) {
		if (all_stopped(pid))
			return 0;
		usleep(i < 50 ? 20 : 500);
	}
	return tf_failx(ETIMEDOUT, "pid %d: did not stop within 1 s of SIGSTOP", pid);
}

int tf_proc_cont(int pidfd, pid_t pid)
{
	return send_signal(pidfd, pid, SIGCONT);
}

int tf_proc_kill(int pidfd, pid_t pid)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	int err = send_signal(pidfd, pid, SIGKILL);

	if (err == -ESRCH)
		return 0;
	if (err)
		return err;
	/* A pidfd polls readable once the process has exited. */
	if (poll(&p, 1, 5000) != 1)
		return tf_failx(ETIMEDOUT, "pid %d: still there 5 s after SIGKILL", pid);
	return 0;
}
