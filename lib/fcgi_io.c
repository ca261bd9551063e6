/* fcgi_io.c — libfcgi's streams behind struct msgr_request_io (lib/fcgi_io.h). */
#include "fcgi_io.h"

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
msgr_fcgi_io(FCGX_Request *fr)
{
	struct msgr_request_io io = { fr, fcgi_param, fcgi_read, fcgi_write };

	return io;
}
