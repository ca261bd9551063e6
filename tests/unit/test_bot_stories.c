/* Unit tests: the bot interface and the stories bot (lib/bot.h, lib/bot_stories.c):
 * matching, answers -> actions (exact JSON), placeholders, handover, validation faults with
 * file:line and story name for every platform limit, and the example file. */
#include <unistd.h>

#include "unit.h"
#include "bot.h"
#include "config.h"
#include "event.h"
#include "limits.h"
#include "log.h"
#include "message.h"

static char data_path[1024];

static const char *
data(const char *name)
{
	snprintf(data_path, sizeof(data_path), "%s/stories/%s", unit_data_dir(), name);
	return data_path;
}

/* A connector with a stories bot on file. */
static struct msgr_connector
conn_for(const char *file)
{
	struct msgr_connector c;

	memset(&c, 0, sizeof(c));
	c.id = (char *)"test";
	c.app_id = (char *)"111";
	c.page_id = (char *)"222";
	c.bot.type = MSGR_BOT_STORIES;
	c.bot.file = (char *)file;
	return c;
}

static struct msgr_bot *
open_bot(const char *file)
{
	struct msgr_connector c = conn_for(file);
	struct msgr_bot *bot = NULL;
	char *errors = NULL;
	msgr_result rc;

	rc = msgr_bot_open(&c, &bot, &errors);
	if (rc != MSGR_OK)
		fprintf(stderr, "%s", errors ? errors : "(no errors)\n");
	assert_int_equal(rc, MSGR_OK);
	assert_null(errors);
	assert_non_null(bot);
	assert_string_equal(msgr_bot_type_name(bot), "stories");
	return bot;
}

static struct msgr_event
event(enum msgr_event_kind kind, const char *text, const char *payload)
{
	struct msgr_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	strcpy(ev.page_id, "222");
	strcpy(ev.user_id, "333");
	ev.sender_id = "333";
	ev.recipient_id = "222";
	ev.timestamp = 1700000000000LL;
	ev.mid = "m_1";
	ev.text = text;
	ev.payload = payload;
	return ev;
}

/* The actions for ev (names may be NULL); asserts success. */
static json_t *
answer(struct msgr_bot *bot, const struct msgr_event *ev, const char *first, const char *last)
{
	struct msgr_connector c = conn_for("unused");
	struct msgr_bot_input in = { &c, ev, first, last };
	json_t *actions = NULL;

	assert_int_equal(msgr_bot_answer(bot, &in, &actions), MSGR_OK);
	assert_non_null(actions);
	assert_true(json_is_array(actions));
	return actions;
}

/* The text of the first message action, or NULL when there is none. */
static const char *
first_text(const json_t *actions)
{
	size_t i;
	json_t *a;

	json_array_foreach(actions, i, a) {
		const char *k = json_string_value(json_object_get(a, "action"));
		if (k != NULL && strcmp(k, "message") == 0)
			return json_string_value(json_object_get(json_object_get(a, "message"), "text"));
	}
	return NULL;
}

/* Asserts actions equal the JSON text want. */
static void
expect_json(json_t *actions, const char *want)
{
	json_error_t err;
	json_t *w = json_loads(want, 0, &err);

	if (w == NULL)
		fail_msg("bad expected JSON: %s at %d", err.text, err.position);
	if (!json_equal(actions, w)) {
		char *got = json_dumps(actions, JSON_COMPACT | JSON_SORT_KEYS);
		char *exp = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
		fprintf(stderr, "got:  %s\nwant: %s\n", got, exp);
		free(got);
		free(exp);
		json_decref(w);
		fail();
	}
	json_decref(w);
}

/* Which message text a text message gets ("" = no action at all). */
static void
expect_text_reply(struct msgr_bot *bot, enum msgr_event_kind kind, const char *text,
    const char *payload, const char *want)
{
	struct msgr_event ev = event(kind, text, payload);
	json_t *a = answer(bot, &ev, "Ana", "Lima");
	const char *got = first_text(a);

	if (want[0] == '\0') {
		assert_int_equal(json_array_size(a), 0);
	} else {
		if (got == NULL || strcmp(got, want) != 0)
			fail_msg("text \"%s\" payload \"%s\": got \"%s\", want \"%s\"",
			    text ? text : "", payload ? payload : "", got ? got : "(none)", want);
	}
	json_decref(a);
}

static char tmpdir[256];

static int
setup_tmp(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/msgr-stories-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_tmp(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static char tmp_path[300];

/* Writes text into a file of tmpdir and returns its path. */
static const char *
write_tmp(const char *text)
{
	FILE *f;

	snprintf(tmp_path, sizeof(tmp_path), "%s/stories.conf", tmpdir);
	f = fopen(tmp_path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return tmp_path;
}

/* ---- matching --------------------------------------------------------------------------- */

static void
test_match_triggers(void **state)
{
	struct msgr_bot *bot = open_bot(data("basic.conf"));
	const char *hello = "Hello Ana!", *sorry = "Sorry, I did not understand.";

	(void)state;
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "hello", NULL, hello);
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "HELLO!!", NULL, hello);
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "H\xc3\xa9llo there", NULL, hello);
	expect_text_reply(bot, MSGR_EVENT_MESSAGE,
	    "\xef\xbc\xa8\xef\xbc\xa5\xef\xbc\xac\xef\xbc\xac\xef\xbc\xaf", NULL, hello);
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "Oh, hi.", NULL, hello);
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "Good   morning!", NULL, hello);
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "GOOD-MORNING", NULL, hello);
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "Bonjour \xc3\xa0 tous", NULL, hello);
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "Gruss Gott", NULL, hello);   /* ß, ü */
	/* word boundaries: "hi" is not in "this", "chips"; "good mornings" is not the phrase */
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "this is it", NULL, sorry);
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "chips", NULL, sorry);
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "good mornings", NULL, sorry);
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "morning good", NULL, sorry);
	/* a message without text (a sticker) gets the fallback */
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, NULL, NULL, sorry);
	msgr_bot_close(bot);
}

static void
test_match_file_order(void **state)
{
	struct msgr_bot *bot = open_bot(data("basic.conf"));
	struct msgr_event ev = event(MSGR_EVENT_MESSAGE, "help me please, hi", NULL);
	json_t *a = answer(bot, &ev, NULL, NULL);

	(void)state;
	/* "help" (story 2) and "hi" (story 1) are both in the text: the earlier story wins,
	 * whatever the order of the words */
	assert_string_equal(first_text(a), "Hello!");
	json_decref(a);
	ev.text = "help me";
	a = answer(bot, &ev, NULL, NULL);
	/* "help" of the earlier story beats "help me" of the later one; help answers with a
	 * button template, which has no top-level text */
	assert_null(first_text(a));
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(
	    json_object_get(json_array_get(a, 2), "message"), "attachment"), "payload"),
	    "template_type")), "button");
	json_decref(a);
	msgr_bot_close(bot);
}

static void
test_match_payloads(void **state)
{
	struct msgr_bot *bot = open_bot(data("basic.conf"));

	(void)state;
	/* a quick reply's payload goes before its text */
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "hello", "HOURS", "Open 9 to 5.");
	/* an unknown quick-reply payload: the text still matches */
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "hello", "NOPE", "Hello Ana!");
	/* payloads match exactly, case included */
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "zzz", "hours", "Sorry, I did not understand.");
	/* postbacks: payload, else the fallback; a postback's title is not matched */
	expect_text_reply(bot, MSGR_EVENT_POSTBACK, NULL, "GET_STARTED", "Hello Ana!");
	expect_text_reply(bot, MSGR_EVENT_POSTBACK, "hello", "UNKNOWN",
	    "Sorry, I did not understand.");
	/* a referral's ref chooses like a payload, with no fallback */
	{
		struct msgr_event ev = event(MSGR_EVENT_REFERRAL, NULL, NULL);
		json_t *a;

		ev.ref = "PROMO_2026";
		a = answer(bot, &ev, NULL, NULL);
		assert_string_equal(first_text(a), "You came from our promotion.");
		json_decref(a);
		ev.ref = "OTHER";
		a = answer(bot, &ev, NULL, NULL);
		assert_int_equal(json_array_size(a), 0);
		json_decref(a);
	}
	msgr_bot_close(bot);
}

static void
test_unanswered_kinds(void **state)
{
	struct msgr_bot *bot = open_bot(data("basic.conf"));
	struct msgr_event ev;

	(void)state;
	/* other kinds: no match, no fallback */
	expect_text_reply(bot, MSGR_EVENT_REACTION, NULL, NULL, "");
	expect_text_reply(bot, MSGR_EVENT_READ, NULL, NULL, "");
	expect_text_reply(bot, MSGR_EVENT_MESSAGE_EDIT, "hello", NULL, "");
	/* echoes and standby events are never answered, even when they match */
	expect_text_reply(bot, MSGR_EVENT_ECHO, "hello", NULL, "");
	ev = event(MSGR_EVENT_MESSAGE, "hello", NULL);
	ev.standby = 1;
	{
		json_t *a = answer(bot, &ev, NULL, NULL);
		assert_int_equal(json_array_size(a), 0);
		json_decref(a);
	}
	msgr_bot_close(bot);

	/* without a fallback story an unmatched message gets nothing */
	bot = open_bot(data("nofallback.conf"));
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "hello", NULL, "");
	expect_text_reply(bot, MSGR_EVENT_MESSAGE, "Ping?", NULL, "pong");
	msgr_bot_close(bot);
}

/* ---- answers -> actions ------------------------------------------------------------------- */

#define SEEN "{\"action\":\"sender_action\",\"sender_action\":\"mark_seen\"}"
#define TYPING "{\"action\":\"sender_action\",\"sender_action\":\"typing_on\"}"

static void
test_actions_text_and_placeholders(void **state)
{
	struct msgr_bot *bot = open_bot(data("basic.conf"));
	struct msgr_event ev = event(MSGR_EVENT_MESSAGE, "hi", NULL);
	json_t *a;

	(void)state;
	a = answer(bot, &ev, "Ana", "Lima");
	expect_json(a, "[" SEEN "," TYPING ",{\"action\":\"message\",\"messaging_type\":"
	    "\"RESPONSE\",\"message\":{\"text\":\"Hello Ana!\"}}]");
	json_decref(a);
	/* unknown name: the placeholder and the space before it go */
	a = answer(bot, &ev, NULL, NULL);
	assert_string_equal(first_text(a), "Hello!");
	json_decref(a);
	a = answer(bot, &ev, "", "");
	assert_string_equal(first_text(a), "Hello!");
	json_decref(a);
	/* a name is inserted as given, never re-read for placeholders */
	a = answer(bot, &ev, "{last_name}", "X");
	assert_string_equal(first_text(a), "Hello {last_name}!");
	json_decref(a);
	msgr_bot_close(bot);
	/* the comma before a missing name goes too; a name between words leaves one space */
	bot = open_bot(write_tmp("stories = ( { name = \"p\"; triggers = ( \"hi\" );\n"
	    " answers = ( { text = \"Good choice, {first_name}! Hi {first_name} {last_name}, "
	    "welcome {first_name} here.\"; } ); } );\n"));
	a = answer(bot, &ev, NULL, NULL);
	assert_string_equal(first_text(a), "Good choice! Hi, welcome here.");
	json_decref(a);
	a = answer(bot, &ev, "Ana", NULL);
	assert_string_equal(first_text(a), "Good choice, Ana! Hi Ana, welcome Ana here.");
	json_decref(a);
	msgr_bot_close(bot);
}

static void
test_actions_buttons_image_quick_replies(void **state)
{
	struct msgr_bot *bot = open_bot(data("basic.conf"));
	struct msgr_event ev = event(MSGR_EVENT_POSTBACK, NULL, "HELP");
	json_t *a;

	(void)state;
	a = answer(bot, &ev, "Ana", NULL);
	/* text + buttons -> a button template; the image -> an attachment by URL, reusable;
	 * the quick replies on that answer's (last) message. "{last_name}?" unknown -> "?" */
	expect_json(a, "[" SEEN "," TYPING ","
	    "{\"action\":\"message\",\"messaging_type\":\"RESPONSE\",\"message\":{\"attachment\":"
	    "{\"type\":\"template\",\"payload\":{\"template_type\":\"button\","
	    "\"text\":\"What can I do for you, Ana?\",\"buttons\":["
	    "{\"type\":\"web_url\",\"url\":\"https://example.org/\",\"title\":\"Open the site\"},"
	    "{\"type\":\"phone_number\",\"title\":\"Call us\",\"payload\":\"+15550100\"},"
	    "{\"type\":\"postback\",\"title\":\"Hours\",\"payload\":\"HOURS\"}]}}}},"
	    "{\"action\":\"message\",\"messaging_type\":\"RESPONSE\",\"message\":{\"attachment\":"
	    "{\"type\":\"image\",\"payload\":{\"url\":\"https://example.org/map.png\","
	    "\"is_reusable\":true}},\"quick_replies\":["
	    "{\"content_type\":\"text\",\"title\":\"Hours\",\"payload\":\"HOURS\"},"
	    "{\"content_type\":\"text\",\"title\":\"Menu\",\"payload\":\"MENU\","
	    "\"image_url\":\"https://example.org/m.png\"},"
	    "{\"content_type\":\"user_email\"}]}}]");
	json_decref(a);
	msgr_bot_close(bot);
}

static void
test_actions_cards(void **state)
{
	struct msgr_bot *bot = open_bot(data("basic.conf"));
	struct msgr_event ev = event(MSGR_EVENT_MESSAGE, "What are your opening hours?", NULL);
	json_t *a;

	(void)state;
	a = answer(bot, &ev, NULL, NULL);
	/* one answer with text and cards: the text, then the generic template, which carries
	 * the quick replies (the last message of the answer) */
	expect_json(a, "[" SEEN "," TYPING ","
	    "{\"action\":\"message\",\"messaging_type\":\"RESPONSE\","
	    "\"message\":{\"text\":\"Open 9 to 5.\"}},"
	    "{\"action\":\"message\",\"messaging_type\":\"RESPONSE\",\"message\":{\"attachment\":"
	    "{\"type\":\"template\",\"payload\":{\"template_type\":\"generic\",\"elements\":["
	    "{\"title\":\"Main shop\",\"subtitle\":\"Rue de la Paix\","
	    "\"image_url\":\"https://example.org/shop.jpg\","
	    "\"default_action\":{\"type\":\"web_url\",\"url\":\"https://example.org/shop\"},"
	    "\"buttons\":[{\"type\":\"web_url\",\"url\":\"https://example.org/dir\","
	    "\"title\":\"Directions\"}]},"
	    "{\"title\":\"Kiosk\",\"subtitle\":\"Station hall\"}]}},"
	    "\"quick_replies\":[{\"content_type\":\"text\",\"title\":\"Thanks\","
	    "\"payload\":\"THANKS\"}]}}]");
	json_decref(a);
	msgr_bot_close(bot);
}

static void
test_actions_handover(void **state)
{
	struct msgr_bot *bot = open_bot(data("basic.conf"));
	struct msgr_event ev = event(MSGR_EVENT_MESSAGE, "I want a HUMAN", NULL);
	json_t *a;

	(void)state;
	a = answer(bot, &ev, NULL, NULL);
	expect_json(a, "[" SEEN "," TYPING ","
	    "{\"action\":\"message\",\"messaging_type\":\"RESPONSE\","
	    "\"message\":{\"text\":\"A person will answer you here.\"}},"
	    "{\"action\":\"pass_thread_control\",\"target\":\"inbox\"}]");
	json_decref(a);
	/* take_control: taken before anything else */
	ev.text = "bot please";
	a = answer(bot, &ev, NULL, NULL);
	expect_json(a, "[{\"action\":\"take_thread_control\"}," SEEN "," TYPING ","
	    "{\"action\":\"message\",\"messaging_type\":\"RESPONSE\","
	    "\"message\":{\"text\":\"I am back.\"}}]");
	json_decref(a);
	/* a story that only hands over: no typing, no message */
	ev.text = "to the other app";
	a = answer(bot, &ev, NULL, NULL);
	expect_json(a, "[" SEEN ",{\"action\":\"pass_thread_control\",\"target\":\"123456789\"}]");
	json_decref(a);
	msgr_bot_close(bot);
}

/* ---- validation ----------------------------------------------------------------------------- */

static char *
repeat(const char *unit, size_t n)
{
	size_t l = strlen(unit), i;
	char *s = malloc(l * n + 1);

	assert_non_null(s);
	for (i = 0; i < n; i++)
		memcpy(s + i * l, unit, l);
	s[l * n] = '\0';
	return s;
}

/* Checks that file text fails with a fault on line `line` naming story `story` and holding
 * `what`; returns the whole error text (free it). */
static char *
expect_fault(const char *text, int line, const char *story, const char *what)
{
	const char *path = write_tmp(text);
	char *errors = NULL, want[512];
	msgr_result rc = msgr_bot_stories_check(path, &errors);

	if (rc != MSGR_ERR_CONFIG || errors == NULL)
		fail_msg("expected a fault \"%s\", got %s and %s", what, msgr_strerror(rc),
		    errors ? errors : "no errors");
	if (story != NULL)
		snprintf(want, sizeof(want), "%s:%d: story \"%s\": ", path, line, story);
	else
		snprintf(want, sizeof(want), "%s:%d: ", path, line);
	{
		/* the same line must hold both the place and the fault */
		const char *p = errors;
		int found = 0;

		while ((p = strstr(p, want)) != NULL) {
			const char *eol = strchr(p, '\n');
			const char *w = strstr(p, what);

			if (w != NULL && (eol == NULL || w < eol)) {
				found = 1;
				break;
			}
			p++;
		}
		if (!found)
			fail_msg("no \"%s...%s\" in:\n%s", want, what, errors);
	}
	return errors;
}

static void
fault_case(const char *text, int line, const char *story, const char *what)
{
	free(expect_fault(text, line, story, what));
}

/* A story file of one story `name` whose one answer is `answer` (on line 3). */
static char *
one_answer(const char *answer)
{
	static const char head[] = "stories = (\n  { name = \"s\"; triggers = ( \"t\" );\n"
	    "    answers = ( ";
	static const char tail[] = " ); } );\n";
	char *s = malloc(sizeof(head) + strlen(answer) + sizeof(tail));

	assert_non_null(s);
	sprintf(s, "%s%s%s", head, answer, tail);
	return s;
}

static void
limit_case(const char *answer, int line, const char *what)
{
	char *file = one_answer(answer);

	fault_case(file, line, "s", what);
	free(file);
}

/* Appends s to out (at *len) without its spaces. */
static void
append_words(char *out, size_t *len, const char *s)
{
	for (; *s != '\0'; s++)
		if (*s != ' ')
			out[(*len)++] = *s;
	out[*len] = '\0';
}

/* An answer of text loads and is sent as n messages, each within MSGR_TEXT_MAX_CHARS, that
 * hold all of the text but the spaces at the cuts, in order. */
static void
expect_split(const char *text, size_t n)
{
	struct msgr_event ev = event(MSGR_EVENT_MESSAGE, "t", NULL);
	struct msgr_bot *bot;
	char *ab = malloc(strlen(text) + 64), *file, *want, *got;
	json_t *a, *act;
	size_t i, k = 0, chars, wlen = 0, glen = 0;

	assert_non_null(ab);
	sprintf(ab, "{ text = \"%s\"; }", text);
	file = one_answer(ab);
	bot = open_bot(write_tmp(file));
	a = answer(bot, &ev, NULL, NULL);
	assert_int_equal(msgr_bot_actions_validate(a, NULL, 0), MSGR_OK);
	want = malloc(strlen(text) + 1);
	got = malloc(strlen(text) + 1);
	assert_non_null(want);
	assert_non_null(got);
	append_words(want, &wlen, text);
	got[0] = '\0';
	json_array_foreach(a, i, act) {
		const char *t;

		if (strcmp(json_string_value(json_object_get(act, "action")), "message") != 0)
			continue;
		t = json_string_value(json_object_get(json_object_get(act, "message"), "text"));
		assert_non_null(t);
		assert_int_equal(msgr_message_utf8_chars(t, &chars), MSGR_OK);
		assert_true(chars > 0 && chars <= MSGR_TEXT_MAX_CHARS);
		/* a cut falls on a space, or inside a word longer than a message */
		assert_true(t[0] != ' ' && t[strlen(t) - 1] != ' ');
		append_words(got, &glen, t);
		k++;
	}
	assert_int_equal(k, n);
	assert_string_equal(got, want);
	free(want);
	free(got);
	json_decref(a);
	msgr_bot_close(bot);
	free(file);
	free(ab);
}

static void
test_limit_text(void **state)
{
	char *ok = repeat("a", MSGR_TEXT_MAX_CHARS), *big = repeat("a", MSGR_TEXT_MAX_CHARS + 1);
	char *ab, *errors = NULL, *utf, *answer;

	(void)state;
	/* exactly 2000 characters loads (multi-byte counted as one: 2000 × "你", 6000 bytes) */
	utf = repeat("\xe4\xbd\xa0", MSGR_TEXT_MAX_CHARS);
	ab = malloc(strlen(utf) + 64);
	assert_non_null(ab);
	sprintf(ab, "{ text = \"%s\"; }", utf);
	answer = one_answer(ab);
	assert_int_equal(msgr_bot_stories_check(write_tmp(answer), &errors), MSGR_OK);
	assert_null(errors);
	free(answer);
	free(ab);
	free(utf);
	(void)ok;
	/* 2001 loads, split into several messages: at a code point in a word this long */
	expect_split(big, 2);
	free(ok);
	free(big);
	/* words: each part ends at a word, none over 2000 characters */
	big = repeat("word ", 900);
	expect_split(big, 3);
	free(big);
}

static void
test_limit_quick_replies(void **state)
{
	char buf[4096], *qr = repeat("{ title = \"q\"; payload = \"Q\"; }, ", MSGR_QUICK_REPLIES_MAX + 1);
	char *payload = repeat("p", MSGR_PAYLOAD_MAX_CHARS + 1);

	(void)state;
	/* 14 quick replies */
	qr[strlen(qr) - 2] = '\0';
	snprintf(buf, sizeof(buf), "{ text = \"x\"; quick_replies = ( %s ); }", qr);
	limit_case(buf, 3, "quick_replies: 14");
	/* a title of 21 characters; the line is the quick reply's */
	limit_case("{ text = \"x\";\n quick_replies = (\n { title = \"ok\"; payload = \"A\"; },\n"
	    " { title = \"123456789012345678901\"; payload = \"B\"; } ); }", 6,
	    "quick_replies[1].title: 21 characters, at most 20");
	/* a payload of 1001 characters */
	snprintf(buf, sizeof(buf), "{ text = \"x\"; quick_replies = ( { title = \"a\"; "
	    "payload = \"%s\"; } ); }", payload);
	limit_case(buf, 3, "quick_replies[0].payload: 1001 characters, at most 1000");
	/* a text quick reply needs both title and payload */
	limit_case("{ text = \"x\"; quick_replies = ( { title = \"a\"; } ); }", 3,
	    "needs a title and a payload");
	/* quick replies with nothing to attach to */
	limit_case("{ quick_replies = ( { title = \"a\"; payload = \"b\"; } ); }", 3,
	    "nothing to send");
	free(qr);
	free(payload);
}

static void
test_limit_buttons(void **state)
{
	char buf[4096], *text = repeat("b", MSGR_BUTTON_TEXT_MAX_CHARS + 1);

	(void)state;
	limit_case("{ text = \"x\"; buttons = ( { title = \"1\"; payload = \"1\"; },"
	    " { title = \"2\"; payload = \"2\"; }, { title = \"3\"; payload = \"3\"; },"
	    " { title = \"4\"; payload = \"4\"; } ); }", 3, "buttons: 4");
	limit_case("{ text = \"x\";\n buttons = ( { title = \"123456789012345678901\"; "
	    "payload = \"1\"; } ); }", 4, "buttons[0].title: 21 characters, at most 20");
	snprintf(buf, sizeof(buf), "{ text = \"%s\"; buttons = ( { title = \"a\"; "
	    "payload = \"b\"; } ); }", text);
	limit_case(buf, 3, "text: 641 characters, at most 640");
	limit_case("{ text = \"x\"; buttons = ( { title = \"call\"; phone = \"5550100\"; } ); }", 3,
	    "+");
	limit_case("{ text = \"x\"; buttons = ( { title = \"a\"; payload = \"b\"; url = "
	    "\"https://example.org\"; } ); }", 3, "exactly one of payload");
	limit_case("{ text = \"x\"; buttons = ( { title = \"a\"; url = \"ftp://example.org\"; } ); }",
	    3, "button url: not an https://");
	limit_case("{ image = \"https://example.org/a.png\"; buttons = ( { title = \"a\"; "
	    "payload = \"b\"; } ); }", 3, "buttons need a text");
	free(text);
}

static void
test_limit_cards(void **state)
{
	char buf[4096], *cards = repeat("{ title = \"c\"; subtitle = \"s\"; }, ", MSGR_CARDS_MAX + 1);
	char *title = repeat("t", MSGR_CARD_TITLE_MAX_CHARS + 1);

	(void)state;
	cards[strlen(cards) - 2] = '\0';
	snprintf(buf, sizeof(buf), "{ cards = ( %s ); }", cards);
	limit_case(buf, 3, "elements: 11");
	snprintf(buf, sizeof(buf), "{ cards = (\n { title = \"%s\"; subtitle = \"s\"; } ); }", title);
	limit_case(buf, 4, "elements[0].title: 81 characters, at most 80");
	snprintf(buf, sizeof(buf), "{ cards = (\n { title = \"a\"; subtitle = \"s\"; },\n"
	    " { title = \"b\"; subtitle = \"%s\"; } ); }", title);
	limit_case(buf, 5, "elements[1].subtitle: 81 characters, at most 80");
	limit_case("{ cards = ( { title = \"a\";\n buttons = ( { title = \"1\"; payload = \"1\"; },"
	    " { title = \"2\"; payload = \"2\"; }, { title = \"3\"; payload = \"3\"; },"
	    " { title = \"4\"; payload = \"4\"; } ); } ); }", 3, "buttons: 4");
	limit_case("{ cards = ( { subtitle = \"no title\"; } ); }", 3, "cards[0]: no title");
	limit_case("{ cards = ( { title = \"a\";\n buttons = ( { title = \"b\"; payload = \"c\";"
	    " size = 1; } ); } ); }", 4, "answer 1: cards[0]: buttons[0]: unknown key \"size\"");
	limit_case("{ image = \"example.org/a.png\"; }", 3, "image: not an https://");
	free(cards);
	free(title);
}

static void
test_limit_answers_and_placeholders(void **state)
{
	char buf[4096], *answers = repeat("{ text = \"a\"; }, ", MSGR_MAX_STORY_ANSWERS + 1);

	(void)state;
	answers[strlen(answers) - 2] = '\0';
	snprintf(buf, sizeof(buf), "stories = (\n { name = \"many\"; triggers = ( \"t\" );\n"
	    "   answers = ( %s ); } );\n", answers);
	fault_case(buf, 3, "many", "answers: 11, at most 10");
	free(answers);
	limit_case("{ text = \"Hi {firstname}\"; }", 3,
	    "unknown placeholder \"{firstname}\"");
	/* a quick reply titled only by a name is empty for a user without one */
	limit_case("{ text = \"x\"; quick_replies = ( { title = \"{first_name}\"; payload = \"a\"; "
	    "} ); }", 3, "when the name is unknown");
	limit_case("{ text = \"x\"; colour = \"red\"; }", 3, "answer 1: unknown key \"colour\"");
	limit_case("{ text = 12; }", 3, "text: not a string");
}

static void
test_faults_together(void **state)
{
	char *errors = NULL;
	const char *path = data("faults.conf");
	size_t lines = 0;
	const char *p;

	(void)state;
	assert_int_equal(msgr_bot_stories_check(path, &errors), MSGR_ERR_CONFIG);
	assert_non_null(errors);
	for (p = errors; *p; p++)
		lines += *p == '\n';
	/* every fault of the file, each on its own line */
	assert_true(lines >= 8);
#define HAS(s) do { if (strstr(errors, (s)) == NULL) fail_msg("no \"%s\" in:\n%s", (s), errors); } while (0)
	{
		char want[1400];

		snprintf(want, sizeof(want), "%s:3: story \"a\": unknown key \"colour\"", path);
		HAS(want);
		snprintf(want, sizeof(want), "%s:5: story \"a\": name already used by the story at "
		    "line 3", path);
		HAS(want);
		snprintf(want, sizeof(want), "%s:5: story \"a\": trigger \"!!!\" is empty", path);
		HAS(want);
		snprintf(want, sizeof(want), "%s:6: story \"b\": no answers", path);
		HAS(want);
		snprintf(want, sizeof(want), "%s:6: story \"b\": trigger \"hi\" is already story "
		    "\"a\"'s (line 3)", path);
		HAS(want);
		snprintf(want, sizeof(want), "%s:7: story \"c\": fallback: not true or false", path);
		HAS(want);
		snprintf(want, sizeof(want), "%s:7: story \"c\": text: not a string", path);
		HAS(want);
		snprintf(want, sizeof(want), "%s:8: story \"#5\": no name", path);
		HAS(want);
	}
#undef HAS
	free(errors);
}

static void
test_faults_stories(void **state)
{
	(void)state;
	fault_case("stories = (\n { name = \"f1\"; fallback = true; answers = ( { text = \"a\"; } ); },\n"
	    " { name = \"f2\";\n fallback = true; answers = ( { text = \"b\"; } ); } );\n", 4, "f2",
	    "a second fallback story (the first is at line 2)");
	fault_case("stories = (\n { name = \"x\"; triggers = ( ); answers = ( { text = \"a\"; } ); } );\n",
	    2, "x", "triggers is empty");
	fault_case("stories = (\n { name = \"x\"; triggers = ( \"\" ); answers = ( { text = \"a\"; } ); } );\n",
	    2, "x", "trigger \"\" is empty");
	fault_case("stories = (\n { name = \"x\"; answers = ( { text = \"a\"; } ); } );\n",
	    2, "x", "can never be chosen");
	fault_case("stories = (\n { name = \"x\"; triggers = ( \"a\" ); } );\n", 2, "x",
	    "no answers");
	fault_case("stories = (\n { name = \"x\"; triggers = ( \"a\" ); handover = \"page\"; } );\n",
	    2, "x", "handover: \"inbox\"");
	fault_case("stories = (\n { name = \"x\"; payloads = ( \"P\", \"P\" );"
	    " answers = ( { text = \"a\"; } ); } );\n", 2, "x", "payload \"P\" listed twice");
	fault_case("stories = (\n { name = \"x\"; triggers = ( \"a\" ); take_control = 1;"
	    " answers = ( { text = \"a\"; } ); } );\n", 2, "x", "take_control: not true or false");
	fault_case("stories = ( );\nextra = 1;\n", 2, NULL, "unknown key \"extra\"");
	fault_case("stories = ( );\n", 1, NULL, "stories is empty");
	fault_case("story = ( );\n", 1, NULL, "unknown key \"story\"");
	/* a syntax error names its line */
	fault_case("stories = (\n { name = ; triggers = ( \"a\" ); } );\n", 2, NULL, "syntax error");
}

static void
test_only_handover_is_a_story(void **state)
{
	char *errors = NULL;

	(void)state;
	assert_int_equal(msgr_bot_stories_check(write_tmp("stories = ( { name = \"h\"; "
	    "triggers = ( \"human\" ); handover = \"inbox\"; } );\n"), &errors), MSGR_OK);
	assert_null(errors);
}

/* Bots open on one file share its stories (read once per process); closing one leaves the
 * others whole, and a file changed since is read again by the next open only. */
static void
test_shared_file(void **state)
{
	struct msgr_event ev = event(MSGR_EVENT_MESSAGE, "hi", NULL);
	struct msgr_bot *a, *b, *c;
	const char *path;
	json_t *x;

	(void)state;
	path = write_tmp("stories = ( { name = \"s\"; triggers = ( \"hi\" );\n"
	    " answers = ( { text = \"one\"; } ); } );\n");
	a = open_bot(path);
	b = open_bot(path);
	msgr_bot_close(a);   /* b's stories must outlive a (ASan would see a use after free) */
	x = answer(b, &ev, NULL, NULL);
	assert_string_equal(first_text(x), "one");
	json_decref(x);
	path = write_tmp("stories = ( { name = \"s\"; triggers = ( \"hi\" );\n"
	    " answers = ( { text = \"two, longer\"; } ); } );\n");
	c = open_bot(path);
	x = answer(c, &ev, NULL, NULL);
	assert_string_equal(first_text(x), "two, longer");
	json_decref(x);
	x = answer(b, &ev, NULL, NULL);
	assert_string_equal(first_text(x), "one");   /* opened before the change */
	json_decref(x);
	msgr_bot_close(b);
	msgr_bot_close(c);
}

static void
test_include_is_relative_to_the_file(void **state)
{
	char part[400], *errors = NULL;
	FILE *f;

	(void)state;
	snprintf(part, sizeof(part), "%s/part.conf", tmpdir);
	f = fopen(part, "w");
	assert_non_null(f);
	fputs("{ name = \"inc\"; triggers = ( \"x\" ); answers = ( { text = 7; } ); }\n", f);
	assert_int_equal(fclose(f), 0);
	/* the fault inside the included file names that file and its line */
	assert_int_equal(msgr_bot_stories_check(write_tmp("stories = (\n@include \"part.conf\"\n);\n"),
	    &errors), MSGR_ERR_CONFIG);
	assert_non_null(errors);
	assert_non_null(strstr(errors, "part.conf:1: story \"inc\": text: not a string"));
	free(errors);
}

static void
test_missing_file(void **state)
{
	char *errors = NULL;
	struct msgr_connector c = conn_for("/nonexistent/stories.conf");
	struct msgr_bot *bot = (struct msgr_bot *)1;

	(void)state;
	assert_int_equal(msgr_bot_stories_check("/nonexistent/stories.conf", &errors), MSGR_ERR_IO);
	assert_non_null(errors);
	assert_non_null(strstr(errors, "/nonexistent/stories.conf:0: cannot read"));
	free(errors);
	errors = NULL;
	assert_int_equal(msgr_bot_open(&c, &bot, &errors), MSGR_ERR_IO);
	assert_null(bot);
	assert_non_null(errors);
	free(errors);
}

static void
test_long_name_falls_back(void **state)
{
	struct msgr_bot *bot;
	struct msgr_event ev = event(MSGR_EVENT_MESSAGE, "hi", NULL);
	char *name = repeat("n", 30);
	json_t *a;

	(void)state;
	bot = open_bot(write_tmp("stories = ( { name = \"q\"; triggers = ( \"hi\" );\n"
	    " answers = ( { text = \"Hi {first_name}\"; quick_replies = ( "
	    "{ title = \"I am {first_name}\"; payload = \"ME\"; } ); } ); } );\n"));
	/* "I am " + 30 characters is over the 20 of a quick reply title: the message goes
	 * without the names rather than not at all */
	a = answer(bot, &ev, name, NULL);
	assert_string_equal(first_text(a), "Hi");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
	    json_object_get(json_array_get(a, 2), "message"), "quick_replies"), 0), "title")),
	    "I am");
	json_decref(a);
	/* a short name fits */
	a = answer(bot, &ev, "Bo", NULL);
	assert_string_equal(first_text(a), "Hi Bo");
	json_decref(a);
	msgr_bot_close(bot);
	free(name);
}

/* ---- the interface -------------------------------------------------------------------------- */

static void
test_api_type_unavailable(void **state)
{
	struct msgr_connector c = conn_for(NULL);
	struct msgr_bot *bot = NULL;
	char *errors = NULL;

	(void)state;
	c.bot.type = MSGR_BOT_API;
	c.bot.url = (char *)"http://127.0.0.1:9/bot";
	assert_int_equal(msgr_bot_open(&c, &bot, &errors), MSGR_ERR_CONFIG);
	assert_null(bot);
	assert_non_null(errors);
	/* the api type exists now (lib/bot_api.c); without a secret it cannot run */
	assert_non_null(strstr(errors, "bot api: no secret"));
	free(errors);
	errors = NULL;
	assert_int_equal(msgr_bot_check(&c, &errors), MSGR_ERR_CONFIG);
	assert_non_null(strstr(errors, "connector \"test\""));
	free(errors);
	/* msgr_bot_check on a stories connector checks its file */
	c = conn_for(data("basic.conf"));
	errors = NULL;
	assert_int_equal(msgr_bot_check(&c, &errors), MSGR_OK);
	assert_null(errors);
	c = conn_for(data("faults.conf"));
	assert_int_equal(msgr_bot_check(&c, &errors), MSGR_ERR_CONFIG);
	assert_non_null(errors);
	free(errors);
	/* bad arguments */
	assert_int_equal(msgr_bot_open(NULL, &bot, NULL), MSGR_ERR_INVALID);
	assert_int_equal(msgr_bot_answer(NULL, NULL, NULL), MSGR_ERR_INVALID);
	msgr_bot_close(NULL);
}

static msgr_result
validate_text(const char *text, char *why, size_t whysz)
{
	json_t *a = json_loads(text, 0, NULL);
	msgr_result rc;

	assert_non_null(a);
	rc = msgr_bot_actions_validate(a, why, whysz);
	json_decref(a);
	return rc;
}

static void
test_actions_validate(void **state)
{
	char why[300], *big, *doc;

	(void)state;
	assert_int_equal(validate_text("[]", why, sizeof(why)), MSGR_OK);
	assert_int_equal(validate_text("[" SEEN "," TYPING ",{\"action\":\"message\","
	    "\"message\":{\"text\":\"hi\"},\"messaging_type\":\"RESPONSE\",\"tag\":\"HUMAN_AGENT\","
	    "\"notification_type\":\"SILENT_PUSH\"},{\"action\":\"pass_thread_control\","
	    "\"target\":\"inbox\",\"metadata\":\"m\"},{\"action\":\"take_thread_control\"}]",
	    why, sizeof(why)), MSGR_OK);
	assert_int_equal(validate_text("{}", why, sizeof(why)), MSGR_ERR_INVALID);
	assert_int_equal(validate_text("[{\"action\":\"dance\"}]", why, sizeof(why)),
	    MSGR_ERR_INVALID);
	assert_non_null(strstr(why, "actions[0].action"));
	assert_int_equal(validate_text("[{\"action\":\"sender_action\",\"sender_action\":\"wave\"}]",
	    why, sizeof(why)), MSGR_ERR_INVALID);
	assert_int_equal(validate_text("[" SEEN ",{\"action\":\"message\",\"message\":{\"text\":\"x\"},"
	    "\"messaging_type\":\"RESPONSE\",\"recipient\":{\"id\":\"1\"}}]", why, sizeof(why)),
	    MSGR_ERR_INVALID);
	assert_non_null(strstr(why, "actions[1]: unknown key \"recipient\""));
	assert_int_equal(validate_text("[{\"action\":\"message\",\"message\":{\"text\":\"x\"},"
	    "\"messaging_type\":\"MESSAGE_TAG\",\"tag\":\"ACCOUNT_UPDATE\"}]", why, sizeof(why)),
	    MSGR_ERR_LIMIT);
	assert_int_equal(validate_text("[{\"action\":\"message\",\"message\":{\"text\":\"x\"},"
	    "\"messaging_type\":\"MESSAGE_TAG\"}]", why, sizeof(why)), MSGR_ERR_LIMIT);
	assert_int_equal(validate_text("[{\"action\":\"message\",\"message\":{\"text\":\"x\"}}]",
	    why, sizeof(why)), MSGR_ERR_INVALID);
	assert_int_equal(validate_text("[{\"action\":\"pass_thread_control\",\"target\":\"12ab\"}]",
	    why, sizeof(why)), MSGR_ERR_INVALID);
	/* a message over a platform limit is named with its path (text alone over 2000 would
	 * pass: the worker splits it, msgr_bot_message_validate; with metadata it cannot) */
	big = repeat("a", MSGR_TEXT_MAX_CHARS + 1);
	doc = malloc(strlen(big) + 200);
	assert_non_null(doc);
	sprintf(doc, "[{\"action\":\"message\",\"message\":{\"text\":\"%s\",\"metadata\":\"m\"},"
	    "\"messaging_type\":\"RESPONSE\"}]", big);
	assert_int_equal(validate_text(doc, why, sizeof(why)), MSGR_ERR_LIMIT);
	assert_non_null(strstr(why, "actions[0].message: text: 2001 characters"));
	free(doc);
	free(big);
	/* metadata under 1000 characters */
	big = repeat("m", MSGR_METADATA_MAX_CHARS);
	doc = malloc(strlen(big) + 200);
	assert_non_null(doc);
	sprintf(doc, "[{\"action\":\"take_thread_control\",\"metadata\":\"%s\"}]", big);
	assert_int_equal(validate_text(doc, why, sizeof(why)), MSGR_ERR_LIMIT);
	free(doc);
	free(big);
}

static void
test_example_loads(void **state)
{
	char path[1024], *errors = NULL;
	msgr_result rc;

	(void)state;
	/* tests run with cwd at the top of the tree (tests/run) */
	snprintf(path, sizeof(path), "%s/../../examples/stories.conf", unit_data_dir());
	rc = msgr_bot_stories_check(path, &errors);
	if (rc != MSGR_OK)
		fail_msg("examples/stories.conf: %s\n%s", msgr_strerror(rc), errors ? errors : "");
	assert_null(errors);
}

static void
test_example_answers(void **state)
{
	char path[1024];
	struct msgr_bot *bot;
	struct msgr_event ev = event(MSGR_EVENT_MESSAGE, "Bonjour !", NULL);
	json_t *a;

	(void)state;
	snprintf(path, sizeof(path), "%s/../../examples/stories.conf", unit_data_dir());
	bot = open_bot(path);
	/* a greeting gets mark_seen, typing_on and at least one message */
	a = answer(bot, &ev, "Ana", "Lima");
	assert_true(json_array_size(a) >= 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 2), "action")),
	    "message");
	json_decref(a);
	/* anything else gets the fallback, never nothing */
	ev.text = "qwertyuiop";
	a = answer(bot, &ev, NULL, NULL);
	assert_true(json_array_size(a) >= 3);
	json_decref(a);
	msgr_bot_close(bot);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_triggers),
		cmocka_unit_test(test_match_file_order),
		cmocka_unit_test(test_match_payloads),
		cmocka_unit_test(test_unanswered_kinds),
		cmocka_unit_test(test_actions_text_and_placeholders),
		cmocka_unit_test(test_actions_buttons_image_quick_replies),
		cmocka_unit_test(test_actions_cards),
		cmocka_unit_test(test_actions_handover),
		cmocka_unit_test(test_limit_text),
		cmocka_unit_test(test_limit_quick_replies),
		cmocka_unit_test(test_limit_buttons),
		cmocka_unit_test(test_limit_cards),
		cmocka_unit_test(test_limit_answers_and_placeholders),
		cmocka_unit_test(test_faults_together),
		cmocka_unit_test(test_faults_stories),
		cmocka_unit_test(test_only_handover_is_a_story),
		cmocka_unit_test(test_include_is_relative_to_the_file),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_long_name_falls_back),
		cmocka_unit_test(test_api_type_unavailable),
		cmocka_unit_test(test_actions_validate),
		cmocka_unit_test(test_example_loads),
		cmocka_unit_test(test_example_answers),
		cmocka_unit_test(test_shared_file),
	};
	msgr_log_init("test_bot_stories", MSGR_LOG_WARN);
	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
