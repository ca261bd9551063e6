/* fuzz_stories — libFuzzer target for the stories file loader (msgr_bot_stories_check:
 * libconfig's parser, then lib/bot_stories.c's validation against every platform limit).
 *
 * The bytes are written to a file in a private temporary folder (the loader reads a path,
 * as msgrctl check and the worker do) and checked. Invariants:
 *   - the result is MSGR_OK, MSGR_ERR_CONFIG, MSGR_ERR_IO or MSGR_ERR_NOMEM; OK leaves no
 *     error text; CONFIG always leaves one, of whole non-empty lines (FILE:LINE: ...);
 *     checking twice gives the same result and text;
 *   - a file that checks opens as a bot (msgr_bot_open), and what that bot answers to a few
 *     messages and postbacks, among them the first quoted string of the file, passes
 *     msgr_bot_actions_validate: lib/bot.h says the stories bot's actions pass by
 *     construction, because the file was validated at load;
 *   - each message it answers passes msgr_message_validate as it is: a long text was split
 *     into messages at load (docs/stories.md "An answer"), none is left for the worker to
 *     split as it does a Bot API text.
 * Inputs holding "@include" are skipped: an include reads another file of the machine,
 * which is outside what the input says (and /dev/zero would never end).
 *
 * libconfig 1.5 leaks the string token that follows a syntax error (see lib/lsan_libconfig.h); the
 * same LeakSanitizer suppression, by library name only, keeps the report to our own leaks.
 * A broken invariant aborts, which libFuzzer (and tests/fuzz/driver.c) report as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bot.h"
#include "config.h"
#include "event.h"
#include "log.h"
#include "message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "lsan_libconfig.h"

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_stories: invariant failed at line %d: %s\n", __LINE__, #cond); \
		abort(); \
	} \
} while (0)

static char dir[64];
static char file[128];

static void
cleanup(void)
{
	unlink(file);
	rmdir(dir);
}

static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");

	if (dir[0] != '\0')
		return;
	snprintf(dir, sizeof(dir), "%s/fuzz_stories.XXXXXX",
	    tmp != NULL && *tmp != '\0' && strlen(tmp) < 32 ? tmp : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(file, sizeof(file), "%s/stories.conf", dir);
	atexit(cleanup);
	msgr_log_set_level(MSGR_LOG_ERROR);
}

/* 1 when data holds "@include" (memmem is a GNU extension). */
static int
has_include(const uint8_t *data, size_t size)
{
	size_t i;

	for (i = 0; i + 8 <= size; i++)
		if (data[i] == '@' && memcmp(data + i, "@include", 8) == 0)
			return 1;
	return 0;
}

static void
check_errors(const char *errors)
{
	const char *p, *nl;

	CHECK(errors != NULL && errors[0] != '\0');
	for (p = errors; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		CHECK(nl != NULL);      /* every fault is a whole line */
		CHECK(nl > p);          /* and not an empty one */
	}
}

/* Every message action passes the Send API's own check, unsplit. */
static void
check_messages(const json_t *actions)
{
	char why[MSGR_MESSAGE_WHY_MAX];
	const json_t *a;
	size_t i;

	json_array_foreach(actions, i, a) {
		const char *kind = json_string_value(json_object_get(a, "action"));

		if (kind == NULL || strcmp(kind, "message") != 0)
			continue;
		if (msgr_message_validate(json_object_get(a, "message"), why, sizeof(why)) !=
		    MSGR_OK)
			fprintf(stderr, "fuzz_stories: %s\n", why);
		CHECK(msgr_message_validate(json_object_get(a, "message"), NULL, 0) == MSGR_OK);
	}
}

/* Asks bot about one messaging object (JSON text) and checks the actions. */
static void
ask(struct msgr_bot *bot, const struct msgr_connector *conn, const char *json)
{
	struct msgr_bot_input in;
	struct msgr_event ev;
	static const char *const names[][2] = {
		{ "Ada", "Lovelace" },
		{ NULL, "" },
		{ "Maximiliana Alexandrina Konstantina", "Wolfeschlegelsteinhausenbergerdorff" },
	};
	json_t *actions = NULL;
	char why[256];
	size_t i;
	msgr_result rc;

	rc = msgr_event_parse_text(json, strlen(json), conn->page_id, 0, &ev, why, sizeof(why));
	if (rc != MSGR_OK) {
		CHECK(rc == MSGR_ERR_NOMEM || rc == MSGR_ERR_PARSE || rc == MSGR_ERR_TOOBIG);
		return;
	}
	/* a usual name, none (a permission error), and one long enough to push a text over
	 * its limit (the bot then says it without the names) */
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		memset(&in, 0, sizeof(in));
		in.conn = conn;
		in.ev = &ev;
		in.first_name = names[i][0];
		in.last_name = names[i][1];
		rc = msgr_bot_answer(bot, &in, &actions);
		CHECK(rc == MSGR_OK || rc == MSGR_ERR_NOMEM);
		if (rc == MSGR_OK) {
			CHECK(actions != NULL);
			rc = msgr_bot_actions_validate(actions, why, sizeof(why));
			if (rc != MSGR_OK)
				fprintf(stderr, "fuzz_stories: %s\n", why);
			CHECK(rc == MSGR_OK);
			check_messages(actions);
		}
		json_decref(actions);
		actions = NULL;
	}
	msgr_event_clear(&ev);
}

/* Dumps the messaging object j (consumed) and asks bot about it. */
static void
ask_json(struct msgr_bot *bot, const struct msgr_connector *conn, json_t *j)
{
	char json[1024];
	size_t n;

	/* a word that is not UTF-8 makes no JSON string: nothing to ask */
	if (j == NULL)
		return;
	n = json_dumpb(j, json, sizeof(json) - 1, JSON_COMPACT);
	json_decref(j);
	if (n == 0 || n >= sizeof(json) - 1)
		return;
	json[n] = '\0';
	ask(bot, conn, json);
}

static json_t *
message(const struct msgr_connector *conn, const char *text)
{
	return json_pack("{s:{s:s}, s:{s:s}, s:I, s:{s:s, s:s}}", "sender", "id", "42",
	    "recipient", "id", conn->page_id, "timestamp", (json_int_t)1700000000000,
	    "message", "mid", "m_fuzz", "text", text);
}

static json_t *
postback(const struct msgr_connector *conn, const char *payload)
{
	return json_pack("{s:{s:s}, s:{s:s}, s:I, s:{s:s, s:s, s:s}}", "sender", "id", "42",
	    "recipient", "id", conn->page_id, "timestamp", (json_int_t)1700000000000,
	    "postback", "mid", "m_pb", "title", "Tap", "payload", payload);
}

static void
answer_some(const uint8_t *data, size_t size)
{
	static const char *const texts[] = { "hello", "Help me please", "human", "bonjour",
		"good morning", "zzz unknown words" };
	struct msgr_connector conn;
	struct msgr_bot *bot = NULL;
	char *errors = NULL, word[128];
	const uint8_t *q, *e;
	size_t i, n;
	msgr_result rc;

	memset(&conn, 0, sizeof(conn));
	conn.id = "fuzz";
	conn.page_id = "1234567890";
	conn.app_id = "111";
	conn.bot.type = MSGR_BOT_STORIES;
	conn.bot.file = file;
	rc = msgr_bot_open(&conn, &bot, &errors);
	if (rc == MSGR_ERR_NOMEM) {
		free(errors);
		return;
	}
	CHECK(rc == MSGR_OK && bot != NULL && errors == NULL);

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		ask_json(bot, &conn, message(&conn, texts[i]));
	ask_json(bot, &conn, postback(&conn, "GET_STARTED"));
	/* the first quoted string of the file: likely a trigger or a payload */
	if ((q = memchr(data, '"', size)) != NULL &&
	    (e = memchr(q + 1, '"', size - (size_t)(q + 1 - data))) != NULL &&
	    (n = (size_t)(e - q - 1)) > 0 && n < sizeof(word) &&
	    memchr(q + 1, '\0', n) == NULL) {
		memcpy(word, q + 1, n);
		word[n] = '\0';
		ask_json(bot, &conn, message(&conn, word));
		ask_json(bot, &conn, postback(&conn, word));
	}
	msgr_bot_close(bot);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *errors = NULL, *errors2 = NULL;
	msgr_result rc, rc2;
	FILE *f;

	setup();
	if (has_include(data, size))
		return 0;
	f = fopen(file, "wb");
	CHECK(f != NULL);
	CHECK(fwrite(data, 1, size, f) == size);
	CHECK(fclose(f) == 0);

	rc = msgr_bot_stories_check(file, &errors);
	CHECK(rc == MSGR_OK || rc == MSGR_ERR_CONFIG || rc == MSGR_ERR_IO ||
	    rc == MSGR_ERR_NOMEM);
	if (rc == MSGR_OK)
		CHECK(errors == NULL);
	else if (rc == MSGR_ERR_CONFIG)
		check_errors(errors);
	rc2 = msgr_bot_stories_check(file, &errors2);
	if (rc != MSGR_ERR_NOMEM && rc2 != MSGR_ERR_NOMEM) {
		CHECK(rc2 == rc);
		CHECK((errors == NULL) == (errors2 == NULL));
		CHECK(errors == NULL || strcmp(errors, errors2) == 0);
	}
	free(errors);
	free(errors2);
	CHECK(msgr_bot_stories_check(file, NULL) == rc || rc == MSGR_ERR_NOMEM);
	if (rc == MSGR_OK)
		answer_some(data, size);
	return 0;
}
