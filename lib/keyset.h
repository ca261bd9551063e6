/* keyset.h — a set of event dedup keys, each kept as a 16-byte digest.
 *
 * The host committer's store handle keeps in one the keys of the events it has put in the
 * inbox and not yet moved to the queue (docs/store.md "Inbox"), so a redelivery is found
 * without an index on the inbox. A key is held as the first 16 bytes of its SHA-256, inline
 * in one table (no allocation per key): 17 bytes a slot, at most half the slots in use, so a
 * burst of 100,000 waiting events costs about 4.5 MB, given back once the set is empty. Two
 * keys share a digest with odds of about n^2 / 2^129: none in the life of any store. Open
 * addressing with linear probing; a removed key leaves a tombstone until the table is
 * rebuilt. Not thread-safe: one owner. */
#ifndef MSGR_KEYSET_H
#define MSGR_KEYSET_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"

#define MSGR_KEYSET_DIGEST 16

struct msgr_keyset {
	unsigned char (*dig)[MSGR_KEYSET_DIGEST];
	unsigned char *state;   /* per slot: empty, in use, or removed */
	size_t cap;             /* slots: a power of two, or 0 before the first add */
	size_t n;               /* keys */
	size_t used;            /* keys and tombstones */
};

/* A zeroed struct is an empty set, as msgr_keyset_init leaves it. */
void msgr_keyset_init(struct msgr_keyset *s);
/* Frees the table; the set is empty and usable again. */
void msgr_keyset_clear(struct msgr_keyset *s);
/* 1 when k is in the set. */
int msgr_keyset_has(const struct msgr_keyset *s, const char *k);
/* Adds k (already there: MSGR_OK, nothing changes). MSGR_OK or MSGR_ERR_NOMEM (the set is
 * unchanged then). */
msgr_result msgr_keyset_add(struct msgr_keyset *s, const char *k);
/* Removes k if it is there; the table is freed when the set becomes empty. */
void msgr_keyset_del(struct msgr_keyset *s, const char *k);

/* An FNV-1a hash of a key, for a table of keys of one's own (commit.c's, within a group). */
uint32_t msgr_keyset_hash(const char *k);

#endif
