/* calls.c — a worker's Graph API call to the client or to the hook in its place (calls.h). */
#include "calls.h"

/* The call itself, to the hook or the client. */
static msgr_result
call_out(const struct msgr_caller *c, const struct msgr_call *call,
    struct msgr_graph_result *res)
{
	const struct msgr_connector *cn = call->conn;
	struct msgr_graph_auth a = { cn->call_token, cn->secret };

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

msgr_result
msgr_call_make(const struct msgr_caller *c, const struct msgr_call *call,
    struct msgr_graph_result *res)
{
	msgr_result rc;

	/* Nothing goes to Facebook that a rollback could still take back, and the store is
	 * left to the other threads during the call (msgr_store_pause). */
	if ((rc = msgr_store_pause(c->st)) == MSGR_OK)
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
	if ((rc = msgr_store_pause(c->st)) == MSGR_OK)
		msgr_pacer_sleep(wait);
	msgr_store_resume(c->st);
	return rc;
}
