/* conversation.h — what an event says about its conversation, recorded before any answer
 * (docs/worker.md, step 2 "Record"): the user's last message (the 24-hour window), who holds
 * the thread (a pass or a take, something on standby, something on messaging again), a person
 * answering from the Page Inbox. Kept typed in the store (struct msgr_conversation). */
#ifndef MSGR_CONVERSATION_H
#define MSGR_CONVERSATION_H

#include "config.h"
#include "event.h"
#include "result.h"
#include "store.h"

/* Records what ev, come to connector c, says about its conversation. The same event recorded
 * twice records the same (a retried job runs this again). MSGR_OK or the store's error. */
msgr_result msgr_conversation_record(struct msgr_store *st, const struct msgr_connector *c,
    const struct msgr_event *ev);

/* Records that app (an app id, or NULL or c's own app for c's) holds the thread of
 * (page_id, user_id): after a pass or a take, ours or Facebook's. */
msgr_result msgr_conversation_owner(struct msgr_store *st, const struct msgr_connector *c,
    const char *page_id, const char *user_id, const char *app);

#endif
