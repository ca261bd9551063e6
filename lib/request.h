/* request.h — the responder's request reader and answer writer.
 *
 * The responder serves the same handler code over FastCGI (libfcgi streams) and plain CGI
 * (environment, stdin, stdout); struct msgr_request_io hides which, so this module knows
 * neither and is tested and fuzzed on its own (tests/unit/test_request.c,
 * tests/fuzz/fuzz_query.c). Everything read from the wire is bounded here before the handler
 * sees it, because it comes from whoever reached the web server: the path by
 * MSGR_MAX_PATH_BYTES, the query by MSGR_MAX_QUERY_BYTES, hub.challenge by
 * MSGR_MAX_CHALLENGE_BYTES, the body by the config's max_body (docs/responder.md "Answers").
 *
 * One struct msgr_request lives as long as the process (or request thread):
 * msgr_request_reset clears it between requests and keeps the body buffer's memory for the
 * next one, so a busy responder does not allocate per request. */
#ifndef MSGR_REQUEST_H
#define MSGR_REQUEST_H

#include <stddef.h>

#include "buf.h"
#include "limits.h"
#include "result.h"

/* Bounds of the short request fields (what does not fit is refused, never cut and used). */
#define MSGR_REQUEST_METHOD_MAX    15   /* "DELETE", "OPTIONS"... */
#define MSGR_REQUEST_MODE_MAX      31   /* hub.mode: "subscribe" */
#define MSGR_REQUEST_SIGNATURE_MAX 127  /* X-Hub-Signature-256: "sha256=" + 64 hex is 71 */
#define MSGR_REQUEST_CHUNK         16384 /* bytes read from the body per call */

/* How a request is read and answered: libfcgi streams or CGI's environment and stdio. */
struct msgr_request_io {
	void *ctx;
	/* The CGI/FastCGI parameter name, or NULL when absent. */
	const char *(*param)(void *ctx, const char *name);
	/* Reads up to n bytes of the body: the count, 0 at its end, -1 on error. */
	long (*read)(void *ctx, char *p, size_t n);
	/* Writes n bytes of the answer: 0, or -1 on error. */
	int (*write)(void *ctx, const char *p, size_t n);
	/* The body has been read to its CONTENT_LENGTH: reads the end the transport marks after
	 * it, if it marks one (FastCGI's empty FCGI_STDIN record, sent with the body's last
	 * bytes). NULL: nothing to read (CGI, whose scripts must not read past the count). */
	void (*end)(void *ctx);
};

/* A decoded query parameter: present or not, and usable or not (too long, repeated, or
 * holding a NUL byte: such a value can never be the right one and is refused). */
struct msgr_request_param {
	int present;
	int bad;
	size_t len;
};

struct msgr_request {
	char method[MSGR_REQUEST_METHOD_MAX + 1];
	char path[MSGR_MAX_PATH_BYTES + 1];   /* PATH_INFO, or the REQUEST_URI fallback */
	int path_bad;                         /* too long or held a NUL: matches no connector */

	int query_toobig;                     /* QUERY_STRING over MSGR_MAX_QUERY_BYTES */
	struct msgr_request_param mode_p, token_p, challenge_p;
	char hub_mode[MSGR_REQUEST_MODE_MAX + 1];
	char hub_verify_token[MSGR_MAX_QUERY_BYTES + 1];
	char hub_challenge[MSGR_MAX_CHALLENGE_BYTES + 1];

	int has_signature;                    /* X-Hub-Signature-256 given and within bounds */
	char signature[MSGR_REQUEST_SIGNATURE_MAX + 1];

	long long content_length;             /* -1 when CONTENT_LENGTH is absent or empty: the
	                                         body is read to its end */
	int content_length_bad;               /* not a decimal count in range */
	int body_left;                        /* without a count, the body went on past
	                                         max_body: what is left is to be drained */
	struct msgr_buf body;                 /* the raw body, exactly as received */
};

void msgr_request_init(struct msgr_request *r);
/* Clears every field for the next request; keeps the body buffer's memory. */
void msgr_request_reset(struct msgr_request *r);
void msgr_request_free(struct msgr_request *r);

/* Reads REQUEST_METHOD, PATH_INFO (falling back to REQUEST_URI's path without SCRIPT_NAME
 * when the server passes none: docs/responder.md), QUERY_STRING (hub.* decoded),
 * HTTP_X_HUB_SIGNATURE_256 and CONTENT_LENGTH. Never fails: what is out of bounds is
 * flagged in r for the handler to answer. */
void msgr_request_read_head(struct msgr_request *r, const struct msgr_request_io *io);

/* Decodes the hub.mode, hub.verify_token and hub.challenge parameters of a query string
 * (application/x-www-form-urlencoded: '+' is a space, %XX a byte) into r. */
void msgr_request_parse_query(struct msgr_request *r, const char *qs);

/* Reads the body into r->body, at most max_body bytes: CONTENT_LENGTH bytes, or without a
 * CONTENT_LENGTH (a chunked body the web server passes on as it comes) everything up to
 * the end of the stream.
 * MSGR_OK: the whole body is in r->body.
 * MSGR_ERR_TOOBIG: CONTENT_LENGTH (or, without one, the data) is over max_body: answer 413;
 *   what was read is discarded (call msgr_request_drain after answering; r->body_left says
 *   so when there was no CONTENT_LENGTH).
 * MSGR_ERR_INVALID: CONTENT_LENGTH is not a count, or the body ended before it: answer 400.
 * MSGR_ERR_IO: reading failed. MSGR_ERR_NOMEM. */
msgr_result msgr_request_read_body(struct msgr_request *r, const struct msgr_request_io *io,
    size_t max_body);

/* Reads and discards what is left of a refused body, at most limit bytes, so the web server
 * is not left writing into a closed stream. Returns the bytes discarded. */
size_t msgr_request_drain(const struct msgr_request_io *io, size_t limit);

/* Writes a whole answer: "Status: <status> <reason>", Content-Type, Content-Length, the
 * extra header lines (each ending in "\r\n", may be NULL), then the body.
 * MSGR_OK or MSGR_ERR_IO. */
msgr_result msgr_request_respond(const struct msgr_request_io *io, int status,
    const char *content_type, const char *extra_headers, const char *body, size_t len);

/* The reason phrase of an HTTP status the responder uses ("OK", "Forbidden", ...). */
const char *msgr_request_reason(int status);

#endif
