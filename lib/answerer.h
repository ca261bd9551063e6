/* answerer.h — one thread that waits for many answers at once (docs/responder.md "Answers
 * from another thread").
 *
 * A request thread of the responder hands its events to the host's committer and goes back
 * to accept instead of sleeping until they are stored; this thread waits, with one epoll set,
 * for every answer the process has coming, and runs the program's completion for each: the
 * HTTP answer, written only once the committer has said the events are stored. An item is a
 * socket that becomes readable when its answer is in, and a deadline past which it is not
 * waited for. */
#ifndef MSGR_ANSWERER_H
#define MSGR_ANSWERER_H

#include "result.h"

struct msgr_answerer;

/* Lives in the caller's record of the request, from msgr_answerer_add to its completion. */
struct msgr_answerer_item {
	int fd;                       /* readable once the answer is in (or the peer has gone) */
	long long deadline;           /* msgr_clock_mono_ms: no waiting past it */
	/* private */
	struct msgr_answerer_item *prev, *next;
	int listed;
};

/* Runs once per item, on the answerer's thread: timed_out 0 once it->fd is readable (the
 * answer, or the connection's end), 1 past the deadline. The item is the caller's again. */
typedef void (*msgr_answerer_fn)(void *arg, struct msgr_answerer_item *it, int timed_out);

/* Starts the thread (every signal blocked in it). MSGR_OK, MSGR_ERR_NOMEM, MSGR_ERR_IO (no
 * epoll set or no thread: the caller answers on its own threads). */
msgr_result msgr_answerer_start(msgr_answerer_fn done, void *arg, struct msgr_answerer **out);

/* Waits for it (fd and deadline set); any thread. MSGR_OK: done will run for it exactly once.
 * MSGR_ERR_IO: not taken (the fd cannot be watched), the caller completes it itself. Items
 * are timed out in the order they were added: the deadlines of one answerer are expected to
 * grow in that order (one timeout for all). */
msgr_result msgr_answerer_add(struct msgr_answerer *a, struct msgr_answerer_item *it);

/* How long the thread waits for events when the first deadline is deadline: never past it,
 * at most its tick (100 ms), 0 once due, never negative (-1 is the stop's "wait no more";
 * any other negative wait would block with no timeout). Public for its unit test. */
int msgr_answerer_wait_ms(long long deadline, long long now);

/* Items waited for now. */
unsigned msgr_answerer_pending(struct msgr_answerer *a);

/* Once nothing is added any more: waits until every item is done, then ends the thread and
 * frees a. NULL is fine. */
void msgr_answerer_stop(struct msgr_answerer *a);

#endif
