/* holder.h — "is the handle that took this claim still there?" for the SQLite store, answered
 * by the kernel (docs/store.md "Claim").
 *
 * Each writable store handle opens a file beside the database (DB-claims) and keeps a shared
 * lock on one byte of it, at an offset drawn at random; a claim records that offset. The lock
 * is an open file description lock (F_OFD_SETLK): it belongs to the handle, not to the
 * process, so several handles of one process (threads) do not release each other's when one
 * closes, and the kernel drops it the moment the handle closes or its process dies, however
 * it dies. Another handle asks F_OFD_GETLK whether anyone still holds a claim's byte: nobody
 * means the claim's holder is gone and the conversation may be taken over at once, without
 * waiting for the lease. Where OFD locks are missing (not Linux, an old kernel, a filesystem
 * without them) no lock is taken and every claim counts as alive: the lease alone bounds it,
 * as before. */
#ifndef MSGR_HOLDER_H
#define MSGR_HOLDER_H

#include "result.h"

struct msgr_holder {
	int fd;                   /* the claims file; -1 when there is none */
	long long off;            /* the byte this handle holds; 0 when it holds none */
};

/* Opens the claims file of the database at db_path (created when missing with the database
 * file's permission bits, so every user sharing the database takes part) and locks a byte
 * of it drawn from seed. A failure is never fatal: h->off stays 0 (claims are then bounded
 * by their lease only) and MSGR_ERR_IO says so, errno why. MSGR_OK, MSGR_ERR_IO,
 * MSGR_ERR_NOMEM. */
msgr_result msgr_holder_open(struct msgr_holder *h, const char *db_path,
    unsigned long long seed);
/* Closes the file, which ends this handle's lock. h may be zeroed or closed already. */
void msgr_holder_close(struct msgr_holder *h);
/* 1 when the handle that recorded lock is alive (or it cannot be known: 0 recorded, no file,
 * the question failed), 0 when nobody holds it any more. */
int msgr_holder_alive(const struct msgr_holder *h, long long lock);

#endif
