/* graph.h — the Graph API client (libcurl): Send API, sender actions, attachment upload,
 * user profile, thread control, subscriptions, messenger profile (docs/facebook.md "Calls").
 *
 * One struct msgr_graph per process (or per thread: a handle is used by one thread at a
 * time), opened once and reused so its connection stays alive across calls. The program
 * calls msgr_graph_global_init() once at start, before any thread exists (curl_global_init
 * is not guaranteed thread-safe on every libcurl build), and msgr_graph_global_cleanup() at exit.
 *
 * Secrets: every call carries the token in an `Authorization: Bearer` header, never in a URL,
 * and an appsecret_proof (hex HMAC-SHA256(app secret, token), docs/sending.md) as a query
 * parameter: GET and DELETE have no body, so one place for every method. The proof is derived
 * from the token, useless without it, and still never logged: this module logs method and
 * relative path only, error texts are copied with token, secret and proof redacted, and
 * CURLOPT_VERBOSE is never set.
 *
 * Every call returns its classification (msgr_graph_classify) and fills a
 * struct msgr_graph_result the caller releases with msgr_graph_result_clear. */
#ifndef MSGR_GRAPH_H
#define MSGR_GRAPH_H

#include <stddef.h>
#include <jansson.h>

#include "id.h"
#include "limits.h"
#include "result.h"

struct msgr_graph;

struct msgr_graph_options {
	const char *base_url;      /* "https://graph.facebook.com"; http or https only */
	const char *version;       /* "v26.0" */
	int timeout_ms;            /* whole call, connect included; default 10000 */
	int connect_timeout_ms;    /* default 3000 */
	size_t max_reply;          /* bytes of an answer; default MSGR_MAX_GRAPH_REPLY */
	const char *user_agent;    /* default "messenger-fcgi" */
};

/* Who calls: the token (page token, or the app token "app_id|app_secret") and the app secret
 * the proof is made with. Both are secrets, borrowed for the call. */
struct msgr_graph_auth {
	const char *token;
	const char *app_secret;
	/* The call's appsecret_proof when the caller holds it already (a connector's, made once
	 * at load: msgr_connector.proof), or NULL: made for each call. */
	const char *proof;
};

/* A query parameter (URL-escaped by the client). Never "access_token" or "appsecret_proof":
 * those are refused with MSGR_ERR_INVALID. */
struct msgr_graph_param {
	const char *name;
	const char *value;
};

/* Usage headers (docs/facebook.md "Limits"): X-App-Usage, X-Page-Usage, X-Business-Use-Case-Usage,
 * JSON of percentages (call_count, total_cputime, total_time) and
 * estimated_time_to_regain_access (minutes). -1 when the header was absent. */
struct msgr_graph_usage {
	int app_pct;               /* highest percentage in X-App-Usage */
	int page_pct;              /* highest in X-Page-Usage */
	int buc_pct;               /* highest over every entry of X-Business-Use-Case-Usage */
	long long retry_after_ms;  /* largest estimated_time_to_regain_access, in ms; 0 when none */
};

struct msgr_graph_result {
	msgr_result rc;            /* the classification, also the calls' return value */
	int transport_ok;          /* an HTTP answer arrived whole (no network error, timeout, cap) */
	char transport_error[128]; /* curl's text when !transport_ok (no URL, no header) */
	long http_status;          /* 0 when no answer */
	json_t *json;              /* the parsed answer (owned), NULL when not JSON */
	/* Graph error (docs/facebook.md "Errors"); code 0 when the answer held none. */
	long code;
	long subcode;
	char type[64];
	char message[512];         /* Facebook's message, bounded, secrets redacted */
	char user_msg[512];        /* error_user_msg when present */
	char fbtrace_id[64];
	int profile_permission;    /* 100/2018247: leave the names empty, answer anyway */
	struct msgr_graph_usage usage;
	/* Filled by the convenience calls on success: */
	char message_id[MSGR_MAX_MID_LEN + 1];
	char recipient_id[MSGR_MAX_ID_LEN + 1];
	char attachment_id[MSGR_MAX_ID_LEN + 1];
	char owner_app_id[MSGR_MAX_ID_LEN + 1];   /* thread_owner; "" when nobody owns it */
};

/* curl_global_init once. MSGR_OK or MSGR_ERR_IO. */
msgr_result msgr_graph_global_init(void);
void msgr_graph_global_cleanup(void);

/* Opens a client. MSGR_OK; MSGR_ERR_INVALID (base_url not http(s), version not "vN.N" or a
 * bad bound); MSGR_ERR_NOMEM; MSGR_ERR_IO (curl could not start). */
msgr_result msgr_graph_open(const struct msgr_graph_options *opt, struct msgr_graph **out);
void msgr_graph_close(struct msgr_graph *g);

void msgr_graph_result_init(struct msgr_graph_result *res);
/* Drops res->json and resets every field (res may be reused). */
void msgr_graph_result_clear(struct msgr_graph_result *res);

/* Pure classification (docs/worker.md, docs/facebook.md "Errors"). transport_ok is 0 for a
 * network error, a timeout or an answer over the cap; code 0 means the answer carried no Graph
 * error. A Graph error decides by code and subcode, whatever the HTTP status:
 *   1, 2, 4, 17, 32, 341, 368, 613, 1200, 80006          -> MSGR_ERR_TRANSIENT
 *   104, 190                                            -> MSGR_ERR_PAUSE_CONNECTOR
 *   10/1893063                                          -> MSGR_ERR_PAUSE_PAGE
 *   anything else (551, 200/1545041, 10/2018278, 10/2018065, 10/2534022, 10/2018108, 100/any
 *   including 100/2018247 — see msgr_graph_is_profile_permission —, 2200, unknown codes)
 *                                                       -> MSGR_ERR_PERMANENT
 * Without a Graph error: no transport -> TRANSIENT; 2xx -> MSGR_OK; 5xx, 408, 429 and 3xx
 * (redirects are not followed: a proxy or a base_url being fixed) -> TRANSIENT; other 4xx
 * and 1xx -> PERMANENT. */
msgr_result msgr_graph_classify(int transport_ok, long http_status, long code, long subcode);
/* 1 for 100/2018247 (a profile field needs a permission): the caller falls back. */
int msgr_graph_is_profile_permission(long code, long subcode);

/* The core call: method "GET", "POST" or "DELETE"; path relative to {base}/{version}/
 * ("me/messages", "PSID", "PAGE/thread_owner": letters, digits, '_', '-', '.', '/', no "..");
 * params URL-escaped into the query; body sent as JSON (POST, DELETE; NULL for none).
 * A 2xx answer that is not a JSON object is MSGR_ERR_TRANSIENT: it did not come from the
 * Graph API (a proxy, a captive portal, a cut answer) and nothing says whether the call took
 * effect; the Send API has no idempotency key, so the worker leaves such a message in flight
 * and its echo settles it, as for the one call in flight at a kill (docs/worker.md).
 * Returns res->rc; MSGR_ERR_INVALID (bad arguments, nothing sent) and MSGR_ERR_NOMEM are
 * returned without a call. res must be initialised (msgr_graph_result_init). */
msgr_result msgr_graph_call(struct msgr_graph *g, const char *method, const char *path,
    const struct msgr_graph_param *params, size_t n_params, const struct msgr_graph_auth *auth,
    const json_t *body, struct msgr_graph_result *res);

/* ---- convenience calls; each returns as msgr_graph_call ---- */

/* POST me/messages with request, a full Send API body (recipient, messaging_type, message or
 * sender_action, ...) built by the message module. On success res->message_id (and
 * res->recipient_id, absent for a user_ref send) are set; an answer without message_id is
 * MSGR_ERR_TRANSIENT (not Facebook's answer, see msgr_graph_call). */
msgr_result msgr_graph_send(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const json_t *request, struct msgr_graph_result *res);

/* POST me/messages {recipient{id}, sender_action} (typing_on, typing_off, mark_seen);
 * persona_id may be NULL. */
msgr_result msgr_graph_sender_action(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *psid, const char *action, const char *persona_id, struct msgr_graph_result *res);

/* POST me/message_attachments {message{attachment{type, payload{url, is_reusable:true}}}}
 * -> res->attachment_id. type: image, audio, video, file. */
msgr_result msgr_graph_upload_attachment(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *type, const char *url, struct msgr_graph_result *res);

/* GET {psid}?fields=first_name,last_name,profile_pic[,extra...] -> res->json. extra field
 * names are [a-z_]; a permission error sets res->profile_permission (MSGR_ERR_PERMANENT). */
msgr_result msgr_graph_profile(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *psid, const char *const *extra, size_t n_extra, struct msgr_graph_result *res);

/* Thread control (docs/facebook.md "Thread control"), each -> {"success":true}. target is an app id
 * or "inbox" (MSGR_PAGE_INBOX_APP_ID, lib/id.h); metadata may be NULL. */
msgr_result msgr_graph_pass_thread_control(struct msgr_graph *g,
    const struct msgr_graph_auth *auth, const char *psid, const char *target,
    const char *metadata, struct msgr_graph_result *res);
msgr_result msgr_graph_take_thread_control(struct msgr_graph *g,
    const struct msgr_graph_auth *auth, const char *psid, const char *metadata,
    struct msgr_graph_result *res);
msgr_result msgr_graph_release_thread_control(struct msgr_graph *g,
    const struct msgr_graph_auth *auth, const char *psid, const char *metadata,
    struct msgr_graph_result *res);
msgr_result msgr_graph_request_thread_control(struct msgr_graph *g,
    const struct msgr_graph_auth *auth, const char *psid, const char *metadata,
    struct msgr_graph_result *res);
/* duration_s: seconds the current owner keeps the thread. */
msgr_result msgr_graph_extend_thread_control(struct msgr_graph *g,
    const struct msgr_graph_auth *auth, const char *psid, long duration_s,
    struct msgr_graph_result *res);
/* GET {page_id}/thread_owner?recipient=PSID -> res->owner_app_id. */
msgr_result msgr_graph_thread_owner(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *page_id, const char *psid, struct msgr_graph_result *res);

/* POST {app_id}/subscriptions {object:"page", callback_url, verify_token, fields} with the app
 * token "app_id|app_secret" (built here, a secret too). Facebook verifies the callback with a
 * GET during the call: 2200 when it fails (MSGR_ERR_PERMANENT, res->message says why). fields
 * is a comma-separated list. */
msgr_result msgr_graph_app_subscribe(struct msgr_graph *g, const char *app_id,
    const char *app_secret, const char *callback_url, const char *verify_token,
    const char *fields, struct msgr_graph_result *res);
/* GET {app_id}/subscriptions -> res->json {"data":[{object, callback_url, active, fields}]}. */
msgr_result msgr_graph_app_subscriptions(struct msgr_graph *g, const char *app_id,
    const char *app_secret, struct msgr_graph_result *res);
/* POST {page_id}/subscribed_apps?subscribed_fields=... (comma-separated) with the page token. */
msgr_result msgr_graph_page_subscribe(struct msgr_graph *g, const struct msgr_graph_auth *auth,
    const char *page_id, const char *fields, struct msgr_graph_result *res);
/* GET {page_id}/subscribed_apps -> res->json. */
msgr_result msgr_graph_page_subscribed_apps(struct msgr_graph *g,
    const struct msgr_graph_auth *auth, const char *page_id, struct msgr_graph_result *res);

/* POST me/messenger_profile with body (get_started, greeting, persistent_menu, ice_breakers,
 * whitelisted_domains) -> {"result":"success"}. */
msgr_result msgr_graph_messenger_profile_set(struct msgr_graph *g,
    const struct msgr_graph_auth *auth, const json_t *body, struct msgr_graph_result *res);
/* DELETE me/messenger_profile {"fields":[...]}. */
msgr_result msgr_graph_messenger_profile_delete(struct msgr_graph *g,
    const struct msgr_graph_auth *auth, const char *const *fields, size_t n_fields,
    struct msgr_graph_result *res);

#endif
