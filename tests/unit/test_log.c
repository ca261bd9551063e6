/* Unit tests: log lines (lib/log.h). What is written to stderr is caught in a pipe and
 * searched: a registered secret never shows, whole or in part, whether the line is cut, the
 * secret escaped for a quoted field or as a JSON string, or cut by msgr_log_escape. */
#include "unit.h"

#include <fcntl.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"

/* Chosen so each escaping changes it: a quote, a backslash, a non-ASCII letter, a space. */
static const char secret[] = "S3cr\"et\\w\xc3\xb6rd and-more-0123456789abcdef";

struct cap {
	int saved;
	int fds[2];
};

static void
cap_start(struct cap *c)
{
	assert_int_equal(pipe(c->fds), 0);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_true(dup2(c->fds[1], STDERR_FILENO) >= 0);
	close(c->fds[1]);
}

/* What was logged since cap_start, malloc'd. */
static char *
cap_end(struct cap *c)
{
	static char buf[1 << 16];
	size_t got = 0;
	ssize_t n;
	char *out;

	assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
	close(c->saved);
	while (got < sizeof(buf) - 1 && (n = read(c->fds[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	close(c->fds[0]);
	buf[got] = '\0';
	out = strdup(buf);
	assert_non_null(out);
	return out;
}

/* No 8 bytes in a row of any form of the secret appear in text. */
static void
assert_no_part(const char *text, const char *form)
{
	size_t i, n = strlen(form);
	char part[9];

	for (i = 0; i + 8 <= n; i++) {
		memcpy(part, form + i, 8);
		part[8] = '\0';
		if (strstr(text, part) != NULL)
			fail_msg("\"%s\" (part of the secret) in the log: %.200s", part, text);
	}
}

/* The secret as msgr_log_escape writes a field, done here: msgr_log_escape itself now
 * answers "[redacted]". */
static const char *
field_form(char *out, size_t outsz)
{
	size_t i, o = 0;

	for (i = 0; secret[i] != '\0' && o + 5 < outsz; i++) {
		unsigned char ch = (unsigned char)secret[i];

		if (ch == '"' || ch == '\\')
			o += (size_t)snprintf(out + o, outsz - o, "\\%c", ch);
		else if (ch < 0x20 || ch > 0x7e)
			o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = '\0';
	return out;
}

static void
assert_clean(const char *text)
{
	char esc[512];
	char *json;
	json_t *js;

	assert_no_part(text, secret);
	assert_no_part(text, field_form(esc, sizeof(esc)));
	js = json_string(secret);
	assert_non_null(js);
	json = json_dumps(js, JSON_ENCODE_ANY);
	json_decref(js);
	assert_non_null(json);
	assert_no_part(text, json);
	free(json);
}

static int
setup(void **state)
{
	(void)state;
	msgr_log_clear_secrets();
	return msgr_log_add_secret(secret);
}

static int
teardown(void **state)
{
	(void)state;
	msgr_log_clear_secrets();
	return 0;
}

/* A line over MSGR_LOG_LINE_MAX is cut: a secret across the cut is replaced whole. */
static void
test_cut_line(void **state)
{
	static char pad[MSGR_LOG_LINE_MAX];
	struct cap c;
	char *out;
	size_t k;

	(void)state;
	for (k = 1; k < sizeof(secret) - 1; k += 7) {
		memset(pad, 'a', sizeof(pad));
		pad[MSGR_LOG_LINE_MAX - 4 - k] = '\0';   /* the cut falls k bytes into the secret */
		cap_start(&c);
		msgr_log(MSGR_LOG_ERROR, "%s%s tail", pad, secret);
		out = cap_end(&c);
		assert_clean(out);
		free(out);
	}
}

/* The secret as a quoted log field and as JSON text inside a message. */
static void
test_escaped(void **state)
{
	char esc[512], *json, *out;
	struct cap c;
	json_t *o;

	(void)state;
	o = json_pack("{s:s}", "token", secret);
	assert_non_null(o);
	json = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	assert_non_null(json);
	cap_start(&c);
	msgr_log(MSGR_LOG_INFO, "plain %s", secret);
	msgr_log(MSGR_LOG_INFO, "field=\"%s\"", msgr_log_escape(esc, sizeof(esc), json,
	    strlen(json)));
	msgr_log(MSGR_LOG_INFO, "json %s", json);
	msgr_log(MSGR_LOG_INFO, "url ?token=S3cr%%22et%%5Cw%%C3%%B6rd%%20and-more-0123456789abcdef");
	out = cap_end(&c);
	free(json);
	assert_clean(out);
	assert_null(strstr(out, "%22et%5Cw%C3%B6rd"));
	assert_non_null(strstr(out, "plain [redacted]"));
	free(out);
}

/* A host of many connectors registers up to MSGR_LOG_SECRETS_MAX secrets: each is found in
 * every form wherever it starts, text that only begins like one is kept, and once they are
 * cleared they are plain text again. */
static void
test_many_secrets(void **state)
{
	char s[64], line[256], *out;
	struct cap c;
	int i;

	(void)state;
	for (i = 1; i < MSGR_LOG_SECRETS_MAX; i++) {
		snprintf(s, sizeof(s), "tok-%03d-\"%c", i, 'a' + i % 26);
		assert_int_equal(msgr_log_add_secret(s), 0);
	}
	cap_start(&c);
	msgr_log(MSGR_LOG_INFO, "first tok-001-\"b last tok-255-\"v");
	msgr_log(MSGR_LOG_INFO, "quoted tok-128-\\\"y json tok-200-\\\"s url tok-077-%%22z");
	msgr_log(MSGR_LOG_INFO, "near tok-001-\"c tok-999 to S3cr");
	out = cap_end(&c);
	assert_clean(out);
	assert_non_null(strstr(out, "first [redacted] last [redacted]\n"));
	assert_non_null(strstr(out, "quoted [redacted] json [redacted] url [redacted]\n"));
	assert_non_null(strstr(out, "near tok-001-\"c tok-999 to S3cr\n"));
	free(out);
	msgr_log_clear_secrets();
	cap_start(&c);
	snprintf(line, sizeof(line), "cleared tok-128-\"y");
	msgr_log(MSGR_LOG_INFO, "%s", line);
	out = cap_end(&c);
	assert_non_null(strstr(out, line));
	free(out);
}

/* msgr_log_escape cuts its field: the secret is replaced before the cut, never halved. */
static void
test_escape_cut(void **state)
{
	char text[256], esc[40];
	size_t k;

	(void)state;
	for (k = 0; k < 40; k++) {
		memset(text, 'x', k);
		snprintf(text + k, sizeof(text) - k, "%s!", secret);
		msgr_log_escape(esc, sizeof(esc), text, strlen(text));
		assert_clean(esc);
		assert_true(strlen(esc) < sizeof(esc));
	}
	/* without a secret, nothing changes: short text whole, long text cut with "..." */
	assert_string_equal(msgr_log_escape(esc, sizeof(esc), "a \"b\"", 5), "a \\\"b\\\"");
	memset(text, 'y', 100);
	msgr_log_escape(esc, sizeof(esc), text, 100);
	assert_int_equal(strlen(esc), sizeof(esc) - 1);
	assert_string_equal(esc + strlen(esc) - 3, "...");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cut_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_secrets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escape_cut, setup, teardown),
	};

	msgr_log_init("test_log", MSGR_LOG_DEBUG);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
