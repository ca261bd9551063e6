/* Unit tests: payload shapes captured from real traffic (by this and other connectors) are
 * stored, never quarantined (docs/events.md "Liberal in what it accepts"): unknown
 * attachment types, unknown fields, empty postbacks, string app ids, app_roles without a
 * sender, a sticker with reply_to, and an empty attachment object beside a readable text.
 * Each fixture is tests/data/webhook/captured_*.json. */
#include "unit.h"

#include "event.h"
#include "webhook.h"

#define PAGE "1234567890123456"
#define USER "2345678901234567"

/* Parses fixture; every event must come out, none set aside. */
static void
parse_all(const char *name, size_t n_events, struct msgr_webhook_batch *b)
{
	char why[256] = "";
	size_t len;
	char *body = unit_fixture("webhook", name, &len);

	if (msgr_webhook_parse(body, len, NULL, b, why, sizeof(why)) != MSGR_OK)
		fail_msg("%s: %s", name, why);
	free(body);
	if (b->n_rejects != 0)
		fail_msg("%s: set aside: %s", name, b->rejects[0].reason);
	if (b->n_events != n_events)
		fail_msg("%s: %zu events, want %zu", name, b->n_events, n_events);
}

static void
test_unknown_attachment_types(void **state)
{
	struct msgr_webhook_batch b;
	const struct msgr_event *e;

	(void)state;
	parse_all("captured_unknown_attachment.json", 1, &b);
	e = &b.events[0];
	assert_int_equal(e->kind, MSGR_EVENT_MESSAGE);
	assert_int_equal(e->n_attachments, 3);
	assert_int_equal(e->attachments[0].type, MSGR_ATT_UNKNOWN);
	assert_string_equal(e->attachments[0].type_name, "story_mention");
	assert_non_null(strstr(e->attachments[0].url, "asset_id=1"));
	assert_string_equal(e->attachments[1].type_name, "ig_story");
	assert_string_equal(e->attachments[2].type_name, "unsupported_type");
	assert_null(e->attachments[2].url);
	msgr_webhook_batch_free(&b);
}

static void
test_unknown_fields(void **state)
{
	struct msgr_webhook_batch b;

	(void)state;
	parse_all("captured_unknown_fields.json", 1, &b);
	assert_int_equal(b.events[0].kind, MSGR_EVENT_MESSAGE);
	assert_string_equal(b.events[0].text, "bonjour");
	assert_string_equal(b.events[0].user_id, USER);
	/* kept whole for the bot (raw) */
	assert_non_null(json_object_get(json_object_get(b.events[0].raw, "message"), "nlp"));
	msgr_webhook_batch_free(&b);
}

static void
test_empty_postbacks(void **state)
{
	struct msgr_webhook_batch b;
	size_t i;

	(void)state;
	parse_all("captured_postback_empty.json", 3, &b);
	for (i = 0; i < 3; i++) {
		assert_int_equal(b.events[i].kind, MSGR_EVENT_POSTBACK);
		assert_string_equal(b.events[i].user_id, USER);
	}
	assert_null(b.events[0].payload);
	assert_string_equal(b.events[1].mid, "m_capt_pb_mid");
	assert_string_equal(b.events[2].payload, "");
	/* three events, three keys: none taken for a duplicate of another */
	assert_string_not_equal(b.events[0].key, b.events[1].key);
	assert_string_not_equal(b.events[1].key, b.events[2].key);
	msgr_webhook_batch_free(&b);
}

static void
test_string_app_ids(void **state)
{
	struct msgr_webhook_batch b;

	(void)state;
	parse_all("captured_string_app_ids.json", 2, &b);
	assert_int_equal(b.events[0].kind, MSGR_EVENT_ECHO);
	assert_string_equal(b.events[0].app_id, "1517776481860111");
	assert_int_equal(b.events[1].kind, MSGR_EVENT_PASS_THREAD_CONTROL);
	assert_string_equal(b.events[1].new_owner_app_id, "263902037430900");
	assert_string_equal(b.events[1].previous_owner_app_id, "1517776481860111");
	msgr_webhook_batch_free(&b);
}

static void
test_app_roles_without_sender(void **state)
{
	struct msgr_webhook_batch b;

	(void)state;
	parse_all("captured_app_roles.json", 1, &b);
	assert_int_equal(b.events[0].kind, MSGR_EVENT_APP_ROLES);
	assert_string_equal(b.events[0].user_id, "");
	assert_string_equal(b.events[0].page_id, PAGE);
	msgr_webhook_batch_free(&b);
}

static void
test_sticker_with_reply_to(void **state)
{
	struct msgr_webhook_batch b;
	const struct msgr_event *e;

	(void)state;
	parse_all("captured_sticker_reply.json", 1, &b);
	e = &b.events[0];
	assert_int_equal(e->kind, MSGR_EVENT_MESSAGE);
	assert_string_equal(e->sticker_id, "369239263222822");
	assert_string_equal(e->reply_to_mid, "m_capt_original");
	assert_int_equal(e->n_attachments, 1);
	assert_string_equal(e->attachments[0].sticker_id, "369239263222822");
	msgr_webhook_batch_free(&b);
}

/* "attachments":[{}] beside a text: the text is read, the attachment kept as an unknown
 * one; the message is not set aside whole. */
static void
test_empty_attachment_object(void **state)
{
	struct msgr_webhook_batch b;
	const struct msgr_event *e;

	(void)state;
	parse_all("captured_empty_attachment.json", 1, &b);
	e = &b.events[0];
	assert_int_equal(e->kind, MSGR_EVENT_MESSAGE);
	assert_string_equal(e->mid, "m_capt_empty_att");
	assert_string_equal(e->text, "hello there");
	assert_int_equal(e->n_attachments, 1);
	assert_int_equal(e->attachments[0].type, MSGR_ATT_UNKNOWN);
	assert_string_equal(e->attachments[0].type_name, "unknown");
	assert_null(e->attachments[0].url);
	msgr_webhook_batch_free(&b);
}

/* Attachments of other unreadable shapes fare the same: what can be read is kept. */
static void
test_unreadable_attachments(void **state)
{
	static const char *const atts[] = {
		"{}", "\"image\"", "[null]", "[\"image\"]", "[{\"type\":7}]", "[{\"payload\":{}}]",
		"[{\"type\":\"image\",\"payload\":3}]",
		"[{\"type\":\"image\",\"payload\":{\"url\":[]}}]",
		"[{\"type\":\"location\",\"payload\":{\"coordinates\":{\"lat\":\"x\"}}}]",
		"[{\"type\":\"location\",\"payload\":{\"coordinates\":{\"lat\":91,\"long\":2}}}]",
		"[{\"type\":\"sticker\",\"payload\":{\"sticker_id\":1.5}}]",
		"[{}, {\"type\":\"image\",\"payload\":{\"url\":\"https://x.example/i.png\"}}]",
	};
	char body[1024], why[256];
	struct msgr_webhook_batch b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(atts) / sizeof(atts[0]); i++) {
		snprintf(body, sizeof(body), "{\"object\":\"page\",\"entry\":[{\"id\":\"" PAGE "\","
		    "\"time\":1,\"messaging\":[{\"sender\":{\"id\":\"" USER "\"},\"recipient\":"
		    "{\"id\":\"" PAGE "\"},\"timestamp\":5,\"message\":{\"mid\":\"m_%zu\","
		    "\"text\":\"still here\",\"attachments\":%s}}]}]}", i, atts[i]);
		if (msgr_webhook_parse(body, strlen(body), NULL, &b, why, sizeof(why)) != MSGR_OK)
			fail_msg("%s: %s", atts[i], why);
		if (b.n_events != 1 || b.n_rejects != 0)
			fail_msg("%s: %zu events, %zu set aside (%s)", atts[i], b.n_events,
			    b.n_rejects, b.n_rejects ? b.rejects[0].reason : "");
		assert_string_equal(b.events[0].text, "still here");
		assert_int_equal(b.events[0].attachments[0].type, MSGR_ATT_UNKNOWN);
		msgr_webhook_batch_free(&b);
	}
	/* the readable attachment beside the empty one keeps its type and url */
	assert_true(msgr_webhook_parse(body, strlen(body), NULL, &b, why, sizeof(why)) == MSGR_OK);
	assert_int_equal(b.events[0].n_attachments, 2);
	assert_int_equal(b.events[0].attachments[1].type, MSGR_ATT_IMAGE);
	assert_string_equal(b.events[0].attachments[1].url, "https://x.example/i.png");
	msgr_webhook_batch_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_attachment_types),
		cmocka_unit_test(test_unknown_fields),
		cmocka_unit_test(test_empty_postbacks),
		cmocka_unit_test(test_string_app_ids),
		cmocka_unit_test(test_app_roles_without_sender),
		cmocka_unit_test(test_sticker_with_reply_to),
		cmocka_unit_test(test_empty_attachment_object),
		cmocka_unit_test(test_unreadable_attachments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
