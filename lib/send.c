/* send.c — one plan item to Facebook (send.h). */
#include <stdio.h>
#include <string.h>

#include "attachment.h"
#include "conversation.h"
#include "id.h"
#include "message.h"
#include "send.h"

/* The window for a message body, judged now; MSGR_OK for anything else (a sender action, an
 * answer to a user_ref: the checkbox plugin's one message has no thread yet). A sender
 * without a store (`msgrctl send` when the store cannot be read) knows nothing of the user
 * and judges by ev alone. */
static msgr_result
window_check(const struct msgr_sender *s, const struct msgr_event *ev, const json_t *body,
    char *why, size_t whysz)
{
	struct msgr_conversation cv;
	msgr_result rc;

	if (json_object_get(body, "message") == NULL ||
	    json_object_get(json_object_get(body, "recipient"), "user_ref") != NULL)
		return MSGR_OK;
	memset(&cv, 0, sizeof(cv));
	if (s->st != NULL &&
	    (rc = msgr_store_conversation(s->st, ev->page_id, ev->user_id, &cv)) != MSGR_OK)
		return rc;
	return msgr_message_window_check(s->now, cv.last_user_ts > 0 ? cv.last_user_ts :
	    ev->timestamp, json_string_value(json_object_get(body, "messaging_type")),
	    json_string_value(json_object_get(body, "tag")), why, whysz);
}

/* One Send API call of body, paced. */
static msgr_result
send_call(const struct msgr_sender *s, const json_t *body, struct msgr_graph_result *res)
{
	struct msgr_call call = { .kind = MSGR_CALL_SEND, .conn = s->conn, .body = body };

	msgr_pacer_wait(s->pacer);
	return msgr_call_make(s->calls, &call, res);
}

static msgr_result
send_message(const struct msgr_sender *s, const struct msgr_event *ev,
    const struct msgr_plan_item *it, struct msgr_graph_result *res, char *why, size_t whysz)
{
	struct msgr_attachments a = { s->st, s->calls, s->pacer, s->conn, s->now };
	char key[MSGR_ATTACHMENT_KEY_MAX];
	json_t *body = json_incref(it->body);
	msgr_result rc;

	if ((rc = window_check(s, ev, body, why, whysz)) != MSGR_OK ||
	    (rc = msgr_attachment_by_id(&a, &body, key, res)) != MSGR_OK)
		goto out;
	rc = send_call(s, body, res);
	if (rc == MSGR_ERR_PERMANENT && key[0] != '\0') {
		/* The cached id may have expired: upload again, once. */
		msgr_attachment_forget(&a, key);
		json_decref(body);
		body = json_incref(it->body);
		msgr_graph_result_clear(res);
		if ((rc = msgr_attachment_by_id(&a, &body, key, res)) == MSGR_OK)
			rc = send_call(s, body, res);
	}
out:
	json_decref(body);
	return rc;
}

msgr_result
msgr_send_item(const struct msgr_sender *s, const struct msgr_event *ev,
    const struct msgr_plan_item *it, struct msgr_graph_result *res, char *why, size_t whysz)
{
	struct msgr_call call = { .conn = s->conn, .psid = ev->user_id, .metadata = it->metadata };
	const char *owner = NULL;
	msgr_result rc;

	switch (it->kind) {
	case MSGR_PLAN_SEND:
		return send_message(s, ev, it, res, why, whysz);
	case MSGR_PLAN_PASS_THREAD:
		call.kind = MSGR_CALL_PASS_THREAD;
		call.target = it->target;
		owner = strcmp(it->target, "inbox") == 0 ? MSGR_PAGE_INBOX_APP_ID : it->target;
		break;
	case MSGR_PLAN_TAKE_THREAD:
		call.kind = MSGR_CALL_TAKE_THREAD;
		break;
	case MSGR_PLAN_UNREADABLE:
		snprintf(why, whysz, "%s", it->why != NULL ? it->why : "unreadable outbox item");
		return MSGR_ERR_INVALID;
	}
	msgr_pacer_wait(s->pacer);
	if ((rc = msgr_call_make(s->calls, &call, res)) != MSGR_OK)
		return rc;
	/* owner NULL (a take): the thread is this connector's app's again. */
	return msgr_conversation_owner(s->st, s->conn, ev->page_id, ev->user_id, owner);
}
