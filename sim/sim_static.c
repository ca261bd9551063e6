/* sim_static.c — a file of the chat page's folder, by a safe name. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "sim_static.h"

static const struct { const char *ext, *type; } types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".json", "application/json" },
};

static const char *
content_type(const char *name)
{
	size_t n = strlen(name), i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t e = strlen(types[i].ext);

		if (n > e && strcmp(name + n - e, types[i].ext) == 0)
			return types[i].type;
	}
	return NULL;
}

static int
safe_name(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 128 || strcmp(s, ".") == 0 || strstr(s, "..") != NULL)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Reads path whole into b (at most SIM_STATIC_MAX bytes). MSGR_OK; MSGR_ERR_NOTFOUND;
 * MSGR_ERR_TOOBIG; MSGR_ERR_IO; MSGR_ERR_NOMEM. */
static msgr_result
slurp(const char *path, struct msgr_buf *b)
{
	struct stat st;
	char chunk[16384];
	msgr_result rc = MSGR_OK;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT || errno == ELOOP ? MSGR_ERR_NOTFOUND : MSGR_ERR_IO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return MSGR_ERR_NOTFOUND;
	}
	while (rc == MSGR_OK && (n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = MSGR_ERR_IO;
			break;
		}
		rc = msgr_buf_append(b, chunk, (size_t)n);
	}
	close(fd);
	return rc;
}

void
sim_static_serve(struct sim_ctx *cx, const char *name)
{
	struct msgr_buf b;
	char path[4096];
	const char *type;
	msgr_result rc;
	int n;

	if (name == NULL)
		name = "index.html";
	if (!safe_name(name) || (type = content_type(name)) == NULL) {
		sim_req_error(cx->req, 404, "no such file");
		return;
	}
	n = snprintf(path, sizeof(path), "%s/%s", cx->webdir, name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		sim_req_error(cx->req, 404, "no such file");
		return;
	}
	msgr_buf_init(&b, SIM_STATIC_MAX);
	rc = slurp(path, &b);
	if (rc == MSGR_OK)
		sim_req_respond(cx->req, 200, type, NULL, b.data ? b.data : "", b.len);
	else if (rc == MSGR_ERR_NOTFOUND)
		sim_req_error(cx->req, 404, "no such file");
	else
		sim_req_error(cx->req, 500, "the file could not be read");
	msgr_buf_free(&b);
}
