/* event.h — one Messenger webhook event as a typed value (docs/events.md).
 *
 * An event is parsed from one object of entry[].messaging[] or entry[].standby[]. It holds a
 * reference to that JSON object (raw); every const char * field points into raw and lives
 * as long as the event (msgr_event_clear drops it). Absent fields are NULL / 0. The same
 * parser turns a stored event back into a typed one, so there is one reading of the wire
 * format. */
#ifndef MSGR_EVENT_H
#define MSGR_EVENT_H

#include <stddef.h>
#include <jansson.h>

#include "id.h"       /* MSGR_PAGE_INBOX_APP_ID: an echo with this app_id is a person */
#include "limits.h"
#include "result.h"

enum msgr_event_kind {
	MSGR_EVENT_MESSAGE = 0,
	MSGR_EVENT_ECHO,
	MSGR_EVENT_POSTBACK,
	MSGR_EVENT_REFERRAL,
	MSGR_EVENT_OPTIN,
	MSGR_EVENT_DELIVERY,
	MSGR_EVENT_READ,
	MSGR_EVENT_REACTION,
	MSGR_EVENT_MESSAGE_EDIT,
	MSGR_EVENT_ACCOUNT_LINKING,
	MSGR_EVENT_POLICY_ENFORCEMENT,
	MSGR_EVENT_PASS_THREAD_CONTROL,
	MSGR_EVENT_TAKE_THREAD_CONTROL,
	MSGR_EVENT_REQUEST_THREAD_CONTROL,
	MSGR_EVENT_APP_ROLES,
	MSGR_EVENT_PRIOR_MESSAGE,
	MSGR_EVENT_UNKNOWN,
	MSGR_EVENT_KIND_COUNT
};

enum msgr_attachment_type {
	MSGR_ATT_IMAGE = 0, MSGR_ATT_VIDEO, MSGR_ATT_AUDIO, MSGR_ATT_FILE, MSGR_ATT_STICKER,
	MSGR_ATT_FALLBACK, MSGR_ATT_TEMPLATE, MSGR_ATT_REEL, MSGR_ATT_IG_REEL, MSGR_ATT_POST,
	MSGR_ATT_IG_POST, MSGR_ATT_APPOINTMENT_BOOKING, MSGR_ATT_LOCATION, MSGR_ATT_UNKNOWN
};

struct msgr_attachment {
	enum msgr_attachment_type type;
	const char *type_name;     /* as sent */
	const char *url;           /* payload.url (fallback: url may sit outside a null payload) */
	const char *title;         /* fallback, post */
	const char *sticker_id;    /* payload.sticker_id, as text (a JSON number is converted) */
	double lat, lon;           /* legacy location */
	int has_coordinates;
	/* appointment_booking (payload.booking_id, status, start_time, end_time, timezone) */
	const char *booking_id;
	const char *booking_status; /* "requested" | "confirmed" | "declined" | "cancelled" */
	long long start_time, end_time; /* seconds */
	const char *timezone;
	const char *template_type; /* template: payload.template_type */
};

struct msgr_event {
	enum msgr_event_kind kind;
	int standby;                          /* came in entry.standby[] */
	char page_id[MSGR_MAX_ID_LEN + 1];    /* entry.id */
	char user_id[MSGR_MAX_ID_LEN + 1];    /* the conversation's user: sender.id; recipient.id
	                                         for echoes; "" when there is none */
	const char *sender_id;
	const char *recipient_id;
	const char *user_ref;                 /* optin from the checkbox plugin (no sender) */
	long long timestamp;                  /* ms; 0 when the kind has none (delivery) */

	/* message, echo, message_edit, postback */
	const char *mid;
	const char *text;
	const char *payload;                  /* quick_reply.payload or postback.payload */
	const char *title;                    /* postback title */
	const char *app_id;                   /* echo: the app that sent it */
	long long num_edit;
	const char *reply_to_mid;
	int reply_to_is_self;
	struct msgr_attachment *attachments;  /* owned array */
	size_t n_attachments;

	/* referral (alone or inside postback / message) */
	const char *ref;
	const char *ref_source;
	const char *ref_type;

	/* optin */
	const char *optin_type;               /* "one_time_notif_req", "notification_messages", ... */
	const char *optin_token;              /* one_time_notif_token / notification_messages_token */

	/* delivery, read */
	long long watermark;
	size_t n_delivery_mids;

	/* reaction */
	const char *reaction;                 /* "love", "smile", ... */
	const char *emoji;
	const char *reaction_action;          /* "react" | "unreact" */

	/* account_linking, policy_enforcement */
	const char *status;
	const char *authorization_code;
	const char *action;
	const char *reason;

	/* thread control */
	const char *previous_owner_app_id;
	const char *new_owner_app_id;
	const char *requested_owner_app_id;
	const char *metadata;

	const char *kind_key;                 /* unknown kinds: the first unrecognised key */

	json_t *raw;                          /* the messaging object (a reference we own) */
	char key[65];                         /* dedup identity: hex SHA-256 (docs/events.md) */

	/* --- filled for some kinds only --- */
	const char *sticker_id;               /* message.sticker_id (legacy; also in attachments) */
	const char *prior_source;             /* prior_message.source ("checkbox_plugin") */
	const char *prior_identifier;         /* prior_message.identifier (the user_ref) */
	const char *optin_status;             /* notification_messages_status */
	const char *optin_frequency;          /* notification_messages_frequency */
	const char *optin_timezone;           /* notification_messages_timezone */
	const char *optin_user_token_status;  /* user_token_status */
	long long optin_token_expiry;         /* token_expiry_timestamp */
	const char *ref_ad_id;                /* referral.ad_id (ads) */
	const char *ref_uri;                  /* referral.referer_uri (chat plugin) */
	int is_echo;                          /* message.is_echo was true */
	char *numbuf;                         /* owned: ids that came as JSON numbers, as text */
	size_t numbuf_used;
};

/* Name of a kind as used by the Bot API and logs: "message", "echo", "postback", ...,
 * "unknown". Never NULL ("unknown" for an out-of-range kind). */
const char *msgr_event_kind_name(enum msgr_event_kind kind);
/* The kind named name, or -1. */
int msgr_event_kind_parse(const char *name);

/* Parses one messaging object of page page_id (digits, at most MSGR_MAX_ID_LEN). Takes its own
 * reference on messaging; ev is overwritten (not cleared first). Bounds of limits.h apply to
 * every string and array. Ids (sender, recipient, app ids, sticker_id) may be JSON strings of
 * digits or JSON integers; timestamps, watermarks and num_edit integers or strings of digits.
 * A null optional field counts as absent; a null or wrongly typed required one is an error.
 * MSGR_OK; MSGR_ERR_PARSE or MSGR_ERR_TOOBIG with why (a short reason naming the field, never
 * its value) filled, ev left cleared: the caller quarantines the object; MSGR_ERR_NOMEM;
 * MSGR_ERR_INVALID (NULL argument or bad page_id).
 *
 * Kind: the first of these keys present decides, in this order: message (is_echo true: echo),
 * message_edit, postback, reaction, optin, referral, delivery, read, account_linking,
 * policy_enforcement, pass_thread_control, take_thread_control, request_thread_control,
 * app_roles, prior_message; otherwise unknown, with kind_key the first key other than sender,
 * recipient and timestamp (NULL when there is none). A prior_message beside a message (a reply
 * after a checkbox-plugin optin) only fills prior_source / prior_identifier.
 *
 * Dedup identity (docs/events.md), hashed with SHA-256 into key (64 lowercase hex):
 *   message, echo          "mid" page mid
 *   postback with a mid    "postback" page mid
 *   message_edit           "edit" page mid num_edit
 *   every other kind       "content" page user kind timestamp, then the canonical JSON
 *                          (compact, keys sorted, ASCII-escaped) of the kind's object: e.g.
 *                          "reaction" {action, emoji, mid, reaction}; delivery has no
 *                          timestamp (0), its mids + watermark are its content; unknown kinds
 *                          use kind_key's value, or the whole object when there is none.
 * Each field but the last is written as "<length>:<bytes>," so no two identities collide.
 * "user" is sender.id, else sender.user_ref, else optin.user_ref, else "". The page is part of
 * every identity, so one mid stored for two pages stays two events. A redelivered event (same
 * bytes, or the same values written differently) gets the same key. */
msgr_result msgr_event_parse(json_t *messaging, const char *page_id, int standby,
    struct msgr_event *ev, char *why, size_t whysz);
/* The same from stored JSON text (the object msgr_event_raw_text wrote), under the same depth
 * bound as a webhook body: returns what msgr_event_parse returns. */
msgr_result msgr_event_parse_text(const char *json, size_t len, const char *page_id,
    int standby, struct msgr_event *ev, char *why, size_t whysz);
void msgr_event_clear(struct msgr_event *ev);

/* 1 when the event is given to a bot: message, postback, referral, optin, reaction,
 * message_edit and account_linking arriving on messaging. 0 for anything on standby (another
 * app owns the thread), echoes (our own or a person's words), delivery and read receipts,
 * policy_enforcement, thread control and app_roles (the worker's routing logic handles those,
 * not a bot), prior_message alone (context for a message that follows, not a user action),
 * and unknown kinds. */
int msgr_event_answerable(const struct msgr_event *ev);

/* The conversation an event belongs to, for ordering and state: the user's PSID (user_id);
 * for an event that has only a user_ref (checkbox plugin, chat plugin) "ref:" and 32 hex
 * digits of SHA-256(user_ref), so two such users never share one queue; "" when neither. */
#define MSGR_EVENT_CONV_LEN MSGR_MAX_ID_LEN
void msgr_event_conversation(const struct msgr_event *ev, char out[MSGR_EVENT_CONV_LEN + 1]);

/* The JSON text of ev->raw to store (compact, key order as received, UTF-8). *out is
 * malloc'd; MSGR_OK, MSGR_ERR_NOMEM, MSGR_ERR_INVALID (no raw). */
msgr_result msgr_event_raw_text(const struct msgr_event *ev, char **out);
/* The i-th mid of a delivery (i < n_delivery_mids), else NULL. */
const char *msgr_event_delivery_mid(const struct msgr_event *ev, size_t i);

/* Loads JSON text the way every webhook byte is loaded: a byte scan first refuses nesting
 * deeper than max_depth (outside strings) before jansson sees it, then json_loadb with
 * JSON_REJECT_DUPLICATES and never JSON_ALLOW_NUL (so "\u0000" is refused) nor any flag that
 * would accept invalid UTF-8. MSGR_OK with *out (a new reference); MSGR_ERR_TOOBIG (too deep);
 * MSGR_ERR_PARSE (not JSON: why holds jansson's line/column and text); MSGR_ERR_NOMEM. */
msgr_result msgr_event_json_load(const char *text, size_t len, size_t max_depth, json_t **out,
    char *why, size_t whysz);

#endif
