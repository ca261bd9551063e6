#include <stdlib.h>
#include <string.h>

#include "intake.h"

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
