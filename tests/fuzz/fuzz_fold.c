/* fuzz_fold — libFuzzer target for trigger folding and matching (lib/fold.h).
 *
 * The input is a user's message and a trigger: split at the first 0xff byte (never valid
 * UTF-8, so it cannot be part of either), or at the middle when there is none. Both are
 * folded whole (the message as it came, bounded by MSGR_MAX_TEXT_BYTES like the event text
 * the bot sees). Invariants:
 *   - msgr_fold_text answers MSGR_OK exactly for valid UTF-8 (libunistring's u8_check), within
 *     the bounds; on failure *out is NULL;
 *   - a folded text is valid UTF-8 of *outlen bytes with no NUL, no leading, trailing or
 *     double space, and folding is deterministic;
 *   - msgr_fold_contains agrees with a plain word-sequence search over the folded texts, every
 *     word of a folded text is found in it, a folded text contains itself;
 *   - msgr_fold_contains on the raw halves (not folded, any bytes) never crashes.
 * A broken invariant aborts, which libFuzzer (and tests/fuzz/driver.c) report as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistr.h>

#include "fold.h"
#include "limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_fold: invariant failed at line %d: %s\n", __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* Folds s[0..len) and checks the result; returns it (malloc'd) or NULL when refused. */
static char *
fold(const char *s, size_t len)
{
	char *out = (char *)1, *again = NULL;
	size_t outlen = 12345, len2 = 0, i;
	msgr_result rc, rc2;

	rc = msgr_fold_text(s, len, &out, &outlen);
	CHECK(rc == MSGR_OK || rc == MSGR_ERR_INVALID || rc == MSGR_ERR_TOOBIG ||
	    rc == MSGR_ERR_NOMEM);
	if (len > MSGR_MAX_TEXT_BYTES)
		CHECK(rc == MSGR_ERR_TOOBIG);
	else if (u8_check((const uint8_t *)s, len) != NULL)
		CHECK(rc == MSGR_ERR_INVALID);
	else
		CHECK(rc != MSGR_ERR_INVALID);
	if (rc != MSGR_OK) {
		CHECK(out == NULL && outlen == 0);
		return NULL;
	}
	CHECK(out != NULL);
	CHECK(strlen(out) == outlen);
	CHECK(outlen <= MSGR_MAX_FOLDED_BYTES);
	CHECK(u8_check((const uint8_t *)out, outlen) == NULL);
	if (outlen > 0)
		CHECK(out[0] != ' ' && out[outlen - 1] != ' ');
	CHECK(strstr(out, "  ") == NULL);
	for (i = 0; i < outlen; i++)
		CHECK(out[i] != '\t' && out[i] != '\n' && out[i] != '\r');

	rc2 = msgr_fold_text(s, len, &again, &len2);
	if (rc2 != MSGR_ERR_NOMEM) {
		CHECK(rc2 == MSGR_OK && len2 == outlen && memcmp(out, again, outlen + 1) == 0);
		free(again);
	}
	CHECK(msgr_fold_text(s, len, &again, NULL) != MSGR_ERR_INVALID);
	free(again);
	return out;
}

/* The reference: is the word sequence of needle a run of the words of hay? Both are folded
 * texts (words separated by single spaces). */
static int
words_contain(const char *hay, const char *needle)
{
	size_t nl = strlen(needle);
	const char *w;

	if (nl == 0)
		return 0;
	for (w = hay; *w != '\0'; ) {
		if (strncmp(w, needle, nl) == 0 && (w[nl] == '\0' || w[nl] == ' '))
			return 1;
		if ((w = strchr(w, ' ')) == NULL)
			break;
		w++;
	}
	return 0;
}

static void
check_contains(const char *hay, const char *needle)
{
	const char *w, *sp;
	char word[512];
	size_t wl;

	CHECK(msgr_fold_contains(hay, needle) == words_contain(hay, needle));
	if (*hay != '\0')
		CHECK(msgr_fold_contains(hay, hay) == 1);
	CHECK(msgr_fold_contains(hay, "") == 0);
	for (w = hay; *w != '\0'; w = *sp ? sp + 1 : sp) {
		sp = strchr(w, ' ');
		if (sp == NULL)
			sp = w + strlen(w);
		wl = (size_t)(sp - w);
		CHECK(wl > 0);
		if (wl < sizeof(word)) {
			memcpy(word, w, wl);
			word[wl] = '\0';
			CHECK(msgr_fold_contains(hay, word) == 1);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *cut;
	char *a = NULL, *b = NULL, *fa, *fb;
	size_t la, lb;

	cut = memchr(data, 0xff, size);
	la = cut != NULL ? (size_t)(cut - data) : size / 2;
	lb = size - la - (cut != NULL);
	a = malloc(la + 1);
	b = malloc(lb + 1);
	if (a == NULL || b == NULL)
		goto out;
	memcpy(a, data, la);
	a[la] = '\0';
	memcpy(b, data + size - lb, lb);
	b[lb] = '\0';

	/* the raw halves: any bytes, stopped at their first NUL */
	(void)msgr_fold_contains(a, b);
	(void)msgr_fold_contains(b, a);
	CHECK(msgr_fold_contains(NULL, a) == 0 && msgr_fold_contains(a, NULL) == 0);

	fa = fold(a, la);
	fb = fold(b, lb);
	if (fa != NULL)
		check_contains(fa, fb != NULL ? fb : "");
	if (fb != NULL)
		check_contains(fb, fa != NULL ? fa : "");
	if (fa != NULL && fb != NULL && *fb != '\0' && msgr_fold_contains(fa, fb))
		CHECK(strstr(fa, fb) != NULL);
	free(fa);
	free(fb);
	/* the whole input folded as one message */
	free(fold((const char *)data, size));
out:
	free(a);
	free(b);
	return 0;
}
