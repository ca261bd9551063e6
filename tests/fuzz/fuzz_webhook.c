/* fuzz_webhook — libFuzzer target for the webhook and event parsers.
 *
 * Any byte string is a possible signed body. Parsing must never crash, leak or hang, and what
 * it returns must hold together: an error leaves an empty batch and a reason; events carry a
 * known kind, a digits-only page, a 64-hex key; an event written out for storage and read
 * back is the same event with the same key; parsing is deterministic. A broken invariant
 * aborts, which libFuzzer (and tests/fuzz/driver.c) report as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_webhook: invariant failed at line %d: %s\n", __LINE__, #cond); \
		abort(); \
	} \
} while (0)

static int
digits(const char *s, int allow_empty)
{
	if (*s == '\0')
		return allow_empty;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static void
check_event(const struct msgr_event *ev)
{
	struct msgr_event back;
	char why[200], *text = NULL;
	size_t i;
	msgr_result rc;

	CHECK((int)ev->kind >= 0 && ev->kind < MSGR_EVENT_KIND_COUNT);
	CHECK(msgr_event_kind_parse(msgr_event_kind_name(ev->kind)) == (int)ev->kind);
	CHECK(ev->raw != NULL && json_is_object(ev->raw));
	CHECK(digits(ev->page_id, 0));
	CHECK(digits(ev->user_id, 1));
	CHECK(strlen(ev->key) == 64);
	for (i = 0; i < 64; i++)
		CHECK((ev->key[i] >= '0' && ev->key[i] <= '9') || (ev->key[i] >= 'a' && ev->key[i] <= 'f'));
	CHECK(ev->n_attachments <= MSGR_MAX_ATTACHMENTS);
	CHECK((ev->n_attachments == 0) == (ev->attachments == NULL));
	CHECK(ev->timestamp >= 0 && ev->watermark >= 0 && ev->num_edit >= 0);
	if (ev->mid != NULL)
		CHECK(strlen(ev->mid) <= MSGR_MAX_MID_LEN);
	if (ev->text != NULL)
		CHECK(strlen(ev->text) <= MSGR_MAX_TEXT_BYTES);
	if (ev->kind == MSGR_EVENT_MESSAGE || ev->kind == MSGR_EVENT_ECHO ||
	    ev->kind == MSGR_EVENT_MESSAGE_EDIT || ev->kind == MSGR_EVENT_REACTION)
		CHECK(ev->mid != NULL);
	if (ev->kind == MSGR_EVENT_UNKNOWN && ev->kind_key != NULL)
		CHECK(strlen(ev->kind_key) <= MSGR_MAX_KEY_LEN);
	for (i = 0; i < ev->n_delivery_mids; i++)
		CHECK(msgr_event_delivery_mid(ev, i) != NULL);
	if (ev->standby)
		CHECK(!msgr_event_answerable(ev));

	/* stored and read back: the same event */
	rc = msgr_event_raw_text(ev, &text);
	if (rc == MSGR_ERR_NOMEM)
		return;
	CHECK(rc == MSGR_OK && text != NULL);
	rc = msgr_event_parse_text(text, strlen(text), ev->page_id, ev->standby, &back, why,
	    sizeof(why));
	free(text);
	if (rc == MSGR_ERR_NOMEM)
		return;
	CHECK(rc == MSGR_OK);
	CHECK(back.kind == ev->kind);
	CHECK(strcmp(back.key, ev->key) == 0);
	CHECK(strcmp(back.user_id, ev->user_id) == 0);
	CHECK(back.timestamp == ev->timestamp);
	CHECK(back.n_attachments == ev->n_attachments);
	msgr_event_clear(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgr_webhook_batch b, again;
	struct msgr_event ev;
	char why[200], why2[200];
	msgr_result rc, rc2;
	size_t i;

	why[0] = '\0';
	rc = msgr_webhook_parse((const char *)data, size, NULL, &b, why, sizeof(why));
	CHECK(rc == MSGR_OK || rc == MSGR_ERR_PARSE || rc == MSGR_ERR_TOOBIG ||
	    rc == MSGR_ERR_NOMEM);
	if (rc != MSGR_OK) {
		CHECK(why[0] != '\0');
		CHECK(b.n_events == 0 && b.events == NULL && b.n_rejects == 0 && b.rejects == NULL);
	} else {
		CHECK(b.n_events <= MSGR_MAX_EVENTS_PER_BODY);
		if (strcmp(b.object, "page") != 0)
			CHECK(b.n_events == 0 && b.n_rejects == 0);
		for (i = 0; i < b.n_events; i++)
			check_event(&b.events[i]);
		for (i = 0; i < b.n_rejects; i++) {
			CHECK(b.rejects[i].raw != NULL);
			CHECK(b.rejects[i].reason[0] != '\0');
			CHECK(strchr(b.rejects[i].reason, '\n') == NULL);
			CHECK(digits(b.rejects[i].page_id, 1));
		}
	}

	/* deterministic: the same bytes give the same answer and the same keys */
	rc2 = msgr_webhook_parse((const char *)data, size, NULL, &again, why2, sizeof(why2));
	if (rc != MSGR_ERR_NOMEM && rc2 != MSGR_ERR_NOMEM) {
		CHECK(rc2 == rc);
		CHECK(strcmp(why, why2) == 0);
		CHECK(again.n_events == b.n_events && again.n_rejects == b.n_rejects);
		for (i = 0; i < b.n_events; i++)
			CHECK(strcmp(again.events[i].key, b.events[i].key) == 0);
	}
	msgr_webhook_batch_free(&again);
	msgr_webhook_batch_free(&b);

	/* the same bytes as one stored event */
	rc = msgr_event_parse_text((const char *)data, size, "1", 0, &ev, why, sizeof(why));
	CHECK(rc == MSGR_OK || rc == MSGR_ERR_PARSE || rc == MSGR_ERR_TOOBIG ||
	    rc == MSGR_ERR_NOMEM);
	if (rc == MSGR_OK)
		check_event(&ev);
	else
		CHECK(ev.raw == NULL);
	msgr_event_clear(&ev);
	return 0;
}
