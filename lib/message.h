/* message.h — Send API message builders and platform-limit checks, and the Messenger profile
 * body; JSON out.
 *
 * Everything Facebook would refuse is refused here first (docs/sending.md: "nothing Facebook
 * would reject leaves"), with a `why` that names the field path and the limit, e.g.
 * "quick_replies[3].title: 23 characters, at most 20". The limits are those of docs/facebook.md
 * "Calls" and Meta's Send API reference, named in lib/limits.h. A "character" is a Unicode
 * code point of valid UTF-8, never a byte.
 *
 * Ownership of json_t, for every function below:
 *   - a json_t * RETURNED is a NEW reference: the caller owns it and json_decref()s it;
 *   - a json_t * ARGUMENT is BORROWED: the function takes its own reference where it keeps
 *     the value (json_object_set, not _set_new) and the caller still owns and drops its
 *     own. A value kept this way is shared, not copied: do not change it afterwards;
 *   - a json_t * argument that is changed in place (msgr_message_add_*, msgr_message_set_*)
 *     is left exactly as it was when the call fails.
 * Builders return NULL on failure with why filled (MSGR_ERR_LIMIT or MSGR_ERR_INVALID kind
 * of fault; out of memory says "out of memory"). `why` may be NULL when whysz is 0; it is
 * always NUL-terminated otherwise. Nothing here logs, and no text here holds a secret. */
#ifndef MSGR_MESSAGE_H
#define MSGR_MESSAGE_H

#include <stddef.h>
#include <jansson.h>

#include "limits.h"
#include "result.h"

/* A why buffer this big always holds the whole reason. */
#define MSGR_MESSAGE_WHY_MAX 256

/* ---- text ---------------------------------------------------------------------------- */

/* Counts the code points of NUL-terminated s into *chars (when chars is not NULL).
 * MSGR_OK; MSGR_ERR_INVALID when s is NULL or not valid UTF-8 (overlong forms, surrogates,
 * code points above U+10FFFF and truncated sequences are all invalid). */
msgr_result msgr_message_utf8_chars(const char *s, size_t *chars);

/* Splits utf8 into parts of at most max_chars code points each (max_chars 0 means
 * MSGR_TEXT_MAX_CHARS), cutting where a reader expects it: at a paragraph break (blank line)
 * when one lies in the second half of the window, else at a line break, else at a space;
 * a single word longer than max_chars is cut at a code-point boundary, never inside a UTF-8
 * sequence. The whitespace at a cut is dropped, and so is whitespace at the start and end of
 * each part; no part is empty; the parts joined hold all non-whitespace content in order.
 * Text that fits is one part (trimmed). *parts is a malloc'd array of *n malloc'd strings:
 * free with msgr_message_split_free. Text with no non-whitespace gives MSGR_ERR_INVALID.
 * MSGR_OK; MSGR_ERR_INVALID (NULL, invalid UTF-8, nothing but whitespace);
 * MSGR_ERR_TOOBIG (more than MSGR_MAX_TEXT_BYTES bytes); MSGR_ERR_NOMEM. On failure *parts
 * is NULL and *n is 0. */
msgr_result msgr_message_split_text(const char *utf8, size_t max_chars, char ***parts,
    size_t *n);
void msgr_message_split_free(char **parts, size_t n);

/* ---- names ---------------------------------------------------------------------------- */

/* What Facebook takes for messaging_type, notification_type and sender_action
 * (docs/sending.md "Limits"), NULL-terminated: the one list each for every check of them. */
extern const char *const msgr_message_types[];
extern const char *const msgr_message_notification_types[];
extern const char *const msgr_message_sender_actions[];

/* 1 when s (NULL: never) is one of list (NULL-terminated): the one lookup of a value among the
 * names a field takes (messaging types, sender actions, content types, ...). */
int msgr_message_one_of(const char *s, const char *const *list);

/* The first key of object o not in keys (NULL-terminated), or NULL (also when o is not an
 * object): Facebook answers an unknown parameter with error 100, a bot's reply is held to
 * its documented keys the same way. */
const char *msgr_message_unknown_key(const json_t *o, const char *const *keys);

/* ---- whole-message check ------------------------------------------------------------- */

/* Checks message (the `message` field of a Send API call) as a whole against every limit of
 * docs/facebook.md "Calls": exactly one of text / attachment / sticker_id; text valid UTF-8, not
 * empty, at most 2000 characters; quick_replies 1..13, content_type text | user_phone_number
 * | user_email, a text one with title (<= 20) and payload (<= 1000), image_url optional;
 * metadata under 1000 characters; reply_to {mid}; attachment type image | audio | video |
 * file | template with a payload (url [+ is_reusable] or attachment_id for media; button,
 * generic and media templates with their limits: button text <= 640, 1..3 buttons, button
 * titles <= 20, postback payloads <= 1000, phone_number payload '+' and 4..15 digits,
 * account_link https url, web_url http(s) url and webview options; generic 1..10 elements,
 * title <= 80 and at least one more field, subtitle <= 80, <= 3 buttons; media exactly one
 * image | video element with url (a Facebook URL) or attachment_id, <= 3 buttons). Unknown
 * keys are refused
 * (Facebook answers them with error 100).
 * MSGR_OK; MSGR_ERR_LIMIT with why naming the field path and the limit;
 * MSGR_ERR_INVALID when message is NULL. message is borrowed and not changed. */
msgr_result msgr_message_validate(const json_t *message, char *why, size_t whysz);

/* ---- message builders (each returns a new reference, validated, or NULL with why) ---- */

/* {"text": text}. Text over MSGR_TEXT_MAX_CHARS is refused: split it first. */
json_t *msgr_message_text(const char *text, char *why, size_t whysz);

/* {"sticker_id": N}: sticker_id is a decimal number (text), sent as a JSON integer. */
json_t *msgr_message_sticker(const char *sticker_id, char *why, size_t whysz);

/* {"attachment":{"type":type,"payload":{"url":url[,"is_reusable":true]}}}; type is image,
 * audio, video or file; url http(s). is_reusable asks Facebook to keep it for reuse by id. */
json_t *msgr_message_attachment_url(const char *type, const char *url, int is_reusable,
    char *why, size_t whysz);
/* {"attachment":{"type":type,"payload":{"attachment_id":id}}} (an id from an upload). */
json_t *msgr_message_attachment_id(const char *type, const char *attachment_id,
    char *why, size_t whysz);

/* Button template: text (<= 640 characters) and buttons, an array of 1..3 buttons
 * (borrowed). */
json_t *msgr_message_button_template(const char *text, json_t *buttons, char *why,
    size_t whysz);
/* Generic template: elements, an array of 1..10 cards from msgr_message_card (borrowed).
 * image_aspect_ratio is NULL, "horizontal" or "square". */
json_t *msgr_message_generic_template(json_t *elements, const char *image_aspect_ratio,
    char *why, size_t whysz);
/* Media template: one element of media_type "image" or "video", given by exactly one of url
 * (a Facebook URL: facebook.com or a subdomain) or attachment_id; buttons NULL or an array of
 * at most 3 buttons (borrowed). */
json_t *msgr_message_media_template(const char *media_type, const char *url,
    const char *attachment_id, json_t *buttons, char *why, size_t whysz);

/* ---- parts: buttons, cards, quick replies ---------------------------------------------- */

/* Webview options of a web_url button or a card's default_action; all optional. */
struct msgr_message_webview {
	const char *height_ratio;   /* NULL, "compact", "tall" or "full" */
	int messenger_extensions;   /* 1: the page uses the Messenger Extensions SDK */
	const char *fallback_url;   /* with messenger_extensions: for clients without it */
	int hide_share;             /* 1: webview_share_button "hide" */
};

/* Buttons (new references). Titles at most MSGR_BUTTON_TITLE_MAX_CHARS. */
json_t *msgr_message_button_web_url(const char *title, const char *url,
    const struct msgr_message_webview *webview, char *why, size_t whysz);
json_t *msgr_message_button_postback(const char *title, const char *payload, char *why,
    size_t whysz);
/* payload is the phone number: '+' then 4 to 15 digits, no spaces (E.164; docs/facebook.md
 * "Calls" says it starts with '+'). */
json_t *msgr_message_button_phone(const char *title, const char *number, char *why,
    size_t whysz);
/* url must be https (docs/facebook.md "Calls"). */
json_t *msgr_message_button_account_link(const char *url, char *why, size_t whysz);
json_t *msgr_message_button_account_unlink(char *why, size_t whysz);

/* A card of a generic template: title (<= 80) required, and at least one of subtitle
 * (<= 80), image_url, default_action_url, buttons. default_action_url (with webview, may be
 * NULL) becomes {"type":"web_url","url":...}; buttons NULL or an array of <= 3 (borrowed). */
json_t *msgr_message_card(const char *title, const char *subtitle, const char *image_url,
    const char *default_action_url, const struct msgr_message_webview *webview,
    json_t *buttons, char *why, size_t whysz);

/* Appends a quick reply to message (changed in place, unchanged on failure):
 * content_type NULL or "text" needs title (<= 20) and payload (<= 1000), image_url optional;
 * "user_email" and "user_phone_number" take no title or payload (NULL). The message with the
 * new quick reply must still validate (at most 13, and the message must carry content).
 * MSGR_OK; MSGR_ERR_LIMIT; MSGR_ERR_INVALID (message NULL or not an object); MSGR_ERR_NOMEM. */
msgr_result msgr_message_add_quick_reply(json_t *message, const char *content_type,
    const char *title, const char *payload, const char *image_url, char *why, size_t whysz);

/* message.metadata = metadata (under 1000 characters; passed back in the echo). */
msgr_result msgr_message_set_metadata(json_t *message, const char *metadata, char *why,
    size_t whysz);
/* message.reply_to = {"mid": mid}: the message this one answers (shown quoted). */
msgr_result msgr_message_set_reply_to(json_t *message, const char *mid, char *why,
    size_t whysz);

/* ---- the whole Send API body --------------------------------------------------------- */

/* What goes around a message. Strings are borrowed for the call. */
struct msgr_message_request {
	const char *recipient_id;       /* PSID; exactly one of recipient_id / user_ref */
	const char *user_ref;           /* checkbox plugin optin (docs/events.md) */
	const char *messaging_type;     /* NULL = "RESPONSE"; "UPDATE"; "MESSAGE_TAG" */
	const char *tag;                /* only "HUMAN_AGENT"; required with MESSAGE_TAG */
	const char *notification_type;  /* NULL (Facebook's REGULAR), REGULAR, SILENT_PUSH, NO_PUSH */
	const char *persona_id;         /* NULL or the persona that speaks */
	const json_t *message;          /* borrowed; exactly one of message / sender_action */
	const char *sender_action;      /* typing_on, typing_off, mark_seen */
};

/* Builds the body of POST /me/messages into *out (a new reference). The message is
 * validated whole (msgr_message_validate) and copied, so the caller's may change later.
 * A sender action is sent with only recipient (and persona_id): Facebook takes no
 * messaging_type, tag or notification_type with it, so those must be NULL or RESPONSE.
 * A tag other than HUMAN_AGENT is refused: CONFIRMED_EVENT_UPDATE, ACCOUNT_UPDATE and
 * POST_PURCHASE_UPDATE were retired on 27 April 2026 (error 100 since), the rest earlier.
 * MSGR_OK; MSGR_ERR_LIMIT (a platform rule: retired tag, MESSAGE_TAG without tag, message
 * over a limit); MSGR_ERR_INVALID (no or two recipients, neither or both of message and
 * sender_action, an unknown messaging_type / notification_type / sender_action);
 * MSGR_ERR_NOMEM. *out is NULL on failure. */
msgr_result msgr_message_request(const struct msgr_message_request *req, json_t **out,
    char *why, size_t whysz);

/* ---- the messaging window (docs/worker.md) ------------------------------- */

#define MSGR_WINDOW_STANDARD_MS (24LL * 3600 * 1000)     /* any message type */
#define MSGR_WINDOW_HUMAN_AGENT_MS (7LL * 24 * 3600 * 1000) /* MESSAGE_TAG + HUMAN_AGENT */

/* May a message of this messaging_type / tag go now, the user's last message being at
 * last_user_ms? Up to 24 h (inclusive) after it any type may; up to 7 days only MESSAGE_TAG
 * with HUMAN_AGENT; after that nothing. last_user_ms 0 (never wrote) is outside every
 * window. MSGR_OK; MSGR_ERR_PERMANENT with why (Facebook would answer 10/2018278);
 * MSGR_ERR_INVALID for a NULL messaging_type. */
msgr_result msgr_message_window_check(long long now_ms, long long last_user_ms,
    const char *messaging_type, const char *tag, char *why, size_t whysz);

/* ---- the Messenger profile (docs/facebook.md "Messenger profile") -------------------- */

struct msgr_profile_config;   /* lib/config.h */

/* The body of POST me/messenger_profile (lib/graph.h) from a connector's profile group, in
 * Facebook's current shapes (Meta's messenger-profile reference): get_started {payload},
 * greeting [{locale, text}], ice_breakers in the localized form, persistent_menu
 * [{locale, composer_input_disabled, call_to_actions}], whitelisted_domains. A field the
 * group lacks is left out, so Facebook keeps what it has; an empty group gives {}.
 * Unlike the builders above, this one checks no limit: p comes from msgr_config_load,
 * which refuses a config over any of them (docs/configuration.md "profile"), so
 * `msgrctl check` reports them too. A new reference, or NULL with why on failure. */
json_t *msgr_message_profile(const struct msgr_profile_config *p, char *why, size_t whysz);

#endif
