/* calls.c — a worker's Graph API call to the client or to the hook in its place (calls.h). */
#include "calls.h"

/* The call itself, to the hook or the client. */
static msgr_result
call_out(const struct msgr_caller *c, const struct msgr_call *call,
    struct msgr_graph_result *res)
{
	const struct msgr_connector *cn = call->conn;
	struct msgr_graph_auth a = { cn->call_token, cn->secret, cn->proof };

	if (c->hook != NULL)
		return c->hook(c->arg, call, res);
	if (c->g == NULL)
		return MSGR_ERR_INVALID;
	switch (call->kind) {
	case MSGR_CALL_SEND:
		return msgr_graph_send(c->g, &a, call->body, res);
	case MSGR_CALL_PASS_THREAD:
		return msgr_graph_pass_thread_control(c->g, &a, call->psid, call->target,
		    call->metadata, res);
	case MSGR_CALL_TAKE_THREAD:
		return msgr_graph_take_thread_control(c->g, &a, call->psid, call->metadata, res);
	case MSGR_CALL_UPLOAD:
		return msgr_graph_upload_attachment(c->g, &a, call->type, call->url, res);
	case MSGR_CALL_PROFILE:
		return msgr_graph_profile(c->g, &a, call->psid,
		    (const char *const *)cn->profile_fields, cn->n_profile_fields, res);
	}
	return MSGR_ERR_INVALID;
}

/* 1 when call must not leave before what preceded it is durable: a message (its in-flight
 * mark) and a thread action, which must not go twice. A sender action, a profile read or an
 * upload may go again after a rollback without harm. */
static int
goes_once(const struct msgr_call *call)
{
	switch (call->kind) {
	case MSGR_CALL_SEND:
		return json_object_get(call->body, "sender_action") == NULL;
	case MSGR_CALL_PASS_THREAD:
	case MSGR_CALL_TAKE_THREAD:
		return 1;
	case MSGR_CALL_UPLOAD:
	case MSGR_CALL_PROFILE:
		return 0;
	}
	return 1;
}

msgr_result
msgr_call_make(const struct msgr_caller *c, const struct msgr_call *call,
    struct msgr_graph_result *res)
{
	msgr_result rc;

	/* Nothing that must go once goes to Facebook while a rollback could still take back
	 * what preceded it, and the store is left to the other threads during the call. */
	rc = goes_once(call) ? msgr_store_pause(c->st) : msgr_store_step_aside(c->st);
	if (rc == MSGR_OK)
		rc = call_out(c, call, res);
	msgr_store_resume(c->st);
	return rc;
}

msgr_result
msgr_call_pace(const struct msgr_caller *c, struct msgr_pacer *p)
{
	long long wait = msgr_pacer_take(p);
	msgr_result rc;

	if (wait <= 0)
		return MSGR_OK;
	if ((rc = msgr_store_step_aside(c->st)) == MSGR_OK)
		msgr_pacer_sleep(wait);
	msgr_store_resume(c->st);
	return rc;
}
