/* SPDX-License-Identifier: BSD-2-Clause */
/* A small streaming JSON writer, in the manner of bpftool's json_writer. */
#ifndef TF_JSON_H
#define TF_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct json;

struct json *json_new(FILE *f, bool pretty);
void json_destroy(struct json *j);	/* ends with a newline */

void json_object_start(struct json *j);
void json_object_end(struct json *j);
void json_array_start(struct json *j);
void json_array_end(struct json *j);
void json_name(struct json *j, const char *name);

void json_string(struct json *j, const char *s);
void json_uint(struct json *j, uint64_t v);
void json_int(struct json *j, int64_t v);
/* a number with 3 decimals (milliseconds to the microsecond) */
void json_double(struct json *j, double v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);

/* name + value in one call, inside an object */
void json_string_field(struct json *j, const char *name, const char *s);
void json_uint_field(struct json *j, const char *name, uint64_t v);
void json_int_field(struct json *j, const char *name, int64_t v);
void json_bool_field(struct json *j, const char *name, bool v);

#endif
