/* fold.h — text folding for matching story triggers (docs/stories.md "How text is
 * compared": case and accents ignored).
 *
 * A trigger and a user's message are both folded, then compared as sequences of words. All
 * the Unicode comes from libunistring, never from tables of our own:
 *   1. u8_casefold with UNINORM_NFKD: full Unicode case folding ("ß" -> "ss", "Σ"/"ς" ->
 *      "σ") and compatibility decomposition, so accents become separate combining marks and
 *      compatibility forms fold to their plain letters: full-width "ＨＥＬＬＯ" -> "hello",
 *      the ligature "ﬁ" -> "fi", "²" -> "2". NFKD rather than NFD because people type
 *      full-width Latin on East Asian keyboards and mean the plain word.
 *   2. u8_wordbreaks (Unicode word boundaries, UAX #29) cuts the text into words. Inside a
 *      word only letters (L), numbers (N) and symbols other than modifiers (S but not Sk:
 *      so emoji stay matchable, while a skin-tone modifier is dropped like an accent) are
 *      kept; combining marks (M: the accents set apart in step 1, emoji variation
 *      selectors), punctuation, spaces and controls are dropped. So "don't" is the one word
 *      "dont", "e-mail" is the two words "e mail", "3.14" is "314".
 *   3. Words are joined with one space. Scripts written without spaces (Chinese, Japanese,
 *      Thai) come out of UAX #29 as one word per character or cluster, so a trigger written
 *      in them matches the same characters in sequence anywhere in the text.
 * One deliberate exception: U+0131 (Turkish dotless ı) is folded to "i". Language-neutral
 * case folding maps "I" to "i" and "İ" to "i" + a combining dot (dropped in step 2), but
 * leaves "ı" alone, so without this "DIŞ" (capital of "dış") would fold to "dis" and never
 * match "dış". Treating the dot as an accent keeps "case and accents ignored" true for
 * Turkish; the cost is that words told apart only by ı / i ("kır" / "kir") match each
 * other.
 *
 * Text that is not valid UTF-8 is refused, never guessed at. */
#ifndef MSGR_FOLD_H
#define MSGR_FOLD_H

#include <stddef.h>
#include "result.h"

/* Folds s[0..len) (UTF-8, at most MSGR_MAX_TEXT_BYTES bytes; NUL bytes count as
 * separators) into *out: a malloc'd NUL-terminated string of the folded words separated by
 * single spaces, with no leading or trailing space; "" when the text holds no word (only
 * punctuation or spaces). *outlen (when not NULL) gets its length.
 * MSGR_OK; MSGR_ERR_INVALID (s NULL, or not valid UTF-8); MSGR_ERR_TOOBIG (len over
 * MSGR_MAX_TEXT_BYTES, or a result over MSGR_MAX_FOLDED_BYTES); MSGR_ERR_NOMEM. On failure
 * *out is NULL. */
msgr_result msgr_fold_text(const char *s, size_t len, char **out, size_t *outlen);

/* 1 when the folded phrase `needle` (from msgr_fold_text, not empty) occurs in the folded
 * text `haystack` as whole words: "hi" is found in "oh hi there" but not in "this";
 * "good morning" is found in "well good morning to you". 0 otherwise. */
int msgr_fold_contains(const char *haystack, const char *needle);

#endif
