/* echo.c — outgoing messages tagged with their outbox row, and their echoes read back
 * (echo.h; docs/sending.md "Echo tags"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "echo.h"
#include "fibers.h"
#include "limits.h"
#include "message.h"

#define AWAIT_STEP_MS   100   /* how often a waiting worker looks: an echo comes within about
                                 a second of the call, a look costs two indexed reads */
#define SCAN_MAX        64    /* pending echoes read per look */
#define ID_DIGITS_MAX   18    /* an outbox id fits an int64 with room to spare */
#define TRY_DIGITS_MAX  9     /* a try number fits an int */

msgr_result
msgr_echo_tag_make(int64_t outbox_id, int try_no, const char *bot_meta, char *out,
    size_t outsz)
{
	size_t chars = 0, taglen;
	char tag[MSGR_ECHO_TAG_MAX + 1];
	int n;

	if (out == NULL || outsz == 0)
		return MSGR_ERR_INVALID;
	out[0] = '\0';
	/* Only what msgr_echo_tag_parse reads back: 18 digits of id, 9 of try. */
	if (outbox_id <= 0 || outbox_id > 999999999999999999LL || try_no <= 0 ||
	    try_no > 999999999)
		return MSGR_ERR_INVALID;
	n = snprintf(tag, sizeof(tag), MSGR_ECHO_TAG_PREFIX "%lld:%d", (long long)outbox_id,
	    try_no);
	if (n < 0 || (size_t)n >= sizeof(tag))
		return MSGR_ERR_INVALID;
	taglen = (size_t)n;
	if (bot_meta != NULL && msgr_message_utf8_chars(bot_meta, &chars) != MSGR_OK)
		return MSGR_ERR_INVALID;
	/* The tag is ASCII: one character a byte. Facebook takes under 1000 characters. */
	if (taglen + (bot_meta != NULL ? 1 + chars : 0) >= MSGR_METADATA_MAX_CHARS)
		return MSGR_ERR_TOOBIG;
	if (taglen + (bot_meta != NULL ? 1 + strlen(bot_meta) : 0) >= outsz)
		return MSGR_ERR_TOOBIG;
	if (bot_meta != NULL)
		snprintf(out, outsz, "%s%c%s", tag, MSGR_ECHO_TAG_SEP, bot_meta);
	else
		snprintf(out, outsz, "%s", tag);
	return MSGR_OK;
}

/* A decimal number > 0 of 1 to max digits without a leading zero at *p; *p moves past it. */
static int
read_number(const char **p, int max, long long *v)
{
	const char *s = *p;
	long long x = 0;
	int d = 0;

	if (*s < '1' || *s > '9')
		return 0;
	while (*s >= '0' && *s <= '9') {
		if (++d > max)
			return 0;
		x = x * 10 + (*s - '0');
		s++;
	}
	*p = s;
	*v = x;
	return 1;
}

int
msgr_echo_tag_parse(const char *meta, struct msgr_echo_tag *tag, const char **bot_meta)
{
	const char *p = meta;
	long long id, try_no;

	if (bot_meta != NULL)
		*bot_meta = meta;
	if (meta == NULL || tag == NULL)
		return 0;
	if (strncmp(p, MSGR_ECHO_TAG_PREFIX, sizeof(MSGR_ECHO_TAG_PREFIX) - 1) != 0)
		return 0;
	p += sizeof(MSGR_ECHO_TAG_PREFIX) - 1;
	if (!read_number(&p, ID_DIGITS_MAX, &id) || *p++ != ':' ||
	    !read_number(&p, TRY_DIGITS_MAX, &try_no))
		return 0;
	if (*p != '\0' && *p != MSGR_ECHO_TAG_SEP)
		return 0;
	tag->outbox_id = (int64_t)id;
	tag->try_no = (int)try_no;
	if (bot_meta != NULL)
		*bot_meta = *p == MSGR_ECHO_TAG_SEP ? p + 1 : NULL;
	return 1;
}

const char *
msgr_echo_bot_metadata(const char *meta)
{
	struct msgr_echo_tag tag;
	const char *bot = meta;

	msgr_echo_tag_parse(meta, &tag, &bot);
	return bot;
}

msgr_result
msgr_echo_tag_body(json_t **body, int64_t outbox_id, int try_no, int *tagged)
{
	char meta[MSGR_METADATA_MAX_CHARS * 4 + MSGR_ECHO_TAG_MAX + 1];
	json_t *msg, *copy, *v;
	const char *bot;
	msgr_result rc;

	*tagged = 0;
	msg = json_object_get(*body, "message");
	if (!json_is_object(msg) || outbox_id <= 0)
		return MSGR_OK;
	v = json_object_get(msg, "metadata");
	bot = json_is_string(v) ? json_string_value(v) : NULL;
	rc = msgr_echo_tag_make(outbox_id, try_no, bot, meta, sizeof(meta));
	if (rc == MSGR_ERR_TOOBIG || rc == MSGR_ERR_INVALID)
		return MSGR_OK;   /* the bot's metadata as it is: this message goes untagged */
	if (rc != MSGR_OK)
		return rc;
	/* A deep copy: the plan's body is shared with the outbox's text and must not change. */
	if ((copy = json_deep_copy(*body)) == NULL)
		return MSGR_ERR_NOMEM;
	if (json_object_set_new(json_object_get(copy, "message"), "metadata",
	    json_string(meta)) != 0) {
		json_decref(copy);
		return MSGR_ERR_NOMEM;
	}
	json_decref(*body);
	*body = copy;
	*tagged = 1;
	return MSGR_OK;
}

/* dst[dstsz] <- s; MSGR_ERR_TOOBIG when it does not fit. */
static msgr_result
copy_field(char *dst, size_t dstsz, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n >= dstsz)
		return MSGR_ERR_TOOBIG;
	memcpy(dst, s != NULL ? s : "", n);
	dst[n] = '\0';
	return MSGR_OK;
}

msgr_result
msgr_echo_record(struct msgr_store *st, const struct msgr_connector *c,
    const struct msgr_event *ev)
{
	struct msgr_store_echo e;
	struct msgr_echo_tag tag;

	if (ev->kind != MSGR_EVENT_ECHO || ev->mid == NULL || ev->mid[0] == '\0' ||
	    ev->page_id[0] == '\0' || ev->user_id[0] == '\0')
		return MSGR_OK;
	memset(&e, 0, sizeof(e));
	/* A mid or id too long for the row is no echo of ours (ours fit): nothing to record. */
	if (copy_field(e.mid, sizeof(e.mid), ev->mid) != MSGR_OK ||
	    copy_field(e.page_id, sizeof(e.page_id), ev->page_id) != MSGR_OK ||
	    copy_field(e.user_id, sizeof(e.user_id), ev->user_id) != MSGR_OK)
		return MSGR_OK;
	/* Only the connector's own app tags what it sends: a tag in another app's echo (a
	 * person typing "msgr:o=..." in the Page Inbox) proves nothing. */
	if (c != NULL && ev->app_id != NULL && strcmp(ev->app_id, c->app_id) == 0 &&
	    msgr_echo_tag_parse(ev->metadata, &tag, NULL)) {
		e.outbox_id = tag.outbox_id;
		e.try_no = tag.try_no;
	}
	return msgr_store_echo_put(st, &e);
}

msgr_result
msgr_echo_scan(struct msgr_store *st, const struct msgr_connector *c, const char *page_id,
    const char *user_id, int64_t *after_id)
{
	struct msgr_store_raw *rows = NULL;
	struct msgr_event ev;
	char why[MSGR_MESSAGE_WHY_MAX];
	size_t n = 0, i;
	msgr_result rc;

	if ((rc = msgr_store_echo_pending(st, page_id, user_id, MSGR_EVENT_ECHO, *after_id,
	    SCAN_MAX, &rows, &n)) != MSGR_OK)
		return rc;
	for (i = 0; i < n && rc == MSGR_OK; i++) {
		*after_id = rows[i].event_id;
		/* One that does not parse is the worker's to fail when its turn comes. */
		if (msgr_event_parse_text(rows[i].raw, strlen(rows[i].raw), page_id, 0, &ev, why,
		    sizeof(why)) != MSGR_OK)
			continue;
		rc = msgr_echo_record(st, c, &ev);
		msgr_event_clear(&ev);
	}
	msgr_store_raw_free(rows, n);
	return rc;
}

msgr_result
msgr_echo_await(struct msgr_store *st, const struct msgr_connector *c, const char *page_id,
    const char *user_id, int64_t outbox_id, int max_try, int wait_ms, char *mid, size_t midsz)
{
	struct msgr_store_echo e;
	long long end = msgr_clock_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
	int64_t after;
	msgr_result rc;

	for (;;) {
		/* Every look reads all the conversation's queued echoes, not only those above the
		 * last id seen: PostgreSQL draws ids before commit, so a lower id may commit later. */
		after = 0;
		if ((rc = msgr_echo_scan(st, c, page_id, user_id, &after)) != MSGR_OK)
			return rc;
		rc = msgr_store_echo_find(st, outbox_id, page_id, user_id, &e);
		if (rc == MSGR_OK && (e.try_no < 1 || e.try_no > max_try))
			rc = MSGR_ERR_NOTFOUND;
		if (rc == MSGR_OK) {
			if (mid != NULL && midsz > 0)
				snprintf(mid, midsz, "%s", e.mid);
			return MSGR_OK;
		}
		if (rc != MSGR_ERR_NOTFOUND)
			return rc;
		if (msgr_clock_mono_ms() >= end)
			return MSGR_ERR_NOTFOUND;
		/* The echo comes through the intake, which needs the write lock a held handle
		 * keeps (msgr_store_hold); nothing leaves meanwhile. */
		if ((rc = msgr_store_step_aside(st)) == MSGR_OK)
			msgr_fiber_sleep(AWAIT_STEP_MS, 1);
		msgr_store_resume(st);
		if (rc != MSGR_OK)
			return rc;
	}
}
