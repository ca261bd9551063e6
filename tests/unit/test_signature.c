/* Unit tests: signature (HMAC-SHA256 over raw bytes, constant-time compare). */
#include <pthread.h>

#include "unit.h"
#include "signature.h"

/* RFC 4231 has no sha256 vector with a text key this short; this one was computed with
 * `printf '%s' '{"object":"page"}' | openssl dgst -sha256 -hmac secret`. */
static const char body[] = "{\"object\":\"page\"}";
static const char good[] =
	"sha256=c1456f83e15385a03562cbe2eaaa918ec5e06b4f170f909283a2781c7924e4d1";

static void
test_format_matches_openssl(void **state)
{
	char out[MSGR_SIGNATURE_HEADER_LEN + 1];

	(void)state;
	assert_int_equal(msgr_signature_format("secret", body, strlen(body), out), MSGR_OK);
	assert_string_equal(out, good);
}

static void
test_verify(void **state)
{
	char upper[sizeof(good)];
	size_t i;

	(void)state;
	assert_int_equal(msgr_signature_verify("secret", body, strlen(body), good), MSGR_OK);
	/* hex case does not matter */
	memcpy(upper, good, sizeof(good));
	for (i = 7; upper[i]; i++)
		if (upper[i] >= 'a' && upper[i] <= 'f')
			upper[i] = (char)(upper[i] - 'a' + 'A');
	assert_int_equal(msgr_signature_verify("secret", body, strlen(body), upper), MSGR_OK);
	/* wrong secret, changed body, one byte more */
	assert_int_equal(msgr_signature_verify("secreT", body, strlen(body), good), MSGR_ERR_SIGNATURE);
	assert_int_equal(msgr_signature_verify("secret", body, strlen(body) - 1, good),
	    MSGR_ERR_SIGNATURE);
}

static void
test_verify_malformed(void **state)
{
	char bad[sizeof(good)];

	(void)state;
	assert_int_equal(msgr_signature_verify("secret", body, strlen(body), NULL), MSGR_ERR_SIGNATURE);
	assert_int_equal(msgr_signature_verify("secret", body, strlen(body), ""), MSGR_ERR_SIGNATURE);
	assert_int_equal(msgr_signature_verify("secret", body, strlen(body), "sha1=abc"),
	    MSGR_ERR_SIGNATURE);
	/* 63 and 65 hex digits */
	assert_int_equal(msgr_signature_verify("secret", body, strlen(body),
	    "sha256=c1456f83e15385a03562cbe2eaaa918ec5e06b4f170f909283a2781c7924e4d"), MSGR_ERR_SIGNATURE);
	assert_int_equal(msgr_signature_verify("secret", body, strlen(body),
	    "sha256=c1456f83e15385a03562cbe2eaaa918ec5e06b4f170f909283a2781c7924e4d10"), MSGR_ERR_SIGNATURE);
	/* a non-hex digit */
	memcpy(bad, good, sizeof(good));
	bad[10] = 'g';
	assert_int_equal(msgr_signature_verify("secret", body, strlen(body), bad), MSGR_ERR_SIGNATURE);
	/* no secret configured */
	assert_int_equal(msgr_signature_verify("", body, strlen(body), good), MSGR_ERR_INVALID);
}

static void
test_equal(void **state)
{
	(void)state;
	assert_true(msgr_signature_equal("token", "token"));
	assert_false(msgr_signature_equal("token", "tokem"));
	assert_false(msgr_signature_equal("token", "token2"));
	assert_false(msgr_signature_equal("token", "toke"));
	assert_false(msgr_signature_equal("token", ""));
	assert_false(msgr_signature_equal("token", NULL));
	assert_true(msgr_signature_equal("", ""));
}

static void
test_hmac_hex(void **state)
{
	char out[MSGR_SIGNATURE_HEX_LEN + 1];

	(void)state;
	assert_int_equal(msgr_signature_hmac_hex("secret", body, strlen(body), out), MSGR_OK);
	assert_string_equal(out, good + 7);
}

/* Each thread keeps one context and re-keys it at every call: a key must never stick to
 * it, on one thread or across several, and each thread's context is freed at its exit (the
 * sanitizer build's leak check). */
struct keyed {
	const char *key;
	char want[MSGR_SIGNATURE_HEX_LEN + 1];
	int wrong;
};

static void *
hmac_many(void *arg)
{
	struct keyed *k = arg;
	char out[MSGR_SIGNATURE_HEX_LEN + 1];
	int i;

	for (i = 0; i < 200; i++) {
		if (msgr_signature_hmac_hex(i % 2 ? k->key : "secret", body, strlen(body), out) !=
		    MSGR_OK || strcmp(out, i % 2 ? k->want : good + 7) != 0)
			k->wrong++;
	}
	return NULL;
}

static void
test_hmac_rekeyed(void **state)
{
	static const char *keys[] = { "k-one", "k-two", "a longer key of a third thread", "4" };
	struct keyed k[4];
	pthread_t th[4];
	char out[MSGR_SIGNATURE_HEX_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		k[i].key = keys[i];
		k[i].wrong = 0;
		assert_int_equal(msgr_signature_hmac_hex(keys[i], body, strlen(body), k[i].want),
		    MSGR_OK);
		assert_string_not_equal(k[i].want, good + 7);
	}
	assert_string_not_equal(k[0].want, k[1].want);
	/* The first key again on this thread, after others: its own MAC, not the last key's. */
	assert_int_equal(msgr_signature_hmac_hex("secret", body, strlen(body), out), MSGR_OK);
	assert_string_equal(out, good + 7);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hmac_many, &k[i]), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(k[i].wrong, 0);
	}
	assert_int_equal(msgr_signature_hmac_hex("", body, strlen(body), out), MSGR_ERR_INVALID);
}

/* Hex both ways, and the SHA-256 names of values that must not show. */
static void
test_hex(void **state)
{
	static const unsigned char bytes[] = { 0x00, 0x0f, 0xa5, 0xff };
	/* SHA-256("abc"), FIPS 180-2 */
	static const char abc[] =
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	char out[65];
	int c;

	(void)state;
	msgr_signature_hex(bytes, sizeof(bytes), out);
	assert_string_equal(out, "000fa5ff");
	msgr_signature_hex(bytes, 0, out);
	assert_string_equal(out, "");
	assert_int_equal(msgr_signature_sha256_hex("abc", 3, 32, out), MSGR_OK);
	assert_string_equal(out, abc);
	assert_int_equal(msgr_signature_sha256_hex("abc", 3, 8, out), MSGR_OK);
	assert_string_equal(out, "ba7816bf8f01cfea");
	assert_int_equal(msgr_signature_sha256_hex("abc", 3, 0, out), MSGR_ERR_INVALID);
	assert_string_equal(out, "");
	assert_int_equal(msgr_signature_sha256_hex("abc", 3, 33, out), MSGR_ERR_INVALID);
	for (c = 0; c < 256; c++) {
		int want = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		    c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		assert_int_equal(msgr_signature_hex_digit(c), want);
	}
	assert_int_equal(msgr_signature_hex_digit(-1), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_matches_openssl),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_verify_malformed),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_hmac_hex),
		cmocka_unit_test(test_hmac_rekeyed),
		cmocka_unit_test(test_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
