/* bot.c — dispatch to the bot type of a connector, and the one check of action lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot.h"
#include "id.h"
#include "limits.h"
#include "log.h"
#include "message.h"

/* Bot types by enum msgr_bot_type. An enum value the table misses is refused at open with a
 * fault, never dereferenced. */
static const struct msgr_bot_ops *const bot_types[] = {
	[MSGR_BOT_STORIES] = &msgr_bot_stories_ops,
	[MSGR_BOT_API] = &msgr_bot_api_ops,
};

static const char *const bot_type_names[] = {
	[MSGR_BOT_STORIES] = "stories",
	[MSGR_BOT_API] = "api",
};

struct msgr_bot {
	const struct msgr_bot_ops *ops;
	void *state;
	const char *conn_id;                 /* the connector's id (it outlives the bot), for logs */
	char why[MSGR_MESSAGE_WHY_MAX * 2]; /* msgr_bot_last_error */
};

/* "connector "ID": bot type NAME: not available in this build\n", malloc'd, or NULL. */
static char *
unavailable(const char *id, const char *name)
{
	static const char fmt[] = "connector \"%s\": bot type %s: not available in this build\n";
	int n = snprintf(NULL, 0, fmt, id, name);
	char *s;

	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	snprintf(s, (size_t)n + 1, fmt, id, name);
	return s;
}

/* The ops of conn's bot type, or NULL with *errors saying why. */
static const struct msgr_bot_ops *
ops_of(const struct msgr_connector *conn, char **errors, msgr_result *rc)
{
	unsigned t = (unsigned)conn->bot.type;
	const char *id = conn->id ? conn->id : "?";

	if (t < sizeof(bot_types) / sizeof(bot_types[0]) && bot_types[t] != NULL) {
		*rc = MSGR_OK;
		return bot_types[t];
	}
	*rc = MSGR_ERR_CONFIG;
	if (errors != NULL) {
		const char *name = t < sizeof(bot_type_names) / sizeof(bot_type_names[0]) ?
		    bot_type_names[t] : "unknown";
		*errors = unavailable(id, name);
		if (*errors == NULL)
			*rc = MSGR_ERR_NOMEM;
	}
	return NULL;
}

msgr_result
msgr_bot_open(const struct msgr_connector *conn, struct msgr_bot **out, char **errors)
{
	const struct msgr_bot_ops *ops;
	struct msgr_bot *bot = NULL;
	msgr_result rc;

	if (errors != NULL)
		*errors = NULL;
	if (out == NULL)
		return MSGR_ERR_INVALID;
	*out = NULL;
	if (conn == NULL)
		return MSGR_ERR_INVALID;
	if ((ops = ops_of(conn, errors, &rc)) == NULL)
		goto out;
	if ((bot = calloc(1, sizeof(*bot))) == NULL) {
		rc = MSGR_ERR_NOMEM;
		goto out;
	}
	bot->ops = ops;
	bot->conn_id = conn->id ? conn->id : "";
	if ((rc = ops->open(conn, &bot->state, errors)) != MSGR_OK)
		goto out;
	*out = bot;
	bot = NULL;
out:
	free(bot);
	return rc;
}

msgr_result
msgr_bot_answer(struct msgr_bot *bot, const struct msgr_bot_input *in, json_t **actions)
{
	char why[MSGR_MESSAGE_WHY_MAX + 64], esc[sizeof(why) * 4];
	json_t *list = NULL;
	msgr_result rc;

	if (actions == NULL)
		return MSGR_ERR_INVALID;
	*actions = NULL;
	if (bot == NULL || in == NULL || in->ev == NULL)
		return MSGR_ERR_INVALID;
	bot->why[0] = '\0';
	if ((rc = bot->ops->answer(bot->state, in, &list)) != MSGR_OK) {
		if (bot->ops->last_error != NULL)
			snprintf(bot->why, sizeof(bot->why), "%s", bot->ops->last_error(bot->state));
		goto out;
	}
	/* One gate for every bot type: what leaves here has the documented shapes. */
	if (msgr_bot_actions_validate(list, why, sizeof(why)) != MSGR_OK) {
		msgr_log(MSGR_LOG_ERROR, "connector=%s bot=%s: unusable answer: %s", bot->conn_id,
		    bot->ops->name, msgr_log_escape(esc, sizeof(esc), why, strlen(why)));
		snprintf(bot->why, sizeof(bot->why), "unusable answer: %s", why);
		rc = MSGR_ERR_PERMANENT;
		goto out;
	}
	*actions = list;
	list = NULL;
out:
	json_decref(list);
	return rc;
}

void
msgr_bot_close(struct msgr_bot *bot)
{
	if (bot == NULL)
		return;
	bot->ops->close(bot->state);
	free(bot);
}

const char *
msgr_bot_type_name(const struct msgr_bot *bot)
{
	return bot != NULL ? bot->ops->name : "";
}

const char *
msgr_bot_last_error(const struct msgr_bot *bot)
{
	return bot != NULL ? bot->why : "";
}

msgr_result
msgr_bot_check(const struct msgr_connector *conn, char **errors)
{
	const struct msgr_bot_ops *ops;
	msgr_result rc;

	if (errors != NULL)
		*errors = NULL;
	if (conn == NULL)
		return MSGR_ERR_INVALID;
	if ((ops = ops_of(conn, errors, &rc)) == NULL)
		return rc;
	return ops->check != NULL ? ops->check(conn, errors) : MSGR_OK;
}

/* ---- action list check ---------------------------------------------------------------- */

/* A message the worker splits (plan_message in lib/worker.c): only text, optionally with
 * quick replies. */
static int
splittable(const json_t *m)
{
	const char *k;
	json_t *v;

	if (!json_is_string(json_object_get(m, "text")))
		return 0;
	json_object_foreach((json_t *)m, k, v)
		if (strcmp(k, "text") != 0 && strcmp(k, "quick_replies") != 0)
			return 0;
	return 1;
}

/* Validates each part of a long text as the worker will send it: the parts alone, the last
 * one with the message's quick replies. */
static msgr_result
validate_parts(const json_t *m, char *why, size_t whysz)
{
	char pwhy[MSGR_MESSAGE_WHY_MAX];
	char **parts = NULL;
	size_t n = 0, i;
	json_t *part = NULL;
	msgr_result rc;

	rc = msgr_message_split_text(json_string_value(json_object_get(m, "text")), 0, &parts,
	    &n);
	if (rc == MSGR_ERR_NOMEM) {
		snprintf(why, whysz, "out of memory");
		goto out;
	}
	if (rc != MSGR_OK) {
		snprintf(why, whysz, "text: %s, at most %d bytes", rc == MSGR_ERR_TOOBIG ?
		    "too long to split" : "not valid UTF-8 text", MSGR_MAX_TEXT_BYTES);
		rc = MSGR_ERR_LIMIT;
		goto out;
	}
	for (i = 0; i < n; i++) {
		part = i + 1 == n ? json_deep_copy(m) : json_object();
		if (part == NULL || json_object_set_new(part, "text", json_string(parts[i])) != 0) {
			snprintf(why, whysz, "out of memory");
			rc = MSGR_ERR_NOMEM;
			goto out;
		}
		if ((rc = msgr_message_validate(part, pwhy, sizeof(pwhy))) != MSGR_OK) {
			snprintf(why, whysz, "text part %zu of %zu: %s", i + 1, n, pwhy);
			goto out;
		}
		json_decref(part);
		part = NULL;
	}
	/* msgr_message_validate left the length fault in why: the parts pass, so no fault */
	why[0] = '\0';
out:
	json_decref(part);
	msgr_message_split_free(parts, n);
	return rc;
}

msgr_result
msgr_bot_message_validate(const json_t *message, char *why, size_t whysz)
{
	char dummy[1];
	size_t chars;
	msgr_result rc;

	if (why == NULL || whysz == 0) {
		why = dummy;
		whysz = sizeof(dummy);
	}
	rc = msgr_message_validate(message, why, whysz);
	if (rc != MSGR_ERR_LIMIT || !json_is_object(message) || !splittable(message))
		return rc;
	/* Only the length may be what failed: anything else fails the parts too. */
	if (msgr_message_utf8_chars(json_string_value(json_object_get(message, "text")),
	    &chars) != MSGR_OK || chars <= MSGR_TEXT_MAX_CHARS)
		return rc;
	return validate_parts(message, why, whysz);
}

/* metadata of thread control: optional, a string under 1000 characters (docs/facebook.md). */
static msgr_result
check_metadata(const json_t *a, size_t i, char *why, size_t whysz)
{
	const json_t *m = json_object_get(a, "metadata");
	size_t chars;

	if (m == NULL)
		return MSGR_OK;
	if (!json_is_string(m) ||
	    msgr_message_utf8_chars(json_string_value(m), &chars) != MSGR_OK) {
		snprintf(why, whysz, "actions[%zu].metadata: not a UTF-8 string", i);
		return MSGR_ERR_INVALID;
	}
	if (chars >= MSGR_METADATA_MAX_CHARS) {
		snprintf(why, whysz, "actions[%zu].metadata: %zu characters, at most %d", i, chars,
		    MSGR_METADATA_MAX_CHARS - 1);
		return MSGR_ERR_LIMIT;
	}
	return MSGR_OK;
}

static msgr_result
check_action(const json_t *a, size_t i, char *why, size_t whysz)
{
	static const char *const k_sender[] = { "action", "sender_action", NULL };
	static const char *const k_message[] = { "action", "message", "messaging_type", "tag",
		"notification_type", NULL };
	static const char *const k_pass[] = { "action", "target", "metadata", NULL };
	static const char *const k_take[] = { "action", "metadata", NULL };
	char mwhy[MSGR_MESSAGE_WHY_MAX];
	const char *const *allowed;
	const char *kind, *bad = NULL, *type, *tag;
	const json_t *tagv;
	msgr_result rc;

	if (!json_is_object(a)) {
		snprintf(why, whysz, "actions[%zu]: not an object", i);
		return MSGR_ERR_INVALID;
	}
	kind = json_string_value(json_object_get(a, "action"));
	if (kind == NULL) {
		snprintf(why, whysz, "actions[%zu].action: missing or not a string", i);
		return MSGR_ERR_INVALID;
	}
	allowed = strcmp(kind, "sender_action") == 0 ? k_sender :
	    strcmp(kind, "message") == 0 ? k_message :
	    strcmp(kind, "pass_thread_control") == 0 ? k_pass :
	    strcmp(kind, "take_thread_control") == 0 ? k_take : NULL;
	if (allowed == NULL) {
		snprintf(why, whysz, "actions[%zu].action: unknown action", i);
		return MSGR_ERR_INVALID;
	}
	if ((bad = msgr_message_unknown_key(a, allowed)) != NULL) {
		snprintf(why, whysz, "actions[%zu]: unknown key \"%.40s\"", i, bad);
		return MSGR_ERR_INVALID;
	}
	if (allowed == k_sender) {
		if (!msgr_message_one_of(json_string_value(json_object_get(a, "sender_action")),
		    msgr_message_sender_actions)) {
			snprintf(why, whysz, "actions[%zu].sender_action: not mark_seen, typing_on "
			    "or typing_off", i);
			return MSGR_ERR_INVALID;
		}
		return MSGR_OK;
	}
	if (allowed == k_pass && !msgr_id_target(json_string_value(json_object_get(a, "target")))) {
		snprintf(why, whysz, "actions[%zu].target: not \"inbox\" or an app id", i);
		return MSGR_ERR_INVALID;
	}
	if (allowed != k_message)
		return check_metadata(a, i, why, whysz);

	type = json_string_value(json_object_get(a, "messaging_type"));
	if (!msgr_message_one_of(type, msgr_message_types)) {
		snprintf(why, whysz, "actions[%zu].messaging_type: not RESPONSE, UPDATE or "
		    "MESSAGE_TAG", i);
		return MSGR_ERR_INVALID;
	}
	tagv = json_object_get(a, "tag");
	tag = json_string_value(tagv);
	/* docs/facebook.md "Calls": only HUMAN_AGENT remains; the others get error 100 since
	 * 27 April 2026. */
	if (tagv != NULL && (tag == NULL || strcmp(tag, "HUMAN_AGENT") != 0)) {
		snprintf(why, whysz, "actions[%zu].tag: only HUMAN_AGENT (the other tags were "
		    "retired)", i);
		return MSGR_ERR_LIMIT;
	}
	if (strcmp(type, "MESSAGE_TAG") == 0 && tag == NULL) {
		snprintf(why, whysz, "actions[%zu].tag: MESSAGE_TAG needs tag HUMAN_AGENT", i);
		return MSGR_ERR_LIMIT;
	}
	if (json_object_get(a, "notification_type") != NULL &&
	    !msgr_message_one_of(json_string_value(json_object_get(a, "notification_type")),
	    msgr_message_notification_types)) {
		snprintf(why, whysz, "actions[%zu].notification_type: not REGULAR, SILENT_PUSH or "
		    "NO_PUSH", i);
		return MSGR_ERR_INVALID;
	}
	if (json_object_get(a, "message") == NULL) {
		snprintf(why, whysz, "actions[%zu].message: missing", i);
		return MSGR_ERR_INVALID;
	}
	rc = msgr_bot_message_validate(json_object_get(a, "message"), mwhy, sizeof(mwhy));
	if (rc != MSGR_OK) {
		snprintf(why, whysz, "actions[%zu].message: %s", i, mwhy);
		return rc == MSGR_ERR_LIMIT ? MSGR_ERR_LIMIT : MSGR_ERR_INVALID;
	}
	return MSGR_OK;
}

msgr_result
msgr_bot_actions_validate(const json_t *actions, char *why, size_t whysz)
{
	char dummy[1];
	size_t i, n;
	msgr_result rc;

	if (why == NULL || whysz == 0) {
		why = dummy;
		whysz = sizeof(dummy);
	}
	why[0] = '\0';
	if (!json_is_array(actions)) {
		snprintf(why, whysz, "actions: not an array");
		return MSGR_ERR_INVALID;
	}
	if ((n = json_array_size(actions)) > MSGR_MAX_BOT_ACTIONS) {
		snprintf(why, whysz, "actions: %zu, at most %d", n, MSGR_MAX_BOT_ACTIONS);
		return MSGR_ERR_INVALID;
	}
	for (i = 0; i < n; i++)
		if ((rc = check_action(json_array_get(actions, i), i, why, whysz)) != MSGR_OK)
			return rc;
	return MSGR_OK;
}
