// SPDX-License-Identifier: BSD-2-Clause
/*
 * tsval_bench [N...]: the per-packet cost of the tsval recorder's tc egress
 * program with N other connections already recorded (default 0 1000 1000000),
 * by BPF_PROG_TEST_RUN with repeat; TSV lines "metric N value unit" as
 * tools/bench expects:
 *
 *   tsval_out_ts        N  ns   a TCP packet with NOP NOP TS (fast path), tuple recorded
 *   tsval_out_walk      N  ns   TS after SACK (the option walk)
 *   tsval_out_nots      N  ns   a TCP packet without options (parse only, nothing recorded)
 *   tsval_out_watching  N  ns   the fast path while a tswatch is counted in (no event: no regression)
 *   tsval_tc_empty      N  ns   the floor: a tc program that only returns
 *
 * The map is the skeleton's own (no pin), sized for the largest N.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tsval.h"
#include "tsval.skel.h"

#define PKT_REPEAT 2000000

static void die(const char *what)
{
	fprintf(stderr, "tsval_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Ethernet + IPv4 + TCP 10.255.0.1:443 -> 192.0.2.1:7, options opts, 64 bytes of payload. */
static size_t packet(uint8_t *buf, const uint8_t *opts, int optlen)
{
	size_t len = 14 + 20 + 20 + optlen + 64;

	memset(buf, 0, len);
	buf[12] = 0x08;
	buf[14] = 0x45;
	buf[16] = (len - 14) >> 8;
	buf[17] = (len - 14) & 0xff;
	buf[22] = 64;
	buf[23] = 6;
	*(uint32_t *)(buf + 26) = htonl(0x0AFF0001u);
	*(uint32_t *)(buf + 30) = htonl(0xC0000201u);
	*(uint16_t *)(buf + 34) = htons(443);
	*(uint16_t *)(buf + 36) = htons(7);
	buf[46] = ((20 + optlen) / 4) << 4;
	buf[47] = 0x10;
	memcpy(buf + 54, opts, optlen);
	return len;
}

static double per_packet(int prog_fd, const uint8_t *pkt, size_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = len, .repeat = PKT_REPEAT);

	if (bpf_prog_test_run_opts(prog_fd, &o))
		die("BPF_PROG_TEST_RUN");
	return o.duration;
}

static int empty_prog(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = -1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "tf_bench_empty", "GPL", insns, 2, NULL);

	if (fd < 0)
		die("load an empty program");
	return fd;
}

/* n recorded connections that the benchmark packet's tuple is not among. */
static void fill(int map_fd, size_t n)
{
	const size_t chunk = 65536;
	struct tf_tuple *k = calloc(chunk, sizeof(*k));
	struct tf_tsval *v = calloc(chunk, sizeof(*v));

	if (!k || !v)
		die("memory");
	for (size_t done = 0; done < n;) {
		__u32 cnt = n - done < chunk ? n - done : chunk;

		for (__u32 i = 0; i < cnt; i++) {
			size_t id = done + i;

			memset(&k[i], 0, sizeof(k[i]));
			k[i].family = AF_INET;
			k[i].local_addr[0] = htonl(0x0A000000u | (id >> 16));
			k[i].peer_addr[0] = htonl(0xC6120000u | (id & 0xffff));
			k[i].local_port = htons(80);
			k[i].peer_port = htons(1024 + (id % 60000));
			v[i].out_max.tsval = id;
			v[i].out_max.seen = 1;
		}
		if (bpf_map_update_batch(map_fd, k, v, &cnt, NULL))
			die("fill the tsval map");
		done += cnt;
	}
	free(k);
	free(v);
}

int main(int argc, char **argv)
{
	static const size_t defaults[] = { 0, 1000, 1000000 };
	uint8_t ts_opts[12] = { 1, 1, 8, 10, 0, 0, 0x10, 0, 0, 0, 0, 0 };
	uint8_t walk_opts[24] = { 1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 8, 10, 0, 0, 0x20, 0, 0, 0, 0, 0 };
	size_t ns[16], n_ns = 0, max = 0;
	int empty;

	for (int i = 1; i < argc && n_ns < 16; i++)
		ns[n_ns++] = strtoull(argv[i], NULL, 10);
	if (!n_ns)
		for (size_t i = 0; i < 3; i++)
			ns[n_ns++] = defaults[i];
	for (size_t i = 0; i < n_ns; i++)
		max = ns[i] > max ? ns[i] : max;
	empty = empty_prog();

	for (size_t i = 0; i < n_ns; i++) {
		struct tsval_bpf *skel = tsval_bpf__open();
		uint8_t buf[256];
		size_t len;
		uint32_t zero = 0;
		struct tf_tsval_cfg cfg = { .watchers = 1 };
		int prog;

		if (!skel)
			die("open the tsval skeleton");
		bpf_map__set_max_entries(skel->maps.tsvals, (max + 16) < 1024 ? 1024 : max + 16);
		bpf_map__set_max_entries(skel->maps.locks, 1);
		if (tsval_bpf__load(skel))
			die("load the tsval programs (root?)");
		fill(bpf_map__fd(skel->maps.tsvals), ns[i]);
		prog = bpf_program__fd(skel->progs.tf_tsval_tc_out);

		len = packet(buf, ts_opts, sizeof(ts_opts));
		printf("tsval_out_ts\t%zu\t%.1f\tns\n", ns[i], per_packet(prog, buf, len));
		len = packet(buf, walk_opts, sizeof(walk_opts));
		printf("tsval_out_walk\t%zu\t%.1f\tns\n", ns[i], per_packet(prog, buf, len));
		len = packet(buf, NULL, 0);
		printf("tsval_out_nots\t%zu\t%.1f\tns\n", ns[i], per_packet(prog, buf, len));
		bpf_map_update_elem(bpf_map__fd(skel->maps.tsval_cfg), &zero, &cfg, BPF_ANY);
		len = packet(buf, ts_opts, sizeof(ts_opts));
		printf("tsval_out_watching\t%zu\t%.1f\tns\n", ns[i], per_packet(prog, buf, len));
		printf("tsval_tc_empty\t%zu\t%.1f\tns\n", ns[i], per_packet(empty, buf, len));
		fflush(stdout);
		tsval_bpf__destroy(skel);
	}
	close(empty);
	return 0;
}
