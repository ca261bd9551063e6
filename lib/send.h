/* send.h — carrying out one item of a plan (docs/worker.md, step 4 "Send"): a message is
 * first held to the messaging window, where the send happens, since a retried answer may be
 * late (24 hours from the user's last message; 7 days with the HUMAN_AGENT tag: lib/message.h);
 * an attachment by URL goes by its reusable id; every call is paced per page; a pass or a take
 * of the thread that Facebook confirms is recorded as the conversation's new owner. */
#ifndef MSGR_SEND_H
#define MSGR_SEND_H

#include <stddef.h>

#include "calls.h"
#include "config.h"
#include "event.h"
#include "graph.h"
#include "pacing.h"
#include "plan.h"
#include "result.h"
#include "store.h"

/* What an item is sent with. */
struct msgr_sender {
	struct msgr_store *st;             /* NULL: nothing is known of the user */
	const struct msgr_caller *calls;
	struct msgr_pacer *pacer;          /* the page's */
	const struct msgr_connector *conn;
	long long now;                     /* wall time: the window is judged by it */
	int durable_mark;                  /* the in-flight mark before a message call is a
	                                      durable commit, covering the bookkeeping commits
	                                      before it, which are not (docs/worker.md
	                                      "Durability") */
};

/* Makes the call of it (SEND, PASS_THREAD or TAKE_THREAD) answering ev. MSGR_OK when Facebook
 * confirmed it (res->message_id for a send); else Facebook's classification with res filled
 * (MSGR_ERR_TRANSIENT, MSGR_ERR_PERMANENT, MSGR_ERR_PAUSE_*), or a refusal made here with why
 * (MSGR_ERR_PERMANENT: outside the window; MSGR_ERR_INVALID: not an item to send), or the
 * store's error. */
msgr_result msgr_send_item(const struct msgr_sender *s, const struct msgr_event *ev,
    const struct msgr_plan_item *it, struct msgr_graph_result *res, char *why, size_t whysz);

#endif
