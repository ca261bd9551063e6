/* driver.c — replays a fuzz corpus without libFuzzer, so every build checks the targets.
 *
 * `fuzz_X DIR` runs LLVMFuzzerTestOneInput over every regular file of DIR (not recursive), in
 * name order, and prints TAP: "1..N", then "ok N - file" per file. A target that breaks an
 * invariant aborts, which tests/run counts as a failure. Exit 0, or 1 when DIR cannot be
 * read. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DRIVER_MAX_FILE (64u * 1024u * 1024u) /* the largest body max_body may allow */
#define DRIVER_MAX_FILES 100000

static int
cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads path into a malloc'd buffer (never NULL on success, even when empty). */
static unsigned char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *buf = NULL;
	FILE *f;

	f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	if (fstat(fileno(f), &st) != 0 || st.st_size < 0 || (uintmax_t)st.st_size > DRIVER_MAX_FILE)
		goto out;
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		goto out;
	if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		buf = NULL;
		goto out;
	}
	*len = (size_t)st.st_size;
out:
	fclose(f);
	return buf;
}

int
main(int argc, char **argv)
{
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, i, len;
	struct dirent *de;
	struct stat st;
	unsigned char *buf;
	DIR *d;
	int rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 1;
	}
	d = opendir(argv[1]);
	if (d == NULL) {
		printf("not ok 1 - cannot open %s\n", argv[1]);
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name) >= sizeof(path))
			continue;
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			char **nn;

			if (cap >= DRIVER_MAX_FILES)
				break;
			cap = cap ? cap * 2 : 64;
			nn = realloc(names, cap * sizeof(*names));
			if (nn == NULL)
				goto out;
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) == NULL)
			goto out;
		n++;
	}
	if (n == 0) {
		printf("not ok 1 - %s holds no file\n", argv[1]);
		goto out;
	}
	qsort(names, n, sizeof(*names), cmp);
	printf("1..%zu\n", n);
	rc = 0;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]);
		len = 0;
		buf = slurp(path, &len);
		if (buf == NULL) {
			printf("not ok %zu - %s: cannot read\n", i + 1, names[i]);
			rc = 1;
			continue;
		}
		fflush(stdout);
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
		printf("ok %zu - %s\n", i + 1, names[i]);
	}
out:
	closedir(d);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}
