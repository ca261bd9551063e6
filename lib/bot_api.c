/* bot_api.c — the Bot API bot (Bot API mode). docs/bot-api.md is the bot writer's side of
 * this file.
 *
 * Each event the connector's bot.events lists (the worker decides) is POSTed as JSON to
 * bot.url over one lib/http.c connection per bot, reused so it stays alive; https://, or
 * http:// to a loopback host only. Both ways are signed with the bot secret
 * (docs/bot-api.md "Signatures"): the request with X-Msgr-Timestamp and X-Msgr-Signature =
 * "sha256=" + hex HMAC-SHA256(secret, "TIMESTAMP.BODY"), so a captured request is stale
 * after the bot's window; a 2xx reply with X-Msgr-Signature over "REQUEST_SIGNATURE.BODY",
 * so nobody on the path can make the page say anything, nor replay another request's reply.
 * The reply is read into a buffer capped at MSGR_MAX_BOT_REPLY, its signature checked, then
 * checked whole (every message against the Send API limits) and only then turned into
 * actions: one bad message means nothing is sent, and one log line says which message and
 * which limit.
 *
 * Failures, as the worker needs them (lib/bot.h): no connection, a timeout (bot.timeout_ms),
 * HTTP 5xx, 429 or 408, a 2xx reply unsigned or wrongly signed are MSGR_ERR_TRANSIENT
 * (retried with backoff, like a Send API failure); any other status, a reply that is not
 * JSON, not the documented shape, over a limit or over the cap are MSGR_ERR_PERMANENT (a
 * retry would get the same answer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "bot.h"
#include "http.h"
#include "id.h"
#include "clock.h"
#include "buf.h"
#include "echo.h"
#include "limits.h"
#include "log.h"
#include "message.h"
#include "signature.h"
#include "url.h"

/* Connecting takes at most this long (or the whole timeout when that is shorter): a bot on
 * the same host or network answers a SYN in milliseconds. */
#define CONNECT_TIMEOUT_MS 3000L
#define WHY_MAX            (MSGR_MESSAGE_WHY_MAX + 64)

/* The longest X-Msgr-Signature value a reply may carry ("sha256=" + 64 hex, with room for
 * spaces); a longer one is wrong. */
#define REPLY_SIG_MAX 127

struct api_bot {
	const struct msgr_connector *conn;
	struct msgr_http *http;       /* kept alive across events; answers capped at MSGR_MAX_BOT_REPLY */
	struct msgr_http_response last;   /* the last answer (its body lives in http) */
	char sig[MSGR_SIGNATURE_HEADER_LEN + 1];  /* the last request's X-Msgr-Signature */
	char reply_sig[REPLY_SIG_MAX + 1];        /* the last reply's, "" when none */
	int reply_sig_bad;            /* the reply's header was too long or repeated */
	char why[WHY_MAX + 64];       /* the last failure (api_last_error) */
};

/* ---- faults of the connector's settings -------------------------------------------------- */

/* "connector "ID": bot api: WHAT\n", malloc'd, or NULL. */
static char *
fault_text(const struct msgr_connector *conn, const char *what)
{
	static const char fmt[] = "connector \"%s\": bot api: %s\n";
	const char *id = conn->id ? conn->id : "?";
	int n = snprintf(NULL, 0, fmt, id, what);
	char *s;

	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	snprintf(s, (size_t)n + 1, fmt, id, what);
	return s;
}

static const char no_memory[] = "out of memory";

/* What the bot needs before it runs: an https url curl can reach (lib/url.h), or http://
 * to this machine, where no network lies between; a secret (docs/bot-api.md). NULL when
 * fine, else a constant reason (no_memory when it is that). */
static const char *
conn_fault(const struct msgr_connector *conn)
{
	const char *u = conn->bot.url;

	if (u == NULL || u[0] == '\0')
		return "no url";
	switch (msgr_url_check(u, MSGR_URL_HTTPS | MSGR_URL_HTTP_LOOPBACK)) {
	case MSGR_URL_OK:
		break;
	case MSGR_URL_ERR_SCHEME:
		return "url: not http:// or https://";
	case MSGR_URL_ERR_HOST:
		return "url: http:// only to 127.0.0.1, localhost or [::1]; use https://";
	case MSGR_URL_ERR_LENGTH:
	case MSGR_URL_ERR_CHAR:
		return "url: too long, or a space or control byte in it";
	case MSGR_URL_ERR_NOMEM:
		return no_memory;
	default:
		return "url: no host, or not a URL curl can parse";
	}
	if (conn->bot.secret == NULL || conn->bot.secret[0] == '\0')
		return "no secret (X-Msgr-Signature needs one)";
	return NULL;
}

/* ---- the request ---------------------------------------------------------------------- */

/* Sets key to a string when s is not NULL. 0, or -1 when out of memory. */
static int
put_str(json_t *o, const char *key, const char *s)
{
	if (s == NULL)
		return 0;
	return json_object_set_new(o, key, json_string(s));
}

static int
put_int(json_t *o, const char *key, long long v)
{
	return json_object_set_new(o, key, json_integer((json_int_t)v));
}

/* referral{ref, source, type, ad_id, referer_uri} of a referral, postback or message. */
static int
put_referral(json_t *o, const struct msgr_event *ev)
{
	json_t *r;

	if (ev->ref == NULL && ev->ref_source == NULL && ev->ref_type == NULL &&
	    ev->ref_ad_id == NULL && ev->ref_uri == NULL)
		return 0;
	if ((r = json_object()) == NULL)
		return -1;
	if (put_str(r, "ref", ev->ref) || put_str(r, "source", ev->ref_source) ||
	    put_str(r, "type", ev->ref_type) || put_str(r, "ad_id", ev->ref_ad_id) ||
	    put_str(r, "referer_uri", ev->ref_uri)) {
		json_decref(r);
		return -1;
	}
	return json_object_set_new(o, "referral", r);
}

static json_t *
attachment_json(const struct msgr_attachment *a)
{
	json_t *o = json_object();
	int e = 0;

	if (o == NULL)
		return NULL;
	e |= put_str(o, "type", a->type_name);
	e |= put_str(o, "url", a->url);
	e |= put_str(o, "title", a->title);
	e |= put_str(o, "sticker_id", a->sticker_id);
	e |= put_str(o, "template_type", a->template_type);
	if (a->has_coordinates)
		e |= json_object_set_new(o, "coordinates", json_pack("{s:f, s:f}", "lat", a->lat,
		    "long", a->lon));
	e |= put_str(o, "booking_id", a->booking_id);
	e |= put_str(o, "status", a->booking_status);
	if (a->start_time != 0)
		e |= put_int(o, "start_time", a->start_time);
	if (a->end_time != 0)
		e |= put_int(o, "end_time", a->end_time);
	e |= put_str(o, "timezone", a->timezone);
	if (e != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The fields of a message (and of an echo, should a bot ever be given one). */
static int
put_message(json_t *o, const struct msgr_event *ev)
{
	json_t *atts, *a;
	size_t i;
	int e = 0;

	e |= put_str(o, "mid", ev->mid);
	e |= put_str(o, "text", ev->text);
	e |= put_str(o, "payload", ev->payload);        /* quick_reply.payload */
	e |= put_str(o, "sticker_id", ev->sticker_id);
	e |= put_str(o, "app_id", ev->app_id);          /* echoes only */
	/* A bot sees only its own metadata: our echo tag (lib/echo.h) is stripped. */
	e |= put_str(o, "metadata", msgr_echo_bot_metadata(ev->metadata));   /* echoes only */
	if (e != 0)
		return -1;
	if (ev->n_attachments > 0) {
		if ((atts = json_array()) == NULL)
			return -1;
		for (i = 0; i < ev->n_attachments; i++)
			if ((a = attachment_json(&ev->attachments[i])) == NULL ||
			    json_array_append_new(atts, a) != 0) {
				json_decref(atts);
				return -1;
			}
		if (json_object_set_new(o, "attachments", atts) != 0)
			return -1;
	}
	if (ev->reply_to_mid != NULL &&
	    json_object_set_new(o, "reply_to", json_pack("{s:s, s:b}", "mid", ev->reply_to_mid,
	    "is_self_reply", ev->reply_to_is_self)) != 0)
		return -1;
	if (put_referral(o, ev) != 0)
		return -1;
	/* A reply after a checkbox-plugin optin: the user_ref it answers. */
	if ((ev->prior_source != NULL || ev->prior_identifier != NULL) &&
	    json_object_set_new(o, "prior_message", json_pack("{s:s*, s:s*}", "source",
	    ev->prior_source, "identifier", ev->prior_identifier)) != 0)
		return -1;
	return 0;
}

/* event{type, timestamp, <the typed fields of the kind>}: the table of docs/bot-api.md. */
static json_t *
event_json(const struct msgr_event *ev)
{
	json_t *o = json_object(), *mids, *roles;
	size_t i;
	int e = 0;

	if (o == NULL)
		return NULL;
	e |= put_str(o, "type", msgr_event_kind_name(ev->kind));
	if (ev->timestamp != 0)
		e |= put_int(o, "timestamp", ev->timestamp);
	switch (ev->kind) {
	case MSGR_EVENT_MESSAGE:
	case MSGR_EVENT_ECHO:
		e |= put_message(o, ev);
		break;
	case MSGR_EVENT_POSTBACK:
		e |= put_str(o, "mid", ev->mid);
		e |= put_str(o, "title", ev->title);
		e |= put_str(o, "payload", ev->payload);
		e |= put_referral(o, ev);
		break;
	case MSGR_EVENT_REFERRAL:
		e |= put_referral(o, ev);
		break;
	case MSGR_EVENT_OPTIN:
		e |= put_str(o, "optin_type", ev->optin_type);
		e |= put_str(o, "ref", ev->ref);
		e |= put_str(o, "user_ref", ev->user_ref);
		e |= put_str(o, "payload", ev->payload);
		e |= put_str(o, "title", ev->title);
		e |= put_str(o, "token", ev->optin_token);
		e |= put_str(o, "notification_messages_status", ev->optin_status);
		e |= put_str(o, "notification_messages_frequency", ev->optin_frequency);
		e |= put_str(o, "notification_messages_timezone", ev->optin_timezone);
		e |= put_str(o, "user_token_status", ev->optin_user_token_status);
		if (ev->optin_token_expiry != 0)
			e |= put_int(o, "token_expiry_timestamp", ev->optin_token_expiry);
		break;
	case MSGR_EVENT_REACTION:
		e |= put_str(o, "mid", ev->mid);          /* the message reacted to */
		e |= put_str(o, "reaction", ev->reaction);
		e |= put_str(o, "emoji", ev->emoji);
		e |= put_str(o, "action", ev->reaction_action);
		break;
	case MSGR_EVENT_MESSAGE_EDIT:
		e |= put_str(o, "mid", ev->mid);
		e |= put_str(o, "text", ev->text);
		e |= put_int(o, "num_edit", ev->num_edit);
		break;
	case MSGR_EVENT_ACCOUNT_LINKING:
		e |= put_str(o, "status", ev->status);
		e |= put_str(o, "authorization_code", ev->authorization_code);
		break;
	case MSGR_EVENT_DELIVERY:
		if ((mids = json_array()) == NULL) {
			e = -1;
			break;
		}
		for (i = 0; i < ev->n_delivery_mids; i++)
			if (json_array_append_new(mids, json_string(msgr_event_delivery_mid(ev, i))))
				e = -1;
		e |= json_object_set_new(o, "mids", mids);
		e |= put_int(o, "watermark", ev->watermark);
		break;
	case MSGR_EVENT_READ:
		e |= put_int(o, "watermark", ev->watermark);
		break;
	case MSGR_EVENT_POLICY_ENFORCEMENT:
		e |= put_str(o, "action", ev->action);
		e |= put_str(o, "reason", ev->reason);
		break;
	case MSGR_EVENT_PASS_THREAD_CONTROL:
	case MSGR_EVENT_TAKE_THREAD_CONTROL:
		e |= put_str(o, "previous_owner_app_id", ev->previous_owner_app_id);
		e |= put_str(o, "new_owner_app_id", ev->new_owner_app_id);
		e |= put_str(o, "metadata", ev->metadata);
		break;
	case MSGR_EVENT_REQUEST_THREAD_CONTROL:
		e |= put_str(o, "requested_owner_app_id", ev->requested_owner_app_id);
		e |= put_str(o, "metadata", ev->metadata);
		break;
	case MSGR_EVENT_APP_ROLES:
		/* {"<app id>": ["primary_receiver", ...]}: as Facebook sent it. */
		roles = json_object_get(ev->raw, "app_roles");
		if (roles != NULL)
			e |= json_object_set(o, "app_roles", roles);
		break;
	case MSGR_EVENT_PRIOR_MESSAGE:
		e |= put_str(o, "source", ev->prior_source);
		e |= put_str(o, "identifier", ev->prior_identifier);
		break;
	case MSGR_EVENT_UNKNOWN:
	case MSGR_EVENT_KIND_COUNT:
		e |= put_str(o, "key", ev->kind_key);
		break;
	}
	if (e != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* user{id, first_name, last_name}, or {user_ref} when the event has only that (checkbox
 * plugin, docs/events.md), or {} when it names nobody (policy_enforcement). */
static json_t *
user_json(const struct msgr_bot_input *in)
{
	const struct msgr_event *ev = in->ev;

	if (ev->user_id[0] != '\0')
		return json_pack("{s:s, s:s, s:s}", "id", ev->user_id,
		    "first_name", in->first_name ? in->first_name : "",
		    "last_name", in->last_name ? in->last_name : "");
	if (ev->user_ref != NULL)
		return json_pack("{s:s}", "user_ref", ev->user_ref);
	return json_object();
}

msgr_result
msgr_bot_api_request(const struct msgr_bot_input *in, char **body, size_t *len)
{
	json_t *root = NULL, *user = NULL, *event = NULL;
	msgr_result rc = MSGR_ERR_NOMEM;

	if (body != NULL)
		*body = NULL;
	if (len != NULL)
		*len = 0;
	if (in == NULL || in->ev == NULL || in->conn == NULL || in->conn->id == NULL ||
	    body == NULL || len == NULL)
		return MSGR_ERR_INVALID;
	if ((user = user_json(in)) == NULL || (event = event_json(in->ev)) == NULL)
		goto out;
	root = json_pack("{s:s, s:s, s:O, s:O, s:O}", "connector", in->conn->id,
	    "page_id", in->ev->page_id, "user", user, "event", event,
	    "raw", in->ev->raw != NULL ? in->ev->raw : json_null());
	if (root == NULL)
		goto out;
	/* Compact, UTF-8 as is: the bot verifies the signature over these exact bytes. */
	if ((*body = json_dumps(root, JSON_COMPACT)) == NULL)
		goto out;
	*len = strlen(*body);
	rc = MSGR_OK;
out:
	json_decref(root);
	json_decref(user);
	json_decref(event);
	return rc;
}

/* ---- the reply ------------------------------------------------------------------------ */

/* Escaped for a why text: keys and values come from the bot. */
static const char *
shown(char *dst, size_t dstsz, const char *s)
{
	return msgr_log_escape(dst, dstsz, s, strlen(s));
}

/* messages[i] (plain message or wrapper) -> a "message" action. */
static msgr_result
message_action(const json_t *m, size_t i, json_t **out, char *why, size_t whysz)
{
	static const char *const wrapper_keys[] = { "message", "messaging_type", "tag",
		"notification_type", NULL };
	char mwhy[WHY_MAX], esc[64];
	const json_t *msg = m, *v;
	const char *type = "RESPONSE", *tag = NULL, *notif = NULL, *bad;

	*out = NULL;
	if (!json_is_object(m)) {
		snprintf(why, whysz, "messages[%zu]: not an object", i);
		return MSGR_ERR_PERMANENT;
	}
	/* A wrapper carries "message"; a Send API message object never has that key. */
	if (json_object_get(m, "message") != NULL) {
		if ((bad = msgr_message_unknown_key(m, wrapper_keys)) != NULL) {
			snprintf(why, whysz, "messages[%zu]: unknown key \"%s\"", i,
			    shown(esc, sizeof(esc), bad));
			return MSGR_ERR_PERMANENT;
		}
		msg = json_object_get(m, "message");
		if (!json_is_object(msg)) {
			snprintf(why, whysz, "messages[%zu].message: not an object", i);
			return MSGR_ERR_PERMANENT;
		}
		if ((v = json_object_get(m, "messaging_type")) != NULL &&
		    !msgr_message_one_of(type = json_string_value(v), msgr_message_types)) {
			snprintf(why, whysz, "messages[%zu].messaging_type: not RESPONSE, UPDATE or "
			    "MESSAGE_TAG", i);
			return MSGR_ERR_PERMANENT;
		}
		/* docs/facebook.md "Calls": only HUMAN_AGENT remains (up to 7 days after the user's
		 * last message); the other tags get error 100 since 27 April 2026. */
		if ((v = json_object_get(m, "tag")) != NULL &&
		    ((tag = json_string_value(v)) == NULL || strcmp(tag, "HUMAN_AGENT") != 0)) {
			snprintf(why, whysz, "messages[%zu].tag: only HUMAN_AGENT (the other tags "
			    "were retired)", i);
			return MSGR_ERR_PERMANENT;
		}
		if ((tag != NULL) != (strcmp(type, "MESSAGE_TAG") == 0)) {
			snprintf(why, whysz, "messages[%zu]: tag HUMAN_AGENT goes with messaging_type "
			    "MESSAGE_TAG, and only with it", i);
			return MSGR_ERR_PERMANENT;
		}
		if ((v = json_object_get(m, "notification_type")) != NULL &&
		    !msgr_message_one_of(notif = json_string_value(v),
		    msgr_message_notification_types)) {
			snprintf(why, whysz, "messages[%zu].notification_type: not REGULAR, "
			    "SILENT_PUSH or NO_PUSH", i);
			return MSGR_ERR_PERMANENT;
		}
	}
	if (msgr_bot_message_validate(msg, mwhy, sizeof(mwhy)) != MSGR_OK) {
		snprintf(why, whysz, "messages[%zu]: %s", i, mwhy);
		return MSGR_ERR_PERMANENT;
	}
	/* The message is shared, not copied: the reply tree is dropped, nothing changes it. */
	*out = json_pack("{s:s, s:O, s:s, s:s*, s:s*}", "action", "message", "message", msg,
	    "messaging_type", type, "tag", tag, "notification_type", notif);
	if (*out == NULL) {
		snprintf(why, whysz, "out of memory");
		return MSGR_ERR_NOMEM;
	}
	return MSGR_OK;
}

/* handover{pass_to, metadata} -> a "pass_thread_control" action. */
static msgr_result
handover_action(const json_t *h, json_t **out, char *why, size_t whysz)
{
	static const char *const keys[] = { "pass_to", "metadata", NULL };
	char target[MSGR_MAX_ID_LEN + 1], esc[64];
	const json_t *to, *meta;
	const char *bad, *s;
	size_t n, chars;

	*out = NULL;
	if (!json_is_object(h)) {
		snprintf(why, whysz, "handover: not an object");
		return MSGR_ERR_PERMANENT;
	}
	if ((bad = msgr_message_unknown_key(h, keys)) != NULL) {
		snprintf(why, whysz, "handover: unknown key \"%s\"", shown(esc, sizeof(esc), bad));
		return MSGR_ERR_PERMANENT;
	}
	to = json_object_get(h, "pass_to");
	/* An app id may come as a JSON number: app ids fit a double exactly (15-16 digits). */
	if (json_is_integer(to) && json_integer_value(to) > 0) {
		snprintf(target, sizeof(target), "%" JSON_INTEGER_FORMAT, json_integer_value(to));
	} else if (json_is_string(to) && (n = json_string_length(to)) > 0 &&
	    n <= MSGR_MAX_ID_LEN) {
		s = json_string_value(to);
		if (!msgr_id_target(s)) {
			snprintf(why, whysz, "handover.pass_to: not \"inbox\" or an app id");
			return MSGR_ERR_PERMANENT;
		}
		memcpy(target, s, n + 1);
	} else {
		snprintf(why, whysz, "handover.pass_to: missing, or not \"inbox\" or an app id");
		return MSGR_ERR_PERMANENT;
	}
	meta = json_object_get(h, "metadata");
	if (meta != NULL && !json_is_null(meta)) {
		if (!json_is_string(meta) ||
		    msgr_message_utf8_chars(json_string_value(meta), &chars) != MSGR_OK) {
			snprintf(why, whysz, "handover.metadata: not a UTF-8 string");
			return MSGR_ERR_PERMANENT;
		}
		/* docs/facebook.md "Calls": metadata under 1000 characters. */
		if (chars >= MSGR_METADATA_MAX_CHARS) {
			snprintf(why, whysz, "handover.metadata: %zu characters, at most %d", chars,
			    MSGR_METADATA_MAX_CHARS - 1);
			return MSGR_ERR_PERMANENT;
		}
	} else
		meta = NULL;
	*out = json_pack("{s:s, s:s, s:s*}", "action", "pass_thread_control", "target", target,
	    "metadata", meta != NULL ? json_string_value(meta) : NULL);
	if (*out == NULL) {
		snprintf(why, whysz, "out of memory");
		return MSGR_ERR_NOMEM;
	}
	return MSGR_OK;
}

static int
blank(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

msgr_result
msgr_bot_api_reply(const char *body, size_t len, json_t **actions, char *why, size_t whysz)
{
	static const char *const top_keys[] = { "messages", "sender_action", "handover", NULL };
	char lwhy[WHY_MAX], esc[64], dummy[1];
	json_t *root = NULL, *list = NULL, *a = NULL, *msgs, *sa, *h;
	const char *bad;
	size_t i, n;
	msgr_result rc;

	if (why == NULL || whysz == 0) {
		why = dummy;
		whysz = sizeof(dummy);
	}
	why[0] = '\0';
	if (actions == NULL || (body == NULL && len > 0))
		return MSGR_ERR_INVALID;
	*actions = NULL;
	if ((list = json_array()) == NULL) {
		snprintf(why, whysz, "out of memory");
		return MSGR_ERR_NOMEM;
	}
	rc = MSGR_ERR_PERMANENT;
	/* An empty 2xx (204 No Content, say) is a bot with nothing to say. */
	if (len == 0 || blank(body, len))
		goto done;
	if (len > MSGR_MAX_BOT_REPLY) {
		snprintf(why, whysz, "reply: %zu bytes, at most %d", len, MSGR_MAX_BOT_REPLY);
		goto out;
	}
	/* The webhook's loader: depth bounded before jansson, duplicate keys and NULs refused. */
	rc = msgr_event_json_load(body, len, MSGR_MAX_BOT_REPLY_DEPTH, &root, lwhy, sizeof(lwhy));
	if (rc == MSGR_ERR_NOMEM) {
		snprintf(why, whysz, "out of memory");
		goto out;
	}
	if (rc != MSGR_OK) {
		snprintf(why, whysz, "reply: not JSON: %s", rc == MSGR_ERR_TOOBIG ?
		    "nested too deep" : lwhy);
		rc = MSGR_ERR_PERMANENT;
		goto out;
	}
	rc = MSGR_ERR_PERMANENT;
	if (!json_is_object(root)) {
		snprintf(why, whysz, "reply: not a JSON object");
		goto out;
	}
	if ((bad = msgr_message_unknown_key(root, top_keys)) != NULL) {
		snprintf(why, whysz, "reply: unknown key \"%s\"", shown(esc, sizeof(esc), bad));
		goto out;
	}
	sa = json_object_get(root, "sender_action");
	if (sa != NULL && !json_is_null(sa)) {
		if (!msgr_message_one_of(json_string_value(sa), msgr_message_sender_actions)) {
			snprintf(why, whysz, "sender_action: not typing_on, typing_off or mark_seen");
			goto out;
		}
		if ((a = json_pack("{s:s, s:O}", "action", "sender_action", "sender_action", sa))
		    == NULL || json_array_append_new(list, a) != 0)
			goto nomem;
	}
	msgs = json_object_get(root, "messages");
	if (msgs != NULL && !json_is_null(msgs)) {
		if (!json_is_array(msgs)) {
			snprintf(why, whysz, "messages: not an array");
			goto out;
		}
		if ((n = json_array_size(msgs)) > MSGR_MAX_BOT_MESSAGES) {
			snprintf(why, whysz, "messages: %zu, at most %d", n, MSGR_MAX_BOT_MESSAGES);
			goto out;
		}
		for (i = 0; i < n; i++) {
			if ((rc = message_action(json_array_get(msgs, i), i, &a, why, whysz)) !=
			    MSGR_OK)
				goto out;
			if (json_array_append_new(list, a) != 0)
				goto nomem;
		}
	}
	h = json_object_get(root, "handover");
	if (h != NULL && !json_is_null(h)) {
		if ((rc = handover_action(h, &a, why, whysz)) != MSGR_OK)
			goto out;
		if (json_array_append_new(list, a) != 0)
			goto nomem;
	}
done:
	*actions = list;
	list = NULL;
	rc = MSGR_OK;
	goto out;
nomem:
	snprintf(why, whysz, "out of memory");
	rc = MSGR_ERR_NOMEM;
out:
	json_decref(root);
	json_decref(list);
	return rc;
}

/* ---- signatures (docs/bot-api.md "Signatures") ------------------------------------------ */

/* "PREFIX.BODY", malloc'd (*n bytes, NUL-terminated), or NULL when out of memory. */
static char *
joined(const char *prefix, const char *body, size_t len, size_t *n)
{
	size_t plen = strlen(prefix);
	char *text;

	if (len > (size_t)-1 - plen - 2 || (text = malloc(plen + 1 + len + 1)) == NULL)
		return NULL;
	memcpy(text, prefix, plen);
	text[plen] = '.';
	if (len > 0)
		memcpy(text + plen + 1, body, len);
	text[plen + 1 + len] = '\0';
	*n = plen + 1 + len;
	return text;
}

/* "sha256=" + hex HMAC-SHA256(secret, "PREFIX.BODY") into out; or, with header, checks
 * it against that in constant time (upper or lower case hex). */
static msgr_result
sign_joined(const char *secret, const char *prefix, const char *body, size_t len, char *out,
    const char *header)
{
	char *text;
	size_t n = 0;
	msgr_result rc;

	if (secret == NULL || secret[0] == '\0' || (body == NULL && len > 0))
		return MSGR_ERR_INVALID;
	if ((text = joined(prefix, body, len, &n)) == NULL)
		return MSGR_ERR_NOMEM;
	rc = out != NULL ? msgr_signature_format(secret, text, n, out) :
	    msgr_signature_verify(secret, text, n, header);
	free(text);
	return rc;
}

msgr_result
msgr_bot_api_sign_request(const char *secret, long long timestamp, const char *body,
    size_t len, char *out)
{
	char ts[24];

	if (out == NULL)
		return MSGR_ERR_INVALID;
	snprintf(ts, sizeof(ts), "%lld", timestamp);
	return sign_joined(secret, ts, body, len, out, NULL);
}

msgr_result
msgr_bot_api_sign_reply(const char *secret, const char *request_sig, const char *body,
    size_t len, char *out)
{
	if (out == NULL || request_sig == NULL || request_sig[0] == '\0')
		return MSGR_ERR_INVALID;
	return sign_joined(secret, request_sig, body, len, out, NULL);
}

msgr_result
msgr_bot_api_verify_reply(const char *secret, const char *request_sig, const char *body,
    size_t len, const char *header)
{
	if (request_sig == NULL || request_sig[0] == '\0')
		return MSGR_ERR_INVALID;
	return sign_joined(secret, request_sig, body, len, NULL, header);
}

/* ---- HTTP ----------------------------------------------------------------------------- */

/* Each header line of the reply: keeps X-Msgr-Signature's value (trimmed). A new status
 * line starts over (an interim 1xx answer). */
static void
on_reply_header(void *arg, const char *line, size_t len)
{
	static const char name[] = MSGR_BOT_API_SIGNATURE_HEADER ":";
	struct api_bot *b = arg;
	size_t n = sizeof(name) - 1;

	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		b->reply_sig[0] = '\0';
		b->reply_sig_bad = 0;
		return;
	}
	if (len < n || strncasecmp(line, name, n) != 0)
		return;
	line += n;
	len -= n;
	while (len > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' ||
	    line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	/* Twice, or too long: not a signature this side made; never shown. */
	if (b->reply_sig[0] != '\0' || len > REPLY_SIG_MAX) {
		b->reply_sig_bad = 1;
		return;
	}
	memcpy(b->reply_sig, line, len);
	b->reply_sig[len] = '\0';
}

/* POSTs body; on an HTTP answer *status is set and the reply is in b->last, its signature
 * header in b->reply_sig. MSGR_OK; MSGR_ERR_TRANSIENT (no answer: b->why says why);
 * MSGR_ERR_PERMANENT (over the cap); MSGR_ERR_NOMEM. */
static msgr_result
post(struct api_bot *b, const char *body, size_t len, long *status)
{
	char hdr[sizeof(MSGR_BOT_API_SIGNATURE_HEADER) + 2 + sizeof(b->sig)];
	char ts_hdr[sizeof(MSGR_BOT_API_TIMESTAMP_HEADER) + 2 + 24];
	const char *headers[4];
	struct msgr_http_request hq;
	struct msgr_http_response *hr = &b->last;
	long long ts = msgr_clock_wall_ms() / 1000;
	msgr_result rc;

	*status = 0;
	b->reply_sig[0] = '\0';
	b->reply_sig_bad = 0;
	/* The time it is made goes into the signature: a request captured on the way is stale
	 * once the bot's window has passed (docs/bot-api.md "Signatures"). */
	rc = msgr_bot_api_sign_request(b->conn->bot.secret, ts, body, len, b->sig);
	if (rc != MSGR_OK) {
		snprintf(b->why, sizeof(b->why), "cannot sign the request: %s", msgr_strerror(rc));
		return rc == MSGR_ERR_NOMEM ? rc : MSGR_ERR_PERMANENT;
	}
	snprintf(ts_hdr, sizeof(ts_hdr), "%s: %lld", MSGR_BOT_API_TIMESTAMP_HEADER, ts);
	snprintf(hdr, sizeof(hdr), "%s: %s", MSGR_BOT_API_SIGNATURE_HEADER, b->sig);
	headers[0] = "Content-Type: application/json";
	headers[1] = "Accept: application/json";
	headers[2] = ts_hdr;
	headers[3] = hdr;
	memset(&hq, 0, sizeof(hq));
	hq.method = "POST";
	/* A redirect would re-post a signed body somewhere the config does not name: the
	 * transport never follows one. */
	hq.url = b->conn->bot.url;
	hq.headers = headers;
	hq.n_headers = 4;
	hq.body = body;
	hq.body_len = len;
	hq.timeout_ms = b->conn->bot.timeout_ms > 0 ? b->conn->bot.timeout_ms : 5000;
	hq.on_header = on_reply_header;
	hq.header_arg = b;
	rc = msgr_http_perform(b->http, &hq, hr);
	OPENSSL_cleanse(hdr, sizeof(hdr));
	if (rc != MSGR_OK) {
		snprintf(b->why, sizeof(b->why), "the request could not be made: %s",
		    msgr_strerror(rc));
		return rc == MSGR_ERR_NOMEM ? rc : MSGR_ERR_PERMANENT;
	}
	if (hr->transport_ok) {
		*status = hr->status;
		return MSGR_OK;
	}
	if (hr->over_cap) {
		snprintf(b->why, sizeof(b->why), "reply over %d bytes", MSGR_MAX_BOT_REPLY);
		return MSGR_ERR_PERMANENT;
	}
	if (hr->timed_out && hr->budget_cut) {
		/* The responder's worker keeps to worker.budget_ms (docs/worker.md "Budget"). */
		snprintf(b->why, sizeof(b->why), "no answer within %ld ms (cut to the worker's "
		    "budget, worker.budget_ms)", hr->timeout_ms);
		return MSGR_ERR_TRANSIENT;
	}
	if (hr->timed_out) {
		snprintf(b->why, sizeof(b->why), "no answer within %d ms (bot.timeout_ms)",
		    b->conn->bot.timeout_ms);
		return MSGR_ERR_TRANSIENT;
	}
	/* curl's text names the host and port at most, never the path or a header. */
	snprintf(b->why, sizeof(b->why), "%.200s", hr->error);
	return MSGR_ERR_TRANSIENT;
}

/* The 2xx reply in b->last is the bot's answer to this request: MSGR_OK, else
 * MSGR_ERR_TRANSIENT with b->why saying so (never the signature): a reply anyone on the
 * path could have made, or a bot not signing yet, is retried like a bot that did not answer,
 * so the event waits for a real answer. */
static msgr_result
reply_signed(struct api_bot *b)
{
	msgr_result rc;

	if (b->reply_sig[0] == '\0' && !b->reply_sig_bad) {
		snprintf(b->why, sizeof(b->why), "reply not signed (no %s): nothing sent; does the "
		    "bot sign its replies? (docs/bot-api.md)", MSGR_BOT_API_SIGNATURE_HEADER);
		return MSGR_ERR_TRANSIENT;
	}
	rc = b->reply_sig_bad ? MSGR_ERR_SIGNATURE : msgr_bot_api_verify_reply(b->conn->bot.secret,
	    b->sig, b->last.body, b->last.body_len, b->reply_sig);
	if (rc == MSGR_ERR_NOMEM) {
		snprintf(b->why, sizeof(b->why), "out of memory");
		return rc;
	}
	if (rc != MSGR_OK) {
		snprintf(b->why, sizeof(b->why), "reply signature wrong (%s): nothing sent; does "
		    "the bot's secret match bot.secret?", MSGR_BOT_API_SIGNATURE_HEADER);
		return MSGR_ERR_TRANSIENT;
	}
	return MSGR_OK;
}

/* ---- the bot type --------------------------------------------------------------------- */

static msgr_result
api_check(const struct msgr_connector *conn, char **errors)
{
	const char *why = conn_fault(conn);

	if (why == NULL)
		return MSGR_OK;
	if (why == no_memory)
		return MSGR_ERR_NOMEM;
	if (errors != NULL && (*errors = fault_text(conn, why)) == NULL)
		return MSGR_ERR_NOMEM;
	return MSGR_ERR_CONFIG;
}

static void
api_close(void *state)
{
	struct api_bot *b = state;

	if (b == NULL)
		return;
	msgr_http_close(b->http);
	free(b);
}

static msgr_result
api_open(const struct msgr_connector *conn, void **state, char **errors)
{
	struct msgr_http_options ho;
	struct api_bot *b = NULL;
	msgr_result rc;

	*state = NULL;
	if ((rc = api_check(conn, errors)) != MSGR_OK)
		return rc;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return MSGR_ERR_NOMEM;
	b->conn = conn;
	memset(&ho, 0, sizeof(ho));
	ho.timeout_ms = conn->bot.timeout_ms > 0 ? conn->bot.timeout_ms : 5000;
	ho.connect_timeout_ms = CONNECT_TIMEOUT_MS;
	ho.max_reply = MSGR_MAX_BOT_REPLY;
	if ((rc = msgr_http_open(&ho, &b->http)) != MSGR_OK) {
		api_close(b);
		return rc;
	}
	*state = b;
	return MSGR_OK;
}

static msgr_result
api_answer(void *state, const struct msgr_bot_input *in, json_t **actions)
{
	struct api_bot *b = state;
	const char *id = b->conn->id ? b->conn->id : "";
	char esc[WHY_MAX * 2], why[WHY_MAX];
	char *body = NULL;
	size_t len = 0;
	long status = 0;
	long long t0 = msgr_clock_mono_ms();
	msgr_result rc;

	*actions = NULL;
	b->why[0] = '\0';
	if ((rc = msgr_bot_api_request(in, &body, &len)) != MSGR_OK) {
		snprintf(b->why, sizeof(b->why), "cannot build the request: %s", msgr_strerror(rc));
		goto out;
	}
	if ((rc = post(b, body, len, &status)) != MSGR_OK)
		goto out;
	if (status >= 200 && status <= 299) {
		if ((rc = reply_signed(b)) != MSGR_OK)
			goto out;
		rc = msgr_bot_api_reply(b->last.body, b->last.body_len, actions, why, sizeof(why));
		if (rc != MSGR_OK)
			snprintf(b->why, sizeof(b->why), "reply refused, nothing sent: %s", why);
	} else if (status >= 500 || status == 429 || status == 408) {
		snprintf(b->why, sizeof(b->why), "HTTP %ld", status);
		rc = MSGR_ERR_TRANSIENT;
	} else {
		/* 3xx (no redirect is followed), 4xx: a retry would get the same answer. */
		snprintf(b->why, sizeof(b->why), "HTTP %ld%s", status,
		    status == 401 || status == 403 ? " (does the bot's secret match bot.secret?)" :
		    status >= 300 && status <= 399 ? " (redirects are not followed)" : "");
		rc = MSGR_ERR_PERMANENT;
	}
out:
	if (rc == MSGR_OK)
		msgr_log(MSGR_LOG_INFO, "bot connector=%s type=api event=%s http=%ld actions=%zu "
		    "ms=%lld", id, msgr_event_kind_name(in->ev->kind), status,
		    json_array_size(*actions), msgr_clock_mono_ms() - t0);
	else
		msgr_log(rc == MSGR_ERR_TRANSIENT ? MSGR_LOG_WARN : MSGR_LOG_ERROR,
		    "bot connector=%s type=api event=%s %s: %s ms=%lld", id,
		    msgr_event_kind_name(in->ev->kind),
		    rc == MSGR_ERR_TRANSIENT ? "failed, will retry" : "failed for good",
		    msgr_log_escape(esc, sizeof(esc), b->why, strlen(b->why)), msgr_clock_mono_ms() - t0);
	free(body);
	return rc;
}

static const char *
api_last_error(void *state)
{
	struct api_bot *b = state;

	return b != NULL ? b->why : "";
}

const struct msgr_bot_ops msgr_bot_api_ops = {
	.name = "api",
	.open = api_open,
	.answer = api_answer,
	.close = api_close,
	.check = api_check,
	.last_error = api_last_error,
};
