/* Unit tests: event (one messaging object -> typed event, dedup key, JSON loading). */
#include "unit.h"
#include "event.h"

#define PAGE "1234567890123456"
#define PSID "2345678901234567"

/* Parses the first event of the first entry of fixture name (messaging or standby). */
static msgr_result
load_event(const char *name, struct msgr_event *ev, char *why, size_t whysz)
{
	json_t *root = NULL, *entry, *arr;
	size_t len;
	char *text = unit_fixture("webhook", name, &len);
	msgr_result rc;
	int standby = 0;

	assert_int_equal(msgr_event_json_load(text, len, MSGR_MAX_JSON_DEPTH, &root, why, whysz),
	    MSGR_OK);
	free(text);
	entry = json_array_get(json_object_get(root, "entry"), 0);
	assert_non_null(entry);
	arr = json_object_get(entry, "messaging");
	if (arr == NULL) {
		arr = json_object_get(entry, "standby");
		standby = 1;
	}
	assert_non_null(arr);
	rc = msgr_event_parse(json_array_get(arr, 0), PAGE, standby, ev, why, whysz);
	json_decref(root); /* the event keeps its own reference */
	return rc;
}

static void
must_load(const char *name, struct msgr_event *ev)
{
	char why[200];

	if (load_event(name, ev, why, sizeof(why)) != MSGR_OK)
		fail_msg("%s: %s", name, why);
	assert_int_equal(strlen(ev->key), 64);
	assert_string_equal(ev->page_id, PAGE);
}

/* Parses text as one messaging object; returns rc and fills why. */
static msgr_result
parse_str(const char *text, struct msgr_event *ev, char *why, size_t whysz)
{
	return msgr_event_parse_text(text, strlen(text), PAGE, 0, ev, why, whysz);
}

static void
test_kind_names(void **state)
{
	int k;

	(void)state;
	for (k = 0; k < MSGR_EVENT_KIND_COUNT; k++)
		assert_int_equal(msgr_event_kind_parse(msgr_event_kind_name((enum msgr_event_kind)k)), k);
	assert_string_equal(msgr_event_kind_name(MSGR_EVENT_MESSAGE_EDIT), "message_edit");
	assert_string_equal(msgr_event_kind_name(MSGR_EVENT_REQUEST_THREAD_CONTROL),
	    "request_thread_control");
	assert_string_equal(msgr_event_kind_name(MSGR_EVENT_KIND_COUNT), "unknown");
	assert_int_equal(msgr_event_kind_parse("Message"), -1);
	assert_int_equal(msgr_event_kind_parse(""), -1);
	assert_int_equal(msgr_event_kind_parse(NULL), -1);
}

static void
test_message_text(void **state)
{
	struct msgr_event ev;

	(void)state;
	must_load("message_text.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_MESSAGE);
	assert_int_equal(ev.standby, 0);
	assert_string_equal(ev.user_id, PSID);
	assert_string_equal(ev.sender_id, PSID);
	assert_string_equal(ev.recipient_id, PAGE);
	assert_int_equal(ev.timestamp, 1700000000123LL);
	assert_string_equal(ev.mid, "m_AbCdEf0123456789");
	assert_string_equal(ev.text, "hello, world!");
	assert_string_equal(ev.payload, "HELP_PAYLOAD");
	assert_null(ev.reply_to_mid);
	assert_int_equal(ev.n_attachments, 0);
	assert_null(ev.attachments);
	assert_true(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);
	assert_null(ev.raw);
}

static void
test_message_reply_unicode(void **state)
{
	struct msgr_event ev;

	(void)state;
	must_load("message_reply.json", &ev);
	assert_string_equal(ev.reply_to_mid, "m_original000001");
	assert_int_equal(ev.reply_to_is_self, 1);
	assert_string_equal(ev.text, "this one");
	msgr_event_clear(&ev);

	/* \u00e9, \u2764\ufe0f, a surrogate pair and CJK arrive as UTF-8. */
	must_load("message_unicode.json", &ev);
	assert_string_equal(ev.text,
	    "Bonjour h\xc3\xa9l\xc3\xa8ne \xe2\x9d\xa4\xef\xb8\x8f \xf0\x9f\x98\x80 \xe4\xbd\xa0\xe5\xa5\xbd");
	msgr_event_clear(&ev);

	/* brackets inside a string are not nesting */
	must_load("message_brackets.json", &ev);
	assert_int_equal(strlen(ev.text), 80);
	msgr_event_clear(&ev);
}

static void
test_attachments(void **state)
{
	static const struct {
		enum msgr_attachment_type type;
		const char *name, *url;
	} want[] = {
		{ MSGR_ATT_IMAGE, "image", "https://scontent.xx.fbcdn.net/v/image.jpg" },
		{ MSGR_ATT_VIDEO, "video", "https://video.xx.fbcdn.net/v/video.mp4" },
		{ MSGR_ATT_AUDIO, "audio", "https://cdn.fbsbx.com/v/audio.mp4" },
		{ MSGR_ATT_FILE, "file", "https://cdn.fbsbx.com/v/file.pdf" },
		{ MSGR_ATT_REEL, "reel", "https://www.facebook.com/reel/1234" },
		{ MSGR_ATT_IG_REEL, "ig_reel", "https://www.instagram.com/reel/abc" },
	};
	struct msgr_event ev;
	size_t i;

	(void)state;
	must_load("message_attachments.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_MESSAGE);
	assert_null(ev.text);
	assert_int_equal(ev.n_attachments, 6);
	for (i = 0; i < 6; i++) {
		assert_int_equal(ev.attachments[i].type, want[i].type);
		assert_string_equal(ev.attachments[i].type_name, want[i].name);
		assert_string_equal(ev.attachments[i].url, want[i].url);
	}
	assert_string_equal(ev.attachments[5].title, "Reel title");
	assert_null(ev.attachments[0].title);
	msgr_event_clear(&ev);
}

static void
test_sticker_fallback_post(void **state)
{
	struct msgr_event ev;

	(void)state;
	/* sticker_id as a JSON number and as a string: the same text */
	must_load("message_sticker.json", &ev);
	assert_string_equal(ev.sticker_id, "369239263222822");
	assert_int_equal(ev.n_attachments, 2);
	assert_int_equal(ev.attachments[0].type, MSGR_ATT_STICKER);
	assert_string_equal(ev.attachments[0].sticker_id, "369239263222822");
	assert_int_equal(ev.attachments[1].type, MSGR_ATT_IMAGE);
	assert_string_equal(ev.attachments[1].sticker_id, "369239263222822");
	assert_string_equal(ev.attachments[1].url,
	    "https://scontent.xx.fbcdn.net/v/t39.1997-6/sticker.png");
	msgr_event_clear(&ev);

	/* fallback: title and url beside a null payload; or inside a payload */
	must_load("message_fallback.json", &ev);
	assert_int_equal(ev.n_attachments, 2);
	assert_int_equal(ev.attachments[0].type, MSGR_ATT_FALLBACK);
	assert_string_equal(ev.attachments[0].title, "An article");
	assert_string_equal(ev.attachments[0].url,
	    "https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.org%2Farticle");
	assert_string_equal(ev.attachments[1].title, "Inside payload");
	assert_string_equal(ev.attachments[1].url, "https://example.org/p");
	assert_string_equal(ev.text, "https://example.org/article");
	msgr_event_clear(&ev);

	must_load("message_post.json", &ev);
	assert_int_equal(ev.attachments[0].type, MSGR_ATT_POST);
	assert_string_equal(ev.attachments[0].title, "Our new shop");
	assert_int_equal(ev.attachments[1].type, MSGR_ATT_IG_POST);
	assert_string_equal(ev.attachments[1].url, "https://www.instagram.com/p/abcdef");
	msgr_event_clear(&ev);
}

static void
test_booking_location_template(void **state)
{
	struct msgr_event ev;

	(void)state;
	must_load("message_appointment.json", &ev);
	assert_int_equal(ev.attachments[0].type, MSGR_ATT_APPOINTMENT_BOOKING);
	assert_string_equal(ev.attachments[0].booking_id, "777888999");
	assert_string_equal(ev.attachments[0].booking_status, "confirmed");
	assert_int_equal(ev.attachments[0].start_time, 1739612400LL);
	assert_int_equal(ev.attachments[0].end_time, 1739616000LL);
	assert_string_equal(ev.attachments[0].timezone, "America/Los_Angeles");
	assert_null(ev.attachments[0].url);
	msgr_event_clear(&ev);

	must_load("message_location.json", &ev);
	assert_int_equal(ev.attachments[0].type, MSGR_ATT_LOCATION);
	assert_int_equal(ev.attachments[0].has_coordinates, 1);
	assert_true(ev.attachments[0].lat > 48.8565 && ev.attachments[0].lat < 48.8567);
	assert_true(ev.attachments[0].lon > 2.3521 && ev.attachments[0].lon < 2.3523);
	assert_string_equal(ev.attachments[0].title, "Pinned Location");
	msgr_event_clear(&ev);

	/* A Page Inbox echo of a media template, on standby, app_id a bare number. */
	must_load("echo_inbox.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_ECHO);
	assert_int_equal(ev.standby, 1);
	assert_string_equal(ev.app_id, MSGR_PAGE_INBOX_APP_ID);
	assert_int_equal(ev.attachments[0].type, MSGR_ATT_TEMPLATE);
	assert_string_equal(ev.attachments[0].template_type, "media");
	assert_string_equal(ev.attachments[0].title, "");
	assert_string_equal(ev.attachments[0].url, "https://www.facebook.com/commerce/update/");
	assert_false(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);
}

static void
test_prior_and_referral_in_message(void **state)
{
	struct msgr_event ev;

	(void)state;
	must_load("message_prior.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_MESSAGE);
	assert_string_equal(ev.prior_source, "checkbox_plugin");
	assert_string_equal(ev.prior_identifier, "checkbox-ref-42");
	msgr_event_clear(&ev);

	must_load("message_referral.json", &ev);
	assert_string_equal(ev.ref, "SUMMER");
	assert_string_equal(ev.ref_source, "ADS");
	assert_string_equal(ev.ref_type, "OPEN_THREAD");
	assert_string_equal(ev.ref_ad_id, "6045246247433");
	msgr_event_clear(&ev);

	must_load("prior_message.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_PRIOR_MESSAGE);
	assert_string_equal(ev.prior_identifier, "checkbox-ref-42");
	assert_false(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);
}

static void
test_echo(void **state)
{
	struct msgr_event ev;

	(void)state;
	must_load("echo.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_ECHO);
	assert_int_equal(ev.is_echo, 1);
	/* the conversation's user is the recipient of an echo */
	assert_string_equal(ev.user_id, PSID);
	assert_string_equal(ev.sender_id, PAGE);
	assert_string_equal(ev.app_id, "987654321098765");
	assert_string_equal(ev.metadata, "bot:greeting");
	assert_string_equal(ev.mid, "m_echo0001");
	assert_string_equal(ev.text, "Hello Ada!");
	assert_false(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);
}

static void
test_postback_referral(void **state)
{
	struct msgr_event ev;

	(void)state;
	must_load("postback.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_POSTBACK);
	assert_string_equal(ev.mid, "m_postback0001");
	assert_string_equal(ev.title, "Get Started");
	assert_string_equal(ev.payload, "GET_STARTED");
	assert_string_equal(ev.ref, "landing");
	assert_string_equal(ev.ref_source, "SHORTLINK");
	assert_string_equal(ev.ref_type, "OPEN_THREAD");
	assert_true(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);

	must_load("postback_standby.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_POSTBACK);
	assert_int_equal(ev.standby, 1);
	assert_null(ev.payload);
	assert_null(ev.mid);
	assert_string_equal(ev.title, "Talk to a human");
	assert_false(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);

	must_load("referral.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_REFERRAL);
	assert_string_equal(ev.ref, "spring-sale");
	assert_string_equal(ev.ref_source, "SHORTLINK");
	assert_true(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);

	/* chat plugin: sender.user_ref instead of an id */
	must_load("referral_chat_plugin.json", &ev);
	assert_null(ev.sender_id);
	assert_string_equal(ev.user_ref, "chat-plugin-user-77");
	assert_string_equal(ev.user_id, "");
	assert_string_equal(ev.ref_uri, "https://example.org/pricing");
	msgr_event_clear(&ev);
}

static void
test_optins(void **state)
{
	struct msgr_event ev;

	(void)state;
	must_load("optin.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_OPTIN);
	assert_string_equal(ev.ref, "PASS_THROUGH_PARAM");
	assert_null(ev.user_ref);
	assert_string_equal(ev.user_id, PSID);
	assert_true(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);

	must_load("optin_checkbox.json", &ev);
	assert_null(ev.sender_id);
	assert_string_equal(ev.user_id, "");
	assert_string_equal(ev.user_ref, "checkbox-ref-42");
	assert_string_equal(ev.ref, "order-1234");
	assert_true(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);

	must_load("optin_otn.json", &ev);
	assert_string_equal(ev.optin_type, "one_time_notif_req");
	assert_string_equal(ev.payload, "PRICE_DROP");
	assert_string_equal(ev.optin_token, "otn-token-abcdef");
	msgr_event_clear(&ev);

	/* the reference page shows "timestamp":"TIMESTAMP": digits in a string are accepted */
	must_load("optin_notification_messages.json", &ev);
	assert_int_equal(ev.timestamp, 1700000000123LL);
	assert_string_equal(ev.optin_type, "notification_messages");
	assert_string_equal(ev.optin_token, "nm-token-123456");
	assert_string_equal(ev.optin_status, "STOP NOTIFICATIONS");
	assert_string_equal(ev.optin_frequency, "WEEKLY");
	assert_string_equal(ev.optin_timezone, "Europe/Paris");
	assert_string_equal(ev.optin_user_token_status, "NOT_REFRESHED");
	assert_int_equal(ev.optin_token_expiry, 1731000000000LL);
	assert_string_equal(ev.title, "Weekly news");
	assert_string_equal(ev.payload, "WEEKLY_NEWS");
	msgr_event_clear(&ev);
}

static void
test_receipts_reactions_edits(void **state)
{
	struct msgr_event ev;

	(void)state;
	must_load("delivery.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_DELIVERY);
	assert_int_equal(ev.timestamp, 0);
	assert_int_equal(ev.watermark, 1700000000999LL);
	assert_int_equal(ev.n_delivery_mids, 2);
	assert_string_equal(msgr_event_delivery_mid(&ev, 0), "m_out0001");
	assert_string_equal(msgr_event_delivery_mid(&ev, 1), "m_out0002");
	assert_null(msgr_event_delivery_mid(&ev, 2));
	assert_false(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);

	must_load("read.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_READ);
	assert_int_equal(ev.watermark, 1700000001999LL);
	assert_false(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);

	must_load("reaction.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_REACTION);
	assert_string_equal(ev.reaction, "love");
	assert_string_equal(ev.emoji, "\xe2\x9d\xa4\xef\xb8\x8f");
	assert_string_equal(ev.reaction_action, "react");
	assert_string_equal(ev.mid, "m_reactedto0001");
	assert_true(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);

	must_load("reaction_unreact.json", &ev);
	assert_string_equal(ev.reaction_action, "unreact");
	assert_null(ev.reaction);
	assert_null(ev.emoji);
	msgr_event_clear(&ev);

	must_load("message_edit.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_MESSAGE_EDIT);
	assert_string_equal(ev.mid, "m_edited0001");
	assert_string_equal(ev.text, "hello again (edited)");
	assert_int_equal(ev.num_edit, 2);
	assert_true(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);
}

static void
test_linking_policy_handover(void **state)
{
	struct msgr_event ev;

	(void)state;
	must_load("account_linking.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_ACCOUNT_LINKING);
	assert_string_equal(ev.status, "linked");
	assert_string_equal(ev.authorization_code, "auth-code-xyz");
	assert_true(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);

	must_load("account_unlinking.json", &ev);
	assert_string_equal(ev.status, "unlinked");
	assert_null(ev.authorization_code);
	msgr_event_clear(&ev);

	must_load("policy_enforcement.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_POLICY_ENFORCEMENT);
	assert_string_equal(ev.action, "block");
	assert_non_null(strstr(ev.reason, "Platform Policies"));
	assert_null(ev.sender_id);
	assert_string_equal(ev.user_id, "");
	assert_false(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);

	must_load("pass_thread_control.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_PASS_THREAD_CONTROL);
	assert_null(ev.previous_owner_app_id);   /* null: the thread was idle */
	assert_string_equal(ev.new_owner_app_id, "987654321098765");
	assert_string_equal(ev.metadata, "back to the bot");
	assert_false(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);

	must_load("take_thread_control.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_TAKE_THREAD_CONTROL);
	assert_string_equal(ev.previous_owner_app_id, "987654321098765");
	assert_string_equal(ev.new_owner_app_id, MSGR_PAGE_INBOX_APP_ID); /* a bare number */
	assert_string_equal(ev.metadata, "an agent took over");
	msgr_event_clear(&ev);

	must_load("request_thread_control.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_REQUEST_THREAD_CONTROL);
	assert_string_equal(ev.requested_owner_app_id, "123456789012345");
	assert_string_equal(ev.metadata, "please hand over");
	assert_false(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);

	must_load("app_roles.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_APP_ROLES);
	assert_string_equal(ev.user_id, "");
	assert_false(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);

	must_load("unknown.json", &ev);
	assert_int_equal(ev.kind, MSGR_EVENT_UNKNOWN);
	assert_string_equal(ev.kind_key, "messaging_feedback");
	assert_string_equal(ev.user_id, PSID);
	assert_false(msgr_event_answerable(&ev));
	msgr_event_clear(&ev);
}

/* ---- dedup identity ---- */

static void
key_of(const char *text, char key[65])
{
	struct msgr_event ev;
	char why[200];

	if (parse_str(text, &ev, why, sizeof(why)) != MSGR_OK)
		fail_msg("%s: %s", text, why);
	memcpy(key, ev.key, 65);
	msgr_event_clear(&ev);
}

#define ENV "\"sender\":{\"id\":\"" PSID "\"},\"recipient\":{\"id\":\"" PAGE "\"},"

static void
test_key_identity(void **state)
{
	char a[65], b[65];
	size_t i;

	(void)state;
	key_of("{" ENV "\"timestamp\":1,\"message\":{\"mid\":\"m_1\",\"text\":\"hi\"}}", a);
	for (i = 0; i < 64; i++)
		assert_true((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));
	/* a message is its mid: another timestamp or text is the same event */
	key_of("{" ENV "\"timestamp\":2,\"message\":{\"mid\":\"m_1\",\"text\":\"hi!\"}}", b);
	assert_string_equal(a, b);
	key_of("{" ENV "\"timestamp\":1,\"message\":{\"mid\":\"m_2\",\"text\":\"hi\"}}", b);
	assert_string_not_equal(a, b);

	/* an edit is mid + num_edit */
	key_of("{" ENV "\"timestamp\":1,\"message_edit\":{\"mid\":\"m_1\",\"text\":\"a\",\"num_edit\":1}}", a);
	key_of("{" ENV "\"timestamp\":9,\"message_edit\":{\"mid\":\"m_1\",\"text\":\"a\",\"num_edit\":\"1\"}}", b);
	assert_string_equal(a, b);
	key_of("{" ENV "\"timestamp\":1,\"message_edit\":{\"mid\":\"m_1\",\"text\":\"a\",\"num_edit\":2}}", b);
	assert_string_not_equal(a, b);
	/* and an edit is not the message it edits */
	key_of("{" ENV "\"timestamp\":1,\"message\":{\"mid\":\"m_1\",\"text\":\"a\"}}", b);
	assert_string_not_equal(a, b);

	/* a reaction is its content and timestamp; key order and spacing do not matter */
	key_of("{" ENV "\"timestamp\":5,\"reaction\":{\"reaction\":\"love\",\"emoji\":\"\\u2764\","
	    "\"action\":\"react\",\"mid\":\"m_1\"}}", a);
	key_of("{\"timestamp\":5, \"reaction\":{\"mid\":\"m_1\", \"action\":\"react\",\"emoji\":\"\xe2\x9d\xa4\","
	    "\"reaction\":\"love\"}," ENV "\"x\":1}", b);
	assert_string_equal(a, b);
	key_of("{" ENV "\"timestamp\":5,\"reaction\":{\"reaction\":\"love\",\"emoji\":\"\\u2764\","
	    "\"action\":\"unreact\",\"mid\":\"m_1\"}}", b);
	assert_string_not_equal(a, b);
	key_of("{" ENV "\"timestamp\":6,\"reaction\":{\"reaction\":\"love\",\"emoji\":\"\\u2764\","
	    "\"action\":\"react\",\"mid\":\"m_1\"}}", b);
	assert_string_not_equal(a, b);

	/* delivery has no timestamp: its content alone */
	key_of("{" ENV "\"delivery\":{\"mids\":[\"m_1\"],\"watermark\":10}}", a);
	key_of("{" ENV "\"timestamp\":77,\"delivery\":{\"mids\":[\"m_1\"],\"watermark\":10}}", b);
	assert_string_equal(a, b);
	key_of("{" ENV "\"delivery\":{\"mids\":[\"m_1\"],\"watermark\":11}}", b);
	assert_string_not_equal(a, b);

	/* postback: its mid when present, else content + timestamp */
	key_of("{" ENV "\"timestamp\":1,\"postback\":{\"mid\":\"m_p\",\"payload\":\"A\"}}", a);
	key_of("{" ENV "\"timestamp\":2,\"postback\":{\"mid\":\"m_p\",\"payload\":\"A\"}}", b);
	assert_string_equal(a, b);
	key_of("{" ENV "\"timestamp\":1,\"postback\":{\"payload\":\"A\"}}", a);
	key_of("{" ENV "\"timestamp\":2,\"postback\":{\"payload\":\"A\"}}", b);
	assert_string_not_equal(a, b);

	/* the same read by two users differs */
	key_of("{\"sender\":{\"id\":\"1\"},\"timestamp\":1,\"read\":{\"watermark\":1}}", a);
	key_of("{\"sender\":{\"id\":\"2\"},\"timestamp\":1,\"read\":{\"watermark\":1}}", b);
	assert_string_not_equal(a, b);
	/* a kind is part of it: pass and take with the same body differ */
	key_of("{" ENV "\"timestamp\":1,\"pass_thread_control\":{\"new_owner_app_id\":\"1\"}}", a);
	key_of("{" ENV "\"timestamp\":1,\"take_thread_control\":{\"new_owner_app_id\":\"1\"}}", b);
	assert_string_not_equal(a, b);
}

static void
test_key_page_and_redelivery(void **state)
{
	static const char text[] = "{" ENV "\"timestamp\":1,\"message\":{\"mid\":\"m_1\"}}";
	struct msgr_event e1, e2;
	char why[200];

	(void)state;
	assert_int_equal(msgr_event_parse_text(text, strlen(text), "111", 0, &e1, why, sizeof(why)),
	    MSGR_OK);
	assert_int_equal(msgr_event_parse_text(text, strlen(text), "222", 0, &e2, why, sizeof(why)),
	    MSGR_OK);
	assert_string_not_equal(e1.key, e2.key);
	msgr_event_clear(&e2);
	assert_int_equal(msgr_event_parse_text(text, strlen(text), "111", 1, &e2, why, sizeof(why)),
	    MSGR_OK);
	assert_string_equal(e1.key, e2.key);   /* the channel does not change the event */
	msgr_event_clear(&e1);
	msgr_event_clear(&e2);
}

/* Every fixture event stored as text and read back is the same event with the same key. */
static void
test_raw_text_roundtrip(void **state)
{
	static const char *const files[] = {
		"message_text.json", "message_sticker.json", "message_location.json", "echo.json",
		"postback.json", "optin_checkbox.json", "delivery.json", "reaction.json",
		"message_edit.json", "policy_enforcement.json", "take_thread_control.json",
		"app_roles.json", "unknown.json", "message_unicode.json", "message_appointment.json",
	};
	struct msgr_event a, b;
	char why[200], *text;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		must_load(files[i], &a);
		assert_int_equal(msgr_event_raw_text(&a, &text), MSGR_OK);
		assert_null(strchr(text, '\n'));
		if (msgr_event_parse_text(text, strlen(text), PAGE, a.standby, &b, why, sizeof(why))
		    != MSGR_OK)
			fail_msg("%s: %s", files[i], why);
		assert_string_equal(a.key, b.key);
		assert_int_equal(a.kind, b.kind);
		assert_string_equal(a.user_id, b.user_id);
		assert_int_equal(a.timestamp, b.timestamp);
		assert_int_equal(a.n_attachments, b.n_attachments);
		free(text);
		msgr_event_clear(&a);
		msgr_event_clear(&b);
	}
	assert_int_equal(msgr_event_raw_text(&a, &text), MSGR_ERR_INVALID);
	assert_null(text);
}

/* ---- refusals ---- */

static void
expect(const char *text, msgr_result want, const char *why_part)
{
	struct msgr_event ev;
	char why[200];
	msgr_result rc;

	rc = parse_str(text, &ev, why, sizeof(why));
	if (rc != want || strstr(why, why_part) == NULL)
		fail_msg("%s: got %s (%s), want %s (%s)", text, msgr_strerror(rc), why,
		    msgr_strerror(want), why_part);
	/* a refused event is left cleared */
	assert_null(ev.raw);
	assert_null(ev.attachments);
	assert_null(ev.numbuf);
}

static void
test_refusals(void **state)
{
	char *big;
	size_t n;

	(void)state;
	expect("[1]", MSGR_ERR_PARSE, "not an object");
	expect("\"text\"", MSGR_ERR_PARSE, "not JSON");
	expect("{" ENV "\"timestamp\":1,\"message\":{\"text\":\"no mid\"}}", MSGR_ERR_PARSE,
	    "message.mid: missing");
	expect("{" ENV "\"timestamp\":1,\"message\":{\"mid\":null}}", MSGR_ERR_PARSE,
	    "message.mid: is null");
	expect("{" ENV "\"timestamp\":1,\"message\":{\"mid\":7}}", MSGR_ERR_PARSE,
	    "message.mid: not a string");
	expect("{" ENV "\"timestamp\":1,\"message\":\"hi\"}", MSGR_ERR_PARSE, "message: not an object");
	expect("{" ENV "\"timestamp\":-1,\"message\":{\"mid\":\"m\"}}", MSGR_ERR_PARSE,
	    "timestamp: negative");
	expect("{" ENV "\"timestamp\":1.5,\"message\":{\"mid\":\"m\"}}", MSGR_ERR_PARSE,
	    "timestamp: not an integer");
	expect("{" ENV "\"timestamp\":\"12a\",\"message\":{\"mid\":\"m\"}}", MSGR_ERR_PARSE,
	    "timestamp: not an integer");
	expect("{" ENV "\"timestamp\":\"1234567890123456789\",\"message\":{\"mid\":\"m\"}}",
	    MSGR_ERR_TOOBIG, "timestamp: integer too long");
	expect("{\"sender\":{\"id\":\"12ab\"},\"timestamp\":1,\"message\":{\"mid\":\"m\"}}",
	    MSGR_ERR_PARSE, "sender.id: not an id of digits");
	expect("{\"sender\":{\"id\":\"\"},\"timestamp\":1,\"message\":{\"mid\":\"m\"}}",
	    MSGR_ERR_PARSE, "sender.id");
	expect("{\"sender\":{\"id\":-5},\"timestamp\":1,\"message\":{\"mid\":\"m\"}}",
	    MSGR_ERR_PARSE, "sender.id: negative id");
	expect("{\"sender\":{\"id\":true},\"timestamp\":1,\"message\":{\"mid\":\"m\"}}",
	    MSGR_ERR_PARSE, "sender.id: not an id");
	expect("{\"sender\":{\"id\":"
	    "\"12345678901234567890123456789012345678901234567890123456789012345\"},"
	    "\"timestamp\":1,\"message\":{\"mid\":\"m\"}}", MSGR_ERR_TOOBIG, "sender.id: longer");
	expect("{\"sender\":\"me\",\"timestamp\":1,\"message\":{\"mid\":\"m\"}}", MSGR_ERR_PARSE,
	    "sender: not an object");
	expect("{\"recipient\":{\"id\":\"1\"},\"timestamp\":1,\"message\":{\"mid\":\"m\"}}",
	    MSGR_ERR_PARSE, "message: no sender.id or user_ref");
	expect("{\"sender\":{\"id\":\"1\"},\"timestamp\":1,\"message\":{\"mid\":\"m\",\"is_echo\":true}}",
	    MSGR_ERR_PARSE, "echo: recipient.id missing");
	expect("{" ENV "\"timestamp\":1,\"message\":{\"mid\":\"m\",\"is_echo\":\"yes\"}}",
	    MSGR_ERR_PARSE, "message.is_echo: not a boolean");
	expect("{" ENV "\"timestamp\":1,\"message\":{\"mid\":\"m\",\"quick_reply\":{}}}",
	    MSGR_ERR_PARSE, "message.quick_reply.payload: missing");
	expect("{" ENV "\"timestamp\":1,\"message\":{\"mid\":\"m\",\"reply_to\":{\"mid\":1}}}",
	    MSGR_ERR_PARSE, "message.reply_to.mid: not a string");
	/* An attachment that cannot be read does not refuse its message: kept as an unknown
	 * attachment (tests/unit/test_captured.c). */
	expect("{" ENV "\"timestamp\":1,\"reaction\":{\"action\":\"react\"}}", MSGR_ERR_PARSE,
	    "reaction.mid: missing");
	expect("{" ENV "\"timestamp\":1,\"reaction\":{\"action\":\"smash\",\"mid\":\"m\"}}",
	    MSGR_ERR_PARSE, "reaction.action: neither react nor unreact");
	expect("{" ENV "\"timestamp\":1,\"message_edit\":{\"mid\":\"m\",\"num_edit\":\"two\"}}",
	    MSGR_ERR_PARSE, "message_edit.num_edit: not an integer");
	expect("{" ENV "\"delivery\":{\"mids\":[\"a\",3],\"watermark\":1}}", MSGR_ERR_PARSE,
	    "delivery.mids[1]: not a string");
	expect("{" ENV "\"delivery\":{\"mids\":[]}}", MSGR_ERR_PARSE, "delivery.watermark: missing");
	expect("{" ENV "\"timestamp\":1,\"read\":{\"watermark\":null}}", MSGR_ERR_PARSE,
	    "read.watermark: is null");
	expect("{" ENV "\"timestamp\":1,\"account_linking\":{\"status\":\"maybe\"}}", MSGR_ERR_PARSE,
	    "account_linking.status");
	expect("{\"timestamp\":1,\"policy_enforcement\":{\"reason\":\"r\"}}", MSGR_ERR_PARSE,
	    "policy_enforcement.action: missing");
	expect("{" ENV "\"timestamp\":1,\"pass_thread_control\":{\"new_owner_app_id\":\"abc\"}}",
	    MSGR_ERR_PARSE, "pass_thread_control.new_owner_app_id: not an id of digits");
	expect("{\"timestamp\":1,\"app_roles\":{\"123\":\"primary_receiver\"}}", MSGR_ERR_PARSE,
	    "app_roles.123: not an array");
	expect("{\"timestamp\":1,\"app_roles\":{\"abc\":[\"primary_receiver\"]}}", MSGR_ERR_PARSE,
	    "app_roles: key not an app id");
	expect("{" ENV "\"timestamp\":1,\"postback\":[]}", MSGR_ERR_PARSE, "postback: not an object");
	expect("{" ENV "\"timestamp\":1,\"postback\":{\"payload\":{\"a\":1}}}", MSGR_ERR_PARSE,
	    "postback.payload: not a string");
	expect("{\"timestamp\":1,\"optin\":{\"ref\":\"x\"}}", MSGR_ERR_PARSE,
	    "optin: no sender.id or user_ref");
	expect("{\"sender\":{\"id\":\"1\"},\"timestamp\":1,\"prior_message\":{\"source\":5}}",
	    MSGR_ERR_PARSE, "prior_message.source: not a string");
	expect("{\"x\":1,\"a\\u0000b\":2}", MSGR_ERR_PARSE, "not JSON");

	/* over a bound: MSGR_ERR_TOOBIG naming the field */
	n = MSGR_MAX_TEXT_BYTES + 200;
	big = malloc(n);
	assert_non_null(big);
	snprintf(big, n, "{" ENV "\"timestamp\":1,\"message\":{\"mid\":\"m\",\"text\":\"%0*d\"}}",
	    MSGR_MAX_TEXT_BYTES + 1, 0);
	expect(big, MSGR_ERR_TOOBIG, "message.text: longer than 65536 bytes");
	snprintf(big, n, "{" ENV "\"timestamp\":1,\"message\":{\"mid\":\"%0*d\"}}",
	    MSGR_MAX_MID_LEN + 1, 0);
	expect(big, MSGR_ERR_TOOBIG, "message.mid: longer");
	snprintf(big, n, "{" ENV "\"timestamp\":1,\"message\":{\"mid\":\"m\",\"quick_reply\":"
	    "{\"payload\":\"%0*d\"}}}", MSGR_MAX_PAYLOAD_BYTES + 1, 0);
	expect(big, MSGR_ERR_TOOBIG, "message.quick_reply.payload: longer");
	snprintf(big, n, "{" ENV "\"timestamp\":1,\"%0*d\":{}}", MSGR_MAX_KEY_LEN + 1, 0);
	expect(big, MSGR_ERR_TOOBIG, "unknown kind: key longer");
	free(big);
}

static void
test_bounds_exact(void **state)
{
	struct msgr_event ev;
	char why[200], *big;
	size_t n = MSGR_MAX_TEXT_BYTES + 200;

	(void)state;
	/* exactly at the bound is accepted */
	big = malloc(n);
	assert_non_null(big);
	snprintf(big, n, "{" ENV "\"timestamp\":1,\"message\":{\"mid\":\"m\",\"text\":\"%0*d\"}}",
	    MSGR_MAX_TEXT_BYTES, 0);
	assert_int_equal(parse_str(big, &ev, why, sizeof(why)), MSGR_OK);
	assert_int_equal(strlen(ev.text), MSGR_MAX_TEXT_BYTES);
	msgr_event_clear(&ev);
	free(big);

	/* MSGR_MAX_ATTACHMENTS numeric sticker ids plus every other numeric id still fit */
	n = 64 * (MSGR_MAX_ATTACHMENTS + 4) + 512;
	big = malloc(n);
	assert_non_null(big);
	{
		size_t used, i;

		used = (size_t)snprintf(big, n, "{\"sender\":{\"id\":1},\"recipient\":{\"id\":2},"
		    "\"timestamp\":1,\"message\":{\"mid\":\"m\",\"is_echo\":true,\"app_id\":3,"
		    "\"sticker_id\":4,\"attachments\":[");
		for (i = 0; i < MSGR_MAX_ATTACHMENTS; i++)
			used += (size_t)snprintf(big + used, n - used,
			    "%s{\"type\":\"sticker\",\"payload\":{\"sticker_id\":%zu}}", i ? "," : "",
			    9223372036854775000u + i);
		snprintf(big + used, n - used, "]}}");
	}
	assert_int_equal(parse_str(big, &ev, why, sizeof(why)), MSGR_OK);
	assert_string_equal(ev.sender_id, "1");
	assert_string_equal(ev.user_id, "2");
	assert_string_equal(ev.app_id, "3");
	assert_string_equal(ev.sticker_id, "4");
	assert_int_equal(ev.n_attachments, MSGR_MAX_ATTACHMENTS);
	assert_string_equal(ev.attachments[MSGR_MAX_ATTACHMENTS - 1].sticker_id,
	    "9223372036854775031");
	msgr_event_clear(&ev);
	free(big);
}

static void
test_json_load(void **state)
{
	char deep[200], why[200];
	json_t *j = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < 40; i++) {
		deep[i] = '[';
		deep[79 - i] = ']';
	}
	assert_int_equal(msgr_event_json_load(deep, 80, 32, &j, why, sizeof(why)), MSGR_ERR_TOOBIG);
	assert_null(j);
	assert_non_null(strstr(why, "deeper than 32"));
	assert_int_equal(msgr_event_json_load(deep, 80, 40, &j, why, sizeof(why)), MSGR_OK);
	json_decref(j);
	/* brackets and escaped quotes inside strings do not count */
	assert_int_equal(msgr_event_json_load("[\"\\\"[[[[\"]", 10, 1, &j, why, sizeof(why)), MSGR_OK);
	json_decref(j);
	assert_int_equal(msgr_event_json_load("{\"a\":1,\"a\":2}", 13, 32, &j, why, sizeof(why)),
	    MSGR_ERR_PARSE);
	assert_non_null(strstr(why, "duplicate"));
	assert_int_equal(msgr_event_json_load("\"a\\u0000\"", 9, 32, &j, why, sizeof(why)),
	    MSGR_ERR_PARSE);
	assert_int_equal(msgr_event_json_load("\"a\0b\"", 5, 32, &j, why, sizeof(why)), MSGR_ERR_PARSE);
	assert_int_equal(msgr_event_json_load("\"\xc3\x28\"", 4, 32, &j, why, sizeof(why)),
	    MSGR_ERR_PARSE);
	/* jansson's "near '...'" quote of the input is not kept in the reason */
	assert_int_equal(msgr_event_json_load("{secret-token}", 14, 32, &j, why, sizeof(why)),
	    MSGR_ERR_PARSE);
	assert_null(strstr(why, "secret"));
	assert_non_null(strstr(why, "line 1"));
	assert_int_equal(msgr_event_json_load("", 0, 32, &j, why, sizeof(why)), MSGR_ERR_PARSE);
	assert_null(j);
}

static void
test_invalid_args(void **state)
{
	struct msgr_event ev;
	json_t *o = json_object();
	char why[100];

	(void)state;
	assert_int_equal(msgr_event_parse(o, "12x", 0, &ev, why, sizeof(why)), MSGR_ERR_INVALID);
	assert_int_equal(msgr_event_parse(o, NULL, 0, &ev, why, sizeof(why)), MSGR_ERR_INVALID);
	assert_int_equal(msgr_event_parse(NULL, PAGE, 0, &ev, why, sizeof(why)), MSGR_ERR_INVALID);
	assert_int_equal(msgr_event_parse(o, PAGE, 0, NULL, why, sizeof(why)), MSGR_ERR_INVALID);
	/* an empty object is an unknown kind with no key, still kept */
	assert_int_equal(msgr_event_parse(o, PAGE, 0, &ev, NULL, 0), MSGR_OK);
	assert_int_equal(ev.kind, MSGR_EVENT_UNKNOWN);
	assert_null(ev.kind_key);
	msgr_event_clear(&ev);
	msgr_event_clear(NULL);
	assert_false(msgr_event_answerable(NULL));
	json_decref(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_message_text),
		cmocka_unit_test(test_message_reply_unicode),
		cmocka_unit_test(test_attachments),
		cmocka_unit_test(test_sticker_fallback_post),
		cmocka_unit_test(test_booking_location_template),
		cmocka_unit_test(test_prior_and_referral_in_message),
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_postback_referral),
		cmocka_unit_test(test_optins),
		cmocka_unit_test(test_receipts_reactions_edits),
		cmocka_unit_test(test_linking_policy_handover),
		cmocka_unit_test(test_key_identity),
		cmocka_unit_test(test_key_page_and_redelivery),
		cmocka_unit_test(test_raw_text_roundtrip),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_bounds_exact),
		cmocka_unit_test(test_json_load),
		cmocka_unit_test(test_invalid_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
