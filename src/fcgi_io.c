/* fcgi_io.c — the responder's two transports behind struct msgr_request_io: libfcgi's
 * streams (FastCGI) and the environment, stdin and stdout (plain CGI), so one handler
 * (lib/respond.c) serves both. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "responder.h"

static const char *
fcgi_param(void *ctx, const char *name)
{
	FCGX_Request *r = ctx;

	return FCGX_GetParam(name, r->envp);
}

static long
fcgi_read(void *ctx, char *p, size_t n)
{
	FCGX_Request *r = ctx;
	int got;

	/* libfcgi counts in int; request.c asks for at most MSGR_REQUEST_CHUNK at a time. */
	if (n > MSGR_REQUEST_CHUNK)
		n = MSGR_REQUEST_CHUNK;
	got = FCGX_GetStr(p, (int)n, r->in);
	if (got <= 0 && FCGX_GetError(r->in) != 0)
		return -1;
	return got;
}

static int
fcgi_write(void *ctx, const char *p, size_t n)
{
	FCGX_Request *r = ctx;

	/* libfcgi counts in int: write in slices. */
	while (n > 0) {
		int k = n > MSGR_REQUEST_CHUNK ? MSGR_REQUEST_CHUNK : (int)n;

		if (FCGX_PutStr(p, k, r->out) != k)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

struct msgr_request_io
fcgi_io(FCGX_Request *fr)
{
	struct msgr_request_io io = { fr, fcgi_param, fcgi_read, fcgi_write };

	return io;
}

static const char *
cgi_param(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

static long
cgi_read(void *ctx, char *p, size_t n)
{
	ssize_t got;

	(void)ctx;
	do
		got = read(STDIN_FILENO, p, n);
	while (got < 0 && errno == EINTR);
	return (long)got;
}

static int
cgi_write(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

struct msgr_request_io
fcgi_cgi_io(void)
{
	struct msgr_request_io io = { NULL, cgi_param, cgi_read, cgi_write };

	return io;
}
