#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "clock.h"
#include "fibers.h"
#include "http.h"

struct msgr_http {
	CURL *curl;
	char *user_agent;
	long timeout_ms;
	long connect_timeout_ms;
	struct msgr_buf reply;        /* capped at max_reply */
	int over_cap;
	int fresh;                    /* the last transfer broke: use a new connection */
	char errbuf[CURL_ERROR_SIZE];
	const struct msgr_http_request *req;   /* during a call, for on_header */
};

static int global_done;

/* msgr_http_set_deadline's, per thread; 0: none. */
static _Thread_local long long call_deadline;

void
msgr_http_set_deadline(long long mono_ms)
{
	call_deadline = mono_ms > 0 ? mono_ms : 0;
}

msgr_result
msgr_http_global_init(void)
{
	if (global_done)
		return MSGR_OK;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return MSGR_ERR_IO;
	global_done = 1;
	return MSGR_OK;
}

void
msgr_http_global_cleanup(void)
{
	if (!global_done)
		return;
	curl_global_cleanup();
	global_done = 0;
}

msgr_result
msgr_http_open(const struct msgr_http_options *opt, struct msgr_http **out)
{
	struct msgr_http *h;
	msgr_result rc;

	*out = NULL;
	if (opt == NULL || opt->max_reply == 0)
		return MSGR_ERR_INVALID;
	if ((rc = msgr_http_global_init()) != MSGR_OK)
		return rc;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return MSGR_ERR_NOMEM;
	h->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 10000;
	h->connect_timeout_ms = opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms : 3000;
	if (h->connect_timeout_ms > h->timeout_ms)
		h->connect_timeout_ms = h->timeout_ms;
	msgr_buf_init(&h->reply, opt->max_reply);
	if ((h->user_agent = strdup(opt->user_agent ? opt->user_agent : "messenger-fcgi")) == NULL) {
		msgr_http_close(h);
		return MSGR_ERR_NOMEM;
	}
	if ((h->curl = curl_easy_init()) == NULL) {
		msgr_http_close(h);
		return MSGR_ERR_IO;
	}
	*out = h;
	return MSGR_OK;
}

void
msgr_http_close(struct msgr_http *h)
{
	if (h == NULL)
		return;
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	free(h->user_agent);
	msgr_buf_free(&h->reply);
	free(h);
}

static size_t
on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct msgr_http *h = ud;
	size_t n = size * nmemb;

	if (msgr_buf_append(&h->reply, p, n) != MSGR_OK) {
		h->over_cap = 1;
		return 0;   /* aborts the transfer: CURLE_WRITE_ERROR, the connection is closed */
	}
	return n;
}

static size_t
on_header(char *p, size_t size, size_t nitems, void *ud)
{
	struct msgr_http *h = ud;
	size_t n = size * nitems;

	if (h->req != NULL && h->req->on_header != NULL)
		h->req->on_header(h->req->header_arg, p, n);
	return n;
}

static msgr_result
set_options(struct msgr_http *h, const struct msgr_http_request *req, struct curl_slist *hdrs,
    long timeout)
{
	CURL *c = h->curl;
	CURLcode e = CURLE_OK;

	/* Reset keeps the live connection (keep-alive) but drops the last call's options. */
	curl_easy_reset(c);
#define SET(opt, val) do { if (e == CURLE_OK) e = curl_easy_setopt(c, opt, val); } while (0)
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, timeout);
	SET(CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms < timeout ? h->connect_timeout_ms :
	    timeout);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_VERBOSE, 0L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_USERAGENT, h->user_agent);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_WRITEFUNCTION, on_write);
	SET(CURLOPT_WRITEDATA, h);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, h);
	SET(CURLOPT_ERRORBUFFER, h->errbuf);
	if (h->fresh)
		SET(CURLOPT_FRESH_CONNECT, 1L);
	if (strcmp(req->method, "GET") == 0) {
		SET(CURLOPT_HTTPGET, 1L);
	} else if (strcmp(req->method, "POST") == 0) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDSIZE, (long)req->body_len);
		SET(CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
	} else {
		SET(CURLOPT_CUSTOMREQUEST, req->method);
		if (req->body != NULL) {
			SET(CURLOPT_POSTFIELDSIZE, (long)req->body_len);
			SET(CURLOPT_POSTFIELDS, req->body);
		}
	}
#undef SET
	return e == CURLE_OK ? MSGR_OK : MSGR_ERR_IO;
}

/* curl_slist_append copies each line: wipe the copies (a bearer token, a signature). */
static void
free_headers(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p != NULL; p = p->next)
		if (p->data != NULL)
			OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

msgr_result
msgr_http_perform(struct msgr_http *h, const struct msgr_http_request *req,
    struct msgr_http_response *resp)
{
	struct curl_slist *hdrs = NULL, *n;
	msgr_result rc;
	CURLcode ce;
	size_t i;

	memset(resp, 0, sizeof(*resp));
	resp->body = "";
	if (h == NULL || req == NULL || req->url == NULL || req->method == NULL ||
	    (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0 &&
	    strcmp(req->method, "DELETE") != 0))
		return MSGR_ERR_INVALID;
	resp->max_reply = h->reply.max;
	rc = MSGR_ERR_NOMEM;
	for (i = 0; i < req->n_headers; i++) {
		if ((n = curl_slist_append(hdrs, req->headers[i])) == NULL)
			goto out;
		hdrs = n;
	}
	/* No "Expect: 100-continue" round trip: bodies are small, one exchange per call. */
	if ((n = curl_slist_append(hdrs, "Expect:")) == NULL)
		goto out;
	hdrs = n;
	msgr_buf_reset(&h->reply);
	h->over_cap = 0;
	h->errbuf[0] = '\0';
	h->req = req;
	resp->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : h->timeout_ms;
	if (call_deadline > 0 && !req->whole_timeout) {
		long long left = call_deadline - msgr_clock_mono_ms();

		/* Never below MSGR_HTTP_MIN_CALL_MS: a peer that answers at all answers within
		 * it, so a job begun near the end of the budget still ends, rather than failing
		 * on purpose and waiting for a retry. */
		if (left < MSGR_HTTP_MIN_CALL_MS)
			left = MSGR_HTTP_MIN_CALL_MS;
		if (left < resp->timeout_ms) {
			resp->timeout_ms = (long)left;
			resp->budget_cut = 1;
		}
	}
	if ((rc = set_options(h, req, hdrs, resp->timeout_ms)) != MSGR_OK)
		goto out;
	/* A fiber's transfer goes beside its run's others (lib/fibers.h). */
	ce = msgr_fiber_perform(h->curl);
	h->fresh = ce != CURLE_OK;
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	if (ce == CURLE_OK) {
		resp->transport_ok = 1;
		resp->body = h->reply.data != NULL ? h->reply.data : "";
		resp->body_len = h->reply.len;
	} else {
		resp->over_cap = h->over_cap;
		resp->timed_out = ce == CURLE_OPERATION_TIMEDOUT;
		if (h->over_cap)
			snprintf(resp->error, sizeof(resp->error), "answer over %zu bytes", h->reply.max);
		else
			snprintf(resp->error, sizeof(resp->error), "%s",
			    h->errbuf[0] ? h->errbuf : curl_easy_strerror(ce));
	}
	rc = MSGR_OK;
out:
	h->req = NULL;
	/* curl keeps pointers to the header list and the body: drop them before they go. */
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, (char *)NULL);
	free_headers(hdrs);
	return rc;
}

char *
msgr_http_escape(struct msgr_http *h, const char *s)
{
	char *e, *out;

	if (h == NULL || s == NULL || (e = curl_easy_escape(h->curl, s, 0)) == NULL)
		return NULL;
	out = strdup(e);
	curl_free(e);
	return out;
}
