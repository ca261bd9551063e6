/* unit.h — what every cmocka unit test includes, in the order cmocka needs. */
#ifndef MSGR_TEST_UNIT_H
#define MSGR_TEST_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <dirent.h>
#include <unistd.h>

/* Removes the files of a test's temporary folder (no subfolders: the tests make none), and
 * with unit_rmdir_all the folder too. Best effort: a teardown must not fail on what is
 * already gone. */
static inline void
unit_empty_dir(const char *path)
{
	struct dirent *d;
	DIR *dir;
	char p[512];

	if ((dir = opendir(path)) == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, d->d_name);
		(void)unlink(p);
	}
	closedir(dir);
}

static inline void
unit_rmdir_all(const char *path)
{
	unit_empty_dir(path);
	(void)rmdir(path);
}

/* A test's own folder under /tmp (/tmp/msgr-NAME-XXXXXX) and the path of a state file in it
 * (not created), for the tests of the store and of what stores. 0, or -1 when the folder
 * cannot be made. */
struct unit_tmp {
	char dir[64];
	char path[128];
};

static inline int
unit_tmp_make(struct unit_tmp *t, const char *name)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/msgr-%s-XXXXXX", name);
	if (mkdtemp(t->dir) == NULL)
		return -1;
	snprintf(t->path, sizeof(t->path), "%s/state.db", t->dir);
	return 0;
}

/* Folder of the test data (tests/data), overridable for out-of-tree runs. */
static inline const char *
unit_data_dir(void)
{
	const char *d = getenv("MSGR_TEST_DATA");
	return d ? d : "tests/data";
}

/* The whole file at path, NUL-terminated, malloc'd (free()); its length in *len when len is
 * not NULL. NULL when it cannot be read. */
static inline char *
unit_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (len != NULL)
		*len = 0;
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (buf = malloc((size_t)n + 1)) == NULL)
		goto out;
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
	if (len != NULL)
		*len = (size_t)n;
out:
	fclose(f);
	return buf;
}

/* A fixture of tests/data/<dir>/<name>; the test fails when it cannot be read. */
static inline char *
unit_fixture(const char *dir, const char *name, size_t *len)
{
	char path[512];
	char *buf;

	snprintf(path, sizeof(path), "%s/%s/%s", unit_data_dir(), dir, name);
	buf = unit_read_file(path, len);
	assert_non_null(buf);
	return buf;
}

#endif
