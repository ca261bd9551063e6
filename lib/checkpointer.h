/* checkpointer.h — a thread that copies a SQLite store's WAL into its database, every
 * MSGR_CHECKPOINT_EVERY_MS, on a store handle of its own.
 *
 * A commit that crosses SQLite's auto-checkpoint threshold runs the checkpoint itself, with
 * the fsync of the database file, while its writers wait. A writer that opens its handle with
 * checkpoint_apart (lib/store.h) leaves that to this thread instead: a PASSIVE checkpoint
 * takes no lock a commit waits for, so it runs beside the writers, on another core. The host
 * committer (lib/hostcommit.h) and the threads of `msgrctl drain` and `msgrctl worker`
 * (docs/worker.md "Threads") each run one. */
#ifndef MSGR_CHECKPOINTER_H
#define MSGR_CHECKPOINTER_H

#include "result.h"
#include "store.h"

/* Often enough that the WAL stays a few MB under full load, seldom enough to cost nothing
 * when idle. */
#define MSGR_CHECKPOINT_EVERY_MS 100

struct msgr_checkpointer;

/* Starts the thread, named name (for top -H, ps -L and perf; at most 15 bytes), with every
 * signal blocked. It opens its handle with *opt (copied; the strings it points to are
 * borrowed until msgr_checkpointer_stop) when it first checkpoints, and again after a
 * failure (the file may have been replaced). MSGR_OK, MSGR_ERR_NOMEM (no memory or no
 * thread). */
msgr_result msgr_checkpointer_start(const struct msgr_store_options *opt, const char *name,
    struct msgr_checkpointer **out);
/* Stops the thread (within one checkpoint), waits for it and frees c. c may be NULL. */
void msgr_checkpointer_stop(struct msgr_checkpointer *c);

#endif
