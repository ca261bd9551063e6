/* Unit tests: the Bot API bot (lib/bot_api.c) — the request of every event kind (exact event
 * objects, the checkbox optin's user, raw included), the reply check (a good reply gives
 * exact actions, each bad one is permanent and names the fault), and the HTTP client against
 * a small Python server started as a subprocess: signature verified there with Python's hmac,
 * keep-alive, timeouts, statuses, the reply cap, and no secret in the log. */
#include "unit.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bot.h"
#include "event.h"
#include "graph.h"
#include "limits.h"
#include "message.h"
#include "log.h"
#include "signature.h"

#define BOT_SECRET "bot-secret-0123456789abcdef"

/* ---- helpers ---------------------------------------------------------------------------- */

/* Parses entry[0].messaging[0] (or standby[0]) of tests/data/webhook/NAME.json into ev. */
static void
load_event(const char *name, struct msgr_event *ev)
{
	char path[512], why[256];
	json_error_t err;
	json_t *root, *entry, *list;
	msgr_result rc;

	snprintf(path, sizeof(path), "%s/webhook/%s.json", unit_data_dir(), name);
	root = json_load_file(path, 0, &err);
	if (root == NULL)
		fail_msg("%s: %s", path, err.text);
	entry = json_array_get(json_object_get(root, "entry"), 0);
	list = json_object_get(entry, "messaging");
	if (list == NULL)
		list = json_object_get(entry, "standby");
	memset(ev, 0, sizeof(*ev));
	rc = msgr_event_parse(json_array_get(list, 0), json_string_value(json_object_get(entry,
	    "id")), json_object_get(entry, "standby") != NULL, ev, why, sizeof(why));
	if (rc != MSGR_OK)
		fail_msg("%s: %s: %s", name, msgr_strerror(rc), why);
	json_decref(root);
}

static struct msgr_connector
api_conn(const char *url, const char *secret, int timeout_ms)
{
	struct msgr_connector c;

	memset(&c, 0, sizeof(c));
	c.id = (char *)"botconn";
	c.app_id = (char *)"987654321098765";
	c.page_id = (char *)"1234567890123456";
	c.bot.type = MSGR_BOT_API;
	c.bot.url = (char *)url;
	c.bot.secret = (char *)secret;
	c.bot.timeout_ms = timeout_ms;
	c.bot.events = MSGR_BOT_EVENTS_DEFAULT;
	return c;
}

/* The request for ev, parsed back. */
static json_t *
request_of(const struct msgr_connector *c, const struct msgr_event *ev, const char *first,
    const char *last, char **text)
{
	struct msgr_bot_input in = { c, ev, first, last };
	char *body = NULL;
	size_t len = 0;
	json_error_t err;
	json_t *j;

	assert_int_equal(msgr_bot_api_request(&in, &body, &len), MSGR_OK);
	assert_non_null(body);
	assert_int_equal(strlen(body), len);
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (j == NULL)
		fail_msg("request is not JSON: %s", err.text);
	if (text != NULL)
		*text = body;
	else
		free(body);
	return j;
}

static void
assert_json(const json_t *got, const char *want_text, const char *what)
{
	json_error_t err;
	json_t *want = json_loads(want_text, JSON_REJECT_DUPLICATES, &err);
	char *g;

	if (want == NULL)
		fail_msg("%s: expected text is not JSON: %s", what, err.text);
	if (!json_equal((json_t *)got, want)) {
		g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("%s:\n got:  %s\n want: %s", what, g ? g : "(null)", want_text);
	}
	json_decref(want);
}

/* ---- the request: every kind ------------------------------------------------------------- */

struct kind_case {
	const char *fixture;
	const char *event;   /* the exact "event" object */
	const char *user;    /* the exact "user" object */
};

#define TS "\"timestamp\":1700000000123"
#define USER "{\"id\":\"2345678901234567\",\"first_name\":\"Ada\",\"last_name\":\"Lovelace\"}"

static const struct kind_case kind_cases[] = {
	{ "message_text", "{\"type\":\"message\"," TS ",\"mid\":\"m_AbCdEf0123456789\","
	  "\"text\":\"hello, world!\",\"payload\":\"HELP_PAYLOAD\"}", USER },
	{ "message_attachments", "{\"type\":\"message\"," TS ",\"mid\":\"m_media0001\","
	  "\"attachments\":["
	  "{\"type\":\"image\",\"url\":\"https://scontent.xx.fbcdn.net/v/image.jpg\"},"
	  "{\"type\":\"video\",\"url\":\"https://video.xx.fbcdn.net/v/video.mp4\"},"
	  "{\"type\":\"audio\",\"url\":\"https://cdn.fbsbx.com/v/audio.mp4\"},"
	  "{\"type\":\"file\",\"url\":\"https://cdn.fbsbx.com/v/file.pdf\"},"
	  "{\"type\":\"reel\",\"url\":\"https://www.facebook.com/reel/1234\"},"
	  "{\"type\":\"ig_reel\",\"url\":\"https://www.instagram.com/reel/abc\","
	  "\"title\":\"Reel title\"}]}", USER },
	{ "message_sticker", "{\"type\":\"message\"," TS ",\"mid\":\"m_sticker0001\","
	  "\"sticker_id\":\"369239263222822\",\"attachments\":["
	  "{\"type\":\"sticker\",\"url\":\"https://scontent.xx.fbcdn.net/v/t39.1997-6/sticker.png\","
	  "\"sticker_id\":\"369239263222822\"},"
	  "{\"type\":\"image\",\"url\":\"https://scontent.xx.fbcdn.net/v/t39.1997-6/sticker.png\","
	  "\"sticker_id\":\"369239263222822\"}]}", USER },
	{ "message_location", "{\"type\":\"message\"," TS ",\"mid\":\"m_location0001\","
	  "\"attachments\":[{\"type\":\"location\",\"url\":\"https://l.facebook.com/l.php?u="
	  "https%3A%2F%2Fwww.bing.com%2Fmaps\",\"title\":\"Pinned Location\","
	  "\"coordinates\":{\"lat\":48.8566,\"long\":2.3522}}]}", USER },
	{ "message_appointment", "{\"type\":\"message\"," TS ",\"mid\":\"m_booking0001\","
	  "\"attachments\":[{\"type\":\"appointment_booking\",\"booking_id\":\"777888999\","
	  "\"status\":\"confirmed\",\"start_time\":1739612400,\"end_time\":1739616000,"
	  "\"timezone\":\"America/Los_Angeles\"}]}", USER },
	{ "message_reply", "{\"type\":\"message\"," TS ",\"mid\":\"m_reply000001\","
	  "\"text\":\"this one\",\"reply_to\":{\"mid\":\"m_original000001\","
	  "\"is_self_reply\":true}}", USER },
	{ "message_referral", "{\"type\":\"message\"," TS ",\"mid\":\"m_ad0001\","
	  "\"text\":\"Is this available?\",\"referral\":{\"ref\":\"SUMMER\",\"source\":\"ADS\","
	  "\"type\":\"OPEN_THREAD\",\"ad_id\":\"6045246247433\"}}", USER },
	{ "message_prior", "{\"type\":\"message\"," TS ",\"mid\":\"m_prior0001\","
	  "\"text\":\"yes please\",\"prior_message\":{\"source\":\"checkbox_plugin\","
	  "\"identifier\":\"checkbox-ref-42\"}}", USER },
	{ "echo", "{\"type\":\"echo\"," TS ",\"mid\":\"m_echo0001\",\"text\":\"Hello Ada!\","
	  "\"app_id\":\"987654321098765\",\"metadata\":\"bot:greeting\"}", USER },
	{ "postback", "{\"type\":\"postback\"," TS ",\"mid\":\"m_postback0001\","
	  "\"title\":\"Get Started\",\"payload\":\"GET_STARTED\",\"referral\":{\"ref\":\"landing\","
	  "\"source\":\"SHORTLINK\",\"type\":\"OPEN_THREAD\"}}", USER },
	{ "referral", "{\"type\":\"referral\"," TS ",\"referral\":{\"ref\":\"spring-sale\","
	  "\"source\":\"SHORTLINK\",\"type\":\"OPEN_THREAD\"}}", USER },
	{ "optin", "{\"type\":\"optin\"," TS ",\"ref\":\"PASS_THROUGH_PARAM\"}", USER },
	{ "optin_checkbox", "{\"type\":\"optin\"," TS ",\"ref\":\"order-1234\","
	  "\"user_ref\":\"checkbox-ref-42\"}", "{\"user_ref\":\"checkbox-ref-42\"}" },
	{ "optin_otn", "{\"type\":\"optin\"," TS ",\"optin_type\":\"one_time_notif_req\","
	  "\"payload\":\"PRICE_DROP\",\"token\":\"otn-token-abcdef\"}", USER },
	{ "optin_notification_messages", "{\"type\":\"optin\"," TS ","
	  "\"optin_type\":\"notification_messages\",\"payload\":\"WEEKLY_NEWS\","
	  "\"title\":\"Weekly news\",\"token\":\"nm-token-123456\","
	  "\"notification_messages_status\":\"STOP NOTIFICATIONS\","
	  "\"notification_messages_frequency\":\"WEEKLY\","
	  "\"notification_messages_timezone\":\"Europe/Paris\","
	  "\"user_token_status\":\"NOT_REFRESHED\",\"token_expiry_timestamp\":1731000000000}", USER },
	{ "reaction", "{\"type\":\"reaction\"," TS ",\"mid\":\"m_reactedto0001\","
	  "\"reaction\":\"love\",\"emoji\":\"\\u2764\\ufe0f\",\"action\":\"react\"}", USER },
	{ "reaction_unreact", "{\"type\":\"reaction\"," TS ",\"mid\":\"m_reactedto0001\","
	  "\"action\":\"unreact\"}", USER },
	{ "message_edit", "{\"type\":\"message_edit\"," TS ",\"mid\":\"m_edited0001\","
	  "\"text\":\"hello again (edited)\",\"num_edit\":2}", USER },
	{ "account_linking", "{\"type\":\"account_linking\"," TS ",\"status\":\"linked\","
	  "\"authorization_code\":\"auth-code-xyz\"}", USER },
	{ "delivery", "{\"type\":\"delivery\",\"mids\":[\"m_out0001\",\"m_out0002\"],"
	  "\"watermark\":1700000000999}", USER },
	{ "read", "{\"type\":\"read\"," TS ",\"watermark\":1700000001999}", USER },
	{ "policy_enforcement", "{\"type\":\"policy_enforcement\"," TS ",\"action\":\"block\","
	  "\"reason\":\"The bot violated our Platform Policies (https://developers.facebook.com/"
	  "devpolicy/#messengerplatform). Common violations include sending out excessive spammy "
	  "messages or being non-functional.\"}", "{}" },
	{ "pass_thread_control", "{\"type\":\"pass_thread_control\"," TS ","
	  "\"new_owner_app_id\":\"987654321098765\",\"metadata\":\"back to the bot\"}", USER },
	{ "take_thread_control", "{\"type\":\"take_thread_control\"," TS ","
	  "\"previous_owner_app_id\":\"987654321098765\",\"new_owner_app_id\":\"263902037430900\","
	  "\"metadata\":\"an agent took over\"}", USER },
	{ "request_thread_control", "{\"type\":\"request_thread_control\"," TS ","
	  "\"requested_owner_app_id\":\"123456789012345\",\"metadata\":\"please hand over\"}", USER },
	{ "app_roles", "{\"type\":\"app_roles\"," TS ",\"app_roles\":{\"987654321098765\":"
	  "[\"primary_receiver\"],\"263902037430900\":[\"secondary_receiver\"]}}", "{}" },
	{ "prior_message", "{\"type\":\"prior_message\"," TS ",\"source\":\"checkbox_plugin\","
	  "\"identifier\":\"checkbox-ref-42\"}", USER },
	{ "unknown", "{\"type\":\"unknown\"," TS ",\"key\":\"messaging_feedback\"}", USER },
};

static void
test_request_every_kind(void **state)
{
	struct msgr_connector c = api_conn("http://127.0.0.1:9/bot", BOT_SECRET, 1000);
	int seen[MSGR_EVENT_KIND_COUNT] = { 0 };
	size_t i;
	int k;

	(void)state;
	for (i = 0; i < sizeof(kind_cases) / sizeof(kind_cases[0]); i++) {
		const struct kind_case *kc = &kind_cases[i];
		struct msgr_event ev;
		json_t *req;
		char what[128];

		load_event(kc->fixture, &ev);
		seen[ev.kind] = 1;
		req = request_of(&c, &ev, "Ada", "Lovelace", NULL);
		snprintf(what, sizeof(what), "%s: event", kc->fixture);
		assert_json(json_object_get(req, "event"), kc->event, what);
		snprintf(what, sizeof(what), "%s: user", kc->fixture);
		assert_json(json_object_get(req, "user"), kc->user, what);
		/* raw is the messaging object as Facebook sent it */
		if (!json_equal(json_object_get(req, "raw"), ev.raw))
			fail_msg("%s: raw differs from the messaging object", kc->fixture);
		assert_string_equal(json_string_value(json_object_get(req, "connector")), "botconn");
		assert_string_equal(json_string_value(json_object_get(req, "page_id")),
		    "1234567890123456");
		assert_int_equal(json_object_size(req), 5);
		json_decref(req);
		msgr_event_clear(&ev);
	}
	/* every kind the connector knows has a case above */
	for (k = 0; k < MSGR_EVENT_KIND_COUNT; k++)
		if (!seen[k])
			fail_msg("no request case for kind %s", msgr_event_kind_name(k));
}

static void
test_request_shape(void **state)
{
	struct msgr_connector c = api_conn("http://127.0.0.1:9/bot", BOT_SECRET, 1000);
	struct msgr_bot_input in;
	struct msgr_event ev;
	char *text = NULL, sig[MSGR_SIGNATURE_HEADER_LEN + 1];
	char *body = NULL;
	size_t len;
	json_t *req;

	(void)state;
	load_event("message_text", &ev);
	/* keys in the documented order, compact */
	req = request_of(&c, &ev, NULL, NULL, &text);
	{
		static const char prefix[] = "{\"connector\":\"botconn\","
		    "\"page_id\":\"1234567890123456\",\"user\":{\"id\":\"2345678901234567\","
		    "\"first_name\":\"\",\"last_name\":\"\"},\"event\":{\"type\":\"message\",";

		if (strncmp(text, prefix, sizeof(prefix) - 1) != 0)
			fail_msg("request starts %.160s", text);
		assert_non_null(strstr(text, "},\"raw\":{"));
	}
	assert_null(strchr(text, '\n'));
	/* the signature the bot will check: over these exact bytes */
	assert_int_equal(msgr_signature_format(BOT_SECRET, text, strlen(text), sig), MSGR_OK);
	assert_int_equal(msgr_signature_verify(BOT_SECRET, text, strlen(text), sig), MSGR_OK);
	free(text);
	json_decref(req);
	/* non-ASCII goes as UTF-8, not \u-escaped */
	req = request_of(&c, &ev, "\xce\x91\xce\xb4\xce\xb1", "L", &text);
	assert_non_null(strstr(text, "\"first_name\":\"\xce\x91\xce\xb4\xce\xb1\""));
	free(text);
	json_decref(req);
	/* bad arguments */
	memset(&in, 0, sizeof(in));
	in.ev = &ev;
	assert_int_equal(msgr_bot_api_request(&in, &body, &len), MSGR_ERR_INVALID);
	assert_null(body);
	in.conn = &c;
	assert_int_equal(msgr_bot_api_request(&in, NULL, &len), MSGR_ERR_INVALID);
	assert_int_equal(msgr_bot_api_request(NULL, &body, &len), MSGR_ERR_INVALID);
	msgr_event_clear(&ev);
}

/* ---- the reply ------------------------------------------------------------------------- */

static json_t *
reply_ok(const char *text)
{
	char why[512];
	json_t *actions = NULL;
	msgr_result rc = msgr_bot_api_reply(text, strlen(text), &actions, why, sizeof(why));

	if (rc != MSGR_OK)
		fail_msg("reply refused: %s: %s\n  reply: %.200s", msgr_strerror(rc), why, text);
	assert_non_null(actions);
	/* what the worker gets has passed the one gate of every bot */
	if ((rc = msgr_bot_actions_validate(actions, why, sizeof(why))) != MSGR_OK)
		fail_msg("actions refused: %s: %s", msgr_strerror(rc), why);
	return actions;
}

static void
reply_bad(const char *text, size_t len, const char *why_has)
{
	char why[512];
	json_t *actions = (json_t *)&why;   /* must be reset to NULL */
	msgr_result rc = msgr_bot_api_reply(text, len, &actions, why, sizeof(why));

	if (rc != MSGR_ERR_PERMANENT)
		fail_msg("reply %.120s: got %s, want permanent error", text, msgr_strerror(rc));
	assert_null(actions);
	if (strstr(why, why_has) == NULL)
		fail_msg("reply %.120s: why \"%s\" lacks \"%s\"", text, why, why_has);
}

static void
test_reply_good(void **state)
{
	json_t *a;

	(void)state;
	/* sender_action first, messages in order (plain and wrapped), handover last */
	a = reply_ok("{\"handover\":{\"pass_to\":\"inbox\",\"metadata\":\"needs a person\"},"
	    "\"messages\":[{\"text\":\"Hi\",\"quick_replies\":[{\"content_type\":\"text\","
	    "\"title\":\"Yes\",\"payload\":\"Y\"}]},"
	    "{\"message\":{\"text\":\"An agent will answer\"},\"messaging_type\":\"MESSAGE_TAG\","
	    "\"tag\":\"HUMAN_AGENT\",\"notification_type\":\"SILENT_PUSH\"},"
	    "{\"message\":{\"sticker_id\":369239263222822},\"messaging_type\":\"UPDATE\"}],"
	    "\"sender_action\":\"typing_on\"}");
	assert_json(a, "["
	    "{\"action\":\"sender_action\",\"sender_action\":\"typing_on\"},"
	    "{\"action\":\"message\",\"message\":{\"text\":\"Hi\",\"quick_replies\":"
	    "[{\"content_type\":\"text\",\"title\":\"Yes\",\"payload\":\"Y\"}]},"
	    "\"messaging_type\":\"RESPONSE\"},"
	    "{\"action\":\"message\",\"message\":{\"text\":\"An agent will answer\"},"
	    "\"messaging_type\":\"MESSAGE_TAG\",\"tag\":\"HUMAN_AGENT\","
	    "\"notification_type\":\"SILENT_PUSH\"},"
	    "{\"action\":\"message\",\"message\":{\"sticker_id\":369239263222822},"
	    "\"messaging_type\":\"UPDATE\"},"
	    "{\"action\":\"pass_thread_control\",\"target\":\"inbox\","
	    "\"metadata\":\"needs a person\"}]", "full reply");
	json_decref(a);
	/* a button template */
	a = reply_ok("{\"messages\":[{\"attachment\":{\"type\":\"template\",\"payload\":{"
	    "\"template_type\":\"button\",\"text\":\"Pick\",\"buttons\":[{\"type\":\"postback\","
	    "\"title\":\"A\",\"payload\":\"A\"},{\"type\":\"web_url\",\"title\":\"Site\","
	    "\"url\":\"https://example.org\"}]}}}]}");
	assert_int_equal(json_array_size(a), 1);
	json_decref(a);
	/* an app id as a JSON number; metadata optional */
	a = reply_ok("{\"handover\":{\"pass_to\":123456789012345}}");
	assert_json(a, "[{\"action\":\"pass_thread_control\",\"target\":\"123456789012345\"}]",
	    "numeric app id");
	json_decref(a);
	/* nothing to say: an empty body, {}, empty lists, nulls */
	a = reply_ok("");
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
	a = reply_ok(" \r\n");
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
	a = reply_ok("{}");
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
	a = reply_ok("{\"messages\":[],\"sender_action\":null,\"handover\":null}");
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
	a = reply_ok("{\"sender_action\":\"mark_seen\"}");
	assert_json(a, "[{\"action\":\"sender_action\",\"sender_action\":\"mark_seen\"}]",
	    "sender action alone");
	json_decref(a);
}

/* n characters of words ("word word ..."), quick replies optional. */
static char *
long_text_reply(size_t n, const char *extra)
{
	char *s = malloc(n + 256), *p;
	size_t i;

	assert_non_null(s);
	p = s + sprintf(s, "{\"messages\":[{\"text\":\"");
	for (i = 0; i < n; i++)
		*p++ = (i % 5 == 4) ? ' ' : 'a';
	p[-1] = 'z';
	sprintf(p, "\"%s}]}", extra);
	return s;
}

static void
test_reply_long_text(void **state)
{
	char *s;
	json_t *a;
	size_t chars = 0;

	(void)state;
	/* text over 2000 characters with quick replies: the worker splits it, so it passes */
	s = long_text_reply(4500, ",\"quick_replies\":[{\"content_type\":\"text\",\"title\":"
	    "\"More\",\"payload\":\"MORE\"}]");
	a = reply_ok(s);
	assert_int_equal(json_array_size(a), 1);
	assert_int_equal(msgr_message_utf8_chars(json_string_value(json_object_get(
	    json_object_get(json_array_get(a, 0), "message"), "text")), &chars), MSGR_OK);
	assert_int_equal(chars, 4500);
	json_decref(a);
	free(s);
	/* a long text that passes leaves no stale length fault in why (found by fuzz_message) */
	{
		char vwhy[MSGR_MESSAGE_WHY_MAX] = "stale";
		char *t = malloc(2100 * 2 + 1);
		json_t *m;
		size_t k;

		assert_non_null(t);
		for (k = 0; k < 2100; k++)
			memcpy(t + 2 * k, "a ", 2);
		t[2 * 2100] = '\0';
		m = json_pack("{s:s}", "text", t);
		assert_non_null(m);
		assert_int_equal(msgr_bot_message_validate(m, vwhy, sizeof(vwhy)), MSGR_OK);
		assert_string_equal(vwhy, "");
		json_decref(m);
		free(t);
	}
	/* ...but not beside anything the split would drop or duplicate */
	s = long_text_reply(2500, ",\"metadata\":\"m\"");
	reply_bad(s, strlen(s), "messages[0]: text: 2500 characters, at most 2000");
	free(s);
	/* ...and not past the largest text the connector splits */
	s = long_text_reply(MSGR_MAX_TEXT_BYTES + 10, "");
	reply_bad(s, strlen(s), "messages[0]: text: too long to split");
	free(s);
	/* a quick reply over its limit still fails a long text */
	s = long_text_reply(2500, ",\"quick_replies\":[{\"content_type\":\"text\",\"title\":"
	    "\"This title is far too long\",\"payload\":\"X\"}]");
	reply_bad(s, strlen(s), "messages[0]: text part 2 of 2: quick_replies[0].title");
	free(s);
}

struct bad_case {
	const char *reply;
	const char *why_has;
};

static const struct bad_case bad_cases[] = {
	{ "not json", "reply: not JSON" },
	{ "{\"messages\":[{\"text\":\"a\"}]", "reply: not JSON" },
	{ "{\"messages\":[],\"messages\":[]}", "reply: not JSON" },
	{ "{\"messages\":[{\"text\":\"a\\u0000b\"}]}", "reply: not JSON" },
	{ "[]", "reply: not a JSON object" },
	{ "\"hello\"", "reply: not JSON" },
	{ "{\"messages\":[],\"text\":\"hi\"}", "reply: unknown key \"text\"" },
	{ "{\"messages\":{\"text\":\"hi\"}}", "messages: not an array" },
	{ "{\"messages\":[\"hi\"]}", "messages[0]: not an object" },
	{ "{\"messages\":[{}]}", "messages[0]:" },
	{ "{\"messages\":[{\"text\":\"\"}]}", "messages[0]: text" },
	{ "{\"messages\":[{\"text\":\"ok\"},{\"text\":\"x\",\"bogus\":1}]}", "messages[1]:" },
	{ "{\"messages\":[{\"text\":\"ok\"},{\"text\":\"x\",\"quick_replies\":["
	  "{\"content_type\":\"text\",\"title\":\"A title over twenty!!\",\"payload\":\"P\"}]}]}",
	  "messages[1]: quick_replies[0].title: 21 characters, at most 20" },
	{ "{\"messages\":[{\"attachment\":{\"type\":\"template\",\"payload\":{\"template_type\":"
	  "\"button\",\"text\":\"t\",\"buttons\":[{\"type\":\"postback\",\"title\":\"1\","
	  "\"payload\":\"1\"},{\"type\":\"postback\",\"title\":\"2\",\"payload\":\"2\"},"
	  "{\"type\":\"postback\",\"title\":\"3\",\"payload\":\"3\"},{\"type\":\"postback\","
	  "\"title\":\"4\",\"payload\":\"4\"}]}}}]}", "messages[0]: " },
	{ "{\"messages\":[{\"text\":\"a\",\"sticker_id\":1}]}", "messages[0]: " },
	{ "{\"messages\":[{\"message\":{\"text\":\"a\"},\"recipient\":{\"id\":\"1\"}}]}",
	  "messages[0]: unknown key \"recipient\"" },
	{ "{\"messages\":[{\"message\":\"hi\"}]}", "messages[0].message: not an object" },
	{ "{\"messages\":[{\"message\":{\"text\":\"a\"},\"messaging_type\":\"PUSH\"}]}",
	  "messages[0].messaging_type" },
	{ "{\"messages\":[{\"message\":{\"text\":\"a\"},\"messaging_type\":\"MESSAGE_TAG\","
	  "\"tag\":\"CONFIRMED_EVENT_UPDATE\"}]}", "messages[0].tag: only HUMAN_AGENT" },
	{ "{\"messages\":[{\"message\":{\"text\":\"a\"},\"messaging_type\":\"MESSAGE_TAG\"}]}",
	  "messages[0]: tag HUMAN_AGENT goes with messaging_type MESSAGE_TAG" },
	{ "{\"messages\":[{\"message\":{\"text\":\"a\"},\"tag\":\"HUMAN_AGENT\"}]}",
	  "messages[0]: tag HUMAN_AGENT goes with messaging_type MESSAGE_TAG" },
	{ "{\"messages\":[{\"message\":{\"text\":\"a\"},\"notification_type\":\"LOUD\"}]}",
	  "messages[0].notification_type" },
	{ "{\"sender_action\":\"typing\"}", "sender_action: not typing_on" },
	{ "{\"sender_action\":1}", "sender_action: not typing_on" },
	{ "{\"handover\":\"inbox\"}", "handover: not an object" },
	{ "{\"handover\":{}}", "handover.pass_to: missing" },
	{ "{\"handover\":{\"pass_to\":\"someone\"}}", "handover.pass_to: not \"inbox\"" },
	{ "{\"handover\":{\"pass_to\":\"inbox\",\"target\":\"x\"}}",
	  "handover: unknown key \"target\"" },
	{ "{\"handover\":{\"pass_to\":\"inbox\",\"metadata\":7}}", "handover.metadata" },
};

static void
test_reply_bad(void **state)
{
	char *s, *p;
	size_t i;
	json_t *actions = NULL;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
		reply_bad(bad_cases[i].reply, strlen(bad_cases[i].reply), bad_cases[i].why_has);

	/* more messages than MSGR_MAX_BOT_MESSAGES */
	s = malloc(64 + 16 * (MSGR_MAX_BOT_MESSAGES + 1));
	assert_non_null(s);
	p = s + sprintf(s, "{\"messages\":[");
	for (i = 0; i <= MSGR_MAX_BOT_MESSAGES; i++)
		p += sprintf(p, "%s{\"text\":\"m%zu\"}", i ? "," : "", i);
	sprintf(p, "]}");
	reply_bad(s, strlen(s), "messages: 11, at most 10");
	free(s);

	/* handover metadata: under 1000 characters */
	s = malloc(1200);
	assert_non_null(s);
	p = s + sprintf(s, "{\"handover\":{\"pass_to\":\"inbox\",\"metadata\":\"");
	memset(p, 'm', 1000);
	sprintf(p + 1000, "\"}}");
	reply_bad(s, strlen(s), "handover.metadata: 1000 characters, at most 999");
	free(s);

	/* nesting deeper than the bound is refused before jansson parses it */
	s = malloc(2 * 64 + 32);
	assert_non_null(s);
	p = s + sprintf(s, "{\"messages\":");
	for (i = 0; i < 64; i++)
		*p++ = '[';
	for (i = 0; i < 64; i++)
		*p++ = ']';
	sprintf(p, "}");
	reply_bad(s, strlen(s), "nested too deep");
	free(s);

	/* a body over the cap, even when its start is valid */
	s = malloc((size_t)MSGR_MAX_BOT_REPLY + 2);
	assert_non_null(s);
	memset(s, ' ', (size_t)MSGR_MAX_BOT_REPLY + 1);
	memcpy(s, "{}", 2);
	reply_bad(s, (size_t)MSGR_MAX_BOT_REPLY + 1, "reply: 1048577 bytes, at most 1048576");
	free(s);

	/* arguments */
	assert_int_equal(msgr_bot_api_reply("{}", 2, NULL, NULL, 0), MSGR_ERR_INVALID);
	assert_int_equal(msgr_bot_api_reply(NULL, 3, &actions, NULL, 0), MSGR_ERR_INVALID);
	assert_int_equal(msgr_bot_api_reply("{}", 2, &actions, NULL, 0), MSGR_OK);
	json_decref(actions);
}

/* The connector's own checks (msgrctl check) and open. */
static void
test_check_and_open(void **state)
{
	struct msgr_connector c;
	struct msgr_bot *bot = NULL;
	char *errors = NULL;

	(void)state;
	c = api_conn("http://127.0.0.1:9/bot", BOT_SECRET, 1000);
	assert_int_equal(msgr_bot_check(&c, &errors), MSGR_OK);
	assert_null(errors);
	assert_int_equal(msgr_bot_open(&c, &bot, &errors), MSGR_OK);
	assert_string_equal(msgr_bot_type_name(bot), "api");
	assert_string_equal(msgr_bot_last_error(bot), "");
	msgr_bot_close(bot);

	/* plain http:// only to this machine: elsewhere people's messages would travel in clear */
	c = api_conn("http://localhost:9000/bot", BOT_SECRET, 1000);
	assert_int_equal(msgr_bot_check(&c, NULL), MSGR_OK);
	c = api_conn("http://[::1]:9000/bot", BOT_SECRET, 1000);
	assert_int_equal(msgr_bot_check(&c, NULL), MSGR_OK);
	c = api_conn("http://bot.example.org/hook", BOT_SECRET, 1000);
	assert_int_equal(msgr_bot_check(&c, &errors), MSGR_ERR_CONFIG);
	assert_non_null(strstr(errors, "http:// only to 127.0.0.1, localhost or [::1]"));
	free(errors);
	c = api_conn("http://10.0.0.7:9000/bot", BOT_SECRET, 1000);
	assert_int_equal(msgr_bot_open(&c, &bot, NULL), MSGR_ERR_CONFIG);
	assert_null(bot);
	c = api_conn("https://bot.example.org/hook", BOT_SECRET, 1000);
	assert_int_equal(msgr_bot_check(&c, NULL), MSGR_OK);
	c = api_conn("ftp://127.0.0.1/bot", BOT_SECRET, 1000);
	assert_int_equal(msgr_bot_check(&c, &errors), MSGR_ERR_CONFIG);
	assert_non_null(strstr(errors, "connector \"botconn\": bot api: url: not http"));
	free(errors);
	c = api_conn("http://127.0.0.1:9/a b", BOT_SECRET, 1000);
	assert_int_equal(msgr_bot_open(&c, &bot, &errors), MSGR_ERR_CONFIG);
	assert_null(bot);
	assert_non_null(strstr(errors, "url: too long, or a space"));
	free(errors);
	c = api_conn("https://bot.example.org/hook", "", 1000);
	assert_int_equal(msgr_bot_check(&c, &errors), MSGR_ERR_CONFIG);
	assert_non_null(strstr(errors, "no secret"));
	/* the fault never holds a secret: there is none to show, and the url is not shown */
	assert_null(strstr(errors, "bot.example.org"));
	free(errors);
	c = api_conn(NULL, BOT_SECRET, 1000);
	assert_int_equal(msgr_bot_check(&c, NULL), MSGR_ERR_CONFIG);
}

/* The signatures of docs/bot-api.md "Signatures", against HMAC computed here. */
static void
test_signatures(void **state)
{
	static const char body[] = "{\"connector\":\"c\"}";
	static const char reply[] = "{\"messages\":[]}";
	char sig[MSGR_SIGNATURE_HEADER_LEN + 1], rsig[MSGR_SIGNATURE_HEADER_LEN + 1];
	char want[MSGR_SIGNATURE_HEADER_LEN + 1], text[256], upper[sizeof(rsig)];
	size_t i;

	(void)state;
	/* request: over "TIMESTAMP.BODY" */
	assert_int_equal(msgr_bot_api_sign_request(BOT_SECRET, 1700000000LL, body, strlen(body),
	    sig), MSGR_OK);
	snprintf(text, sizeof(text), "1700000000.%s", body);
	assert_int_equal(msgr_signature_format(BOT_SECRET, text, strlen(text), want), MSGR_OK);
	assert_string_equal(sig, want);
	/* another time, another signature: a captured request says when it was made */
	assert_int_equal(msgr_bot_api_sign_request(BOT_SECRET, 1700000001LL, body, strlen(body),
	    want), MSGR_OK);
	assert_string_not_equal(sig, want);
	/* reply: over "REQUEST_SIGNATURE.BODY" */
	assert_int_equal(msgr_bot_api_sign_reply(BOT_SECRET, sig, reply, strlen(reply), rsig),
	    MSGR_OK);
	snprintf(text, sizeof(text), "%s.%s", sig, reply);
	assert_int_equal(msgr_signature_format(BOT_SECRET, text, strlen(text), want), MSGR_OK);
	assert_string_equal(rsig, want);
	assert_int_equal(msgr_bot_api_verify_reply(BOT_SECRET, sig, reply, strlen(reply), rsig),
	    MSGR_OK);
	for (i = 0; rsig[i] != '\0'; i++)
		upper[i] = i < 7 ? rsig[i] : (char)toupper((unsigned char)rsig[i]);
	upper[i] = '\0';
	assert_int_equal(msgr_bot_api_verify_reply(BOT_SECRET, sig, reply, strlen(reply), upper),
	    MSGR_OK);
	/* wrong: another body, another request, another key, none, malformed */
	assert_int_equal(msgr_bot_api_verify_reply(BOT_SECRET, sig, "{}", 2, rsig),
	    MSGR_ERR_SIGNATURE);
	assert_int_equal(msgr_bot_api_verify_reply(BOT_SECRET, want, reply, strlen(reply), rsig),
	    MSGR_ERR_SIGNATURE);
	assert_int_equal(msgr_bot_api_verify_reply("other-secret", sig, reply, strlen(reply),
	    rsig), MSGR_ERR_SIGNATURE);
	assert_int_equal(msgr_bot_api_verify_reply(BOT_SECRET, sig, reply, strlen(reply), NULL),
	    MSGR_ERR_SIGNATURE);
	assert_int_equal(msgr_bot_api_verify_reply(BOT_SECRET, sig, reply, strlen(reply),
	    "sha256=zz"), MSGR_ERR_SIGNATURE);
	/* an empty reply is signed too */
	assert_int_equal(msgr_bot_api_sign_reply(BOT_SECRET, sig, "", 0, rsig), MSGR_OK);
	assert_int_equal(msgr_bot_api_verify_reply(BOT_SECRET, sig, "", 0, rsig), MSGR_OK);
	assert_int_equal(msgr_bot_api_sign_request("", 1, body, 3, sig), MSGR_ERR_INVALID);
}

/* ---- against a real HTTP server -------------------------------------------------------- */

/* The bot side: verifies X-Msgr-Timestamp and X-Msgr-Signature with Python's hmac (not
 * with the code under test), signs its replies the same way, keeps the last body and the
 * last signatures, and answers by path. */
static const char server_py[] =
"import hashlib, hmac, http.server, itertools, json, os, sys, time\n"
"secret, portfile, bodyfile = sys.argv[1].encode(), sys.argv[2], sys.argv[3]\n"
"ids = itertools.count(1)\n"
"def mac(*parts):\n"
"    return 'sha256=' + hmac.new(secret, b'.'.join(parts), hashlib.sha256).hexdigest()\n"
"def keep(name, data):\n"
"    with open(bodyfile + name + '.tmp', 'wb') as f:\n"
"        f.write(data)\n"
"    os.replace(bodyfile + name + '.tmp', bodyfile + name)\n"
"class H(http.server.BaseHTTPRequestHandler):\n"
"    protocol_version = 'HTTP/1.1'\n"
"    def setup(self):\n"
"        super().setup()\n"
"        self.conn_id = next(ids)\n"
"    def log_message(self, *a):\n"
"        pass\n"
"    def reply(self, status, body=b'', extra=(), sign=True):\n"
"        self.send_response(status)\n"
"        self.send_header('Content-Type', 'application/json')\n"
"        if sign and 200 <= status < 300:\n"
"            sig = mac(self.reqsig.encode(), body)\n"
"            keep('.replysig', sig.encode())\n"
"            self.send_header('X-Msgr-Signature', sig)\n"
"        for k, v in extra:\n"
"            self.send_header(k, v)\n"
"        self.send_header('Content-Length', str(len(body)))\n"
"        self.end_headers()\n"
"        self.wfile.write(body)\n"
"    def do_POST(self):\n"
"        body = self.rfile.read(int(self.headers.get('Content-Length', '0')))\n"
"        keep('', body)\n"
"        ts = self.headers.get('X-Msgr-Timestamp', '')\n"
"        keep('.ts', ts.encode())\n"
"        self.reqsig = self.headers.get('X-Msgr-Signature', '')\n"
"        fresh = ts.isdigit() and abs(time.time() - int(ts)) <= 300\n"
"        if not fresh or not hmac.compare_digest(self.reqsig, mac(ts.encode(), body)):\n"
"            return self.reply(401, b'{\"error\":\"bad signature\"}')\n"
"        if self.headers.get('Content-Type') != 'application/json':\n"
"            return self.reply(415)\n"
"        p = self.path\n"
"        if p == '/echo':\n"
"            ev = json.loads(body)['event']\n"
"            out = {'sender_action': 'typing_on', 'messages': [\n"
"                {'text': 'echo: %s' % ev.get('text'), 'quick_replies': [\n"
"                    {'content_type': 'text', 'title': 'conn %d' % self.conn_id,\n"
"                     'payload': 'C'}]}]}\n"
"            return self.reply(200, json.dumps(out).encode())\n"
"        if p == '/slow':\n"
"            time.sleep(3)\n"
"            return self.reply(200, b'{}')\n"
"        if p.startswith('/status/'):\n"
"            extra = [('Location', 'http://127.0.0.1:9/elsewhere')]\n"
"            return self.reply(int(p[8:]), b'{}', extra)\n"
"        if p == '/badjson':\n"
"            return self.reply(200, b'{\"messages\": [')\n"
"        if p == '/big':\n"
"            return self.reply(200, b'{\"messages\":[]}' + b' ' * 1048576)\n"
"        if p == '/overlimit':\n"
"            qr = [{'content_type': 'text', 'title': 'q%d' % i, 'payload': 'P'}\n"
"                  for i in range(14)]\n"
"            out = {'messages': [{'text': 'fine'}, {'text': 'x', 'quick_replies': qr}]}\n"
"            return self.reply(200, json.dumps(out).encode())\n"
"        if p == '/empty':\n"
"            self.send_response(204)\n"
"            self.send_header('X-Msgr-Signature', mac(self.reqsig.encode(), b''))\n"
"            self.end_headers()\n"
"            return\n"
"        forged = b'{\"messages\":[{\"text\":\"forged\"}]}'\n"
"        if p == '/unsigned':\n"
"            return self.reply(200, forged, sign=False)\n"
"        if p == '/wrongkey':\n"
"            bad = 'sha256=' + hmac.new(b'another-secret-0123', self.reqsig.encode() + b'.' +\n"
"                                       forged, hashlib.sha256).hexdigest()\n"
"            return self.reply(200, forged, [('X-Msgr-Signature', bad)], sign=False)\n"
"        if p == '/replayed':\n"
"            other = mac(b'sha256=' + b'0' * 64, forged)\n"
"            return self.reply(200, forged, [('X-Msgr-Signature', other)], sign=False)\n"
"        if p == '/twice':\n"
"            good = mac(self.reqsig.encode(), forged)\n"
"            return self.reply(200, forged, [('X-Msgr-Signature', good)] * 2, sign=False)\n"
"        self.reply(404, b'{}')\n"
"srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
"srv.daemon_threads = True\n"
"with open(portfile + '.tmp', 'w') as f:\n"
"    f.write(str(srv.server_address[1]))\n"
"os.replace(portfile + '.tmp', portfile)\n"
"srv.serve_forever()\n";

struct server {
	pid_t pid;
	int port;
	char dir[64];
	char script[128];
	char portfile[128];
	char bodyfile[128];
	char logfile[128];
	int saved_stderr;
};

static struct server sv;


static int
server_setup(void **state)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	FILE *f;
	int i, fd;

	(void)state;
	snprintf(sv.dir, sizeof(sv.dir), "/tmp/msgr_botapi_XXXXXX");
	if (mkdtemp(sv.dir) == NULL)
		return -1;
	snprintf(sv.script, sizeof(sv.script), "%s/bot.py", sv.dir);
	snprintf(sv.portfile, sizeof(sv.portfile), "%s/port", sv.dir);
	snprintf(sv.bodyfile, sizeof(sv.bodyfile), "%s/body", sv.dir);
	snprintf(sv.logfile, sizeof(sv.logfile), "%s/log", sv.dir);
	if ((f = fopen(sv.script, "w")) == NULL)
		return -1;
	fputs(server_py, f);
	fclose(f);
	if ((sv.pid = fork()) < 0)
		return -1;
	if (sv.pid == 0) {
		execlp("python3", "python3", sv.script, BOT_SECRET, sv.portfile, sv.bodyfile,
		    (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200 && sv.port <= 0; i++) {
		if ((f = fopen(sv.portfile, "r")) != NULL) {
			if (fscanf(f, "%d", &sv.port) != 1)
				sv.port = 0;
			fclose(f);
		}
		if (sv.port <= 0)
			nanosleep(&ts, NULL);
	}
	if (sv.port <= 0)
		return -1;
	/* The library logs to stderr: keep it, to look for secrets afterwards. */
	msgr_log_init("test_bot_api", MSGR_LOG_DEBUG);
	fflush(stderr);
	sv.saved_stderr = dup(2);
	if ((fd = open(sv.logfile, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		return -1;
	dup2(fd, 2);
	close(fd);
	return msgr_graph_global_init() == MSGR_OK ? 0 : -1;
}

static int
server_teardown(void **state)
{
	int st;

	char *log, *line, *save = NULL;

	(void)state;
	if (sv.saved_stderr >= 0) {
		fflush(stderr);
		dup2(sv.saved_stderr, 2);
		close(sv.saved_stderr);
		sv.saved_stderr = -1;
	}
	/* cmocka's own failure messages went into the log too: show them (not our lines). */
	if ((log = unit_read_file(sv.logfile, NULL)) != NULL) {
		for (line = strtok_r(log, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			if (strstr(line, "test_bot_api[") == NULL)
				fprintf(stderr, "%s\n", line);
		free(log);
	}
	if (sv.pid > 0) {
		kill(sv.pid, SIGTERM);
		waitpid(sv.pid, &st, 0);
	}
	unlink(sv.script);
	unlink(sv.portfile);
	{
		static const char *const kept[] = { "", ".ts", ".replysig", NULL };
		char path[160];
		int k;

		for (k = 0; kept[k] != NULL; k++) {
			snprintf(path, sizeof(path), "%s%s", sv.bodyfile, kept[k]);
			unlink(path);
		}
	}
	unlink(sv.logfile);
	rmdir(sv.dir);
	return 0;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Opens a bot on the server's path, asks it about fixture, returns the result. */
static msgr_result
ask(const char *path, const char *secret, int timeout_ms, const char *fixture,
    json_t **actions, char *why, size_t whysz)
{
	char url[128];
	struct msgr_connector c;
	struct msgr_bot *bot = NULL;
	struct msgr_bot_input in;
	struct msgr_event ev;
	msgr_result rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", sv.port, path);
	c = api_conn(url, secret, timeout_ms);
	load_event(fixture, &ev);
	assert_int_equal(msgr_bot_open(&c, &bot, NULL), MSGR_OK);
	memset(&in, 0, sizeof(in));
	in.conn = &c;
	in.ev = &ev;
	in.first_name = "Ada";
	in.last_name = "Lovelace";
	rc = msgr_bot_answer(bot, &in, actions);
	snprintf(why, whysz, "%s", msgr_bot_last_error(bot));
	msgr_bot_close(bot);
	msgr_event_clear(&ev);
	return rc;
}

static void
test_round_trip(void **state)
{
	char url[128], why[512], tsfile[160];
	struct msgr_connector c;
	struct msgr_bot *bot = NULL;
	struct msgr_bot_input in;
	struct msgr_event ev;
	json_t *a1 = NULL, *a2 = NULL, *sent;
	char *body, *mine = NULL;
	size_t len, mylen;
	const char *t1, *t2;

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", sv.port);
	c = api_conn(url, BOT_SECRET, 2000);
	load_event("message_text", &ev);
	assert_int_equal(msgr_bot_open(&c, &bot, NULL), MSGR_OK);
	memset(&in, 0, sizeof(in));
	in.conn = &c;
	in.ev = &ev;
	in.first_name = "Ada";
	in.last_name = "Lovelace";
	assert_int_equal(msgr_bot_answer(bot, &in, &a1), MSGR_OK);
	/* the server checked the signature (else 401 -> permanent) and answered the echo */
	assert_json(a1, "[{\"action\":\"sender_action\",\"sender_action\":\"typing_on\"},"
	    "{\"action\":\"message\",\"message\":{\"text\":\"echo: hello, world!\","
	    "\"quick_replies\":[{\"content_type\":\"text\",\"title\":\"conn 1\","
	    "\"payload\":\"C\"}]},\"messaging_type\":\"RESPONSE\"}]", "echo actions");
	/* it came with the time it was made, in unix seconds (the bot's window: 5 minutes) */
	snprintf(tsfile, sizeof(tsfile), "%s.ts", sv.bodyfile);
	body = unit_read_file(tsfile, &len);
	assert_non_null(body);
	assert_true(len >= 10);
	assert_true(llabs(strtoll(body, NULL, 10) - (long long)time(NULL)) < 60);
	free(body);
	/* what it received is exactly msgr_bot_api_request's body */
	body = unit_read_file(sv.bodyfile, &len);
	assert_non_null(body);
	assert_int_equal(msgr_bot_api_request(&in, &mine, &mylen), MSGR_OK);
	assert_int_equal(len, mylen);
	assert_memory_equal(body, mine, len);
	sent = json_loads(body, 0, NULL);
	assert_non_null(sent);
	assert_string_equal(json_string_value(json_object_get(json_object_get(sent, "user"),
	    "first_name")), "Ada");
	json_decref(sent);
	free(body);
	free(mine);
	/* the second call rides the same connection (keep-alive) */
	assert_int_equal(msgr_bot_answer(bot, &in, &a2), MSGR_OK);
	t1 = json_string_value(json_object_get(json_array_get(json_object_get(json_object_get(
	    json_array_get(a1, 1), "message"), "quick_replies"), 0), "title"));
	t2 = json_string_value(json_object_get(json_array_get(json_object_get(json_object_get(
	    json_array_get(a2, 1), "message"), "quick_replies"), 0), "title"));
	assert_non_null(t1);
	assert_non_null(t2);
	assert_string_equal(t1, t2);
	assert_string_equal(msgr_bot_last_error(bot), "");
	json_decref(a1);
	json_decref(a2);
	msgr_bot_close(bot);
	msgr_event_clear(&ev);
	(void)why;
}

static void
test_failures(void **state)
{
	char why[512];
	json_t *a = NULL;
	long long t0;

	(void)state;
	/* a wrong secret: the bot refuses (401), a retry would not help */
	assert_int_equal(ask("/echo", "not-the-secret", 2000, "message_text", &a, why,
	    sizeof(why)), MSGR_ERR_PERMANENT);
	assert_null(a);
	assert_non_null(strstr(why, "HTTP 401"));
	/* a bot slower than timeout_ms: transient, and the call returns in time */
	t0 = now_ms();
	assert_int_equal(ask("/slow", BOT_SECRET, 300, "message_text", &a, why, sizeof(why)),
	    MSGR_ERR_TRANSIENT);
	assert_true(now_ms() - t0 < 2000);
	assert_non_null(strstr(why, "no answer within 300 ms"));
	/* statuses */
	assert_int_equal(ask("/status/500", BOT_SECRET, 2000, "postback", &a, why, sizeof(why)),
	    MSGR_ERR_TRANSIENT);
	assert_string_equal(why, "HTTP 500");
	assert_int_equal(ask("/status/503", BOT_SECRET, 2000, "postback", &a, why, sizeof(why)),
	    MSGR_ERR_TRANSIENT);
	assert_int_equal(ask("/status/429", BOT_SECRET, 2000, "postback", &a, why, sizeof(why)),
	    MSGR_ERR_TRANSIENT);
	assert_int_equal(ask("/status/400", BOT_SECRET, 2000, "postback", &a, why, sizeof(why)),
	    MSGR_ERR_PERMANENT);
	assert_int_equal(ask("/nowhere", BOT_SECRET, 2000, "postback", &a, why, sizeof(why)),
	    MSGR_ERR_PERMANENT);
	assert_string_equal(why, "HTTP 404");
	/* a redirect is not followed */
	assert_int_equal(ask("/status/302", BOT_SECRET, 2000, "postback", &a, why, sizeof(why)),
	    MSGR_ERR_PERMANENT);
	assert_non_null(strstr(why, "redirects are not followed"));
	/* replies that cannot be used */
	assert_int_equal(ask("/badjson", BOT_SECRET, 2000, "reaction", &a, why, sizeof(why)),
	    MSGR_ERR_PERMANENT);
	assert_non_null(strstr(why, "not JSON"));
	assert_int_equal(ask("/big", BOT_SECRET, 2000, "reaction", &a, why, sizeof(why)),
	    MSGR_ERR_PERMANENT);
	assert_non_null(strstr(why, "reply over 1048576 bytes"));
	assert_int_equal(ask("/overlimit", BOT_SECRET, 2000, "message_text", &a, why,
	    sizeof(why)), MSGR_ERR_PERMANENT);
	assert_null(a);
	assert_non_null(strstr(why, "nothing sent: messages[1]: quick_replies"));
	/* 204 No Content: nothing to say (signed too) */
	assert_int_equal(ask("/empty", BOT_SECRET, 2000, "referral", &a, why, sizeof(why)),
	    MSGR_OK);
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
	a = NULL;
	/* A 2xx reply that does not prove it comes from the bot, for this request: nothing of
	 * it is used, and the event is retried like a bot that did not answer. */
	assert_int_equal(ask("/unsigned", BOT_SECRET, 2000, "message_text", &a, why,
	    sizeof(why)), MSGR_ERR_TRANSIENT);
	assert_null(a);
	assert_non_null(strstr(why, "reply not signed"));
	assert_int_equal(ask("/wrongkey", BOT_SECRET, 2000, "message_text", &a, why,
	    sizeof(why)), MSGR_ERR_TRANSIENT);
	assert_null(a);
	assert_non_null(strstr(why, "reply signature wrong"));
	assert_null(strstr(why, "sha256="));
	/* signed, but for another request: a reply captured elsewhere, replayed */
	assert_int_equal(ask("/replayed", BOT_SECRET, 2000, "message_text", &a, why,
	    sizeof(why)), MSGR_ERR_TRANSIENT);
	assert_non_null(strstr(why, "reply signature wrong"));
	assert_int_equal(ask("/twice", BOT_SECRET, 2000, "message_text", &a, why,
	    sizeof(why)), MSGR_ERR_TRANSIENT);
	/* nobody listening: transient */
	{
		int keep = sv.port;
		sv.port = 1;   /* tcpmux: closed on a test machine */
		assert_int_equal(ask("/echo", BOT_SECRET, 1000, "message_text", &a, why,
		    sizeof(why)), MSGR_ERR_TRANSIENT);
		sv.port = keep;
	}
	assert_true(why[0] != '\0');
	/* checkbox optin: the bot hears user_ref, and answers */
	assert_int_equal(ask("/echo", BOT_SECRET, 2000, "optin_checkbox", &a, why, sizeof(why)),
	    MSGR_OK);
	json_decref(a);
	{
		char *body = unit_read_file(sv.bodyfile, NULL);
		json_t *j = json_loads(body, 0, NULL);

		assert_non_null(j);
		assert_json(json_object_get(j, "user"), "{\"user_ref\":\"checkbox-ref-42\"}",
		    "checkbox user");
		json_decref(j);
		free(body);
	}
}

static void
test_no_secret_in_log(void **state)
{
	char *log, *body, path[160];
	char sig[MSGR_SIGNATURE_HEADER_LEN + 1];
	size_t len;

	(void)state;
	fflush(stderr);
	log = unit_read_file(sv.logfile, NULL);
	assert_non_null(log);
	/* the log has lines of ours (failures named) but never the secret or a signature */
	assert_non_null(strstr(log, "type=api"));
	assert_non_null(strstr(log, "nothing sent: messages[1]"));
	assert_null(strstr(log, BOT_SECRET));
	assert_null(strstr(log, "sha256="));
	body = unit_read_file(sv.bodyfile, &len);
	assert_non_null(body);
	assert_int_equal(msgr_signature_format(BOT_SECRET, body, len, sig), MSGR_OK);
	assert_null(strstr(log, sig + 7));
	free(body);
	/* nor the last reply's signature (the bot's, checked and dropped) */
	snprintf(path, sizeof(path), "%s.replysig", sv.bodyfile);
	body = unit_read_file(path, &len);
	assert_non_null(body);
	assert_true(len > 7);
	assert_null(strstr(log, body + 7));
	free(body);
	free(log);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_request_every_kind),
		cmocka_unit_test(test_request_shape),
		cmocka_unit_test(test_reply_good),
		cmocka_unit_test(test_reply_long_text),
		cmocka_unit_test(test_reply_bad),
		cmocka_unit_test(test_check_and_open),
		cmocka_unit_test(test_signatures),
	};
	const struct CMUnitTest live[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_no_secret_in_log),
	};
	int failed;

	signal(SIGPIPE, SIG_IGN);
	sv.saved_stderr = -1;
	failed = cmocka_run_group_tests_name("bot api", pure, NULL, NULL);
	failed += cmocka_run_group_tests_name("bot api over HTTP", live, server_setup,
	    server_teardown);
	return failed;
}
