// SPDX-License-Identifier: BSD-2-Clause
/*
 * bpf_runtime PREFIX -- CMD [ARGS]: run CMD with the kernel's BPF run-time
 * statistics on (BPF_ENABLE_STATS: only while this process holds the fd, so
 * nothing is left switched on), and print what the BPF programs whose name
 * starts with PREFIX cost during it, beside the CPU time the machine spent:
 *
 *   bpf_runs      N         times those programs ran (packets, for tc)
 *   bpf_ns        NS        their run time, summed
 *   bpf_ns_per    NS        per run
 *   cpu_busy_ns   NS        all CPUs' non-idle time over the same span (/proc/stat)
 *   bpf_share     FRACTION  bpf_ns / cpu_busy_ns
 *
 * (tab-separated, to stderr, so that CMD's own stdout passes through).  The
 * tsval benchmark wraps iperf3 with it: the recorder's share of the CPU time
 * a CPU-bound transfer used is the throughput that recorder costs it,
 * measured in place instead of read out of two noisy throughput figures.
 * Exit status: CMD's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/bpf.h>

#include <bpf/bpf.h>

static void die(const char *what)
{
	fprintf(stderr, "bpf_runtime: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Sum of run_cnt and run_time_ns over the loaded programs named PREFIX*. */
static void prog_totals(const char *prefix, unsigned long long *runs, unsigned long long *ns)
{
	__u32 id = 0;

	*runs = *ns = 0;
	while (!bpf_prog_get_next_id(id, &id)) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_prog_get_fd_by_id(id);

		if (fd < 0)
			continue;	/* unloaded meanwhile */
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && !strncmp(info.name, prefix, strlen(prefix))) {
			*runs += info.run_cnt;
			*ns += info.run_time_ns;
		}
		close(fd);
	}
}

/* Non-idle time of all CPUs, ns (the "cpu" line of /proc/stat, in USER_HZ ticks). */
static unsigned long long cpu_busy_ns(void)
{
	unsigned long long v[10] = { 0 }, busy = 0;
	FILE *f = fopen("/proc/stat", "re");

	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
			 &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) < 8)
		die("read /proc/stat");
	fclose(f);
	/* user nice system idle iowait irq softirq steal [guest guest_nice, inside user] */
	for (int i = 0; i < 8; i++)
		if (i != 3 && i != 4)
			busy += v[i];
	return busy * (1000000000ull / sysconf(_SC_CLK_TCK));
}

int main(int argc, char **argv)
{
	unsigned long long runs0, ns0, runs1, ns1, busy0, busy1;
	int stats, status;
	pid_t pid;

	if (argc < 4 || strcmp(argv[2], "--")) {
		fprintf(stderr, "usage: bpf_runtime PREFIX -- CMD [ARGS]\n");
		return 2;
	}
	stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats < 0)
		die("BPF_ENABLE_STATS (root? kernel 5.8 or later)");
	prog_totals(argv[1], &runs0, &ns0);
	busy0 = cpu_busy_ns();
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		close(stats);
		execvp(argv[3], argv + 3);
		fprintf(stderr, "bpf_runtime: %s: %s\n", argv[3], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");
	busy1 = cpu_busy_ns();
	prog_totals(argv[1], &runs1, &ns1);
	close(stats);

	fprintf(stderr, "bpf_runs\t%llu\nbpf_ns\t%llu\nbpf_ns_per\t%.1f\ncpu_busy_ns\t%llu\nbpf_share\t%.6f\n",
		runs1 - runs0, ns1 - ns0, runs1 > runs0 ? (double)(ns1 - ns0) / (runs1 - runs0) : 0.0,
		busy1 - busy0, busy1 > busy0 ? (double)(ns1 - ns0) / (busy1 - busy0) : 0.0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
