/* Unit tests: text folding for trigger matching (lib/fold.h). */
#include "unit.h"
#include "fold.h"
#include "limits.h"

/* Folds s and checks the result is want. */
static void
expect_fold(const char *s, const char *want)
{
	char *out = NULL;
	size_t n = 99;

	assert_int_equal(msgr_fold_text(s, strlen(s), &out, &n), MSGR_OK);
	assert_non_null(out);
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
	free(out);
}

static void
test_case(void **state)
{
	(void)state;
	expect_fold("hello", "hello");
	expect_fold("HELLO", "hello");
	expect_fold("HeLLo", "hello");
	/* full-width Latin (compatibility decomposition, NFKD) */
	expect_fold("\xef\xbc\xa8\xef\xbc\xa5\xef\xbc\xac\xef\xbc\xac\xef\xbc\xaf", "hello");
	/* Greek: final and medial sigma fold alike */
	expect_fold("\xce\x9f\xce\x94\xce\x9f\xce\xa3", "\xce\xbf\xce\xb4\xce\xbf\xcf\x83");
	expect_fold("\xce\xbf\xce\xb4\xcf\x8c\xcf\x82", "\xce\xbf\xce\xb4\xce\xbf\xcf\x83");
	/* Cyrillic */
	expect_fold("\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2",
	    "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
}

static void
test_accents(void **state)
{
	(void)state;
	expect_fold("H\xc3\xa9llo", "hello");                 /* é precomposed */
	expect_fold("He\xcc\x81llo", "hello");                /* e + U+0301 */
	expect_fold("\xc3\x89\x43OLE", "ecole");              /* É */
	expect_fold("gar\xc3\xa7on na\xc3\xafve", "garcon naive");
	/* several marks on one letter: ệ = e + U+0323 + U+0302, in either order */
	expect_fold("\xe1\xbb\x87", "e");
	expect_fold("e\xcc\x82\xcc\xa3", "e");
	expect_fold("e\xcc\xa3\xcc\x82", "e");
	/* Vietnamese greeting */
	expect_fold("Xin ch\xc3\xa0o", "xin chao");
}

static void
test_german_sharp_s(void **state)
{
	(void)state;
	expect_fold("Stra\xc3\x9f" "e", "strasse");
	expect_fold("STRASSE", "strasse");
	expect_fold("\xe1\xba\x9e", "ss");                    /* capital ẞ */
	expect_fold("Gr\xc3\xbc\xc3\x9f" "e", "grusse");
}

/* fold.h: language-neutral folding plus ı -> i, so the dot is treated like an accent. */
static void
test_turkish_i(void **state)
{
	(void)state;
	expect_fold("\xc4\xb0stanbul", "istanbul");          /* İ */
	expect_fold("ISTANBUL", "istanbul");
	expect_fold("d\xc4\xb1\xc5\x9f", "dis");             /* dış */
	expect_fold("DI\xc5\x9e", "dis");                     /* DIŞ */
	expect_fold("k\xc4\xb1r", "kir");                     /* the documented cost */
}

static void
test_words_and_punctuation(void **state)
{
	(void)state;
	expect_fold("  Good   morning!! ", "good morning");
	expect_fold("Good\tmorning\n\n", "good morning");
	expect_fold("hello,world", "hello world");
	expect_fold("e-mail", "e mail");
	expect_fold("don't", "dont");
	expect_fold("\xc2\xbf" "Qu\xc3\xa9 tal?", "que tal");   /* ¿Qué tal? */
	expect_fold("", "");
	expect_fold("!!! ... ???", "");
	expect_fold("\xef\xac\x81ne x\xc2\xb2", "fine x2");   /* ﬁ ligature, superscript two */
}

static void
test_scripts_without_spaces(void **state)
{
	(void)state;
	/* 你好世界: one word per ideograph, so a trigger 你好 is found as a phrase */
	expect_fold("\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c",
	    "\xe4\xbd\xa0 \xe5\xa5\xbd \xe4\xb8\x96 \xe7\x95\x8c");
}

static void
test_emoji(void **state)
{
	(void)state;
	expect_fold("\xf0\x9f\x91\x8d", "\xf0\x9f\x91\x8d");                  /* 👍 */
	expect_fold("\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", "\xf0\x9f\x91\x8d");  /* 👍🏽: tone dropped */
	expect_fold("\xe2\x9d\xa4\xef\xb8\x8f", "\xe2\x9d\xa4");              /* ❤️: VS16 dropped */
}

static void
test_nul_is_a_separator(void **state)
{
	char *out = NULL;

	(void)state;
	assert_int_equal(msgr_fold_text("ab\0cd", 5, &out, NULL), MSGR_OK);
	assert_string_equal(out, "ab cd");
	free(out);
}

static void
test_invalid_utf8(void **state)
{
	static const char *const bad[] = {
		"\xc3\x28",          /* bad continuation */
		"\xc0\xaf",          /* overlong '/' */
		"\xed\xa0\x80",      /* a surrogate */
		"\xe2\x82",          /* truncated */
		"\xf4\x90\x80\x80",  /* above U+10FFFF */
		"ok \xff",
	};
	char *out = (char *)1;
	size_t i, n = 7;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(msgr_fold_text(bad[i], strlen(bad[i]), &out, &n), MSGR_ERR_INVALID);
		assert_null(out);
		assert_int_equal(n, 0);
	}
	assert_int_equal(msgr_fold_text(NULL, 0, &out, NULL), MSGR_ERR_INVALID);
	assert_int_equal(msgr_fold_text("x", 1, NULL, NULL), MSGR_ERR_INVALID);
}

static void
test_bounds(void **state)
{
	char *s, *out = NULL;
	size_t i, n = 0;

	(void)state;
	/* exactly MSGR_MAX_TEXT_BYTES folds; one byte more is refused */
	s = malloc(MSGR_MAX_TEXT_BYTES + 2);
	assert_non_null(s);
	for (i = 0; i < MSGR_MAX_TEXT_BYTES + 1; i++)
		s[i] = (i % 2) ? ' ' : 'A';
	s[MSGR_MAX_TEXT_BYTES + 1] = '\0';
	assert_int_equal(msgr_fold_text(s, MSGR_MAX_TEXT_BYTES, &out, &n), MSGR_OK);
	assert_int_equal(n, MSGR_MAX_TEXT_BYTES - 1); /* "a a ... a" without the last space */
	assert_int_equal(out[0], 'a');
	free(out);
	out = NULL;
	assert_int_equal(msgr_fold_text(s, MSGR_MAX_TEXT_BYTES + 1, &out, &n), MSGR_ERR_TOOBIG);
	assert_null(out);
	/* U+FDFA decomposes (NFKD) to 18 characters: a text that fits grows past the bound */
	for (i = 0; i + 3 <= MSGR_MAX_TEXT_BYTES; i += 3)
		memcpy(s + i, "\xef\xb7\xba", 3);
	assert_int_equal(msgr_fold_text(s, i, &out, &n), MSGR_ERR_TOOBIG);
	assert_null(out);
	/* a few of them fold fine */
	assert_int_equal(msgr_fold_text(s, 30, &out, &n), MSGR_OK);
	assert_true(n > 30);
	free(out);
	free(s);
}

static void
test_contains(void **state)
{
	(void)state;
	assert_true(msgr_fold_contains("oh hi there", "hi"));
	assert_true(msgr_fold_contains("hi", "hi"));
	assert_true(msgr_fold_contains("hi there", "hi"));
	assert_true(msgr_fold_contains("oh hi", "hi"));
	assert_false(msgr_fold_contains("this", "hi"));
	assert_false(msgr_fold_contains("hint", "hi"));
	assert_false(msgr_fold_contains("oh chi", "hi"));
	assert_true(msgr_fold_contains("this hi", "hi"));     /* first occurrence fails, second fits */
	assert_true(msgr_fold_contains("well good morning to you", "good morning"));
	assert_false(msgr_fold_contains("good mornings", "good morning"));
	assert_false(msgr_fold_contains("morning good", "good morning"));
	assert_false(msgr_fold_contains("anything", ""));
	assert_false(msgr_fold_contains(NULL, "x"));
	assert_false(msgr_fold_contains("x", NULL));
}

/* Both sides folded, as the stories bot does it. */
static int
fold_match(const char *text, const char *trigger)
{
	char *t = NULL, *p = NULL;
	int r;

	assert_int_equal(msgr_fold_text(text, strlen(text), &t, NULL), MSGR_OK);
	assert_int_equal(msgr_fold_text(trigger, strlen(trigger), &p, NULL), MSGR_OK);
	r = msgr_fold_contains(t, p);
	free(t);
	free(p);
	return r;
}

static void
test_fold_then_match(void **state)
{
	(void)state;
	assert_true(fold_match("H\xc3\xa9llo there", "hello"));
	assert_true(fold_match("HELLO!", "h\xc3\xa9llo"));
	assert_true(fold_match("Good   morning!", "good morning"));
	assert_true(fold_match("GOOD-MORNING", "Good morning"));
	assert_false(fold_match("this is it", "hi"));
	assert_true(fold_match("Wo ist die Stra\xc3\x9f" "e?", "strasse"));
	assert_true(fold_match("\xe6\x88\x91\xe8\xaf\xb4\xe4\xbd\xa0\xe5\xa5\xbd\xe5\x95\x8a",
	    "\xe4\xbd\xa0\xe5\xa5\xbd"));                      /* 我说你好啊 contains 你好 */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_case),
		cmocka_unit_test(test_accents),
		cmocka_unit_test(test_german_sharp_s),
		cmocka_unit_test(test_turkish_i),
		cmocka_unit_test(test_words_and_punctuation),
		cmocka_unit_test(test_scripts_without_spaces),
		cmocka_unit_test(test_emoji),
		cmocka_unit_test(test_nul_is_a_separator),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_fold_then_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
