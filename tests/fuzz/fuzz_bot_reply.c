/* fuzz_bot_reply — libFuzzer target for the Bot API reply parser (msgr_bot_api_reply,
 * lib/bot_api.c; the protocol is docs/bot-api.md "The reply").
 *
 * Any byte string is a possible 2xx body from a bot we do not control. The parser must never
 * crash, leak or hang, and:
 *   - it answers MSGR_OK, MSGR_ERR_PERMANENT or MSGR_ERR_NOMEM only; on failure *actions is
 *     NULL and why says what was wrong (non-empty, one line, NUL-terminated); on success why
 *     is empty;
 *   - what it accepts passes msgr_bot_actions_validate (lib/bot.h: the worker trusts that),
 *     as JSON text written out and read back too, holds at most one sender_action (first),
 *     MSGR_MAX_BOT_MESSAGES messages and one handover (last);
 *   - it answers the same twice, and the same without a why buffer.
 * A broken invariant aborts, which libFuzzer (and tests/fuzz/driver.c) report as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot.h"
#include "limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_bot_reply: invariant failed at line %d: %s\n", __LINE__, \
		    #cond); \
		abort(); \
	} \
} while (0)

static const char *
action_of(const json_t *a)
{
	return json_string_value(json_object_get(a, "action"));
}

static void
check_actions(const json_t *actions)
{
	char why[512], *text;
	json_t *back;
	json_error_t e;
	size_t i, n, msgs = 0;
	const char *kind;

	CHECK(json_is_array(actions));
	n = json_array_size(actions);
	CHECK(n <= 1 + MSGR_MAX_BOT_MESSAGES + 1);
	why[0] = 'x';
	CHECK(msgr_bot_actions_validate(actions, why, sizeof(why)) == MSGR_OK);
	for (i = 0; i < n; i++) {
		kind = action_of(json_array_get(actions, i));
		CHECK(kind != NULL);
		if (strcmp(kind, "sender_action") == 0)
			CHECK(i == 0);
		else if (strcmp(kind, "message") == 0)
			msgs++;
		else if (strcmp(kind, "pass_thread_control") == 0)
			CHECK(i + 1 == n);
		else
			CHECK(!"an action the reply cannot give");
	}
	CHECK(msgs <= MSGR_MAX_BOT_MESSAGES);

	/* as the worker may keep it: written out and read back, still valid */
	text = json_dumps(actions, JSON_COMPACT);
	if (text == NULL)
		return;
	back = json_loads(text, JSON_REJECT_DUPLICATES, &e);
	free(text);
	if (back == NULL)
		return;   /* out of memory */
	CHECK(json_equal(back, (json_t *)actions));
	CHECK(msgr_bot_actions_validate(back, NULL, 0) == MSGR_OK);
	json_decref(back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[512], why2[512];
	json_t *actions = NULL, *again = NULL;
	msgr_result rc, rc2;

	memset(why, 'x', sizeof(why));
	rc = msgr_bot_api_reply((const char *)data, size, &actions, why, sizeof(why));
	CHECK(rc == MSGR_OK || rc == MSGR_ERR_PERMANENT || rc == MSGR_ERR_NOMEM);
	CHECK(memchr(why, '\0', sizeof(why)) != NULL);
	CHECK(strchr(why, '\n') == NULL);
	if (rc == MSGR_OK) {
		CHECK(actions != NULL);
		CHECK(why[0] == '\0');
		check_actions(actions);
	} else {
		CHECK(actions == NULL);
		CHECK(why[0] != '\0');
	}

	rc2 = msgr_bot_api_reply((const char *)data, size, &again, why2, sizeof(why2));
	if (rc != MSGR_ERR_NOMEM && rc2 != MSGR_ERR_NOMEM) {
		CHECK(rc2 == rc && strcmp(why, why2) == 0);
		CHECK(rc != MSGR_OK || json_equal(actions, again));
	}
	json_decref(again);
	again = NULL;
	rc2 = msgr_bot_api_reply((const char *)data, size, &again, NULL, 0);
	if (rc != MSGR_ERR_NOMEM && rc2 != MSGR_ERR_NOMEM)
		CHECK(rc2 == rc);
	json_decref(again);
	json_decref(actions);
	CHECK(msgr_bot_api_reply("{}", 2, NULL, why, sizeof(why)) == MSGR_ERR_INVALID);
	return 0;
}
