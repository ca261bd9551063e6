/* Unit tests: webhook (signed body -> batch of events and rejects, with bounds). */
#include "unit.h"
#include "webhook.h"

#define PAGE "1234567890123456"

static msgr_result
parse_file(const char *name, const struct msgr_webhook_limits *lim, struct msgr_webhook_batch *b,
    char *why, size_t whysz)
{
	size_t len;
	char *body = unit_fixture("webhook", name, &len);
	msgr_result rc;

	rc = msgr_webhook_parse(body, len, lim, b, why, whysz);
	/* the batch must not depend on the body's memory */
	memset(body, 'x', len);
	free(body);
	return rc;
}

/* One realistic payload per kind: exactly one event of that kind, no reject. */
static void
test_every_kind(void **state)
{
	static const struct {
		const char *file;
		enum msgr_event_kind kind;
		int standby;
	} cases[] = {
		{ "message_text.json", MSGR_EVENT_MESSAGE, 0 },
		{ "message_reply.json", MSGR_EVENT_MESSAGE, 0 },
		{ "message_unicode.json", MSGR_EVENT_MESSAGE, 0 },
		{ "message_brackets.json", MSGR_EVENT_MESSAGE, 0 },
		{ "message_attachments.json", MSGR_EVENT_MESSAGE, 0 },
		{ "message_sticker.json", MSGR_EVENT_MESSAGE, 0 },
		{ "message_fallback.json", MSGR_EVENT_MESSAGE, 0 },
		{ "message_post.json", MSGR_EVENT_MESSAGE, 0 },
		{ "message_appointment.json", MSGR_EVENT_MESSAGE, 0 },
		{ "message_location.json", MSGR_EVENT_MESSAGE, 0 },
		{ "message_prior.json", MSGR_EVENT_MESSAGE, 0 },
		{ "message_referral.json", MSGR_EVENT_MESSAGE, 0 },
		{ "echo.json", MSGR_EVENT_ECHO, 0 },
		{ "echo_inbox.json", MSGR_EVENT_ECHO, 1 },
		{ "postback.json", MSGR_EVENT_POSTBACK, 0 },
		{ "postback_standby.json", MSGR_EVENT_POSTBACK, 1 },
		{ "referral.json", MSGR_EVENT_REFERRAL, 0 },
		{ "referral_chat_plugin.json", MSGR_EVENT_REFERRAL, 0 },
		{ "optin.json", MSGR_EVENT_OPTIN, 0 },
		{ "optin_checkbox.json", MSGR_EVENT_OPTIN, 0 },
		{ "optin_otn.json", MSGR_EVENT_OPTIN, 0 },
		{ "optin_notification_messages.json", MSGR_EVENT_OPTIN, 0 },
		{ "delivery.json", MSGR_EVENT_DELIVERY, 0 },
		{ "read.json", MSGR_EVENT_READ, 0 },
		{ "reaction.json", MSGR_EVENT_REACTION, 0 },
		{ "reaction_unreact.json", MSGR_EVENT_REACTION, 0 },
		{ "message_edit.json", MSGR_EVENT_MESSAGE_EDIT, 0 },
		{ "account_linking.json", MSGR_EVENT_ACCOUNT_LINKING, 0 },
		{ "account_unlinking.json", MSGR_EVENT_ACCOUNT_LINKING, 0 },
		{ "policy_enforcement.json", MSGR_EVENT_POLICY_ENFORCEMENT, 0 },
		{ "pass_thread_control.json", MSGR_EVENT_PASS_THREAD_CONTROL, 0 },
		{ "take_thread_control.json", MSGR_EVENT_TAKE_THREAD_CONTROL, 0 },
		{ "request_thread_control.json", MSGR_EVENT_REQUEST_THREAD_CONTROL, 0 },
		{ "app_roles.json", MSGR_EVENT_APP_ROLES, 0 },
		{ "prior_message.json", MSGR_EVENT_PRIOR_MESSAGE, 0 },
		{ "unknown.json", MSGR_EVENT_UNKNOWN, 0 },
	};
	struct msgr_webhook_batch b;
	char why[200];
	size_t i;
	int seen[MSGR_EVENT_KIND_COUNT] = { 0 };

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse_file(cases[i].file, NULL, &b, why, sizeof(why)) != MSGR_OK)
			fail_msg("%s: %s", cases[i].file, why);
		assert_string_equal(b.object, "page");
		if (b.n_events != 1 || b.n_rejects != 0)
			fail_msg("%s: %zu events, %zu rejects (%s)", cases[i].file, b.n_events,
			    b.n_rejects, b.n_rejects ? b.rejects[0].reason : "");
		assert_int_equal(b.events[0].kind, cases[i].kind);
		assert_int_equal(b.events[0].standby, cases[i].standby);
		assert_string_equal(b.events[0].page_id, PAGE);
		assert_int_equal(strlen(b.events[0].key), 64);
		seen[cases[i].kind] = 1;
		msgr_webhook_batch_free(&b);
		assert_null(b.events);
		assert_int_equal(b.n_events, 0);
	}
	/* every kind has its fixture */
	for (i = 0; i < MSGR_EVENT_KIND_COUNT; i++)
		if (!seen[i])
			fail_msg("no fixture for kind %s", msgr_event_kind_name((enum msgr_event_kind)i));
}

/* Events keep body order across entries, pages and arrays (standby written first here). */
static void
test_batch_order(void **state)
{
	struct msgr_webhook_batch b;
	char why[200];

	(void)state;
	assert_int_equal(parse_file("batch.json", NULL, &b, why, sizeof(why)), MSGR_OK);
	assert_int_equal(b.n_events, 4);
	assert_int_equal(b.n_rejects, 0);
	assert_int_equal(b.events[0].kind, MSGR_EVENT_MESSAGE);
	assert_string_equal(b.events[0].mid, "m_batch0001");
	assert_string_equal(b.events[0].page_id, PAGE);
	assert_int_equal(b.events[1].kind, MSGR_EVENT_READ);
	assert_int_equal(b.events[2].kind, MSGR_EVENT_MESSAGE);
	assert_int_equal(b.events[2].standby, 1);
	assert_string_equal(b.events[2].mid, "m_batch0002");
	/* entry id as a bare JSON number */
	assert_string_equal(b.events[2].page_id, "7777777777777777");
	assert_int_equal(b.events[3].kind, MSGR_EVENT_POSTBACK);
	assert_int_equal(b.events[3].standby, 0);
	assert_string_equal(b.events[3].payload, "MENU");
	assert_string_equal(b.events[3].page_id, "7777777777777777");
	msgr_webhook_batch_free(&b);
}

/* Valid events beside malformed ones and malformed entries: all valid ones kept, in order,
 * every bad part set aside with its reason and page. */
static void
test_mixed(void **state)
{
	static const struct {
		const char *page, *reason;
	} want[] = {
		{ PAGE, "entry[0].messaging[1]: message.mid: not a string" },
		{ PAGE, "entry[0].messaging[2]: message.mid: is null" },
		{ PAGE, "entry[0].messaging[3]: timestamp: not an integer" },
		{ PAGE, "entry[0].messaging[4]: sender.id: not an id of digits" },
		{ PAGE, "entry[0].messaging[5]: message.text: not a string" },
		{ PAGE, "entry[0].messaging[6]: reaction.action: neither react nor unreact" },
		{ PAGE, "entry[0].messaging[7]: message.text: longer than 65536 bytes" },
		{ PAGE, "entry[0].messaging[8]: event: not an object" },
		{ PAGE, "entry[0].messaging[9]: message_edit.num_edit: missing" },
		{ PAGE, "entry[0].messaging[10]: message: no sender.id or user_ref" },
		{ "", "entry[1]: id not a page id" },
		{ "", "entry[2]: id missing" },
		{ "", "entry[3]: not an object" },
		{ PAGE, "entry[4]: no messaging or standby array" },
		{ PAGE, "entry[5].messaging: not an array" },
	};
	struct msgr_webhook_batch b;
	char why[200];
	json_t *j;
	size_t i;

	(void)state;
	assert_int_equal(parse_file("mixed.json", NULL, &b, why, sizeof(why)), MSGR_OK);
	assert_int_equal(b.n_events, 3);
	assert_string_equal(b.events[0].mid, "m_mixed_ok1");
	assert_string_equal(b.events[1].mid, "m_mixed_ok2");
	assert_string_equal(b.events[2].mid, "m_mixed_ok3");
	assert_int_equal(b.events[2].standby, 1);
	assert_int_equal(b.n_rejects, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < b.n_rejects; i++) {
		if (strncmp(b.rejects[i].reason, want[i].reason, strlen(want[i].reason)) != 0)
			fail_msg("reject %zu: \"%s\", want \"%s\"", i, b.rejects[i].reason,
			    want[i].reason);
		assert_string_equal(b.rejects[i].page_id, want[i].page);
		/* the part itself, as compact JSON on one line */
		assert_non_null(b.rejects[i].raw);
		assert_null(strchr(b.rejects[i].raw, '\n'));
		j = json_loads(b.rejects[i].raw, JSON_DECODE_ANY, NULL);
		assert_non_null(j);
		json_decref(j);
	}
	assert_string_equal(b.rejects[7].raw, "\"not an object\"");
	assert_non_null(strstr(b.rejects[1].raw, "\"mid\":null"));
	msgr_webhook_batch_free(&b);
	assert_null(b.rejects);
}

/* Whole bodies that are not a webhook: *out stays empty, why says why. */
static void
test_not_a_webhook(void **state)
{
	static const struct {
		const char *file;
		msgr_result rc;
		const char *why;
	} cases[] = {
		{ "bad_empty.json", MSGR_ERR_PARSE, "empty body" },
		{ "bad_not_json.json", MSGR_ERR_PARSE, "not JSON" },
		{ "bad_truncated.json", MSGR_ERR_PARSE, "not JSON" },
		{ "bad_nul_escape.json", MSGR_ERR_PARSE, "not JSON" },
		{ "bad_nul_byte.json", MSGR_ERR_PARSE, "not JSON" },
		{ "bad_utf8.json", MSGR_ERR_PARSE, "not JSON" },
		{ "bad_surrogate.json", MSGR_ERR_PARSE, "not JSON" },
		{ "bad_duplicate_keys.json", MSGR_ERR_PARSE, "duplicate" },
		{ "bad_deep.json", MSGR_ERR_TOOBIG, "nested deeper than 32" },
		{ "bad_not_object.json", MSGR_ERR_PARSE, "body: not a JSON object" },
		{ "bad_no_entry.json", MSGR_ERR_PARSE, "body: \"entry\" missing" },
		{ "bad_entry_type.json", MSGR_ERR_PARSE, "body: \"entry\" not an array" },
		{ "bad_object_type.json", MSGR_ERR_PARSE, "body: \"object\" not a string" },
		{ "bad_too_many_entries.json", MSGR_ERR_TOOBIG, "body: more than 1000 entries" },
		{ "bad_too_many_events_entry.json", MSGR_ERR_TOOBIG, "entry[0]: more than 1000 events" },
		{ "bad_too_many_events_body.json", MSGR_ERR_TOOBIG, "body: more than 1000 events" },
	};
	struct msgr_webhook_batch b;
	char why[200];
	msgr_result rc;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = parse_file(cases[i].file, NULL, &b, why, sizeof(why));
		if (rc != cases[i].rc || strstr(why, cases[i].why) == NULL)
			fail_msg("%s: %s (%s), want %s (%s)", cases[i].file, msgr_strerror(rc), why,
			    msgr_strerror(cases[i].rc), cases[i].why);
		assert_int_equal(b.n_events, 0);
		assert_int_equal(b.n_rejects, 0);
		assert_null(b.events);
		assert_null(b.rejects);
		msgr_webhook_batch_free(&b);   /* harmless on an empty batch */
	}
}

static void
test_other_object(void **state)
{
	struct msgr_webhook_batch b;
	char why[200];

	(void)state;
	assert_int_equal(parse_file("instagram.json", NULL, &b, why, sizeof(why)), MSGR_OK);
	assert_string_equal(b.object, "instagram");
	assert_int_equal(b.n_events, 0);
	assert_int_equal(b.n_rejects, 0);
	msgr_webhook_batch_free(&b);
	/* dropped whatever its shape */
	assert_int_equal(msgr_webhook_parse("{\"object\":\"user\"}", 17, NULL, &b, why, sizeof(why)),
	    MSGR_OK);
	assert_string_equal(b.object, "user");
	msgr_webhook_batch_free(&b);
	{
		static const char longobj[] =
		    "{\"object\":\"0123456789012345678901234567890123\",\"entry\":[]}";

		assert_int_equal(msgr_webhook_parse(longobj, strlen(longobj), NULL, &b, why,
		    sizeof(why)), MSGR_ERR_PARSE);
	}
	assert_non_null(strstr(why, "too long"));
}

/* An event over a per-event bound is one reject, not the whole body. */
static void
test_event_bound_rejects_event(void **state)
{
	struct msgr_webhook_batch b;
	char why[200];

	(void)state;
	assert_int_equal(parse_file("bad_too_many_attachments.json", NULL, &b, why, sizeof(why)),
	    MSGR_OK);
	assert_int_equal(b.n_events, 0);
	assert_int_equal(b.n_rejects, 1);
	assert_non_null(strstr(b.rejects[0].reason, "message.attachments: more than 32"));
	msgr_webhook_batch_free(&b);
}

static void
test_custom_limits(void **state)
{
	struct msgr_webhook_limits lim;
	struct msgr_webhook_batch b;
	char why[200];

	(void)state;
	msgr_webhook_limits_default(&lim);
	assert_int_equal(lim.max_depth, MSGR_MAX_JSON_DEPTH);
	assert_int_equal(lim.max_entries, MSGR_MAX_ENTRIES);
	assert_int_equal(lim.max_events_per_entry, MSGR_MAX_EVENTS_PER_ENTRY);
	assert_int_equal(lim.max_events, MSGR_MAX_EVENTS_PER_BODY);

	/* batch.json: 2 entries, 2 events each, 4 in all, 6 levels deep */
	lim.max_events = 4;
	assert_int_equal(parse_file("batch.json", &lim, &b, why, sizeof(why)), MSGR_OK);
	msgr_webhook_batch_free(&b);
	lim.max_events = 3;
	assert_int_equal(parse_file("batch.json", &lim, &b, why, sizeof(why)), MSGR_ERR_TOOBIG);
	assert_non_null(strstr(why, "more than 3 events"));
	msgr_webhook_limits_default(&lim);
	lim.max_events_per_entry = 1;
	assert_int_equal(parse_file("batch.json", &lim, &b, why, sizeof(why)), MSGR_ERR_TOOBIG);
	assert_non_null(strstr(why, "entry[0]: more than 1 events"));
	msgr_webhook_limits_default(&lim);
	lim.max_entries = 1;
	assert_int_equal(parse_file("batch.json", &lim, &b, why, sizeof(why)), MSGR_ERR_TOOBIG);
	msgr_webhook_limits_default(&lim);
	lim.max_depth = 5;
	assert_int_equal(parse_file("batch.json", &lim, &b, why, sizeof(why)), MSGR_ERR_TOOBIG);
	lim.max_depth = 6;
	assert_int_equal(parse_file("batch.json", &lim, &b, why, sizeof(why)), MSGR_OK);
	msgr_webhook_batch_free(&b);
	/* a zero bound means the default */
	memset(&lim, 0, sizeof(lim));
	assert_int_equal(parse_file("batch.json", &lim, &b, why, sizeof(why)), MSGR_OK);
	assert_int_equal(b.n_events, 4);
	msgr_webhook_batch_free(&b);
}

/* Facebook redelivers: the identical body gives identical keys; every key in a batch of
 * distinct events differs. */
static void
test_redelivery_keys(void **state)
{
	struct msgr_webhook_batch a, b;
	char why[200];
	size_t i, j;

	(void)state;
	assert_int_equal(parse_file("batch.json", NULL, &a, why, sizeof(why)), MSGR_OK);
	assert_int_equal(parse_file("batch.json", NULL, &b, why, sizeof(why)), MSGR_OK);
	assert_int_equal(a.n_events, b.n_events);
	for (i = 0; i < a.n_events; i++) {
		assert_string_equal(a.events[i].key, b.events[i].key);
		for (j = 0; j < i; j++)
			assert_string_not_equal(a.events[i].key, a.events[j].key);
	}
	msgr_webhook_batch_free(&a);
	msgr_webhook_batch_free(&b);

	/* the same message re-serialized (spacing, key order, \u escapes) is the same event */
	{
		static const char one[] = "{\"object\":\"page\",\"entry\":[{\"id\":\"1\",\"time\":1,"
		    "\"messaging\":[{\"sender\":{\"id\":\"2\"},\"recipient\":{\"id\":\"1\"},"
		    "\"timestamp\":3,\"message\":{\"mid\":\"m_\\u00e9\",\"text\":\"x\"}}]}]}";
		static const char two[] = "{ \"entry\": [ { \"messaging\": [ { \"message\": { \"text\": "
		    "\"x\", \"mid\": \"m_\xc3\xa9\" }, \"timestamp\": 3, \"sender\": { \"id\": 2 } } ],"
		    " \"id\": 1 } ], \"object\": \"page\" }";

		assert_int_equal(msgr_webhook_parse(one, strlen(one), NULL, &a, why, sizeof(why)),
		    MSGR_OK);
		assert_int_equal(msgr_webhook_parse(two, strlen(two), NULL, &b, why, sizeof(why)),
		    MSGR_OK);
		assert_int_equal(a.n_events, 1);
		assert_int_equal(b.n_events, 1);
		assert_string_equal(a.events[0].key, b.events[0].key);
		msgr_webhook_batch_free(&a);
		msgr_webhook_batch_free(&b);
	}
}

static void
test_args(void **state)
{
	struct msgr_webhook_batch b;
	char why[200];

	(void)state;
	assert_int_equal(msgr_webhook_parse(NULL, 3, NULL, &b, why, sizeof(why)), MSGR_ERR_INVALID);
	assert_int_equal(msgr_webhook_parse("{}", 2, NULL, NULL, why, sizeof(why)), MSGR_ERR_INVALID);
	assert_int_equal(msgr_webhook_parse(NULL, 0, NULL, &b, why, sizeof(why)), MSGR_ERR_PARSE);
	/* why may be absent */
	assert_int_equal(msgr_webhook_parse("{}", 2, NULL, &b, NULL, 0), MSGR_ERR_PARSE);
	/* an empty entry list is a valid webhook with nothing in it */
	assert_int_equal(msgr_webhook_parse("{\"object\":\"page\",\"entry\":[]}", 28, NULL, &b, why,
	    sizeof(why)), MSGR_OK);
	assert_int_equal(b.n_events, 0);
	assert_int_equal(b.n_rejects, 0);
	msgr_webhook_batch_free(&b);
	msgr_webhook_batch_free(NULL);
	msgr_webhook_limits_default(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_kind),
		cmocka_unit_test(test_batch_order),
		cmocka_unit_test(test_mixed),
		cmocka_unit_test(test_not_a_webhook),
		cmocka_unit_test(test_other_object),
		cmocka_unit_test(test_event_bound_rejects_event),
		cmocka_unit_test(test_custom_limits),
		cmocka_unit_test(test_redelivery_keys),
		cmocka_unit_test(test_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
