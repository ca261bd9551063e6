/* keyset.h — a set of short strings (event dedup keys), each an owned copy.
 *
 * The host committer's store handle keeps in one the keys of the events it has put in the
 * inbox and not yet moved to the queue (docs/store.md "Inbox"), so a redelivery is found
 * without an index on the inbox. Open addressing with linear probing; a removed key leaves a
 * tombstone until the table is rebuilt. Not thread-safe: one owner. */
#ifndef MSGR_KEYSET_H
#define MSGR_KEYSET_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"

struct msgr_keyset {
	char **slot;      /* NULL: empty; the tombstone marker; or a key */
	size_t cap;       /* a power of two, or 0 before the first add */
	size_t n;         /* keys */
	size_t used;      /* keys and tombstones */
};

/* A zeroed struct is an empty set, as msgr_keyset_init leaves it. */
void msgr_keyset_init(struct msgr_keyset *s);
/* Frees every key and the table; the set is empty and usable again. */
void msgr_keyset_clear(struct msgr_keyset *s);
/* 1 when k is in the set. */
int msgr_keyset_has(const struct msgr_keyset *s, const char *k);
/* Adds a copy of k (already there: MSGR_OK, nothing changes). MSGR_OK or MSGR_ERR_NOMEM
 * (the set is unchanged then). */
msgr_result msgr_keyset_add(struct msgr_keyset *s, const char *k);
/* Removes k if it is there. */
void msgr_keyset_del(struct msgr_keyset *s, const char *k);

/* The set's hash of a key (FNV-1a), for a table of one's own (commit.c's within a group). */
uint32_t msgr_keyset_hash(const char *k);

#endif
