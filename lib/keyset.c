/* keyset.c — a set of short strings (lib/keyset.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyset.h"

/* A removed key's slot: probing goes on past it, an add may reuse it. */
static char tombstone;
#define GONE (&tombstone)

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
	size_t i;

	for (i = 0; i < s->cap; i++)
		if (s->slot[i] != NULL && s->slot[i] != GONE)
			free(s->slot[i]);
	free(s->slot);
	msgr_keyset_init(s);
}

/* The slot holding k, or (size_t)-1. */
static size_t
find(const struct msgr_keyset *s, const char *k)
{
	size_t mask = s->cap - 1, i;

	if (s->cap == 0)
		return (size_t)-1;
	for (i = msgr_keyset_hash(k) & mask; s->slot[i] != NULL; i = (i + 1) & mask)
		if (s->slot[i] != GONE && strcmp(s->slot[i], k) == 0)
			return i;
	return (size_t)-1;
}

int
msgr_keyset_has(const struct msgr_keyset *s, const char *k)
{
	return find(s, k) != (size_t)-1;
}

/* Rebuilds the table with cap slots, dropping the tombstones. */
static msgr_result
resize(struct msgr_keyset *s, size_t cap)
{
	char **slot = calloc(cap, sizeof(*slot));
	size_t i, j;

	if (slot == NULL)
		return MSGR_ERR_NOMEM;
	for (i = 0; i < s->cap; i++) {
		if (s->slot[i] == NULL || s->slot[i] == GONE)
			continue;
		j = msgr_keyset_hash(s->slot[i]) & (cap - 1);
		while (slot[j] != NULL)
			j = (j + 1) & (cap - 1);
		slot[j] = s->slot[i];
	}
	free(s->slot);
	s->slot = slot;
	s->cap = cap;
	s->used = s->n;
	return MSGR_OK;
}

msgr_result
msgr_keyset_add(struct msgr_keyset *s, const char *k)
{
	size_t mask, i, cap;
	char *copy;

	if (msgr_keyset_has(s, k))
		return MSGR_OK;
	/* At most half full, tombstones counted, so a probe meets an empty slot soon. */
	if ((s->used + 1) * 2 > s->cap) {
		cap = s->cap == 0 ? 64 : (s->n + 1) * 2 > s->cap / 2 ? s->cap * 2 : s->cap;
		if (cap > SIZE_MAX / 4 / sizeof(char *) || resize(s, cap) != MSGR_OK)
			return MSGR_ERR_NOMEM;
	}
	if ((copy = strdup(k)) == NULL)
		return MSGR_ERR_NOMEM;
	mask = s->cap - 1;
	i = msgr_keyset_hash(k) & mask;
	while (s->slot[i] != NULL && s->slot[i] != GONE)
		i = (i + 1) & mask;
	if (s->slot[i] == NULL)
		s->used++;
	s->slot[i] = copy;
	s->n++;
	return MSGR_OK;
}

void
msgr_keyset_del(struct msgr_keyset *s, const char *k)
{
	size_t i = find(s, k);

	if (i == (size_t)-1)
		return;
	free(s->slot[i]);
	s->slot[i] = GONE;
	s->n--;
}
