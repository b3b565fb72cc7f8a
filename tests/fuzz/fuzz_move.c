// SPDX-License-Identifier: BSD-2-Clause
/*
 * The byte stream of a move between hosts (migrate send | receive): frames
 * (images/frame.c, tf_frame_parse) one after the other, each payload through
 * the move protocol's decoder of its type (user/move/proto.c, mv_decode_*).
 * Each input is tried as it is and with every frame's crc made right, so that
 * mutations reach the payload decoders.  A frame must parse or be refused
 * with one of frame.h's errors; a payload must decode or be refused with
 * -EBADMSG (proto.h), and what decodes must hold what its checks promise
 * (NUL-terminated strings, 1..64 arguments, a valid index).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "frame.h"
#include "fuzz.h"
#include "proto.h"
#include "tcpferry.h"

#define MAX_LEN (1u << 20)

static bool terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static void payload(uint16_t type, const uint8_t *p, size_t n)
{
	union {
		struct mv_hello h;
		struct mv_welcome w;
		struct mv_prepare pr;
		struct mv_reply r;
		struct mv_abort a;
		struct mv_ho_offer ho;
		struct mv_ho_step hs;
		struct mv_ho_reply hr;
		struct mv_ho_ended he;
		uint64_t beat;
		struct mv_ho_health hh;
	} u;
	int err;

	switch (type) {
	case MV_HELLO:
		err = mv_decode_hello(p, n, &u.h);
		FUZZ_ASSERT(err || (terminated(u.h.id, sizeof(u.h.id)) && u.h.id[0] &&
				    terminated(u.h.host, sizeof(u.h.host))));
		break;
	case MV_WELCOME:
		err = mv_decode_welcome(p, n, &u.w);
		FUZZ_ASSERT(err || terminated(u.w.host, sizeof(u.w.host)));
		break;
	case MV_PREPARE:
		err = mv_decode_prepare(p, n, &u.pr);
		if (!err) {
			FUZZ_ASSERT(u.pr.argc >= 1 && u.pr.argc <= MV_ARGS_MAX && u.pr.argv);
			FUZZ_ASSERT(!u.pr.argv[u.pr.argc] && u.pr.argv[0][0]);
			for (uint32_t i = 0; i < u.pr.argc; i++)
				FUZZ_ASSERT(strlen(u.pr.argv[i]) < 4096);
			mv_prepare_free(&u.pr);
		}
		break;
	case MV_ABORT:
		err = mv_decode_abort(p, n, &u.a);
		FUZZ_ASSERT(err || (u.a.flip_ran <= 1 && terminated(u.a.text, sizeof(u.a.text))));
		break;
	case MV_HO_OFFER:
		err = mv_decode_ho_offer(p, n, &u.ho);
		if (!err) {
			FUZZ_ASSERT(!(u.ho.flags & ~(MV_HO_NUDGE | MV_HO_NO_PROBE)));
			tf_conn_free(&u.ho.conn);
		}
		break;
	case MV_HO_STEP:
		err = mv_decode_ho_step(p, n, &u.hs);
		FUZZ_ASSERT(err || (u.hs.step >= MV_HO_COMMIT && u.hs.step <= MV_HO_FLIPPED));
		break;
	case MV_HO_BUILT:
	case MV_HO_LIVE:
		err = mv_decode_ho_reply(p, n, &u.hr);
		FUZZ_ASSERT(err || (u.hr.status <= 0 && terminated(u.hr.text, sizeof(u.hr.text))));
		break;
	case MV_HO_ENDED:
		err = mv_decode_ho_ended(p, n, &u.he);
		FUZZ_ASSERT(err || (u.he.local.family == u.he.peer.family &&
				    (u.he.local.family == AF_INET || u.he.local.family == AF_INET6)));
		break;
	case MV_HO_PING:
	case MV_HO_PONG:
		err = mv_decode_ho_beat(p, n, &u.beat);
		FUZZ_ASSERT(err || n == 8);
		break;
	case MV_HO_HEALTH:
		err = mv_decode_ho_health(p, n, &u.hh);
		FUZZ_ASSERT(err || (u.hh.healthy <= 1 && terminated(u.hh.text, sizeof(u.hh.text))));
		break;
	default:
		/* PREPARED, BUILT, COMMITTED and anything else: the reply decoder. */
		err = mv_decode_reply(p, n, &u.r);
		FUZZ_ASSERT(err || (u.r.status <= 0 && terminated(u.r.text, sizeof(u.r.text))));
	}
	/* PREPARE holds an index: its decoder's errors pass through. */
	FUZZ_ASSERT(err == 0 || err == -EBADMSG || ((type == MV_PREPARE || type == MV_HO_OFFER) && err < 0));
	if (err)
		FUZZ_ASSERT(tf_strerror()[0]);
}

static void frames(const uint8_t *data, size_t size)
{
	size_t off = 0, used;

	while (off < size) {
		struct tf_frame f;
		int err = tf_frame_parse(data + off, size - off, &f, MAX_LEN, &used);

		if (err) {
			FUZZ_ASSERT(err == -EPROTO || err == -EMSGSIZE || err == -EBADMSG ||
				    err == -EPIPE || err == -ENOMEM);
			return;
		}
		FUZZ_ASSERT(used == TF_FRAME_HDR_LEN + (size_t)f.len && used <= size - off);
		FUZZ_ASSERT(f.len == 0 || f.data);
		payload(f.type, f.data, f.len);
		tf_frame_free(&f);
		off += used;
	}
}

static void fix_crcs(uint8_t *p, size_t n)
{
	fuzz_fix_frame_crcs(p, n, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_raw_and_fixed(data, size, frames, fix_crcs);
	return 0;
}
