/* commit.h — group commit: the events of requests that arrive together, stored in one
 * transaction (docs/responder.md "Threads and group commit"; the figures that make it worth
 * having are in docs/benchmarks.md).
 *
 * Each request thread hands its rows to msgr_commit_submit and waits. The first thread to
 * find no commit running becomes the leader: it takes every batch queued so far, stores them
 * all with ONE msgr_store_enqueue on the one store handle this queue owns, gives each batch
 * the result, wakes the others and returns; a waiting thread whose batch is still queued then
 * leads the next group. So a process pays one fsync for many requests, and no request is
 * answered 200 before the transaction holding its events has committed.
 *
 * All or nothing per group: a group that fails BUSY or STORE fails every batch in it (each
 * is answered 503, Facebook retries), and the batches that queued up behind it meanwhile get
 * the same answer at once rather than a second busy timeout (Facebook waits for an answer
 * only about 5 s before it counts the delivery as failed). A fault that belongs to one batch's content (MSGR_ERR_INVALID, TOOBIG) makes
 * the leader store the group's batches one by one so only that batch fails.
 *
 * With one thread it is a plain enqueue with an uncontended mutex; plain CGI uses it too. */
#ifndef MSGR_COMMIT_H
#define MSGR_COMMIT_H

#include <stddef.h>

#include "result.h"
#include "store.h"

struct msgr_commit;

struct msgr_commit_batch {
	/* in: borrowed until msgr_commit_submit returns */
	const struct msgr_store_event *ev;
	size_t n;
	const struct msgr_store_quarantine *q;
	size_t nq;
	/* out */
	msgr_result rc;            /* MSGR_OK: stored (durable per state.sync) */
	int unavailable;           /* the store could not be opened (rc MSGR_ERR_STORE) */
	size_t group;              /* batches committed in the same transaction, this one included */
	size_t n_new, n_dup;       /* this batch's new and already-stored events; when
	                              counts_exact is 0, the whole group's (see commit.c) */
	int counts_exact;
	/* the group's chain: commit.c's, and a relay's to walk */
	struct msgr_commit_batch *next;
	int done;                  /* private to commit.c */
};

/* Where msgr_commit_submit hands a thread's batch before this queue's store: the host's
 * committer (hostcommit.h). It gets the n batches group, group->next, ... (n is 1 here);
 * MSGR_OK means every batch's out fields are set; any other result means nothing was
 * relayed and the batch takes the queue (whose leader stores its group itself). Called by
 * many threads at once. */
typedef msgr_result (*msgr_commit_relay_fn)(void *arg, struct msgr_commit_batch *group,
    size_t n);

/* A queue storing into opt->path (opt is copied; its errbuf is not used). The store is
 * opened on first use (or by msgr_commit_prepare) and reopened after a failure.
 * MSGR_OK, MSGR_ERR_NOMEM, MSGR_ERR_INVALID. */
msgr_result msgr_commit_open(const struct msgr_store_options *opt, struct msgr_commit **out);
/* Closes the store handle; no submit may be running. NULL is fine. */
void msgr_commit_close(struct msgr_commit *c);

/* Opens the store now if it is not open (logged when it cannot be). MSGR_OK or the open's
 * error. */
msgr_result msgr_commit_prepare(struct msgr_commit *c);

/* Stores b's rows, alone or with other threads' batches, and returns when the transaction
 * holding them has committed or failed: b->rc (also returned) and b's other out fields are
 * set. A batch with no rows returns MSGR_OK at once (group 0). With a relay, the batch goes
 * to it straight from this thread (the relay groups it with others'); the queue takes it
 * only when the relay does not. Thread-safe. */
msgr_result msgr_commit_submit(struct msgr_commit *c, struct msgr_commit_batch *b);

/* Hands every group from now on to fn first (NULL: none). Set before any submit. */
void msgr_commit_set_relay(struct msgr_commit *c, msgr_commit_relay_fn fn, void *arg);

/* msgr_commit_submit for the n batches b[0..n) at once (the committer's many clients):
 * returns when every one is done. MSGR_OK, or MSGR_ERR_INVALID. */
msgr_result msgr_commit_submit_group(struct msgr_commit *c, struct msgr_commit_batch *b,
    size_t n);

/* The queue's store handle for other work on it (the worker of a one-thread responder),
 * once no commit runs; commits wait until msgr_commit_giveback. NULL when the store cannot
 * be opened (nothing to give back then). failed: the work hit MSGR_ERR_STORE, so the handle
 * is closed and reopened on next use. */
struct msgr_store *msgr_commit_borrow(struct msgr_commit *c);
void msgr_commit_giveback(struct msgr_commit *c, int failed);

#endif
