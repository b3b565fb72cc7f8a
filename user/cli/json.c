// SPDX-License-Identifier: BSD-2-Clause
/* A small streaming JSON writer: nesting depth and "first element" state only. */
#include <inttypes.h>
#include <stdlib.h>

#include "json.h"

#define JSON_MAX_DEPTH 32

struct json {
	FILE *f;
	bool pretty;
	int depth;
	bool first[JSON_MAX_DEPTH];	/* nothing written yet at this depth */
	bool after_name;		/* a name was written; the value follows */
};

struct json *json_new(FILE *f, bool pretty)
{
	struct json *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->f = f;
	j->pretty = pretty;
	j->first[0] = true;
	return j;
}

void json_destroy(struct json *j)
{
	if (!j)
		return;
	fputc('\n', j->f);
	fflush(j->f);
	free(j);
}

static void indent(struct json *j)
{
	if (!j->pretty)
		return;
	fputc('\n', j->f);
	for (int i = 0; i < j->depth; i++)
		fputs("    ", j->f);
}

/* Comma and indentation before a new element (not after a name). */
static void element(struct json *j)
{
	if (j->after_name) {
		j->after_name = false;
		return;
	}
	if (!j->first[j->depth])
		fputc(',', j->f);
	if (j->depth > 0)
		indent(j);
	j->first[j->depth] = false;
}

static void open(struct json *j, char c)
{
	element(j);
	fputc(c, j->f);
	if (j->depth < JSON_MAX_DEPTH - 1)
		j->depth++;
	j->first[j->depth] = true;
}

static void close_(struct json *j, char c)
{
	bool empty = j->first[j->depth];

	if (j->depth > 0)
		j->depth--;
	if (!empty)
		indent(j);
	fputc(c, j->f);
}

void json_object_start(struct json *j) { open(j, '{'); }
void json_object_end(struct json *j) { close_(j, '}'); }
void json_array_start(struct json *j) { open(j, '['); }
void json_array_end(struct json *j) { close_(j, ']'); }

static void quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

void json_name(struct json *j, const char *name)
{
	element(j);
	quoted(j->f, name);
	fputs(j->pretty ? ": " : ":", j->f);
	j->after_name = true;
}

void json_string(struct json *j, const char *s)
{
	element(j);
	quoted(j->f, s ? s : "");
}

void json_uint(struct json *j, uint64_t v)
{
	element(j);
	fprintf(j->f, "%" PRIu64, v);
}

void json_int(struct json *j, int64_t v)
{
	element(j);
	fprintf(j->f, "%" PRId64, v);
}

void json_double(struct json *j, double v)
{
	element(j);
	fprintf(j->f, "%.3f", v);
}

void json_bool(struct json *j, bool v)
{
	element(j);
	fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j)
{
	element(j);
	fputs("null", j->f);
}

void json_string_field(struct json *j, const char *n, const char *s) { json_name(j, n); json_string(j, s); }
void json_uint_field(struct json *j, const char *n, uint64_t v) { json_name(j, n); json_uint(j, v); }
void json_int_field(struct json *j, const char *n, int64_t v) { json_name(j, n); json_int(j, v); }
void json_bool_field(struct json *j, const char *n, bool v) { json_name(j, n); json_bool(j, v); }
