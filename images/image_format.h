/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The constants of the on-disk format (images/FORMAT.md says what they mean)
 * and the names of the carried socket options, for whoever prints an image.
 * Private to tcpferry: the library's users see only user/include/tcpferry.h.
 */
#ifndef TF_IMAGE_FORMAT_H
#define TF_IMAGE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "sockopts.h"
#include "tcpferry.h"

#define TF_FORMAT_VERSION	1

/* 8 bytes each; PNG-style, so text-mode transfers and truncations show. */
#define TF_IMAGE_MAGIC		"\x89TFC\r\n\x1a\n"
#define TF_INDEX_MAGIC		"\x89TFI\r\n\x1a\n"
#define TF_MAGIC_LEN		8
#define TF_FILE_HEADER_LEN	16	/* magic, version, flags, crc32 */
#define TF_RECORD_HEADER_LEN	8	/* type, flags, length */
#define TF_RECORD_CRC_LEN	4

#define TF_INDEX_FILE		"index.tfi"	/* one per dump directory */
#define TF_IMAGE_SUFFIX		".tfc"		/* conn-0001.tfc, ... */

/* Record flags. */
#define TF_REC_REQUIRED		0x0001	/* a reader that does not know the type must refuse */

/* Record types (FORMAT.md, "Records"). */
enum tf_record_type {
	TF_REC_END	= 0x0001,
	TF_REC_CONN	= 0x0010,
	TF_REC_INQ	= 0x0011,
	TF_REC_OUTQ	= 0x0012,
	TF_REC_SOCKOPT	= 0x0013,
	TF_REC_TSWIRE	= 0x0014,
	TF_REC_INDEX	= 0x0020,
	TF_REC_ENTRY	= 0x0021,
};

/* Sanity limits: nothing bigger is ever accepted from a file. */
#define TF_QUEUE_MAX		(1u << 30)		/* 1 GiB per queue */
#define TF_RECORD_MAX		(TF_QUEUE_MAX + 4)	/* OUTQ: unsent + queue */
#define TF_INDEX_MAX_ENTRIES	(1u << 20)

/* Sizes of the fixed payloads of format version 1. */
#define TF_ENDPOINT_LEN		24
#define TF_CONN_LEN		116

/* CONN flags */
#define TF_CONN_WINDOW		(1u << 0)	/* the window fields are present */
#define TF_CONN_FIN_UNSENT	(1u << 1)	/* our FIN is queued behind unsent data */
#define TF_INDEX_FIXED_LEN	14	/* pid, time, host length (host follows) */
#define TF_ENTRY_FIXED_LEN	(2 + 2 * TF_ENDPOINT_LEN)	/* + file name */
#define TF_END_LEN		8

/* Socket option names and kinds: user/lib/sockopts.h (one table for all). */

/* fsync the directory that holds path, so a rename into it is on disk. */
void tf_sync_parent(const char *path);

/* "CONN", "INQ", ... or "0x1234" into buf. */
const char *tf_record_name(uint16_t type, char *buf, size_t len);

#endif
