/* send.c — one plan item to Facebook (send.h). */
#include <stdio.h>
#include <string.h>

#include "attachment.h"
#include "conversation.h"
#include "echo.h"
#include "id.h"
#include "log.h"
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

/* Marks outbox row id in flight before its call; *tries gets the call's number. With
 * s->durable_mark the commit waits for the disk: a power loss after the call leaves must not
 * lose the mark, or the message would be sent again without its echo being looked for. */
static msgr_result
mark_in_flight(const struct msgr_sender *s, int64_t id, int *tries)
{
	msgr_result rc, rs;

	if (s->durable_mark && (rc = msgr_store_set_sync(s->st, 1)) != MSGR_OK)
		return rc;
	rc = msgr_store_outbox_attempt(s->st, id, tries);
	if (s->durable_mark && (rs = msgr_store_set_sync(s->st, 0)) != MSGR_OK && rc == MSGR_OK)
		rc = rs;
	return rc;
}

/* One Send API call of *body for item it, paced. A message of an outbox row is marked in
 * flight just before it leaves and tagged with the row and this try (lib/echo.h), so that if
 * its answer is never read (a kill, a timeout) its echo can still prove it went; *body may
 * so be replaced by a tagged copy. */
static msgr_result
send_call(const struct msgr_sender *s, const struct msgr_plan_item *it, json_t **body,
    struct msgr_graph_result *res)
{
	struct msgr_call call = { .kind = MSGR_CALL_SEND, .conn = s->conn };
	int tries = 0, tagged = 0;
	msgr_result rc, r2;

	if ((rc = msgr_call_pace(s->calls, s->pacer)) != MSGR_OK)
		return rc;
	if (it->outbox_id > 0 && s->st != NULL &&
	    json_is_object(json_object_get(*body, "message"))) {
		if ((rc = mark_in_flight(s, it->outbox_id, &tries)) != MSGR_OK ||
		    (rc = msgr_echo_tag_body(body, it->outbox_id, tries, &tagged)) != MSGR_OK)
			return rc;
	}
	call.body = *body;
	rc = msgr_call_make(s->calls, &call, res);
	/* Refused with a Graph error: the outcome is known and nothing went. Anything else that
	 * is not a success (no answer, a 5xx or a 2xx that is not Facebook's: docs/graph.md)
	 * leaves the mark: the message may have gone. */
	if (tries > 0 && rc != MSGR_OK && res->transport_ok && res->code != 0 &&
	    (r2 = msgr_store_outbox_settle(s->st, it->outbox_id)) != MSGR_OK)
		/* Left in flight, the next try only waits for an echo first: logged, not fatal. */
		msgr_log(MSGR_LOG_WARN, "outbox=%lld: could not record the refusal: %s",
		    (long long)it->outbox_id, msgr_strerror(r2));
	return rc;
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
	rc = send_call(s, it, &body, res);
	if (rc == MSGR_ERR_PERMANENT && key[0] != '\0') {
		/* The cached id may have expired: upload again, once. */
		msgr_attachment_forget(&a, key);
		json_decref(body);
		body = json_incref(it->body);
		msgr_graph_result_clear(res);
		if ((rc = msgr_attachment_by_id(&a, &body, key, res)) == MSGR_OK)
			rc = send_call(s, it, &body, res);
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
	if ((rc = msgr_call_pace(s->calls, s->pacer)) != MSGR_OK)
		return rc;
	if ((rc = msgr_call_make(s->calls, &call, res)) != MSGR_OK)
		return rc;
	/* owner NULL (a take): the thread is this connector's app's again. */
	return msgr_conversation_owner(s->st, s->conn, ev->page_id, ev->user_id, owner);
}
