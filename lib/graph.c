/* graph.c — the Graph API client over lib/http.c's kept-alive connection (docs/facebook.md
 * "Calls", "Errors", "Limits"; docs/worker.md, docs/sending.md). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "graph.h"
#include "limits.h"
#include "http.h"
#include "log.h"
#include "signature.h"

#define USAGE_HDR_MAX 4096   /* one usage header's JSON; Facebook's are < 300 bytes */

struct msgr_graph {
	struct msgr_http *http;   /* the connection, kept alive across calls */
	char *base;               /* base_url without trailing '/' */
	char *version;
	/* usage headers of the answer being read (the last response's only) */
	char app_usage[USAGE_HDR_MAX];
	char page_usage[USAGE_HDR_MAX];
	char buc_usage[USAGE_HDR_MAX];
};

msgr_result
msgr_graph_global_init(void)
{
	return msgr_http_global_init();
}

void
msgr_graph_global_cleanup(void)
{
	msgr_http_global_cleanup();
}

/* ---- classification (pure) ---- */

msgr_result
msgr_graph_classify(int transport_ok, long http_status, long code, long subcode)
{
	/* docs/facebook.md "Errors": temporary or throttled. */
	static const long transient[] = { 1, 2, 4, 17, 32, 341, 368, 613, 1200, 80006 };
	size_t i;

	if (!transport_ok)
		return MSGR_ERR_TRANSIENT;
	if (code != 0) {
		/* A Graph error body decides, whatever the HTTP status (docs/worker.md). */
		for (i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
			if (code == transient[i])
				return MSGR_ERR_TRANSIENT;
		if (code == 104 || code == 190)
			return MSGR_ERR_PAUSE_CONNECTOR;
		if (code == 10 && subcode == 1893063)
			return MSGR_ERR_PAUSE_PAGE;
		/* 551, 200/1545041, 10/2018278, 10/2018065, 10/2534022, 10/2018108, 100 with any
		 * subcode (2018247 is reported apart by msgr_graph_is_profile_permission), 2200,
		 * and codes we do not know: a retry would get the same answer. */
		return MSGR_ERR_PERMANENT;
	}
	if (http_status >= 200 && http_status <= 299)
		return MSGR_OK;
	if (http_status >= 500 && http_status <= 599)
		return MSGR_ERR_TRANSIENT;
	if (http_status == 408 || http_status == 429)
		return MSGR_ERR_TRANSIENT;
	/* No redirect is followed: a 3xx comes from a proxy or a base_url being moved; retrying
	 * (bounded by the worker) lets a fixed config deliver the queue. */
	if (http_status >= 300 && http_status <= 399)
		return MSGR_ERR_TRANSIENT;
	if (http_status < 100)
		return MSGR_ERR_TRANSIENT;
	return MSGR_ERR_PERMANENT;
}

int
msgr_graph_is_profile_permission(long code, long subcode)
{
	return code == 100 && subcode == 2018247;
}

/* ---- results ---- */

void
msgr_graph_result_init(struct msgr_graph_result *res)
{
	memset(res, 0, sizeof(*res));
	res->usage.app_pct = res->usage.page_pct = res->usage.buc_pct = -1;
}

void
msgr_graph_result_clear(struct msgr_graph_result *res)
{
	if (res->json != NULL)
		json_decref(res->json);
	msgr_graph_result_init(res);
}

/* ---- small helpers ---- */

/* A token or secret goes into a header or an HMAC: printable ASCII only, so it can never
 * split the header (CR/LF injection). */
static int
is_header_safe(const char *s)
{
	size_t n;

	if (s == NULL || *s == '\0')
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		if (n >= MSGR_MAX_CONFIG_STRING)
			return 0;
		if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7e)
			return 0;
	}
	return 1;
}

static int
is_path_ok(const char *p)
{
	size_t n;

	if (p == NULL || *p == '\0' || *p == '/' || strstr(p, "..") != NULL)
		return 0;
	for (n = 0; p[n] != '\0'; n++) {
		if (n >= MSGR_MAX_PATH_BYTES)
			return 0;
		if (!isalnum((unsigned char)p[n]) && strchr("_-./", p[n]) == NULL)
			return 0;
	}
	return 1;
}

static int
is_param_name_ok(const char *s)
{
	size_t n;

	if (s == NULL || *s == '\0')
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		if (n >= 128)
			return 0;
		if (!isalnum((unsigned char)s[n]) && strchr("_-.[]", s[n]) == NULL)
			return 0;
	}
	/* The token travels in the Authorization header only, the proof is added here. */
	return strcmp(s, "access_token") != 0 && strcmp(s, "appsecret_proof") != 0;
}

/* Copies at most dstsz-1 bytes of src, never cutting a UTF-8 sequence; NUL-terminates. */
static void
copy_bounded(char *dst, size_t dstsz, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstsz) {
		n = dstsz - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Copies src into dst replacing every occurrence of the secrets (NULL-ended list, entries may
 * be NULL or short) with "[redacted]": Facebook's texts do not quote tokens, but an error
 * text must never be the way one leaks. */
static void
copy_redacted(char *dst, size_t dstsz, const char *src, const char *const *secrets,
    size_t n_secrets)
{
	struct msgr_buf b;
	const char *p = src;
	size_t i, best_len;
	const char *best;

	msgr_buf_init(&b, dstsz * 4 + 64);
	while (*p != '\0') {
		best = NULL;
		best_len = 0;
		for (i = 0; i < n_secrets; i++) {
			const char *hit;
			size_t sl;

			if (secrets[i] == NULL || (sl = strlen(secrets[i])) < 4)
				continue;
			if ((hit = strstr(p, secrets[i])) != NULL && (best == NULL || hit < best)) {
				best = hit;
				best_len = sl;
			}
		}
		if (best == NULL) {
			if (msgr_buf_puts(&b, p) != MSGR_OK)
				break;
			break;
		}
		if (msgr_buf_append(&b, p, (size_t)(best - p)) != MSGR_OK ||
		    msgr_buf_puts(&b, "[redacted]") != MSGR_OK)
			break;
		p = best + best_len;
	}
	copy_bounded(dst, dstsz, b.data != NULL ? b.data : "");
	msgr_buf_free(&b);
}

static const char *
json_str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* An id Facebook may send as a string or a number, into dst. 1 when set. */
static int
json_id(const json_t *v, char *dst, size_t dstsz)
{
	int n;

	if (json_is_string(v)) {
		if (json_string_length(v) == 0 || json_string_length(v) >= dstsz)
			return 0;
		memcpy(dst, json_string_value(v), json_string_length(v) + 1);
		return 1;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		n = snprintf(dst, dstsz, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return n > 0 && (size_t)n < dstsz;
	}
	return 0;
}

static long
json_long(const json_t *v)
{
	double d;

	if (json_is_integer(v))
		return (long)json_integer_value(v);
	if (json_is_real(v)) {
		d = json_real_value(v);
		return d > -1e9 && d < 1e9 ? (long)d : 0;
	}
	if (json_is_string(v)) {
		/* Some Graph answers quote numbers. */
		const char *s = json_string_value(v);
		char *end;
		long long x;

		errno = 0;
		x = strtoll(s, &end, 10);
		if (errno == 0 && end != s && *end == '\0' && x > -1000000000LL && x < 1000000000LL)
			return (long)x;
	}
	return 0;
}

/* ---- usage headers (docs/facebook.md "Limits") ---- */

/* Takes one object {call_count, total_cputime, total_time, estimated_time_to_regain_access}:
 * raises *pct to its highest percentage, *regain_ms to its wait. */
static void
usage_object(const json_t *o, int *pct, long long *regain_ms)
{
	static const char *const keys[] = { "call_count", "total_cputime", "total_time" };
	size_t i;
	long v;

	if (!json_is_object(o))
		return;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		v = json_long(json_object_get(o, keys[i]));
		if (v < 0)
			v = 0;
		if (v > 100000)
			v = 100000;
		if (*pct < (int)v)
			*pct = (int)v;
	}
	/* Minutes, per Meta's rate-limiting page; capped at a day. */
	v = json_long(json_object_get(o, "estimated_time_to_regain_access"));
	if (v > 0) {
		if (v > 24 * 60)
			v = 24 * 60;
		if (*regain_ms < (long long)v * 60000LL)
			*regain_ms = (long long)v * 60000LL;
	}
}

static void
parse_usage(struct msgr_graph *g, struct msgr_graph_usage *u)
{
	json_t *j;
	const char *k;
	json_t *arr, *o;
	size_t i;

	if (g->app_usage[0] != '\0' && (j = json_loads(g->app_usage, 0, NULL)) != NULL) {
		u->app_pct = 0;
		usage_object(j, &u->app_pct, &u->retry_after_ms);
		json_decref(j);
	}
	if (g->page_usage[0] != '\0' && (j = json_loads(g->page_usage, 0, NULL)) != NULL) {
		u->page_pct = 0;
		usage_object(j, &u->page_pct, &u->retry_after_ms);
		json_decref(j);
	}
	/* {"<business id>": [{"type": "pages", "call_count": ..., ...}], ...} */
	if (g->buc_usage[0] != '\0' && (j = json_loads(g->buc_usage, 0, NULL)) != NULL) {
		if (json_is_object(j)) {
			u->buc_pct = 0;
			json_object_foreach(j, k, arr) {
				if (json_is_object(arr)) {
					usage_object(arr, &u->buc_pct, &u->retry_after_ms);
					continue;
				}
				json_array_foreach(arr, i, o)
					usage_object(o, &u->buc_pct, &u->retry_after_ms);
			}
		}
		json_decref(j);
	}
}

/* ---- usage headers of the answer ---- */

static void
keep_header(char *dst, const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (n >= USAGE_HDR_MAX)
		n = 0;   /* over the bound: ignored rather than half-parsed */
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static void
on_header(void *ud, const char *p, size_t n)
{
	struct msgr_graph *g = ud;
	static const char app[] = "x-app-usage:";
	static const char page[] = "x-page-usage:";
	static const char buc[] = "x-business-use-case-usage:";

	/* A new status line (after a 100 Continue, say): only the last answer's headers count. */
	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		g->app_usage[0] = g->page_usage[0] = g->buc_usage[0] = '\0';
		return;
	}
	if (n > sizeof(app) - 1 && strncasecmp(p, app, sizeof(app) - 1) == 0)
		keep_header(g->app_usage, p + sizeof(app) - 1, n - (sizeof(app) - 1));
	else if (n > sizeof(page) - 1 && strncasecmp(p, page, sizeof(page) - 1) == 0)
		keep_header(g->page_usage, p + sizeof(page) - 1, n - (sizeof(page) - 1));
	else if (n > sizeof(buc) - 1 && strncasecmp(p, buc, sizeof(buc) - 1) == 0)
		keep_header(g->buc_usage, p + sizeof(buc) - 1, n - (sizeof(buc) - 1));
}

/* ---- open / close ---- */

msgr_result
msgr_graph_open(const struct msgr_graph_options *opt, struct msgr_graph **out)
{
	struct msgr_http_options ho;
	struct msgr_graph *g = NULL;
	msgr_result rc = MSGR_ERR_INVALID;
	size_t n;
	const char *v;

	*out = NULL;
	if (opt == NULL || opt->base_url == NULL || opt->version == NULL)
		goto out;
	if (strncmp(opt->base_url, "https://", 8) != 0 && strncmp(opt->base_url, "http://", 7) != 0)
		goto out;
	if (strlen(opt->base_url) > MSGR_MAX_URL_BYTES / 2 ||
	    strpbrk(opt->base_url, "?# \t\r\n") != NULL)
		goto out;
	/* "vN.N" (docs/facebook.md "Calls": base {url}/{version}/). */
	v = opt->version;
	if (v[0] != 'v' || !isdigit((unsigned char)v[1]))
		goto out;
	for (n = 1; v[n] != '\0'; n++)
		if (n > 16 || (!isdigit((unsigned char)v[n]) && v[n] != '.'))
			goto out;
	if (opt->timeout_ms < 0 || opt->connect_timeout_ms < 0)
		goto out;
	rc = MSGR_ERR_NOMEM;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		goto out;
	if ((g->base = strdup(opt->base_url)) == NULL || (g->version = strdup(opt->version)) == NULL)
		goto out;
	n = strlen(g->base);
	while (n > 0 && g->base[n - 1] == '/')
		g->base[--n] = '\0';
	memset(&ho, 0, sizeof(ho));
	ho.timeout_ms = opt->timeout_ms;
	ho.connect_timeout_ms = opt->connect_timeout_ms;
	ho.max_reply = opt->max_reply > 0 ? opt->max_reply : MSGR_MAX_GRAPH_REPLY;
	ho.user_agent = opt->user_agent;
	if ((rc = msgr_http_open(&ho, &g->http)) != MSGR_OK)
		goto out;
	*out = g;
	g = NULL;
	rc = MSGR_OK;
out:
	msgr_graph_close(g);
	return rc;
}

void
msgr_graph_close(struct msgr_graph *g)
{
	if (g == NULL)
		return;
	msgr_http_close(g->http);
	free(g->base);
	free(g->version);
	free(g);
}

/* ---- the core call ---- */

/* Reads the answer in g->reply into res: JSON, Graph error fields. */
static void
read_answer(const struct msgr_http_response *hr, const struct msgr_graph_auth *auth,
    const char *proof, struct msgr_graph_result *res)
{
	const json_t *err;
	const char *s;
	const char *secrets[3];

	secrets[0] = auth->token;
	secrets[1] = auth->app_secret;
	secrets[2] = proof;
	if (hr->body_len > 0)
		res->json = json_loadb(hr->body, hr->body_len, 0, NULL);
	if (!json_is_object(res->json))
		return;
	err = json_object_get(res->json, "error");
	if (!json_is_object(err))
		return;
	res->code = json_long(json_object_get(err, "code"));
	res->subcode = json_long(json_object_get(err, "error_subcode"));
	/* An error object whose code we cannot read is still an error: code -1 keeps it out
	 * of the "no Graph error" branch of the classification (permanent, as unknown codes). */
	if (res->code == 0)
		res->code = -1;
	if ((s = json_str(err, "message")) != NULL)
		copy_redacted(res->message, sizeof(res->message), s, secrets, 3);
	if ((s = json_str(err, "error_user_msg")) != NULL)
		copy_redacted(res->user_msg, sizeof(res->user_msg), s, secrets, 3);
	if ((s = json_str(err, "type")) != NULL)
		copy_bounded(res->type, sizeof(res->type), s);
	if ((s = json_str(err, "fbtrace_id")) != NULL)
		copy_bounded(res->fbtrace_id, sizeof(res->fbtrace_id), s);
	res->profile_permission = msgr_graph_is_profile_permission(res->code, res->subcode);
}

msgr_result
msgr_graph_call(struct msgr_graph *g, const char *method, const char *path,
    const struct msgr_graph_param *params, size_t n_params, const struct msgr_graph_auth *auth,
    const json_t *body, struct msgr_graph_result *res)
{
	struct msgr_buf url, authz;
	struct msgr_http_request hq;
	struct msgr_http_response hr;
	const char *headers[3];
	char proof[MSGR_SIGNATURE_HEX_LEN + 1] = "";
	char *body_text = NULL, *esc;
	size_t body_len = 0, i, nh = 0;
	msgr_result rc;
	const char *secrets[3];

	msgr_buf_init(&url, MSGR_MAX_URL_BYTES * 2);
	msgr_buf_init(&authz, MSGR_MAX_CONFIG_STRING + 64);
	if (res->json != NULL)
		msgr_graph_result_clear(res);
	else
		msgr_graph_result_init(res);
	rc = MSGR_ERR_INVALID;
	if (g == NULL || method == NULL || auth == NULL || !is_path_ok(path))
		goto out;
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 && strcmp(method, "DELETE") != 0)
		goto out;
	if (strcmp(method, "GET") == 0 && body != NULL)
		goto out;
	if (!is_header_safe(auth->token) || auth->app_secret == NULL || auth->app_secret[0] == '\0')
		goto out;
	for (i = 0; i < n_params; i++)
		if (!is_param_name_ok(params[i].name) || params[i].value == NULL)
			goto out;

	/* docs/sending.md: every call carries appsecret_proof = hex HMAC-SHA256(secret, token).
	 * A connector's is made once, at load: an HMAC per call was 2.5% of a drain's CPU. */
	if (auth->proof != NULL && strlen(auth->proof) == MSGR_SIGNATURE_HEX_LEN)
		memcpy(proof, auth->proof, sizeof(proof));
	else if ((rc = msgr_signature_hmac_hex(auth->app_secret, auth->token,
	    strlen(auth->token), proof)) != MSGR_OK)
		goto out;

	if (body != NULL) {
		rc = MSGR_ERR_NOMEM;
		if ((body_text = json_dumps(body, JSON_COMPACT)) == NULL)
			goto out;
		body_len = strlen(body_text);
		rc = MSGR_ERR_TOOBIG;
		if (body_len > MSGR_MAX_GRAPH_REPLY)
			goto out;
	}

	if ((rc = msgr_buf_printf(&url, "%s/%s/%s?", g->base, g->version, path)) != MSGR_OK)
		goto out;
	for (i = 0; i < n_params; i++) {
		rc = MSGR_ERR_NOMEM;
		if ((esc = msgr_http_escape(g->http, params[i].value)) == NULL)
			goto out;
		rc = msgr_buf_printf(&url, "%s=%s&", params[i].name, esc);
		free(esc);
		if (rc != MSGR_OK)
			goto out;
	}
	if ((rc = msgr_buf_printf(&url, "appsecret_proof=%s", proof)) != MSGR_OK)
		goto out;

	/* docs/facebook.md "Calls": the token goes in Authorization: Bearer, never in the URL. */
	if ((rc = msgr_buf_printf(&authz, "Authorization: Bearer %s", auth->token)) != MSGR_OK)
		goto out;
	headers[nh++] = authz.data;
	headers[nh++] = "Accept: application/json";
	if (body != NULL)
		headers[nh++] = "Content-Type: application/json";
	memset(&hq, 0, sizeof(hq));
	hq.method = method;
	hq.url = url.data;
	hq.headers = headers;
	hq.n_headers = nh;
	hq.body = body_text;
	hq.body_len = body_len;
	/* A call that changes something at Facebook (a send, a handover) is never cut short by
	 * the worker's budget: it could take effect, time out here and be sent again
	 * (docs/worker.md "Budget"). */
	hq.whole_timeout = strcmp(method, "GET") != 0;
	hq.on_header = on_header;
	hq.header_arg = g;
	g->app_usage[0] = g->page_usage[0] = g->buc_usage[0] = '\0';
	if ((rc = msgr_http_perform(g->http, &hq, &hr)) != MSGR_OK)
		goto out;
	res->http_status = hr.status;
	if (hr.transport_ok) {
		res->transport_ok = 1;
		read_answer(&hr, auth, proof, res);
		parse_usage(g, &res->usage);
	} else {
		secrets[0] = auth->token;
		secrets[1] = auth->app_secret;
		secrets[2] = proof;
		copy_redacted(res->transport_error, sizeof(res->transport_error), hr.error, secrets, 3);
	}
	rc = msgr_graph_classify(res->transport_ok, res->http_status, res->code, res->subcode);
	if (rc == MSGR_OK && !json_is_object(res->json)) {
		/* See graph.h: a 2xx that is not a JSON object is not the Graph API's answer. */
		rc = MSGR_ERR_TRANSIENT;
		copy_bounded(res->message, sizeof(res->message), "2xx answer is not a JSON object");
	}
	res->rc = rc;
	msgr_log(rc == MSGR_OK ? MSGR_LOG_DEBUG : MSGR_LOG_INFO,
	    "graph %s %s -> http %ld code %ld/%ld: %s", method, path, res->http_status,
	    res->code, res->subcode, msgr_strerror(rc));
out:
	/* The URL holds the proof and the header the token: wipe before freeing. */
	if (url.data != NULL)
		OPENSSL_cleanse(url.data, url.cap);
	if (authz.data != NULL)
		OPENSSL_cleanse(authz.data, authz.cap);
	OPENSSL_cleanse(proof, sizeof(proof));
	free(body_text);
	msgr_buf_free(&url);
	msgr_buf_free(&authz);
	res->rc = rc;
	return rc;
}

/* ---- convenience calls ---- */

static msgr_result
post_json(struct msgr_graph *g, const char *path, const struct msgr_graph_auth *auth,
    json_t *body, struct msgr_graph_result *res)
{
	msgr_result rc;

	if (body == NULL) {
		msgr_graph_result_clear(res);
		res->rc = MSGR_ERR_NOMEM;
		return MSGR_ERR_NOMEM;
	}
	rc = msgr_graph_call(g, "POST", path, NULL, 0, auth, body, res);
	json_decref(body);
	return rc;
}

/* Marks a 2xx answer that lacks what Facebook always sends as transient (graph.h). */
static msgr_result
missing(struct msgr_graph_result *res, const char *what)
{
	snprintf(res->message, sizeof(res->message), "answer without %s", what);
	res->rc = MSGR_ERR_TRANSIENT;
	return res->rc;
}

msgr_result
msgr_graph_send(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const json_t *request, struct msgr_graph_result *res)
{
	msgr_result rc;
	int action;

	if (!json_is_object(request)) {
		msgr_graph_result_clear(res);
		return res->rc = MSGR_ERR_INVALID;
	}
	action = json_object_get(request, "sender_action") != NULL;
	if ((rc = msgr_graph_call(g, "POST", "me/messages", NULL, 0, auth, request, res)) != MSGR_OK)
		return rc;
	/* docs/facebook.md "Calls": {recipient_id, message_id}; no recipient_id for a user_ref send; a
	 * sender action gets recipient_id only. */
	json_id(json_object_get(res->json, "recipient_id"), res->recipient_id,
	    sizeof(res->recipient_id));
	if (action)
		return rc;
	if (json_object_get(res->json, "message_id") == NULL)
		return missing(res, "message_id");
	if (!json_id(json_object_get(res->json, "message_id"), res->message_id,
	    sizeof(res->message_id)))
		/* Sent, by Facebook's word; an id we cannot keep must not cause a second send. */
		msgr_log(MSGR_LOG_WARN, "graph: message_id unusable, kept empty");
	return rc;
}

msgr_result
msgr_graph_sender_action(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *psid, const char *action, const char *persona_id, struct msgr_graph_result *res)
{
	json_t *body;
	msgr_result rc;

	if (!msgr_id_valid(psid) || action == NULL ||
	    (strcmp(action, "typing_on") != 0 && strcmp(action, "typing_off") != 0 &&
	    strcmp(action, "mark_seen") != 0) ||
	    (persona_id != NULL && !msgr_id_valid(persona_id))) {
		msgr_graph_result_clear(res);
		return res->rc = MSGR_ERR_INVALID;
	}
	body = json_pack("{s:{s:s}, s:s}", "recipient", "id", psid, "sender_action", action);
	if (body != NULL && persona_id != NULL &&
	    json_object_set_new(body, "persona_id", json_string(persona_id)) != 0) {
		json_decref(body);
		body = NULL;
	}
	if (body == NULL) {
		msgr_graph_result_clear(res);
		return res->rc = MSGR_ERR_NOMEM;
	}
	rc = msgr_graph_send(g, auth, body, res);
	json_decref(body);
	return rc;
}

msgr_result
msgr_graph_upload_attachment(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *type, const char *url, struct msgr_graph_result *res)
{
	msgr_result rc;

	if (type == NULL || url == NULL ||
	    (strcmp(type, "image") != 0 && strcmp(type, "audio") != 0 &&
	    strcmp(type, "video") != 0 && strcmp(type, "file") != 0) ||
	    (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) ||
	    strlen(url) > MSGR_MAX_URL_BYTES) {
		msgr_graph_result_clear(res);
		return res->rc = MSGR_ERR_INVALID;
	}
	/* docs/facebook.md "Attachment upload": reusable, so one upload serves every later send. */
	rc = post_json(g, "me/message_attachments", auth,
	    json_pack("{s:{s:{s:s, s:{s:s, s:b}}}}", "message", "attachment", "type", type,
	    "payload", "url", url, "is_reusable", 1), res);
	if (rc != MSGR_OK)
		return rc;
	if (!json_id(json_object_get(res->json, "attachment_id"), res->attachment_id,
	    sizeof(res->attachment_id)))
		return missing(res, "attachment_id");
	return rc;
}

static int
is_field_name(const char *s)
{
	size_t n;

	if (s == NULL || *s == '\0')
		return 0;
	for (n = 0; s[n] != '\0'; n++)
		if (n >= 64 || ((s[n] < 'a' || s[n] > 'z') && s[n] != '_'))
			return 0;
	return 1;
}

msgr_result
msgr_graph_profile(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *psid, const char *const *extra, size_t n_extra, struct msgr_graph_result *res)
{
	struct msgr_buf fields;
	struct msgr_graph_param p;
	msgr_result rc;
	size_t i;

	msgr_buf_init(&fields, 2048);
	rc = MSGR_ERR_INVALID;
	if (!msgr_id_valid(psid) || n_extra > MSGR_MAX_PROFILE_FIELDS)
		goto fail;
	/* docs/facebook.md "Profile": these three need no extra permission. */
	if ((rc = msgr_buf_puts(&fields, "first_name,last_name,profile_pic")) != MSGR_OK)
		goto fail;
	for (i = 0; i < n_extra; i++) {
		rc = MSGR_ERR_INVALID;
		if (!is_field_name(extra[i]))
			goto fail;
		if (strcmp(extra[i], "first_name") == 0 || strcmp(extra[i], "last_name") == 0 ||
		    strcmp(extra[i], "profile_pic") == 0)
			continue;
		if ((rc = msgr_buf_printf(&fields, ",%s", extra[i])) != MSGR_OK)
			goto fail;
	}
	p.name = "fields";
	p.value = fields.data;
	rc = msgr_graph_call(g, "GET", psid, &p, 1, auth, NULL, res);
	msgr_buf_free(&fields);
	return rc;
fail:
	msgr_buf_free(&fields);
	msgr_graph_result_clear(res);
	return res->rc = rc;
}

static msgr_result
thread_call(struct msgr_graph *g, const struct msgr_graph_auth *auth, const char *path,
    const char *psid, const char *target, const char *metadata, long duration_s,
    struct msgr_graph_result *res)
{
	json_t *body;
	int bad = 0;

	if (!msgr_id_valid(psid) ||
	    (metadata != NULL && strlen(metadata) > MSGR_METADATA_MAX_CHARS * 4)) {
		msgr_graph_result_clear(res);
		return res->rc = MSGR_ERR_INVALID;
	}
	if ((body = json_pack("{s:{s:s}}", "recipient", "id", psid)) == NULL)
		return post_json(g, path, auth, NULL, res);
	if (target != NULL)
		bad |= json_object_set_new(body, "target_app_id", json_string(target));
	if (metadata != NULL)
		bad |= json_object_set_new(body, "metadata", json_string(metadata));
	if (duration_s > 0)
		bad |= json_object_set_new(body, "duration", json_integer(duration_s));
	if (bad) {
		/* json_string refuses invalid UTF-8: the caller's metadata was bad. */
		json_decref(body);
		msgr_graph_result_clear(res);
		return res->rc = MSGR_ERR_INVALID;
	}
	return post_json(g, path, auth, body, res);
}

msgr_result
msgr_graph_pass_thread_control(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *psid, const char *target, const char *metadata, struct msgr_graph_result *res)
{
	/* README.md "Many pages, one app; Conversation Routing": "inbox" is the Page Inbox app. */
	if (target != NULL && strcmp(target, "inbox") == 0)
		target = MSGR_PAGE_INBOX_APP_ID;
	if (!msgr_id_valid(target)) {
		msgr_graph_result_clear(res);
		return res->rc = MSGR_ERR_INVALID;
	}
	return thread_call(g, auth, "me/pass_thread_control", psid, target, metadata, 0, res);
}

msgr_result
msgr_graph_take_thread_control(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *psid, const char *metadata, struct msgr_graph_result *res)
{
	return thread_call(g, auth, "me/take_thread_control", psid, NULL, metadata, 0, res);
}

msgr_result
msgr_graph_release_thread_control(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *psid, const char *metadata, struct msgr_graph_result *res)
{
	return thread_call(g, auth, "me/release_thread_control", psid, NULL, metadata, 0, res);
}

msgr_result
msgr_graph_request_thread_control(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *psid, const char *metadata, struct msgr_graph_result *res)
{
	return thread_call(g, auth, "me/request_thread_control", psid, NULL, metadata, 0, res);
}

msgr_result
msgr_graph_extend_thread_control(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *psid, long duration_s, struct msgr_graph_result *res)
{
	if (duration_s <= 0) {
		msgr_graph_result_clear(res);
		return res->rc = MSGR_ERR_INVALID;
	}
	return thread_call(g, auth, "me/extend_thread_control", psid, NULL, NULL, duration_s, res);
}

msgr_result
msgr_graph_thread_owner(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *page_id, const char *psid, struct msgr_graph_result *res)
{
	char path[MSGR_MAX_ID_LEN + 32];
	struct msgr_graph_param p;
	const json_t *data, *owner;
	msgr_result rc;

	if (!msgr_id_valid(page_id) || !msgr_id_valid(psid)) {
		msgr_graph_result_clear(res);
		return res->rc = MSGR_ERR_INVALID;
	}
	snprintf(path, sizeof(path), "%s/thread_owner", page_id);
	p.name = "recipient";
	p.value = psid;
	if ((rc = msgr_graph_call(g, "GET", path, &p, 1, auth, NULL, res)) != MSGR_OK)
		return rc;
	/* {"data":[{"thread_owner":{"app_id":..., "expiration":...}}]}; an empty data: nobody. */
	data = json_object_get(res->json, "data");
	if (!json_is_array(data))
		return missing(res, "data");
	if (json_array_size(data) == 0)
		return rc;
	owner = json_object_get(json_object_get(json_array_get(data, 0), "thread_owner"), "app_id");
	if (!json_id(owner, res->owner_app_id, sizeof(res->owner_app_id)))
		return missing(res, "thread_owner.app_id");
	return rc;
}

/* The app token "app_id|app_secret" (docs/facebook.md "Subscriptions"), a secret: wiped by the
 * caller. */
static msgr_result
app_token(char *dst, size_t dstsz, const char *app_id, const char *app_secret)
{
	int n;

	if (!msgr_id_valid(app_id) || !is_header_safe(app_secret))
		return MSGR_ERR_INVALID;
	n = snprintf(dst, dstsz, "%s|%s", app_id, app_secret);
	return n > 0 && (size_t)n < dstsz ? MSGR_OK : MSGR_ERR_INVALID;
}

msgr_result
msgr_graph_app_subscribe(struct msgr_graph *g, const char *app_id, const char *app_secret,
    const char *callback_url, const char *verify_token, const char *fields,
    struct msgr_graph_result *res)
{
	char token[MSGR_MAX_ID_LEN + MSGR_MAX_CONFIG_STRING + 2];
	char path[MSGR_MAX_ID_LEN + 32];
	struct msgr_graph_auth auth;
	msgr_result rc;

	rc = app_token(token, sizeof(token), app_id, app_secret);
	if (rc != MSGR_OK || callback_url == NULL || verify_token == NULL || fields == NULL ||
	    (strncmp(callback_url, "https://", 8) != 0 && strncmp(callback_url, "http://", 7) != 0)) {
		msgr_graph_result_clear(res);
		res->rc = MSGR_ERR_INVALID;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/subscriptions", app_id);
	auth.token = token;
	auth.app_secret = app_secret;
	auth.proof = NULL;
	/* The verify token is a secret: in the body, never in the URL. */
	post_json(g, path, &auth, json_pack("{s:s, s:s, s:s, s:s}", "object", "page",
	    "callback_url", callback_url, "verify_token", verify_token, "fields", fields), res);
out:
	OPENSSL_cleanse(token, sizeof(token));
	return res->rc;
}

msgr_result
msgr_graph_app_subscriptions(struct msgr_graph *g, const char *app_id, const char *app_secret,
    struct msgr_graph_result *res)
{
	char token[MSGR_MAX_ID_LEN + MSGR_MAX_CONFIG_STRING + 2];
	char path[MSGR_MAX_ID_LEN + 32];
	struct msgr_graph_auth auth;

	if (app_token(token, sizeof(token), app_id, app_secret) != MSGR_OK) {
		msgr_graph_result_clear(res);
		res->rc = MSGR_ERR_INVALID;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/subscriptions", app_id);
	auth.token = token;
	auth.app_secret = app_secret;
	auth.proof = NULL;
	if (msgr_graph_call(g, "GET", path, NULL, 0, &auth, NULL, res) == MSGR_OK &&
	    !json_is_array(json_object_get(res->json, "data")))
		missing(res, "data");
out:
	OPENSSL_cleanse(token, sizeof(token));
	return res->rc;
}

msgr_result
msgr_graph_page_subscribe(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *page_id, const char *fields, struct msgr_graph_result *res)
{
	char path[MSGR_MAX_ID_LEN + 32];
	struct msgr_graph_param p;

	if (!msgr_id_valid(page_id) || fields == NULL || *fields == '\0') {
		msgr_graph_result_clear(res);
		return res->rc = MSGR_ERR_INVALID;
	}
	snprintf(path, sizeof(path), "%s/subscribed_apps", page_id);
	p.name = "subscribed_fields";
	p.value = fields;
	return msgr_graph_call(g, "POST", path, &p, 1, auth, NULL, res);
}

msgr_result
msgr_graph_page_subscribed_apps(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *page_id, struct msgr_graph_result *res)
{
	char path[MSGR_MAX_ID_LEN + 32];

	if (!msgr_id_valid(page_id)) {
		msgr_graph_result_clear(res);
		return res->rc = MSGR_ERR_INVALID;
	}
	snprintf(path, sizeof(path), "%s/subscribed_apps", page_id);
	return msgr_graph_call(g, "GET", path, NULL, 0, auth, NULL, res);
}

msgr_result
msgr_graph_messenger_profile_set(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const json_t *body, struct msgr_graph_result *res)
{
	if (!json_is_object(body)) {
		msgr_graph_result_clear(res);
		return res->rc = MSGR_ERR_INVALID;
	}
	return msgr_graph_call(g, "POST", "me/messenger_profile", NULL, 0, auth, body, res);
}

msgr_result
msgr_graph_messenger_profile_delete(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *const *fields, size_t n_fields, struct msgr_graph_result *res)
{
	json_t *body, *arr;
	msgr_result rc;
	size_t i;

	if (n_fields == 0 || n_fields > 32) {
		msgr_graph_result_clear(res);
		return res->rc = MSGR_ERR_INVALID;
	}
	if ((body = json_object()) == NULL || (arr = json_array()) == NULL ||
	    json_object_set_new(body, "fields", arr) != 0) {
		json_decref(body);
		msgr_graph_result_clear(res);
		return res->rc = MSGR_ERR_NOMEM;
	}
	for (i = 0; i < n_fields; i++) {
		if (!is_field_name(fields[i]) || json_array_append_new(arr, json_string(fields[i])) != 0) {
			json_decref(body);
			msgr_graph_result_clear(res);
			return res->rc = MSGR_ERR_INVALID;
		}
	}
	rc = msgr_graph_call(g, "DELETE", "me/messenger_profile", NULL, 0, auth, body, res);
	json_decref(body);
	return rc;
}
