// SPDX-License-Identifier: BSD-2-Clause
/* The tuples of lock add|del --file (see lock_file.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "lock_file.h"

/*
 * One line into buf (without its newline, NUL-terminated): 1, 0 at the end of
 * f, -E2BIG past LOCK_FILE_LINE_MAX bytes (read no further), -EIO.  *nul
 * tells whether the line held a NUL byte.
 */
static int read_line(FILE *f, char *buf, size_t *len, bool *nul)
{
	size_t n = 0;
	int c;

	*nul = false;
	while ((c = getc(f)) != EOF && c != '\n') {
		if (n == LOCK_FILE_LINE_MAX)
			return -E2BIG;
		*nul |= c == '\0';
		buf[n++] = c;
	}
	if (c == EOF && ferror(f))
		return -EIO;
	if (c == EOF && n == 0)
		return 0;
	buf[n] = '\0';
	*len = n;
	return 1;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Up to max blank-separated words of s, cut in place; how many there were. */
static size_t split(char *s, char **word, size_t max)
{
	size_t n = 0;

	for (;;) {
		while (blank(*s))
			s++;
		if (!*s)
			return n;
		if (n < max)
			word[n] = s;
		n++;
		while (*s && !blank(*s))
			s++;
		if (*s)
			*s++ = '\0';
	}
}

int lock_file_read(FILE *f, size_t max, struct tf_tuple **out, size_t *n)
{
	struct tf_tuple *v = NULL;
	size_t cnt = 0, cap = 0, lineno = 0, len, nw;
	char *line = malloc(LOCK_FILE_LINE_MAX + 1), *word[2];
	bool nul;
	int r, err = 0;

	*out = NULL;
	*n = 0;
	if (!line)
		return tf_failx(ENOMEM, "out of memory");
	while (!err && (r = read_line(f, line, &len, &nul)) != 0) {
		lineno++;
		if (r == -E2BIG) {
			err = tf_failx(E2BIG, "line %zu: longer than %u bytes; one tuple a line",
				       lineno, LOCK_FILE_LINE_MAX);
			break;
		}
		if (r < 0) {
			err = tf_fail(EIO, "line %zu: read", lineno);
			break;
		}
		if (nul) {
			err = tf_failx(EINVAL, "line %zu: a NUL byte; expected text, one tuple a line",
				       lineno);
			break;
		}
		nw = split(line, word, 2);
		if (nw == 0 || word[0][0] == '#')
			continue;
		if (nw != 2) {
			err = tf_failx(EINVAL, "line %zu: expected \"LOCAL PEER\"", lineno);
			break;
		}
		if (cnt == max) {
			err = tf_failx(E2BIG, "line %zu: more than %zu tuples, as many as the lock table "
				       "can hold; split the file", lineno, max);
			break;
		}
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			struct tf_tuple *nv;

			if (ncap > max)
				ncap = max;
			nv = realloc(v, ncap * sizeof(*nv));
			if (!nv) {
				err = tf_failx(ENOMEM, "line %zu: out of memory for %zu tuples", lineno, ncap);
				break;
			}
			v = nv;
			cap = ncap;
		}
		if ((err = tf_tuple_parse(word[0], word[1], &v[cnt])))
			tf_error_prefix("line %zu", lineno);
		else
			cnt++;
	}
	free(line);
	if (err) {
		free(v);
		return err;
	}
	*out = v;
	*n = cnt;
	return 0;
}
