/* echo.h — the call in flight at a kill: outgoing messages tagged with their outbox identity,
 * and Facebook's echoes of them read back (docs/sending.md "Echo tags", docs/worker.md step 4).
 *
 * Facebook's Send API has no idempotency key: a process killed after its call reached
 * Facebook but before it read the answer cannot tell whether the message went. But Facebook
 * echoes every message a page sends (webhook field message_echoes) with the `metadata` of the
 * Send API message. So each message carries, in `metadata`, the outbox row it was sent from
 * ("msgr:o=<outbox id>:<try>", then "|" and the bot's own metadata when it gave some); an echo
 * naming a row proves that row was sent. Before a call whose outcome is unknown is repeated,
 * the worker waits a bounded time (worker.echo_wait_ms) for its echo: echoed means sent, so the
 * row is marked done and the call is not made again. */
#ifndef MSGR_ECHO_H
#define MSGR_ECHO_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "config.h"
#include "event.h"
#include "result.h"
#include "store.h"

#define MSGR_ECHO_TAG_PREFIX "msgr:o="   /* what every tag starts with */
#define MSGR_ECHO_TAG_SEP    '|'         /* between our tag and the bot's own metadata */
/* The longest tag, separator included: the prefix, an outbox id of up to 18 digits, ':',
 * a try number of up to 9 digits and '|'. */
#define MSGR_ECHO_TAG_MAX    (sizeof(MSGR_ECHO_TAG_PREFIX) - 1 + 18 + 1 + 9 + 1)

struct msgr_echo_tag {
	int64_t outbox_id;        /* > 0 */
	int try_no;               /* > 0: the try of the call that carried it */
};

/* Writes the metadata of a message sent from outbox row outbox_id, try try_no, into
 * out[outsz]: the tag, then the separator and bot_meta when bot_meta is not NULL. MSGR_OK;
 * MSGR_ERR_TOOBIG when the whole would not fit under Facebook's limit of 1000 characters (or
 * in out): the message then goes with the bot's metadata alone, untagged; MSGR_ERR_INVALID
 * (outbox_id or try_no not > 0, bot_meta not UTF-8). */
msgr_result msgr_echo_tag_make(int64_t outbox_id, int try_no, const char *bot_meta, char *out,
    size_t outsz);

/* 1 when meta starts with a well-formed tag (the prefix, a decimal outbox id > 0 without a
 * leading zero and of at most 18 digits, ':', a try number > 0 of at most 9 digits, then the
 * end or the separator), *tag filled and *bot_meta (may be NULL) pointing at the bot's own
 * metadata after the separator, or NULL when there is none. 0 otherwise (*bot_meta = meta):
 * anything that only looks like a tag is the bot's, whole. */
int msgr_echo_tag_parse(const char *meta, struct msgr_echo_tag *tag, const char **bot_meta);

/* The metadata a bot sees of meta: its own, our tag stripped; NULL when nothing remains. */
const char *msgr_echo_bot_metadata(const char *meta);

/* *body (a Send API body, a reference the caller owns) with its message tagged for outbox row
 * outbox_id, try try_no: replaced by a new copy carrying the metadata (the stored plan is
 * never changed). A sender action, or a message whose bot metadata leaves no room for the
 * tag (*tagged = 0), stays as it is. MSGR_OK; MSGR_ERR_NOMEM. */
msgr_result msgr_echo_tag_body(json_t **body, int64_t outbox_id, int try_no, int *tagged);

/* Records echo event ev (of connector c) in the store's echo table: its mid, page, user and,
 * when c's own app sent it with a tag, the outbox row and try the tag names. An echo of
 * another app (a person in the Page Inbox) is recorded untagged: it still tells that the
 * page's echoes arrive. Anything but an echo with a mid is ignored. Idempotent (the mid is
 * the row's identity). MSGR_OK; the store's errors. */
msgr_result msgr_echo_record(struct msgr_store *st, const struct msgr_connector *c,
    const struct msgr_event *ev);

/* Reads the pending echo events of conversation (page, user) stored after event id
 * *after_id, records each (msgr_echo_record) and moves *after_id past them. c is the
 * conversation's connector. MSGR_OK; the store's errors; MSGR_ERR_NOMEM. */
msgr_result msgr_echo_scan(struct msgr_store *st, const struct msgr_connector *c,
    const char *page_id, const char *user_id, int64_t *after_id);

/* Waits up to wait_ms (monotonic; 0: one look) for the echo of outbox row outbox_id of
 * conversation (page, user), sent by one of its first max_try tries: the echoes recorded and
 * those still queued in the conversation, looked at every 100 ms. An echo naming a try never
 * made proves nothing. MSGR_OK when echoed (mid[midsz] gets its mid, may be NULL);
 * MSGR_ERR_NOTFOUND when none came; the store's errors. */
msgr_result msgr_echo_await(struct msgr_store *st, const struct msgr_connector *c,
    const char *page_id, const char *user_id, int64_t outbox_id, int max_try, int wait_ms,
    char *mid, size_t midsz);

#endif
