/* fuzz_message — libFuzzer target for the Send API message checker and the text splitter
 * (lib/message.h).
 *
 * The same bytes are used twice:
 *   1. as JSON, loaded the way every outside byte is (msgr_event_json_load: depth bounded
 *      before jansson, duplicate keys and NULs refused), then msgr_message_validate and
 *      msgr_bot_message_validate: they never crash, answer only their documented results,
 *      always leave a why (non-empty on failure), answer the same without a why buffer and
 *      the same twice; a message that validates also builds a Send API body
 *      (msgr_message_request), whose copy validates again;
 *   2. as a NUL-terminated string (up to the first NUL byte): msgr_message_utf8_chars agrees
 *      with libunistring (u8_check / u8_mbsnlen) on validity and count, and
 *      msgr_message_split_text, at the default 2000 code points and at a small width taken
 *      from the input, gives non-empty parts of at most the width, each valid UTF-8 without
 *      whitespace at either end, that joined hold exactly the input's non-whitespace bytes.
 * A broken invariant aborts, which libFuzzer (and tests/fuzz/driver.c) report as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistr.h>

#include "bot.h"
#include "event.h"
#include "limits.h"
#include "message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_message: invariant failed at line %d: %s\n", __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* The whitespace msgr_message_split_text cuts at and trims (message.c is_space). */
static int
ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* s without whitespace, into dst (room for strlen(s) + 1); returns its length. */
static size_t
squeeze(const char *s, char *dst)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (!ws((unsigned char)*s))
			dst[n++] = *s;
	dst[n] = '\0';
	return n;
}

static void
check_validate(const json_t *msg)
{
	char why[MSGR_MESSAGE_WHY_MAX], why2[MSGR_MESSAGE_WHY_MAX];
	struct msgr_message_request req;
	json_t *body = NULL;
	msgr_result rc, rc2;

	memset(why, 'x', sizeof(why));
	rc = msgr_message_validate(msg, why, sizeof(why));
	CHECK(rc == MSGR_OK || rc == MSGR_ERR_LIMIT || rc == MSGR_ERR_INVALID);
	CHECK(memchr(why, '\0', sizeof(why)) != NULL);
	CHECK((rc == MSGR_OK) == (why[0] == '\0'));
	CHECK(msgr_message_validate(msg, NULL, 0) == rc);
	rc2 = msgr_message_validate(msg, why2, sizeof(why2));
	CHECK(rc2 == rc && strcmp(why, why2) == 0);

	/* the bot's variant only ever allows more (long text the worker splits) */
	rc2 = msgr_bot_message_validate(msg, why2, sizeof(why2));
	CHECK(rc2 == MSGR_OK || rc2 == MSGR_ERR_LIMIT || rc2 == MSGR_ERR_INVALID);
	CHECK((rc2 == MSGR_OK) == (why2[0] == '\0'));
	if (rc == MSGR_OK)
		CHECK(rc2 == MSGR_OK);
	if (rc != MSGR_OK)
		return;

	/* what validates goes into a Send API body, and the copy there validates too */
	memset(&req, 0, sizeof(req));
	req.recipient_id = "1234567890";
	req.message = msg;
	rc = msgr_message_request(&req, &body, why, sizeof(why));
	if (rc == MSGR_ERR_NOMEM)
		return;
	CHECK(rc == MSGR_OK && body != NULL);
	CHECK(msgr_message_validate(json_object_get(body, "message"), NULL, 0) == MSGR_OK);
	json_decref(body);
}

static void
check_split(const char *s, size_t len, size_t max_chars, int valid, int has_content)
{
	char **parts = NULL, *joined = NULL, *want = NULL;
	size_t n = 77, i, chars, jl = 0, pl;
	msgr_result rc;

	rc = msgr_message_split_text(s, max_chars, &parts, &n);
	if (rc == MSGR_ERR_NOMEM)
		return;
	if (len > MSGR_MAX_TEXT_BYTES)
		CHECK(rc == MSGR_ERR_TOOBIG);
	else if (!valid || !has_content)
		CHECK(rc == MSGR_ERR_INVALID);
	else
		CHECK(rc == MSGR_OK);
	if (rc != MSGR_OK) {
		CHECK(parts == NULL && n == 0);
		return;
	}
	if (max_chars == 0)
		max_chars = MSGR_TEXT_MAX_CHARS;
	CHECK(parts != NULL && n >= 1);
	CHECK(n <= len);   /* each part holds at least one byte of its own */
	joined = malloc(len + 1);
	want = malloc(len + 1);
	CHECK(joined != NULL && want != NULL);
	for (i = 0; i < n; i++) {
		CHECK(parts[i] != NULL);
		pl = strlen(parts[i]);
		CHECK(pl > 0);
		CHECK(!ws((unsigned char)parts[i][0]) && !ws((unsigned char)parts[i][pl - 1]));
		CHECK(u8_check((const uint8_t *)parts[i], pl) == NULL);
		CHECK(msgr_message_utf8_chars(parts[i], &chars) == MSGR_OK);
		CHECK(chars >= 1 && chars <= max_chars);
		CHECK(jl + pl <= len);
		jl += squeeze(parts[i], joined + jl);
	}
	joined[jl] = '\0';
	squeeze(s, want);
	CHECK(strcmp(joined, want) == 0);
	free(joined);
	free(want);
	msgr_message_split_free(parts, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256], *s;
	json_t *root = NULL;
	size_t len, chars, i;
	msgr_result rc;
	int valid, has_content = 0;

	/* 1. the bytes as JSON */
	rc = msgr_event_json_load((const char *)data, size, MSGR_MAX_BOT_REPLY_DEPTH, &root, why,
	    sizeof(why));
	CHECK(rc == MSGR_OK || rc == MSGR_ERR_PARSE || rc == MSGR_ERR_TOOBIG ||
	    rc == MSGR_ERR_NOMEM);
	CHECK((rc == MSGR_OK) == (root != NULL));
	if (root != NULL) {
		check_validate(root);
		/* a Send API body or a Bot API wrapper: the message inside it too */
		if (json_is_object(json_object_get(root, "message")))
			check_validate(json_object_get(root, "message"));
		json_decref(root);
	}
	CHECK(msgr_message_validate(NULL, why, sizeof(why)) == MSGR_ERR_INVALID);

	/* 2. the bytes as text, up to the first NUL */
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	len = strlen(s);
	valid = u8_check((const uint8_t *)s, len) == NULL;
	for (i = 0; i < len; i++)
		if (!ws((unsigned char)s[i]))
			has_content = 1;
	chars = (size_t)-1;
	rc = msgr_message_utf8_chars(s, &chars);
	CHECK(rc == MSGR_OK || rc == MSGR_ERR_INVALID);
	CHECK((rc == MSGR_OK) == valid);
	if (rc == MSGR_OK)
		CHECK(chars == u8_mbsnlen((const uint8_t *)s, len));
	CHECK(msgr_message_utf8_chars(s, NULL) == rc);

	check_split(s, len, 0, valid, has_content);
	/* a narrow window (1..64 code points, from the last byte) exercises every kind of cut */
	if (size > 0)
		check_split(s, len, 1 + data[size - 1] % 64, valid, has_content);
	free(s);
	return 0;
}
