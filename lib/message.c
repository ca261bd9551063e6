/* message.c — Send API message builders and platform-limit checks (lib/message.h).
 *
 * One checker (msgr_message_validate) knows every limit; the builders assemble JSON and then
 * run the same checker over what they built, so a builder can never emit something the
 * checker (and so Facebook) would refuse. Limits: GRAPH.md "Calls" and Meta's Send API
 * reference (developers.facebook.com/docs/messenger-platform/reference/send-api/,
 * .../send-messages/template/{button,generic,media}, .../send-messages/quick-replies,
 * .../send-messages/buttons), numbers named in lib/limits.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "message.h"

/* Deep enough for "attachment.payload.elements[9].buttons[2].webview_height_ratio". */
#define PATH_MAX_LEN 128

/* ---- small helpers ----------------------------------------------------------------- */

static void
setwhy(char *why, size_t whysz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
setwhy(char *why, size_t whysz, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whysz == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(why, whysz, fmt, ap);
	va_end(ap);
}

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

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length, or 0 when it is not
 * valid (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		if (n < 2 || (s[1] & 0xc0) != 0x80)
			return 0;
		return 2;
	}
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)       /* overlong */
			return 0;
		if (c == 0xed && s[1] >= 0xa0)      /* surrogates */
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)       /* overlong */
			return 0;
		if (c == 0xf4 && s[1] >= 0x90)      /* above U+10FFFF */
			return 0;
		return 4;
	}
	return 0;
}

/* Code points of s[0..len); MSGR_ERR_INVALID when not valid UTF-8 or holding a NUL. */
static msgr_result
utf8_count(const char *s, size_t len, size_t *chars)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k, count = 0;

	while (i < len) {
		if (p[i] == 0)
			return MSGR_ERR_INVALID;
		k = utf8_seq(p + i, len - i);
		if (k == 0)
			return MSGR_ERR_INVALID;
		i += k;
		count++;
	}
	if (chars != NULL)
		*chars = count;
	return MSGR_OK;
}

msgr_result
msgr_message_utf8_chars(const char *s, size_t *chars)
{
	if (s == NULL)
		return MSGR_ERR_INVALID;
	return utf8_count(s, strlen(s), chars);
}

static int
one_of(const char *s, const char *const *list)
{
	size_t i;

	for (i = 0; list[i] != NULL; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

/* ---- the checker ------------------------------------------------------------------- */

/* Every unknown key is refused: Facebook answers an unknown parameter with (#100). */
static msgr_result
check_keys(const json_t *obj, const char *path, const char *const *allowed, char *why,
    size_t whysz)
{
	const char *key;
	json_t *v;
	char p[PATH_MAX_LEN];

	json_object_foreach((json_t *)obj, key, v) {
		(void)v;
		if (!one_of(key, allowed)) {
			char esc[48];
			size_t i, j = 0;

			/* the key is untrusted: keep it printable and short */
			for (i = 0; key[i] != '\0' && j + 4 < sizeof(esc); i++)
				esc[j++] = (key[i] >= 0x20 && key[i] < 0x7f) ? key[i] : '?';
			esc[j] = '\0';
			subpath(p, path, esc);
			setwhy(why, whysz, "%s: unknown field", p);
			return MSGR_ERR_LIMIT;
		}
	}
	return MSGR_OK;
}

static msgr_result
need_object(const json_t *v, const char *path, char *why, size_t whysz)
{
	if (!json_is_object(v)) {
		setwhy(why, whysz, "%s: must be an object", path);
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
			setwhy(why, whysz, "%s: required", p);
			return MSGR_ERR_LIMIT;
		}
		return MSGR_OK;
	}
	if (!json_is_string(v)) {
		setwhy(why, whysz, "%s: must be a string", p);
		return MSGR_ERR_LIMIT;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	if (len == 0) {
		setwhy(why, whysz, "%s: empty", p);
		return MSGR_ERR_LIMIT;
	}
	if (max_bytes != 0 && len > max_bytes) {
		setwhy(why, whysz, "%s: %zu bytes, at most %zu", p, len, max_bytes);
		return MSGR_ERR_LIMIT;
	}
	if (utf8_count(s, len, &chars) != MSGR_OK) {
		setwhy(why, whysz, "%s: not valid UTF-8 text", p);
		return MSGR_ERR_LIMIT;
	}
	if (max_chars != 0 && chars > max_chars) {
		setwhy(why, whysz, "%s: %zu characters, at most %zu", p, chars, max_chars);
		return MSGR_ERR_LIMIT;
	}
	*out = s;
	return MSGR_OK;
}

/* An absolute http(s) URL with a host and no whitespace or control bytes. */
static int
url_ok(const char *u, int https_only)
{
	const char *host;
	size_t i;

	if (strncasecmp(u, "https://", 8) == 0)
		host = u + 8;
	else if (!https_only && strncasecmp(u, "http://", 7) == 0)
		host = u + 7;
	else
		return 0;
	if (*host == '\0' || *host == '/' || *host == '?' || *host == '#')
		return 0;
	for (i = 0; u[i] != '\0'; i++)
		if ((unsigned char)u[i] <= 0x20 || u[i] == 0x7f)
			return 0;
	return 1;
}

/* The media template takes only Facebook's own URLs (Meta, "Media template: Facebook URLs
 * only"): https on facebook.com or one of its subdomains. */
static int
facebook_url(const char *u)
{
	const char *h, *end;
	size_t n;

	if (strncasecmp(u, "https://", 8) != 0)
		return 0;
	h = u + 8;
	end = h + strcspn(h, "/?#:");
	n = (size_t)(end - h);
	if (n == 12 && strncasecmp(h, "facebook.com", 12) == 0)
		return 1;
	return n > 13 && strncasecmp(end - 13, ".facebook.com", 13) == 0;
}

static msgr_result
check_url(const json_t *obj, const char *key, const char *path, int required, int https_only,
    const char **out, char *why, size_t whysz)
{
	char p[PATH_MAX_LEN];
	msgr_result rc;

	rc = check_str(obj, key, path, required, 0, MSGR_MAX_URL_BYTES, out, why, whysz);
	if (rc != MSGR_OK || *out == NULL)
		return rc;
	if (!url_ok(*out, https_only)) {
		subpath(p, path, key);
		setwhy(why, whysz, "%s: must be an absolute %s URL", p,
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
		setwhy(why, whysz, "%s: must be true or false", p);
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
	if (!one_of(*out, allowed)) {
		subpath(p, path, key);
		setwhy(why, whysz, "%s: must be %s", p, allowed_text);
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
			setwhy(why, whysz, "%s: required", p);
			return MSGR_ERR_LIMIT;
		}
		return MSGR_OK;
	}
	if (!json_is_array(v)) {
		setwhy(why, whysz, "%s: must be an array", p);
		return MSGR_ERR_LIMIT;
	}
	n = json_array_size(v);
	if (n < min) {
		setwhy(why, whysz, "%s: %zu items, at least %zu", p, n, min);
		return MSGR_ERR_LIMIT;
	}
	if (n > max) {
		setwhy(why, whysz, "%s: %zu items, at most %zu", p, n, max);
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
			setwhy(why, whysz, "%s: must be %s", p,
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
		/* GRAPH.md "Calls": a call button's payload is the number, starting with '+'. */
		if (type[0] == 'p' && type[1] == 'h' && s[0] != '+') {
			subpath(p, path, "payload");
			setwhy(why, whysz, "%s: a phone number must start with '+'", p);
			return MSGR_ERR_LIMIT;
		}
		return MSGR_OK;
	}
	if (strcmp(type, "account_link") == 0) {
		if ((rc = check_keys(b, path, k_link, why, whysz)) != MSGR_OK)
			return rc;
		/* GRAPH.md "Calls": the log-in button needs an https url. */
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
	/* GRAPH.md "Calls": a card needs its title and at least one more field. */
	if (sub == NULL && img == NULL && da == NULL && json_object_get(e, "buttons") == NULL) {
		setwhy(why, whysz, "%s: a card needs subtitle, image_url, default_action or "
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
		setwhy(why, whysz, "%s: exactly one of url or attachment_id", path);
		return MSGR_ERR_LIMIT;
	}
	if (url != NULL && !facebook_url(url)) {
		subpath(p, path, "url");
		setwhy(why, whysz, "%s: the media template takes only a facebook.com URL "
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
		setwhy(why, whysz, "attachment.payload: required");
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
		setwhy(why, whysz, "attachment.payload: exactly one of url or attachment_id");
		return MSGR_ERR_LIMIT;
	}
	if (id != NULL && json_object_get(pl, "is_reusable") != NULL) {
		setwhy(why, whysz, "attachment.payload.is_reusable: only with url");
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
		size_t i, n = json_string_length(v);

		if (n == 0 || n > 19)
			goto bad;
		for (i = 0; i < n; i++)
			if (s[i] < '0' || s[i] > '9')
				goto bad;
		return MSGR_OK;
	}
bad:
	setwhy(why, whysz, "sticker_id: must be a positive number");
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

	setwhy(why, whysz, "%s", "");
	if (message == NULL) {
		setwhy(why, whysz, "message: missing");
		return MSGR_ERR_INVALID;
	}
	if ((rc = need_object(message, "message", why, whysz)) != MSGR_OK ||
	    (rc = check_keys(message, "", keys, why, whysz)) != MSGR_OK)
		return rc;

	/* GRAPH.md "Calls": exactly one of text, attachment, sticker_id. */
	nbody = (json_object_get(message, "text") != NULL) +
	    (json_object_get(message, "attachment") != NULL) +
	    (json_object_get(message, "sticker_id") != NULL);
	if (nbody != 1) {
		setwhy(why, whysz, "message: exactly one of text, attachment or sticker_id "
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
	/* GRAPH.md "Calls": metadata "under 1000" characters. */
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
