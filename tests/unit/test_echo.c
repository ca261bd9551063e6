/* Unit tests: the echo tag (lib/echo.h) a message carries in its metadata: built within
 * Facebook's 1000 characters with the bot's own metadata kept, parsed strictly (anything that
 * only looks like a tag stays the bot's), stripped before a bot sees it, put on a copy of a
 * Send API body and never on a sender action. */
#include "unit.h"

#include "echo.h"
#include "limits.h"

/* n copies of the UTF-8 character c (1 to 4 bytes), malloc'd. */
static char *
repeat(const char *c, size_t n)
{
	size_t len = strlen(c), i;
	char *s = malloc(n * len + 1);

	assert_non_null(s);
	for (i = 0; i < n; i++)
		memcpy(s + i * len, c, len);
	s[n * len] = '\0';
	return s;
}

static void
test_make(void **state)
{
	char out[MSGR_METADATA_MAX_CHARS * 4 + MSGR_ECHO_TAG_MAX + 1];

	(void)state;
	assert_int_equal(msgr_echo_tag_make(42, 1, NULL, out, sizeof(out)), MSGR_OK);
	assert_string_equal(out, "msgr:o=42:1");
	assert_int_equal(msgr_echo_tag_make(42, 3, "order=17", out, sizeof(out)), MSGR_OK);
	assert_string_equal(out, "msgr:o=42:3|order=17");
	/* The bot's metadata is kept whole, even when it looks like a tag itself. */
	assert_int_equal(msgr_echo_tag_make(7, 1, "msgr:o=9:9|x", out, sizeof(out)), MSGR_OK);
	assert_string_equal(out, "msgr:o=7:1|msgr:o=9:9|x");
	assert_int_equal(msgr_echo_tag_make(7, 1, "", out, sizeof(out)), MSGR_OK);
	assert_string_equal(out, "msgr:o=7:1|");
	assert_int_equal(msgr_echo_tag_make(999999999999999999LL, 999999999, "x", out,
	    sizeof(out)), MSGR_OK);
	assert_int_equal(strlen(out), MSGR_ECHO_TAG_MAX + 1);
	/* Beyond what a parse reads back. */
	assert_int_equal(msgr_echo_tag_make(1000000000000000000LL, 1, NULL, out, sizeof(out)),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_echo_tag_make(5, 1000000000, NULL, out, sizeof(out)),
	    MSGR_ERR_INVALID);
	/* Wrong arguments. */
	assert_int_equal(msgr_echo_tag_make(0, 1, NULL, out, sizeof(out)), MSGR_ERR_INVALID);
	assert_int_equal(msgr_echo_tag_make(-5, 1, NULL, out, sizeof(out)), MSGR_ERR_INVALID);
	assert_int_equal(msgr_echo_tag_make(5, 0, NULL, out, sizeof(out)), MSGR_ERR_INVALID);
	assert_int_equal(msgr_echo_tag_make(5, 1, "\xff\xfe", out, sizeof(out)), MSGR_ERR_INVALID);
	assert_int_equal(msgr_echo_tag_make(5, 1, NULL, NULL, 0), MSGR_ERR_INVALID);
	/* An output buffer too small is refused, never overrun. */
	assert_int_equal(msgr_echo_tag_make(42, 1, NULL, out, 5), MSGR_ERR_TOOBIG);
	assert_string_equal(out, "");
	assert_int_equal(msgr_echo_tag_make(42, 1, "abc", out, 14), MSGR_ERR_TOOBIG);
}

/* Facebook takes metadata under 1000 characters (code points, not bytes): the tag, the
 * separator and the bot's metadata must fit in 999. */
static void
test_make_bounds(void **state)
{
	char out[MSGR_METADATA_MAX_CHARS * 4 + MSGR_ECHO_TAG_MAX + 1];
	size_t tag = strlen("msgr:o=42:1|"), room = MSGR_METADATA_MAX_CHARS - 1 - tag;
	char *fits = repeat("a", room), *over = repeat("a", room + 1);
	char *wide = repeat("\xc3\xa9", room), *wide_over = repeat("\xf0\x9f\x98\x80", room + 1);

	(void)state;
	assert_int_equal(msgr_echo_tag_make(42, 1, fits, out, sizeof(out)), MSGR_OK);
	assert_int_equal(strlen(out), MSGR_METADATA_MAX_CHARS - 1);
	assert_int_equal(msgr_echo_tag_make(42, 1, over, out, sizeof(out)), MSGR_ERR_TOOBIG);
	/* é is two bytes and one character: as many fit as of "a". */
	assert_int_equal(msgr_echo_tag_make(42, 1, wide, out, sizeof(out)), MSGR_OK);
	assert_int_equal(msgr_echo_tag_make(42, 1, wide_over, out, sizeof(out)),
	    MSGR_ERR_TOOBIG);
	/* A longer id leaves less room. */
	assert_int_equal(msgr_echo_tag_make(420, 1, fits, out, sizeof(out)), MSGR_ERR_TOOBIG);
	free(fits);
	free(over);
	free(wide);
	free(wide_over);
}

static void
test_parse(void **state)
{
	struct msgr_echo_tag t;
	const char *bot = "unset";
	char out[64];

	(void)state;
	assert_int_equal(msgr_echo_tag_parse("msgr:o=42:1", &t, &bot), 1);
	assert_true(t.outbox_id == 42);
	assert_int_equal(t.try_no, 1);
	assert_null(bot);
	assert_int_equal(msgr_echo_tag_parse("msgr:o=42:3|order=17", &t, &bot), 1);
	assert_int_equal(t.try_no, 3);
	assert_string_equal(bot, "order=17");
	assert_int_equal(msgr_echo_tag_parse("msgr:o=7:1|", &t, &bot), 1);
	assert_string_equal(bot, "");
	assert_int_equal(msgr_echo_tag_parse("msgr:o=123456789012345678:999999999", &t, NULL), 1);
	assert_true(t.outbox_id == 123456789012345678LL);
	/* What it makes, it reads back. */
	assert_int_equal(msgr_echo_tag_make(987654321, 12, "a|b", out, sizeof(out)), MSGR_OK);
	assert_int_equal(msgr_echo_tag_parse(out, &t, &bot), 1);
	assert_true(t.outbox_id == 987654321);
	assert_int_equal(t.try_no, 12);
	assert_string_equal(bot, "a|b");
}

/* Anything but a well-formed tag is not ours: the whole text stays the bot's. */
static void
test_parse_strict(void **state)
{
	static const char *const bad[] = {
		"", "msgr", "msgr:o=", "msgr:o=42", "msgr:o=42:", "msgr:o=:1", "msgr:o=0:1",
		"msgr:o=042:1", "msgr:o=42:0", "msgr:o=42:01", "msgr:o=42:1x", "msgr:o=42:1 ",
		"msgr:o=-42:1", "msgr:o=+42:1", "msgr:o=4 2:1", "MSGR:o=42:1", " msgr:o=42:1",
		"xmsgr:o=42:1", "msgr:p=42:1", "msgr:o=42;1", "msgr:o=42:1:2",
		"msgr:o=1234567890123456789:1",     /* 19 digits: beyond what we make */
		"msgr:o=42:1234567890",              /* a try of 10 digits */
		"msgr:o=99999999999999999999999999999:1",
		"order=17",
	};
	struct msgr_echo_tag t;
	const char *bot = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (msgr_echo_tag_parse(bad[i], &t, &bot) != 0)
			fail_msg("\"%s\" was taken for a tag", bad[i]);
		assert_ptr_equal(bot, bad[i]);
	}
	assert_int_equal(msgr_echo_tag_parse(NULL, &t, &bot), 0);
	assert_null(bot);
	assert_int_equal(msgr_echo_tag_parse("msgr:o=1:1", NULL, NULL), 0);
}

static void
test_bot_metadata(void **state)
{
	(void)state;
	assert_null(msgr_echo_bot_metadata(NULL));
	assert_null(msgr_echo_bot_metadata("msgr:o=42:1"));
	assert_string_equal(msgr_echo_bot_metadata("msgr:o=42:1|mine"), "mine");
	assert_string_equal(msgr_echo_bot_metadata("msgr:o=42:1|msgr:o=1:1"), "msgr:o=1:1");
	assert_string_equal(msgr_echo_bot_metadata("mine"), "mine");
	assert_string_equal(msgr_echo_bot_metadata("msgr:o=042:1|x"), "msgr:o=042:1|x");
}

static void
test_tag_body(void **state)
{
	json_t *body = json_pack("{s:{s:s}, s:s, s:{s:s}}", "recipient", "id", "333",
	    "messaging_type", "RESPONSE", "message", "text", "hi");
	json_t *orig = json_incref(body), *action;
	char *long_meta;
	int tagged = -1;

	(void)state;
	assert_non_null(body);
	assert_int_equal(msgr_echo_tag_body(&body, 17, 2, &tagged), MSGR_OK);
	assert_int_equal(tagged, 1);
	assert_ptr_not_equal(body, orig);         /* a copy: the plan's body is shared */
	assert_string_equal(json_string_value(json_object_get(json_object_get(body, "message"),
	    "metadata")), "msgr:o=17:2");
	assert_null(json_object_get(json_object_get(orig, "message"), "metadata"));
	json_decref(body);

	/* The bot's metadata rides after ours. */
	json_object_set_new(json_object_get(orig, "message"), "metadata", json_string("bm"));
	body = json_incref(orig);
	assert_int_equal(msgr_echo_tag_body(&body, 17, 1, &tagged), MSGR_OK);
	assert_int_equal(tagged, 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(body, "message"),
	    "metadata")), "msgr:o=17:1|bm");
	json_decref(body);

	/* Too long to tag: goes as the bot made it, untagged. */
	long_meta = repeat("m", MSGR_METADATA_MAX_CHARS - 1);
	json_object_set_new(json_object_get(orig, "message"), "metadata", json_string(long_meta));
	body = json_incref(orig);
	assert_int_equal(msgr_echo_tag_body(&body, 17, 1, &tagged), MSGR_OK);
	assert_int_equal(tagged, 0);
	assert_ptr_equal(body, orig);
	json_decref(body);
	free(long_meta);

	/* No outbox row (a text sent by hand), or a sender action: nothing to tag. */
	body = json_incref(orig);
	assert_int_equal(msgr_echo_tag_body(&body, 0, 1, &tagged), MSGR_OK);
	assert_int_equal(tagged, 0);
	assert_ptr_equal(body, orig);
	json_decref(body);
	action = json_pack("{s:{s:s}, s:s}", "recipient", "id", "333", "sender_action",
	    "typing_on");
	body = json_incref(action);
	assert_int_equal(msgr_echo_tag_body(&body, 17, 1, &tagged), MSGR_OK);
	assert_int_equal(tagged, 0);
	assert_ptr_equal(body, action);
	assert_null(json_object_get(body, "message"));
	json_decref(body);
	json_decref(action);
	json_decref(orig);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_make),
		cmocka_unit_test(test_make_bounds),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_strict),
		cmocka_unit_test(test_bot_metadata),
		cmocka_unit_test(test_tag_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
