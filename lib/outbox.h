/* outbox.h — a process's requests to the host committer, sent together (docs/responder.md
 * "One message for the process's requests").
 *
 * Why: a request thread that sent its own batch on its own connection paid, for each
 * request, a send, the committer's read and answer on that connection, and the answerer's
 * re-arming and read of it: system calls and thread wake-ups of their own, per request,
 * on both sides. Here a request thread only queues its batch (encoded while its rows
 * exist, queued once its request is left for the answer); at most `flights` groups are in flight at once, and whatever was queued while they
 * were goes as one message, sent as soon as one comes back, so under load one send, one
 * read and one answer serve every request of the process that waited for the same
 * transaction. A lone request still goes at once: no flight is out.
 *
 * The answers come on the outbox's own answerer thread (answerer.h): for each entry, the
 * caller's done runs there once, with the batch's out fields set from the committer's
 * answer (BUSY for each past the host's timeout). A group that cannot be sent, or whose
 * connection breaks before the answer, is "lost": done runs with lost = 1 and the caller
 * stores the request's events itself (what the committer did store is found by key). */
#ifndef MSGR_OUTBOX_H
#define MSGR_OUTBOX_H

#include "buf.h"
#include "commit.h"
#include "hostcommit.h"
#include "result.h"

/* Groups in flight at once. One: the committer stores one group of a process per
 * transaction, and what arrives meanwhile waits in the outbox instead of in sockets. */
#define MSGR_OUTBOX_FLIGHTS 1

struct msgr_outbox;

/* Lives in the caller's record of a request, from msgr_outbox_send to its done. */
struct msgr_outbox_entry {
	struct msgr_buf rows;               /* its batch, encoded (msgr_outbox_encode) */
	struct msgr_commit_batch *answer;   /* where the committer's answer goes (out fields) */
	/* private */
	struct msgr_outbox_entry *next;
};

/* Runs once per entry sent: on the outbox's thread once the answer is in, or on the thread
 * that found its group could not be sent (lost 1). The entry is the caller's again. */
typedef void (*msgr_outbox_fn)(void *arg, struct msgr_outbox_entry *e, int lost);

/* An outbox for the committer h reaches, its thread started. flights 0 means
 * MSGR_OUTBOX_FLIGHTS. MSGR_OK; MSGR_ERR_INVALID; MSGR_ERR_NOMEM; MSGR_ERR_IO (no thread:
 * the caller waits for its own answers). */
msgr_result msgr_outbox_open(struct msgr_hostcommit *h, unsigned flights, msgr_outbox_fn done,
    void *arg, struct msgr_outbox **out);

/* Encodes rows into e->rows (initialised by the caller, its max at least the batch's size),
 * on the thread that has them, while they exist. MSGR_OK; otherwise the caller stores the
 * rows itself. */
msgr_result msgr_outbox_encode(struct msgr_outbox_entry *e, const struct msgr_commit_batch *rows);

/* Queues e (encoded), its answer to go to *answer, and sends what is queued as one group if
 * fewer than `flights` are out; otherwise the group goes once one comes back. done runs for e
 * exactly once, possibly before this returns (lost, on this thread; or answered, on the
 * outbox's): call it once nothing of the request is touched any more but by done. */
void msgr_outbox_send(struct msgr_outbox *ob, struct msgr_outbox_entry *e,
    struct msgr_commit_batch *answer);

/* Entries sent and not done yet. */
unsigned msgr_outbox_pending(struct msgr_outbox *ob);
/* Groups sent so far (each one message and one answer). */
unsigned long msgr_outbox_groups(struct msgr_outbox *ob);

/* Once nothing is sent any more: waits until every entry is done, ends the thread and frees
 * ob. NULL is fine. */
void msgr_outbox_close(struct msgr_outbox *ob);

#endif
