// SPDX-License-Identifier: BSD-2-Clause
/*
 * The move protocol's messages (user/move/proto.h): each one goes through a
 * socketpair and comes back equal; each decoder refuses every truncation of
 * a valid payload, a byte too many, and the fields out of range; an ABORT
 * where another message was awaited is -ECONNABORTED with its text kept; a
 * message of another type is -EPROTO; a closed channel -ENODATA.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "image_testlib.h"
#include "tap.h"
#include "proto.h"

static struct mv_chan a, b;	/* the two ends */

/* The payload of the next message on b's side, as it came. */
static struct tf_frame next_frame(void)
{
	struct tf_frame f;

	if (tf_frame_read(b.in, &f, MV_MSG_MAX, 1000))
		bail_out("frame: %s", tf_strerror());
	return f;
}

typedef int (*decoder)(const uint8_t *p, size_t n, void *out);

/* Every cut of p and one byte more are refused. */
static void refuses_cuts(const char *what, decoder dec, const struct tf_frame *f, size_t out_size)
{
	void *out = malloc(out_size);
	uint8_t *longer = malloc(f->len + 1);
	int bad = 0;

	for (size_t n = 0; n < f->len; n++)
		if (dec(f->data, n, out) != -EBADMSG)
			bad++;
	memcpy(longer, f->data, f->len);
	longer[f->len] = 0;
	ok(bad == 0, "%s: every one of its %u truncations is refused (%d accepted)", what, f->len, bad);
	ok(dec(longer, f->len + 1, out) == -EBADMSG, "%s: a byte too many is refused", what);
	free(out);
	free(longer);
}

static struct tf_index two_tuples(void)
{
	struct tf_index ix = { .pid = 42, .n = 2, .time_ns = 1, .host = "a" };

	ix.entries = calloc(2, sizeof(*ix.entries));
	for (int i = 0; i < 2; i++) {
		snprintf(ix.entries[i].file, sizeof(ix.entries[i].file), "conn-%04d.tfc", i + 1);
		ix.entries[i].local = (struct tf_endpoint){ .family = AF_INET, .port = 5000, .addr = { 198, 19, 0, 10 } };
		ix.entries[i].peer = (struct tf_endpoint){ .family = AF_INET, .port = 40000 + i,
							   .addr = { 198, 18, 10, 2 } };
	}
	return ix;
}

int main(void)
{
	int sv[2], err;
	struct tf_frame f;

	plan(49);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		bail_out("socketpair");
	a = (struct mv_chan){ .in = sv[0], .out = sv[0], .timeout_ms = 1000 };
	b = (struct mv_chan){ .in = sv[1], .out = sv[1], .timeout_ms = 1000 };

	/* HELLO */
	struct mv_hello h = { .version = MV_PROTO_VERSION, .realtime_ns = 123456789, .id = "hosta-42-1a2b",
			      .host = "hosta" }, h2;
	ok(mv_send_hello(&a, &h) == 0 && mv_recv_hello(&b, &h2) == 0 && h2.version == h.version &&
	   h2.realtime_ns == h.realtime_ns && !strcmp(h2.id, h.id) && !strcmp(h2.host, h.host),
	   "HELLO comes back equal");
	mv_send_hello(&a, &h);
	f = next_frame();
	refuses_cuts("HELLO", (decoder)mv_decode_hello, &f, sizeof(struct mv_hello));
	tf_frame_free(&f);
	struct mv_hello bad_id = h;
	snprintf(bad_id.id, sizeof(bad_id.id), "../../etc/x");
	mv_send_hello(&a, &bad_id);
	ok(mv_recv_hello(&b, &h2) == -EBADMSG, "HELLO with an id that is not a file name is refused");

	/* WELCOME */
	struct mv_welcome w = { .version = 1, .features = MV_FEAT_TCX | MV_FEAT_USEC_TS, .realtime_ns = 99,
				.pid = 7, .host = "hostb" }, w2;
	ok(mv_send_welcome(&b, &w) == 0 && mv_recv_welcome(&a, &w2) == 0 && w2.features == w.features &&
	   w2.pid == 7 && !strcmp(w2.host, "hostb"), "WELCOME comes back equal");
	mv_send_welcome(&a, &w);
	f = next_frame();
	refuses_cuts("WELCOME", (decoder)mv_decode_welcome, &f, sizeof(struct mv_welcome));
	tf_frame_free(&f);

	/* PREPARE */
	char *argv[] = { "socat", "FD:3", "FD:4", NULL };
	struct mv_prepare p = { .ttl_s = 30, .flags = MV_PREP_NUDGE, .argc = 3, .argv = argv, .ix = two_tuples() }, p2;
	ok(mv_send_prepare(&a, &p) == 0 && mv_recv_prepare(&b, &p2) == 0, "PREPARE goes through");
	ok(p2.ttl_s == 30 && p2.flags == MV_PREP_NUDGE && p2.argc == 3 && !strcmp(p2.argv[2], "FD:4") &&
	   !p2.argv[3] && p2.ix.n == 2 && p2.ix.entries[1].peer.port == 40001,
	   "  with its expiry, flags, program and tuples");
	mv_prepare_free(&p2);
	mv_send_prepare(&a, &p);
	f = next_frame();
	refuses_cuts("PREPARE", (decoder)mv_decode_prepare, &f, sizeof(struct mv_prepare));
	tf_frame_free(&f);
	struct mv_prepare q = p;
	q.flags = 1u << 7;
	mv_send_prepare(&a, &q);
	ok(mv_recv_prepare(&b, &p2) == -EBADMSG, "PREPARE with an unknown flag is refused");
	q = p;
	q.flags = MV_PREP_SEND_TO;	/* a receiver's path is one argument */
	mv_send_prepare(&a, &q);
	ok(mv_recv_prepare(&b, &p2) == -EBADMSG, "PREPARE --send-to with three arguments is refused");
	char *empty[] = { "", NULL };
	q = p;
	q.argc = 1;
	q.argv = empty;
	mv_send_prepare(&a, &q);
	ok(mv_recv_prepare(&b, &p2) == -EBADMSG, "PREPARE with an empty program name is refused");
	tf_index_free(&p.ix);

	/* the replies */
	struct mv_reply r = { .status = -EIO, .pid = 9, .count = 1000, .nudged = 999, .dropped = 1ull << 40,
			      .text = "the hand-over failed" }, r2;
	ok(mv_send_reply(&b, MV_COMMITTED, &r) == 0 && mv_recv_reply(&a, MV_COMMITTED, &r2) == 0 &&
	   r2.status == -EIO && r2.count == 1000 && r2.dropped == 1ull << 40 && !strcmp(r2.text, r.text),
	   "COMMITTED comes back equal");
	mv_send_reply(&a, MV_BUILT, &r);
	f = next_frame();
	refuses_cuts("a reply", (decoder)mv_decode_reply, &f, sizeof(struct mv_reply));
	tf_frame_free(&f);
	r.status = 5;
	mv_send_reply(&b, MV_BUILT, &r);
	ok(mv_recv_reply(&a, MV_BUILT, &r2) == -EBADMSG, "a reply with a positive status is refused");

	/* the hand-off service's messages */
	struct mv_ho_offer ho = { .seq = 77, .flags = MV_HO_NUDGE, .skew_ns = -1234567 }, ho2;
	struct tf_frame hf;

	golden_ipv4(&ho.conn);
	ok(mv_send_ho_offer(&a, &ho) == 0 && mv_recv_frame(&b, "HO_OFFER", MV_MSG_MAX, &hf) == 0 &&
	   hf.type == MV_HO_OFFER && mv_decode_ho_offer(hf.data, hf.len, &ho2) == 0,
	   "HO_OFFER goes through");
	ok(ho2.seq == 77 && ho2.flags == MV_HO_NUDGE && ho2.skew_ns == -1234567 && conn_equal(&ho.conn, &ho2.conn),
	   "  with its seq, flags, skew and the image, equal");
	tf_conn_free(&ho2.conn);
	refuses_cuts("HO_OFFER", (decoder)mv_decode_ho_offer, &hf, sizeof(struct mv_ho_offer));
	hf.data[8] |= 0x80;	/* flags: an unknown bit */
	ok(mv_decode_ho_offer(hf.data, hf.len, &ho2) == -EBADMSG, "HO_OFFER with an unknown flag is refused");
	hf.data[8] &= 0x7f;
	hf.data[hf.len - 1] ^= 1;	/* the image's crc */
	ok(mv_decode_ho_offer(hf.data, hf.len, &ho2) < 0, "HO_OFFER with a damaged image is refused (%s)", tf_strerror());
	tf_frame_free(&hf);
	tf_conn_free(&ho.conn);

	struct mv_ho_step hs;
	ok(mv_send_ho_step(&a, 78, MV_HO_FLIPPED) == 0 && (hf = next_frame(), 1) &&
	   mv_decode_ho_step(hf.data, hf.len, &hs) == 0 && hs.seq == 78 && hs.step == MV_HO_FLIPPED,
	   "HO_STEP comes back equal");
	refuses_cuts("HO_STEP", (decoder)mv_decode_ho_step, &hf, sizeof(struct mv_ho_step));
	tf_frame_free(&hf);
	mv_send_ho_step(&a, 1, 9);
	hf = next_frame();
	ok(mv_decode_ho_step(hf.data, hf.len, &hs) == -EBADMSG, "HO_STEP of an unknown step is refused");
	tf_frame_free(&hf);

	struct mv_ho_reply hr = { .seq = 79, .status = -EADDRNOTAVAIL, .pid = 4, .text = "no VIP here" }, hr2;
	mv_send_ho_reply(&a, MV_HO_BUILT, &hr);
	hf = next_frame();
	ok(mv_decode_ho_reply(hf.data, hf.len, &hr2) == 0 && hr2.seq == 79 && hr2.status == -EADDRNOTAVAIL &&
	   hr2.pid == 4 && !strcmp(hr2.text, "no VIP here"), "HO_BUILT comes back equal");
	refuses_cuts("HO_BUILT", (decoder)mv_decode_ho_reply, &hf, sizeof(struct mv_ho_reply));
	tf_frame_free(&hf);

	struct mv_ho_ended he = { .local = { .family = AF_INET6, .port = 80, .addr = { 0xfd, [15] = 1 } },
				  .peer = { .family = AF_INET6, .port = 5555, .addr = { 0xfd, [15] = 2 } } }, he2;
	mv_send_ho_ended(&a, &he);
	hf = next_frame();
	ok(mv_decode_ho_ended(hf.data, hf.len, &he2) == 0 && !memcmp(&he, &he2, sizeof(he)),
	   "HO_ENDED comes back equal");
	refuses_cuts("HO_ENDED", (decoder)mv_decode_ho_ended, &hf, sizeof(struct mv_ho_ended));
	tf_frame_free(&hf);
	he.peer.family = AF_INET;
	mv_send_ho_ended(&a, &he);
	hf = next_frame();
	ok(mv_decode_ho_ended(hf.data, hf.len, &he2) == -EBADMSG, "HO_ENDED with two families is refused");
	tf_frame_free(&hf);

	uint64_t beat = 0;

	mv_send_ho_beat(&a, MV_HO_PING, 0x1122334455667788ull);
	hf = next_frame();
	ok(hf.type == MV_HO_PING && mv_decode_ho_beat(hf.data, hf.len, &beat) == 0 && beat == 0x1122334455667788ull,
	   "HO_PING comes back with its number");
	refuses_cuts("HO_PING", (decoder)mv_decode_ho_beat, &hf, sizeof(uint64_t));
	tf_frame_free(&hf);
	mv_send_ho_beat(&a, MV_HO_PONG, 7);
	hf = next_frame();
	ok(hf.type == MV_HO_PONG && mv_decode_ho_beat(hf.data, hf.len, &beat) == 0 && beat == 7 &&
	   !strcmp(mv_type_name(MV_HO_PONG), "HO_PONG"), "HO_PONG too, and its name");
	tf_frame_free(&hf);

	struct mv_ho_health hh = { .healthy = 0, .text = "`check` exited 1" }, hh2;

	mv_send_ho_health(&a, &hh);
	hf = next_frame();
	ok(hf.type == MV_HO_HEALTH && mv_decode_ho_health(hf.data, hf.len, &hh2) == 0 && hh2.healthy == 0 &&
	   !strcmp(hh2.text, hh.text), "HO_HEALTH comes back equal");
	refuses_cuts("HO_HEALTH", (decoder)mv_decode_ho_health, &hf, sizeof(struct mv_ho_health));
	tf_frame_free(&hf);
	hh.healthy = 2;
	mv_send_ho_health(&a, &hh);
	hf = next_frame();
	ok(mv_decode_ho_health(hf.data, hf.len, &hh2) == -EBADMSG, "HO_HEALTH with healthy 2 is refused");
	tf_frame_free(&hf);

	/* ABORT where something else was awaited; a wrong type; a closed channel */
	mv_send_abort(&b, true, "image 1 of 2: bad crc");
	err = mv_recv_reply(&a, MV_BUILT, &r2);
	ok(err == -ECONNABORTED && a.aborted && a.abort.flip_ran == 1 && !strcmp(a.abort.text, "image 1 of 2: bad crc"),
	   "an ABORT instead of BUILT: -ECONNABORTED, its text and flip_ran kept");
	mv_send_abort(&a, false, "x");
	f = next_frame();
	refuses_cuts("ABORT", (decoder)mv_decode_abort, &f, sizeof(struct mv_abort));
	tf_frame_free(&f);
	mv_send(&b, MV_DONE, NULL, 0);
	ok(mv_recv(&a, MV_COMMITTED, &f) == -EPROTO && strstr(tf_strerror(), "got DONE"),
	   "DONE where COMMITTED was awaited: -EPROTO, naming both (%s)", tf_strerror());
	mv_send(&b, 200, "x", 1);
	ok(mv_recv(&a, MV_COMMITTED, &f) == -EPROTO, "an unknown message type: -EPROTO (%s)", tf_strerror());
	close(sv[1]);
	ok(mv_recv(&a, MV_COMMITTED, &f) == -ENODATA && strstr(tf_strerror(), "closed"),
	   "a closed channel: -ENODATA (%s)", tf_strerror());
	close(sv[0]);
	return done_testing();
}
