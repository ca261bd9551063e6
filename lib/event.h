/* event.h — one Messenger webhook event as a typed value (SPEC.md "Events").
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

/* The Page Inbox app (GRAPH.md "Thread control"): an echo with this app_id is a person. */
#define MSGR_PAGE_INBOX_APP_ID "263902037430900"

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
	const char *sticker_id;    /* payload.sticker_id, as text */
	double lat, lon;           /* legacy location */
	int has_coordinates;
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
	char key[65];                         /* dedup identity: hex SHA-256 (SPEC.md rules) */
};

/* Name of a kind as used by the Bot API and logs: "message", "echo", "postback", ...,
 * "unknown". */
const char *msgr_event_kind_name(enum msgr_event_kind kind);
/* The kind named name, or -1. */
int msgr_event_kind_parse(const char *name);

/* Parses one messaging object of page page_id. Takes its own reference on messaging. Bounds of
 * limits.h apply to every string and array. MSGR_OK; MSGR_ERR_PARSE or MSGR_ERR_TOOBIG with
 * why (a short reason, no secret) filled — the caller quarantines the object; MSGR_ERR_NOMEM. */
msgr_result msgr_event_parse(json_t *messaging, const char *page_id, int standby,
    struct msgr_event *ev, char *why, size_t whysz);
/* The same from stored JSON text. */
msgr_result msgr_event_parse_text(const char *json, size_t len, const char *page_id,
    int standby, struct msgr_event *ev, char *why, size_t whysz);
void msgr_event_clear(struct msgr_event *ev);

/* 1 when the kind is ever answered by a bot (never echoes, never standby). */
int msgr_event_answerable(const struct msgr_event *ev);

#endif
