/* bot_stories.c — the stories bot (docs/stories.md; integrated mode).
 *
 * A libconfig file of stories is loaded and checked once: every fault is collected with
 * file:line and the story's name, and every answer is built into the Send API message
 * objects it will send and checked whole by msgr_message_validate, so a file that loads
 * never produces a message Facebook would refuse. Answering is then a lookup: fold the
 * text (lib/fold.h), find the first story in file order whose payload or trigger matches,
 * else the fallback, and wrap its messages in actions (lib/bot.h). docs/stories.md is the
 * user's side of this file. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libconfig.h>

#include "bot.h"
#include "buf.h"
#include "cfgread.h"
#include "fold.h"
#include "id.h"
#include "limits.h"
#include "log.h"
#include "message.h"
#include "url.h"

#define NAME_SHOWN_MAX 80   /* bytes of a story name or trigger quoted in a fault */

struct story {
	char *name;
	int line;
	char **triggers;        /* folded (fold.h), each non-empty */
	size_t n_triggers;
	char **payloads;        /* exact */
	size_t n_payloads;
	json_t *messages;       /* array of Send API message objects; placeholders literal */
	int fallback;
	int take_control;
	char *handover;         /* NULL, "inbox" or an app id */
};

struct stories {
	struct story *v;
	size_t n;
	const struct story *fallback;
};

/* A file's stories are read once per process and shared by every bot open on it: the
 * threads of `msgrctl drain --threads` each opened every page's bot, and reading the file
 * cost a drain of a backlog 6% of its CPU. Once loaded the stories are only read (and
 * jansson 2.14 reads, copies and dumps shared values safely from several threads), so the
 * bots share them without a lock. A file changed since (another inode, size or mtime) is
 * read again by the next open; the old copy goes with its last bot. */
struct loaded {
	char *file;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct stories *st;
	unsigned refs;
	struct loaded *next;
};

/* Collects faults while a file is read (lib/cfgread.h); the load fails when there is any. */
struct loader {
	struct msgr_cfgread rd;
	const char *file;
	int nomem;
	struct stories *st;
	char subject[NAME_SHOWN_MAX + 16];   /* "story \"NAME\": " of the fault being said */
};

/* What a message built from an answer holds, to point a fault at the right line. */
enum msg_kind { MSG_TEXT, MSG_IMAGE, MSG_CARDS };

/* ---- faults ------------------------------------------------------------------------- */

/* Copies untrusted s into dst for a fault line: control bytes become '?', cut at a UTF-8
 * boundary with "..." when long. */
static const char *
shown(char *dst, size_t dstsz, const char *s)
{
	size_t i, n = 0;

	if (s == NULL)
		s = "";
	for (i = 0; s[i] != '\0' && n + 4 < dstsz; i++)
		dst[n++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	if (s[i] != '\0') {
		while (n > 0 && ((unsigned char)dst[n - 1] & 0xc0) == 0x80)
			n--;
		if (n > 0 && ((unsigned char)dst[n - 1] & 0xc0) == 0xc0)
			n--;
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
	return dst;
}

/* The faults that follow are about story (NULL: about the file). */
static void
about(struct loader *ld, const char *story)
{
	char name[NAME_SHOWN_MAX + 4];

	if (story == NULL) {
		ld->rd.subject = NULL;
		return;
	}
	snprintf(ld->subject, sizeof(ld->subject), "story \"%s\": ",
	    shown(name, sizeof(name), story));
	ld->rd.subject = ld->subject;
}

static void fault(struct loader *ld, const config_setting_t *where, const char *story,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Records "FILE:LINE: story "NAME": what". where may be NULL (the file as a whole). */
static void
fault(struct loader *ld, const config_setting_t *where, const char *story, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	about(ld, story);
	msgr_cfgread_fault(&ld->rd, where, "%s", what);
}

/* ---- reading settings --------------------------------------------------------------- */

struct field {
	const char *name;
	const config_setting_t *s;
};

#define FIELDS_MAX 8

/* Fills f[].s from the members of group; unknown members are faults. */
static void
read_fields(struct loader *ld, const config_setting_t *group, struct field *f, size_t nf,
    const char *story, const char *what)
{
	const char *known[FIELDS_MAX + 1];
	const config_setting_t *found[FIELDS_MAX + 1];
	size_t j;

	for (j = 0; j < nf && j < FIELDS_MAX; j++)
		known[j] = f[j].name;
	known[j] = NULL;
	about(ld, story);
	msgr_cfgread_members(&ld->rd, group, known, found, what, "");
	for (j = 0; j < nf && j < FIELDS_MAX; j++)
		f[j].s = found[j];
}

static const config_setting_t *
field(const struct field *f, size_t nf, const char *name)
{
	size_t j;

	for (j = 0; j < nf; j++)
		if (strcmp(f[j].name, name) == 0)
			return f[j].s;
	return NULL;
}

/* A string setting (NULL when absent or faulty): valid UTF-8, bounded. Not
 * MSGR_MAX_CONFIG_STRING: 2000 characters of Chinese text are 6000 bytes. */
static const char *
get_string(struct loader *ld, const config_setting_t *s, const char *story, const char *what)
{
	const char *v;

	about(ld, story);
	return msgr_cfgread_string(&ld->rd, s, what, MSGR_MAX_TEXT_BYTES, 0, &v) == 1 ? v : NULL;
}

/* A boolean setting: 0 when absent or faulty. */
static int
get_bool(struct loader *ld, const config_setting_t *s, const char *story, const char *what)
{
	int v = 0;

	about(ld, story);
	return msgr_cfgread_bool(&ld->rd, s, what, &v) == 1 ? v : 0;
}

/* A list or array setting, or NULL (absent or faulty). */
static const config_setting_t *
get_list(struct loader *ld, const config_setting_t *s, const char *story, const char *what)
{
	about(ld, story);
	return msgr_cfgread_list(&ld->rd, s, what, (size_t)-1) == 1 ? s : NULL;
}

/* A URL setting: http(s), as Facebook fetches it (lib/url.h, docs/stories.md). */
static const char *
get_url(struct loader *ld, const config_setting_t *s, const char *story, const char *what)
{
	const char *v = get_string(ld, s, story, what);
	enum msgr_url_fault f;

	if (v == NULL || (f = msgr_url_check(v, MSGR_URL_HTTPS | MSGR_URL_HTTP)) == MSGR_URL_OK)
		return v;
	if (f == MSGR_URL_ERR_NOMEM)
		ld->nomem = 1;
	else
		fault(ld, s, story, "%s: not an https:// (or http://) URL", what);
	return NULL;
}

/* ---- placeholders ------------------------------------------------------------------- */

static const char *const placeholders[] = { "{first_name}", "{last_name}" };

/* Length of a "{word}" placeholder-looking token at p (lowercase letters and '_'), or 0. */
static size_t
placeholder_len(const char *p)
{
	size_t i = 1;

	if (p[0] != '{')
		return 0;
	while ((p[i] >= 'a' && p[i] <= 'z') || p[i] == '_')
		i++;
	return (i > 1 && p[i] == '}') ? i + 1 : 0;
}

/* Appends s with {first_name} / {last_name} replaced by first / last (NULL = ""). A
 * placeholder replaced by nothing takes the spaces before it with it when a space, the end
 * or punctuation follows, and a comma too when punctuation or the end follows, so for a user
 * without a name "Hello {first_name}!" reads "Hello!", "Thanks, {first_name}." reads
 * "Thanks." and "Hi {first_name} {last_name}, welcome" reads "Hi, welcome". */
static msgr_result
substitute(struct msgr_buf *b, const char *s, const char *first, const char *last)
{
	msgr_result rc;

	while (*s != '\0') {
		size_t pl = placeholder_len(s);
		const char *val = NULL;

		if (pl == strlen(placeholders[0]) && strncmp(s, placeholders[0], pl) == 0)
			val = first ? first : "";
		else if (pl == strlen(placeholders[1]) && strncmp(s, placeholders[1], pl) == 0)
			val = last ? last : "";
		if (val == NULL) {
			if ((rc = msgr_buf_append(b, s, 1)) != MSGR_OK)
				return rc;
			s++;
			continue;
		}
		s += pl;
		if (*val != '\0') {
			if ((rc = msgr_buf_puts(b, val)) != MSGR_OK)
				return rc;
		} else if (*s == '\0' || strchr(" ,.!?;:)", *s) != NULL) {
			while (b->len > 0 && b->data[b->len - 1] == ' ')
				b->data[--b->len] = '\0';
			/* "Good choice, {first_name}!" -> "Good choice!" */
			if (*s != ' ' && b->len > 0 && b->data[b->len - 1] == ',')
				b->data[--b->len] = '\0';
		}
	}
	return msgr_buf_append(b, "", 0);
}

/* Replaces placeholders in the text fields (text, title, subtitle) of v, in place. depth
 * bounds the walk (messages are a handful of levels deep). */
static msgr_result
substitute_json(json_t *v, const char *first, const char *last, int depth)
{
	const char *k;
	json_t *e;
	size_t i;
	msgr_result rc;

	if (depth > 8)
		return MSGR_OK;
	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			if ((rc = substitute_json(e, first, last, depth + 1)) != MSGR_OK)
				return rc;
		return MSGR_OK;
	}
	if (!json_is_object(v))
		return MSGR_OK;
	json_object_foreach(v, k, e) {
		if (json_is_string(e) && (strcmp(k, "text") == 0 || strcmp(k, "title") == 0 ||
		    strcmp(k, "subtitle") == 0) && strchr(json_string_value(e), '{') != NULL) {
			struct msgr_buf b;

			msgr_buf_init(&b, MSGR_MAX_TEXT_BYTES);
			rc = substitute(&b, json_string_value(e), first, last);
			if (rc == MSGR_OK && json_string_set(e, b.data) != 0)
				rc = MSGR_ERR_INVALID;   /* a name that is not UTF-8 */
			msgr_buf_free(&b);
			if (rc != MSGR_OK)
				return rc;
		} else if ((rc = substitute_json(e, first, last, depth + 1)) != MSGR_OK) {
			return rc;
		}
	}
	return MSGR_OK;
}

/* A copy of message with the names put in (a new reference), or NULL. */
static json_t *
personalised(const json_t *message, const char *first, const char *last)
{
	json_t *m = json_deep_copy(message);

	if (m != NULL && substitute_json(m, first, last, 0) != MSGR_OK) {
		json_decref(m);
		m = NULL;
	}
	return m;
}

/* Faults for "{...}" tokens in a text field that are not placeholders we fill. */
static void
check_placeholders(struct loader *ld, const config_setting_t *s, const char *story,
    const char *what, const char *text)
{
	const char *p;

	for (p = text; text != NULL && (p = strchr(p, '{')) != NULL; p++) {
		size_t pl = placeholder_len(p), i;

		if (pl == 0)
			continue;
		for (i = 0; i < sizeof(placeholders) / sizeof(placeholders[0]); i++)
			if (strlen(placeholders[i]) == pl && strncmp(p, placeholders[i], pl) == 0)
				break;
		if (i == sizeof(placeholders) / sizeof(placeholders[0]))
			fault(ld, s, story, "%s: unknown placeholder \"%.*s\" (known: {first_name}, "
			    "{last_name})", what, (int)(pl < 40 ? pl : 40), p);
	}
}

/* ---- answers -> messages ------------------------------------------------------------ */

/* Parses "[N]" right after prefix in why; -1 when absent. */
static long long
index_after(const char *why, const char *prefix)
{
	const char *p = strstr(why, prefix);
	char *end;
	long long v;

	if (p == NULL)
		return -1;
	p += strlen(prefix);
	errno = 0;
	v = strtoll(p, &end, 10);
	if (errno != 0 || end == p || *end != ']' || v < 0 || v > 1000000)
		return -1;
	return v;
}

static const config_setting_t *
elem_or(const config_setting_t *list, long long i, const config_setting_t *dflt)
{
	const config_setting_t *e;

	if (list == NULL || i < 0 || i >= config_setting_length(list))
		return dflt;
	e = config_setting_get_elem(list, (unsigned)i);
	return e ? e : dflt;
}

/* The setting a validator's why (a field path, lib/message.h) points at, for the line of a
 * fault; the answer itself when the path names nothing closer. */
static const config_setting_t *
locate(const config_setting_t *answer, enum msg_kind kind, const char *why)
{
	const config_setting_t *card;
	long long i;

	if (strncmp(why, "quick_replies[", 14) == 0)
		return elem_or(config_setting_get_member(answer, "quick_replies"),
		    index_after(why, "quick_replies["), answer);
	switch (kind) {
	case MSG_TEXT:
		if ((i = index_after(why, "buttons[")) >= 0)
			return elem_or(config_setting_get_member(answer, "buttons"), i, answer);
		if (strstr(why, "buttons") != NULL && config_setting_get_member(answer, "buttons"))
			return config_setting_get_member(answer, "buttons");
		if (strncmp(why, "text", 4) == 0 || strstr(why, "payload.text") != NULL)
			return config_setting_get_member(answer, "text");
		break;
	case MSG_IMAGE:
		return config_setting_get_member(answer, "image");
	case MSG_CARDS:
		card = elem_or(config_setting_get_member(answer, "cards"),
		    index_after(why, "elements["), NULL);
		if (card == NULL)
			break;
		if ((i = index_after(why, ".buttons[")) >= 0)
			return elem_or(config_setting_get_member(card, "buttons"), i, card);
		return card;
	}
	return answer;
}

/* What a built message is, for locate. */
static enum msg_kind
kind_of(const json_t *m)
{
	const json_t *att = json_object_get(m, "attachment");
	const char *type = json_string_value(json_object_get(att, "type"));
	const char *tpl = json_string_value(json_object_get(json_object_get(att, "payload"),
	    "template_type"));

	if (type != NULL && strcmp(type, "image") == 0)
		return MSG_IMAGE;
	if (tpl != NULL && strcmp(tpl, "generic") == 0)
		return MSG_CARDS;
	return MSG_TEXT;
}

/* A builder of lib/message.h refused what the answer asks for. Its why names the part it
 * built ("button.title: 21 characters, at most 20"); the fault names it where it sits in the
 * message, at as msgr_message_validate would ("attachment.payload.buttons[0].title: ..."),
 * at the line of setting s. part NULL: the why names the whole message already. */
static void
refused(struct loader *ld, const config_setting_t *s, const char *story, int ai,
    const char *part, const char *at, const char *why)
{
	size_t n = part != NULL ? strlen(part) : 0;

	if (strcmp(why, "out of memory") == 0)
		ld->nomem = 1;
	else if (n > 0 && strncmp(why, part, n) == 0)
		fault(ld, s, story, "answer %d: %s%s", ai, at, why + n);
	else
		fault(ld, s, story, "answer %d: %s", ai, why);
}

/* The builders checked each message as it is; it must also read well for a user whose name
 * is unknown (placeholders empty). */
static void
check_unnamed(struct loader *ld, const json_t *message, const config_setting_t *answer,
    const char *story, int ai)
{
	char why[MSGR_MESSAGE_WHY_MAX];
	json_t *anon;

	if ((anon = personalised(message, "", "")) == NULL) {
		ld->nomem = 1;
		return;
	}
	if (msgr_message_validate(anon, why, sizeof(why)) != MSGR_OK)
		fault(ld, locate(answer, kind_of(message), why), story, "answer %d: when the name "
		    "is unknown (placeholders empty): %s", ai, why);
	json_decref(anon);
}

/* json_array_append_new that remembers a failure, so the load fails instead of losing a
 * part. */
static void
append_new(struct loader *ld, json_t *a, json_t *v)
{
	if (v == NULL || json_array_append_new(a, v) != 0)
		ld->nomem = 1;
}

/* One button of an answer or a card: {title; payload} postback, {title; url} web_url,
 * {title; phone} phone_number, built by lib/message.h; at is where it sits in the message.
 * A new reference, or NULL after a fault. */
static json_t *
read_button(struct loader *ld, const config_setting_t *s, const char *story, int ai,
    const char *what, const char *at)
{
	struct field f[] = { { "title", NULL }, { "payload", NULL }, { "url", NULL },
		{ "phone", NULL } };
	const char *title, *payload, *url, *phone;
	char why[MSGR_MESSAGE_WHY_MAX];
	json_t *b;
	int kinds;

	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		fault(ld, s, story, "%s: not a group { title = ...; ... }", what);
		return NULL;
	}
	read_fields(ld, s, f, 4, story, what);
	title = get_string(ld, field(f, 4, "title"), story, "button title");
	payload = get_string(ld, field(f, 4, "payload"), story, "button payload");
	url = get_url(ld, field(f, 4, "url"), story, "button url");
	phone = get_string(ld, field(f, 4, "phone"), story, "button phone");
	kinds = (field(f, 4, "payload") != NULL) + (field(f, 4, "url") != NULL) +
	    (field(f, 4, "phone") != NULL);
	if (field(f, 4, "title") == NULL)
		fault(ld, s, story, "%s: no title", what);
	if (kinds != 1)
		fault(ld, s, story, "%s: needs exactly one of payload (postback), url (web_url) "
		    "or phone (phone_number)", what);
	if (title == NULL || kinds != 1)
		return NULL;
	check_placeholders(ld, field(f, 4, "title"), story, what, title);
	if (payload != NULL)
		b = msgr_message_button_postback(title, payload, why, sizeof(why));
	else if (url != NULL)
		b = msgr_message_button_web_url(title, url, NULL, why, sizeof(why));
	else if (phone != NULL)
		b = msgr_message_button_phone(title, phone, why, sizeof(why));
	else
		return NULL;   /* the one given was faulty: already recorded */
	if (b == NULL)
		refused(ld, s, story, ai, "button", at, why);
	return b;
}

/* A list of buttons as a JSON array (new reference), or NULL after a fault. where names
 * the list's owner in faults ("answer 1", "answer 1: cards[0]"), at its place in the message
 * ("attachment.payload", "attachment.payload.elements[0]"). */
static json_t *
read_buttons(struct loader *ld, const config_setting_t *s, const char *story, int ai,
    const char *where, const char *at)
{
	json_t *arr, *b;
	char what[96], bat[96];
	size_t faults = ld->rd.n_faults;
	int i, n;

	if ((s = get_list(ld, s, story, "buttons")) == NULL)
		return NULL;
	if ((arr = json_array()) == NULL) {
		ld->nomem = 1;
		return NULL;
	}
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		snprintf(what, sizeof(what), "%s: buttons[%d]", where, i);
		snprintf(bat, sizeof(bat), "%s.buttons[%d]", at, i);
		if ((b = read_button(ld, config_setting_get_elem(s, (unsigned)i), story, ai, what,
		    bat)) != NULL)
			append_new(ld, arr, b);
	}
	/* a list short of a button it was meant to hold is not sent */
	if (ld->rd.n_faults != faults || ld->nomem) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

/* One quick reply of an answer, added to message (the answer's last) by
 * msgr_message_add_quick_reply, which checks the message with it. */
static void
add_quick_reply(struct loader *ld, json_t *message, const config_setting_t *a,
    const config_setting_t *e, const char *story, int ai, const char *what)
{
	struct field f[] = { { "title", NULL }, { "payload", NULL }, { "image_url", NULL },
		{ "content_type", NULL } };
	const char *title, *payload, *image, *ct;
	char why[MSGR_MESSAGE_WHY_MAX];

	if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
		fault(ld, e, story, "%s: not a group { title = ...; payload = ...; }", what);
		return;
	}
	read_fields(ld, e, f, 4, story, what);
	title = get_string(ld, field(f, 4, "title"), story, "quick reply title");
	payload = get_string(ld, field(f, 4, "payload"), story, "quick reply payload");
	image = get_url(ld, field(f, 4, "image_url"), story, "quick reply image_url");
	ct = get_string(ld, field(f, 4, "content_type"), story, "quick reply content_type");
	if (ct != NULL && strcmp(ct, "text") != 0) {
		/* user_email / user_phone_number: Facebook fills in the title and payload
		 * (docs/sending.md "Limits"); anything else is the builder's to refuse. */
		if (title != NULL || payload != NULL || image != NULL)
			fault(ld, e, story, "%s: content_type %s takes no title, payload or "
			    "image_url", what, ct);
		title = payload = image = NULL;
	} else {
		if (title == NULL || payload == NULL) {
			fault(ld, e, story, "%s: needs a title and a payload", what);
			return;
		}
		check_placeholders(ld, field(f, 4, "title"), story, what, title);
		ct = "text";
	}
	if (msgr_message_add_quick_reply(message, ct, title, payload, image, why,
	    sizeof(why)) != MSGR_OK)
		refused(ld, locate(a, kind_of(message), why), story, ai, NULL, NULL, why);
}

/* quick_replies of an answer, added to message (the answer's last). */
static void
add_quick_replies(struct loader *ld, json_t *message, const config_setting_t *a,
    const config_setting_t *s, const char *story, int ai)
{
	char what[64];
	int i, n;

	if ((s = get_list(ld, s, story, "quick_replies")) == NULL)
		return;
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		snprintf(what, sizeof(what), "answer %d: quick_replies[%d]", ai, i);
		add_quick_reply(ld, message, a, config_setting_get_elem(s, (unsigned)i), story, ai,
		    what);
	}
}

/* One card of an answer, built by msgr_message_card; NULL after a fault. */
static json_t *
read_card(struct loader *ld, const config_setting_t *e, const char *story, int ai, int i)
{
	struct field f[] = { { "title", NULL }, { "subtitle", NULL }, { "image", NULL },
		{ "url", NULL }, { "buttons", NULL } };
	const char *title, *subtitle, *image, *url;
	char what[64], at[64], why[MSGR_MESSAGE_WHY_MAX];
	json_t *buttons = NULL, *card;

	snprintf(what, sizeof(what), "answer %d: cards[%d]", ai, i);
	snprintf(at, sizeof(at), "attachment.payload.elements[%d]", i);
	if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
		fault(ld, e, story, "%s: not a group { title = ...; ... }", what);
		return NULL;
	}
	read_fields(ld, e, f, 5, story, what);
	title = get_string(ld, field(f, 5, "title"), story, "card title");
	subtitle = get_string(ld, field(f, 5, "subtitle"), story, "card subtitle");
	image = get_url(ld, field(f, 5, "image"), story, "card image");
	url = get_url(ld, field(f, 5, "url"), story, "card url");
	if (title == NULL) {
		if (field(f, 5, "title") == NULL)
			fault(ld, e, story, "%s: no title", what);
		return NULL;
	}
	check_placeholders(ld, field(f, 5, "title"), story, what, title);
	check_placeholders(ld, field(f, 5, "subtitle"), story, what, subtitle);
	if (field(f, 5, "buttons") != NULL &&
	    (buttons = read_buttons(ld, field(f, 5, "buttons"), story, ai, what, at)) == NULL)
		return NULL;
	/* the card's url is its default_action: tapping the card opens it */
	card = msgr_message_card(title, subtitle, image, url, NULL, buttons, why, sizeof(why));
	json_decref(buttons);
	if (card == NULL)
		refused(ld, e, story, ai, "card", at, why);
	return card;
}

/* The generic template of an answer's cards, or NULL after a fault. */
static json_t *
read_cards(struct loader *ld, const config_setting_t *a, const config_setting_t *s,
    const char *story, int ai)
{
	char why[MSGR_MESSAGE_WHY_MAX];
	json_t *elements, *card, *tpl;
	size_t faults = ld->rd.n_faults;
	int i, n;

	if ((s = get_list(ld, s, story, "cards")) == NULL)
		return NULL;
	if ((elements = json_array()) == NULL) {
		ld->nomem = 1;
		return NULL;
	}
	n = config_setting_length(s);
	for (i = 0; i < n; i++)
		if ((card = read_card(ld, config_setting_get_elem(s, (unsigned)i), story, ai,
		    i)) != NULL)
			append_new(ld, elements, card);
	tpl = NULL;
	if (ld->rd.n_faults == faults && !ld->nomem &&
	    (tpl = msgr_message_generic_template(elements, NULL, why, sizeof(why))) == NULL)
		refused(ld, locate(a, MSG_CARDS, why), story, ai, NULL, NULL, why);
	json_decref(elements);
	return tpl;
}

/* A text answer as messages: one when it fits; over MSGR_TEXT_MAX_CHARS, split at word
 * boundaries into several (docs/stories.md "An answer"), as a Bot API text is. */
static int
add_text(struct loader *ld, const config_setting_t *a, const char *story, int ai,
    const char *text, json_t *msgs)
{
	char why[MSGR_MESSAGE_WHY_MAX], **parts = NULL;
	size_t n = 0, i, chars;
	json_t *m;
	int ok = 1;

	/* a text that fits goes as it is written, its spaces included; one that cannot be
	 * split (nothing but spaces) is refused by the builder with its length */
	if (msgr_message_utf8_chars(text, &chars) == MSGR_OK && chars > MSGR_TEXT_MAX_CHARS &&
	    msgr_message_split_text(text, MSGR_TEXT_MAX_CHARS, &parts, &n) == MSGR_ERR_NOMEM) {
		ld->nomem = 1;
		return 0;
	}
	if (parts == NULL) {
		if ((m = msgr_message_text(text, why, sizeof(why))) == NULL) {
			refused(ld, locate(a, MSG_TEXT, why), story, ai, NULL, NULL, why);
			return 0;
		}
		append_new(ld, msgs, m);
		return 1;
	}
	for (i = 0; i < n && ok; i++) {
		if ((m = msgr_message_text(parts[i], why, sizeof(why))) == NULL) {
			refused(ld, locate(a, MSG_TEXT, why), story, ai, NULL, NULL, why);
			ok = 0;
		} else
			append_new(ld, msgs, m);
	}
	msgr_message_split_free(parts, n);
	return ok;
}

/* The messages of an answer's text: a button template when it has buttons, else the text
 * alone, split when long. 0 when one could not be built (the fault is recorded). */
static int
add_text_messages(struct loader *ld, const config_setting_t *a, const struct field *f,
    size_t nf, const char *story, int ai, const char *text, json_t *msgs)
{
	char why[MSGR_MESSAGE_WHY_MAX], what[32];
	json_t *buttons, *m;

	check_placeholders(ld, field(f, nf, "text"), story, "text", text);
	if (field(f, nf, "buttons") == NULL)
		return add_text(ld, a, story, ai, text, msgs);
	snprintf(what, sizeof(what), "answer %d", ai);
	if ((buttons = read_buttons(ld, field(f, nf, "buttons"), story, ai, what,
	    "attachment.payload")) == NULL)
		return 0;
	m = msgr_message_button_template(text, buttons, why, sizeof(why));
	json_decref(buttons);
	if (m == NULL) {
		refused(ld, locate(a, MSG_TEXT, why), story, ai, NULL, NULL, why);
		return 0;
	}
	append_new(ld, msgs, m);
	return 1;
}

/* One answer -> its messages, appended to out in order, each built by lib/message.h: the
 * text (a button template when it has buttons, several messages when long), the image, the
 * cards; quick replies on the last of them. */
static void
read_answer(struct loader *ld, const config_setting_t *a, const char *story, int ai,
    json_t *out)
{
	struct field f[] = { { "text", NULL }, { "quick_replies", NULL }, { "buttons", NULL },
		{ "image", NULL }, { "cards", NULL } };
	const size_t nf = sizeof(f) / sizeof(f[0]);
	char why[MSGR_MESSAGE_WHY_MAX], what[32];
	const char *text, *image;
	json_t *msgs, *m;
	size_t i;
	int ok = 1;

	snprintf(what, sizeof(what), "answer %d", ai);
	if (config_setting_type(a) != CONFIG_TYPE_GROUP) {
		fault(ld, a, story, "answer %d: not a group { text = ...; ... }", ai);
		return;
	}
	read_fields(ld, a, f, nf, story, what);
	text = get_string(ld, field(f, nf, "text"), story, "text");
	image = get_url(ld, field(f, nf, "image"), story, "image");
	if (field(f, nf, "text") == NULL && field(f, nf, "image") == NULL &&
	    field(f, nf, "cards") == NULL) {
		fault(ld, a, story, "answer %d: nothing to send (give text, image or cards)", ai);
		return;
	}
	if (field(f, nf, "buttons") != NULL && field(f, nf, "text") == NULL)
		fault(ld, field(f, nf, "buttons"), story, "answer %d: buttons need a text (they "
		    "are sent as a button template)", ai);
	if ((msgs = json_array()) == NULL) {
		ld->nomem = 1;
		return;
	}
	if (text != NULL)
		ok = add_text_messages(ld, a, f, nf, story, ai, text, msgs);
	if (image != NULL) {
		/* is_reusable: the worker uploads it once and sends the attachment id after
		 * (docs/sending.md) */
		if ((m = msgr_message_attachment_url("image", image, 1, why, sizeof(why))) == NULL) {
			refused(ld, locate(a, MSG_IMAGE, why), story, ai, NULL, NULL, why);
			ok = 0;
		} else
			append_new(ld, msgs, m);
	}
	if (field(f, nf, "cards") != NULL) {
		if ((m = read_cards(ld, a, field(f, nf, "cards"), story, ai)) == NULL)
			ok = 0;
		else
			append_new(ld, msgs, m);
	}
	/* a message that could not be built: its fault is said, the answer is not sent */
	if (ok && !ld->nomem && json_array_size(msgs) > 0) {
		if (field(f, nf, "quick_replies") != NULL)
			add_quick_replies(ld, json_array_get(msgs, json_array_size(msgs) - 1), a,
			    field(f, nf, "quick_replies"), story, ai);
		json_array_foreach(msgs, i, m) {
			check_unnamed(ld, m, a, story, ai);
			if (json_array_append(out, m) != 0)
				ld->nomem = 1;
		}
	}
	json_decref(msgs);
}

/* ---- stories ------------------------------------------------------------------------ */

static void
story_free(struct story *s)
{
	size_t i;

	free(s->name);
	for (i = 0; i < s->n_triggers; i++)
		free(s->triggers[i]);
	free(s->triggers);
	for (i = 0; i < s->n_payloads; i++)
		free(s->payloads[i]);
	free(s->payloads);
	json_decref(s->messages);
	free(s->handover);
}

static void
stories_free(struct stories *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->n; i++)
		story_free(&st->v[i]);
	free(st->v);
	free(st);
}

/* triggers (folded) or payloads (exact) of a story into *out / *n. */
static void
read_phrases(struct loader *ld, const config_setting_t *s, const char *story, int fold,
    char ***out, size_t *n)
{
	const char *what = fold ? "triggers" : "payloads";
	int i, len;

	if ((s = get_list(ld, s, story, what)) == NULL)
		return;
	len = config_setting_length(s);
	if (len == 0) {
		fault(ld, s, story, "%s is empty", what);
		return;
	}
	if (len > MSGR_MAX_STORY_TRIGGERS) {
		fault(ld, s, story, "%s: %d, at most %d", what, len, MSGR_MAX_STORY_TRIGGERS);
		return;
	}
	if ((*out = calloc((size_t)len, sizeof(**out))) == NULL) {
		ld->nomem = 1;
		return;
	}
	for (i = 0; i < len; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = get_string(ld, e, story, fold ? "trigger" : "payload");
		char shownbuf[NAME_SHOWN_MAX + 4], *folded = NULL;
		size_t chars = 0;
		msgr_result rc;

		if (v == NULL)
			continue;
		if (!fold) {
			(void)msgr_message_utf8_chars(v, &chars);
			if (chars == 0)
				fault(ld, e, story, "payload \"\" is empty");
			else if (chars > MSGR_PAYLOAD_MAX_CHARS)
				fault(ld, e, story, "payload: %zu characters, at most %d (no button or "
				    "quick reply could carry it)", chars, MSGR_PAYLOAD_MAX_CHARS);
			else if (((*out)[*n] = strdup(v)) == NULL)
				ld->nomem = 1;
			else
				(*n)++;
			continue;
		}
		rc = msgr_fold_text(v, strlen(v), &folded, NULL);
		if (rc == MSGR_ERR_NOMEM) {
			ld->nomem = 1;
		} else if (rc != MSGR_OK) {
			fault(ld, e, story, "trigger \"%s\": cannot be folded (%s)",
			    shown(shownbuf, sizeof(shownbuf), v), msgr_strerror(rc));
		} else if (folded[0] == '\0') {
			fault(ld, e, story, "trigger \"%s\" is empty (no letter, digit or symbol "
			    "to match)", shown(shownbuf, sizeof(shownbuf), v));
			free(folded);
		} else {
			(*out)[(*n)++] = folded;
		}
	}
}

/* handover = "inbox" | "<app id>" */
static char *
read_handover(struct loader *ld, const config_setting_t *s, const char *story)
{
	const char *v = get_string(ld, s, story, "handover");
	char *r;

	if (v == NULL)
		return NULL;
	if (!msgr_id_target(v)) {
		fault(ld, s, story, "handover: \"inbox\" (the Page Inbox) or an app id (digits)");
		return NULL;
	}
	if ((r = strdup(v)) == NULL)
		ld->nomem = 1;
	return r;
}

/* Reads story `index` of the file into ld->st->v[ld->st->n] (zeroed); the caller counts it
 * in whatever happens, so story i of the file stays v[i]. */
static void
read_story(struct loader *ld, const config_setting_t *g, size_t index)
{
	struct field f[] = { { "name", NULL }, { "triggers", NULL }, { "payloads", NULL },
		{ "answers", NULL }, { "fallback", NULL }, { "handover", NULL },
		{ "take_control", NULL } };
	const size_t nf = sizeof(f) / sizeof(f[0]);
	struct story *s = &ld->st->v[ld->st->n];
	const config_setting_t *answers;
	char label[32];
	const char *name, *story;
	size_t i;
	int ai, n;

	memset(s, 0, sizeof(*s));
	s->line = (int)config_setting_source_line(g);
	snprintf(label, sizeof(label), "#%zu", index + 1);
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		fault(ld, g, label, "not a group { name = ...; ... }");
		return;
	}
	/* The name first, so every other fault can say which story it is about. */
	f[0].s = config_setting_get_member(g, "name");
	name = get_string(ld, f[0].s, label, "name");
	if (f[0].s == NULL || (name != NULL && name[0] == '\0')) {
		fault(ld, g, label, "no name (give each story a name = \"...\")");
		name = NULL;
	}
	story = name != NULL ? name : label;
	read_fields(ld, g, f, nf, story, "");
	for (i = 0; name != NULL && i < ld->st->n; i++)
		if (ld->st->v[i].name != NULL && strcmp(ld->st->v[i].name, name) == 0)
			fault(ld, f[0].s, story, "name already used by the story at line %d",
			    ld->st->v[i].line);
	if (name != NULL && (s->name = strdup(name)) == NULL)
		ld->nomem = 1;

	read_phrases(ld, field(f, nf, "triggers"), story, 1, &s->triggers, &s->n_triggers);
	read_phrases(ld, field(f, nf, "payloads"), story, 0, &s->payloads, &s->n_payloads);
	s->fallback = get_bool(ld, field(f, nf, "fallback"), story, "fallback");
	s->take_control = get_bool(ld, field(f, nf, "take_control"), story, "take_control");
	s->handover = read_handover(ld, field(f, nf, "handover"), story);

	if ((s->messages = json_array()) == NULL) {
		ld->nomem = 1;
		return;
	}
	answers = get_list(ld, field(f, nf, "answers"), story, "answers");
	n = answers != NULL ? config_setting_length(answers) : 0;
	if (n > MSGR_MAX_STORY_ANSWERS)
		fault(ld, answers, story, "answers: %d, at most %d", n, MSGR_MAX_STORY_ANSWERS);
	else
		for (ai = 0; ai < n; ai++)
			read_answer(ld, config_setting_get_elem(answers, (unsigned)ai), story, ai + 1,
			    s->messages);
	/* with mark_seen, typing_on, take_thread_control and a handover, every message of a
	 * story must fit in one answer's actions (lib/bot.h), long texts counted by part */
	if (json_array_size(s->messages) > MSGR_MAX_BOT_ACTIONS - 4)
		fault(ld, answers, story, "answers: %zu messages in all (a long text is sent as "
		    "several), at most %d", json_array_size(s->messages), MSGR_MAX_BOT_ACTIONS - 4);
	if (n == 0 && field(f, nf, "handover") == NULL)
		fault(ld, field(f, nf, "answers") ? field(f, nf, "answers") : g, story,
		    "no answers (a story answers, hands over, or both)");
	if (field(f, nf, "triggers") == NULL && field(f, nf, "payloads") == NULL && !s->fallback)
		fault(ld, g, story, "can never be chosen: no triggers, payloads or fallback = true");
	if (s->fallback) {
		if (ld->st->fallback != NULL)
			fault(ld, field(f, nf, "fallback"), story, "a second fallback story (the "
			    "first is at line %d): at most one", ld->st->fallback->line);
		else
			ld->st->fallback = s;
	}
}

/* One trigger or payload and where it is, to find the same one twice. */
struct phrase {
	const char *text;
	size_t story;
	int payload;
};

static int
phrase_cmp(const void *a, const void *b)
{
	const struct phrase *x = a, *y = b;
	int c = x->payload - y->payload;

	if (c == 0)
		c = strcmp(x->text, y->text);
	if (c == 0)
		c = (x->story > y->story) - (x->story < y->story);
	return c;
}

/* A trigger or payload that an earlier story already has can never choose this one: first
 * match in file order wins. Sorted, so a big file stays O(n log n). */
static void
check_duplicates(struct loader *ld, const config_setting_t *list)
{
	struct phrase *p;
	size_t total = 0, i, j, k = 0;
	char buf[NAME_SHOWN_MAX + 4];

	for (i = 0; i < ld->st->n; i++)
		total += ld->st->v[i].n_triggers + ld->st->v[i].n_payloads;
	if (total < 2)
		return;
	if ((p = calloc(total, sizeof(*p))) == NULL) {
		ld->nomem = 1;
		return;
	}
	for (i = 0; i < ld->st->n; i++) {
		for (j = 0; j < ld->st->v[i].n_triggers; j++)
			p[k++] = (struct phrase){ ld->st->v[i].triggers[j], i, 0 };
		for (j = 0; j < ld->st->v[i].n_payloads; j++)
			p[k++] = (struct phrase){ ld->st->v[i].payloads[j], i, 1 };
	}
	qsort(p, total, sizeof(*p), phrase_cmp);
	for (i = 1; i < total; i++) {
		const struct story *first = &ld->st->v[p[i - 1].story], *s = &ld->st->v[p[i].story];

		if (p[i].payload != p[i - 1].payload || strcmp(p[i].text, p[i - 1].text) != 0)
			continue;
		if (first == s)
			fault(ld, config_setting_get_elem(list, (unsigned)p[i].story),
			    s->name ? s->name : "?", "%s \"%s\" listed twice",
			    p[i].payload ? "payload" : "trigger", shown(buf, sizeof(buf), p[i].text));
		else
			fault(ld, config_setting_get_elem(list, (unsigned)p[i].story),
			    s->name ? s->name : "?", "%s \"%s\" is already story \"%s\"'s (line %d), "
			    "which comes first: it would never choose this one",
			    p[i].payload ? "payload" : "trigger", shown(buf, sizeof(buf), p[i].text),
			    first->name ? first->name : "?", first->line);
	}
	free(p);
}

/* The stories of a parsed file into ld->st; faults into ld. */
static void
read_stories(struct loader *ld, config_t *cfg)
{
	const config_setting_t *root = config_root_setting(cfg), *list;
	int i, n;

	for (i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *m = config_setting_get_elem(root, (unsigned)i);

		if (strcmp(config_setting_name(m), "stories") != 0)
			fault(ld, m, NULL, "unknown key \"%s\" (a stories file holds stories = "
			    "( ... ))", config_setting_name(m));
	}
	list = config_setting_get_member(root, "stories");
	if (list == NULL || config_setting_type(list) != CONFIG_TYPE_LIST) {
		fault(ld, list, NULL, "no stories = ( { name = ...; ... }, ... ) list");
		return;
	}
	n = config_setting_length(list);
	if (n == 0)
		fault(ld, list, NULL, "stories is empty");
	if (n > MSGR_MAX_STORIES) {
		fault(ld, list, NULL, "%d stories, at most %d", n, MSGR_MAX_STORIES);
		return;
	}
	if (n > 0 && (ld->st->v = calloc((size_t)n, sizeof(*ld->st->v))) == NULL) {
		ld->nomem = 1;
		return;
	}
	for (i = 0; i < n && !ld->nomem; i++) {
		read_story(ld, config_setting_get_elem(list, (unsigned)i), (size_t)i);
		ld->st->n++;
	}
	check_duplicates(ld, list);
}

/* Reads and checks the file into ld->st; faults into ld. */
static msgr_result
read_file(struct loader *ld, const char *file)
{
	struct stat sb;
	msgr_result rc;

	if (file == NULL || stat(file, &sb) != 0) {
		fault(ld, NULL, NULL, "cannot read the stories file: %s",
		    file == NULL ? "no file given (bot.file)" : strerror(errno));
		return MSGR_ERR_IO;
	}
	/* the size before reading: a stories file is never a FIFO or a device to wait on */
	if (!S_ISREG(sb.st_mode) || sb.st_size > MSGR_MAX_STORIES_FILE) {
		fault(ld, NULL, NULL, "not a regular file of at most %d bytes",
		    MSGR_MAX_STORIES_FILE);
		return MSGR_ERR_CONFIG;
	}
	rc = msgr_cfgread_load(&ld->rd, file, MSGR_MAX_STORIES_FILE);
	if (rc == MSGR_ERR_IO)
		fault(ld, NULL, NULL, "cannot read the stories file: %s", strerror(errno));
	else if (rc == MSGR_ERR_TOOBIG)
		fault(ld, NULL, NULL, "not a regular file of at most %d bytes",
		    MSGR_MAX_STORIES_FILE);
	if (rc != MSGR_OK)
		return rc == MSGR_ERR_TOOBIG ? MSGR_ERR_CONFIG : rc;
	read_stories(ld, &ld->rd.lc);
	if (ld->nomem || ld->rd.nomem)
		return MSGR_ERR_NOMEM;
	return ld->rd.n_faults > 0 ? MSGR_ERR_CONFIG : MSGR_OK;
}

/* Loads file into *out; or *errors says why not (every fault, one per line). */
static msgr_result
load(const char *file, struct stories **out, char **errors)
{
	struct loader ld;
	char *dir = NULL, *slash = NULL;
	msgr_result rc;

	memset(&ld, 0, sizeof(ld));
	ld.file = file != NULL ? file : "(no file)";
	*out = NULL;
	if (errors != NULL)
		*errors = NULL;
	/* @include "x.conf" inside a stories file is relative to the file, not to the cwd */
	if (file != NULL && (dir = strdup(file)) == NULL)
		return MSGR_ERR_NOMEM;
	if (dir != NULL && (slash = strrchr(dir, '/')) != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	msgr_cfgread_init(&ld.rd, MSGR_CFGREAD_STORIES, ld.file, slash != NULL ? dir : NULL,
	    (size_t)-1, MSGR_MAX_BOT_ERRORS);
	if ((ld.st = calloc(1, sizeof(*ld.st))) == NULL)
		rc = MSGR_ERR_NOMEM;
	else if ((rc = read_file(&ld, file)) == MSGR_OK) {
		*out = ld.st;
		ld.st = NULL;
	}
	if (rc != MSGR_OK && errors != NULL)
		*errors = msgr_cfgread_errors(&ld.rd);
	msgr_cfgread_free(&ld.rd);
	stories_free(ld.st);
	free(dir);
	return rc;
}

/* ---- answering ---------------------------------------------------------------------- */

static const struct story *
by_payload(const struct stories *st, const char *payload)
{
	size_t i, j;

	for (i = 0; payload != NULL && i < st->n; i++)
		for (j = 0; j < st->v[i].n_payloads; j++)
			if (strcmp(st->v[i].payloads[j], payload) == 0)
				return &st->v[i];
	return NULL;
}

static const struct story *
by_text(const struct stories *st, const char *text)
{
	const struct story *found = NULL;
	char *folded = NULL;
	size_t i, j;
	msgr_result rc;

	if (text == NULL)
		return NULL;
	if ((rc = msgr_fold_text(text, strlen(text), &folded, NULL)) != MSGR_OK) {
		/* Webhook text is bounded and valid UTF-8 already; anything else is simply no
		 * match, and the fallback answers. */
		msgr_log(MSGR_LOG_DEBUG, "stories: text not matched: %s", msgr_strerror(rc));
		return NULL;
	}
	for (i = 0; found == NULL && i < st->n; i++)
		for (j = 0; j < st->v[i].n_triggers; j++)
			if (msgr_fold_contains(folded, st->v[i].triggers[j])) {
				found = &st->v[i];
				break;
			}
	free(folded);
	return found;
}

/* The story that answers ev, or NULL (docs/stories.md "Matching"). */
static const struct story *
choose(const struct stories *st, const struct msgr_event *ev)
{
	const struct story *s = NULL;

	switch (ev->kind) {
	case MSGR_EVENT_MESSAGE:
		/* A quick reply's payload says exactly what was meant: it goes first. */
		if ((s = by_payload(st, ev->payload)) == NULL)
			s = by_text(st, ev->text);
		return s != NULL ? s : st->fallback;
	case MSGR_EVENT_POSTBACK:
		s = by_payload(st, ev->payload);
		return s != NULL ? s : st->fallback;
	case MSGR_EVENT_REFERRAL:
		/* an m.me link's ?ref= chooses a story like a payload; no fallback for it */
		return by_payload(st, ev->ref);
	default:
		return NULL;
	}
}

static msgr_result
push(json_t *actions, json_t *a)
{
	if (a == NULL)
		return MSGR_ERR_NOMEM;
	return json_array_append_new(actions, a) == 0 ? MSGR_OK : MSGR_ERR_NOMEM;
}

static msgr_result
stories_answer(void *state, const struct msgr_bot_input *in, json_t **actions)
{
	const struct stories *st = ((const struct loaded *)state)->st;
	const struct msgr_event *ev = in->ev;
	const struct story *s;
	json_t *list = NULL, *m;
	size_t i;
	msgr_result rc = MSGR_OK;

	*actions = NULL;
	if ((list = json_array()) == NULL)
		return MSGR_ERR_NOMEM;
	/* Echoes and standby events are never answered (docs/worker.md). */
	if (ev->kind == MSGR_EVENT_ECHO || ev->standby || (s = choose(st, ev)) == NULL) {
		*actions = list;
		return MSGR_OK;
	}
	if (s->take_control &&
	    (rc = push(list, json_pack("{s:s}", "action", "take_thread_control"))) != MSGR_OK)
		goto out;
	if ((rc = push(list, json_pack("{s:s,s:s}", "action", "sender_action", "sender_action",
	    "mark_seen"))) != MSGR_OK)
		goto out;
	if (json_array_size(s->messages) > 0 && (rc = push(list, json_pack("{s:s,s:s}",
	    "action", "sender_action", "sender_action", "typing_on"))) != MSGR_OK)
		goto out;
	json_array_foreach(s->messages, i, m) {
		char why[MSGR_MESSAGE_WHY_MAX];
		json_t *p = personalised(m, in->first_name, in->last_name);

		/* A long name can push a text or title over its limit: say it without the names
		 * rather than not at all (that form was checked at load). */
		if (p == NULL || msgr_message_validate(p, why, sizeof(why)) != MSGR_OK) {
			json_decref(p);
			if ((p = personalised(m, "", "")) == NULL) {
				rc = MSGR_ERR_NOMEM;
				goto out;
			}
		}
		if ((rc = push(list, json_pack("{s:s,s:o,s:s}", "action", "message", "message", p,
		    "messaging_type", "RESPONSE"))) != MSGR_OK)
			goto out;
	}
	if (s->handover != NULL && (rc = push(list, json_pack("{s:s,s:s}", "action",
	    "pass_thread_control", "target", s->handover))) != MSGR_OK)
		goto out;
	*actions = list;
	list = NULL;
out:
	json_decref(list);
	return rc;
}

/* ---- the bot type ------------------------------------------------------------------- */

static pthread_mutex_t loaded_mu = PTHREAD_MUTEX_INITIALIZER;
static struct loaded *loaded_list;

static int
same_file(const struct loaded *l, const char *file, const struct stat *sb)
{
	return strcmp(l->file, file) == 0 && l->dev == sb->st_dev && l->ino == sb->st_ino &&
	    l->size == sb->st_size && l->mtime.tv_sec == sb->st_mtim.tv_sec &&
	    l->mtime.tv_nsec == sb->st_mtim.tv_nsec;
}

static msgr_result
stories_open(const struct msgr_connector *conn, void **state, char **errors)
{
	const char *file = conn->bot.file;
	struct stories *st = NULL;
	struct loaded *l;
	struct stat sb;
	msgr_result rc;
	int known = file != NULL && stat(file, &sb) == 0;

	*state = NULL;
	pthread_mutex_lock(&loaded_mu);
	for (l = loaded_list; known && l != NULL; l = l->next)
		if (same_file(l, file, &sb)) {
			l->refs++;
			*state = l;
			pthread_mutex_unlock(&loaded_mu);
			return MSGR_OK;
		}
	/* Read under the lock: threads opening the same file at once read it once. */
	if ((rc = load(file, &st, errors)) != MSGR_OK)
		goto out;
	msgr_log(MSGR_LOG_INFO, "connector=%s stories: %zu loaded%s", conn->id ? conn->id : "",
	    st->n, st->fallback ? ", with a fallback" : "");
	rc = MSGR_ERR_NOMEM;
	if ((l = calloc(1, sizeof(*l))) == NULL || (l->file = strdup(file)) == NULL) {
		free(l);
		stories_free(st);
		goto out;
	}
	if (known) {
		l->dev = sb.st_dev;
		l->ino = sb.st_ino;
		l->size = sb.st_size;
		l->mtime = sb.st_mtim;
		l->next = loaded_list;
		loaded_list = l;
	}
	/* else not shared: no stat to tell a later change by (stat failed, the read did not) */
	l->st = st;
	l->refs = 1;
	*state = l;
	rc = MSGR_OK;
out:
	pthread_mutex_unlock(&loaded_mu);
	return rc;
}

static void
stories_close(void *state)
{
	struct loaded *l = state, **pp;

	if (l == NULL)
		return;
	pthread_mutex_lock(&loaded_mu);
	if (--l->refs > 0) {
		pthread_mutex_unlock(&loaded_mu);
		return;
	}
	for (pp = &loaded_list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	pthread_mutex_unlock(&loaded_mu);
	stories_free(l->st);
	free(l->file);
	free(l);
}

static msgr_result
stories_check_conn(const struct msgr_connector *conn, char **errors)
{
	return msgr_bot_stories_check(conn->bot.file, errors);
}

msgr_result
msgr_bot_stories_check(const char *file, char **errors)
{
	struct stories *st = NULL;
	msgr_result rc;

	rc = load(file, &st, errors);
	stories_free(st);
	return rc;
}

const struct msgr_bot_ops msgr_bot_stories_ops = {
	.name = "stories",
	.open = stories_open,
	.answer = stories_answer,
	.close = stories_close,
	.check = stories_check_conn,
};
