/* http.h — the HTTP transport under the Graph API client and the Bot API bot.
 *
 * One libcurl easy handle, reused so the connection stays alive between calls; only http and
 * https; redirects never followed (a redirect would carry a token or a signed body somewhere
 * the config does not name); never verbose; connect and total timeouts; no signals; the
 * answer read into a buffer capped at max_reply; after a transfer that broke, the next call
 * opens a fresh connection. A handle is used by one thread at a time. What a call means
 * (Graph errors, bot replies) is for the caller: this module only moves bytes. */
#ifndef MSGR_HTTP_H
#define MSGR_HTTP_H

#include <stddef.h>
#include "result.h"

struct msgr_http;

struct msgr_http_options {
	long timeout_ms;            /* a whole call; default 10000 */
	long connect_timeout_ms;    /* default 3000, never above timeout_ms */
	size_t max_reply;           /* bytes of an answer; required */
	const char *user_agent;     /* default "messenger-fcgi" */
};

/* curl_global_init, once per process, before any thread exists: each program calls it from
 * main (the responder before its request threads start) and the cleanup at exit.
 * msgr_http_open calls it too, for a library user that did not (a no-op once done).
 * MSGR_OK or MSGR_ERR_IO. */
msgr_result msgr_http_global_init(void);
void msgr_http_global_cleanup(void);

/* MSGR_OK, MSGR_ERR_INVALID (no max_reply), MSGR_ERR_NOMEM, MSGR_ERR_IO (curl did not start). */
msgr_result msgr_http_open(const struct msgr_http_options *opt, struct msgr_http **out);
void msgr_http_close(struct msgr_http *h);

struct msgr_http_request {
	const char *method;           /* "GET", "POST" or "DELETE" */
	const char *url;
	const char *const *headers;   /* "Name: value" lines; may hold a secret (a bearer token,
	                                 a signature): curl's copies are wiped after the call */
	size_t n_headers;
	const char *body;             /* POST or DELETE; NULL for none */
	size_t body_len;
	long timeout_ms;              /* > 0: this call's total timeout instead of the handle's */
	int whole_timeout;            /* a thread's deadline never cuts this call short: a call
	                                 that changes something on the other side (a Send API
	                                 POST) could take effect, time out here and be made again
	                                 (msgr_http_set_deadline) */
	/* Each header line of the answer as it arrives (status lines included), optional. */
	void (*on_header)(void *arg, const char *line, size_t len);
	void *header_arg;
};

struct msgr_http_response {
	int transport_ok;             /* a whole HTTP answer arrived */
	int timed_out;                /* !transport_ok because a timeout ran out */
	int budget_cut;               /* the timeout was the thread's deadline, shorter than the
	                                 call's own (msgr_http_set_deadline) */
	long timeout_ms;              /* the timeout the call had */
	int over_cap;                 /* !transport_ok because the answer passed max_reply */
	long status;                  /* HTTP status; 0 without an answer */
	char error[256];              /* curl's words when !transport_ok (host and port at most,
	                                 never a header); the caller may redact further */
	const char *body;             /* the answer, NUL-terminated; valid until the next call */
	size_t body_len;
	size_t max_reply;             /* the cap, for messages */
};

/* Makes the call. MSGR_OK when it was made: an answer or a transport failure, as *resp says.
 * MSGR_ERR_INVALID (a bad method or no URL), MSGR_ERR_NOMEM, MSGR_ERR_IO (curl refused an
 * option): nothing was sent. */
msgr_result msgr_http_perform(struct msgr_http *h, const struct msgr_http_request *req,
    struct msgr_http_response *resp);

/* A deadline for every call the calling thread makes from now on (CLOCK_MONOTONIC ms, as
 * msgr_clock_mono_ms; 0: none): a call's timeout is cut to what is left of it, but never
 * below MSGR_HTTP_MIN_CALL_MS, unless the request asks for its whole_timeout. The responder
 * sets it to the end of its worker budget so a slow Bot API bot or Graph API read cannot hold
 * the process much past worker.budget_ms (docs/worker.md "Budget"). Per thread, so request
 * threads and other programs are untouched. */
#define MSGR_HTTP_MIN_CALL_MS 1000
void msgr_http_set_deadline(long long mono_ms);

/* s percent-encoded for a URL query, malloc'd (free()), or NULL when out of memory. */
char *msgr_http_escape(struct msgr_http *h, const char *s);

#endif
