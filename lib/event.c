/* event.c — one Messenger webhook event (a messaging[] / standby[] object) into a typed value.
 *
 * Field shapes follow Meta's Messenger Platform webhook reference (developers.facebook.com/
 * docs/messenger-platform/reference/webhook-events/...: messages, message-echoes,
 * messaging_postbacks, messaging_referrals, messaging_optins, message-deliveries,
 * message-reads, message-reactions, message-edits, messaging_account_linking,
 * messaging_policy_enforcement, messaging_handovers) and docs/facebook.md "Webhooks". Where a page
 * shows an id or number both quoted and bare (echo app_id, sticker_id, new_owner_app_id,
 * num_edit "<INT>", optin timestamp "TIMESTAMP"), both forms are accepted. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "event.h"
#include "signature.h"

/* Room for every id that may arrive as a JSON number: sender, recipient, app_id, three
 * thread-control app ids, message.sticker_id, one sticker_id per attachment, with spare. A
 * json_int_t prints in at most 20 characters plus the NUL. */
#define NUM_SLOT  21
#define NUMBUF_CAP ((size_t)(12 + MSGR_MAX_ATTACHMENTS) * NUM_SLOT)

struct pctx {
	struct msgr_event *ev;
	char *why;
	size_t whysz;
};

static const char *const kind_names[MSGR_EVENT_KIND_COUNT] = {
	[MSGR_EVENT_MESSAGE] = "message",
	[MSGR_EVENT_ECHO] = "echo",
	[MSGR_EVENT_POSTBACK] = "postback",
	[MSGR_EVENT_REFERRAL] = "referral",
	[MSGR_EVENT_OPTIN] = "optin",
	[MSGR_EVENT_DELIVERY] = "delivery",
	[MSGR_EVENT_READ] = "read",
	[MSGR_EVENT_REACTION] = "reaction",
	[MSGR_EVENT_MESSAGE_EDIT] = "message_edit",
	[MSGR_EVENT_ACCOUNT_LINKING] = "account_linking",
	[MSGR_EVENT_POLICY_ENFORCEMENT] = "policy_enforcement",
	[MSGR_EVENT_PASS_THREAD_CONTROL] = "pass_thread_control",
	[MSGR_EVENT_TAKE_THREAD_CONTROL] = "take_thread_control",
	[MSGR_EVENT_REQUEST_THREAD_CONTROL] = "request_thread_control",
	[MSGR_EVENT_APP_ROLES] = "app_roles",
	[MSGR_EVENT_PRIOR_MESSAGE] = "prior_message",
	[MSGR_EVENT_UNKNOWN] = "unknown",
};

/* Attachment type names of the messages reference ("image, audio, video, file, sticker,
 * reel, ig_reel, post, ig_post and appointment_booking ... fallback"; template in echoes;
 * location in the pre-v6 reference). */
static const struct {
	const char *name;
	enum msgr_attachment_type type;
} att_types[] = {
	{ "image", MSGR_ATT_IMAGE }, { "video", MSGR_ATT_VIDEO }, { "audio", MSGR_ATT_AUDIO },
	{ "file", MSGR_ATT_FILE }, { "sticker", MSGR_ATT_STICKER }, { "fallback", MSGR_ATT_FALLBACK },
	{ "template", MSGR_ATT_TEMPLATE }, { "reel", MSGR_ATT_REEL }, { "ig_reel", MSGR_ATT_IG_REEL },
	{ "post", MSGR_ATT_POST }, { "ig_post", MSGR_ATT_IG_POST },
	{ "appointment_booking", MSGR_ATT_APPOINTMENT_BOOKING }, { "location", MSGR_ATT_LOCATION },
};

static msgr_result fail(struct pctx *c, msgr_result rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static msgr_result
fail(struct pctx *c, msgr_result rc, const char *fmt, ...)
{
	va_list ap;

	if (c->why != NULL && c->whysz > 0) {
		va_start(ap, fmt);
		vsnprintf(c->why, c->whysz, fmt, ap);
		va_end(ap);
	}
	return rc;
}

const char *
msgr_event_kind_name(enum msgr_event_kind kind)
{
	if ((int)kind < 0 || kind >= MSGR_EVENT_KIND_COUNT)
		return "unknown";
	return kind_names[kind];
}

int
msgr_event_kind_parse(const char *name)
{
	int i;

	if (name == NULL)
		return -1;
	for (i = 0; i < MSGR_EVENT_KIND_COUNT; i++)
		if (strcmp(kind_names[i], name) == 0)
			return i;
	return -1;
}

/* ---- field getters: absent and null optional fields are NULL / 0 ---- */

static msgr_result
get_str(struct pctx *c, json_t *obj, const char *path, const char *key, size_t max, int required,
    const char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return fail(c, MSGR_ERR_PARSE, "%s%s: %s", path, key, v ? "is null" : "missing");
		return MSGR_OK;
	}
	if (!json_is_string(v))
		return fail(c, MSGR_ERR_PARSE, "%s%s: not a string", path, key);
	if (json_string_length(v) > max)
		return fail(c, MSGR_ERR_TOOBIG, "%s%s: longer than %zu bytes", path, key, max);
	*out = json_string_value(v);
	return MSGR_OK;
}

/* An id: a string of 1..MSGR_MAX_ID_LEN digits, or a non-negative JSON integer, which is
 * written as text into the event's numbuf so the field is a string either way. */
static msgr_result
get_id(struct pctx *c, json_t *obj, const char *path, const char *key, int required,
    const char **out)
{
	struct msgr_event *ev = c->ev;
	json_t *v = json_object_get(obj, key);
	char *slot;

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return fail(c, MSGR_ERR_PARSE, "%s%s: %s", path, key, v ? "is null" : "missing");
		return MSGR_OK;
	}
	if (json_is_string(v)) {
		if (json_string_length(v) > MSGR_MAX_ID_LEN)
			return fail(c, MSGR_ERR_TOOBIG, "%s%s: longer than %d digits", path, key,
			    MSGR_MAX_ID_LEN);
		if (!msgr_id_digits(json_string_value(v), json_string_length(v)))
			return fail(c, MSGR_ERR_PARSE, "%s%s: not an id of digits", path, key);
		*out = json_string_value(v);
		return MSGR_OK;
	}
	if (!json_is_integer(v))
		return fail(c, MSGR_ERR_PARSE, "%s%s: not an id", path, key);
	if (json_integer_value(v) < 0)
		return fail(c, MSGR_ERR_PARSE, "%s%s: negative id", path, key);
	if (ev->numbuf == NULL) {
		ev->numbuf = malloc(NUMBUF_CAP);
		if (ev->numbuf == NULL)
			return fail(c, MSGR_ERR_NOMEM, "out of memory");
		ev->numbuf_used = 0;
	}
	/* Cannot happen with the bounded slot count above; refuse rather than overrun. */
	if (NUMBUF_CAP - ev->numbuf_used < NUM_SLOT)
		return fail(c, MSGR_ERR_TOOBIG, "%s%s: too many numeric ids", path, key);
	slot = ev->numbuf + ev->numbuf_used;
	snprintf(slot, NUM_SLOT, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	ev->numbuf_used += strlen(slot) + 1;
	*out = slot;
	return MSGR_OK;
}

/* A non-negative integer: a JSON integer or a string of at most 18 digits (so it cannot
 * overflow long long). */
static msgr_result
get_int(struct pctx *c, json_t *obj, const char *path, const char *key, int required,
    long long *out)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	char *end;
	long long n;

	*out = 0;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return fail(c, MSGR_ERR_PARSE, "%s%s: %s", path, key, v ? "is null" : "missing");
		return MSGR_OK;
	}
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return fail(c, MSGR_ERR_PARSE, "%s%s: negative", path, key);
		*out = json_integer_value(v);
		return MSGR_OK;
	}
	if (!json_is_string(v))
		return fail(c, MSGR_ERR_PARSE, "%s%s: not an integer", path, key);
	s = json_string_value(v);
	if (json_string_length(v) > 18)
		return fail(c, MSGR_ERR_TOOBIG, "%s%s: integer too long", path, key);
	if (!msgr_id_digits(s, json_string_length(v)))
		return fail(c, MSGR_ERR_PARSE, "%s%s: not an integer", path, key);
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 0)
		return fail(c, MSGR_ERR_PARSE, "%s%s: not an integer", path, key);
	*out = n;
	return MSGR_OK;
}

static msgr_result
get_obj(struct pctx *c, json_t *obj, const char *path, const char *key, int required,
    json_t **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return fail(c, MSGR_ERR_PARSE, "%s%s: %s", path, key, v ? "is null" : "missing");
		return MSGR_OK;
	}
	if (!json_is_object(v))
		return fail(c, MSGR_ERR_PARSE, "%s%s: not an object", path, key);
	*out = v;
	return MSGR_OK;
}

static msgr_result
get_bool(struct pctx *c, json_t *obj, const char *path, const char *key, int *out)
{
	json_t *v = json_object_get(obj, key);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return MSGR_OK;
	if (!json_is_boolean(v))
		return fail(c, MSGR_ERR_PARSE, "%s%s: not a boolean", path, key);
	*out = json_is_true(v);
	return MSGR_OK;
}

/* ---- kinds ---- */

/* referral{ref, source, type, ad_id?, referer_uri?} (messaging_referrals reference), alone,
 * in a postback or in a message (ads, shops). */
static msgr_result
parse_referral(struct pctx *c, json_t *r, const char *path)
{
	struct msgr_event *ev = c->ev;
	msgr_result rc;

	if ((rc = get_str(c, r, path, "ref", MSGR_MAX_PAYLOAD_BYTES, 0, &ev->ref)) != MSGR_OK ||
	    (rc = get_str(c, r, path, "source", MSGR_MAX_KEY_LEN, 0, &ev->ref_source)) != MSGR_OK ||
	    (rc = get_str(c, r, path, "type", MSGR_MAX_KEY_LEN, 0, &ev->ref_type)) != MSGR_OK ||
	    (rc = get_str(c, r, path, "ad_id", MSGR_MAX_ID_LEN, 0, &ev->ref_ad_id)) != MSGR_OK ||
	    (rc = get_str(c, r, path, "referer_uri", MSGR_MAX_URL_BYTES, 0, &ev->ref_uri)) != MSGR_OK)
		return rc;
	return MSGR_OK;
}

static msgr_result
parse_attachment(struct pctx *c, json_t *a, size_t i, struct msgr_attachment *att)
{
	char path[64], ppath[80];
	json_t *payload, *coord, *v;
	msgr_result rc;
	size_t k;

	snprintf(path, sizeof(path), "message.attachments[%zu].", i);
	snprintf(ppath, sizeof(ppath), "message.attachments[%zu].payload.", i);
	memset(att, 0, sizeof(*att));
	if (!json_is_object(a))
		return fail(c, MSGR_ERR_PARSE, "message.attachments[%zu]: not an object", i);
	if ((rc = get_str(c, a, path, "type", MSGR_MAX_KEY_LEN, 1, &att->type_name)) != MSGR_OK)
		return rc;
	att->type = MSGR_ATT_UNKNOWN;
	for (k = 0; k < sizeof(att_types) / sizeof(att_types[0]); k++)
		if (strcmp(att_types[k].name, att->type_name) == 0)
			att->type = att_types[k].type;
	/* "For unsupported shares ... a fallback with no payload might be sent": payload null. */
	if ((rc = get_obj(c, a, path, "payload", 0, &payload)) != MSGR_OK)
		return rc;
	/* Fallback (and template echoes) carry title and url beside the payload. */
	if ((rc = get_str(c, a, path, "url", MSGR_MAX_URL_BYTES, 0, &att->url)) != MSGR_OK ||
	    (rc = get_str(c, a, path, "title", MSGR_MAX_STRING_BYTES, 0, &att->title)) != MSGR_OK)
		return rc;
	if (payload == NULL)
		return MSGR_OK;
	if (json_object_get(payload, "url") != NULL && !json_is_null(json_object_get(payload, "url")))
		if ((rc = get_str(c, payload, ppath, "url", MSGR_MAX_URL_BYTES, 0, &att->url)) != MSGR_OK)
			return rc;
	if (json_object_get(payload, "title") != NULL &&
	    !json_is_null(json_object_get(payload, "title")))
		if ((rc = get_str(c, payload, ppath, "title", MSGR_MAX_STRING_BYTES, 0, &att->title))
		    != MSGR_OK)
			return rc;
	if ((rc = get_id(c, payload, ppath, "sticker_id", 0, &att->sticker_id)) != MSGR_OK ||
	    (rc = get_str(c, payload, ppath, "template_type", MSGR_MAX_KEY_LEN, 0,
		&att->template_type)) != MSGR_OK)
		return rc;
	/* appointment_booking (messages reference, 2025): booking_id, status, start_time,
	 * end_time (seconds), timezone. */
	if ((rc = get_str(c, payload, ppath, "booking_id", MSGR_MAX_MID_LEN, 0, &att->booking_id))
	    != MSGR_OK ||
	    (rc = get_str(c, payload, ppath, "status", MSGR_MAX_KEY_LEN, 0, &att->booking_status))
	    != MSGR_OK ||
	    (rc = get_int(c, payload, ppath, "start_time", 0, &att->start_time)) != MSGR_OK ||
	    (rc = get_int(c, payload, ppath, "end_time", 0, &att->end_time)) != MSGR_OK ||
	    (rc = get_str(c, payload, ppath, "timezone", MSGR_MAX_KEY_LEN, 0, &att->timezone))
	    != MSGR_OK)
		return rc;
	/* Legacy location: payload.coordinates{lat, long}. */
	if ((rc = get_obj(c, payload, ppath, "coordinates", 0, &coord)) != MSGR_OK)
		return rc;
	if (coord != NULL) {
		v = json_object_get(coord, "lat");
		if (!json_is_number(v))
			return fail(c, MSGR_ERR_PARSE, "%scoordinates.lat: not a number", ppath);
		att->lat = json_number_value(v);
		v = json_object_get(coord, "long");
		if (!json_is_number(v))
			return fail(c, MSGR_ERR_PARSE, "%scoordinates.long: not a number", ppath);
		att->lon = json_number_value(v);
		if (att->lat < -90.0 || att->lat > 90.0 || att->lon < -180.0 || att->lon > 180.0)
			return fail(c, MSGR_ERR_PARSE, "%scoordinates: out of range", ppath);
		att->has_coordinates = 1;
	}
	return MSGR_OK;
}

static msgr_result
parse_message(struct pctx *c, json_t *msg)
{
	struct msgr_event *ev = c->ev;
	json_t *qr, *rt, *atts, *ref;
	msgr_result rc;
	size_t i, n;

	if ((rc = get_bool(c, msg, "message.", "is_echo", &ev->is_echo)) != MSGR_OK)
		return rc;
	ev->kind = ev->is_echo ? MSGR_EVENT_ECHO : MSGR_EVENT_MESSAGE;
	if ((rc = get_str(c, msg, "message.", "mid", MSGR_MAX_MID_LEN, 1, &ev->mid)) != MSGR_OK ||
	    (rc = get_str(c, msg, "message.", "text", MSGR_MAX_TEXT_BYTES, 0, &ev->text)) != MSGR_OK ||
	    (rc = get_id(c, msg, "message.", "sticker_id", 0, &ev->sticker_id)) != MSGR_OK ||
	    /* Echo: "app_id":1517776481860111 is a bare number in the message-echoes reference. */
	    (rc = get_id(c, msg, "message.", "app_id", 0, &ev->app_id)) != MSGR_OK ||
	    (rc = get_str(c, msg, "message.", "metadata", MSGR_MAX_STRING_BYTES, 0, &ev->metadata))
	    != MSGR_OK)
		return rc;
	if ((rc = get_obj(c, msg, "message.", "quick_reply", 0, &qr)) != MSGR_OK)
		return rc;
	if (qr != NULL && (rc = get_str(c, qr, "message.quick_reply.", "payload",
	    MSGR_MAX_PAYLOAD_BYTES, 1, &ev->payload)) != MSGR_OK)
		return rc;
	if ((rc = get_obj(c, msg, "message.", "reply_to", 0, &rt)) != MSGR_OK)
		return rc;
	if (rt != NULL) {
		if ((rc = get_str(c, rt, "message.reply_to.", "mid", MSGR_MAX_MID_LEN, 1,
		    &ev->reply_to_mid)) != MSGR_OK ||
		    (rc = get_bool(c, rt, "message.reply_to.", "is_self_reply", &ev->reply_to_is_self))
		    != MSGR_OK)
			return rc;
	}
	if ((rc = get_obj(c, msg, "message.", "referral", 0, &ref)) != MSGR_OK)
		return rc;
	if (ref != NULL && (rc = parse_referral(c, ref, "message.referral.")) != MSGR_OK)
		return rc;
	atts = json_object_get(msg, "attachments");
	if (atts == NULL || json_is_null(atts))
		return MSGR_OK;
	/* Not a list: one attachment nothing can be read of (below). */
	n = json_is_array(atts) ? json_array_size(atts) : 1;
	if (n > MSGR_MAX_ATTACHMENTS)
		return fail(c, MSGR_ERR_TOOBIG, "message.attachments: more than %d",
		    MSGR_MAX_ATTACHMENTS);
	if (n == 0)
		return MSGR_OK;
	ev->attachments = calloc(n, sizeof(*ev->attachments));
	if (ev->attachments == NULL)
		return fail(c, MSGR_ERR_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		rc = json_is_array(atts) ?
		    parse_attachment(c, json_array_get(atts, i), i, &ev->attachments[i]) :
		    MSGR_ERR_PARSE;
		if (rc == MSGR_ERR_NOMEM)
			return rc;
		/* An attachment that cannot be read (Facebook has sent "attachments":[{}]) does
		 * not cost the message its text: it is kept as an unknown attachment, the raw
		 * event holds what came (docs/events.md "Liberal in what it accepts"). */
		if (rc != MSGR_OK) {
			memset(&ev->attachments[i], 0, sizeof(ev->attachments[i]));
			ev->attachments[i].type = MSGR_ATT_UNKNOWN;
			ev->attachments[i].type_name = "unknown";
			if (c->why != NULL && c->whysz > 0)
				c->why[0] = '\0';
		}
		ev->n_attachments = i + 1;
	}
	return MSGR_OK;
}

static msgr_result
parse_optin(struct pctx *c, json_t *o)
{
	struct msgr_event *ev = c->ev;
	const char *p = "optin.", *ref_user = NULL, *tok1 = NULL, *tok2 = NULL;
	msgr_result rc;

	if ((rc = get_str(c, o, p, "ref", MSGR_MAX_PAYLOAD_BYTES, 0, &ev->ref)) != MSGR_OK ||
	    (rc = get_str(c, o, p, "user_ref", MSGR_MAX_USER_REF_LEN, 0, &ref_user)) != MSGR_OK ||
	    (rc = get_str(c, o, p, "type", MSGR_MAX_KEY_LEN, 0, &ev->optin_type)) != MSGR_OK ||
	    (rc = get_str(c, o, p, "payload", MSGR_MAX_PAYLOAD_BYTES, 0, &ev->payload)) != MSGR_OK ||
	    (rc = get_str(c, o, p, "title", MSGR_MAX_STRING_BYTES, 0, &ev->title)) != MSGR_OK ||
	    /* legacy one-time notification (type one_time_notif_req) */
	    (rc = get_str(c, o, p, "one_time_notif_token", MSGR_MAX_STRING_BYTES, 0, &tok1))
	    != MSGR_OK ||
	    /* marketing messages (type notification_messages) */
	    (rc = get_str(c, o, p, "notification_messages_token", MSGR_MAX_STRING_BYTES, 0, &tok2))
	    != MSGR_OK ||
	    (rc = get_str(c, o, p, "notification_messages_status", MSGR_MAX_KEY_LEN, 0,
		&ev->optin_status)) != MSGR_OK ||
	    (rc = get_str(c, o, p, "notification_messages_frequency", MSGR_MAX_KEY_LEN, 0,
		&ev->optin_frequency)) != MSGR_OK ||
	    (rc = get_str(c, o, p, "notification_messages_timezone", MSGR_MAX_KEY_LEN, 0,
		&ev->optin_timezone)) != MSGR_OK ||
	    (rc = get_str(c, o, p, "user_token_status", MSGR_MAX_KEY_LEN, 0,
		&ev->optin_user_token_status)) != MSGR_OK ||
	    (rc = get_int(c, o, p, "token_expiry_timestamp", 0, &ev->optin_token_expiry)) != MSGR_OK)
		return rc;
	ev->optin_token = tok2 != NULL ? tok2 : tok1;
	/* Checkbox plugin: "The sender object is not included", optin.user_ref names the person. */
	if (ev->user_ref == NULL)
		ev->user_ref = ref_user;
	return MSGR_OK;
}

static msgr_result
parse_delivery(struct pctx *c, json_t *d)
{
	struct msgr_event *ev = c->ev;
	json_t *mids, *v;
	msgr_result rc;
	size_t i;

	mids = json_object_get(d, "mids");
	if (mids != NULL && !json_is_null(mids)) {
		if (!json_is_array(mids))
			return fail(c, MSGR_ERR_PARSE, "delivery.mids: not an array");
		if (json_array_size(mids) > MSGR_MAX_DELIVERY_MIDS)
			return fail(c, MSGR_ERR_TOOBIG, "delivery.mids: more than %d",
			    MSGR_MAX_DELIVERY_MIDS);
		json_array_foreach(mids, i, v) {
			if (!json_is_string(v))
				return fail(c, MSGR_ERR_PARSE, "delivery.mids[%zu]: not a string", i);
			if (json_string_length(v) > MSGR_MAX_MID_LEN)
				return fail(c, MSGR_ERR_TOOBIG, "delivery.mids[%zu]: too long", i);
		}
		ev->n_delivery_mids = json_array_size(mids);
	}
	if ((rc = get_int(c, d, "delivery.", "watermark", 1, &ev->watermark)) != MSGR_OK)
		return rc;
	return MSGR_OK;
}

static msgr_result
parse_app_roles(struct pctx *c, json_t *r)
{
	const char *app;
	json_t *roles, *v;
	size_t i;

	if (json_object_size(r) > MSGR_MAX_APP_ROLES)
		return fail(c, MSGR_ERR_TOOBIG, "app_roles: more than %d apps", MSGR_MAX_APP_ROLES);
	json_object_foreach(r, app, roles) {
		if (strlen(app) > MSGR_MAX_ID_LEN)
			return fail(c, MSGR_ERR_TOOBIG, "app_roles: app id too long");
		if (!msgr_id_digits(app, strlen(app)))
			return fail(c, MSGR_ERR_PARSE, "app_roles: key not an app id");
		if (!json_is_array(roles))
			return fail(c, MSGR_ERR_PARSE, "app_roles.%s: not an array", app);
		if (json_array_size(roles) > MSGR_MAX_APP_ROLES)
			return fail(c, MSGR_ERR_TOOBIG, "app_roles.%s: too many roles", app);
		json_array_foreach(roles, i, v) {
			if (!json_is_string(v))
				return fail(c, MSGR_ERR_PARSE, "app_roles.%s[%zu]: not a string", app, i);
			if (json_string_length(v) > MSGR_MAX_KEY_LEN)
				return fail(c, MSGR_ERR_TOOBIG, "app_roles.%s[%zu]: too long", app, i);
		}
	}
	return MSGR_OK;
}

/* The kind keys, in the order that decides when several are present. */
static const struct {
	const char *key;
	enum msgr_event_kind kind;
} kind_keys[] = {
	{ "message", MSGR_EVENT_MESSAGE },
	{ "message_edit", MSGR_EVENT_MESSAGE_EDIT },
	{ "postback", MSGR_EVENT_POSTBACK },
	{ "reaction", MSGR_EVENT_REACTION },
	{ "optin", MSGR_EVENT_OPTIN },
	{ "referral", MSGR_EVENT_REFERRAL },
	{ "delivery", MSGR_EVENT_DELIVERY },
	{ "read", MSGR_EVENT_READ },
	{ "account_linking", MSGR_EVENT_ACCOUNT_LINKING },
	{ "policy_enforcement", MSGR_EVENT_POLICY_ENFORCEMENT },
	{ "pass_thread_control", MSGR_EVENT_PASS_THREAD_CONTROL },
	{ "take_thread_control", MSGR_EVENT_TAKE_THREAD_CONTROL },
	{ "request_thread_control", MSGR_EVENT_REQUEST_THREAD_CONTROL },
	{ "app_roles", MSGR_EVENT_APP_ROLES },
	{ "prior_message", MSGR_EVENT_PRIOR_MESSAGE },
};

/* Parses the kind's object kobj (named kname) into ev. */
static msgr_result
parse_kind(struct pctx *c, enum msgr_event_kind kind, json_t *kobj, const char *kname)
{
	struct msgr_event *ev = c->ev;
	char path[MSGR_MAX_KEY_LEN + 2];
	msgr_result rc = MSGR_OK;

	snprintf(path, sizeof(path), "%s.", kname);
	switch (kind) {
	case MSGR_EVENT_MESSAGE:
	case MSGR_EVENT_ECHO:
		return parse_message(c, kobj);
	case MSGR_EVENT_MESSAGE_EDIT:
		/* message-edits reference: num_edit is an integer (shown as "<INT>"). */
		if ((rc = get_str(c, kobj, path, "mid", MSGR_MAX_MID_LEN, 1, &ev->mid)) != MSGR_OK ||
		    (rc = get_str(c, kobj, path, "text", MSGR_MAX_TEXT_BYTES, 0, &ev->text)) != MSGR_OK ||
		    (rc = get_int(c, kobj, path, "num_edit", 1, &ev->num_edit)) != MSGR_OK)
			return rc;
		return MSGR_OK;
	case MSGR_EVENT_POSTBACK: {
		json_t *ref;

		/* A standby postback has no payload (docs/facebook.md); mid, title optional too. */
		if ((rc = get_str(c, kobj, path, "mid", MSGR_MAX_MID_LEN, 0, &ev->mid)) != MSGR_OK ||
		    (rc = get_str(c, kobj, path, "title", MSGR_MAX_STRING_BYTES, 0, &ev->title))
		    != MSGR_OK ||
		    (rc = get_str(c, kobj, path, "payload", MSGR_MAX_PAYLOAD_BYTES, 0, &ev->payload))
		    != MSGR_OK ||
		    (rc = get_obj(c, kobj, path, "referral", 0, &ref)) != MSGR_OK)
			return rc;
		if (ref != NULL)
			return parse_referral(c, ref, "postback.referral.");
		return MSGR_OK;
	}
	case MSGR_EVENT_REACTION:
		/* message-reactions reference; an unreact may omit reaction and emoji. */
		if ((rc = get_str(c, kobj, path, "reaction", MSGR_MAX_KEY_LEN, 0, &ev->reaction))
		    != MSGR_OK ||
		    (rc = get_str(c, kobj, path, "emoji", MSGR_MAX_KEY_LEN, 0, &ev->emoji)) != MSGR_OK ||
		    (rc = get_str(c, kobj, path, "action", MSGR_MAX_KEY_LEN, 1, &ev->reaction_action))
		    != MSGR_OK ||
		    (rc = get_str(c, kobj, path, "mid", MSGR_MAX_MID_LEN, 1, &ev->mid)) != MSGR_OK)
			return rc;
		if (strcmp(ev->reaction_action, "react") != 0 &&
		    strcmp(ev->reaction_action, "unreact") != 0)
			return fail(c, MSGR_ERR_PARSE, "reaction.action: neither react nor unreact");
		return MSGR_OK;
	case MSGR_EVENT_OPTIN:
		return parse_optin(c, kobj);
	case MSGR_EVENT_REFERRAL:
		return parse_referral(c, kobj, "referral.");
	case MSGR_EVENT_DELIVERY:
		return parse_delivery(c, kobj);
	case MSGR_EVENT_READ:
		return get_int(c, kobj, path, "watermark", 1, &ev->watermark);
	case MSGR_EVENT_ACCOUNT_LINKING:
		if ((rc = get_str(c, kobj, path, "status", MSGR_MAX_KEY_LEN, 1, &ev->status))
		    != MSGR_OK ||
		    (rc = get_str(c, kobj, path, "authorization_code", MSGR_MAX_STRING_BYTES, 0,
			&ev->authorization_code)) != MSGR_OK)
			return rc;
		if (strcmp(ev->status, "linked") != 0 && strcmp(ev->status, "unlinked") != 0)
			return fail(c, MSGR_ERR_PARSE, "account_linking.status: neither linked nor unlinked");
		return MSGR_OK;
	case MSGR_EVENT_POLICY_ENFORCEMENT:
		/* action: warning | block | unblock; reason absent on unblock. */
		if ((rc = get_str(c, kobj, path, "action", MSGR_MAX_KEY_LEN, 1, &ev->action)) != MSGR_OK ||
		    (rc = get_str(c, kobj, path, "reason", MSGR_MAX_STRING_BYTES, 0, &ev->reason))
		    != MSGR_OK)
			return rc;
		return MSGR_OK;
	case MSGR_EVENT_PASS_THREAD_CONTROL:
	case MSGR_EVENT_TAKE_THREAD_CONTROL:
		/* messaging_handovers reference: previous_owner_app_id may be null (idle thread);
		 * new_owner_app_id shown both quoted and bare. */
		if ((rc = get_id(c, kobj, path, "previous_owner_app_id", 0, &ev->previous_owner_app_id))
		    != MSGR_OK ||
		    (rc = get_id(c, kobj, path, "new_owner_app_id", 0, &ev->new_owner_app_id))
		    != MSGR_OK ||
		    (rc = get_str(c, kobj, path, "metadata", MSGR_MAX_STRING_BYTES, 0, &ev->metadata))
		    != MSGR_OK)
			return rc;
		return MSGR_OK;
	case MSGR_EVENT_REQUEST_THREAD_CONTROL:
		if ((rc = get_id(c, kobj, path, "requested_owner_app_id", 0,
		    &ev->requested_owner_app_id)) != MSGR_OK ||
		    (rc = get_str(c, kobj, path, "metadata", MSGR_MAX_STRING_BYTES, 0, &ev->metadata))
		    != MSGR_OK)
			return rc;
		return MSGR_OK;
	case MSGR_EVENT_APP_ROLES:
		return parse_app_roles(c, kobj);
	case MSGR_EVENT_PRIOR_MESSAGE:
		if ((rc = get_str(c, kobj, path, "source", MSGR_MAX_KEY_LEN, 0, &ev->prior_source))
		    != MSGR_OK ||
		    (rc = get_str(c, kobj, path, "identifier", MSGR_MAX_USER_REF_LEN, 0,
			&ev->prior_identifier)) != MSGR_OK)
			return rc;
		return MSGR_OK;
	case MSGR_EVENT_UNKNOWN:
	case MSGR_EVENT_KIND_COUNT:
		break;
	}
	return rc;
}

/* ---- dedup key ---- */

static int
dump_to_md(const char *buf, size_t size, void *data)
{
	return EVP_DigestUpdate((EVP_MD_CTX *)data, buf, size) == 1 ? 0 : -1;
}

static int
md_field(EVP_MD_CTX *md, const char *s)
{
	char len[24];

	if (s == NULL)
		s = "";
	snprintf(len, sizeof(len), "%zu:", strlen(s));
	return EVP_DigestUpdate(md, len, strlen(len)) == 1 &&
	    EVP_DigestUpdate(md, s, strlen(s)) == 1 && EVP_DigestUpdate(md, ",", 1) == 1;
}

/* content == NULL: a mid identity (cls page mid [num_edit]); otherwise the content identity. */
static msgr_result
key_compute(struct msgr_event *ev, const char *cls, json_t *content, int with_timestamp)
{
	const EVP_MD *sha256 = msgr_signature_md_sha256();
	unsigned char dig[EVP_MAX_MD_SIZE];
	unsigned int diglen = 0;
	char num[24];
	EVP_MD_CTX *md;
	msgr_result rc = MSGR_ERR_NOMEM;
	const char *user;
	int ok;

	md = EVP_MD_CTX_new();
	if (md == NULL)
		goto out;
	ok = sha256 != NULL && EVP_DigestInit_ex(md, sha256, NULL) == 1 && md_field(md, cls) &&
	    md_field(md, ev->page_id);
	if (ok && content == NULL) {
		ok = md_field(md, ev->mid);
		if (ok && ev->kind == MSGR_EVENT_MESSAGE_EDIT) {
			snprintf(num, sizeof(num), "%lld", ev->num_edit);
			ok = md_field(md, num);
		}
	} else if (ok) {
		user = ev->sender_id != NULL ? ev->sender_id : ev->user_ref;
		snprintf(num, sizeof(num), "%lld", with_timestamp ? ev->timestamp : 0LL);
		ok = md_field(md, user) && md_field(md, msgr_event_kind_name(ev->kind)) &&
		    md_field(md, num) &&
		    json_dump_callback(content, dump_to_md, md,
			JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII | JSON_ENCODE_ANY) == 0;
	}
	if (ok)
		ok = EVP_DigestFinal_ex(md, dig, &diglen) == 1 && diglen == 32;
	if (!ok)
		goto out;
	msgr_signature_hex(dig, diglen, ev->key);
	rc = MSGR_OK;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

/* ---- the event ---- */

static int
is_envelope_key(const char *k)
{
	return strcmp(k, "sender") == 0 || strcmp(k, "recipient") == 0 ||
	    strcmp(k, "timestamp") == 0;
}

msgr_result
msgr_event_parse(json_t *m, const char *page_id, int standby, struct msgr_event *ev, char *why,
    size_t whysz)
{
	struct pctx c = { ev, why, whysz };
	json_t *sender, *recipient, *kobj = NULL, *prior;
	const char *kname = NULL, *k;
	json_t *v;
	msgr_result rc;
	size_t i;

	if (why != NULL && whysz > 0)
		why[0] = '\0';
	if (ev == NULL)
		return MSGR_ERR_INVALID;
	memset(ev, 0, sizeof(*ev));
	if (m == NULL || !msgr_id_valid(page_id)) {
		msgr_why(why, whysz, "bad page id");
		return MSGR_ERR_INVALID;
	}
	if (!json_is_object(m)) {
		msgr_why(why, whysz, "event: not an object");
		return MSGR_ERR_PARSE;
	}
	ev->raw = json_incref(m);
	ev->standby = standby ? 1 : 0;
	memcpy(ev->page_id, page_id, strlen(page_id) + 1);

	/* Envelope: sender{id | user_ref (chat plugin)}, recipient{id}, timestamp (ms). */
	if ((rc = get_obj(&c, m, "", "sender", 0, &sender)) != MSGR_OK ||
	    (rc = get_obj(&c, m, "", "recipient", 0, &recipient)) != MSGR_OK ||
	    (rc = get_int(&c, m, "", "timestamp", 0, &ev->timestamp)) != MSGR_OK)
		goto out;
	if (sender != NULL &&
	    ((rc = get_id(&c, sender, "sender.", "id", 0, &ev->sender_id)) != MSGR_OK ||
	    (rc = get_str(&c, sender, "sender.", "user_ref", MSGR_MAX_USER_REF_LEN, 0, &ev->user_ref))
	    != MSGR_OK))
		goto out;
	if (recipient != NULL &&
	    (rc = get_id(&c, recipient, "recipient.", "id", 0, &ev->recipient_id)) != MSGR_OK)
		goto out;

	ev->kind = MSGR_EVENT_UNKNOWN;
	for (i = 0; i < sizeof(kind_keys) / sizeof(kind_keys[0]); i++) {
		if ((v = json_object_get(m, kind_keys[i].key)) == NULL)
			continue;
		if (!json_is_object(v)) {
			rc = fail(&c, MSGR_ERR_PARSE, "%s: not an object", kind_keys[i].key);
			goto out;
		}
		ev->kind = kind_keys[i].kind;
		kobj = v;
		kname = kind_keys[i].key;
		break;
	}
	if (ev->kind == MSGR_EVENT_UNKNOWN) {
		json_object_foreach(m, k, v) {
			if (is_envelope_key(k))
				continue;
			if (strlen(k) > MSGR_MAX_KEY_LEN) {
				rc = fail(&c, MSGR_ERR_TOOBIG, "unknown kind: key longer than %d bytes",
				    MSGR_MAX_KEY_LEN);
				goto out;
			}
			ev->kind_key = k;
			kobj = v;
			break;
		}
	} else if ((rc = parse_kind(&c, ev->kind, kobj, kname)) != MSGR_OK)
		goto out;

	/* A reply after a checkbox-plugin optin carries prior_message beside the message. */
	if (ev->kind == MSGR_EVENT_MESSAGE || ev->kind == MSGR_EVENT_ECHO) {
		if ((rc = get_obj(&c, m, "", "prior_message", 0, &prior)) != MSGR_OK)
			goto out;
		if (prior != NULL &&
		    (rc = parse_kind(&c, MSGR_EVENT_PRIOR_MESSAGE, prior, "prior_message")) != MSGR_OK)
			goto out;
	}

	/* The conversation's user: the sender, except for an echo, sent by the page to the
	 * recipient (message-echoes reference). */
	if (ev->kind == MSGR_EVENT_ECHO) {
		if (ev->recipient_id == NULL) {
			rc = fail(&c, MSGR_ERR_PARSE, "echo: recipient.id missing");
			goto out;
		}
		memcpy(ev->user_id, ev->recipient_id, strlen(ev->recipient_id) + 1);
	} else if (ev->sender_id != NULL)
		memcpy(ev->user_id, ev->sender_id, strlen(ev->sender_id) + 1);

	/* Every kind but policy_enforcement, app_roles, prior_message and unknown ones names a
	 * person; without one nothing could be ordered or answered. */
	switch (ev->kind) {
	case MSGR_EVENT_POLICY_ENFORCEMENT:
	case MSGR_EVENT_APP_ROLES:
	case MSGR_EVENT_PRIOR_MESSAGE:
	case MSGR_EVENT_UNKNOWN:
	case MSGR_EVENT_ECHO:
		break;
	default:
		if (ev->sender_id == NULL && ev->user_ref == NULL) {
			rc = fail(&c, MSGR_ERR_PARSE, "%s: no sender.id or user_ref",
			    msgr_event_kind_name(ev->kind));
			goto out;
		}
	}

	switch (ev->kind) {
	case MSGR_EVENT_MESSAGE:
	case MSGR_EVENT_ECHO:
		rc = key_compute(ev, "mid", NULL, 0);
		break;
	case MSGR_EVENT_MESSAGE_EDIT:
		rc = key_compute(ev, "edit", NULL, 0);
		break;
	case MSGR_EVENT_POSTBACK:
		if (ev->mid != NULL) {
			rc = key_compute(ev, "postback", NULL, 0);
			break;
		}
		rc = key_compute(ev, "content", kobj, 1);
		break;
	case MSGR_EVENT_DELIVERY:
		rc = key_compute(ev, "content", kobj, 0);
		break;
	default:
		rc = key_compute(ev, "content", kobj != NULL ? kobj : m, 1);
		break;
	}
	if (rc != MSGR_OK)
		fail(&c, rc, "out of memory");
out:
	if (rc != MSGR_OK)
		msgr_event_clear(ev);
	return rc;
}

void
msgr_event_clear(struct msgr_event *ev)
{
	if (ev == NULL)
		return;
	free(ev->attachments);
	free(ev->numbuf);
	json_decref(ev->raw);
	memset(ev, 0, sizeof(*ev));
}

int
msgr_event_answerable(const struct msgr_event *ev)
{
	if (ev == NULL || ev->standby)
		return 0;
	switch (ev->kind) {
	case MSGR_EVENT_MESSAGE:
	case MSGR_EVENT_POSTBACK:
	case MSGR_EVENT_REFERRAL:
	case MSGR_EVENT_OPTIN:
	case MSGR_EVENT_REACTION:
	case MSGR_EVENT_MESSAGE_EDIT:
	case MSGR_EVENT_ACCOUNT_LINKING:
		return 1;
	default:
		return 0;
	}
}

msgr_result
msgr_event_raw_text(const struct msgr_event *ev, char **out)
{
	if (out == NULL)
		return MSGR_ERR_INVALID;
	*out = NULL;
	if (ev == NULL || ev->raw == NULL)
		return MSGR_ERR_INVALID;
	*out = json_dumps(ev->raw, JSON_COMPACT);
	return *out != NULL ? MSGR_OK : MSGR_ERR_NOMEM;
}

const char *
msgr_event_delivery_mid(const struct msgr_event *ev, size_t i)
{
	json_t *d, *v;

	if (ev == NULL || ev->kind != MSGR_EVENT_DELIVERY || i >= ev->n_delivery_mids)
		return NULL;
	d = json_object_get(ev->raw, "delivery");
	v = json_array_get(json_object_get(d, "mids"), i);
	return json_string_value(v);
}

/* Refuses nesting deeper than max outside strings before any parser recurses into it. */
static msgr_result
depth_scan(const char *p, size_t n, size_t max)
{
	size_t depth = 0, i;
	int in_str = 0, esc = 0;

	for (i = 0; i < n; i++) {
		char ch = p[i];

		if (in_str) {
			if (esc)
				esc = 0;
			else if (ch == '\\')
				esc = 1;
			else if (ch == '"')
				in_str = 0;
			continue;
		}
		if (ch == '"')
			in_str = 1;
		else if (ch == '{' || ch == '[') {
			if (++depth > max)
				return MSGR_ERR_TOOBIG;
		} else if ((ch == '}' || ch == ']') && depth > 0)
			depth--;
	}
	return MSGR_OK;
}

msgr_result
msgr_event_json_load(const char *text, size_t len, size_t max_depth, json_t **out, char *why,
    size_t whysz)
{
	json_error_t err;
	char *cut;

	if (why != NULL && whysz > 0)
		why[0] = '\0';
	if (out == NULL)
		return MSGR_ERR_INVALID;
	*out = NULL;
	if (text == NULL && len > 0)
		return MSGR_ERR_INVALID;
	if (depth_scan(text, len, max_depth) != MSGR_OK) {
		msgr_why(why, whysz, "JSON nested deeper than %zu", max_depth);
		return MSGR_ERR_TOOBIG;
	}
	/* Never JSON_ALLOW_NUL: a \u0000 would cut every C string read from the tree. */
	*out = json_loadb(len > 0 ? text : "", len, JSON_REJECT_DUPLICATES, &err);
	if (*out != NULL)
		return MSGR_OK;
	if (json_error_code(&err) == json_error_out_of_memory) {
		msgr_why(why, whysz, "out of memory");
		return MSGR_ERR_NOMEM;
	}
	/* jansson quotes the offending input after "near": keep only its own words. */
	if ((cut = strstr(err.text, " near ")) != NULL)
		*cut = '\0';
	msgr_why(why, whysz, "not JSON: %s at line %d column %d", err.text, err.line, err.column);
	return MSGR_ERR_PARSE;
}

msgr_result
msgr_event_parse_text(const char *json, size_t len, const char *page_id, int standby,
    struct msgr_event *ev, char *why, size_t whysz)
{
	json_t *root = NULL;
	msgr_result rc;

	if (ev != NULL)
		memset(ev, 0, sizeof(*ev));
	if (ev == NULL)
		return MSGR_ERR_INVALID;
	rc = msgr_event_json_load(json, len, MSGR_MAX_JSON_DEPTH, &root, why, whysz);
	if (rc != MSGR_OK)
		goto out;
	rc = msgr_event_parse(root, page_id, standby, ev, why, whysz);
out:
	json_decref(root);
	return rc;
}

void
msgr_event_conversation(const struct msgr_event *ev, char out[MSGR_EVENT_CONV_LEN + 1])
{
	out[0] = '\0';
	if (ev->user_id[0] != '\0') {
		snprintf(out, MSGR_EVENT_CONV_LEN + 1, "%s", ev->user_id);
		return;
	}
	if (ev->user_ref == NULL || ev->user_ref[0] == '\0')
		return;
	/* "ref:" and 32 hex digits: the user_ref itself may be long and is the developer's */
	if (msgr_signature_sha256_hex(ev->user_ref, strlen(ev->user_ref), 16, out + 4) != MSGR_OK)
		return;
	memcpy(out, "ref:", 4);
}
