/* fold.c — text folding for trigger matching; the rules are in fold.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>
#include <uniwbrk.h>

#include "buf.h"
#include "fold.h"
#include "limits.h"

#define DOTLESS_I 0x0131u

/* Is uc part of a word's matchable content? Letters, numbers, and symbols except the
 * modifier symbols (Sk: spacing accents such as "^" and "¨", emoji skin tones), which are
 * dropped like the combining marks they stand for. */
static int
keep(ucs4_t uc)
{
	if (uc_is_general_category(uc, UC_CATEGORY_L) || uc_is_general_category(uc, UC_CATEGORY_N))
		return 1;
	return uc_is_general_category(uc, UC_CATEGORY_S) &&
	    !uc_is_general_category(uc, UC_CATEGORY_Sk);
}

/* Appends the kept characters of folded[0..n), one space between words, to b. */
static msgr_result
append_words(struct msgr_buf *b, const uint8_t *folded, size_t n)
{
	char *breaks;
	size_t i;
	int in_word = 0;
	msgr_result rc = MSGR_OK;

	if ((breaks = malloc(n + 1)) == NULL)
		return MSGR_ERR_NOMEM;
	u8_wordbreaks(folded, n, breaks);
	for (i = 0; i < n; ) {
		uint8_t enc[6];
		ucs4_t uc;
		int l = u8_mbtouc(&uc, folded + i, n - i), el;

		if (l <= 0) { /* cannot happen on checked input; never loop forever */
			rc = MSGR_ERR_INVALID;
			goto out;
		}
		i += (size_t)l;
		if (breaks[i - (size_t)l]) /* a new UAX #29 segment: a new word */
			in_word = 0;
		if (uc == DOTLESS_I) /* fold.h: the dot of Turkish i is treated as an accent */
			uc = 'i';
		if (!keep(uc))
			continue;
		if (!in_word && b->len > 0 && (rc = msgr_buf_append(b, " ", 1)) != MSGR_OK)
			goto out;
		in_word = 1;
		if ((el = u8_uctomb(enc, uc, (int)sizeof(enc))) <= 0) {
			rc = MSGR_ERR_INVALID;
			goto out;
		}
		if ((rc = msgr_buf_append(b, enc, (size_t)el)) != MSGR_OK)
			goto out;
	}
out:
	free(breaks);
	return rc;
}

msgr_result
msgr_fold_text(const char *s, size_t len, char **out, size_t *outlen)
{
	struct msgr_buf b;
	uint8_t *folded = NULL;
	size_t n = 0;
	msgr_result rc;

	msgr_buf_init(&b, MSGR_MAX_FOLDED_BYTES);
	if (out == NULL)
		return MSGR_ERR_INVALID;
	*out = NULL;
	if (outlen != NULL)
		*outlen = 0;
	if (s == NULL)
		return MSGR_ERR_INVALID;
	if (len > MSGR_MAX_TEXT_BYTES)
		return MSGR_ERR_TOOBIG;
	if (u8_check((const uint8_t *)s, len) != NULL)
		return MSGR_ERR_INVALID;
	/* an empty result is "", never NULL */
	if ((rc = msgr_buf_append(&b, "", 0)) != MSGR_OK)
		goto out;
	if (len > 0) {
		/* NFKD(toCasefold(NFKD(s))): accents split off as marks, compatibility forms
		 * plain (fold.h step 1). */
		folded = u8_casefold((const uint8_t *)s, len, NULL, UNINORM_NFKD, NULL, &n);
		if (folded == NULL) {
			rc = MSGR_ERR_NOMEM;
			goto out;
		}
		if (n > MSGR_MAX_FOLDED_BYTES) {
			rc = MSGR_ERR_TOOBIG;
			goto out;
		}
		if ((rc = append_words(&b, folded, n)) != MSGR_OK)
			goto out;
	}
	if (outlen != NULL)
		*outlen = b.len;
	*out = msgr_buf_steal(&b);
out:
	free(folded);
	msgr_buf_free(&b);
	return rc;
}

int
msgr_fold_contains(const char *haystack, const char *needle)
{
	size_t nl;
	const char *p;

	if (haystack == NULL || needle == NULL || (nl = strlen(needle)) == 0)
		return 0;
	for (p = haystack; (p = strstr(p, needle)) != NULL; p++) {
		/* Folded text has single spaces between words, so a whole-word occurrence is one
		 * with a space or an end on both sides. */
		if ((p == haystack || p[-1] == ' ') && (p[nl] == '\0' || p[nl] == ' '))
			return 1;
	}
	return 0;
}
