/* Unit tests: message builders, platform limits at their edges, the Send API body, the
 * messaging window and text splitting (lib/message.h). */
#include "unit.h"
#include "config.h"
#include "message.h"

static char why[MSGR_MESSAGE_WHY_MAX];

/* n copies of unit, malloc'd. */
static char *
rep(const char *unit, size_t n)
{
	size_t ul = strlen(unit), i;
	char *s = malloc(ul * n + 1);

	assert_non_null(s);
	for (i = 0; i < n; i++)
		memcpy(s + i * ul, unit, ul);
	s[ul * n] = '\0';
	return s;
}

static json_t *
load(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (j == NULL)
		fail_msg("test JSON does not parse: %s: %s", e.text, text);
	return j;
}

/* Validates JSON text; returns the result, why in the global. */
static msgr_result
vj(const char *text)
{
	json_t *j = load(text);
	msgr_result rc = msgr_message_validate(j, why, sizeof(why));

	json_decref(j);
	return rc;
}

static void
assert_json(const json_t *got, const char *expected)
{
	json_t *e = load(expected);

	assert_non_null(got);
	if (!json_equal((json_t *)got, e)) {
		char *g = json_dumps(got, JSON_SORT_KEYS);

		fail_msg("got %s\nexpected %s", g, expected);
	}
	json_decref(e);
}

/* A message whose text has n copies of unit; validated. */
static msgr_result
text_of(const char *unit, size_t n)
{
	char *s = rep(unit, n);
	json_t *m = json_pack("{s:s}", "text", s);
	msgr_result rc;

	assert_non_null(m);
	rc = msgr_message_validate(m, why, sizeof(why));
	json_decref(m);
	free(s);
	return rc;
}

/* ---- UTF-8 --------------------------------------------------------------------------- */

static void
test_utf8_chars(void **state)
{
	size_t n = 99;

	(void)state;
	assert_int_equal(msgr_message_utf8_chars("", &n), MSGR_OK);
	assert_int_equal(n, 0);
	assert_int_equal(msgr_message_utf8_chars("hello", &n), MSGR_OK);
	assert_int_equal(n, 5);
	/* é (2 bytes), € (3), 😀 (4): one character each */
	assert_int_equal(msgr_message_utf8_chars("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", &n),
	    MSGR_OK);
	assert_int_equal(n, 3);
	assert_int_equal(msgr_message_utf8_chars(NULL, &n), MSGR_ERR_INVALID);
	/* truncated, lone continuation, overlong, surrogate, above U+10FFFF, 0xff */
	assert_int_equal(msgr_message_utf8_chars("a\xc3", &n), MSGR_ERR_INVALID);
	assert_int_equal(msgr_message_utf8_chars("\x80", &n), MSGR_ERR_INVALID);
	assert_int_equal(msgr_message_utf8_chars("\xc0\xaf", &n), MSGR_ERR_INVALID);
	assert_int_equal(msgr_message_utf8_chars("\xe0\x80\xaf", &n), MSGR_ERR_INVALID);
	assert_int_equal(msgr_message_utf8_chars("\xed\xa0\x80", &n), MSGR_ERR_INVALID);
	assert_int_equal(msgr_message_utf8_chars("\xf4\x90\x80\x80", &n), MSGR_ERR_INVALID);
	assert_int_equal(msgr_message_utf8_chars("\xff", &n), MSGR_ERR_INVALID);
	assert_int_equal(msgr_message_utf8_chars("\xe2\x82", &n), MSGR_ERR_INVALID);
	/* the highest code point is fine */
	assert_int_equal(msgr_message_utf8_chars("\xf4\x8f\xbf\xbf", &n), MSGR_OK);
	assert_int_equal(n, 1);
}

/* ---- text -------------------------------------------------------------------------- */

static void
test_text_limit(void **state)
{
	(void)state;
	assert_int_equal(text_of("a", 2000), MSGR_OK);
	assert_int_equal(text_of("a", 2001), MSGR_ERR_LIMIT);
	assert_string_equal(why, "text: 2001 characters, at most 2000");
	/* characters, not bytes: 2000 é is 4000 bytes and passes */
	assert_int_equal(text_of("\xc3\xa9", 2000), MSGR_OK);
	assert_int_equal(text_of("\xf0\x9f\x98\x80", 2000), MSGR_OK);
	assert_int_equal(text_of("\xf0\x9f\x98\x80", 2001), MSGR_ERR_LIMIT);
	assert_string_equal(why, "text: 2001 characters, at most 2000");
	assert_int_equal(vj("{\"text\":\"\"}"), MSGR_ERR_LIMIT);
	assert_string_equal(why, "text: empty");
	assert_int_equal(vj("{\"text\":5}"), MSGR_ERR_LIMIT);
	assert_string_equal(why, "text: must be a string");
}

static void
test_text_invalid_utf8(void **state)
{
	json_t *m;

	(void)state;
	/* jansson can be made to hold bytes it would not parse; the check reads them anyway */
	m = json_object();
	json_object_set_new(m, "text", json_stringn_nocheck("ab\xc3(", 4));
	assert_int_equal(msgr_message_validate(m, why, sizeof(why)), MSGR_ERR_LIMIT);
	assert_string_equal(why, "text: not valid UTF-8 text");
	/* an embedded NUL would cut the text Facebook shows */
	json_object_set_new(m, "text", json_stringn_nocheck("ab\0c", 4));
	assert_int_equal(msgr_message_validate(m, why, sizeof(why)), MSGR_ERR_LIMIT);
	json_decref(m);

	assert_null(msgr_message_text("bad \xed\xa0\x80", why, sizeof(why)));
	assert_string_equal(why, "text: not valid UTF-8 text");
	assert_null(msgr_message_text(NULL, why, sizeof(why)));
	assert_string_equal(why, "text: required");
}

static void
test_build_text(void **state)
{
	json_t *m;
	char *s;

	(void)state;
	m = msgr_message_text("Hello \xc3\xa9!", why, sizeof(why));
	assert_json(m, "{\"text\":\"Hello \\u00e9!\"}");
	json_decref(m);
	s = rep("x", 2001);
	assert_null(msgr_message_text(s, why, sizeof(why)));
	assert_string_equal(why, "text: 2001 characters, at most 2000");
	free(s);
	assert_null(msgr_message_text("", why, sizeof(why)));
	assert_string_equal(why, "text: empty");
}

static void
test_exactly_one_body(void **state)
{
	(void)state;
	assert_int_equal(vj("{}"), MSGR_ERR_LIMIT);
	assert_string_equal(why, "message: exactly one of text, attachment or sticker_id (found 0)");
	assert_int_equal(vj("{\"text\":\"a\",\"sticker_id\":1}"), MSGR_ERR_LIMIT);
	assert_string_equal(why, "message: exactly one of text, attachment or sticker_id (found 2)");
	assert_int_equal(vj("{\"text\":\"a\",\"attachment\":{\"type\":\"image\","
	    "\"payload\":{\"url\":\"https://example.org/a.png\"}}}"), MSGR_ERR_LIMIT);
	assert_int_equal(vj("[\"text\"]"), MSGR_ERR_LIMIT);
	assert_string_equal(why, "message: must be an object");
	assert_int_equal(msgr_message_validate(NULL, why, sizeof(why)), MSGR_ERR_INVALID);
}

static void
test_unknown_keys(void **state)
{
	(void)state;
	assert_int_equal(vj("{\"text\":\"a\",\"foo\":1}"), MSGR_ERR_LIMIT);
	assert_string_equal(why, "foo: unknown field");
	assert_int_equal(vj("{\"attachment\":{\"type\":\"template\",\"payload\":{"
	    "\"template_type\":\"button\",\"text\":\"t\",\"buttons\":[{\"type\":\"postback\","
	    "\"title\":\"a\",\"payload\":\"b\",\"url\":\"https://example.org\"}]}}}"),
	    MSGR_ERR_LIMIT);
	assert_string_equal(why, "attachment.payload.buttons[0].url: unknown field");
	assert_int_equal(vj("{\"text\":\"a\",\"quick_replies\":[{\"content_type\":\"text\","
	    "\"title\":\"a\",\"payload\":\"b\",\"colour\":\"red\"}]}"), MSGR_ERR_LIMIT);
	assert_string_equal(why, "quick_replies[0].colour: unknown field");
}

/* ---- quick replies ------------------------------------------------------------------- */

static void
test_quick_replies_count(void **state)
{
	json_t *m;
	char t[8];
	int i;

	(void)state;
	m = msgr_message_text("Pick one", why, sizeof(why));
	assert_non_null(m);
	for (i = 0; i < MSGR_QUICK_REPLIES_MAX; i++) {
		snprintf(t, sizeof(t), "Q%d", i);
		assert_int_equal(msgr_message_add_quick_reply(m, NULL, t, t, NULL, why,
		    sizeof(why)), MSGR_OK);
	}
	assert_int_equal(json_array_size(json_object_get(m, "quick_replies")), 13);
	assert_int_equal(msgr_message_validate(m, why, sizeof(why)), MSGR_OK);
	/* the 14th is refused and the message stays as it was */
	assert_int_equal(msgr_message_add_quick_reply(m, NULL, "Q13", "Q13", NULL, why,
	    sizeof(why)), MSGR_ERR_LIMIT);
	assert_string_equal(why, "quick_replies: 14 items, at most 13");
	assert_int_equal(json_array_size(json_object_get(m, "quick_replies")), 13);
	assert_int_equal(msgr_message_validate(m, why, sizeof(why)), MSGR_OK);
	json_decref(m);
	assert_int_equal(vj("{\"text\":\"a\",\"quick_replies\":[]}"), MSGR_ERR_LIMIT);
	assert_string_equal(why, "quick_replies: 0 items, at least 1");
}

static void
test_quick_reply_fields(void **state)
{
	json_t *m;
	char *s, *js;

	(void)state;
	m = msgr_message_text("Pick", why, sizeof(why));
	assert_int_equal(msgr_message_add_quick_reply(m, "text", "Red", "RED",
	    "https://example.org/red.png", why, sizeof(why)), MSGR_OK);
	assert_int_equal(msgr_message_add_quick_reply(m, "user_email", NULL, NULL, NULL, why,
	    sizeof(why)), MSGR_OK);
	assert_int_equal(msgr_message_add_quick_reply(m, "user_phone_number", NULL, NULL, NULL,
	    why, sizeof(why)), MSGR_OK);
	assert_json(m, "{\"text\":\"Pick\",\"quick_replies\":["
	    "{\"content_type\":\"text\",\"title\":\"Red\",\"payload\":\"RED\","
	    "\"image_url\":\"https://example.org/red.png\"},"
	    "{\"content_type\":\"user_email\"},{\"content_type\":\"user_phone_number\"}]}");
	/* a failing add leaves no trace, also when it would have created the array */
	json_object_del(m, "quick_replies");
	s = rep("t", 21);
	assert_int_equal(msgr_message_add_quick_reply(m, NULL, s, "P", NULL, why, sizeof(why)),
	    MSGR_ERR_LIMIT);
	assert_string_equal(why, "quick_replies[0].title: 21 characters, at most 20");
	assert_json(m, "{\"text\":\"Pick\"}");
	free(s);
	assert_int_equal(msgr_message_add_quick_reply(m, "location", "a", "b", NULL, why,
	    sizeof(why)), MSGR_ERR_LIMIT);
	assert_string_equal(why,
	    "quick_replies[0].content_type: must be text, user_phone_number or user_email");
	assert_int_equal(msgr_message_add_quick_reply(m, "user_email", "Mail", NULL, NULL, why,
	    sizeof(why)), MSGR_ERR_LIMIT);
	assert_string_equal(why, "quick_replies[0].title: unknown field");
	assert_int_equal(msgr_message_add_quick_reply(m, NULL, "a", NULL, NULL, why,
	    sizeof(why)), MSGR_ERR_LIMIT);
	assert_string_equal(why, "quick_replies[0].payload: required");
	assert_int_equal(msgr_message_add_quick_reply(m, NULL, NULL, "P", NULL, why,
	    sizeof(why)), MSGR_ERR_LIMIT);
	assert_string_equal(why, "quick_replies[0].title: required");
	/* Meta: an empty title is fine with an image */
	assert_int_equal(msgr_message_add_quick_reply(m, NULL, "", "P",
	    "https://example.org/i.png", why, sizeof(why)), MSGR_OK);
	assert_int_equal(msgr_message_add_quick_reply(m, NULL, "", "P", NULL, why, sizeof(why)),
	    MSGR_ERR_LIMIT);
	assert_string_equal(why, "quick_replies[1].title: empty");
	assert_int_equal(msgr_message_add_quick_reply(NULL, NULL, "a", "b", NULL, why,
	    sizeof(why)), MSGR_ERR_INVALID);
	js = json_dumps(m, 0);
	assert_non_null(strstr(js, "\"title\": \"\""));
	free(js);
	json_decref(m);
}

static void
test_quick_reply_edges(void **state)
{
	json_t *m;
	char *s;

	(void)state;
	m = msgr_message_text("Pick", why, sizeof(why));
	/* title: 20 passes (also as 20 multi-byte characters), 21 fails at its index */
	s = rep("t", 20);
	assert_int_equal(msgr_message_add_quick_reply(m, NULL, s, "1", NULL, why, sizeof(why)),
	    MSGR_OK);
	free(s);
	s = rep("\xc3\xbc", 20);
	assert_int_equal(msgr_message_add_quick_reply(m, NULL, s, "2", NULL, why, sizeof(why)),
	    MSGR_OK);
	free(s);
	assert_int_equal(msgr_message_add_quick_reply(m, NULL, "c", "3", NULL, why, sizeof(why)),
	    MSGR_OK);
	s = rep("\xc3\xbc", 23);
	assert_int_equal(msgr_message_add_quick_reply(m, NULL, s, "4", NULL, why, sizeof(why)),
	    MSGR_ERR_LIMIT);
	assert_string_equal(why, "quick_replies[3].title: 23 characters, at most 20");
	free(s);
	/* payload: 1000 passes, 1001 fails */
	s = rep("p", 1000);
	assert_int_equal(msgr_message_add_quick_reply(m, NULL, "d", s, NULL, why, sizeof(why)),
	    MSGR_OK);
	free(s);
	s = rep("p", 1001);
	assert_int_equal(msgr_message_add_quick_reply(m, NULL, "e", s, NULL, why, sizeof(why)),
	    MSGR_ERR_LIMIT);
	assert_string_equal(why, "quick_replies[4].payload: 1001 characters, at most 1000");
	free(s);
	assert_int_equal(json_array_size(json_object_get(m, "quick_replies")), 4);
	json_decref(m);
	/* a quick reply image must be a URL */
	assert_int_equal(vj("{\"text\":\"a\",\"quick_replies\":[{\"content_type\":\"text\","
	    "\"title\":\"a\",\"payload\":\"b\",\"image_url\":\"red.png\"}]}"), MSGR_ERR_LIMIT);
	assert_string_equal(why, "quick_replies[0].image_url: must be an absolute http(s) URL");
}

/* ---- metadata, reply_to --------------------------------------------------------------- */

static void
test_metadata_and_reply_to(void **state)
{
	json_t *m;
	char *s;

	(void)state;
	m = msgr_message_text("Hi", why, sizeof(why));
	s = rep("m", 999);
	assert_int_equal(msgr_message_set_metadata(m, s, why, sizeof(why)), MSGR_OK);
	free(s);
	/* "under 1000": 1000 fails, and the old metadata stays */
	s = rep("n", 1000);
	assert_int_equal(msgr_message_set_metadata(m, s, why, sizeof(why)), MSGR_ERR_LIMIT);
	assert_string_equal(why, "metadata: 1000 characters, at most 999");
	assert_int_equal(json_string_length(json_object_get(m, "metadata")), 999);
	assert_int_equal(json_string_value(json_object_get(m, "metadata"))[0], 'm');
	free(s);
	assert_int_equal(msgr_message_set_reply_to(m, "m_abc-123_XYZ", why, sizeof(why)),
	    MSGR_OK);
	assert_string_equal(json_string_value(json_object_get(json_object_get(m, "reply_to"),
	    "mid")), "m_abc-123_XYZ");
	/* a mid with a space is no mid; the failure leaves the old reply_to */
	assert_int_equal(msgr_message_set_reply_to(m, "m 1", why, sizeof(why)), MSGR_ERR_LIMIT);
	assert_string_equal(why, "reply_to.mid: must be printable ASCII without spaces");
	assert_string_equal(json_string_value(json_object_get(json_object_get(m, "reply_to"),
	    "mid")), "m_abc-123_XYZ");
	json_decref(m);
	assert_int_equal(vj("{\"text\":\"a\",\"reply_to\":{\"mid\":\"m1\",\"is_self\":true}}"),
	    MSGR_ERR_LIMIT);
	assert_string_equal(why, "reply_to.is_self: unknown field");
	assert_int_equal(vj("{\"text\":\"a\",\"reply_to\":{}}"), MSGR_ERR_LIMIT);
	assert_string_equal(why, "reply_to.mid: required");
}

/* ---- buttons --------------------------------------------------------------------------- */

static void
test_buttons_build(void **state)
{
	struct msgr_message_webview wv = { "tall", 1, "https://example.org/fallback", 1 };
	json_t *b;

	(void)state;
	b = msgr_message_button_web_url("Open", "https://example.org/shop", &wv, why,
	    sizeof(why));
	assert_json(b, "{\"type\":\"web_url\",\"title\":\"Open\",\"url\":\"https://example.org/shop\","
	    "\"webview_height_ratio\":\"tall\",\"messenger_extensions\":true,"
	    "\"fallback_url\":\"https://example.org/fallback\",\"webview_share_button\":\"hide\"}");
	json_decref(b);
	b = msgr_message_button_web_url("Open", "http://example.org", NULL, why, sizeof(why));
	assert_json(b, "{\"type\":\"web_url\",\"title\":\"Open\",\"url\":\"http://example.org\"}");
	json_decref(b);
	b = msgr_message_button_postback("Help", "HELP", why, sizeof(why));
	assert_json(b, "{\"type\":\"postback\",\"title\":\"Help\",\"payload\":\"HELP\"}");
	json_decref(b);
	b = msgr_message_button_phone("Call us", "+33123456789", why, sizeof(why));
	assert_json(b, "{\"type\":\"phone_number\",\"title\":\"Call us\",\"payload\":\"+33123456789\"}");
	json_decref(b);
	b = msgr_message_button_account_link("https://example.org/login", why, sizeof(why));
	assert_json(b, "{\"type\":\"account_link\",\"url\":\"https://example.org/login\"}");
	json_decref(b);
	b = msgr_message_button_account_unlink(why, sizeof(why));
	assert_json(b, "{\"type\":\"account_unlink\"}");
	json_decref(b);
}

static void
test_buttons_refused(void **state)
{
	struct msgr_message_webview wv = { "huge", 0, NULL, 0 };
	char *s;

	(void)state;
	assert_null(msgr_message_button_phone("Call", "0123456789", why, sizeof(why)));
	assert_string_equal(why,
	    "button.payload: a phone number must start with '+' followed by 4 to 15 digits");
	assert_null(msgr_message_button_phone("Call", "+33 1 23 45 67 89", why, sizeof(why)));
	assert_null(msgr_message_button_phone("Call", "+123", why, sizeof(why)));
	assert_null(msgr_message_button_phone("Call", "+1234567890123456", why, sizeof(why)));
	json_decref(msgr_message_button_phone("Call", "+123456789012345", why, sizeof(why)));
	assert_string_equal(why, "");
	assert_null(msgr_message_button_account_link("http://example.org/login", why,
	    sizeof(why)));
	assert_string_equal(why, "button.url: must be an absolute https URL");
	assert_null(msgr_message_button_web_url("Open", "https://example.org", &wv, why,
	    sizeof(why)));
	assert_string_equal(why, "button.webview_height_ratio: must be compact, tall or full");
	assert_null(msgr_message_button_web_url("Open", "javascript:alert(1)", NULL, why,
	    sizeof(why)));
	assert_string_equal(why, "button.url: must be an absolute http(s) URL");
	assert_null(msgr_message_button_web_url("Open", NULL, NULL, why, sizeof(why)));
	assert_string_equal(why, "button.url: required");
	/* title: 20 passes, 21 fails */
	s = rep("b", 20);
	json_decref(msgr_message_button_postback(s, "P", why, sizeof(why)));
	assert_string_equal(why, "");
	free(s);
	s = rep("b", 21);
	assert_null(msgr_message_button_postback(s, "P", why, sizeof(why)));
	assert_string_equal(why, "button.title: 21 characters, at most 20");
	free(s);
	/* postback payload: 1000 passes, 1001 fails */
	s = rep("p", 1000);
	json_decref(msgr_message_button_postback("T", s, why, sizeof(why)));
	assert_string_equal(why, "");
	free(s);
	s = rep("p", 1001);
	assert_null(msgr_message_button_postback("T", s, why, sizeof(why)));
	assert_string_equal(why, "button.payload: 1001 characters, at most 1000");
	free(s);
	assert_null(msgr_message_button_postback(NULL, "P", why, sizeof(why)));
	assert_string_equal(why, "button.title: required");
	/* messenger_extensions must be a boolean; unknown button types are refused */
	assert_int_equal(vj("{\"attachment\":{\"type\":\"template\",\"payload\":{"
	    "\"template_type\":\"button\",\"text\":\"t\",\"buttons\":[{\"type\":\"web_url\","
	    "\"title\":\"a\",\"url\":\"https://example.org\",\"messenger_extensions\":\"yes\"}]}}}"),
	    MSGR_ERR_LIMIT);
	assert_string_equal(why,
	    "attachment.payload.buttons[0].messenger_extensions: must be true or false");
	assert_int_equal(vj("{\"attachment\":{\"type\":\"template\",\"payload\":{"
	    "\"template_type\":\"button\",\"text\":\"t\",\"buttons\":[{\"type\":\"game_play\","
	    "\"title\":\"a\"}]}}}"), MSGR_ERR_LIMIT);
	assert_string_equal(why, "attachment.payload.buttons[0].type: must be web_url, postback, "
	    "phone_number, account_link or account_unlink");
}

/* An array of n postback buttons. */
static json_t *
buttons(size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, msgr_message_button_postback("B", "P", why, sizeof(why)));
	return a;
}

static void
test_button_template(void **state)
{
	json_t *b3 = buttons(3), *b4 = buttons(4), *b0 = buttons(0), *m;
	char *s;

	(void)state;
	m = msgr_message_button_template("Choose", b3, why, sizeof(why));
	assert_json(m, "{\"attachment\":{\"type\":\"template\",\"payload\":{"
	    "\"template_type\":\"button\",\"text\":\"Choose\",\"buttons\":["
	    "{\"type\":\"postback\",\"title\":\"B\",\"payload\":\"P\"},"
	    "{\"type\":\"postback\",\"title\":\"B\",\"payload\":\"P\"},"
	    "{\"type\":\"postback\",\"title\":\"B\",\"payload\":\"P\"}]}}}");
	json_decref(m);
	assert_null(msgr_message_button_template("Choose", b4, why, sizeof(why)));
	assert_string_equal(why, "attachment.payload.buttons: 4 items, at most 3");
	assert_null(msgr_message_button_template("Choose", b0, why, sizeof(why)));
	assert_string_equal(why, "attachment.payload.buttons: 0 items, at least 1");
	assert_null(msgr_message_button_template("Choose", NULL, why, sizeof(why)));
	assert_string_equal(why, "attachment.payload.buttons: required");
	/* text: 640 passes, 641 fails */
	s = rep("\xc3\xa0", 640);
	m = msgr_message_button_template(s, b3, why, sizeof(why));
	assert_non_null(m);
	json_decref(m);
	free(s);
	s = rep("w", 641);
	assert_null(msgr_message_button_template(s, b3, why, sizeof(why)));
	assert_string_equal(why, "attachment.payload.text: 641 characters, at most 640");
	free(s);
	/* the caller's arrays are borrowed: still ours to drop, with one reference */
	assert_int_equal(b3->refcount, 1);
	json_decref(b3);
	json_decref(b4);
	json_decref(b0);
}

/* ---- generic and media templates ------------------------------------------------------- */

static void
test_card_build(void **state)
{
	struct msgr_message_webview wv = { "compact", 0, NULL, 0 };
	json_t *b = buttons(1), *c;
	char *s;

	(void)state;
	c = msgr_message_card("Shoes", "Red, size 42", "https://example.org/s.jpg",
	    "https://example.org/shoes", &wv, b, why, sizeof(why));
	assert_json(c, "{\"title\":\"Shoes\",\"subtitle\":\"Red, size 42\","
	    "\"image_url\":\"https://example.org/s.jpg\",\"default_action\":{\"type\":\"web_url\","
	    "\"url\":\"https://example.org/shoes\",\"webview_height_ratio\":\"compact\"},"
	    "\"buttons\":[{\"type\":\"postback\",\"title\":\"B\",\"payload\":\"P\"}]}");
	json_decref(c);
	/* a title alone is not a card */
	assert_null(msgr_message_card("Shoes", NULL, NULL, NULL, NULL, NULL, why, sizeof(why)));
	assert_string_equal(why, "card: a card needs subtitle, image_url, default_action or "
	    "buttons besides its title");
	assert_null(msgr_message_card(NULL, "sub", NULL, NULL, NULL, NULL, why, sizeof(why)));
	assert_string_equal(why, "card.title: required");
	/* title and subtitle: 80 pass, 81 fail */
	s = rep("\xe2\x82\xac", 80);
	c = msgr_message_card(s, s, NULL, NULL, NULL, NULL, why, sizeof(why));
	assert_non_null(c);
	json_decref(c);
	free(s);
	s = rep("t", 81);
	assert_null(msgr_message_card(s, "sub", NULL, NULL, NULL, NULL, why, sizeof(why)));
	assert_string_equal(why, "card.title: 81 characters, at most 80");
	assert_null(msgr_message_card("T", s, NULL, NULL, NULL, NULL, why, sizeof(why)));
	assert_string_equal(why, "card.subtitle: 81 characters, at most 80");
	free(s);
	json_decref(b);
	b = buttons(4);
	assert_null(msgr_message_card("T", "S", NULL, NULL, NULL, b, why, sizeof(why)));
	assert_string_equal(why, "card.buttons: 4 items, at most 3");
	json_decref(b);
}

static json_t *
cards(size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, msgr_message_card("T", "S", NULL, NULL, NULL, NULL, why,
		    sizeof(why)));
	return a;
}

static void
test_generic_template(void **state)
{
	json_t *c10 = cards(10), *c11 = cards(11), *m;

	(void)state;
	m = msgr_message_generic_template(c10, "square", why, sizeof(why));
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(m,
	    "attachment"), "payload"), "template_type")), "generic");
	json_decref(m);
	assert_null(msgr_message_generic_template(c11, NULL, why, sizeof(why)));
	assert_string_equal(why, "attachment.payload.elements: 11 items, at most 10");
	assert_null(msgr_message_generic_template(c10, "round", why, sizeof(why)));
	assert_string_equal(why, "attachment.payload.image_aspect_ratio: must be horizontal or square");
	json_decref(c10);
	json_decref(c11);
	/* deep paths name the element */
	assert_int_equal(vj("{\"attachment\":{\"type\":\"template\",\"payload\":{"
	    "\"template_type\":\"generic\",\"elements\":[{\"title\":\"a\",\"subtitle\":\"b\"},"
	    "{\"title\":\"a\",\"default_action\":{\"type\":\"web_url\",\"url\":\"https://x.org\","
	    "\"title\":\"no\"}}]}}}"), MSGR_ERR_LIMIT);
	assert_string_equal(why, "attachment.payload.elements[1].default_action.title: unknown field");
	assert_int_equal(vj("{\"attachment\":{\"type\":\"template\",\"payload\":{"
	    "\"template_type\":\"receipt\",\"elements\":[]}}}"), MSGR_ERR_LIMIT);
	assert_string_equal(why, "attachment.payload.template_type: must be button, generic or media");
}

static void
test_media_template(void **state)
{
	json_t *m, *b = buttons(3), *b4 = buttons(4);

	(void)state;
	m = msgr_message_media_template("image", NULL, "1234567890", b, why, sizeof(why));
	assert_json(m, "{\"attachment\":{\"type\":\"template\",\"payload\":{"
	    "\"template_type\":\"media\",\"elements\":[{\"media_type\":\"image\","
	    "\"attachment_id\":\"1234567890\",\"buttons\":["
	    "{\"type\":\"postback\",\"title\":\"B\",\"payload\":\"P\"},"
	    "{\"type\":\"postback\",\"title\":\"B\",\"payload\":\"P\"},"
	    "{\"type\":\"postback\",\"title\":\"B\",\"payload\":\"P\"}]}]}}}");
	json_decref(m);
	m = msgr_message_media_template("video",
	    "https://business.facebook.com/mypage/videos/12345", NULL, NULL, why, sizeof(why));
	assert_non_null(m);
	json_decref(m);
	assert_null(msgr_message_media_template("video", "https://example.org/v.mp4", NULL, NULL,
	    why, sizeof(why)));
	assert_string_equal(why, "attachment.payload.elements[0].url: the media template takes "
	    "only a facebook.com URL (upload other media and use attachment_id)");
	assert_null(msgr_message_media_template("image", "https://notfacebook.com/p/1", NULL,
	    NULL, why, sizeof(why)));
	assert_null(msgr_message_media_template("image", "https://www.facebook.com/p/1", "12",
	    NULL, why, sizeof(why)));
	assert_string_equal(why, "attachment.payload.elements[0]: exactly one of url or attachment_id");
	assert_null(msgr_message_media_template("audio", NULL, "12", NULL, why, sizeof(why)));
	assert_string_equal(why, "attachment.payload.elements[0].media_type: must be image or video");
	assert_null(msgr_message_media_template("image", NULL, "12", b4, why, sizeof(why)));
	assert_string_equal(why, "attachment.payload.elements[0].buttons: 4 items, at most 3");
	assert_int_equal(vj("{\"attachment\":{\"type\":\"template\",\"payload\":{"
	    "\"template_type\":\"media\",\"elements\":[{\"media_type\":\"image\","
	    "\"attachment_id\":\"1\"},{\"media_type\":\"image\",\"attachment_id\":\"2\"}]}}}"),
	    MSGR_ERR_LIMIT);
	assert_string_equal(why, "attachment.payload.elements: 2 items, at most 1");
	json_decref(b);
	json_decref(b4);
}

/* ---- attachments and stickers ---------------------------------------------------------- */

static void
test_attachments(void **state)
{
	static const char *const types[] = { "image", "audio", "video", "file" };
	json_t *m;
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		m = msgr_message_attachment_url(types[i], "https://example.org/f", 0, why,
		    sizeof(why));
		assert_non_null(m);
		assert_string_equal(json_string_value(json_object_get(json_object_get(m,
		    "attachment"), "type")), types[i]);
		json_decref(m);
	}
	m = msgr_message_attachment_url("image", "https://example.org/cat.png", 1, why,
	    sizeof(why));
	assert_json(m, "{\"attachment\":{\"type\":\"image\",\"payload\":{"
	    "\"url\":\"https://example.org/cat.png\",\"is_reusable\":true}}}");
	json_decref(m);
	m = msgr_message_attachment_id("video", "987654321", why, sizeof(why));
	assert_json(m, "{\"attachment\":{\"type\":\"video\",\"payload\":{"
	    "\"attachment_id\":\"987654321\"}}}");
	json_decref(m);
	assert_null(msgr_message_attachment_url("location", "https://example.org", 0, why,
	    sizeof(why)));
	assert_string_equal(why, "attachment.type: must be image, audio, video or file");
	assert_null(msgr_message_attachment_url("template", "https://example.org", 0, why,
	    sizeof(why)));
	assert_null(msgr_message_attachment_url("image", "ftp://example.org/a", 0, why,
	    sizeof(why)));
	assert_string_equal(why, "attachment.payload.url: must be an absolute http(s) URL");
	assert_null(msgr_message_attachment_id("image", "12ab", why, sizeof(why)));
	assert_string_equal(why, "attachment.payload.attachment_id: must be decimal digits");
	assert_int_equal(vj("{\"attachment\":{\"type\":\"image\"}}"), MSGR_ERR_LIMIT);
	assert_string_equal(why, "attachment.payload: required");
	assert_int_equal(vj("{\"attachment\":{\"type\":\"image\",\"payload\":{"
	    "\"attachment_id\":\"1\",\"is_reusable\":true}}}"), MSGR_ERR_LIMIT);
	assert_string_equal(why, "attachment.payload.is_reusable: only with url");
	assert_int_equal(vj("{\"attachment\":{\"type\":\"image\",\"payload\":{}}}"),
	    MSGR_ERR_LIMIT);
	assert_string_equal(why, "attachment.payload: exactly one of url or attachment_id");
	/* quick replies may ride on an attachment */
	assert_int_equal(vj("{\"attachment\":{\"type\":\"image\",\"payload\":{\"url\":"
	    "\"https://example.org/a.png\"}},\"quick_replies\":[{\"content_type\":\"text\","
	    "\"title\":\"More\",\"payload\":\"MORE\"}]}"), MSGR_OK);
}

static void
test_sticker(void **state)
{
	json_t *m;

	(void)state;
	m = msgr_message_sticker("369239263222822", why, sizeof(why));
	assert_json(m, "{\"sticker_id\":369239263222822}");
	json_decref(m);
	assert_null(msgr_message_sticker("-1", why, sizeof(why)));
	assert_string_equal(why, "sticker_id: must be a positive number");
	assert_null(msgr_message_sticker("12x", why, sizeof(why)));
	assert_null(msgr_message_sticker("0", why, sizeof(why)));
	assert_null(msgr_message_sticker("99999999999999999999999", why, sizeof(why)));
	assert_null(msgr_message_sticker(NULL, why, sizeof(why)));
	assert_int_equal(vj("{\"sticker_id\":\"369239263222822\"}"), MSGR_OK);
	assert_int_equal(vj("{\"sticker_id\":0}"), MSGR_ERR_LIMIT);
	assert_int_equal(vj("{\"sticker_id\":\"like\"}"), MSGR_ERR_LIMIT);
}

/* ---- the Send API body ---------------------------------------------------------------- */

static void
test_request_message(void **state)
{
	struct msgr_message_request r = { 0 };
	json_t *m = msgr_message_text("Hi", why, sizeof(why)), *body = NULL;

	(void)state;
	r.recipient_id = "1254459154682919";
	r.message = m;
	r.persona_id = "42";
	r.notification_type = "SILENT_PUSH";
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_OK);
	assert_json(body, "{\"recipient\":{\"id\":\"1254459154682919\"},\"messaging_type\":"
	    "\"RESPONSE\",\"notification_type\":\"SILENT_PUSH\",\"persona_id\":\"42\","
	    "\"message\":{\"text\":\"Hi\"}}");
	/* the body holds a copy: changing the caller's message does not change it */
	json_object_set_new(m, "text", json_string("changed"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(body, "message"),
	    "text")), "Hi");
	json_decref(body);

	/* a checkbox optin answers to user_ref */
	r.recipient_id = NULL;
	r.user_ref = "cb-ref_1";
	r.persona_id = NULL;
	r.notification_type = NULL;
	r.messaging_type = "UPDATE";
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_OK);
	assert_json(body, "{\"recipient\":{\"user_ref\":\"cb-ref_1\"},\"messaging_type\":"
	    "\"UPDATE\",\"message\":{\"text\":\"changed\"}}");
	json_decref(body);

	/* HUMAN_AGENT is the one tag left */
	r.messaging_type = "MESSAGE_TAG";
	r.tag = "HUMAN_AGENT";
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_OK);
	assert_string_equal(json_string_value(json_object_get(body, "tag")), "HUMAN_AGENT");
	json_decref(body);
	json_decref(m);
}

static void
test_request_refused(void **state)
{
	static const char *const retired[] = { "CONFIRMED_EVENT_UPDATE", "ACCOUNT_UPDATE",
		"POST_PURCHASE_UPDATE", "CUSTOMER_FEEDBACK", "human_agent" };
	struct msgr_message_request r = { 0 }, base = { 0 };
	json_t *m = msgr_message_text("Hi", why, sizeof(why)), *bad, *body = (json_t *)1;
	char *long_ref = rep("r", MSGR_MAX_USER_REF_LEN + 1);
	size_t i;

	(void)state;
	base.recipient_id = "123";
	base.message = m;

	for (i = 0; i < 5; i++) {
		r = base;
		r.messaging_type = "MESSAGE_TAG";
		r.tag = retired[i];
		assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_ERR_LIMIT);
		assert_null(body);
		assert_non_null(strstr(why, "retired on 27 April 2026"));
	}
	r = base;
	r.messaging_type = "MESSAGE_TAG";
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_ERR_LIMIT);
	assert_string_equal(why, "messaging_type MESSAGE_TAG: needs tag HUMAN_AGENT");
	r = base;
	r.tag = "HUMAN_AGENT";
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_ERR_INVALID);
	assert_string_equal(why, "tag: only with messaging_type MESSAGE_TAG");
	r = base;
	r.messaging_type = "PROMOTION";
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_ERR_INVALID);
	r = base;
	r.notification_type = "LOUD";
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_ERR_INVALID);
	assert_string_equal(why, "notification_type: must be REGULAR, SILENT_PUSH or NO_PUSH");
	/* message and sender_action together, or neither */
	r = base;
	r.sender_action = "typing_on";
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_ERR_INVALID);
	assert_string_equal(why, "request: exactly one of message or sender_action");
	r = base;
	r.message = NULL;
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_ERR_INVALID);
	/* recipients: both, none, not a PSID */
	r = base;
	r.user_ref = "ref";
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_ERR_INVALID);
	assert_string_equal(why, "recipient: exactly one of id or user_ref");
	r = base;
	r.recipient_id = NULL;
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_ERR_INVALID);
	r = base;
	r.recipient_id = "12 3";
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_ERR_INVALID);
	r = base;
	r.recipient_id = NULL;
	r.user_ref = long_ref;
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_ERR_INVALID);
	free(long_ref);
	r = base;
	r.persona_id = "abc";
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_ERR_INVALID);
	/* the message itself is checked whole */
	bad = load("{\"text\":\"Hi\",\"quick_replies\":[{\"content_type\":\"text\","
	    "\"title\":\"way too long for a quick reply\",\"payload\":\"P\"}]}");
	r = base;
	r.message = bad;
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_ERR_LIMIT);
	assert_string_equal(why, "quick_replies[0].title: 30 characters, at most 20");
	assert_null(body);
	json_decref(bad);
	assert_int_equal(msgr_message_request(NULL, &body, why, sizeof(why)), MSGR_ERR_INVALID);
	json_decref(m);
}

static void
test_request_sender_action(void **state)
{
	struct msgr_message_request r = { 0 };
	json_t *body = NULL;

	(void)state;
	r.recipient_id = "123";
	r.sender_action = "typing_on";
	r.persona_id = "77";
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_OK);
	assert_json(body, "{\"recipient\":{\"id\":\"123\"},\"sender_action\":\"typing_on\","
	    "\"persona_id\":\"77\"}");
	json_decref(body);
	r.sender_action = "mark_seen";
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_OK);
	assert_json(body, "{\"recipient\":{\"id\":\"123\"},\"sender_action\":\"mark_seen\"}");
	json_decref(body);
	r.sender_action = "typing_off";
	r.messaging_type = "RESPONSE";
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_OK);
	json_decref(body);
	r.sender_action = "dancing";
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_ERR_INVALID);
	assert_string_equal(why, "sender_action: must be typing_on, typing_off or mark_seen");
	r.sender_action = "typing_on";
	r.notification_type = "NO_PUSH";
	assert_int_equal(msgr_message_request(&r, &body, why, sizeof(why)), MSGR_ERR_INVALID);
	assert_string_equal(why, "sender_action: takes no messaging_type, tag or notification_type");
}

/* ---- the messaging window ------------------------------------------------------------- */

static void
test_window(void **state)
{
	const long long last = 1700000000000LL, h = 3600000LL, d = 24 * h;

	(void)state;
	assert_int_equal(msgr_message_window_check(last + 5000, last, "RESPONSE", NULL, why,
	    sizeof(why)), MSGR_OK);
	/* 24 h: the edge is inside, one ms later is out unless HUMAN_AGENT */
	assert_int_equal(msgr_message_window_check(last + d, last, "RESPONSE", NULL, why,
	    sizeof(why)), MSGR_OK);
	assert_int_equal(msgr_message_window_check(last + d, last, "UPDATE", NULL, why,
	    sizeof(why)), MSGR_OK);
	assert_int_equal(msgr_message_window_check(last + d + 1, last, "RESPONSE", NULL, why,
	    sizeof(why)), MSGR_ERR_PERMANENT);
	assert_non_null(strstr(why, "HUMAN_AGENT"));
	assert_int_equal(msgr_message_window_check(last + d + 1, last, "RESPONSE",
	    "HUMAN_AGENT", why, sizeof(why)), MSGR_ERR_PERMANENT);
	assert_int_equal(msgr_message_window_check(last + d + 1, last, "MESSAGE_TAG",
	    "HUMAN_AGENT", why, sizeof(why)), MSGR_OK);
	/* 7 days: the edge is inside, one ms later nothing goes */
	assert_int_equal(msgr_message_window_check(last + 7 * d, last, "MESSAGE_TAG",
	    "HUMAN_AGENT", why, sizeof(why)), MSGR_OK);
	assert_int_equal(msgr_message_window_check(last + 7 * d + 1, last, "MESSAGE_TAG",
	    "HUMAN_AGENT", why, sizeof(why)), MSGR_ERR_PERMANENT);
	assert_non_null(strstr(why, "7 days"));
	/* no message from the user at all; a clock slightly behind */
	assert_int_equal(msgr_message_window_check(last, 0, "RESPONSE", NULL, why, sizeof(why)),
	    MSGR_ERR_PERMANENT);
	assert_int_equal(msgr_message_window_check(last - 2000, last, "RESPONSE", NULL, why,
	    sizeof(why)), MSGR_OK);
	assert_int_equal(msgr_message_window_check(last, last, NULL, NULL, why, sizeof(why)),
	    MSGR_ERR_INVALID);
}

/* ---- splitting ------------------------------------------------------------------------ */

static int
isws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Checks every promise of msgr_message_split_text for text split at max. */
static void
check_split(const char *text, size_t max, char **parts, size_t n)
{
	size_t i, j, k = 0, chars;

	assert_true(n > 0);
	for (i = 0; i < n; i++) {
		size_t len = strlen(parts[i]);

		assert_true(len > 0);
		assert_int_equal(msgr_message_utf8_chars(parts[i], &chars), MSGR_OK);
		assert_true(chars <= max);
		assert_false(isws(parts[i][0]));
		assert_false(isws(parts[i][len - 1]));
		/* non-whitespace content, in order */
		for (j = 0; j < len; j++) {
			if (isws(parts[i][j]))
				continue;
			while (isws(text[k]))
				k++;
			assert_int_equal(parts[i][j], text[k]);
			k++;
		}
	}
	while (text[k] != '\0') {
		assert_true(isws(text[k]));
		k++;
	}
}

static void
split_ok(const char *text, size_t max, size_t expect_n, char ***parts, size_t *n)
{
	assert_int_equal(msgr_message_split_text(text, max, parts, n), MSGR_OK);
	check_split(text, max ? max : 2000, *parts, *n);
	if (expect_n != 0)
		assert_int_equal(*n, expect_n);
}

static void
test_split_edges(void **state)
{
	char **p = NULL, *s, *t;
	size_t n = 0;

	(void)state;
	/* exactly 2000 is one part, unchanged */
	s = rep("a", 2000);
	split_ok(s, 0, 1, &p, &n);
	assert_string_equal(p[0], s);
	msgr_message_split_free(p, n);
	free(s);
	/* 2001 without a space: 2000 + 1 */
	s = rep("a", 2001);
	split_ok(s, 0, 2, &p, &n);
	assert_int_equal(strlen(p[0]), 2000);
	assert_string_equal(p[1], "a");
	msgr_message_split_free(p, n);
	free(s);
	/* 2001 with a space in the middle: two words, two parts */
	s = rep("a", 2001);
	s[1000] = ' ';
	split_ok(s, 0, 2, &p, &n);
	assert_int_equal(strlen(p[0]), 1000);
	assert_int_equal(strlen(p[1]), 1000);
	msgr_message_split_free(p, n);
	free(s);
	/* a space right after exactly 2000 characters: no character lost, none over */
	t = rep("b", 2000);
	s = malloc(2000 + 6);
	snprintf(s, 2006, "%s cc", t);
	split_ok(s, 0, 2, &p, &n);
	assert_string_equal(p[0], t);
	assert_string_equal(p[1], "cc");
	msgr_message_split_free(p, n);
	free(s);
	free(t);
	/* only whitespace, empty, invalid UTF-8 */
	assert_int_equal(msgr_message_split_text(" \n\t \r\n ", 0, &p, &n), MSGR_ERR_INVALID);
	assert_null(p);
	assert_int_equal(n, 0);
	assert_int_equal(msgr_message_split_text("", 0, &p, &n), MSGR_ERR_INVALID);
	assert_int_equal(msgr_message_split_text("ab\xc3", 0, &p, &n), MSGR_ERR_INVALID);
	assert_int_equal(msgr_message_split_text(NULL, 0, &p, &n), MSGR_ERR_INVALID);
	/* short text is trimmed into one part */
	split_ok("  hello world \n", 0, 1, &p, &n);
	assert_string_equal(p[0], "hello world");
	msgr_message_split_free(p, n);
	/* too big to take at all */
	s = rep("a", MSGR_MAX_TEXT_BYTES + 1);
	assert_int_equal(msgr_message_split_text(s, 0, &p, &n), MSGR_ERR_TOOBIG);
	free(s);
}

static void
test_split_long_text(void **state)
{
	char **p = NULL, *s;
	size_t n = 0, i, len = 0;

	(void)state;
	/* 1000 words of 6 letters: 7000 characters, cut between words */
	s = malloc(7001);
	for (i = 0; i < 1000; i++) {
		memcpy(s + len, "word", 4);
		s[len + 4] = (char)('a' + i % 26);
		s[len + 5] = (char)('a' + i / 26 % 26);
		s[len + 6] = ' ';
		len += 7;
	}
	s[len] = '\0';
	split_ok(s, 0, 4, &p, &n);
	for (i = 0; i < n; i++) {
		size_t l = strlen(p[i]);

		/* whole words only: every part is a run of 6-letter words */
		assert_int_equal((l + 1) % 7, 0);
		assert_memory_equal(p[i], "word", 4);
	}
	msgr_message_split_free(p, n);
	free(s);
}

static void
test_split_long_word_multibyte(void **state)
{
	char **p = NULL, *s, *t;
	size_t n = 0, chars;

	(void)state;
	/* a 4500-character word: 2000 + 2000 + 500 */
	s = rep("x", 4500);
	split_ok(s, 0, 3, &p, &n);
	assert_int_equal(strlen(p[0]), 2000);
	assert_int_equal(strlen(p[2]), 500);
	msgr_message_split_free(p, n);
	free(s);
	/* 1999 ASCII then 4-byte emoji: the cut lands after the first emoji, not inside it */
	t = rep("\xf0\x9f\x98\x80", 10);
	s = malloc(1999 + 40 + 1);
	memset(s, 'a', 1999);
	memcpy(s + 1999, t, 41);
	split_ok(s, 0, 2, &p, &n);
	assert_int_equal(msgr_message_utf8_chars(p[0], &chars), MSGR_OK);
	assert_int_equal(chars, 2000);
	assert_int_equal(strlen(p[0]), 1999 + 4);
	assert_string_equal(p[1], t + 4);
	msgr_message_split_free(p, n);
	free(s);
	free(t);
	/* 3000 é (2 bytes each) in one word: 2000 + 1000 characters, all valid */
	s = rep("\xc3\xa9", 3000);
	split_ok(s, 0, 2, &p, &n);
	assert_int_equal(strlen(p[0]), 4000);
	assert_int_equal(strlen(p[1]), 2000);
	msgr_message_split_free(p, n);
	free(s);
}

static void
test_split_prefers_breaks(void **state)
{
	char **p = NULL, *s, *a, *b;
	size_t n = 0;

	(void)state;
	/* a paragraph break in the second half of the window wins over later spaces */
	a = rep("aa ", 500);     /* 1500 characters, ends with a space */
	b = rep("bb ", 400);
	s = malloc(strlen(a) + strlen(b) + 8);
	sprintf(s, "%s\n\n%s", a, b);
	split_ok(s, 0, 2, &p, &n);
	assert_int_equal(strlen(p[0]), 1499);
	assert_memory_equal(p[1], "bb bb", 5);
	msgr_message_split_free(p, n);
	/* a line break likewise */
	sprintf(s, "%s\n%s", a, b);
	split_ok(s, 0, 2, &p, &n);
	assert_int_equal(strlen(p[0]), 1499);
	msgr_message_split_free(p, n);
	free(s);
	free(a);
	free(b);
	/* a line break early in the window does not make a tiny part: spaces win then */
	a = rep("cc ", 700);
	s = malloc(strlen(a) + 8);
	sprintf(s, "x\n%s", a);
	split_ok(s, 0, 2, &p, &n);
	assert_true(strlen(p[0]) > 1000);
	msgr_message_split_free(p, n);
	free(s);
	free(a);
}

/* Random text of words, spaces, newlines and multi-byte characters, split small. */
static void
test_split_random(void **state)
{
	static const char *const atoms[] = { "a", "bc", "\xc3\xa9", "\xe2\x82\xac",
		"\xf0\x9f\x98\x80", " ", " ", "\n", "\n\n", "\t", "word", "longerword" };
	char **p = NULL, s[600];
	size_t n = 0, len, max, round, k;
	unsigned seed = 12345;

	(void)state;
	for (round = 0; round < 500; round++) {
		len = 0;
		for (;;) {
			seed = seed * 1103515245u + 12345u;
			k = (seed >> 16) % (sizeof(atoms) / sizeof(atoms[0]));
			if (len + strlen(atoms[k]) + 1 > sizeof(s) || (seed >> 8) % 97 == 0)
				break;
			memcpy(s + len, atoms[k], strlen(atoms[k]));
			len += strlen(atoms[k]);
		}
		s[len] = '\0';
		max = 1 + (seed >> 4) % 40;
		if (msgr_message_split_text(s, max, &p, &n) == MSGR_ERR_INVALID) {
			/* only when there is nothing but whitespace */
			for (k = 0; k < len; k++)
				assert_true(isws(s[k]));
			continue;
		}
		check_split(s, max, p, n);
		msgr_message_split_free(p, n);
	}
}

/* The Messenger profile body: every field in Facebook's shapes, as test_setup.py expects it
 * at the fake Graph API; absent fields left out; a text jansson refuses fails cleanly. */
static void
test_profile_body(void **state)
{
	char gs[] = "GET_STARTED", def[] = "default", fr[] = "fr_FR";
	char hi[] = "Hi {{user_first_name}}!", bonjour[] = "Bonjour {{user_first_name}} !";
	char q1[] = "What can you do?", q2[] = "Opening hours?", help[] = "HELP", hours[] = "HOURS";
	char thelp[] = "Help", tweb[] = "Website", site[] = "https://example.org";
	char bad[] = "caf\xe9";
	struct msgr_locale_text greeting[] = { { def, hi }, { fr, bonjour } };
	struct msgr_ice_breaker ice[] = { { q1, help }, { q2, hours } };
	struct msgr_menu_item items[] = { { thelp, help, NULL }, { tweb, NULL, site } };
	struct msgr_menu menu[] = { { def, items, 2 } };
	char *domains[] = { site };
	struct msgr_profile_config p = { .present = 1, .get_started = gs,
		.greeting = greeting, .n_greeting = 2, .ice_breakers = ice, .n_ice_breakers = 2,
		.menus = menu, .n_menus = 1, .whitelisted_domains = domains,
		.n_whitelisted_domains = 1 };
	struct msgr_profile_config none = { .present = 1 };
	json_t *b;

	(void)state;
	b = msgr_message_profile(&p, why, sizeof(why));
	assert_json(b, "{\"get_started\":{\"payload\":\"GET_STARTED\"},"
	    "\"greeting\":[{\"locale\":\"default\",\"text\":\"Hi {{user_first_name}}!\"},"
	    "{\"locale\":\"fr_FR\",\"text\":\"Bonjour {{user_first_name}} !\"}],"
	    "\"ice_breakers\":[{\"call_to_actions\":[{\"question\":\"What can you do?\","
	    "\"payload\":\"HELP\"},{\"question\":\"Opening hours?\",\"payload\":\"HOURS\"}],"
	    "\"locale\":\"default\"}],"
	    "\"persistent_menu\":[{\"locale\":\"default\",\"composer_input_disabled\":false,"
	    "\"call_to_actions\":[{\"type\":\"postback\",\"title\":\"Help\",\"payload\":\"HELP\"},"
	    "{\"type\":\"web_url\",\"title\":\"Website\",\"url\":\"https://example.org\"}]}],"
	    "\"whitelisted_domains\":[\"https://example.org\"]}");
	json_decref(b);

	b = msgr_message_profile(&none, why, sizeof(why));
	assert_json(b, "{}");
	json_decref(b);

	none.greeting = greeting;
	none.n_greeting = 1;
	b = msgr_message_profile(&none, why, sizeof(why));
	assert_json(b, "{\"greeting\":[{\"locale\":\"default\",\"text\":\"Hi {{user_first_name}}!\"}]}");
	json_decref(b);

	greeting[0].text = bad;
	assert_null(msgr_message_profile(&none, why, sizeof(why)));
	assert_non_null(strstr(why, "not UTF-8"));
	items[1].title = bad;
	assert_null(msgr_message_profile(&p, why, sizeof(why)));
}

/* The lookups the bots' checks share with the message checker. */
static void
test_names(void **state)
{
	static const char *const types[] = { "RESPONSE", "UPDATE", "MESSAGE_TAG", NULL };
	static const char *const keys[] = { "text", "quick_replies", NULL };
	json_t *o;

	(void)state;
	assert_true(msgr_message_one_of("UPDATE", types));
	assert_false(msgr_message_one_of("update", types));
	assert_false(msgr_message_one_of("", types));
	assert_false(msgr_message_one_of(NULL, types));
	/* the lists every check of these fields shares */
	assert_true(msgr_message_one_of("MESSAGE_TAG", msgr_message_types));
	assert_false(msgr_message_one_of("TAG", msgr_message_types));
	assert_true(msgr_message_one_of("SILENT_PUSH", msgr_message_notification_types));
	assert_true(msgr_message_one_of("mark_seen", msgr_message_sender_actions));
	assert_false(msgr_message_one_of("typing", msgr_message_sender_actions));
	o = json_pack("{s:s, s:[]}", "text", "a", "quick_replies");
	assert_non_null(o);
	assert_null(msgr_message_unknown_key(o, keys));
	assert_int_equal(json_object_set_new(o, "colour", json_string("red")), 0);
	assert_string_equal(msgr_message_unknown_key(o, keys), "colour");
	json_decref(o);
	o = json_string("not an object");
	assert_null(msgr_message_unknown_key(o, keys));
	json_decref(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_chars),
		cmocka_unit_test(test_text_limit),
		cmocka_unit_test(test_text_invalid_utf8),
		cmocka_unit_test(test_build_text),
		cmocka_unit_test(test_exactly_one_body),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_quick_replies_count),
		cmocka_unit_test(test_quick_reply_fields),
		cmocka_unit_test(test_quick_reply_edges),
		cmocka_unit_test(test_metadata_and_reply_to),
		cmocka_unit_test(test_buttons_build),
		cmocka_unit_test(test_buttons_refused),
		cmocka_unit_test(test_button_template),
		cmocka_unit_test(test_card_build),
		cmocka_unit_test(test_generic_template),
		cmocka_unit_test(test_media_template),
		cmocka_unit_test(test_attachments),
		cmocka_unit_test(test_sticker),
		cmocka_unit_test(test_request_message),
		cmocka_unit_test(test_request_refused),
		cmocka_unit_test(test_request_sender_action),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_split_edges),
		cmocka_unit_test(test_split_long_text),
		cmocka_unit_test(test_split_long_word_multibyte),
		cmocka_unit_test(test_split_prefers_breaks),
		cmocka_unit_test(test_split_random),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_profile_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
