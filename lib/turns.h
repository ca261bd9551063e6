/* turns.h — threads that take turns on one store handle, and commit together
 * (docs/worker.md "Threads").
 *
 * A worker with several threads shares one store handle among them. One thread at a time
 * holds the turn and uses the handle; it gives the turn up only to wait (a Graph call, a
 * sleep), so the handle is never used by two threads at once and everything the threads
 * share (their pages' pacers, the handle's open transaction) needs no other lock. Before a
 * thread waits for a call that must not leave before its writes are durable (a message, a
 * thread action), what it wrote must be committed; if other threads are ready to take the
 * turn, it lets them run first, and the last of them to reach a wait commits for all: one
 * commit, one fsync, covers the bookkeeping of every thread that was about to wait. Before a
 * call that may go again without harm, a thread only steps aside: it does not wait for that
 * commit at all, and learns of its failure at its next pause. A thread never
 * waits on a commit that no ready thread will make: the turn is only handed on to a thread
 * that is ready, and each ends its turn with a wait (which commits or hands on again) or a
 * commit of its own.
 *
 * The workers may be fibers of one thread instead (lib/fibers.h): they take the same turns,
 * waiting on the fibers' own queues instead of conditions. A fiber counts as ready when it is
 * runnable, not only when it waits for the turn; as a runnable fiber may end instead of taking
 * it, a fiber that hands its writes on also leaves them to its loop, which commits them before
 * it would wait with nothing to run (msgr_fiber_before_idle). */
#ifndef MSGR_TURNS_H
#define MSGR_TURNS_H

#include "result.h"

struct msgr_turns;

/* A commit of the shared handle: what pause and commit call while the caller holds the turn
 * (never with the turns' own lock held). */
typedef msgr_result (*msgr_turns_commit_fn)(void *arg);

/* MSGR_OK, MSGR_ERR_NOMEM. */
msgr_result msgr_turns_new(struct msgr_turns **out);
/* t may be NULL. No thread may hold or wait for the turn. */
void msgr_turns_free(struct msgr_turns *t);

/* Commits need not wait for the disk: sync(arg) (arg as given to the call that needs it) makes
 * every commit made before it started durable, and the threads that need a commit durable (a
 * pause, a commit, a leave) run it without the turn, so the store is used meanwhile. A step
 * aside's own commit is not synced. Set before any thread takes the turn; NULL (the default):
 * every commit is durable by itself. After a sync fails, every pause, commit and leave fails
 * (MSGR_ERR_STORE): nothing can be promised durable any more. */
void msgr_turns_set_sync(struct msgr_turns *t, msgr_turns_commit_fn sync);
/* Waits until the turn is free and takes it. */
void msgr_turns_take(struct msgr_turns *t);
/* The threads waiting in msgr_turns_take now (tests, diagnostics). */
unsigned msgr_turns_waiting(struct msgr_turns *t);
/* Commits (commit(arg), which also covers the threads waiting for one) and gives the turn
 * up: the end of a thread's work. Returns commit(arg)'s result, or MSGR_ERR_STORE when a
 * commit that carried what the caller left uncommitted when it stepped aside failed. */
msgr_result msgr_turns_leave(struct msgr_turns *t, msgr_turns_commit_fn commit, void *arg);

/* Before a wait, by the thread holding the turn: returns once what it wrote is committed
 * (and durable: msgr_turns_set_sync), with the turn given up. When other threads are ready it
 * hands them the turn and waits for the commit one of them makes; otherwise it commits itself
 * (commit(arg)). MSGR_OK, or the failure of the commit that covered the caller's writes (they
 * are lost: a rolled back transaction), also of an earlier one that carried what it left when
 * it stepped aside. */
msgr_result msgr_turns_pause(struct msgr_turns *t, msgr_turns_commit_fn commit, void *arg);
/* Before a wait whose call may go again without harm (a typing indicator, a profile read, a
 * pacing sleep): gives the turn up without waiting for a commit when other threads are ready
 * (what the caller wrote stays in the open transaction, for the last of them to commit), and
 * commits itself otherwise, so that no transaction stays open while every thread waits. If a
 * commit that carried the caller's writes fails, the caller's next msgr_turns_pause,
 * msgr_turns_commit or msgr_turns_leave returns MSGR_ERR_STORE. MSGR_OK, or the failure of
 * the commit it made. */
msgr_result msgr_turns_step_aside(struct msgr_turns *t, msgr_turns_commit_fn commit, void *arg);
/* Before work of the caller's own that does not touch the store (a bot's answer, messages to
 * build): hands the turn to a thread that is ready, without a commit, so that its store work
 * runs beside the caller's, and returns 1 (take the turn back with msgr_turns_take after the
 * work). 0 when nobody is ready, or 16 threads stepped aside since the last commit: the
 * caller keeps the turn. A failure of a commit that carried the caller's writes is reported
 * as after msgr_turns_step_aside. */
int msgr_turns_lend(struct msgr_turns *t);
/* A commit by the thread holding the turn, which keeps it (the end of its run, a checkpoint):
 * it also covers the threads waiting for one. Returns as msgr_turns_leave. */
msgr_result msgr_turns_commit(struct msgr_turns *t, msgr_turns_commit_fn commit, void *arg);

#endif
