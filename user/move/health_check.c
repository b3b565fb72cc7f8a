// SPDX-License-Identifier: BSD-2-Clause
/* A backend's own health check (health_check.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "health_check.h"
#include "report.h"

void hc_init(struct health_check *h, const char *cmd, int interval_ms, int output)
{
	*h = (struct health_check){ .cmd = cmd, .interval_ms = interval_ms > 0 ? interval_ms : 2000,
				    .output = output, .healthy = true };
}

static bool verdict(struct health_check *h, bool passed)
{
	if (!h->decided) {
		h->decided = true;
		h->healthy = passed;
		return !passed;		/* assumed healthy until now */
	}
	if (passed == h->healthy) {
		h->streak = 0;
		return false;
	}
	if (++h->streak < (passed ? HC_RISE : HC_FALL))
		return false;
	h->streak = 0;
	h->healthy = passed;
	return true;
}

void hc_tick(struct health_check *h)
{
	double now = mv_now_ms();

	if (!h->cmd)
		return;
	if (h->pid > 0) {
		if (now - h->started_ms > h->interval_ms) {
			kill(-h->pid, SIGKILL);	/* its group: what it started too */
			kill(h->pid, SIGKILL);	/* reaped by the caller, and failed there */
		}
		return;
	}
	if (now < h->next_ms)
		return;
	h->next_ms = now + h->interval_ms;
	h->started_ms = now;
	h->pid = fork();
	if (h->pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0)
			dup2(null, 0);
		if (h->output >= 0) {
			dup2(h->output, 1);
			dup2(h->output, 2);
		}
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", h->cmd, (char *)NULL);
		_exit(127);
	}
	if (h->pid < 0) {
		h->pid = 0;
		snprintf(h->why, sizeof(h->why), "fork: %s", strerror(errno));
	}
}

bool hc_reaped(struct health_check *h, pid_t pid, int status)
{
	bool passed;

	if (!h->cmd || pid != h->pid)
		return false;
	h->pid = 0;
	passed = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (WIFEXITED(status) && !passed)
		snprintf(h->why, sizeof(h->why), "`%s` exited %d", h->cmd, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(h->why, sizeof(h->why), "`%s` %s", h->cmd,
			 WTERMSIG(status) == SIGKILL ? "did not end within the interval" : strsignal(WTERMSIG(status)));
	return verdict(h, passed);
}

void hc_stop(struct health_check *h)
{
	if (h->pid > 0) {
		kill(-h->pid, SIGKILL);
		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
		h->pid = 0;
	}
}
