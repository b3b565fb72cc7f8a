// SPDX-License-Identifier: BSD-2-Clause
/*
 * The committed golden files in images/golden/ still decode to exactly the
 * values below, and encoding those values still gives the same bytes: any
 * change to the format shows up here first.
 *
 *	build/tests/unit/image_golden.t                       the test
 *	build/tests/unit/image_golden.t --regenerate DIR      rewrite DIR's files
 *
 * Regenerate only when the format changes on purpose (and bump the version
 * if old readers cannot read the new files).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_testlib.h"
#include "stream.h"

static const char *const image_files[] = { "v1-ipv4.tfc", "v1-ipv6.tfc" };
static void (*const image_fixture[])(struct tf_conn *) = { golden_ipv4, golden_ipv6 };

#define STREAM_FILE "v1-dump.tfs"	/* the index and both images as one image stream */

/* The golden dump as a stream: golden_index and both fixtures, malloc'ed. */
static int golden_stream(uint8_t **buf, size_t *len)
{
	struct tf_index_entry e[2];
	struct tf_conn c[2];
	struct tf_index ix;
	char path[] = "/tmp/tf-golden.XXXXXX";
	int fd = mkstemp(path), err;
	off_t n;

	if (fd < 0)
		return -errno;
	unlink(path);
	golden_index(&ix, e);
	image_fixture[0](&c[0]);
	image_fixture[1](&c[1]);
	err = tf_stream_write(fd, &ix, c);
	tf_conn_free(&c[0]);
	tf_conn_free(&c[1]);
	n = lseek(fd, 0, SEEK_END);
	*buf = malloc(n > 0 ? n : 1);
	if (!err && (n <= 0 || !*buf || pread(fd, *buf, n, 0) != n))
		err = -EIO;
	close(fd);
	*len = n;
	return err;
}

static int regenerate_stream(const char *dir)
{
	char path[PATH_MAX];
	uint8_t *buf;
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, STREAM_FILE);
	if (golden_stream(&buf, &len) || !(f = fopen(path, "wb"))) {
		fprintf(stderr, "%s: %s\n", path, tf_strerror());
		return 1;
	}
	fwrite(buf, 1, len, f);
	free(buf);
	if (fclose(f))
		return 1;
	printf("wrote %s\n", path);
	return 0;
}

static int regenerate(const char *dir)
{
	struct tf_index_entry e[2];
	struct tf_index ix;
	char path[PATH_MAX];

	for (size_t i = 0; i < 2; i++) {
		struct tf_conn c;

		image_fixture[i](&c);
		snprintf(path, sizeof(path), "%s/%s", dir, image_files[i]);
		if (tf_image_write(path, &c)) {
			fprintf(stderr, "%s\n", tf_strerror());
			return 1;
		}
		chmod(path, 0644);	/* golden files are not secret */
		tf_conn_free(&c);
		printf("wrote %s\n", path);
	}
	golden_index(&ix, e);
	if (tf_index_write(dir, &ix)) {
		fprintf(stderr, "%s\n", tf_strerror());
		return 1;
	}
	snprintf(path, sizeof(path), "%s/index.tfi", dir);
	chmod(path, 0644);
	printf("wrote %s\n", path);
	return regenerate_stream(dir);
}

/* images/golden from $TF_SRCDIR, the current directory, or the binary's place in build/. */
static const char *golden_dir(void)
{
	static char dir[PATH_MAX + 32];
	const char *src = getenv("TF_SRCDIR");
	char exe[PATH_MAX];
	ssize_t n;

	if (src) {
		snprintf(dir, sizeof(dir), "%s/images/golden", src);
		return dir;
	}
	if (access("images/golden/v1-ipv4.tfc", R_OK) == 0)
		return "images/golden";
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		for (int up = 0; up < 4; up++) {	/* .t, unit, tests, build */
			char *slash = strrchr(exe, '/');

			if (slash)
				*slash = '\0';
		}
		snprintf(dir, sizeof(dir), "%s/images/golden", exe);
	}
	return dir;
}

static uint8_t *read_bytes(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n > 0 ? n : 1);
	if (buf && fread(buf, 1, n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

static void check_image(const char *dir, size_t i)
{
	struct tf_conn want, got;
	char path[PATH_MAX];
	uint8_t *file, *enc = NULL;
	size_t file_len, enc_len = 0;
	int err;

	snprintf(path, sizeof(path), "%s/%s", dir, image_files[i]);
	image_fixture[i](&want);
	err = tf_image_read(path, &got);
	ok(err == 0, "%s decodes%s%s", image_files[i], err ? ": " : "", err ? tf_strerror() : "");
	ok(!err && conn_equal(&want, &got), "%s holds exactly the expected values", image_files[i]);

	file = read_bytes(path, &file_len);
	err = tf_image_encode(&want, &enc, &enc_len);
	ok(file && !err && enc_len == file_len && !memcmp(enc, file, file_len),
	   "encoding the expected values gives %s byte for byte", image_files[i]);
	free(file);
	free(enc);
	tf_conn_free(&want);
	tf_conn_free(&got);
}

static void check_index(const char *dir)
{
	struct tf_index_entry e[2];
	struct tf_index want, got;
	char path[PATH_MAX];
	uint8_t *file, *enc = NULL;
	size_t file_len, enc_len = 0;
	int err;

	golden_index(&want, e);
	err = tf_index_read(dir, &got);
	ok(err == 0, "index.tfi decodes%s%s", err ? ": " : "", err ? tf_strerror() : "");
	ok(!err && index_equal(&want, &got), "index.tfi holds exactly the expected values");

	snprintf(path, sizeof(path), "%s/index.tfi", dir);
	file = read_bytes(path, &file_len);
	err = tf_index_encode(&want, &enc, &enc_len);
	ok(file && !err && enc_len == file_len && !memcmp(enc, file, file_len),
	   "encoding the expected index gives index.tfi byte for byte");
	free(file);
	free(enc);
	tf_index_free(&got);
}

static void check_stream(const char *dir)
{
	struct tf_index_entry e[2];
	struct tf_index want, got;
	struct tf_conn c[2], *back = NULL;
	char path[PATH_MAX];
	uint8_t *file, *enc = NULL;
	size_t file_len, enc_len = 0;
	int err;

	snprintf(path, sizeof(path), "%s/%s", dir, STREAM_FILE);
	golden_index(&want, e);
	image_fixture[0](&c[0]);
	image_fixture[1](&c[1]);
	err = tf_stream_read_path(path, &got, &back);
	ok(err == 0, STREAM_FILE " decodes%s%s", err ? ": " : "", err ? tf_strerror() : "");
	ok(!err && index_equal(&want, &got) && conn_equal(&c[0], &back[0]) && conn_equal(&c[1], &back[1]),
	   STREAM_FILE " holds exactly the expected index and connections");
	file = read_bytes(path, &file_len);
	err = golden_stream(&enc, &enc_len);
	ok(file && !err && enc_len == file_len && !memcmp(enc, file, file_len),
	   "streaming the expected dump gives " STREAM_FILE " byte for byte");
	free(file);
	free(enc);
	if (back) {
		tf_stream_conns_free(back, got.n);
		tf_index_free(&got);
	}
	tf_conn_free(&c[0]);
	tf_conn_free(&c[1]);
}

int main(int argc, char **argv)
{
	const char *dir;

	if (argc == 3 && !strcmp(argv[1], "--regenerate"))
		return regenerate(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: %s [--regenerate DIR]\n", argv[0]);
		return 2;
	}
	dir = golden_dir();
	if (access(dir, R_OK))
		bail_out("golden files not found at '%s'; set TF_SRCDIR to the source tree", dir);
	diag("golden files in %s", dir);
	plan(12);
	check_image(dir, 0);
	check_image(dir, 1);
	check_index(dir);
	check_stream(dir);
	return done_testing();
}
