/* sim_graph.c — the fake Graph API's routes, checks and records (tests/fake_graph.py's
 * rules, in C). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "clock.h"
#include "event.h"
#include "log.h"
#include "message.h"
#include "signature.h"
#include "sim_graph.h"
#include "sim_hook.h"

#define HANG_MAX_MS 60000           /* "hang" holds a call at most this long */
#define HANG_PAST_TIMEOUT_MS 1000   /* and past the callers' graph.timeout_ms by this */
#define CALLBACK_TIMEOUT_MS 5000    /* an app subscription's callback check */
#define TEXT_OF_PROOF_MISSING "API calls from the server require an appsecret_proof argument"

static const char *const messaging_types[] = { "RESPONSE", "UPDATE", "MESSAGE_TAG", NULL };
static const char *const retired_tags[] = { "CONFIRMED_EVENT_UPDATE", "ACCOUNT_UPDATE",
	"POST_PURCHASE_UPDATE", NULL };
static const char *const sender_actions[] = { "typing_on", "typing_off", "mark_seen", NULL };
static const char *const notification_types[] = { "REGULAR", "SILENT_PUSH", "NO_PUSH", NULL };
static const char *const media_types[] = { "image", "audio", "video", "file", NULL };
static const char *const profile_free[] = { "id", "name", "first_name", "last_name",
	"profile_pic", NULL };
static const char *const profile_permissioned[] = { "locale", "timezone", "gender", NULL };
static const char *const page_fields[] = { "messages", "messaging_postbacks",
	"messaging_optins", "message_deliveries", "message_reads", "messaging_referrals",
	"message_echoes", "messaging_handovers", "standby", "message_reactions", "message_edits",
	"messaging_account_linking", "messaging_policy_enforcement", "messaging_game_plays",
	"messaging_feedback", "messaging_customer_information", "response_feedback",
	"inbox_labels", "messaging_optouts", "send_cart", "group_feed", "feed", "calls", NULL };
static const char *const profile_keys[] = { "get_started", "greeting", "persistent_menu",
	"ice_breakers", "whitelisted_domains", "account_linking_url", "commands", "title",
	"description", NULL };

static int
one_of(const char *s, const char *const *list)
{
	for (; s != NULL && *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static int
digits(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > MSGR_MAX_ID_LEN)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

static int
http_url(const char *u, int https_only)
{
	size_t n;

	if (u == NULL)
		return 0;
	n = strncmp(u, "https://", 8) == 0 ? 8 : (!https_only && strncmp(u, "http://", 7) == 0) ?
	    7 : 0;
	return n > 0 && u[n] != '\0' && u[n] != '/';
}

static size_t
chars(const char *s)
{
	size_t n = 0;

	return msgr_message_utf8_chars(s, &n) == MSGR_OK ? n : (size_t)-1;
}

/* A string or integer id as text (Facebook takes both), in buf; NULL otherwise. */
static const char *
id_text(const json_t *v, char *buf, size_t bufsz)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		snprintf(buf, bufsz, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	}
	return NULL;
}

/* ---- one call ---- */

struct call {
	struct sim_ctx *cx;
	const char *method;
	const char *path;              /* after /_sim/graph */
	json_t *params;                /* the body: JSON object, or form fields; never NULL */
	int body_invalid;              /* a body that is not a JSON object */
	/* who calls */
	int app_only;                  /* an app token */
	int page;                      /* page token: the page's index; -1 */
	const char *app_id;
	const char *token;
	/* the conversation the call is about, -1 when none */
	int user;
	/* the outcome */
	int status;                    /* HTTP status */
	json_t *answer;                /* JSON answer (owned) */
	const char *text;              /* or a text answer (a simulated 500) */
	long code, subcode;            /* a refusal's */
	char message[512];
	json_t *items;                 /* conversation items the call makes (owned) */
	int echo;                      /* a message went: Facebook echoes it */
	json_t *sent;                  /* the message sent (borrowed from params) */
	char mid[SIM_MID_MAX + 1];
};

/* Refuses the call the way Facebook does; returns -1 for the caller's return. */
static int
refuse_t(struct call *c, int status, long code, long subcode, const char *type,
    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int
refuse_t(struct call *c, int status, long code, long subcode, const char *type,
    const char *fmt, ...)
{
	unsigned char rnd[8] = { 0 };
	char trace[2 * sizeof(rnd) + 2];
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	vsnprintf(c->message, sizeof(c->message), fmt, ap);
	va_end(ap);
	c->status = status;
	c->code = code;
	c->subcode = subcode;
	/* fbtrace_id: opaque, made here without the world (refusals come before its lock). */
	(void)RAND_bytes(rnd, (int)sizeof(rnd));
	trace[0] = 'A';
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(trace + 1 + 2 * i, 3, "%02X", rnd[i]);
	json_decref(c->answer);
	c->answer = json_pack("{s:{s:s, s:s, s:i, s:o, s:s}}", "error", "message", c->message,
	    "type", type, "code", (int)code, "error_subcode", subcode ? json_integer(subcode) :
	    json_null(), "fbtrace_id", trace);
	if (subcode == 0 && c->answer != NULL)
		json_object_del(json_object_get(c->answer, "error"), "error_subcode");
	return -1;
}

#define refuse(c, code, subcode, ...) \
	refuse_t((c), 400, (code), (subcode), "OAuthException", __VA_ARGS__)
/* "(#100) ..." */
#define bad(c, ...) refuse((c), 100, 0, "(#100) " __VA_ARGS__)
#define bad_sub(c, sub, ...) refuse((c), 100, (sub), "(#100) " __VA_ARGS__)

static int
unsupported(struct call *c, const char *obj)
{
	return refuse_t(c, 400, 100, 33, "GraphMethodException", "Unsupported %s request. Object "
	    "with ID '%.100s' does not exist, cannot be loaded due to missing permissions, or does "
	    "not support this operation", strcmp(c->method, "GET") == 0 ? "get" :
	    strcmp(c->method, "POST") == 0 ? "post" : "delete", obj);
}

static int
answer(struct call *c, json_t *j)
{
	c->status = 200;
	json_decref(c->answer);
	c->answer = j;
	return j != NULL ? 0 : refuse_t(c, 500, 1, 0, "OAuthException", "An unknown error "
	    "occurred");
}

/* Adds an item to the call's conversation (once the call is recorded). */
static void
add_item(struct call *c, json_t *item)
{
	if (item == NULL)
		return;
	if (c->items == NULL && (c->items = json_array()) == NULL) {
		json_decref(item);
		return;
	}
	json_array_append_new(c->items, item);
}

static json_t *
param(const struct call *c, const char *name)
{
	json_t *v = json_object_get(c->params, name);

	return v != NULL ? v : json_object_get(c->cx->req->params, name);
}

/* ---- who calls (docs/facebook.md "Calls") ---- */

static int
authenticate(struct call *c)
{
	const struct msgr_config *cfg = c->cx->cfg;
	const char *auth = sim_req_param(c->cx->req, "HTTP_AUTHORIZATION");
	const char *proof, *secret = NULL;
	char want[MSGR_SIGNATURE_HEX_LEN + 1];
	size_t i;

	c->page = -1;
	c->token = NULL;
	if (auth != NULL && strncmp(auth, "Bearer ", 7) == 0 && auth[7] != '\0' &&
	    strchr(auth + 7, ' ') == NULL)
		c->token = auth + 7;
	if (c->token == NULL)
		c->token = sim_req_query(c->cx->req, "access_token");
	if (c->token == NULL)
		c->token = json_string_value(json_object_get(c->params, "access_token"));
	if (c->body_invalid)
		return bad(c, "Invalid JSON in request body");
	if (c->token == NULL || c->token[0] == '\0')
		return refuse(c, 104, 0, "An access token is required to request this resource.");
	for (i = 0; i < cfg->n_connectors; i++)
		if (msgr_signature_equal(cfg->connectors[i].call_token, c->token)) {
			c->page = (int)i;
			c->app_id = cfg->connectors[i].app_id;
			secret = cfg->connectors[i].secret;
			break;
		}
	if (c->page < 0) {
		/* An app token: "app_id|app secret". */
		const char *bar = strchr(c->token, '|');

		for (i = 0; bar != NULL && i < cfg->n_connectors; i++) {
			const struct msgr_connector *k = &cfg->connectors[i];

			if (strlen(k->app_id) == (size_t)(bar - c->token) &&
			    strncmp(k->app_id, c->token, (size_t)(bar - c->token)) == 0 &&
			    msgr_signature_equal(k->secret, bar + 1)) {
				c->app_only = 1;
				c->app_id = k->app_id;
				secret = k->secret;
				break;
			}
		}
	}
	if (secret == NULL)
		return refuse(c, 190, 0, "Invalid OAuth access token - Cannot parse access token");
	proof = sim_req_query(c->cx->req, "appsecret_proof");
	if (proof == NULL)
		proof = json_string_value(json_object_get(c->params, "appsecret_proof"));
	if (proof == NULL)
		return refuse_t(c, 400, 100, 0, "GraphMethodException", TEXT_OF_PROOF_MISSING);
	if (msgr_signature_hmac_hex(secret, c->token, strlen(c->token), want) != MSGR_OK ||
	    !msgr_signature_equal(want, proof))
		return refuse_t(c, 400, 100, 0, "GraphMethodException",
		    "Invalid appsecret_proof provided in the API argument");
	return 0;
}

/* ---- failures (POST /_sim/api/fail) ---- */

/* Locked. The failure this call gets, SIM_FAIL_NONE when none is set. */
static enum sim_fail
take_failure(struct sim_world *w)
{
	enum sim_fail f = w->fail;

	if (f == SIM_FAIL_NONE || w->fail_left <= 0)
		return SIM_FAIL_NONE;
	if (--w->fail_left == 0)
		w->fail = SIM_FAIL_NONE;
	return f;
}

/* Fills the call's answer for failure f (not hang). */
static void
apply_failure(struct call *c, enum sim_fail f)
{
	switch (f) {
	case SIM_FAIL_613:
		refuse(c, 613, 0, "(#613) Calls to this api have exceeded the rate limit.");
		break;
	case SIM_FAIL_10:
		refuse(c, 10, 2018278, "(#10) This message is sent outside of allowed window.");
		break;
	case SIM_FAIL_190:
		refuse(c, 190, 463, "Error validating access token: Session has expired");
		break;
	case SIM_FAIL_551:
		refuse(c, 551, 1545041, "(#551) This person isn't available right now.");
		break;
	default:
		/* A server fault: HTTP 500 and a text body, no Graph error. */
		c->status = 500;
		c->text = "Internal Server Error";
		snprintf(c->message, sizeof(c->message), "HTTP 500 (simulated server fault)");
		break;
	}
}

/* ---- the Send API ---- */

/* Locked: the page's persona of id, or NULL. */
static const struct msgr_sim_persona *
persona(const struct msgr_config *cfg, const char *id)
{
	size_t i;

	for (i = 0; id != NULL && i < cfg->simulator.n_personas; i++)
		if (strcmp(cfg->simulator.personas[i].id, id) == 0)
			return &cfg->simulator.personas[i];
	return NULL;
}

/* Locked: 0 when aid was uploaded for the call's page; a refusal otherwise. */
static int
check_attachment_id(struct call *c, const json_t *v)
{
	char buf[32];
	const char *aid = id_text(v, buf, sizeof(buf));
	const json_t *up = aid ? json_object_get(c->cx->w->uploads, aid) : NULL;

	if (up == NULL || json_integer_value(json_object_get(up, "page")) != c->page)
		return bad_sub(c, 2018047, "Upload attachment failure.");
	return 0;
}

/* Locked: Facebook's window and its tag rules. */
static int
check_messaging_type(struct call *c, const json_t *body, int is_action, struct sim_conv *conv)
{
	const char *mt = json_string_value(json_object_get(body, "messaging_type"));
	const json_t *tagv = json_object_get(body, "tag");
	const char *tag = json_string_value(tagv);
	char why[MSGR_MESSAGE_WHY_MAX];

	if (json_object_get(body, "messaging_type") == NULL) {
		if (is_action)
			return 0;
		return bad(c, "param messaging_type is required");
	}
	if (!one_of(mt, messaging_types))
		return bad(c, "param messaging_type must be one of RESPONSE, UPDATE, MESSAGE_TAG");
	if (strcmp(mt, "MESSAGE_TAG") == 0) {
		if (tagv == NULL)
			return bad(c, "param tag is required when messaging_type is MESSAGE_TAG");
		if (one_of(tag, retired_tags))
			return bad(c, "The tag %s is no longer supported", tag);
		if (tag == NULL || strcmp(tag, "HUMAN_AGENT") != 0)
			return bad(c, "param tag must be HUMAN_AGENT");
	} else if (tagv != NULL) {
		return bad(c, "param tag is only valid with messaging_type MESSAGE_TAG");
	}
	/* The window on the simulator's clock, from the person's last message. */
	if (!is_action && conv != NULL &&
	    msgr_message_window_check(sim_world_now_ms(c->cx->w), conv->last_user_ms, mt, tag,
	    why, sizeof(why)) != MSGR_OK)
		return refuse(c, 10, 2018278, "(#10) This message is sent outside of allowed window.");
	return 0;
}

/* Locked. Adds to urls the upload URL of the attachment_id v names (if any). */
static void
add_upload_url(struct call *c, json_t *urls, const json_t *v)
{
	char buf[32];
	const char *aid = id_text(v, buf, sizeof(buf));
	const json_t *url = aid ? json_object_get(json_object_get(c->cx->w->uploads, aid), "url") :
	    NULL;

	if (url != NULL)
		json_object_set(urls, aid, (json_t *)url);
}

/* Locked. The page item of a message the call sent. A message naming attachment ids
 * carries "urls" {id: URL of its upload}: the chat page shows the image from it. */
static json_t *
page_message_item(struct call *c, const json_t *body, const struct msgr_sim_persona *p)
{
	const json_t *pl = json_object_get(json_object_get(json_object_get(body, "message"),
	    "attachment"), "payload");
	const json_t *els = json_object_get(pl, "elements");
	json_t *per = p ? json_pack("{s:s, s:s, s:s}", "id", p->id, "name", p->name, "picture",
	    p->picture) : json_null();
	json_t *urls = json_object(), *it;
	size_t i;

	if (urls != NULL) {
		add_upload_url(c, urls, json_object_get(pl, "attachment_id"));
		for (i = 0; i < json_array_size(els); i++)
			add_upload_url(c, urls, json_object_get(json_array_get(els, i),
			    "attachment_id"));
	}
	it = json_pack("{s:s, s:s, s:O, s:O?, s:O?, s:O?, s:o, s:s}", "from", "page", "mid",
	    c->mid, "message", json_object_get(body, "message"), "messaging_type",
	    json_object_get(body, "messaging_type"), "tag", json_object_get(body, "tag"),
	    "notification_type", json_object_get(body, "notification_type"), "persona", per,
	    "by", "bot");
	if (it != NULL && json_object_size(urls) > 0)
		json_object_set(it, "urls", urls);
	json_decref(urls);
	return it;
}

static int
route_send(struct call *c)
{
	struct sim_world *w = c->cx->w;
	const json_t *rec = json_object_get(c->params, "recipient");
	static const char *const rkeys[] = { "id", "user_ref", "post_id", "comment_id", NULL };
	const char *rkey = NULL, *rval, *action, *pid;
	const struct msgr_sim_persona *per = NULL;
	const json_t *msg, *att;
	struct sim_conv *conv = NULL;
	char buf[32], why[MSGR_MESSAGE_WHY_MAX];
	const char *k;
	json_t *v;
	size_t n = 0, i;

	if (!json_is_object(rec))
		return bad_sub(c, 2018001, "param recipient must be an object");
	json_object_foreach((json_t *)rec, k, v) {
		if (!one_of(k, rkeys))
			n = 99;
		else
			n++, rkey = k;
	}
	if (n != 1)
		return bad(c, "param recipient must have exactly one of id, user_ref, post_id, "
		    "comment_id");
	rval = id_text(json_object_get(rec, rkey), buf, sizeof(buf));
	if (rval == NULL || rval[0] == '\0')
		return bad(c, "param recipient[%s] must be a non-empty string", rkey);
	if (strcmp(rkey, "id") == 0) {
		if (!digits(rval) || c->user < 0)
			return bad_sub(c, 2018001, "No matching user found");
		conv = sim_world_conv(w, c->page, c->user);
	}
	if ((json_object_get(c->params, "message") != NULL) ==
	    (json_object_get(c->params, "sender_action") != NULL))
		return bad(c, "param message or sender_action must be set, and not both");
	action = json_string_value(json_object_get(c->params, "sender_action"));
	if (check_messaging_type(c, c->params, json_object_get(c->params, "sender_action") != NULL,
	    conv) != 0)
		return -1;
	v = json_object_get(c->params, "notification_type");
	if (v != NULL && !one_of(json_string_value(v), notification_types))
		return bad(c, "param notification_type must be one of REGULAR, SILENT_PUSH, NO_PUSH");
	if ((v = json_object_get(c->params, "persona_id")) != NULL) {
		pid = id_text(v, buf, sizeof(buf));
		if ((per = persona(c->cx->cfg, pid)) == NULL)
			return bad(c, "Invalid persona id");
	}
	if (conv != NULL && strcmp(sim_world_owner(w, c->page, conv), c->app_id) != 0)
		/* Handover: only the thread owner may send (sender actions too). */
		return refuse(c, 10, 2018300, "(#10) This app is not the thread owner, it can't "
		    "send messages to this thread");
	if (json_object_get(c->params, "sender_action") != NULL) {
		if (!one_of(action, sender_actions))
			return bad(c, "param sender_action must be one of typing_on, typing_off, "
			    "mark_seen");
		if (conv != NULL) {
			conv->typing = strcmp(action, "typing_on") == 0;
			if (strcmp(action, "mark_seen") == 0)
				conv->seen_watermark = sim_world_now_ms(w);
			add_item(c, json_pack("{s:s, s:s}", "from", "page", "action", action));
		}
		return answer(c, json_pack("{s:s}", "recipient_id", rval));
	}
	msg = json_object_get(c->params, "message");
	if (msgr_message_validate(msg, why, sizeof(why)) != MSGR_OK)
		return bad(c, "%s", why);
	/* Ids of uploads: this page's only (docs/facebook.md "Calls"). */
	att = json_object_get(json_object_get(msg, "attachment"), "payload");
	if (json_object_get(att, "attachment_id") != NULL &&
	    check_attachment_id(c, json_object_get(att, "attachment_id")) != 0)
		return -1;
	v = json_object_get(att, "elements");
	for (i = 0; i < json_array_size(v); i++) {
		const json_t *aid = json_object_get(json_array_get(v, i), "attachment_id");

		if (aid != NULL && check_attachment_id(c, aid) != 0)
			return -1;
	}
	sim_world_mid(w, "m_", c->mid);
	if (conv != NULL) {
		conv->typing = 0;
		snprintf(conv->last_page_mid, sizeof(conv->last_page_mid), "%s", c->mid);
		add_item(c, page_message_item(c, c->params, per));
		c->echo = 1;
		c->sent = (json_t *)msg;
	}
	if (strcmp(rkey, "user_ref") == 0)
		return answer(c, json_pack("{s:s}", "message_id", c->mid));
	return answer(c, json_pack("{s:s, s:s}", "recipient_id", rval, "message_id", c->mid));
}

static int
route_upload(struct call *c)
{
	struct sim_world *w = c->cx->w;
	const json_t *m = json_object_get(c->params, "message"), *a, *pl, *reuse;
	const char *type, *url;
	char aid[32];

	if (!json_is_object(m) || json_object_size(m) != 1 ||
	    (a = json_object_get(m, "attachment")) == NULL)
		return bad(c, "param message must hold exactly one attachment");
	if (!json_is_object(a))
		return bad(c, "param message[attachment] must be an object");
	type = json_string_value(json_object_get(a, "type"));
	pl = json_object_get(a, "payload");
	if (!json_is_object(pl))
		return bad(c, "param message[attachment][payload] must be an object");
	if (!one_of(type, media_types))
		return bad(c, "param message[attachment][type] must be one of image, audio, video, "
		    "file");
	url = json_string_value(json_object_get(pl, "url"));
	if (json_object_get(pl, "url") == NULL || json_object_get(pl, "attachment_id") != NULL)
		return bad(c, "param message[attachment][payload] must have exactly one of url, "
		    "attachment_id");
	if (!http_url(url, 0) || strlen(url) > MSGR_MAX_URL_BYTES)
		return bad(c, "param message[attachment][payload][url] must be a http(s) URL");
	reuse = json_object_get(pl, "is_reusable");
	if (reuse != NULL && !json_is_boolean(reuse))
		return bad(c, "param message[attachment][payload][is_reusable] must be a boolean");
	if (!json_is_true(reuse))
		return bad(c, "param message[attachment][payload][is_reusable] must be true to get "
		    "an attachment_id");
	if (json_object_size(w->uploads) >= SIM_UPLOADS_MAX)
		return bad_sub(c, 2018047, "Upload attachment failure.");
	/* Digits, as Facebook's; unique by the world's counter. */
	snprintf(aid, sizeof(aid), "%llu", 1000000000000000ULL + ++w->ids);
	if (json_object_set_new(w->uploads, aid, json_pack("{s:s, s:s, s:i}", "type", type, "url",
	    url, "page", c->page)) != 0)
		return answer(c, NULL);
	return answer(c, json_pack("{s:s}", "attachment_id", aid));
}

/* ---- profile ---- */

static int
route_profile(struct call *c, const char *psid)
{
	const struct sim_world *w = c->cx->w;
	const char *fields = sim_req_query(c->cx->req, "fields");
	const struct sim_user *u;
	char pic[MSGR_MAX_CONFIG_STRING + 64], path[64], name[2 * SIM_NAME_MAX + 2];
	json_t *ans;
	const char *p;

	if (!digits(psid) || c->user < 0)
		return unsupported(c, psid);
	u = &w->users[c->user];
	sim_world_avatar(u, path, sizeof(path));
	snprintf(pic, sizeof(pic), "%s%s", c->cx->cfg->simulator.url, path);
	snprintf(name, sizeof(name), "%s", u->name);
	if ((ans = json_pack("{s:s}", "id", psid)) == NULL)
		return answer(c, NULL);
	if (fields == NULL)
		fields = "first_name,last_name,profile_pic";
	for (p = fields; *p; ) {
		size_t n = strcspn(p, ",");
		char f[64];
		json_t *v = NULL;

		if (n > 0 && n < sizeof(f)) {
			memcpy(f, p, n);
			f[n] = '\0';
			if (one_of(f, profile_permissioned)) {
				json_decref(ans);
				return bad_sub(c, 2018247, "Missing permission to access field %s: the page "
				    "needs extra permission", f);
			}
			if (!one_of(f, profile_free)) {
				json_decref(ans);
				return bad(c, "Tried accessing nonexisting field (%s) on node type (User)", f);
			}
			v = strcmp(f, "first_name") == 0 ? json_string(u->first) :
			    strcmp(f, "last_name") == 0 ? json_string(u->last) :
			    strcmp(f, "name") == 0 ? json_string(name) :
			    strcmp(f, "profile_pic") == 0 ? json_string(pic) : json_string(psid);
			json_object_set_new(ans, f, v);
		} else if (n > 0) {
			json_decref(ans);
			return bad(c, "Tried accessing nonexisting field on node type (User)");
		}
		p += n + (p[n] == ',');
	}
	return answer(c, ans);
}

/* ---- thread control (docs/facebook.md "Thread control") ---- */

static int
control_recipient(struct call *c)
{
	const json_t *r = json_object_get(c->params, "recipient"), *meta;
	char buf[32];
	const char *id = id_text(json_object_get(r, "id"), buf, sizeof(buf));

	if (!json_is_object(r) || json_object_size(r) != 1 || !digits(id))
		return bad_sub(c, 2018001, "param recipient[id] must be a valid user id");
	if (c->user < 0)
		return bad_sub(c, 2018001, "No matching user found");
	meta = json_object_get(c->params, "metadata");
	if (meta != NULL && (!json_is_string(meta) ||
	    chars(json_string_value(meta)) >= MSGR_METADATA_MAX_CHARS))
		return bad(c, "param metadata must be a string under %d characters",
		    MSGR_METADATA_MAX_CHARS);
	return 0;
}

/* An owner item: what happened, and who holds the thread now. */
static void
owner_item(struct call *c, const char *text, const char *owner_app)
{
	char label[MSGR_MAX_ID_LEN + 8];

	if (owner_app == NULL || owner_app[0] == '\0' ||
	    strcmp(owner_app, c->cx->w->pages[c->page].conn->app_id) == 0)
		snprintf(label, sizeof(label), "bot");
	else if (strcmp(owner_app, MSGR_PAGE_INBOX_APP_ID) == 0)
		snprintf(label, sizeof(label), "inbox");
	else
		snprintf(label, sizeof(label), "app %s", owner_app);
	add_item(c, json_pack("{s:s, s:s, s:s, s:s}", "from", "system", "kind", "owner", "text",
	    text, "owner", label));
}

static int
route_thread(struct call *c, const char *edge)
{
	struct sim_world *w = c->cx->w;
	struct sim_conv *conv;
	const char *owner;
	char text[160];

	if (control_recipient(c) != 0)
		return -1;
	if ((conv = sim_world_conv(w, c->page, c->user)) == NULL)
		return answer(c, NULL);
	owner = sim_world_owner(w, c->page, conv);
	if (strcmp(edge, "pass_thread_control") == 0) {
		char buf[32];
		const char *target = id_text(json_object_get(c->params, "target_app_id"), buf,
		    sizeof(buf));

		if (!digits(target))
			return bad(c, "param target_app_id must be an app id");
		if (strcmp(owner, c->app_id) != 0)
			return refuse(c, 10, 2018300, "(#10) Only the thread owner can pass thread "
			    "control");
		snprintf(conv->owner, sizeof(conv->owner), "%s", strcmp(target, c->app_id) == 0 ?
		    "" : target);
		snprintf(text, sizeof(text), "The bot passed the thread to %s",
		    strcmp(target, MSGR_PAGE_INBOX_APP_ID) == 0 ? "the Page Inbox" : "another app");
		owner_item(c, text, target);
	} else if (strcmp(edge, "take_thread_control") == 0) {
		conv->owner[0] = '\0';
		owner_item(c, "The bot took the thread", c->app_id);
	} else if (strcmp(edge, "release_thread_control") == 0) {
		if (strcmp(owner, c->app_id) != 0)
			return refuse(c, 10, 2018300, "(#10) Only the thread owner can release thread "
			    "control");
		conv->owner[0] = '\0';
		owner_item(c, "The bot released the thread", NULL);
	} else if (strcmp(edge, "request_thread_control") == 0) {
		add_item(c, json_pack("{s:s, s:s, s:s}", "from", "system", "kind", "note", "text",
		    "The bot asks the thread's owner for the thread"));
	} else {
		const json_t *d = json_object_get(c->params, "duration");

		if (!json_is_integer(d) || json_integer_value(d) < 1 ||
		    json_integer_value(d) > 7 * 86400)
			return bad(c, "param duration must be a number of seconds");
		if (strcmp(owner, c->app_id) != 0)
			return refuse(c, 10, 2018300, "(#10) Only the thread owner can extend thread "
			    "control");
	}
	return answer(c, json_pack("{s:b}", "success", 1));
}

static int
route_thread_owner(struct call *c)
{
	struct sim_world *w = c->cx->w;
	const char *psid = sim_req_query(c->cx->req, "recipient");

	if (!digits(psid))
		return bad_sub(c, 2018001, "param recipient must be a user id");
	if (c->user < 0)
		return bad_sub(c, 2018001, "No matching user found");
	return answer(c, json_pack("{s:[{s:{s:s, s:I}}]}", "data", "thread_owner", "app_id",
	    sim_world_owner(w, c->page, w->pages[c->page].convs[c->user]), "expiration",
	    (json_int_t)(sim_world_now_ms(w) / 1000 + 86400)));
}

/* ---- messenger profile ---- */

static int
check_greeting(struct call *c, const json_t *g)
{
	size_t i;
	int has_default = 0;

	if (!json_is_array(g) || json_array_size(g) == 0)
		return bad(c, "param greeting must be a non-empty array");
	for (i = 0; i < json_array_size(g); i++) {
		const json_t *it = json_array_get(g, i);
		const char *t = json_string_value(json_object_get(it, "text"));
		const char *loc = json_string_value(json_object_get(it, "locale"));

		if (t == NULL)
			return bad(c, "param greeting must hold {locale, text} objects");
		if (chars(t) > MSGR_GREETING_MAX_CHARS)
			return bad(c, "param greeting[text] must be at most %d characters",
			    MSGR_GREETING_MAX_CHARS);
		has_default |= loc != NULL && strcmp(loc, "default") == 0;
	}
	return has_default ? 0 : bad(c, "param greeting must have a default locale");
}

static int
check_menu(struct call *c, const json_t *pm, int has_get_started)
{
	size_t i, j;
	int has_default = 0;

	if (!has_get_started)
		return bad_sub(c, 2018145, "persistent_menu requires a get_started button");
	if (!json_is_array(pm) || json_array_size(pm) == 0)
		return bad(c, "param persistent_menu must be a non-empty array");
	for (i = 0; i < json_array_size(pm); i++) {
		const json_t *m = json_array_get(pm, i);
		const json_t *items = json_object_get(m, "call_to_actions");
		const char *loc = json_string_value(json_object_get(m, "locale"));

		if (!json_is_array(items) || json_array_size(items) > MSGR_MENU_ITEMS_MAX)
			return bad(c, "param persistent_menu[call_to_actions] must have at most %d "
			    "items", MSGR_MENU_ITEMS_MAX);
		for (j = 0; j < json_array_size(items); j++) {
			const json_t *it = json_array_get(items, j);
			const char *type = json_string_value(json_object_get(it, "type"));
			const char *title = json_string_value(json_object_get(it, "title"));

			if (type == NULL || (strcmp(type, "web_url") != 0 &&
			    strcmp(type, "postback") != 0))
				return bad(c, "param persistent_menu items must be web_url or postback");
			if (title == NULL || title[0] == '\0')
				return bad(c, "param persistent_menu item title is required");
		}
		has_default |= loc != NULL && strcmp(loc, "default") == 0;
	}
	return has_default ? 0 : bad(c, "param persistent_menu must have a default locale");
}

static int
check_ice_breakers(struct call *c, const json_t *ib)
{
	const json_t *groups = ib;
	json_t *one = NULL;
	size_t g, i;
	int rc = 0;

	if (!json_is_array(ib))
		return bad(c, "param ice_breakers must be an array");
	/* Two shapes: a list of questions, or a list of {call_to_actions, locale} groups. */
	if (json_object_get(json_array_get(ib, 0), "call_to_actions") == NULL) {
		if ((one = json_pack("[{s:O}]", "call_to_actions", ib)) == NULL)
			return answer(c, NULL);
		groups = one;
	}
	for (g = 0; rc == 0 && g < json_array_size(groups); g++) {
		const json_t *grp = json_object_get(json_array_get(groups, g), "call_to_actions");

		if (!json_is_array(grp) || json_array_size(grp) > MSGR_ICE_BREAKERS_MAX) {
			rc = bad(c, "param ice_breakers must have at most %d questions",
			    MSGR_ICE_BREAKERS_MAX);
			break;
		}
		for (i = 0; rc == 0 && i < json_array_size(grp); i++) {
			const json_t *q = json_array_get(grp, i);
			const char *qq = json_string_value(json_object_get(q, "question"));
			const char *pl = json_string_value(json_object_get(q, "payload"));

			if (qq == NULL || qq[0] == '\0' || pl == NULL || pl[0] == '\0')
				rc = bad(c, "param ice_breakers items need question and payload");
		}
	}
	json_decref(one);
	return rc;
}

static int
route_profile_set(struct call *c)
{
	json_t *cur = c->cx->w->pages[c->page].profile, *fields, *v, *gs;
	const char *k;
	const char *gsp;
	size_t i;
	int rc = 0;

	fields = json_deep_copy(c->params);
	if (fields == NULL)
		return answer(c, NULL);
	json_object_del(fields, "appsecret_proof");
	json_object_del(fields, "access_token");
	if (json_object_size(fields) == 0)
		rc = bad(c, "param fields must be non-empty");
	json_object_foreach(fields, k, v)
		if (rc == 0 && !one_of(k, profile_keys))
			rc = bad(c, "param %.64s is not a messenger profile field", k);
	if (rc == 0 && (gs = json_object_get(fields, "get_started")) != NULL) {
		gsp = json_string_value(json_object_get(gs, "payload"));
		if (gsp == NULL || gsp[0] == '\0' || chars(gsp) > MSGR_PAYLOAD_MAX_CHARS)
			rc = bad(c, "param get_started[payload] is required");
	}
	if (rc == 0 && (v = json_object_get(fields, "greeting")) != NULL)
		rc = check_greeting(c, v);
	if (rc == 0 && (v = json_object_get(fields, "persistent_menu")) != NULL)
		rc = check_menu(c, v, json_object_get(fields, "get_started") != NULL ||
		    json_object_get(cur, "get_started") != NULL);
	if (rc == 0 && (v = json_object_get(fields, "ice_breakers")) != NULL)
		rc = check_ice_breakers(c, v);
	if (rc == 0 && (v = json_object_get(fields, "whitelisted_domains")) != NULL) {
		if (!json_is_array(v))
			rc = bad(c, "param whitelisted_domains must be https URLs");
		for (i = 0; rc == 0 && i < json_array_size(v); i++)
			if (!http_url(json_string_value(json_array_get(v, i)), 1))
				rc = bad(c, "param whitelisted_domains must be https URLs");
	}
	if (rc == 0 && json_object_update(cur, fields) != 0)
		rc = answer(c, NULL);
	json_decref(fields);
	return rc != 0 ? rc : answer(c, json_pack("{s:s}", "result", "success"));
}

static int
route_profile_delete(struct call *c)
{
	json_t *cur = c->cx->w->pages[c->page].profile;
	const json_t *f = param(c, "fields");
	size_t i;

	if (!json_is_array(f) || json_array_size(f) == 0)
		return bad(c, "param fields must be a non-empty array of messenger profile fields");
	for (i = 0; i < json_array_size(f); i++)
		if (!one_of(json_string_value(json_array_get(f, i)), profile_keys))
			return bad(c, "param fields must be a non-empty array of messenger profile "
			    "fields");
	for (i = 0; i < json_array_size(f); i++)
		if (strcmp(json_string_value(json_array_get(f, i)), "get_started") == 0 &&
		    json_object_get(cur, "persistent_menu") != NULL) {
			size_t j;
			int menu_too = 0;

			for (j = 0; j < json_array_size(f); j++)
				menu_too |= strcmp(json_string_value(json_array_get(f, j)),
				    "persistent_menu") == 0;
			if (!menu_too)
				return bad_sub(c, 2018145, "get_started cannot be deleted while a "
				    "persistent_menu is set");
		}
	for (i = 0; i < json_array_size(f); i++)
		json_object_del(cur, json_string_value(json_array_get(f, i)));
	return answer(c, json_pack("{s:s}", "result", "success"));
}

static int
route_profile_get(struct call *c)
{
	const json_t *cur = c->cx->w->pages[c->page].profile;
	const char *want = sim_req_query(c->cx->req, "fields");
	json_t *data = json_object();
	const char *p;

	if (data == NULL)
		return answer(c, NULL);
	if (want == NULL || want[0] == '\0') {
		json_decref(data);
		return bad(c, "param fields is required");
	}
	for (p = want; *p; ) {
		size_t n = strcspn(p, ",");
		char f[64];

		if (n > 0 && n < sizeof(f)) {
			memcpy(f, p, n);
			f[n] = '\0';
			if (json_object_get(cur, f) != NULL)
				json_object_set(data, f, json_object_get(cur, f));
		}
		p += n + (p[n] == ',');
	}
	if (json_object_size(data) == 0) {
		json_decref(data);
		return answer(c, json_pack("{s:[]}", "data"));
	}
	return answer(c, json_pack("{s:[o]}", "data", data));
}

/* ---- subscriptions (docs/facebook.md "Subscriptions") ---- */

/* fields as a list: a JSON array, or a comma-separated string. A new reference or NULL. */
static json_t *
field_list(const json_t *v)
{
	json_t *out;
	const char *s = json_string_value(v), *p;

	if (json_is_array(v))
		return json_deep_copy(v);
	if (s == NULL || (out = json_array()) == NULL)
		return NULL;
	for (p = s; *p; ) {
		size_t n = strcspn(p, ",");

		if (n > 0 && json_array_append_new(out, json_stringn(p, n)) != 0) {
			json_decref(out);
			return NULL;
		}
		p += n + (p[n] == ',');
	}
	return out;
}

static int
all_page_fields(const json_t *list)
{
	size_t i;

	if (!json_is_array(list) || json_array_size(list) == 0)
		return 0;
	for (i = 0; i < json_array_size(list); i++)
		if (!one_of(json_string_value(json_array_get(list, i)), page_fields))
			return 0;
	return 1;
}

static int
route_subscribed_apps(struct call *c)
{
	json_t *subs = c->cx->w->pages[c->page].subscribed, *list, *data;
	const char *k;
	json_t *v;

	if (strcmp(c->method, "GET") == 0) {
		if ((data = json_array()) == NULL)
			return answer(c, NULL);
		json_object_foreach(subs, k, v)
			json_array_append_new(data, json_pack("{s:s, s:O}", "id", k,
			    "subscribed_fields", v));
		return answer(c, json_pack("{s:o}", "data", data));
	}
	if (strcmp(c->method, "DELETE") == 0) {
		json_object_del(subs, c->app_id);
		return answer(c, json_pack("{s:b}", "success", 1));
	}
	list = field_list(param(c, "subscribed_fields"));
	if (list == NULL || json_array_size(list) == 0) {
		json_decref(list);
		return bad(c, "param subscribed_fields is required");
	}
	if (!all_page_fields(list)) {
		json_decref(list);
		return bad(c, "param subscribed_fields must hold page webhook fields");
	}
	if (json_object_set_new(subs, c->app_id, list) != 0)
		return answer(c, NULL);
	return answer(c, json_pack("{s:b}", "success", 1));
}

/* Facebook's check of a callback: GET with hub.* and the challenge echoed back. Runs with
 * the world unlocked (a network call). 0, or -1 with why. */
static int
verify_callback(struct sim_ctx *cx, const char *cb, const char *vt, char *why, size_t whysz)
{
	struct msgr_http_request rq;
	struct msgr_http_response rs;
	char challenge[32], *url = NULL, *evt = NULL;
	size_t n;
	int ok = -1;

	snprintf(challenge, sizeof(challenge), "%lld", msgr_clock_mono_ms() % 1000000000LL + 1);
	if (cx->http == NULL || (evt = msgr_http_escape(cx->http, vt)) == NULL) {
		snprintf(why, whysz, "the check could not be made");
		return -1;
	}
	n = strlen(cb) + strlen(evt) + 96;
	if ((url = malloc(n)) == NULL) {
		free(evt);
		snprintf(why, whysz, "out of memory");
		return -1;
	}
	snprintf(url, n, "%s%shub.mode=subscribe&hub.challenge=%s&hub.verify_token=%s", cb,
	    strchr(cb, '?') ? "&" : "?", challenge, evt);
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.timeout_ms = CALLBACK_TIMEOUT_MS;
	if (msgr_http_perform(cx->http, &rq, &rs) != MSGR_OK || !rs.transport_ok)
		snprintf(why, whysz, "Callback verification failed: the URL could not be reached");
	else if (rs.status != 200)
		snprintf(why, whysz, "Callback verification failed with the following errors: HTTP "
		    "Status Code = %ld", rs.status);
	else if (strcmp(rs.body, challenge) != 0)
		snprintf(why, whysz, "The URL couldn't be validated. Response does not match "
		    "challenge");
	else
		ok = 0;
	free(url);
	free(evt);
	return ok;
}

/* Locked on entry and exit; unlocked during the callback check. */
static int
route_app_subscriptions(struct call *c)
{
	struct sim_world *w = c->cx->w;
	json_t *subs, *fields, *list, *fl;
	const char *obj, *cb, *vt;
	char why[256];
	size_t i;
	int rc;

	if (strcmp(c->method, "GET") == 0) {
		subs = json_object_get(w->subscriptions, c->app_id);
		return answer(c, json_pack("{s:[O*]}", "data", json_object_get(subs, "page")));
	}
	if (strcmp(c->method, "DELETE") == 0) {
		json_object_del(w->subscriptions, c->app_id);
		return answer(c, json_pack("{s:b}", "success", 1));
	}
	obj = json_string_value(param(c, "object"));
	cb = json_string_value(param(c, "callback_url"));
	vt = json_string_value(param(c, "verify_token"));
	if (obj == NULL || strcmp(obj, "page") != 0)
		return bad(c, "param object must be page");
	if (!http_url(cb, 0) || strlen(cb) > MSGR_MAX_URL_BYTES)
		return bad(c, "param callback_url must be a valid URL");
	if (vt == NULL || vt[0] == '\0' || strlen(vt) > MSGR_MAX_QUERY_BYTES)
		return bad(c, "param verify_token is required");
	list = field_list(param(c, "fields"));
	if (!all_page_fields(list)) {
		json_decref(list);
		return bad(c, "param fields must be a list of page webhook fields");
	}
	/* The strings live in c->params, which no other thread sees. */
	sim_world_unlock(w);
	rc = verify_callback(c->cx, cb, vt, why, sizeof(why));
	sim_world_lock(w);
	if (rc != 0) {
		json_decref(list);
		return refuse(c, 2200, 0, "(#2200) Callback verification failed: %s", why);
	}
	if ((fields = json_array()) == NULL) {
		json_decref(list);
		return answer(c, NULL);
	}
	for (i = 0; i < json_array_size(list); i++)
		json_array_append_new(fields, json_pack("{s:O, s:s}", "name", json_array_get(list, i),
		    "version", c->cx->cfg->graph.version));
	json_decref(list);
	fl = json_pack("{s:{s:s, s:s, s:b, s:o}}", "page", "object", "page", "callback_url", cb,
	    "active", 1, "fields", fields);
	if (fl == NULL || json_object_set_new(w->subscriptions, c->app_id, fl) != 0)
		return answer(c, NULL);
	return answer(c, json_pack("{s:b}", "success", 1));
}

/* ---- routing ---- */

/* The next part of a path after *rest (slashes skipped) into out; *rest moves past it and
 * the slashes after it. 0 when it does not fit (out then holds as much as fits). */
static int
segment(const char **rest, char *out, size_t outsz)
{
	const char *p = *rest;
	size_t n;

	while (*p == '/')
		p++;
	n = strcspn(p, "/");
	snprintf(out, outsz, "%.*s", (int)(n < outsz ? n : outsz - 1), p);
	p += n;
	while (*p == '/')
		p++;
	*rest = p;
	return n < outsz;
}

/* Locked (route_app_subscriptions unlocks for its network check). */
static int
route(struct call *c)
{
	const char *p = c->path, *rest;
	char ver[16], obj[MSGR_MAX_ID_LEN + 1], edge[64];
	size_t n, k;

	/* /vN.N/... */
	if (p[0] != '/' || p[1] != 'v' || (n = strcspn(p + 1, "/")) >= sizeof(ver) ||
	    p[1 + n] != '/')
		return refuse(c, 2500, 0, "Unknown path components: %.100s", p);
	memcpy(ver, p + 1, n);
	ver[n] = '\0';
	for (k = 1; k < n && (isdigit((unsigned char)ver[k]) || ver[k] == '.'); k++)
		;
	if (k != n || strchr(ver, '.') == NULL || !isdigit((unsigned char)ver[1]) ||
	    !isdigit((unsigned char)ver[n - 1]))
		return refuse(c, 2500, 0, "Unknown path components: %.100s", p);
	if (strcmp(ver, c->cx->cfg->graph.version) != 0)
		return refuse(c, 2635, 0, "You are calling a deprecated or unknown version of the "
		    "Graph API: %s", ver);
	rest = p + 1 + n + 1;
	if (!segment(&rest, obj, sizeof(obj)) || obj[0] == '\0')
		return unsupported(c, obj);
	/* OBJECT/EDGE at most: a third part is no object Facebook has. */
	if (!segment(&rest, edge, sizeof(edge)) || *rest != '\0')
		return unsupported(c, obj);

	if (c->app_only) {
		if (strcmp(obj, c->app_id) == 0 && strcmp(edge, "subscriptions") == 0)
			return route_app_subscriptions(c);
		return refuse(c, 15, 0, "(#15) This method must be called with a Page Access Token");
	}
	if (strcmp(edge, "subscriptions") == 0)
		return refuse(c, 15, 0, "(#15) This method must be called with an app access_token.");
	if (strcmp(obj, "me") != 0 && strcmp(obj, c->cx->w->pages[c->page].conn->page_id) != 0 &&
	    edge[0] != '\0')
		return unsupported(c, obj);
	if (edge[0] == '\0') {
		if (strcmp(c->method, "GET") != 0 || strcmp(obj, "me") == 0)
			return unsupported(c, obj);
		return route_profile(c, obj);
	}
	if (strcmp(c->method, "POST") == 0) {
		if (strcmp(edge, "messages") == 0)
			return route_send(c);
		if (strcmp(edge, "message_attachments") == 0)
			return route_upload(c);
		if (strcmp(edge, "pass_thread_control") == 0 ||
		    strcmp(edge, "take_thread_control") == 0 ||
		    strcmp(edge, "release_thread_control") == 0 ||
		    strcmp(edge, "request_thread_control") == 0 ||
		    strcmp(edge, "extend_thread_control") == 0)
			return route_thread(c, edge);
		if (strcmp(edge, "messenger_profile") == 0)
			return route_profile_set(c);
	}
	if (strcmp(c->method, "GET") == 0 && strcmp(edge, "thread_owner") == 0)
		return route_thread_owner(c);
	if (strcmp(edge, "messenger_profile") == 0 && strcmp(c->method, "DELETE") == 0)
		return route_profile_delete(c);
	if (strcmp(edge, "messenger_profile") == 0 && strcmp(c->method, "GET") == 0)
		return route_profile_get(c);
	if (strcmp(edge, "subscribed_apps") == 0)
		return route_subscribed_apps(c);
	snprintf(obj + strlen(obj), sizeof(obj) - strlen(obj), "/%.20s", edge);
	return unsupported(c, obj);
}

/* ---- the call as a whole ---- */

/* The PSID the call is about: recipient.id of the body, ?recipient=, or the profile's path. */
static const char *
subject_psid(const struct call *c, char *buf, size_t bufsz)
{
	const char *s = id_text(json_object_get(json_object_get(c->params, "recipient"), "id"), buf,
	    bufsz);
	const char *p;
	size_t n;

	if (s != NULL)
		return s;
	if ((s = sim_req_query(c->cx->req, "recipient")) != NULL)
		return s;
	/* /vN.N/PSID */
	if ((p = strchr(c->path + 1, '/')) == NULL)
		return NULL;
	p++;
	n = strcspn(p, "/");
	if (p[n] != '\0' || n == 0 || n >= bufsz)
		return NULL;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return buf;
}

/* The query as recorded: every parameter but the token and the proof. */
static char *
recorded_query(const struct call *c)
{
	json_t *q = json_deep_copy(c->cx->req->params);
	char *s;

	if (q == NULL)
		return NULL;
	json_object_del(q, "access_token");
	json_object_del(q, "appsecret_proof");
	s = json_object_size(q) ? json_dumps(q, JSON_COMPACT | JSON_SORT_KEYS) : strdup("");
	json_decref(q);
	return s;
}

/* Locked: records the call and adds its items to its conversation. */
static long long
record_call(struct call *c, long ms)
{
	struct sim_world *w = c->cx->w;
	json_t *req = json_deep_copy(c->params), *rec;
	char *rtext = NULL, *atext = NULL, *qtext = recorded_query(c);
	long long seq;
	size_t i;

	/* Never the token, the proof, nor an app subscription's verify token. */
	if (req != NULL) {
		json_object_del(req, "access_token");
		json_object_del(req, "appsecret_proof");
		json_object_del(req, "verify_token");
	}
	if (c->body_invalid)
		rtext = strdup("(not a JSON object)");
	else if (json_object_size(req) > 0)
		rtext = json_dumps(req, JSON_COMPACT);
	if (c->answer != NULL)
		atext = json_dumps(c->answer, JSON_COMPACT);
	rec = json_pack("{s:s, s:s, s:s?, s:s?, s:n, s:i, s:n, s:i}", "method", c->method, "path",
	    c->path, "query", qtext && qtext[0] ? qtext : NULL, "page_id", c->page >= 0 ?
	    w->pages[c->page].conn->page_id : NULL, "request", "status", c->status, "answer",
	    "ms", (int)ms);
	/* Bodies are kept bounded and with every secret of the config replaced (a token could
	 * only be there by mistake, but the log is shown to anyone at the page). */
	if (rec != NULL && rtext != NULL)
		json_object_set_new(rec, "request", sim_world_kept_text(w, rtext, strlen(rtext)));
	if (rec != NULL && (atext != NULL || c->text != NULL)) {
		const char *a = atext ? atext : c->text;

		json_object_set_new(rec, "answer", sim_world_kept_text(w, a, strlen(a)));
	}
	seq = sim_world_call_add(w, rec);
	free(rtext);
	free(atext);
	free(qtext);
	json_decref(req);
	if (c->page < 0 || c->user < 0)
		return seq;
	if (c->status != 200) {
		/* A refusal, beside the chat. */
		json_t *it = json_pack("{s:s, s:s, s:s, s:o, s:o, s:I}", "from", "system", "kind",
		    "refused", "text", c->message, "code", c->code ? json_integer(c->code) :
		    json_null(), "subcode", c->subcode ? json_integer(c->subcode) : json_null(),
		    "graph", (json_int_t)seq);
		sim_world_add_item(w, c->page, c->user, it);
		return seq;
	}
	for (i = 0; i < json_array_size(c->items); i++) {
		json_t *it = json_incref(json_array_get(c->items, i));

		json_object_set_new(it, "graph", json_integer(seq));
		sim_world_add_item(w, c->page, c->user, it);
	}
	return seq;
}

/* The body as parameters: a JSON object, or form fields. */
static void
read_params(struct call *c)
{
	struct sim_req *r = c->cx->req;
	const char *ctype = sim_req_param(r, "CONTENT_TYPE");
	char why[128];

	c->params = NULL;
	if (r->head.body.len == 0) {
		c->params = json_object();
		return;
	}
	if (ctype != NULL && strstr(ctype, "json") != NULL) {
		if (msgr_event_json_load(r->head.body.data, r->head.body.len, SIM_JSON_DEPTH, &c->params, why,
		    sizeof(why)) != MSGR_OK || !json_is_object(c->params)) {
			json_decref(c->params);
			c->params = json_object();
			c->body_invalid = 1;
		}
		return;
	}
	c->params = sim_form_decode(r->head.body.data, r->head.body.len, 1);
}

static void
respond(struct call *c)
{
	struct sim_req *r = c->cx->req;

	if (c->text != NULL) {
		sim_req_respond(r, c->status, "text/plain", NULL, c->text, strlen(c->text));
		return;
	}
	if (c->answer == NULL) {
		sim_req_respond(r, 500, "text/plain", NULL, "out of memory\n", 14);
		return;
	}
	sim_req_json(r, c->status, c->answer);
}

void
sim_graph_serve(struct sim_ctx *cx, const char *sub)
{
	struct sim_world *w = cx->w;
	struct call c;
	char psid_buf[MSGR_MAX_ID_LEN + 1];
	const char *psid;
	long long t0 = msgr_clock_mono_ms();
	enum sim_fail f = SIM_FAIL_NONE;
	msgr_result rc;

	memset(&c, 0, sizeof(c));
	c.cx = cx;
	c.method = cx->req->head.method;
	c.path = sub;
	c.page = c.user = -1;
	rc = sim_req_read_body(cx->req, SIM_GRAPH_BODY_MAX);
	if (rc == MSGR_OK)
		read_params(&c);
	if (c.params == NULL && (c.params = json_object()) == NULL) {
		answer(&c, NULL);
		goto answer;
	}
	/* Refused before anything is looked at: recorded (as every call is), about nobody. */
	if (rc != MSGR_OK) {
		refuse_t(&c, rc == MSGR_ERR_TOOBIG ? 413 : 400, 100, 0, "OAuthException",
		    "(#100) the request body could not be read");
		goto record;
	}
	if (strcmp(c.method, "GET") != 0 && strcmp(c.method, "POST") != 0 &&
	    strcmp(c.method, "DELETE") != 0) {
		unsupported(&c, sub);
		goto record;
	}
	if (authenticate(&c) != 0) {
		c.page = -1;
		goto record;
	}
	sim_world_lock(w);
	if (c.page >= 0 && (psid = subject_psid(&c, psid_buf, sizeof(psid_buf))) != NULL)
		c.user = sim_world_user_by_psid(w, c.page, psid);
	f = take_failure(w);
	if (f == SIM_FAIL_HANG) {
		/* Recorded now; the answer never comes (the connector's timeout ends it). */
		c.status = 0;
		snprintf(c.message, sizeof(c.message), "no answer (simulated hang)");
		record_call(&c, 0);
		sim_world_unlock(w);
		snprintf(cx->req->note, sizeof(cx->req->note), "simulated hang");
		/* Until the caller gives up. lighttpd does not tell its backend that the client
		 * left, so the config's graph.timeout_ms (the connector's and msgrctl's) says when
		 * it has: a thread is not held a minute for a caller long gone. */
		sim_req_hold(cx->req, cx->cfg->graph.timeout_ms + HANG_PAST_TIMEOUT_MS < HANG_MAX_MS ?
		    cx->cfg->graph.timeout_ms + HANG_PAST_TIMEOUT_MS : HANG_MAX_MS, cx->stopping);
		goto out;
	}
	if (f != SIM_FAIL_NONE)
		apply_failure(&c, f);
	else
		(void)route(&c);
	record_call(&c, (long)(msgr_clock_mono_ms() - t0));
	if (c.status == 200 && c.echo && c.page >= 0 && c.user >= 0)
		(void)sim_hook_defer_echo(cx, c.page, c.user, c.sent, c.app_id, c.mid);
	sim_world_unlock(w);
	goto answer;
record:
	sim_world_lock(w);
	record_call(&c, (long)(msgr_clock_mono_ms() - t0));
	sim_world_unlock(w);
answer:
	if (c.status != 200 && cx->req->note[0] == '\0')
		snprintf(cx->req->note, sizeof(cx->req->note), "%.150s", c.message);
	respond(&c);
out:
	json_decref(c.answer);
	json_decref(c.items);
	json_decref(c.params);
}
