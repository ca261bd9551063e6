/* keyset.c — a set of dedup keys, kept as digests (lib/keyset.h). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "keyset.h"
#include "signature.h"

enum { EMPTY = 0, FULL = 1, GONE = 2 };   /* a slot's state; GONE: removed, probing goes on */

uint32_t
msgr_keyset_hash(const char *s)
{
	uint32_t h = 2166136261u;   /* FNV-1a */

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

void
msgr_keyset_init(struct msgr_keyset *s)
{
	memset(s, 0, sizeof(*s));
}

void
msgr_keyset_clear(struct msgr_keyset *s)
{
	free(s->dig);
	free(s->state);
	msgr_keyset_init(s);
}

/* The first MSGR_KEYSET_DIGEST bytes of SHA-256(k). 0, or -1 when OpenSSL fails. */
static int
digest(const char *k, unsigned char d[MSGR_KEYSET_DIGEST])
{
	const EVP_MD *sha256 = msgr_signature_md_sha256();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (sha256 == NULL || EVP_Digest(k, strlen(k), md, &len, sha256, NULL) != 1 ||
	    len < MSGR_KEYSET_DIGEST)
		return -1;
	memcpy(d, md, MSGR_KEYSET_DIGEST);
	return 0;
}

/* Where a digest's probe starts: its bytes are uniform already. */
static size_t
home(const unsigned char *d, size_t mask)
{
	size_t h;

	memcpy(&h, d, sizeof(h));
	return h & mask;
}

/* The slot holding digest d, or (size_t)-1. */
static size_t
find(const struct msgr_keyset *s, const unsigned char *d)
{
	size_t mask = s->cap - 1, i;

	if (s->cap == 0)
		return (size_t)-1;
	for (i = home(d, mask); s->state[i] != EMPTY; i = (i + 1) & mask)
		if (s->state[i] == FULL && memcmp(s->dig[i], d, MSGR_KEYSET_DIGEST) == 0)
			return i;
	return (size_t)-1;
}

int
msgr_keyset_has(const struct msgr_keyset *s, const char *k)
{
	unsigned char d[MSGR_KEYSET_DIGEST];

	/* Without a digest nothing can be told apart: "not there" stores the event, and the
	 * move drops a second copy by its key. */
	if (s->n == 0 || digest(k, d) != 0)
		return 0;
	return find(s, d) != (size_t)-1;
}

/* Rebuilds the table with cap slots, dropping the tombstones. */
static msgr_result
resize(struct msgr_keyset *s, size_t cap)
{
	unsigned char (*dig)[MSGR_KEYSET_DIGEST] = calloc(cap, sizeof(*dig));
	unsigned char *state = calloc(cap, 1);
	size_t i, j;

	if (dig == NULL || state == NULL) {
		free(dig);
		free(state);
		return MSGR_ERR_NOMEM;
	}
	for (i = 0; i < s->cap; i++) {
		if (s->state[i] != FULL)
			continue;
		j = home(s->dig[i], cap - 1);
		while (state[j] != EMPTY)
			j = (j + 1) & (cap - 1);
		memcpy(dig[j], s->dig[i], MSGR_KEYSET_DIGEST);
		state[j] = FULL;
	}
	free(s->dig);
	free(s->state);
	s->dig = dig;
	s->state = state;
	s->cap = cap;
	s->used = s->n;
	return MSGR_OK;
}

msgr_result
msgr_keyset_add(struct msgr_keyset *s, const char *k)
{
	unsigned char d[MSGR_KEYSET_DIGEST];
	size_t mask, i, cap;

	if (digest(k, d) != 0)
		return MSGR_ERR_NOMEM;
	if (find(s, d) != (size_t)-1)
		return MSGR_OK;
	/* At most half full, tombstones counted, so a probe meets an empty slot soon. */
	if ((s->used + 1) * 2 > s->cap) {
		cap = s->cap == 0 ? 64 : (s->n + 1) * 2 > s->cap / 2 ? s->cap * 2 : s->cap;
		if (cap > SIZE_MAX / 2 / MSGR_KEYSET_DIGEST || resize(s, cap) != MSGR_OK)
			return MSGR_ERR_NOMEM;
	}
	mask = s->cap - 1;
	i = home(d, mask);
	while (s->state[i] == FULL)
		i = (i + 1) & mask;
	if (s->state[i] == EMPTY)
		s->used++;
	memcpy(s->dig[i], d, MSGR_KEYSET_DIGEST);
	s->state[i] = FULL;
	s->n++;
	return MSGR_OK;
}

void
msgr_keyset_del(struct msgr_keyset *s, const char *k)
{
	unsigned char d[MSGR_KEYSET_DIGEST];
	size_t i;

	if (s->n == 0 || digest(k, d) != 0 || (i = find(s, d)) == (size_t)-1)
		return;
	s->state[i] = GONE;
	s->n--;
	/* Emptied by removals: give the table back rather than keep a burst's size. */
	if (s->n == 0)
		msgr_keyset_clear(s);
}
