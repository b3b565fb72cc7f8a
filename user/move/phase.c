// SPDX-License-Identifier: BSD-2-Clause
/* Phase times of a command (see phase.h). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "phase.h"

#define MAX_PHASES 32

static struct {
	const char *name;
	uint64_t ns, cpu_ns;
} phases[MAX_PHASES];
static int n_phases, enabled = -1;
static uint64_t last, first, last_cpu, first_cpu;

static uint64_t now_ns(clockid_t clk)
{
	struct timespec t;

	clock_gettime(clk, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + t.tv_nsec;
}

static bool on(void)
{
	if (enabled < 0)
		enabled = getenv("TCPFERRY_PHASES") != NULL;
	return enabled;
}

void mv_phase_start(void)
{
	if (on() && !first) {
		first = last = now_ns(CLOCK_MONOTONIC);
		first_cpu = last_cpu = now_ns(CLOCK_THREAD_CPUTIME_ID);
	}
}

void mv_phase_restart(void)
{
	n_phases = 0;
	first = 0;
	mv_phase_start();
}

void mv_phase(const char *name)
{
	uint64_t t, c;
	int i;

	if (!on())
		return;
	mv_phase_start();
	t = now_ns(CLOCK_MONOTONIC);
	c = now_ns(CLOCK_THREAD_CPUTIME_ID);
	for (i = 0; i < n_phases && strcmp(phases[i].name, name); i++)
		;
	if (i == n_phases) {
		if (n_phases == MAX_PHASES)
			return;
		phases[n_phases++].name = name;
	}
	phases[i].ns += t - last;
	phases[i].cpu_ns += c - last_cpu;
	last = t;
	last_cpu = c;
}

void mv_phase_report(void)
{
	if (!on() || !first)
		return;
	fprintf(stderr, "tcpferry phases (us wall cpu):");
	for (int i = 0; i < n_phases; i++)
		fprintf(stderr, " %s %.0f %.0f", phases[i].name, phases[i].ns / 1e3, phases[i].cpu_ns / 1e3);
	fprintf(stderr, " total %.0f %.0f\n", (last - first) / 1e3, (last_cpu - first_cpu) / 1e3);
}
