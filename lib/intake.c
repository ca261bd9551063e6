/* intake.c — routing and the intake pipeline (intake.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake.h"
#include "limits.h"
#include "log.h"

static const struct msgr_connector *
route(const struct msgr_config *cfg, const struct msgr_connector *via, const char *page_id)
{
	if (page_id == NULL || page_id[0] == '\0')
		return NULL;
	return msgr_config_by_page(cfg, via->app_id, page_id);
}

static void
drop(struct msgr_intake *in, const char *page)
{
	in->dropped++;
	if (in->dropped_page == NULL)
		in->dropped_page = page;
}

msgr_result
msgr_intake_route(const struct msgr_config *cfg, const struct msgr_connector *via,
    const struct msgr_webhook_batch *b, struct msgr_intake *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	if (b->n_events > 0) {
		out->events = calloc(b->n_events, sizeof(*out->events));
		out->raw_buf = calloc(b->n_events, sizeof(*out->raw_buf));
		out->conv_buf = calloc(b->n_events, sizeof(*out->conv_buf));
		if (out->events == NULL || out->raw_buf == NULL || out->conv_buf == NULL)
			return MSGR_ERR_NOMEM;
		out->cap = b->n_events;
	}
	if (b->n_rejects > 0 &&
	    (out->quarantine = calloc(b->n_rejects, sizeof(*out->quarantine))) == NULL)
		return MSGR_ERR_NOMEM;
	for (i = 0; i < b->n_events; i++) {
		const struct msgr_event *e = &b->events[i];
		const struct msgr_connector *to = route(cfg, via, e->page_id);
		struct msgr_store_event *row = &out->events[out->n_events];

		if (to == NULL) {
			drop(out, e->page_id);
			continue;
		}
		if (e->kind == MSGR_EVENT_UNKNOWN && out->n_unknown++ == 0)
			out->unknown_key = e->kind_key;
		/* The messaging object as parsed; the signature was checked on the raw body. */
		if (msgr_event_raw_text(e, &out->raw_buf[out->n_events]) != MSGR_OK)
			return MSGR_ERR_NOMEM;
		msgr_event_conversation(e, out->conv_buf[out->n_events]);
		row->connector_id = to->id;
		row->page_id = e->page_id;
		row->user_id = out->conv_buf[out->n_events];
		row->kind = (int)e->kind;
		row->standby = e->standby;
		row->timestamp = e->timestamp;
		row->key = e->key;
		row->raw = out->raw_buf[out->n_events];
		out->n_events++;
	}
	for (i = 0; i < b->n_rejects; i++) {
		const struct msgr_webhook_reject *rj = &b->rejects[i];
		const struct msgr_connector *to = via;
		struct msgr_store_quarantine *row = &out->quarantine[out->n_quarantine];

		/* A malformed event of a page outside the app is dropped like a good one. */
		if (rj->page_id[0] != '\0' && (to = route(cfg, via, rj->page_id)) == NULL) {
			drop(out, rj->page_id);
			continue;
		}
		row->connector_id = to->id;
		row->reason = rj->reason;
		row->raw = rj->raw ? rj->raw : "";
		row->raw_len = rj->raw ? strlen(rj->raw) : 0;
		out->n_quarantine++;
	}
	return MSGR_OK;
}

void
msgr_intake_free(struct msgr_intake *in)
{
	size_t i;

	if (in->raw_buf != NULL)
		for (i = 0; i < in->cap; i++)
			free(in->raw_buf[i]);
	free(in->raw_buf);
	free(in->conv_buf);
	free(in->events);
	free(in->quarantine);
	memset(in, 0, sizeof(*in));
}

msgr_result
msgr_intake_store(void *st, const struct msgr_intake *rows, size_t *n_new, size_t *n_dup)
{
	return msgr_store_enqueue(st, rows->events, rows->n_events, rows->quarantine,
	    rows->n_quarantine, n_new, n_dup);
}

/* The store step, skipped when there is nothing to store (no transaction for a verification
 * flood or a body of foreign pages) or on a dry run. */
static msgr_result
store_rows(const struct msgr_intake_call *call, const struct msgr_intake *rows,
    struct msgr_intake_result *res)
{
	size_t n_new = 0, n_dup = 0;
	msgr_result rc;

	res->step = MSGR_INTAKE_STORE;
	res->routed = rows->n_events;
	if ((rows->n_events == 0 && rows->n_quarantine == 0) || call->store == NULL)
		return MSGR_OK;
	if ((rc = call->store(call->store_arg, rows, &n_new, &n_dup)) != MSGR_OK)
		return rc;
	res->stored = n_new;
	res->duplicates = n_dup;
	res->quarantined = rows->n_quarantine;
	return MSGR_OK;
}

/* What routing set aside, for the log (one line each, not one per event). */
static void
log_routing(const struct msgr_connector *via, const struct msgr_intake *in)
{
	if (in->dropped_page != NULL) {
		char esc[MSGR_MAX_ID_LEN * 4 + 8];

		msgr_log(MSGR_LOG_WARN, "connector %s: dropped %zu events of pages outside app %s"
		    " (first: page \"%s\")", via->id, in->dropped, via->app_id,
		    msgr_log_escape(esc, sizeof(esc), in->dropped_page, strlen(in->dropped_page)));
	}
	if (in->n_unknown > 0) {
		char esc[96];
		const char *k = in->unknown_key ? in->unknown_key : "";

		msgr_log(MSGR_LOG_WARN, "connector %s: kept %zu events of unknown kind (first key"
		    " \"%s\")", via->id, in->n_unknown, msgr_log_escape(esc, sizeof(esc), k,
		    strlen(k)));
	}
}

/* A body that is not a webhook is kept whole with its reason, never refused: a 4xx would get
 * the webhook disabled by Facebook (docs/responder.md "Answers"). */
static msgr_result
quarantine_body(const struct msgr_intake_call *call, const char *body, size_t len,
    struct msgr_intake_result *res)
{
	struct msgr_store_quarantine q;
	struct msgr_intake rows;

	res->kind = MSGR_INTAKE_NOT_WEBHOOK;
	if (call->flags & MSGR_INTAKE_WHOLE) {
		res->refused = 1;
		return MSGR_OK;
	}
	memset(&rows, 0, sizeof(rows));
	q.connector_id = call->via->id;
	q.reason = res->why;
	q.raw = body;
	q.raw_len = len;
	rows.quarantine = &q;
	rows.n_quarantine = 1;
	return store_rows(call, &rows, res);
}

msgr_result
msgr_intake_body(const struct msgr_intake_call *call, const char *body, size_t len,
    struct msgr_intake_result *res)
{
	struct msgr_webhook_limits deflim;
	struct msgr_webhook_batch b;
	struct msgr_intake in;
	msgr_result rc;

	memset(res, 0, sizeof(*res));
	memset(&b, 0, sizeof(b));
	memset(&in, 0, sizeof(in));
	if (call->lim == NULL)
		msgr_webhook_limits_default(&deflim);
	rc = msgr_webhook_parse(body, len, call->lim ? call->lim : &deflim, &b, res->why,
	    sizeof(res->why));
	if (rc == MSGR_ERR_PARSE || rc == MSGR_ERR_TOOBIG) {
		if (res->why[0] == '\0')
			snprintf(res->why, sizeof(res->why), "%s", msgr_strerror(rc));
		rc = quarantine_body(call, body, len, res);
		goto out;
	}
	res->why[0] = '\0';
	if (rc != MSGR_OK)
		goto out;
	snprintf(res->object, sizeof(res->object), "%s", b.object);
	if (strcmp(b.object, "page") != 0) {
		res->kind = MSGR_INTAKE_OTHER_OBJECT;
		if (call->flags & MSGR_INTAKE_WHOLE) {
			snprintf(res->why, sizeof(res->why), "object \"%.20s\" is not a Messenger page",
			    b.object);
			res->refused = 1;
		}
		goto out;
	}
	res->kind = MSGR_INTAKE_WEBHOOK;
	if (b.n_rejects > 0 && (call->flags & MSGR_INTAKE_WHOLE)) {
		snprintf(res->why, sizeof(res->why), "%s", b.rejects[0].reason);
		res->refused = 1;
		goto out;
	}
	res->step = MSGR_INTAKE_ROUTE;
	if ((rc = msgr_intake_route(call->cfg, call->via, &b, &in)) != MSGR_OK)
		goto out;
	res->dropped = in.dropped;
	if (in.n_quarantine > 0)
		snprintf(res->why, sizeof(res->why), "%s", in.quarantine[0].reason);
	if (call->flags & MSGR_INTAKE_LOG)
		log_routing(call->via, &in);
	/* The rows borrow from the batch, alive until the store step has returned. */
	rc = store_rows(call, &in, res);
out:
	msgr_intake_free(&in);
	msgr_webhook_batch_free(&b);
	return rc;
}
