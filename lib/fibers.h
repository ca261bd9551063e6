/* fibers.h — many jobs on one thread, each on a stack of its own, switching only where a
 * job waits (docs/worker.md "Threads").
 *
 * The drain's workers share one store handle and take turns on it (lib/turns.h). As threads,
 * every hand-over of the turn and every wait for a Graph API call is a sleep and a wake-up
 * of the kernel's, a few per answer; on a small virtual machine those cost more than the
 * answer's own work. As fibers of one thread they cost a switch of stacks: a fiber runs until
 * it waits, for a call (its transfer goes on a libcurl multi handle with every other fiber's,
 * one poll for all of them), for a sleep, or for a commit another fiber makes for it (the
 * queues turns.c waits on). Nothing else of the code changes: the waits below are the ones
 * the worker already makes, and each acts as before when its caller is not a fiber. */
#ifndef MSGR_FIBERS_H
#define MSGR_FIBERS_H

#include <stdatomic.h>
#include <stddef.h>

#include <curl/curl.h>

#include "result.h"

/* The most fibers one run takes, and each one's stack (mapped, so only the pages a fiber
 * touches are resident; a guard page below it turns an overflow into a fault). */
#define MSGR_FIBERS_MAX       64
#define MSGR_FIBER_STACK_KB   1024

/* Fibers waiting for something another fiber of the same thread does (msgr_fiber_wait). */
struct msgr_fiber;
struct msgr_fiber_queue {
	struct msgr_fiber *head, *tail;
};

/* Runs fn(args[i]) for i < n, each in a fiber of the calling thread, and returns once every
 * one has returned. stop, when not NULL and set (a signal handler may set it), ends the
 * fibers' sleeps early. MSGR_OK; MSGR_ERR_INVALID (n is 0 or above MSGR_FIBERS_MAX, or the
 * caller is a fiber itself); MSGR_ERR_NOMEM (nothing was run); MSGR_ERR_IO when every fiber
 * left waits for another and none can go on (a bug: said in the log; their stacks are
 * dropped). */
msgr_result msgr_fibers_run(size_t n, void (*fn)(void *), void *const *args,
    atomic_int *stop);

/* A libcurl multi handle kept from one run to the next, and with it the connections its
 * transfers left open: a run given it reuses them instead of connecting again (with TLS, a
 * handshake each). Zeroed before its first run; msgr_fibers_keep_free closes them once no
 * run uses it. Runs given the same one never overlap (from one thread or another). */
struct msgr_fibers_keep {
	CURLM *multi;
};
/* msgr_fibers_run on keep's multi handle (made on the first run); keep NULL: a handle of
 * the run's own. */
msgr_result msgr_fibers_run_kept(struct msgr_fibers_keep *keep, size_t n,
    void (*fn)(void *), void *const *args, atomic_int *stop);
void msgr_fibers_keep_free(struct msgr_fibers_keep *keep);

/* 1 when the caller is a fiber of msgr_fibers_run. */
int msgr_fiber_active(void);
/* The fibers of the caller's run ready to go on, not counting the caller: those a commit
 * would be shared with if the caller waited for it (turns.c). 0 outside a fiber. */
unsigned msgr_fiber_runnable(void);
/* Per-fiber room for a module's own word of state (turns.c's), zeroed at the fiber's start;
 * NULL outside a fiber. MSGR_FIBER_LOCAL_SIZE bytes, aligned for any type. */
#define MSGR_FIBER_LOCAL_SIZE 32
void *msgr_fiber_local(void);

/* A fiber: waits in q until woken (msgr_fiber_wake). Not to be called outside a fiber. */
void msgr_fiber_wait(struct msgr_fiber_queue *q);
/* Makes the first fiber waiting in q (all of them when all) ready to go on; how many. */
unsigned msgr_fiber_wake(struct msgr_fiber_queue *q, int all);

/* curl_easy_perform(easy); in a fiber, the transfer goes on the run's multi handle beside
 * the other fibers' while the caller waits. */
CURLcode msgr_fiber_perform(CURL *easy);
/* From a fiber: fn(arg) is called once, by the run itself (not in a fiber), when no fiber is
 * ready to go on and the run is about to wait for a transfer, a sleep or an offloaded call;
 * the same fn and arg asked again before then are called once. turns.c commits there what
 * fibers that stepped aside left open. At most MSGR_FIBER_IDLE_HOOKS different ones at a
 * time: 0, or -1 when full or outside a fiber (then nothing will call it). */
#define MSGR_FIBER_IDLE_HOOKS 4
int msgr_fiber_before_idle(void (*fn)(void *), void *arg);
/* fn(arg); in a fiber, run by a thread of the run's own while the other fibers go on (a
 * sync of the disk: one at a time, in the order asked). */
msgr_result msgr_fiber_offload(msgr_result (*fn)(void *), void *arg);
/* Sleeps ms. When stoppable, a signal cuts it short outside a fiber, and the run's stop in
 * one; otherwise it lasts its whole time (a pacer's wait). */
void msgr_fiber_sleep(long long ms, int stoppable);

#endif
