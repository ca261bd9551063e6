/* bot.h — one interface for bots (docs/bot-api.md, docs/stories.md).
 *
 * The worker opens one bot per connector, once, and asks it what to do about each
 * answerable event. A bot answers with a list of ACTIONS, a jansson array, in the order they
 * are to be carried out. Each action is one of these objects (nothing else, no other key):
 *
 *   {"action":"sender_action","sender_action":"mark_seen"|"typing_on"|"typing_off"}
 *   {"action":"message","message":{<Send API message object>},"messaging_type":"RESPONSE"
 *       [,"tag":"HUMAN_AGENT"][,"notification_type":"REGULAR"|"SILENT_PUSH"|"NO_PUSH"]}
 *   {"action":"pass_thread_control","target":"inbox"|"<app id>"[,"metadata":"..."]}
 *   {"action":"take_thread_control"[,"metadata":"..."]}
 *
 * "message" is the `message` field of a Send API call, already valid by
 * msgr_message_validate (lib/message.h); messaging_type is RESPONSE, UPDATE or MESSAGE_TAG
 * (the last one with tag HUMAN_AGENT, the only tag left: docs/facebook.md "Calls"). "inbox" is the
 * Page Inbox (app MSGR_PAGE_INBOX_APP_ID). The worker adds the recipient and persona_id,
 * paces and sends them in order. No action carries a recipient, a token or a secret.
 *
 * Bot types: "stories" (lib/bot_stories.c, integrated mode) and "api" (lib/bot_api.c, Bot
 * API mode). A type plugs in by defining a struct msgr_bot_ops and naming it in the
 * table of lib/bot.c; nothing else changes for the worker. */
#ifndef MSGR_BOT_H
#define MSGR_BOT_H

#include <stddef.h>
#include <jansson.h>

#include "config.h"
#include "event.h"
#include "result.h"

struct msgr_bot;   /* opaque; one per connector, used by one thread at a time */

/* What a bot is asked about. Everything is borrowed for the duration of the call. */
struct msgr_bot_input {
	const struct msgr_connector *conn;   /* the connector the event came to */
	const struct msgr_event *ev;         /* the event (ev->raw is the messaging object) */
	const char *first_name;              /* from the profile; NULL or "" when unknown */
	const char *last_name;               /* likewise */
};

/* Opens the bot of conn (conn->bot): for stories, loads and validates conn->bot.file.
 * conn must outlive the bot. On success *out is the bot (msgr_bot_close) and MSGR_OK is
 * returned. MSGR_ERR_CONFIG when the bot cannot be used (a stories file with faults; a bot
 * type with no implementation in lib/bot.c's table), with *errors (when
 * errors is not NULL) a malloc'd text of one fault per line, "FILE:LINE: story "NAME": what";
 * MSGR_ERR_IO (a file that cannot be read, also with *errors); MSGR_ERR_NOMEM;
 * MSGR_ERR_INVALID (NULL arguments). *out is NULL and nothing is held on failure. */
msgr_result msgr_bot_open(const struct msgr_connector *conn, struct msgr_bot **out,
    char **errors);

/* Asks the bot about in->ev. On MSGR_OK *actions is a NEW reference to an array of actions
 * (the shapes above, already checked by msgr_bot_actions_validate), possibly empty: an
 * event the bot has nothing to say to, an echo or a standby event (never answered, docs/worker.md
 * "One event, step by step"). On failure *actions is NULL and the result says what to do:
 * MSGR_ERR_TRANSIENT (an external bot failed or timed out: retry like a Send API failure);
 * MSGR_ERR_PERMANENT (an external bot answered something unusable: record, do not retry);
 * MSGR_ERR_NOMEM; MSGR_ERR_INVALID (NULL arguments). The stories bot only ever returns
 * MSGR_OK, MSGR_ERR_NOMEM or MSGR_ERR_INVALID. */
msgr_result msgr_bot_answer(struct msgr_bot *bot, const struct msgr_bot_input *in,
    json_t **actions);

void msgr_bot_close(struct msgr_bot *bot);

/* The type name of an open bot: "stories", "api". */
const char *msgr_bot_type_name(const struct msgr_bot *bot);

/* Why the last msgr_bot_answer of bot failed, for the job's failure record (`msgrctl
 * status`): a short text naming the fault, e.g. "reply refused: messages[1]: text: 2001
 * characters, at most 2000", never a secret or a signature; "" after a success or when the
 * bot type says nothing more than the result. Valid until the next call on bot. */
const char *msgr_bot_last_error(const struct msgr_bot *bot);

/* msgr_message_validate, with one allowance for bot answers: a message of only text (and
 * optionally quick_replies) may carry text over MSGR_TEXT_MAX_CHARS characters (at most
 * MSGR_MAX_TEXT_BYTES bytes), because the worker splits it at word boundaries with the quick
 * replies on the last part (docs/sending.md); each part, as it will be sent, must then
 * validate. Results and why as msgr_message_validate. */
msgr_result msgr_bot_message_validate(const json_t *message, char *why, size_t whysz);

/* Checks actions (borrowed) against the shapes above: an array of at most
 * MSGR_MAX_BOT_ACTIONS objects, each with exactly the keys its kind allows, every message
 * valid by msgr_bot_message_validate, every value one of those listed. MSGR_OK, or
 * MSGR_ERR_LIMIT (a message over a platform limit) / MSGR_ERR_INVALID (any other fault)
 * with why naming the action, e.g. "actions[2].message: text: 2001 characters, at most
 * 2000". For Bot API replies; the stories bot's own actions pass by construction. */
msgr_result msgr_bot_actions_validate(const json_t *actions, char *why, size_t whysz);

/* For `msgrctl check`: validates a stories file without keeping it. MSGR_OK; MSGR_ERR_CONFIG
 * or MSGR_ERR_IO with *errors as for msgr_bot_open (each fault names the file, the line, the
 * story and the limit); MSGR_ERR_NOMEM. */
msgr_result msgr_bot_stories_check(const char *file, char **errors);

/* For `msgrctl check`: checks what conn's bot needs before it runs (the stories file; for
 * an api bot, an http(s) url and a secret). Results and *errors as msgr_bot_open. */
msgr_result msgr_bot_check(const struct msgr_connector *conn, char **errors);

/* ---- the Bot API bot (lib/bot_api.c; the protocol is docs/bot-api.md) -----------------
 * Exported so tests and tools can build and read the protocol without HTTP. */

/* Both ways signed with bot.secret (docs/bot-api.md "Signatures"): a request carries the
 * time it was made (unix seconds) and "sha256=" + hex HMAC-SHA256(secret, "TIMESTAMP.BODY");
 * a 2xx reply carries "sha256=" + hex HMAC-SHA256(secret, "REQUEST_SIGNATURE.REPLY_BODY"),
 * REQUEST_SIGNATURE the request's X-Msgr-Signature value as sent, so a reply answers one
 * request and no other. A bot accepts a request whose timestamp is within
 * MSGR_BOT_API_WINDOW_S of its clock. */
#define MSGR_BOT_API_SIGNATURE_HEADER "X-Msgr-Signature"
#define MSGR_BOT_API_TIMESTAMP_HEADER "X-Msgr-Timestamp"
#define MSGR_BOT_API_WINDOW_S         300

/* The X-Msgr-Signature of a request made at timestamp (unix seconds) with body[0..len):
 * "sha256=<64 lowercase hex>" and a NUL into out. MSGR_OK, MSGR_ERR_INVALID (no secret),
 * MSGR_ERR_NOMEM. */
msgr_result msgr_bot_api_sign_request(const char *secret, long long timestamp,
    const char *body, size_t len, char *out);

/* The X-Msgr-Signature a bot puts on its reply body[0..len) to the request signed
 * request_sig (that request's X-Msgr-Signature value). Results as
 * msgr_bot_api_sign_request. For bots written in C and for tests. */
msgr_result msgr_bot_api_sign_reply(const char *secret, const char *request_sig,
    const char *body, size_t len, char *out);

/* Checks header (the reply's X-Msgr-Signature, NULL when it had none) in constant time.
 * MSGR_OK; MSGR_ERR_SIGNATURE (missing, malformed or wrong); MSGR_ERR_INVALID (no secret
 * or request_sig); MSGR_ERR_NOMEM. */
msgr_result msgr_bot_api_verify_reply(const char *secret, const char *request_sig,
    const char *body, size_t len, const char *header);

/* The JSON body POSTed to an api bot about in->ev (docs/bot-api.md "The request"): {"connector",
 * "page_id", "user", "event", "raw"}, compact UTF-8, keys in that order. For an event with
 * only a user_ref (checkbox plugin optin) "user" is {"user_ref": ...}. *body is malloc'd
 * (NUL-terminated, *len bytes before the NUL). MSGR_OK, MSGR_ERR_NOMEM, MSGR_ERR_INVALID
 * (NULL arguments, no connector). */
msgr_result msgr_bot_api_request(const struct msgr_bot_input *in, char **body, size_t *len);

/* Reads a bot's 2xx reply body (len bytes; empty means "nothing to say") into actions
 * (lib/bot.h shapes): the sender_action first, then the messages in order, then
 * pass_thread_control for a handover. The whole reply is checked before anything is
 * returned: unknown keys, wrong types, more than MSGR_MAX_BOT_MESSAGES messages, a message
 * over a platform limit (msgr_bot_message_validate), a body over MSGR_MAX_BOT_REPLY bytes
 * or not JSON all refuse the whole reply. MSGR_OK with *actions a new reference (possibly
 * an empty array); MSGR_ERR_PERMANENT with why naming the fault and the limit (e.g.
 * "messages[2]: quick_replies: 14, at most 13"), *actions NULL; MSGR_ERR_NOMEM;
 * MSGR_ERR_INVALID (NULL arguments). */
msgr_result msgr_bot_api_reply(const char *body, size_t len, json_t **actions, char *why,
    size_t whysz);

/* ---- for bot implementations (lib/bot_*.c), not for callers ---------------------------- */

struct msgr_bot_ops {
	const char *name;                    /* "stories", "api" */
	/* Like msgr_bot_open; *state is the implementation's own. */
	msgr_result (*open)(const struct msgr_connector *conn, void **state, char **errors);
	/* Like msgr_bot_answer (arguments already checked non-NULL). */
	msgr_result (*answer)(void *state, const struct msgr_bot_input *in, json_t **actions);
	void (*close)(void *state);
	/* Like msgr_bot_check; NULL when the type has nothing to check before it runs. */
	msgr_result (*check)(const struct msgr_connector *conn, char **errors);
	/* Why the last answer failed (msgr_bot_last_error); NULL when the type never says. */
	const char *(*last_error)(void *state);
};

extern const struct msgr_bot_ops msgr_bot_stories_ops;   /* lib/bot_stories.c */
extern const struct msgr_bot_ops msgr_bot_api_ops;       /* lib/bot_api.c */

#endif
