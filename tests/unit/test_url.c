/* test_url.c — the one URL check (lib/url.h): each flag, the order of the reasons, and the
 * redaction msgrctl prints. */
#include "unit.h"
#include "limits.h"
#include "url.h"

#define WEB (MSGR_URL_HTTPS | MSGR_URL_HTTP)

struct url_case {
	const char *url;
	unsigned flags;
	enum msgr_url_fault want;
};

static void
run_cases(const struct url_case *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		enum msgr_url_fault got = msgr_url_check(c[i].url, c[i].flags);

		if (got != c[i].want)
			fail_msg("\"%s\" flags %#x: %d, want %d", c[i].url ? c[i].url : "(null)",
			    c[i].flags, (int)got, (int)c[i].want);
	}
}

/* http(s) as written: the scheme is checked on the text, the rest by libcurl. */
static void
test_schemes(void **state)
{
	static const struct url_case c[] = {
		{ "https://example.org", WEB, MSGR_URL_OK },
		{ "http://example.org/a?b=c#d", WEB, MSGR_URL_OK },
		{ "https://example.org/café", WEB, MSGR_URL_OK },
		{ "http://example.org", MSGR_URL_HTTPS, MSGR_URL_ERR_SCHEME },
		{ "ftp://example.org", WEB, MSGR_URL_ERR_SCHEME },
		{ "javascript:alert(1)", WEB, MSGR_URL_ERR_SCHEME },
		{ "example.org/a.png", WEB, MSGR_URL_ERR_SCHEME },
		{ "", WEB, MSGR_URL_ERR_SCHEME },
		{ NULL, WEB, MSGR_URL_ERR_SCHEME },
		{ "https://example.org", 0, MSGR_URL_ERR_SCHEME },
		/* curl would take these; as written they are not what was meant */
		{ "HTTPS://example.org", WEB, MSGR_URL_ERR_SCHEME },
		{ "http:/example.org", WEB, MSGR_URL_ERR_SCHEME },
		{ "HTTPS://EXAMPLE.ORG/A", WEB | MSGR_URL_ANY_CASE, MSGR_URL_OK },
		{ "Http://example.org", MSGR_URL_HTTPS | MSGR_URL_ANY_CASE, MSGR_URL_ERR_SCHEME },
	};

	(void)state;
	run_cases(c, sizeof(c) / sizeof(c[0]));
}

/* The text's bytes, then the host, then libcurl's parse, in that order. */
static void
test_text_and_parse(void **state)
{
	static const struct url_case c[] = {
		{ "https://example.org/a b", WEB, MSGR_URL_ERR_CHAR },
		{ "https://example.org/\t", WEB, MSGR_URL_ERR_CHAR },
		{ "https://example.org/\x7f", WEB, MSGR_URL_ERR_CHAR },
		{ "ftp://a b", WEB, MSGR_URL_ERR_SCHEME },             /* the scheme first */
		{ "https://", WEB, MSGR_URL_ERR_NO_HOST },
		{ "http:///x", WEB, MSGR_URL_ERR_NO_HOST },
		{ "https://?q", WEB, MSGR_URL_ERR_NO_HOST },
		{ "https://#f", WEB, MSGR_URL_ERR_NO_HOST },
		{ "https://:8080", WEB, MSGR_URL_ERR_NO_HOST },
		{ "https://example.org:99999", WEB, MSGR_URL_ERR_PARSE },
		{ "https://[::1", WEB, MSGR_URL_ERR_PARSE },
		{ "https://ex<ample.org", WEB, MSGR_URL_ERR_PARSE },
	};
	char *big;

	(void)state;
	run_cases(c, sizeof(c) / sizeof(c[0]));
	/* MSGR_MAX_URL_BYTES passes, one more does not */
	big = malloc(MSGR_MAX_URL_BYTES + 2);
	assert_non_null(big);
	memcpy(big, "https://example.org/", 20);
	memset(big + 20, 'a', MSGR_MAX_URL_BYTES - 20);
	big[MSGR_MAX_URL_BYTES] = '\0';
	assert_int_equal(msgr_url_check(big, WEB), MSGR_URL_OK);
	big[MSGR_MAX_URL_BYTES] = 'a';
	big[MSGR_MAX_URL_BYTES + 1] = '\0';
	assert_int_equal(msgr_url_check(big, WEB), MSGR_URL_ERR_LENGTH);
	free(big);
}

/* The host libcurl connects to is the host compared. */
static void
test_hosts(void **state)
{
	static const unsigned https_or_local = MSGR_URL_HTTPS | MSGR_URL_HTTP_LOOPBACK;
	static const unsigned sim = MSGR_URL_HTTP | MSGR_URL_LOOPBACK;
	static const unsigned fb = MSGR_URL_HTTPS | MSGR_URL_ANY_CASE | MSGR_URL_FACEBOOK;
	static const struct url_case c[] = {
		{ "https://example.org", https_or_local, MSGR_URL_OK },
		{ "http://127.0.0.1:8080/x", https_or_local, MSGR_URL_OK },
		{ "http://localhost", https_or_local, MSGR_URL_OK },
		{ "http://LOCALHOST", https_or_local, MSGR_URL_OK },
		{ "http://[::1]:9/", https_or_local, MSGR_URL_OK },
		{ "http://0x7f.0.0.1", https_or_local, MSGR_URL_OK },   /* curl: 127.0.0.1 */
		{ "http://example.org", https_or_local, MSGR_URL_ERR_HOST },
		{ "http://127.0.0.1.example.org", https_or_local, MSGR_URL_ERR_HOST },
		{ "http://127.0.0.1\\@example.org", https_or_local, MSGR_URL_ERR_HOST },
		{ "http://127.0.0.1", sim, MSGR_URL_OK },
		{ "http://[::2]", sim, MSGR_URL_ERR_HOST },
		{ "http://10.0.0.1", sim, MSGR_URL_ERR_HOST },
		{ "https://www.facebook.com/p/1", fb, MSGR_URL_OK },
		{ "https://facebook.com", fb, MSGR_URL_OK },
		{ "HTTPS://Business.Facebook.COM/v", fb, MSGR_URL_OK },
		{ "https://notfacebook.com/p", fb, MSGR_URL_ERR_HOST },
		{ "https://facebook.com.example.org/p", fb, MSGR_URL_ERR_HOST },
		{ "https://www.facebook.com\\@example.org/", fb, MSGR_URL_ERR_HOST },
		{ "http://www.facebook.com/p", fb, MSGR_URL_ERR_SCHEME },
	};

	(void)state;
	run_cases(c, sizeof(c) / sizeof(c[0]));
}

/* MSGR_URL_BARE: nothing but host, port and path; MSGR_URL_PLAIN: bytes that hide nothing. */
static void
test_bare_and_plain(void **state)
{
	static const unsigned bare = MSGR_URL_HTTP | MSGR_URL_BARE;
	static const unsigned plain = MSGR_URL_HTTPS | MSGR_URL_PLAIN;
	static const struct url_case c[] = {
		{ "http://127.0.0.1:8080/a/b", bare, MSGR_URL_OK },
		{ "http://user@127.0.0.1", bare, MSGR_URL_ERR_PART },
		{ "http://u:p@127.0.0.1", bare, MSGR_URL_ERR_PART },
		{ "http://127.0.0.1/?x=1", bare, MSGR_URL_ERR_PART },
		{ "http://127.0.0.1/?", bare, MSGR_URL_ERR_PART },
		{ "http://127.0.0.1/#top", bare, MSGR_URL_ERR_PART },
		{ "http://127.0.0.1:0", bare, MSGR_URL_ERR_PART },
		{ "http://[::1%25lo]", bare, MSGR_URL_ERR_PART },
		{ "http://127.0.0.1/a@b", bare, MSGR_URL_OK },
		{ "https://example.org/hook", plain, MSGR_URL_OK },
		{ "https://example.org/x?y=1", plain, MSGR_URL_ERR_CHAR },
		{ "https://user:pw@example.org", plain, MSGR_URL_ERR_CHAR },
		{ "https://example.org/#f", plain, MSGR_URL_ERR_CHAR },
		{ "https://example.org\\x", plain, MSGR_URL_ERR_CHAR },
		{ "https://example.org/caf\xc3\xa9", plain, MSGR_URL_ERR_CHAR },
	};

	(void)state;
	run_cases(c, sizeof(c) / sizeof(c[0]));
}

/* What msgrctl check prints of a bot's url: no credential, no query. */
static void
test_redact(void **state)
{
	char out[256], small[12];

	(void)state;
	msgr_url_redact("http://127.0.0.1:9/bot", out, sizeof(out));
	assert_string_equal(out, "http://127.0.0.1:9/bot");
	msgr_url_redact("https://user:pw@bot.example.org/hook?key=abc", out, sizeof(out));
	assert_string_equal(out, "https://bot.example.org/hook?...");
	msgr_url_redact("https://bot.example.org/hook#key=abc", out, sizeof(out));
	assert_string_equal(out, "https://bot.example.org/hook?...");
	msgr_url_redact("bot.example.org/hook", out, sizeof(out));
	assert_string_equal(out, "(not a URL)");
	msgr_url_redact("https://exa mple.org", out, sizeof(out));
	assert_string_equal(out, "(not a URL)");
	msgr_url_redact(NULL, out, sizeof(out));
	assert_string_equal(out, "(not a URL)");
	msgr_url_redact("https://bot.example.org/hook", small, sizeof(small));
	assert_string_equal(small, "https://bot");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schemes),
		cmocka_unit_test(test_text_and_parse),
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_bare_and_plain),
		cmocka_unit_test(test_redact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
