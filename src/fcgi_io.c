/* fcgi_io.c — plain CGI behind struct msgr_request_io: the environment, stdin and stdout, so
 * the handler (lib/respond.c) serves CGI as it serves FastCGI (lib/fcgi_io.c). */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "responder.h"

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
	struct msgr_request_io io = { .param = cgi_param, .read = cgi_read, .write = cgi_write };

	return io;
}
