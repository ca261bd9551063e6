/* request.c — reads one CGI/FastCGI request into bounded fields and writes answers.
 *
 * Everything here comes from the web server (which passes on what the client sent), so
 * every length is checked before a byte is copied and numbers go through strtoll with an end
 * pointer. A field that does not fit is flagged, never truncated and used: a cut verify token
 * or path could match something it should not. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "signature.h"

void
msgr_request_init(struct msgr_request *r)
{
	memset(r, 0, sizeof(*r));
	msgr_buf_init(&r->body, 0);
	r->content_length = -1;
}

void
msgr_request_reset(struct msgr_request *r)
{
	struct msgr_buf body = r->body;

	memset(r, 0, sizeof(*r));
	r->body = body;
	msgr_buf_reset(&r->body);
	r->content_length = -1;
}

void
msgr_request_free(struct msgr_request *r)
{
	msgr_buf_free(&r->body);
	msgr_request_init(r);
}

/* Percent-decodes src[0..n) into dst (room for max bytes plus a NUL); plus_space turns '+'
 * into ' ' (query strings, not paths). A '%' not followed by two hex digits stays as it is,
 * as browsers and servers do. Returns the decoded length, or -1 when it does not fit; sets
 * *nul when a decoded byte is NUL. */
static long
pct_decode(const char *src, size_t n, char *dst, size_t max, int plus_space, int *nul)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)src[i], hi, lo;

		if (c == '%' && i + 2 < n &&
		    (hi = msgr_signature_hex_digit((unsigned char)src[i + 1])) >= 0 &&
		    (lo = msgr_signature_hex_digit((unsigned char)src[i + 2])) >= 0) {
			c = hi * 16 + lo;
			i += 2;
		} else if (c == '+' && plus_space)
			c = ' ';
		if (o >= max)
			return -1;
		if (c == '\0')
			*nul = 1;
		dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return (long)o;
}

/* Stores one decoded hub.* value into dst (max bytes), flagging what cannot be trusted. */
static void
set_param(struct msgr_request_param *p, char *dst, size_t max, const char *v, size_t vlen)
{
	int nul = 0;
	long n;

	if (p->present) {
		/* A repeated hub.* parameter is ambiguous: which one did Facebook mean? */
		p->bad = 1;
		return;
	}
	p->present = 1;
	n = pct_decode(v, vlen, dst, max, 1, &nul);
	if (n < 0 || nul) {
		p->bad = 1;
		dst[0] = '\0';
		return;
	}
	p->len = (size_t)n;
}

void
msgr_request_parse_query(struct msgr_request *r, const char *qs)
{
	const char *p = qs, *amp, *eq;
	char key[32];

	while (p != NULL && *p != '\0') {
		size_t plen, klen;
		long kn;
		int nul = 0;

		amp = strchr(p, '&');
		plen = amp ? (size_t)(amp - p) : strlen(p);
		eq = memchr(p, '=', plen);
		klen = eq ? (size_t)(eq - p) : plen;
		/* Keys longer than key[] cannot be a hub.* key: skip them. */
		kn = pct_decode(p, klen, key, sizeof(key) - 1, 1, &nul);
		if (kn >= 0 && !nul) {
			const char *v = eq ? eq + 1 : p + plen;
			size_t vlen = eq ? plen - klen - 1 : 0;

			if (strcmp(key, "hub.mode") == 0)
				set_param(&r->mode_p, r->hub_mode, sizeof(r->hub_mode) - 1, v, vlen);
			else if (strcmp(key, "hub.verify_token") == 0)
				set_param(&r->token_p, r->hub_verify_token,
				    sizeof(r->hub_verify_token) - 1, v, vlen);
			else if (strcmp(key, "hub.challenge") == 0)
				set_param(&r->challenge_p, r->hub_challenge,
				    sizeof(r->hub_challenge) - 1, v, vlen);
		}
		p = amp ? amp + 1 : NULL;
	}
}

/* The path when the server passes no PATH_INFO: REQUEST_URI's path (before '?'),
 * percent-decoded, without a leading SCRIPT_NAME that ends at a '/' boundary. When
 * SCRIPT_NAME is the whole path (lighttpd mounting the responder at "/"), the whole path is
 * the connector path. */
static void
path_from_uri(struct msgr_request *r, const char *uri, const char *script)
{
	const char *q;
	size_t ulen, slen;
	long n;
	int nul = 0;

	q = strchr(uri, '?');
	ulen = q ? (size_t)(q - uri) : strlen(uri);
	n = pct_decode(uri, ulen, r->path, sizeof(r->path) - 1, 0, &nul);
	if (n < 0 || nul) {
		r->path_bad = 1;
		r->path[0] = '\0';
		return;
	}
	if (script == NULL || (slen = strlen(script)) == 0 || slen >= (size_t)n)
		return;
	if (strncmp(r->path, script, slen) == 0 && r->path[slen] == '/')
		memmove(r->path, r->path + slen, (size_t)n - slen + 1);
}

/* CONTENT_LENGTH: absent or empty leaves the length unknown (content_length -1: the body is
 * read to its end, msgr_request_read_body); otherwise only decimal digits. A count too large
 * for long long is still a count: it is over any max_body. */
static void
read_content_length(struct msgr_request *r, const char *cl)
{
	char *end;
	long long v;

	r->content_length = -1;
	if (cl == NULL || *cl == '\0')
		return;
	if (!isdigit((unsigned char)cl[0])) {
		r->content_length_bad = 1;
		return;
	}
	errno = 0;
	v = strtoll(cl, &end, 10);
	if (*end != '\0') {
		r->content_length_bad = 1;
		return;
	}
	/* On ERANGE strtoll gave LLONG_MAX: over any max_body, answered 413. */
	r->content_length = v;
}

void
msgr_request_read_head(struct msgr_request *r, const struct msgr_request_io *io)
{
	const char *v;
	size_t n;

	v = io->param(io->ctx, "REQUEST_METHOD");
	if (v != NULL && (n = strlen(v)) <= MSGR_REQUEST_METHOD_MAX)
		memcpy(r->method, v, n + 1);
	else if (v != NULL)
		memcpy(r->method, "?", 2);   /* no such method: answered 405 */

	v = io->param(io->ctx, "PATH_INFO");
	if (v != NULL && *v != '\0') {
		if ((n = strlen(v)) < sizeof(r->path))
			memcpy(r->path, v, n + 1);
		else
			r->path_bad = 1;
	} else if ((v = io->param(io->ctx, "REQUEST_URI")) != NULL)
		path_from_uri(r, v, io->param(io->ctx, "SCRIPT_NAME"));

	v = io->param(io->ctx, "QUERY_STRING");
	if (v != NULL) {
		if (strlen(v) > MSGR_MAX_QUERY_BYTES)
			r->query_toobig = 1;
		else
			msgr_request_parse_query(r, v);
	}

	v = io->param(io->ctx, "HTTP_X_HUB_SIGNATURE_256");
	if (v != NULL && (n = strlen(v)) <= MSGR_REQUEST_SIGNATURE_MAX) {
		memcpy(r->signature, v, n + 1);
		r->has_signature = 1;
	}

	read_content_length(r, io->param(io->ctx, "CONTENT_LENGTH"));
}

msgr_result
msgr_request_read_body(struct msgr_request *r, const struct msgr_request_io *io,
    size_t max_body)
{
	char chunk[MSGR_REQUEST_CHUNK];
	size_t want, got = 0;
	msgr_result rc = MSGR_OK;

	msgr_buf_reset(&r->body);
	r->body.max = max_body;
	if (r->content_length_bad) {
		rc = MSGR_ERR_INVALID;
		goto out;
	}
	if (r->content_length < 0) {
		/* No count: nginx with request buffering off passes a chunked body this way, so
		 * the body is what the stream holds up to its end (FastCGI's empty FCGI_STDIN
		 * record, CGI's end of file), refused once over max_body (docs/responder.md
		 * "Answers"). A request without a body ends at once. */
		for (;;) {
			long n = io->read(io->ctx, chunk, sizeof(chunk));

			if (n < 0) {
				rc = MSGR_ERR_IO;
				goto out;
			}
			if (n == 0)
				break;
			if ((rc = msgr_buf_append(&r->body, chunk, (size_t)n)) != MSGR_OK) {
				/* the rest is the responder's to drain after answering 413 */
				r->body_left = rc == MSGR_ERR_TOOBIG;
				goto out;
			}
		}
		goto out;
	}
	/* Refused before a byte is read: the count alone says it is too big. */
	if ((unsigned long long)r->content_length > (unsigned long long)max_body) {
		rc = MSGR_ERR_TOOBIG;
		goto out;
	}
	want = (size_t)r->content_length;
	while (got < want) {
		size_t ask = want - got < sizeof(chunk) ? want - got : sizeof(chunk);
		long n = io->read(io->ctx, chunk, ask);

		if (n < 0) {
			rc = MSGR_ERR_IO;
			goto out;
		}
		if (n == 0) {
			/* The body ended before CONTENT_LENGTH: a truncated request. */
			rc = MSGR_ERR_INVALID;
			goto out;
		}
		if ((rc = msgr_buf_append(&r->body, chunk, (size_t)n)) != MSGR_OK)
			goto out;
		got += (size_t)n;
	}
	if (io->end != NULL)
		io->end(io->ctx);
out:
	if (rc != MSGR_OK)
		msgr_buf_reset(&r->body);
	return rc;
}

size_t
msgr_request_drain(const struct msgr_request_io *io, size_t limit)
{
	char chunk[MSGR_REQUEST_CHUNK];
	size_t total = 0;

	while (total < limit) {
		size_t ask = limit - total < sizeof(chunk) ? limit - total : sizeof(chunk);
		long n = io->read(io->ctx, chunk, ask);

		if (n <= 0)
			break;
		total += (size_t)n;
	}
	return total;
}

const char *
msgr_request_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Error";
}

msgr_result
msgr_request_respond(const struct msgr_request_io *io, int status, const char *content_type,
    const char *extra_headers, const char *body, size_t len)
{
	char head[512];
	int n;

	/* nosniff: the challenge is echoed back and must never be taken for HTML. */
	n = snprintf(head, sizeof(head),
	    "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n%s\r\n",
	    status, msgr_request_reason(status), content_type, len,
	    extra_headers ? extra_headers : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return MSGR_ERR_INVALID;
	if (io->write(io->ctx, head, (size_t)n) != 0)
		return MSGR_ERR_IO;
	if (len > 0 && io->write(io->ctx, body, len) != 0)
		return MSGR_ERR_IO;
	return MSGR_OK;
}
