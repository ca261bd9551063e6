/* calls.c — a worker's Graph API call to the client or to the hook in its place (calls.h). */
#include "calls.h"

msgr_result
msgr_call_make(const struct msgr_caller *c, const struct msgr_call *call,
    struct msgr_graph_result *res)
{
	const struct msgr_connector *cn = call->conn;
	struct msgr_graph_auth a = { cn->call_token, cn->secret };
	msgr_result rc;

	if (c->st != NULL && (rc = msgr_store_flush(c->st)) != MSGR_OK)
		return rc;
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
