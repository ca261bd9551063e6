/* message.c — Send API message builders and platform-limit checks, and the Messenger profile
 * body (lib/message.h).
 *
 * One checker (msgr_message_validate) knows every limit; the builders assemble JSON and then
 * run the same checker over what they built, so a builder can never emit something the
 * checker (and so Facebook) would refuse. Limits: docs/facebook.md "Calls" and Meta's Send API
 * reference (developers.facebook.com/docs/messenger-platform/reference/send-api/,
 * .../send-messages/template/{button,generic,media}, .../send-messages/quick-replies,
 * .../send-messages/buttons), numbers named in lib/limits.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistr.h>

#include "config.h"
#include "id.h"
#include "message.h"
#include "url.h"

/* Deep enough for "attachment.payload.elements[9].buttons[2].webview_height_ratio". */
#define PATH_MAX_LEN 128

/* ---- small helpers ----------------------------------------------------------------- */


/* A path too long for its buffer ends in "..." rather than silently cut. */
static void
mark_cut(char *out, int r)
{
	if (r < 0 || r >= PATH_MAX_LEN)
		memcpy(out + PATH_MAX_LEN - 4, "...", 4);
}

/* path + "." + key, or key alone at the top. */
static void
subpath(char *out, const char *path, const char *key)
{
	int r;

	if (path[0] == '\0')
		r = snprintf(out, PATH_MAX_LEN, "%s", key);
	else
		r = snprintf(out, PATH_MAX_LEN, "%s.%s", path, key);
	mark_cut(out, r);
}

static void
subindex(char *out, const char *path, size_t i)
{
	mark_cut(out, snprintf(out, PATH_MAX_LEN, "%s[%zu]", path, i));
}

/* Code points of s[0..len); MSGR_ERR_INVALID when not valid UTF-8 or holding a NUL.
 * libunistring's u8_check is RFC 3629's UTF-8: no overlong forms, no surrogates, nothing
 * above U+10FFFF, no cut sequence. */
static msgr_result
utf8_count(const char *s, size_t len, size_t *chars)
{
	const uint8_t *p = (const uint8_t *)s;

	if (memchr(s, '\0', len) != NULL || u8_check(p, len) != NULL)
		return MSGR_ERR_INVALID;
	if (chars != NULL)
		*chars = u8_mbsnlen(p, len);
	return MSGR_OK;
}

msgr_result
msgr_message_utf8_chars(const char *s, size_t *chars)
{
	if (s == NULL)
		return MSGR_ERR_INVALID;
	return utf8_count(s, strlen(s), chars);
}

const char *const msgr_message_types[] = { "RESPONSE", "UPDATE", "MESSAGE_TAG", NULL };
const char *const msgr_message_notification_types[] = { "REGULAR", "SILENT_PUSH", "NO_PUSH",
	NULL };
const char *const msgr_message_sender_actions[] = { "typing_on", "typing_off", "mark_seen",
	NULL };

int
msgr_message_one_of(const char *s, const char *const *list)
{
	size_t i;

	for (i = 0; s != NULL && list[i] != NULL; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

const char *
msgr_message_unknown_key(const json_t *o, const char *const *keys)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return NULL;
	json_object_foreach((json_t *)o, k, v)
		if (!msgr_message_one_of(k, keys))
			return k;
	return NULL;
}

/* ---- the checker ------------------------------------------------------------------- */

/* Every unknown key is refused: Facebook answers an unknown parameter with (#100). */
static msgr_result
check_keys(const json_t *obj, const char *path, const char *const *allowed, char *why,
    size_t whysz)
{
	const char *key = msgr_message_unknown_key(obj, allowed);
	char p[PATH_MAX_LEN], esc[48];
	size_t i, j = 0;

	if (key == NULL)
		return MSGR_OK;
	/* the key is untrusted: keep it printable and short */
	for (i = 0; key[i] != '\0' && j + 4 < sizeof(esc); i++)
		esc[j++] = (key[i] >= 0x20 && key[i] < 0x7f) ? key[i] : '?';
	esc[j] = '\0';
	subpath(p, path, esc);
	msgr_why(why, whysz, "%s: unknown field", p);
	return MSGR_ERR_LIMIT;
}

static msgr_result
need_object(const json_t *v, const char *path, char *why, size_t whysz)
{
	if (!json_is_object(v)) {
		msgr_why(why, whysz, "%s: must be an object", path);
		return MSGR_ERR_LIMIT;
	}
	return MSGR_OK;
}

/* obj[key] as text: absent -> *out NULL (an error when required); else a string of valid
 * UTF-8 without NUL, non-empty, at most max_chars code points (0: no character limit, but
 * max_bytes always). */
static msgr_result
check_str(const json_t *obj, const char *key, const char *path, int required,
    size_t max_chars, size_t max_bytes, const char **out, char *why, size_t whysz)
{
	json_t *v = json_object_get(obj, key);
	char p[PATH_MAX_LEN];
	const char *s;
	size_t len, chars;

	*out = NULL;
	subpath(p, path, key);
	if (v == NULL) {
		if (required) {
			msgr_why(why, whysz, "%s: required", p);
			return MSGR_ERR_LIMIT;
		}
		return MSGR_OK;
	}
	if (!json_is_string(v)) {
		msgr_why(why, whysz, "%s: must be a string", p);
		return MSGR_ERR_LIMIT;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	if (len == 0) {
		msgr_why(why, whysz, "%s: empty", p);
		return MSGR_ERR_LIMIT;
	}
	if (max_bytes != 0 && len > max_bytes) {
		msgr_why(why, whysz, "%s: %zu bytes, at most %zu", p, len, max_bytes);
		return MSGR_ERR_LIMIT;
	}
	if (utf8_count(s, len, &chars) != MSGR_OK) {
		msgr_why(why, whysz, "%s: not valid UTF-8 text", p);
		return MSGR_ERR_LIMIT;
	}
	if (max_chars != 0 && chars > max_chars) {
		msgr_why(why, whysz, "%s: %zu characters, at most %zu", p, chars, max_chars);
		return MSGR_ERR_LIMIT;
	}
	*out = s;
	return MSGR_OK;
}

static msgr_result
check_url(const json_t *obj, const char *key, const char *path, int required, int https_only,
    const char **out, char *why, size_t whysz)
{
	char p[PATH_MAX_LEN];
	enum msgr_url_fault f;
	msgr_result rc;

	rc = check_str(obj, key, path, required, 0, MSGR_MAX_URL_BYTES, out, why, whysz);
	if (rc != MSGR_OK || *out == NULL)
		return rc;
	/* the scheme in any case: the rule is where the URL goes, not how it is spelled
	 * (docs/sending.md "Limits") */
	f = msgr_url_check(*out, MSGR_URL_ANY_CASE | MSGR_URL_HTTPS |
	    (https_only ? 0 : MSGR_URL_HTTP));
	if (f == MSGR_URL_ERR_NOMEM) {
		msgr_why(why, whysz, "out of memory");
		return MSGR_ERR_NOMEM;
	}
	if (f != MSGR_URL_OK) {
		subpath(p, path, key);
		msgr_why(why, whysz, "%s: must be an absolute %s URL", p,
		    https_only ? "https" : "http(s)");
		return MSGR_ERR_LIMIT;
	}
	return MSGR_OK;
}

static msgr_result
check_bool(const json_t *obj, const char *key, const char *path, char *why, size_t whysz)
{
	json_t *v = json_object_get(obj, key);
	char p[PATH_MAX_LEN];

	if (v != NULL && !json_is_boolean(v)) {
		subpath(p, path, key);
		msgr_why(why, whysz, "%s: must be true or false", p);
		return MSGR_ERR_LIMIT;
	}
	return MSGR_OK;
}

static msgr_result
check_enum(const json_t *obj, const char *key, const char *path, int required,
    const char *const *allowed, const char *allowed_text, const char **out, char *why,
    size_t whysz)
{
	char p[PATH_MAX_LEN];
	msgr_result rc;

	rc = check_str(obj, key, path, required, 0, 64, out, why, whysz);
	if (rc != MSGR_OK || *out == NULL)
		return rc;
	if (!msgr_message_one_of(*out, allowed)) {
		subpath(p, path, key);
		msgr_why(why, whysz, "%s: must be %s", p, allowed_text);
		return MSGR_ERR_LIMIT;
	}
	return MSGR_OK;
}

/* An array of min..max items; *out NULL when absent and not required. */
static msgr_result
check_array(const json_t *obj, const char *key, const char *path, int required, size_t min,
    size_t max, const json_t **out, char *why, size_t whysz)
{
	json_t *v = json_object_get(obj, key);
	char p[PATH_MAX_LEN];
	size_t n;

	*out = NULL;
	subpath(p, path, key);
	if (v == NULL) {
		if (required) {
			msgr_why(why, whysz, "%s: required", p);
			return MSGR_ERR_LIMIT;
		}
		return MSGR_OK;
	}
	if (!json_is_array(v)) {
		msgr_why(why, whysz, "%s: must be an array", p);
		return MSGR_ERR_LIMIT;
	}
	n = json_array_size(v);
	if (n < min) {
		msgr_why(why, whysz, "%s: %zu items, at least %zu", p, n, min);
		return MSGR_ERR_LIMIT;
	}
	if (n > max) {
		msgr_why(why, whysz, "%s: %zu items, at most %zu", p, n, max);
		return MSGR_ERR_LIMIT;
	}
	*out = v;
	return MSGR_OK;
}

/* An id Facebook gave us (attachment ids, mids are not digits only): bounded, no blanks. */
static msgr_result
check_id(const json_t *obj, const char *key, const char *path, int required, size_t max_bytes,
    int digits, const char **out, char *why, size_t whysz)
{
	char p[PATH_MAX_LEN];
	msgr_result rc;
	size_t i;

	rc = check_str(obj, key, path, required, 0, max_bytes, out, why, whysz);
	if (rc != MSGR_OK || *out == NULL)
		return rc;
	for (i = 0; (*out)[i] != '\0'; i++) {
		unsigned char c = (unsigned char)(*out)[i];

		if (digits ? (c < '0' || c > '9') : (c <= 0x20 || c >= 0x7f)) {
			subpath(p, path, key);
			msgr_why(why, whysz, "%s: must be %s", p,
			    digits ? "decimal digits" : "printable ASCII without spaces");
			return MSGR_ERR_LIMIT;
		}
	}
	return MSGR_OK;
}

static const char *const webview_ratios[] = { "compact", "tall", "full", NULL };

/* The webview options shared by web_url buttons and default_action (Meta, "Buttons: URL
 * button"). */
static msgr_result
check_webview(const json_t *b, const char *path, char *why, size_t whysz)
{
	static const char *const share[] = { "hide", "show", NULL };
	const char *s;
	msgr_result rc;

	if ((rc = check_enum(b, "webview_height_ratio", path, 0, webview_ratios,
	    "compact, tall or full", &s, why, whysz)) != MSGR_OK)
		return rc;
	if ((rc = check_bool(b, "messenger_extensions", path, why, whysz)) != MSGR_OK)
		return rc;
	if ((rc = check_url(b, "fallback_url", path, 0, 0, &s, why, whysz)) != MSGR_OK)
		return rc;
	return check_enum(b, "webview_share_button", path, 0, share, "hide or show", &s, why,
	    whysz);
}

static int
phone_ok(const char *s)
{
	size_t i;

	if (s[0] != '+')
		return 0;
	for (i = 1; s[i] != '\0'; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return i - 1 >= 4 && i - 1 <= 15;
}

static msgr_result
check_button(const json_t *b, const char *path, char *why, size_t whysz)
{
	static const char *const types[] = { "web_url", "postback", "phone_number",
		"account_link", "account_unlink", NULL };
	static const char *const k_web[] = { "type", "title", "url", "webview_height_ratio",
		"messenger_extensions", "fallback_url", "webview_share_button", NULL };
	static const char *const k_postback[] = { "type", "title", "payload", NULL };
	static const char *const k_link[] = { "type", "url", NULL };
	static const char *const k_unlink[] = { "type", NULL };
	const char *type, *s;
	char p[PATH_MAX_LEN];
	msgr_result rc;

	if ((rc = need_object(b, path, why, whysz)) != MSGR_OK)
		return rc;
	if ((rc = check_enum(b, "type", path, 1, types,
	    "web_url, postback, phone_number, account_link or account_unlink", &type, why,
	    whysz)) != MSGR_OK)
		return rc;
	if (strcmp(type, "web_url") == 0) {
		if ((rc = check_keys(b, path, k_web, why, whysz)) != MSGR_OK ||
		    (rc = check_str(b, "title", path, 1, MSGR_BUTTON_TITLE_MAX_CHARS, 0, &s,
		    why, whysz)) != MSGR_OK ||
		    (rc = check_url(b, "url", path, 1, 0, &s, why, whysz)) != MSGR_OK)
			return rc;
		return check_webview(b, path, why, whysz);
	}
	if (strcmp(type, "postback") == 0 || strcmp(type, "phone_number") == 0) {
		if ((rc = check_keys(b, path, k_postback, why, whysz)) != MSGR_OK ||
		    (rc = check_str(b, "title", path, 1, MSGR_BUTTON_TITLE_MAX_CHARS, 0, &s,
		    why, whysz)) != MSGR_OK ||
		    (rc = check_str(b, "payload", path, 1, MSGR_PAYLOAD_MAX_CHARS, 0, &s, why,
		    whysz)) != MSGR_OK)
			return rc;
		/* docs/facebook.md "Calls": a call button's payload is the number, starting with '+';
		 * Meta's "Call button": '+', country code, area code, number. E.164 has at most
		 * 15 digits; anything else (spaces, dashes) is refused rather than guessed. */
		if (strcmp(type, "phone_number") == 0 && !phone_ok(s)) {
			subpath(p, path, "payload");
			msgr_why(why, whysz, "%s: a phone number must start with '+' followed by 4 "
			    "to 15 digits", p);
			return MSGR_ERR_LIMIT;
		}
		return MSGR_OK;
	}
	if (strcmp(type, "account_link") == 0) {
		if ((rc = check_keys(b, path, k_link, why, whysz)) != MSGR_OK)
			return rc;
		/* docs/facebook.md "Calls": the log-in button needs an https url. */
		return check_url(b, "url", path, 1, 1, &s, why, whysz);
	}
	return check_keys(b, path, k_unlink, why, whysz);
}

static msgr_result
check_buttons(const json_t *obj, const char *path, int required, size_t max, char *why,
    size_t whysz)
{
	const json_t *arr;
	char p[PATH_MAX_LEN], pi[PATH_MAX_LEN];
	msgr_result rc;
	size_t i;

	rc = check_array(obj, "buttons", path, required, 1, max, &arr, why, whysz);
	if (rc != MSGR_OK || arr == NULL)
		return rc;
	subpath(p, path, "buttons");
	for (i = 0; i < json_array_size(arr); i++) {
		subindex(pi, p, i);
		if ((rc = check_button(json_array_get(arr, i), pi, why, whysz)) != MSGR_OK)
			return rc;
	}
	return MSGR_OK;
}

static msgr_result
check_default_action(const json_t *d, const char *path, char *why, size_t whysz)
{
	static const char *const keys[] = { "type", "url", "webview_height_ratio",
		"messenger_extensions", "fallback_url", "webview_share_button", NULL };
	static const char *const types[] = { "web_url", NULL };
	const char *s;
	msgr_result rc;

	if ((rc = need_object(d, path, why, whysz)) != MSGR_OK ||
	    (rc = check_keys(d, path, keys, why, whysz)) != MSGR_OK ||
	    (rc = check_enum(d, "type", path, 1, types, "web_url", &s, why, whysz)) != MSGR_OK ||
	    (rc = check_url(d, "url", path, 1, 0, &s, why, whysz)) != MSGR_OK)
		return rc;
	return check_webview(d, path, why, whysz);
}

static msgr_result
check_generic_element(const json_t *e, const char *path, char *why, size_t whysz)
{
	static const char *const keys[] = { "title", "subtitle", "image_url", "default_action",
		"buttons", NULL };
	const char *title, *sub, *img;
	json_t *da;
	char p[PATH_MAX_LEN];
	msgr_result rc;

	if ((rc = need_object(e, path, why, whysz)) != MSGR_OK ||
	    (rc = check_keys(e, path, keys, why, whysz)) != MSGR_OK ||
	    (rc = check_str(e, "title", path, 1, MSGR_CARD_TITLE_MAX_CHARS, 0, &title, why,
	    whysz)) != MSGR_OK ||
	    (rc = check_str(e, "subtitle", path, 0, MSGR_CARD_SUBTITLE_MAX_CHARS, 0, &sub, why,
	    whysz)) != MSGR_OK ||
	    (rc = check_url(e, "image_url", path, 0, 0, &img, why, whysz)) != MSGR_OK ||
	    (rc = check_buttons(e, path, 0, MSGR_BUTTONS_MAX, why, whysz)) != MSGR_OK)
		return rc;
	da = json_object_get(e, "default_action");
	if (da != NULL) {
		subpath(p, path, "default_action");
		if ((rc = check_default_action(da, p, why, whysz)) != MSGR_OK)
			return rc;
	}
	/* docs/facebook.md "Calls": a card needs its title and at least one more field. */
	if (sub == NULL && img == NULL && da == NULL && json_object_get(e, "buttons") == NULL) {
		msgr_why(why, whysz, "%s: a card needs subtitle, image_url, default_action or "
		    "buttons besides its title", path);
		return MSGR_ERR_LIMIT;
	}
	return MSGR_OK;
}

static msgr_result
check_media_element(const json_t *e, const char *path, char *why, size_t whysz)
{
	static const char *const keys[] = { "media_type", "url", "attachment_id", "buttons",
		NULL };
	static const char *const types[] = { "image", "video", NULL };
	const char *s, *url, *id;
	char p[PATH_MAX_LEN];
	enum msgr_url_fault f;
	msgr_result rc;

	if ((rc = need_object(e, path, why, whysz)) != MSGR_OK ||
	    (rc = check_keys(e, path, keys, why, whysz)) != MSGR_OK ||
	    (rc = check_enum(e, "media_type", path, 1, types, "image or video", &s, why,
	    whysz)) != MSGR_OK ||
	    (rc = check_url(e, "url", path, 0, 1, &url, why, whysz)) != MSGR_OK ||
	    (rc = check_id(e, "attachment_id", path, 0, MSGR_MAX_ID_LEN, 1, &id, why,
	    whysz)) != MSGR_OK ||
	    (rc = check_buttons(e, path, 0, MSGR_BUTTONS_MAX, why, whysz)) != MSGR_OK)
		return rc;
	if ((url == NULL) == (id == NULL)) {
		msgr_why(why, whysz, "%s: exactly one of url or attachment_id", path);
		return MSGR_ERR_LIMIT;
	}
	/* Meta, "Media template": Facebook URLs only (docs/sending.md "Limits") */
	if (url != NULL && (f = msgr_url_check(url, MSGR_URL_ANY_CASE | MSGR_URL_HTTPS |
	    MSGR_URL_FACEBOOK)) != MSGR_URL_OK) {
		if (f == MSGR_URL_ERR_NOMEM) {
			msgr_why(why, whysz, "out of memory");
			return MSGR_ERR_NOMEM;
		}
		subpath(p, path, "url");
		msgr_why(why, whysz, "%s: the media template takes only a facebook.com URL "
		    "(upload other media and use attachment_id)", p);
		return MSGR_ERR_LIMIT;
	}
	return MSGR_OK;
}

static msgr_result
check_template(const json_t *pl, const char *path, char *why, size_t whysz)
{
	static const char *const types[] = { "button", "generic", "media", NULL };
	static const char *const k_button[] = { "template_type", "text", "buttons", "sharable",
		NULL };
	static const char *const k_generic[] = { "template_type", "elements",
		"image_aspect_ratio", "sharable", NULL };
	static const char *const k_media[] = { "template_type", "elements", "sharable", NULL };
	static const char *const ratios[] = { "horizontal", "square", NULL };
	const char *type, *s;
	const json_t *els;
	char p[PATH_MAX_LEN], pi[PATH_MAX_LEN];
	msgr_result rc;
	size_t i;

	if ((rc = check_enum(pl, "template_type", path, 1, types, "button, generic or media",
	    &type, why, whysz)) != MSGR_OK ||
	    (rc = check_bool(pl, "sharable", path, why, whysz)) != MSGR_OK)
		return rc;
	if (strcmp(type, "button") == 0) {
		if ((rc = check_keys(pl, path, k_button, why, whysz)) != MSGR_OK ||
		    (rc = check_str(pl, "text", path, 1, MSGR_BUTTON_TEXT_MAX_CHARS, 0, &s, why,
		    whysz)) != MSGR_OK)
			return rc;
		return check_buttons(pl, path, 1, MSGR_BUTTONS_MAX, why, whysz);
	}
	if (strcmp(type, "generic") == 0) {
		if ((rc = check_keys(pl, path, k_generic, why, whysz)) != MSGR_OK ||
		    (rc = check_enum(pl, "image_aspect_ratio", path, 0, ratios,
		    "horizontal or square", &s, why, whysz)) != MSGR_OK ||
		    (rc = check_array(pl, "elements", path, 1, 1, MSGR_CARDS_MAX, &els, why,
		    whysz)) != MSGR_OK)
			return rc;
		subpath(p, path, "elements");
		for (i = 0; i < json_array_size(els); i++) {
			subindex(pi, p, i);
			rc = check_generic_element(json_array_get(els, i), pi, why, whysz);
			if (rc != MSGR_OK)
				return rc;
		}
		return MSGR_OK;
	}
	/* media: Meta, "Media template": exactly one element */
	if ((rc = check_keys(pl, path, k_media, why, whysz)) != MSGR_OK ||
	    (rc = check_array(pl, "elements", path, 1, 1, 1, &els, why, whysz)) != MSGR_OK)
		return rc;
	subpath(p, path, "elements");
	subindex(pi, p, 0);
	return check_media_element(json_array_get(els, 0), pi, why, whysz);
}

static msgr_result
check_attachment(const json_t *a, char *why, size_t whysz)
{
	static const char *const keys[] = { "type", "payload", NULL };
	static const char *const types[] = { "image", "audio", "video", "file", "template",
		NULL };
	static const char *const k_media[] = { "url", "is_reusable", "attachment_id", NULL };
	const char *type, *url, *id;
	const json_t *pl;
	msgr_result rc;

	if ((rc = need_object(a, "attachment", why, whysz)) != MSGR_OK ||
	    (rc = check_keys(a, "attachment", keys, why, whysz)) != MSGR_OK ||
	    (rc = check_enum(a, "type", "attachment", 1, types,
	    "image, audio, video, file or template", &type, why, whysz)) != MSGR_OK)
		return rc;
	pl = json_object_get(a, "payload");
	if (pl == NULL) {
		msgr_why(why, whysz, "attachment.payload: required");
		return MSGR_ERR_LIMIT;
	}
	if ((rc = need_object(pl, "attachment.payload", why, whysz)) != MSGR_OK)
		return rc;
	if (strcmp(type, "template") == 0)
		return check_template(pl, "attachment.payload", why, whysz);
	if ((rc = check_keys(pl, "attachment.payload", k_media, why, whysz)) != MSGR_OK ||
	    (rc = check_url(pl, "url", "attachment.payload", 0, 0, &url, why, whysz)) != MSGR_OK ||
	    (rc = check_id(pl, "attachment_id", "attachment.payload", 0, MSGR_MAX_ID_LEN, 1, &id,
	    why, whysz)) != MSGR_OK ||
	    (rc = check_bool(pl, "is_reusable", "attachment.payload", why, whysz)) != MSGR_OK)
		return rc;
	if ((url == NULL) == (id == NULL)) {
		msgr_why(why, whysz, "attachment.payload: exactly one of url or attachment_id");
		return MSGR_ERR_LIMIT;
	}
	if (id != NULL && json_object_get(pl, "is_reusable") != NULL) {
		msgr_why(why, whysz, "attachment.payload.is_reusable: only with url");
		return MSGR_ERR_LIMIT;
	}
	return MSGR_OK;
}

static msgr_result
check_quick_reply(const json_t *q, const char *path, char *why, size_t whysz)
{
	static const char *const types[] = { "text", "user_phone_number", "user_email", NULL };
	static const char *const k_text[] = { "content_type", "title", "payload", "image_url",
		NULL };
	static const char *const k_user[] = { "content_type", "payload", NULL };
	const char *type, *title, *payload, *img;
	json_t *t;
	msgr_result rc;

	if ((rc = need_object(q, path, why, whysz)) != MSGR_OK ||
	    (rc = check_enum(q, "content_type", path, 1, types,
	    "text, user_phone_number or user_email", &type, why, whysz)) != MSGR_OK)
		return rc;
	if (strcmp(type, "text") != 0) {
		/* Facebook fills these in from the profile; a title would be ignored at best. */
		if ((rc = check_keys(q, path, k_user, why, whysz)) != MSGR_OK)
			return rc;
		return check_str(q, "payload", path, 0, MSGR_PAYLOAD_MAX_CHARS, 0, &payload, why,
		    whysz);
	}
	if ((rc = check_keys(q, path, k_text, why, whysz)) != MSGR_OK ||
	    (rc = check_url(q, "image_url", path, 0, 0, &img, why, whysz)) != MSGR_OK ||
	    (rc = check_str(q, "payload", path, 1, MSGR_PAYLOAD_MAX_CHARS, 0, &payload, why,
	    whysz)) != MSGR_OK)
		return rc;
	/* Meta, "Quick replies": title may be "" only when image_url is set. */
	t = json_object_get(q, "title");
	if (img != NULL && json_is_string(t) && json_string_length(t) == 0)
		return MSGR_OK;
	return check_str(q, "title", path, 1, MSGR_QR_TITLE_MAX_CHARS, 0, &title, why, whysz);
}

/* A sticker id is a positive number, sent as an integer or as decimal text. */
static msgr_result
check_sticker(const json_t *v, char *why, size_t whysz)
{
	if (json_is_integer(v)) {
		if (json_integer_value(v) <= 0)
			goto bad;
		return MSGR_OK;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);

		if (n > 19 || !msgr_id_digits(s, n))
			goto bad;
		return MSGR_OK;
	}
bad:
	msgr_why(why, whysz, "sticker_id: must be a positive number");
	return MSGR_ERR_LIMIT;
}

msgr_result
msgr_message_validate(const json_t *message, char *why, size_t whysz)
{
	static const char *const keys[] = { "text", "attachment", "sticker_id", "quick_replies",
		"metadata", "reply_to", NULL };
	static const char *const k_reply[] = { "mid", NULL };
	const json_t *qrs, *rt;
	const char *s;
	char p[PATH_MAX_LEN];
	msgr_result rc;
	size_t i, nbody;

	msgr_why(why, whysz, "%s", "");
	if (message == NULL) {
		msgr_why(why, whysz, "message: missing");
		return MSGR_ERR_INVALID;
	}
	if ((rc = need_object(message, "message", why, whysz)) != MSGR_OK ||
	    (rc = check_keys(message, "", keys, why, whysz)) != MSGR_OK)
		return rc;

	/* docs/facebook.md "Calls": exactly one of text, attachment, sticker_id. */
	nbody = (json_object_get(message, "text") != NULL) +
	    (json_object_get(message, "attachment") != NULL) +
	    (json_object_get(message, "sticker_id") != NULL);
	if (nbody != 1) {
		msgr_why(why, whysz, "message: exactly one of text, attachment or sticker_id "
		    "(found %zu)", nbody);
		return MSGR_ERR_LIMIT;
	}
	if (json_object_get(message, "text") != NULL) {
		rc = check_str(message, "text", "", 1, MSGR_TEXT_MAX_CHARS, MSGR_MAX_TEXT_BYTES,
		    &s, why, whysz);
		if (rc != MSGR_OK)
			return rc;
	} else if (json_object_get(message, "attachment") != NULL) {
		rc = check_attachment(json_object_get(message, "attachment"), why, whysz);
		if (rc != MSGR_OK)
			return rc;
	} else if ((rc = check_sticker(json_object_get(message, "sticker_id"), why,
	    whysz)) != MSGR_OK)
		return rc;

	if ((rc = check_array(message, "quick_replies", "", 0, 1, MSGR_QUICK_REPLIES_MAX, &qrs,
	    why, whysz)) != MSGR_OK)
		return rc;
	for (i = 0; qrs != NULL && i < json_array_size(qrs); i++) {
		subindex(p, "quick_replies", i);
		if ((rc = check_quick_reply(json_array_get(qrs, i), p, why, whysz)) != MSGR_OK)
			return rc;
	}
	/* docs/facebook.md "Calls": metadata "under 1000" characters. */
	if ((rc = check_str(message, "metadata", "", 0, MSGR_METADATA_MAX_CHARS - 1, 0, &s, why,
	    whysz)) != MSGR_OK)
		return rc;
	rt = json_object_get(message, "reply_to");
	if (rt != NULL) {
		if ((rc = need_object(rt, "reply_to", why, whysz)) != MSGR_OK ||
		    (rc = check_keys(rt, "reply_to", k_reply, why, whysz)) != MSGR_OK ||
		    (rc = check_id(rt, "mid", "reply_to", 1, MSGR_MAX_MID_LEN, 0, &s, why,
		    whysz)) != MSGR_OK)
			return rc;
	}
	return MSGR_OK;
}

/* ---- builders ---------------------------------------------------------------------- */

static json_t *
nomem(char *why, size_t whysz)
{
	msgr_why(why, whysz, "out of memory");
	return NULL;
}

/* obj[key] = val (skipped when val is NULL). Text is checked with our own, stricter UTF-8
 * reader so a bad string is reported by name rather than as a failed allocation. */
static msgr_result
put_str(json_t *obj, const char *key, const char *val, const char *path, char *why,
    size_t whysz)
{
	char p[PATH_MAX_LEN];
	json_t *s;

	if (val == NULL)
		return MSGR_OK;
	if (msgr_message_utf8_chars(val, NULL) != MSGR_OK) {
		subpath(p, path, key);
		msgr_why(why, whysz, "%s: not valid UTF-8 text", p);
		return MSGR_ERR_LIMIT;
	}
	s = json_string_nocheck(val);
	if (s == NULL || json_object_set_new(obj, key, s) != 0) {
		msgr_why(why, whysz, "out of memory");
		return MSGR_ERR_NOMEM;
	}
	return MSGR_OK;
}

/* obj[key] = a new reference on v (borrowed; skipped when NULL). */
static msgr_result
put_ref(json_t *obj, const char *key, json_t *v, char *why, size_t whysz)
{
	if (v == NULL)
		return MSGR_OK;
	if (json_object_set(obj, key, v) != 0) {
		msgr_why(why, whysz, "out of memory");
		return MSGR_ERR_NOMEM;
	}
	return MSGR_OK;
}

static msgr_result
put_true(json_t *obj, const char *key, char *why, size_t whysz)
{
	if (json_object_set_new(obj, key, json_true()) != 0) {
		msgr_why(why, whysz, "out of memory");
		return MSGR_ERR_NOMEM;
	}
	return MSGR_OK;
}

/* Wraps payload (a new reference, taken) as {"attachment":{"type":type,"payload":payload}}. */
static json_t *
wrap_attachment(const char *type, json_t *payload, char *why, size_t whysz)
{
	json_t *msg = NULL, *att = NULL;

	if (payload == NULL)
		return NULL;
	if ((msg = json_object()) == NULL || (att = json_object()) == NULL ||
	    json_object_set_new(att, "type", json_string(type)) != 0) {
		json_decref(payload);
		goto fail;
	}
	/* the _new setters take their value even when they fail */
	if (json_object_set_new(att, "payload", payload) != 0)
		goto fail;
	if (json_object_set_new(msg, "attachment", att) != 0) {
		att = NULL;
		goto fail;
	}
	if (msgr_message_validate(msg, why, whysz) != MSGR_OK) {
		json_decref(msg);
		return NULL;
	}
	return msg;
fail:
	json_decref(att);
	json_decref(msg);
	return nomem(why, whysz);
}

/* Runs the check and hands the object back, or drops it. */
static json_t *
checked(json_t *obj, msgr_result rc)
{
	if (rc != MSGR_OK) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

json_t *
msgr_message_text(const char *text, char *why, size_t whysz)
{
	json_t *m;
	msgr_result rc;

	msgr_why(why, whysz, "%s", "");
	if (text == NULL) {
		msgr_why(why, whysz, "text: required");
		return NULL;
	}
	if ((m = json_object()) == NULL)
		return nomem(why, whysz);
	rc = put_str(m, "text", text, "", why, whysz);
	if (rc == MSGR_OK)
		rc = msgr_message_validate(m, why, whysz);
	return checked(m, rc);
}

json_t *
msgr_message_sticker(const char *sticker_id, char *why, size_t whysz)
{
	json_t *m, *v;
	char *end;
	long long n;

	msgr_why(why, whysz, "%s", "");
	if (sticker_id == NULL || sticker_id[0] < '0' || sticker_id[0] > '9') {
		msgr_why(why, whysz, "sticker_id: must be a positive number");
		return NULL;
	}
	errno = 0;
	n = strtoll(sticker_id, &end, 10);
	if (errno != 0 || *end != '\0' || n <= 0) {
		msgr_why(why, whysz, "sticker_id: must be a positive number");
		return NULL;
	}
	if ((m = json_object()) == NULL)
		return nomem(why, whysz);
	if ((v = json_integer(n)) == NULL || json_object_set_new(m, "sticker_id", v) != 0) {
		json_decref(m);
		return nomem(why, whysz);
	}
	return m;
}

static int
media_type_ok(const char *type, char *why, size_t whysz)
{
	static const char *const types[] = { "image", "audio", "video", "file", NULL };

	if (type == NULL || !msgr_message_one_of(type, types)) {
		msgr_why(why, whysz, "attachment.type: must be image, audio, video or file");
		return 0;
	}
	return 1;
}

json_t *
msgr_message_attachment_url(const char *type, const char *url, int is_reusable, char *why,
    size_t whysz)
{
	json_t *pl;
	msgr_result rc;

	msgr_why(why, whysz, "%s", "");
	if (!media_type_ok(type, why, whysz))
		return NULL;
	if ((pl = json_object()) == NULL)
		return nomem(why, whysz);
	rc = put_str(pl, "url", url, "attachment.payload", why, whysz);
	if (rc == MSGR_OK && is_reusable)
		rc = put_true(pl, "is_reusable", why, whysz);
	if (rc != MSGR_OK) {
		json_decref(pl);
		return NULL;
	}
	return wrap_attachment(type, pl, why, whysz);
}

json_t *
msgr_message_attachment_id(const char *type, const char *attachment_id, char *why,
    size_t whysz)
{
	json_t *pl;

	msgr_why(why, whysz, "%s", "");
	if (!media_type_ok(type, why, whysz))
		return NULL;
	if ((pl = json_object()) == NULL)
		return nomem(why, whysz);
	if (put_str(pl, "attachment_id", attachment_id, "attachment.payload", why,
	    whysz) != MSGR_OK) {
		json_decref(pl);
		return NULL;
	}
	return wrap_attachment(type, pl, why, whysz);
}

static json_t *
template_payload(const char *template_type, char *why, size_t whysz)
{
	json_t *pl = json_object();

	if (pl == NULL || json_object_set_new(pl, "template_type",
	    json_string(template_type)) != 0) {
		json_decref(pl);
		return nomem(why, whysz);
	}
	return pl;
}

json_t *
msgr_message_button_template(const char *text, json_t *buttons, char *why, size_t whysz)
{
	json_t *pl;

	msgr_why(why, whysz, "%s", "");
	if ((pl = template_payload("button", why, whysz)) == NULL)
		return NULL;
	if (put_str(pl, "text", text, "attachment.payload", why, whysz) != MSGR_OK ||
	    put_ref(pl, "buttons", buttons, why, whysz) != MSGR_OK) {
		json_decref(pl);
		return NULL;
	}
	return wrap_attachment("template", pl, why, whysz);
}

json_t *
msgr_message_generic_template(json_t *elements, const char *image_aspect_ratio, char *why,
    size_t whysz)
{
	json_t *pl;

	msgr_why(why, whysz, "%s", "");
	if ((pl = template_payload("generic", why, whysz)) == NULL)
		return NULL;
	if (put_str(pl, "image_aspect_ratio", image_aspect_ratio, "attachment.payload", why,
	    whysz) != MSGR_OK ||
	    put_ref(pl, "elements", elements, why, whysz) != MSGR_OK) {
		json_decref(pl);
		return NULL;
	}
	return wrap_attachment("template", pl, why, whysz);
}

json_t *
msgr_message_media_template(const char *media_type, const char *url,
    const char *attachment_id, json_t *buttons, char *why, size_t whysz)
{
	static const char *const path = "attachment.payload.elements[0]";
	json_t *pl, *el = NULL, *els = NULL;

	msgr_why(why, whysz, "%s", "");
	if ((pl = template_payload("media", why, whysz)) == NULL)
		return NULL;
	if ((el = json_object()) == NULL || (els = json_array()) == NULL) {
		nomem(why, whysz);
		goto fail;
	}
	if (put_str(el, "media_type", media_type, path, why, whysz) != MSGR_OK ||
	    put_str(el, "url", url, path, why, whysz) != MSGR_OK ||
	    put_str(el, "attachment_id", attachment_id, path, why, whysz) != MSGR_OK ||
	    put_ref(el, "buttons", buttons, why, whysz) != MSGR_OK)
		goto fail;
	if (json_array_append(els, el) != 0 || json_object_set(pl, "elements", els) != 0) {
		nomem(why, whysz);
		goto fail;
	}
	json_decref(el);
	json_decref(els);
	return wrap_attachment("template", pl, why, whysz);
fail:
	json_decref(el);
	json_decref(els);
	json_decref(pl);
	return NULL;
}

static msgr_result
put_webview(json_t *b, const struct msgr_message_webview *wv, const char *path, char *why,
    size_t whysz)
{
	msgr_result rc;

	if (wv == NULL)
		return MSGR_OK;
	if ((rc = put_str(b, "webview_height_ratio", wv->height_ratio, path, why,
	    whysz)) != MSGR_OK)
		return rc;
	if (wv->messenger_extensions &&
	    (rc = put_true(b, "messenger_extensions", why, whysz)) != MSGR_OK)
		return rc;
	if ((rc = put_str(b, "fallback_url", wv->fallback_url, path, why, whysz)) != MSGR_OK)
		return rc;
	if (wv->hide_share)
		return put_str(b, "webview_share_button", "hide", path, why, whysz);
	return MSGR_OK;
}

/* {"type": type} to be filled by a button builder. */
static json_t *
button_new(const char *type, char *why, size_t whysz)
{
	json_t *b = json_object();

	if (b == NULL || json_object_set_new(b, "type", json_string(type)) != 0) {
		json_decref(b);
		return nomem(why, whysz);
	}
	return b;
}

json_t *
msgr_message_button_web_url(const char *title, const char *url,
    const struct msgr_message_webview *webview, char *why, size_t whysz)
{
	json_t *b;
	msgr_result rc;

	msgr_why(why, whysz, "%s", "");
	if ((b = button_new("web_url", why, whysz)) == NULL)
		return NULL;
	if ((rc = put_str(b, "title", title, "button", why, whysz)) == MSGR_OK &&
	    (rc = put_str(b, "url", url, "button", why, whysz)) == MSGR_OK &&
	    (rc = put_webview(b, webview, "button", why, whysz)) == MSGR_OK)
		rc = check_button(b, "button", why, whysz);
	return checked(b, rc);
}

/* postback and phone_number share their shape: type, title, payload. */
static json_t *
button_payload(const char *type, const char *title, const char *payload, char *why,
    size_t whysz)
{
	json_t *b;
	msgr_result rc;

	msgr_why(why, whysz, "%s", "");
	if ((b = button_new(type, why, whysz)) == NULL)
		return NULL;
	if ((rc = put_str(b, "title", title, "button", why, whysz)) == MSGR_OK &&
	    (rc = put_str(b, "payload", payload, "button", why, whysz)) == MSGR_OK)
		rc = check_button(b, "button", why, whysz);
	return checked(b, rc);
}

json_t *
msgr_message_button_postback(const char *title, const char *payload, char *why, size_t whysz)
{
	return button_payload("postback", title, payload, why, whysz);
}

json_t *
msgr_message_button_phone(const char *title, const char *number, char *why, size_t whysz)
{
	return button_payload("phone_number", title, number, why, whysz);
}

json_t *
msgr_message_button_account_link(const char *url, char *why, size_t whysz)
{
	json_t *b;
	msgr_result rc;

	msgr_why(why, whysz, "%s", "");
	if ((b = button_new("account_link", why, whysz)) == NULL)
		return NULL;
	if ((rc = put_str(b, "url", url, "button", why, whysz)) == MSGR_OK)
		rc = check_button(b, "button", why, whysz);
	return checked(b, rc);
}

json_t *
msgr_message_button_account_unlink(char *why, size_t whysz)
{
	msgr_why(why, whysz, "%s", "");
	return button_new("account_unlink", why, whysz);
}

json_t *
msgr_message_card(const char *title, const char *subtitle, const char *image_url,
    const char *default_action_url, const struct msgr_message_webview *webview,
    json_t *buttons, char *why, size_t whysz)
{
	json_t *e, *da = NULL;
	msgr_result rc;

	msgr_why(why, whysz, "%s", "");
	if ((e = json_object()) == NULL)
		return nomem(why, whysz);
	if ((rc = put_str(e, "title", title, "card", why, whysz)) != MSGR_OK ||
	    (rc = put_str(e, "subtitle", subtitle, "card", why, whysz)) != MSGR_OK ||
	    (rc = put_str(e, "image_url", image_url, "card", why, whysz)) != MSGR_OK)
		goto out;
	if (default_action_url != NULL) {
		if ((da = button_new("web_url", why, whysz)) == NULL) {
			rc = MSGR_ERR_NOMEM;
			goto out;
		}
		if ((rc = put_str(da, "url", default_action_url, "card.default_action", why,
		    whysz)) != MSGR_OK ||
		    (rc = put_webview(da, webview, "card.default_action", why, whysz)) != MSGR_OK ||
		    (rc = put_ref(e, "default_action", da, why, whysz)) != MSGR_OK)
			goto out;
	}
	if ((rc = put_ref(e, "buttons", buttons, why, whysz)) != MSGR_OK)
		goto out;
	rc = check_generic_element(e, "card", why, whysz);
out:
	json_decref(da);
	return checked(e, rc);
}

msgr_result
msgr_message_add_quick_reply(json_t *message, const char *content_type, const char *title,
    const char *payload, const char *image_url, char *why, size_t whysz)
{
	json_t *q = NULL, *arr;
	int created = 0;
	msgr_result rc;

	msgr_why(why, whysz, "%s", "");
	if (!json_is_object(message)) {
		msgr_why(why, whysz, "message: must be an object");
		return MSGR_ERR_INVALID;
	}
	if ((q = json_object()) == NULL) {
		nomem(why, whysz);
		return MSGR_ERR_NOMEM;
	}
	if ((rc = put_str(q, "content_type", content_type ? content_type : "text",
	    "quick_reply", why, whysz)) != MSGR_OK ||
	    (rc = put_str(q, "title", title, "quick_reply", why, whysz)) != MSGR_OK ||
	    (rc = put_str(q, "payload", payload, "quick_reply", why, whysz)) != MSGR_OK ||
	    (rc = put_str(q, "image_url", image_url, "quick_reply", why, whysz)) != MSGR_OK)
		goto out;
	arr = json_object_get(message, "quick_replies");
	if (arr == NULL) {
		if ((arr = json_array()) == NULL ||
		    json_object_set_new(message, "quick_replies", arr) != 0) {
			rc = MSGR_ERR_NOMEM;
			nomem(why, whysz);
			goto out;
		}
		created = 1;
	} else if (!json_is_array(arr)) {
		msgr_why(why, whysz, "quick_replies: must be an array");
		rc = MSGR_ERR_LIMIT;
		goto out;
	}
	if (json_array_append(arr, q) != 0) {
		rc = MSGR_ERR_NOMEM;
		nomem(why, whysz);
	} else if ((rc = msgr_message_validate(message, why, whysz)) != MSGR_OK)
		(void)json_array_remove(arr, json_array_size(arr) - 1);
	/* leave the message as it came on every failure */
	if (rc != MSGR_OK && created)
		(void)json_object_del(message, "quick_replies");
out:
	json_decref(q);
	return rc;
}

/* message[key] = v (taken), validated; the old value is put back when it does not pass. */
static msgr_result
set_checked(json_t *message, const char *key, json_t *v, char *why, size_t whysz)
{
	json_t *old;
	msgr_result rc;

	if (!json_is_object(message)) {
		json_decref(v);
		msgr_why(why, whysz, "message: must be an object");
		return MSGR_ERR_INVALID;
	}
	if (v == NULL) {
		nomem(why, whysz);
		return MSGR_ERR_NOMEM;
	}
	old = json_incref(json_object_get(message, key));
	if (json_object_set_new(message, key, v) != 0) {
		json_decref(old);
		nomem(why, whysz);
		return MSGR_ERR_NOMEM;
	}
	rc = msgr_message_validate(message, why, whysz);
	if (rc != MSGR_OK) {
		if (old != NULL)
			(void)json_object_set(message, key, old);
		else
			(void)json_object_del(message, key);
	}
	json_decref(old);
	return rc;
}

msgr_result
msgr_message_set_metadata(json_t *message, const char *metadata, char *why, size_t whysz)
{
	msgr_why(why, whysz, "%s", "");
	if (metadata == NULL || msgr_message_utf8_chars(metadata, NULL) != MSGR_OK) {
		msgr_why(why, whysz, "metadata: %s", metadata ? "not valid UTF-8 text" : "required");
		return MSGR_ERR_LIMIT;
	}
	return set_checked(message, "metadata", json_string_nocheck(metadata), why, whysz);
}

msgr_result
msgr_message_set_reply_to(json_t *message, const char *mid, char *why, size_t whysz)
{
	json_t *rt;

	msgr_why(why, whysz, "%s", "");
	if (mid == NULL || msgr_message_utf8_chars(mid, NULL) != MSGR_OK) {
		msgr_why(why, whysz, "reply_to.mid: %s", mid ? "not valid UTF-8 text" : "required");
		return MSGR_ERR_LIMIT;
	}
	if ((rt = json_object()) != NULL &&
	    json_object_set_new(rt, "mid", json_string_nocheck(mid)) != 0) {
		json_decref(rt);
		rt = NULL;
	}
	return set_checked(message, "reply_to", rt, why, whysz);
}

/* ---- the Send API body --------------------------------------------------------------- */

/* The recipient: exactly one of a PSID or a user_ref (docs/sending.md "Limits"). */
static msgr_result
check_recipient(const struct msgr_message_request *req, char *why, size_t whysz)
{
	size_t i, n;

	if ((req->recipient_id != NULL) == (req->user_ref != NULL)) {
		msgr_why(why, whysz, "recipient: exactly one of id or user_ref");
		return MSGR_ERR_INVALID;
	}
	if (req->recipient_id != NULL && !msgr_id_valid(req->recipient_id)) {
		msgr_why(why, whysz, "recipient.id: must be 1 to %d decimal digits", MSGR_MAX_ID_LEN);
		return MSGR_ERR_INVALID;
	}
	/* user_ref is chosen by the page's developer (checkbox plugin): bounded, printable */
	if (req->user_ref != NULL) {
		n = strlen(req->user_ref);
		for (i = 0; i < n; i++)
			if ((unsigned char)req->user_ref[i] <= 0x20 ||
			    (unsigned char)req->user_ref[i] >= 0x7f)
				break;
		if (n == 0 || n > MSGR_MAX_USER_REF_LEN || i < n) {
			msgr_why(why, whysz, "recipient.user_ref: must be 1 to %d printable ASCII "
			    "characters", MSGR_MAX_USER_REF_LEN);
			return MSGR_ERR_INVALID;
		}
	}
	return MSGR_OK;
}

/* How it goes: messaging_type mtype, tag, notification_type, persona, and a sender action
 * alone or a message checked whole (docs/sending.md "Message tags"). */
static msgr_result
check_sending(const struct msgr_message_request *req, const char *mtype, char *why,
    size_t whysz)
{

	if ((req->message != NULL) == (req->sender_action != NULL)) {
		msgr_why(why, whysz, "request: exactly one of message or sender_action");
		return MSGR_ERR_INVALID;
	}
	if (req->persona_id != NULL && !msgr_id_valid(req->persona_id)) {
		msgr_why(why, whysz, "persona_id: must be 1 to %d decimal digits", MSGR_MAX_ID_LEN);
		return MSGR_ERR_INVALID;
	}
	if (!msgr_message_one_of(mtype, msgr_message_types)) {
		msgr_why(why, whysz, "messaging_type: must be RESPONSE, UPDATE or MESSAGE_TAG");
		return MSGR_ERR_INVALID;
	}
	if (req->tag != NULL && strcmp(req->tag, "HUMAN_AGENT") != 0) {
		/* Facebook answers the others with error 100 since 27 April 2026 */
		msgr_why(why, whysz, "tag: only HUMAN_AGENT remains; the other message tags "
		    "(CONFIRMED_EVENT_UPDATE, ACCOUNT_UPDATE, POST_PURCHASE_UPDATE, ...) were "
		    "retired on 27 April 2026");
		return MSGR_ERR_LIMIT;
	}
	if (req->tag != NULL && strcmp(mtype, "MESSAGE_TAG") != 0) {
		msgr_why(why, whysz, "tag: only with messaging_type MESSAGE_TAG");
		return MSGR_ERR_INVALID;
	}
	if (req->tag == NULL && strcmp(mtype, "MESSAGE_TAG") == 0) {
		msgr_why(why, whysz, "messaging_type MESSAGE_TAG: needs tag HUMAN_AGENT");
		return MSGR_ERR_LIMIT;
	}
	if (req->notification_type != NULL &&
	    !msgr_message_one_of(req->notification_type, msgr_message_notification_types)) {
		msgr_why(why, whysz, "notification_type: must be REGULAR, SILENT_PUSH or NO_PUSH");
		return MSGR_ERR_INVALID;
	}
	if (req->sender_action == NULL)
		return msgr_message_validate(req->message, why, whysz);
	if (!msgr_message_one_of(req->sender_action, msgr_message_sender_actions)) {
		msgr_why(why, whysz, "sender_action: must be typing_on, typing_off or mark_seen");
		return MSGR_ERR_INVALID;
	}
	/* Meta, "Sender actions": sent with the recipient alone */
	if (req->tag != NULL || req->notification_type != NULL || strcmp(mtype, "RESPONSE") != 0) {
		msgr_why(why, whysz, "sender_action: takes no messaging_type, tag or "
		    "notification_type");
		return MSGR_ERR_INVALID;
	}
	return MSGR_OK;
}

/* body[key] = a new string of v (skipped when v is NULL); 0, or -1 out of memory. */
static int
set_str(json_t *body, const char *key, const char *v)
{
	return v == NULL ? 0 : json_object_set_new(body, key, json_string(v));
}

/* The body of a checked request: 0, or -1 out of memory. */
static int
build_body(json_t *body, const struct msgr_message_request *req, const char *mtype)
{
	json_t *rcpt = json_object(), *msg;
	int r;

	if (rcpt == NULL)
		return -1;
	r = set_str(rcpt, req->recipient_id ? "id" : "user_ref",
	    req->recipient_id ? req->recipient_id : req->user_ref);
	if (r != 0 || json_object_set_new(body, "recipient", rcpt) != 0) {
		if (r != 0)
			json_decref(rcpt);
		return -1;
	}
	if (req->sender_action != NULL)
		/* a persona can be shown typing; mark_seen has no speaker */
		return set_str(body, "sender_action", req->sender_action) != 0 ||
		    (strcmp(req->sender_action, "mark_seen") != 0 &&
		    set_str(body, "persona_id", req->persona_id) != 0) ? -1 : 0;
	if (set_str(body, "messaging_type", mtype) != 0 || set_str(body, "tag", req->tag) != 0 ||
	    set_str(body, "notification_type", req->notification_type) != 0 ||
	    set_str(body, "persona_id", req->persona_id) != 0)
		return -1;
	/* a copy, so the caller's message may change after we return */
	if ((msg = json_deep_copy(req->message)) == NULL)
		return -1;
	return json_object_set_new(body, "message", msg) != 0 ? -1 : 0;
}

msgr_result
msgr_message_request(const struct msgr_message_request *req, json_t **out, char *why,
    size_t whysz)
{
	const char *mtype;
	json_t *body;
	msgr_result rc;

	msgr_why(why, whysz, "%s", "");
	if (out == NULL || req == NULL) {
		msgr_why(why, whysz, "request: missing");
		return MSGR_ERR_INVALID;
	}
	*out = NULL;
	mtype = req->messaging_type != NULL ? req->messaging_type : "RESPONSE";
	if ((rc = check_recipient(req, why, whysz)) != MSGR_OK ||
	    (rc = check_sending(req, mtype, why, whysz)) != MSGR_OK)
		return rc;
	if ((body = json_object()) == NULL || build_body(body, req, mtype) != 0) {
		json_decref(body);
		msgr_why(why, whysz, "out of memory");
		return MSGR_ERR_NOMEM;
	}
	*out = body;
	return MSGR_OK;
}

/* ---- the messaging window ------------------------------------------------------------ */

msgr_result
msgr_message_window_check(long long now_ms, long long last_user_ms,
    const char *messaging_type, const char *tag, char *why, size_t whysz)
{
	long long age;
	int human;

	msgr_why(why, whysz, "%s", "");
	if (messaging_type == NULL) {
		msgr_why(why, whysz, "messaging_type: missing");
		return MSGR_ERR_INVALID;
	}
	if (last_user_ms <= 0) {
		msgr_why(why, whysz, "outside the messaging window: the user has not written");
		return MSGR_ERR_PERMANENT;
	}
	/* a clock a little behind the user's timestamp is not a reason to refuse */
	age = now_ms > last_user_ms ? now_ms - last_user_ms : 0;
	if (age <= MSGR_WINDOW_STANDARD_MS)
		return MSGR_OK;
	human = strcmp(messaging_type, "MESSAGE_TAG") == 0 && tag != NULL &&
	    strcmp(tag, "HUMAN_AGENT") == 0;
	if (human && age <= MSGR_WINDOW_HUMAN_AGENT_MS)
		return MSGR_OK;
	/* docs/worker.md; Facebook would answer 10/2018278 */
	if (age <= MSGR_WINDOW_HUMAN_AGENT_MS)
		msgr_why(why, whysz, "outside the 24-hour messaging window (last user message "
		    "%lld h ago): only MESSAGE_TAG with tag HUMAN_AGENT may go", age / 3600000);
	else
		msgr_why(why, whysz, "outside the messaging window (last user message %lld days "
		    "ago): nothing may go after 7 days", age / 86400000);
	return MSGR_ERR_PERMANENT;
}

/* ---- splitting long text ------------------------------------------------------------- */

static int
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static msgr_result
push_part(char ***parts, size_t *n, size_t *cap, const char *s, size_t len)
{
	char *p, **np;

	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;

		if ((np = realloc(*parts, ncap * sizeof(*np))) == NULL)
			return MSGR_ERR_NOMEM;
		*parts = np;
		*cap = ncap;
	}
	if ((p = malloc(len + 1)) == NULL)
		return MSGR_ERR_NOMEM;
	memcpy(p, s, len);
	p[len] = '\0';
	(*parts)[(*n)++] = p;
	return MSGR_OK;
}

void
msgr_message_split_free(char **parts, size_t n)
{
	size_t i;

	if (parts == NULL)
		return;
	for (i = 0; i < n; i++)
		free(parts[i]);
	free(parts);
}

msgr_result
msgr_message_split_text(const char *utf8, size_t max_chars, char ***parts, size_t *n)
{
	const uint8_t *t = (const uint8_t *)utf8;
	char **out = NULL;
	size_t len, pos, i, count, lim, half, cut, para, line, ws, nl, nout = 0, cap = 0;
	msgr_result rc;
	ucs4_t uc;

	if (parts == NULL || n == NULL)
		return MSGR_ERR_INVALID;
	*parts = NULL;
	*n = 0;
	if (utf8 == NULL)
		return MSGR_ERR_INVALID;
	len = strlen(utf8);
	if (len > MSGR_MAX_TEXT_BYTES)
		return MSGR_ERR_TOOBIG;
	if (utf8_count(utf8, len, NULL) != MSGR_OK)
		return MSGR_ERR_INVALID;
	if (max_chars == 0)
		max_chars = MSGR_TEXT_MAX_CHARS;

	pos = 0;
	for (;;) {
		while (pos < len && is_space(t[pos]))
			pos++;
		if (pos == len)
			break;
		/* the window: max_chars code points from pos; half marks its middle */
		half = pos;
		for (i = pos, count = 0; i < len && count < max_chars; count++) {
			i += (size_t)u8_mbtouc(&uc, t + i, len - i);
			if (count + 1 == max_chars / 2)
				half = i;
		}
		lim = i;
		if (lim == len) {
			cut = len;
			while (is_space(t[cut - 1]))
				cut--;
			if ((rc = push_part(&out, &nout, &cap, utf8 + pos, cut - pos)) != MSGR_OK)
				goto fail;
			break;
		}
		/* Last break of each kind in (pos, lim]: a cut at lim itself (whitespace right
		 * after the window) gives a part of exactly max_chars. */
		para = line = ws = 0;
		nl = 0;
		for (i = pos + 1; i <= lim; i++) {
			if (!is_space(t[i])) {
				nl = 0;
				continue;
			}
			ws = i;
			if (t[i] == '\n') {
				if (nl != 0)
					para = nl;   /* a blank line: cut before it */
				else
					nl = i;
				line = i;
			} else if (t[i] != '\r' && t[i] != ' ' && t[i] != '\t') {
				nl = 0;
			}
		}
		/* Prefer the paragraph, then the line, when it keeps the part at least half
		 * full; otherwise the last space; a word longer than the window is cut at a
		 * code-point boundary (lim is one). */
		if (para != 0 && para >= half)
			cut = para;
		else if (line != 0 && line >= half)
			cut = line;
		else if (ws != 0)
			cut = ws;
		else
			cut = lim;
		i = cut;
		while (i > pos && is_space(t[i - 1]))
			i--;
		if ((rc = push_part(&out, &nout, &cap, utf8 + pos, i - pos)) != MSGR_OK)
			goto fail;
		pos = cut;
	}
	if (nout == 0)
		return MSGR_ERR_INVALID;   /* nothing but whitespace */
	*parts = out;
	*n = nout;
	return MSGR_OK;
fail:
	msgr_message_split_free(out, nout);
	return rc;
}

/* ---- the Messenger profile ------------------------------------------------------------ */

/* a with v appended, v's reference taken; NULL (a and v dropped) when a is NULL or jansson
 * refuses. */
static json_t *
append(json_t *a, json_t *v)
{
	if (a != NULL && json_array_append_new(a, v) == 0)
		return a;
	if (a == NULL)
		json_decref(v);
	json_decref(a);
	return NULL;
}

/* Each returns the field's JSON (a new reference), or NULL when jansson refuses: out of
 * memory, or a text missing or not UTF-8, which msgr_config_load never leaves. */
static json_t *
profile_greeting(const struct msgr_profile_config *p)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < p->n_greeting; i++)
		a = append(a, json_pack("{s:s, s:s}", "locale", p->greeting[i].locale, "text",
		    p->greeting[i].text));
	return a;
}

/* The localized form [{call_to_actions, locale}] that Meta's ice-breakers reference has
 * recommended since April 2022; the config holds one list, sent as the required "default"
 * locale (docs/facebook.md "Messenger profile"). */
static json_t *
profile_ice_breakers(const struct msgr_profile_config *p)
{
	json_t *cta = json_array();
	size_t i;

	for (i = 0; cta != NULL && i < p->n_ice_breakers; i++)
		cta = append(cta, json_pack("{s:s, s:s}", "question", p->ice_breakers[i].question,
		    "payload", p->ice_breakers[i].payload));
	return cta != NULL ? json_pack("[{s:o, s:s}]", "call_to_actions", cta, "locale",
	    "default") : NULL;
}

/* A menu item: a web_url or a postback button. Not msgr_message_button_*: a menu title may
 * be 30 characters, a button's 20. */
static json_t *
profile_menu_item(const struct msgr_menu_item *it)
{
	if (it->url != NULL)
		return json_pack("{s:s, s:s, s:s}", "type", "web_url", "title", it->title, "url",
		    it->url);
	return json_pack("{s:s, s:s, s:s}", "type", "postback", "title", it->title, "payload",
	    it->payload);
}

/* One menu per locale. */
static json_t *
profile_menu(const struct msgr_profile_config *p)
{
	json_t *a = json_array();
	size_t i, j;

	for (i = 0; a != NULL && i < p->n_menus; i++) {
		const struct msgr_menu *m = &p->menus[i];
		json_t *cta = json_array();

		for (j = 0; cta != NULL && j < m->n_items; j++)
			cta = append(cta, profile_menu_item(&m->items[j]));
		a = append(a, cta == NULL ? NULL : json_pack("{s:s, s:b, s:o}", "locale",
		    m->locale, "composer_input_disabled", 0, "call_to_actions", cta));
	}
	return a;
}

static json_t *
profile_domains(const struct msgr_profile_config *p)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < p->n_whitelisted_domains; i++)
		a = append(a, json_string(p->whitelisted_domains[i]));
	return a;
}

json_t *
msgr_message_profile(const struct msgr_profile_config *p, char *why, size_t whysz)
{
	json_t *body = json_object();

	if (body == NULL)
		goto fail;
	if (p->get_started != NULL && json_object_set_new(body, "get_started",
	    json_pack("{s:s}", "payload", p->get_started)) != 0)
		goto fail;
	if (p->n_greeting > 0 && json_object_set_new(body, "greeting", profile_greeting(p)) != 0)
		goto fail;
	if (p->n_ice_breakers > 0 &&
	    json_object_set_new(body, "ice_breakers", profile_ice_breakers(p)) != 0)
		goto fail;
	if (p->n_menus > 0 && json_object_set_new(body, "persistent_menu", profile_menu(p)) != 0)
		goto fail;
	if (p->n_whitelisted_domains > 0 &&
	    json_object_set_new(body, "whitelisted_domains", profile_domains(p)) != 0)
		goto fail;
	return body;
fail:
	json_decref(body);
	msgr_why(why, whysz, "out of memory, or a profile text missing or not UTF-8");
	return NULL;
}
