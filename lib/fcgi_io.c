/* fcgi_io.c — libfcgi's streams behind struct msgr_request_io (lib/fcgi_io.h). */
#include <stdio.h>   /* EOF */

#include "fcgi_io.h"
#include "log.h"
#include "respond.h"

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

/* The empty FCGI_STDIN record follows the body's last bytes: a web server sends them
 * together, so this read finds it buffered or on its way. Anything else there (a body
 * longer than its count) stays unread, and the close lingers for it (msgr_fcgi_finish). */
static void
fcgi_end(void *ctx)
{
	FCGX_Request *r = ctx;

	(void)FCGX_GetChar(r->in);
}

struct msgr_request_io
msgr_fcgi_io(FCGX_Request *fr)
{
	struct msgr_request_io io = { .ctx = fr, .param = fcgi_param, .read = fcgi_read,
	    .write = fcgi_write, .end = fcgi_end };

	return io;
}

void
msgr_fcgi_finish(FCGX_Request *fr)
{
	/* libfcgi closes a connection by shutting down its sending side and waiting, up to two
	 * seconds, for the web server to close first: a byte left unread would make the kernel
	 * reset the connection, and the answer still in flight could be lost. Every request
	 * paid that wait with a sleep and a wake-up of its thread (a sixth of a request
	 * thread's samples behind lighttpd). Once the body has been read to its end nothing is
	 * unread, and libfcgi's "detached" close, a plain close(2), loses nothing. */
	if (fr->in != NULL && FCGX_HasSeenEOF(fr->in) == EOF && FCGX_GetError(fr->in) == 0)
		(void)FCGX_Detach(fr);
	else
		(void)FCGX_Attach(fr);
	FCGX_Finish_r(fr);
}

int
msgr_fcgi_accept(FCGX_Request *fr)
{
	struct msgr_request_io io;
	int rc, err;

	if ((rc = FCGX_Accept_r(fr)) < 0)
		return rc;
	/* libfcgi's accept reads the parameters until the stream ends, and takes a failed read
	 * (a stop's FCGX_ShutdownPending, a wake signal, a peer gone) for their end: it then
	 * returns a request with part of its parameters, and the path missing would be
	 * answered 404, a refusal Facebook does not retry. The error left on the stream tells
	 * the two apart; such a request is answered 503, which Facebook retries. */
	if ((err = FCGX_GetError(fr->in)) == 0)
		return 0;
	msgr_log(MSGR_LOG_WARN, "a request's parameters were cut short (error %d): answered 503",
	    err);
	io = msgr_fcgi_io(fr);
	(void)msgr_respond_status(&io, 503);
	msgr_fcgi_finish(fr);
	return 1;
}
