/* turns.c — threads taking turns on one store handle, committing together (turns.h). */
#include <pthread.h>
#include <stdlib.h>

#include "fibers.h"
#include "turns.h"

/* What this thread wrote and left uncommitted when it stepped aside (msgr_turns_step_aside):
 * the first commit of t that carries it. A failure of that commit or a later one is reported
 * at the thread's next pause, commit or leave on t, before anything that needs it leaves.
 * A fiber's is its own (lib/fibers.h): fibers of one thread take turns as threads do. */
struct owed {
	const struct msgr_turns *t;
	unsigned long long since;
};
static _Thread_local struct owed thread_owed;

static struct owed *
owed_here(void)
{
	struct owed *o = msgr_fiber_local();

	_Static_assert(sizeof(struct owed) <= MSGR_FIBER_LOCAL_SIZE, "fiber's room too small");
	return o != NULL ? o : &thread_owed;
}

struct msgr_turns {
	pthread_mutex_t m;
	pthread_cond_t free_cv;       /* the turn was given up: one ready thread takes it */
	pthread_cond_t commit_cv;     /* a commit was made: its waiters go on */
	pthread_cond_t sync_cv;       /* a sync ended: the threads that waited for it go on */
	/* The same three for fibers (lib/fibers.h), which wait without the kernel. */
	struct msgr_fiber_queue free_q, commit_q, sync_q;
	unsigned woken;               /* fibers woken from commit_q or sync_q, not run yet */
	int open;                     /* writes handed on uncommitted */
	msgr_turns_commit_fn idle_fn; /* the commit the fibers' loop makes of them (idle_commit) */
	void *idle_arg;
	int busy;                     /* a thread holds the turn */
	unsigned ready;               /* threads waiting to take it */
	unsigned long long commits;   /* commits made so far */
	unsigned long long failed;    /* the number of the last commit that failed; 0: none */
	unsigned asides;              /* turns handed on uncommitted since the last commit */
	msgr_turns_commit_fn sync;    /* makes the commits so far durable; NULL: each one is */
	unsigned long long synced;    /* commits known durable */
	int syncing;                  /* a sync is under way */
	int sync_failed;              /* a sync failed: nothing is promised durable any more */
};

/* Hand-overs without a commit before a step aside commits anyway: the open transaction holds
 * the write lock that other processes (the intake) wait for. */
#define ASIDES_MAX 16

/* Waits on cv (a thread) or q (a fiber) under t->m. A fiber woken from the commit or sync
 * queue goes on to its call, not to the turn: it counts as ready again only once run. */
static void
wait_on(struct msgr_turns *t, pthread_cond_t *cv, struct msgr_fiber_queue *q)
{
	if (!msgr_fiber_active()) {
		pthread_cond_wait(cv, &t->m);
		return;
	}
	pthread_mutex_unlock(&t->m);
	msgr_fiber_wait(q);
	pthread_mutex_lock(&t->m);
	if (q != &t->free_q && t->woken > 0)
		t->woken--;
}

/* Wakes the first waiter of cv and q (all of them when all). Under t->m. */
static void
wake(struct msgr_turns *t, pthread_cond_t *cv, struct msgr_fiber_queue *q, int all)
{
	unsigned n;

	if (all)
		pthread_cond_broadcast(cv);
	else
		pthread_cond_signal(cv);
	n = msgr_fiber_wake(q, all);
	if (q != &t->free_q)
		t->woken += n;
}

/* Threads waiting for the turn, or fibers of the caller's thread about to want it: those
 * that will reach a wait of their own, and so a commit, after the caller's. Under t->m. */
static unsigned
ready_count(const struct msgr_turns *t)
{
	unsigned r = msgr_fiber_runnable();

	return t->ready + (r > t->woken ? r - t->woken : 0);
}

msgr_result
msgr_turns_new(struct msgr_turns **out)
{
	struct msgr_turns *t;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return MSGR_ERR_NOMEM;
	if (pthread_mutex_init(&t->m, NULL) != 0)
		goto no_mutex;
	if (pthread_cond_init(&t->free_cv, NULL) != 0)
		goto no_free_cv;
	if (pthread_cond_init(&t->commit_cv, NULL) != 0)
		goto no_commit_cv;
	if (pthread_cond_init(&t->sync_cv, NULL) != 0)
		goto no_sync_cv;
	*out = t;
	return MSGR_OK;
no_sync_cv:
	pthread_cond_destroy(&t->commit_cv);
no_commit_cv:
	pthread_cond_destroy(&t->free_cv);
no_free_cv:
	pthread_mutex_destroy(&t->m);
no_mutex:
	free(t);
	return MSGR_ERR_NOMEM;
}

void
msgr_turns_free(struct msgr_turns *t)
{
	if (t == NULL)
		return;
	pthread_cond_destroy(&t->sync_cv);
	pthread_cond_destroy(&t->commit_cv);
	pthread_cond_destroy(&t->free_cv);
	pthread_mutex_destroy(&t->m);
	free(t);
}

void
msgr_turns_take(struct msgr_turns *t)
{
	pthread_mutex_lock(&t->m);
	t->ready++;
	while (t->busy)
		wait_on(t, &t->free_cv, &t->free_q);
	t->ready--;
	t->busy = 1;
	pthread_mutex_unlock(&t->m);
}

/* r, or MSGR_ERR_STORE when a commit since the one this thread's uncommitted writes awaited
 * (owed) failed; settles them. Under t->m. */
static msgr_result
settle_owed(const struct msgr_turns *t, msgr_result r)
{
	struct owed *o = owed_here();

	if (o->t != t || o->since == 0)
		return r;
	if (r == MSGR_OK && t->failed >= o->since)
		r = MSGR_ERR_STORE;
	o->t = NULL;
	o->since = 0;
	return r;
}

unsigned
msgr_turns_waiting(struct msgr_turns *t)
{
	unsigned n;

	pthread_mutex_lock(&t->m);
	n = t->ready;
	pthread_mutex_unlock(&t->m);
	return n;
}

/* Returns once commit need (made already) is durable, under t->m. Without a sync function
 * every commit is. Otherwise a thread that needs it runs the sync, outside the turn and the
 * lock, so that other threads go on using the store meanwhile; one sync at a time. MSGR_OK;
 * MSGR_ERR_STORE when that commit, or a later one, failed, or when any sync has failed
 * (after a failed fsync the kernel may have dropped the pages it could not write, and a
 * later fsync does not say they are on disk). */
static msgr_result
durable(struct msgr_turns *t, unsigned long long need, void *arg)
{
	unsigned long long upto;
	msgr_result r;

	for (;;) {
		if (t->failed >= need || t->sync_failed)
			return MSGR_ERR_STORE;
		if (t->sync == NULL || t->synced >= need)
			return MSGR_OK;
		/* One sync at a time: the threads that need more than the one under way covers
		 * wait for it, and the first of them then syncs for all that came meanwhile.
		 * They wait on a condition of their own: woken by every commit, as they were,
		 * each went back to sleep about once per answer, a pair of context switches on
		 * a machine whose two cores the drain keeps busy. */
		if (t->syncing) {
			wait_on(t, &t->sync_cv, &t->sync_q);
			continue;
		}
		upto = t->commits;
		t->syncing = 1;
		pthread_mutex_unlock(&t->m);
		/* A fiber's other fibers go on meanwhile, as other threads do. */
		r = msgr_fiber_offload(t->sync, arg);
		pthread_mutex_lock(&t->m);
		t->syncing = 0;
		if (r != MSGR_OK)
			t->sync_failed = 1;
		else if (upto > t->synced)
			t->synced = upto;
		wake(t, &t->sync_cv, &t->sync_q, 1);
	}
}

/* Counts a commit just made by the turn's holder (r its result), gives the turn up when
 * give, and wakes whoever waits for a commit. Returns its number. Under t->m. */
static unsigned long long
counted(struct msgr_turns *t, msgr_result r, int give)
{
	t->commits++;
	t->asides = 0;
	t->open = 0;
	if (r != MSGR_OK)
		t->failed = t->commits;
	if (give) {
		t->busy = 0;
		if (t->ready > 0)
			wake(t, &t->free_cv, &t->free_q, 0);
	}
	wake(t, &t->commit_cv, &t->commit_q, 1);
	return t->commits;
}

/* A commit by the turn's holder, who gives the turn up when give; when durable, returns once
 * it is on disk. Its result, or that of an earlier one that carried the caller's writes. */
static msgr_result
commit_now(struct msgr_turns *t, msgr_turns_commit_fn commit, void *arg, int give,
    int need_durable)
{
	msgr_result r = commit(arg);
	unsigned long long k;

	pthread_mutex_lock(&t->m);
	k = counted(t, r, give);
	if (r == MSGR_OK && need_durable)
		r = durable(t, k, arg);
	r = settle_owed(t, r);
	pthread_mutex_unlock(&t->m);
	return r;
}

void
msgr_turns_set_sync(struct msgr_turns *t, msgr_turns_commit_fn sync)
{
	pthread_mutex_lock(&t->m);
	t->sync = sync;
	pthread_mutex_unlock(&t->m);
}

/* The fibers' loop has nothing to run (msgr_fiber_before_idle): what fibers that stepped
 * aside with nobody to hand on to left open is committed now, unless a fiber holds the turn
 * (it will commit) or a commit came since. Not synced: nothing waits for it to be durable. */
static void
idle_commit(void *arg)
{
	struct msgr_turns *t = arg;
	msgr_turns_commit_fn fn;
	void *a;
	msgr_result r;

	pthread_mutex_lock(&t->m);
	if (t->busy || !t->open || t->idle_fn == NULL) {
		pthread_mutex_unlock(&t->m);
		return;
	}
	t->busy = 1;
	fn = t->idle_fn;
	a = t->idle_arg;
	pthread_mutex_unlock(&t->m);
	r = fn(a);
	pthread_mutex_lock(&t->m);
	(void)counted(t, r, 1);
	pthread_mutex_unlock(&t->m);
}

/* Makes the fibers' loop commit what the calling fiber leaves open, by commit(arg), if it
 * comes to have nothing to run first (idle_commit): 0 then; -1 outside a fiber, without
 * commit, or when the loop takes no more hooks. Under t->m. */
static int
leave_to_loop(struct msgr_turns *t, msgr_turns_commit_fn commit, void *arg)
{
	if (commit == NULL || !msgr_fiber_active() || msgr_fiber_before_idle(idle_commit, t) != 0)
		return -1;
	t->idle_fn = commit;
	t->idle_arg = arg;
	return 0;
}

/* Hands the turn to a thread that is ready without a commit, when one is and the open
 * transaction has not carried ASIDES_MAX hand-overs yet: 1 then, 0 when the caller keeps the
 * turn. The caller's writes stay in the open transaction; the first commit from now on
 * carries them (owed). A fiber (commit given) hands the transaction to its loop as well, with
 * or without anyone ready: committed by commit(arg) once the loop has nothing to run, unless
 * fibers whose calls come back first add their steps to it and one of them commits. */
static int
hand_on(struct msgr_turns *t, msgr_turns_commit_fn commit, void *arg)
{
	struct owed *o = owed_here();
	int handed = 0, ready;

	pthread_mutex_lock(&t->m);
	ready = ready_count(t) > 0;
	if (t->asides < ASIDES_MAX && (leave_to_loop(t, commit, arg) == 0 || ready)) {
		if (o->t != t || o->since == 0) {
			o->t = t;
			o->since = t->commits + 1;
		}
		t->asides++;
		t->open = 1;
		t->busy = 0;
		wake(t, &t->free_cv, &t->free_q, 0);
		handed = 1;
	}
	pthread_mutex_unlock(&t->m);
	return handed;
}

msgr_result
msgr_turns_pause(struct msgr_turns *t, msgr_turns_commit_fn commit, void *arg)
{
	unsigned long long need;
	msgr_result r;

	pthread_mutex_lock(&t->m);
	/* The next commit is the first to cover what the caller wrote. */
	need = t->commits + 1;
	/* Fibers counted ready only as runnable may end instead of taking the turn (their
	 * budget spent): a fiber waits for them only when its loop commits if they do. */
	if (ready_count(t) > 0 && (!msgr_fiber_active() || leave_to_loop(t, commit, arg) == 0 ||
	    t->ready > 0)) {
		t->open = 1;
		t->busy = 0;
		wake(t, &t->free_cv, &t->free_q, 0);
		while (t->commits < need)
			wait_on(t, &t->commit_cv, &t->commit_q);
		/* Conservative: a failure of that commit or of a later one (the writes are gone
		 * either way once the one that covered them failed). */
		r = settle_owed(t, durable(t, need, arg));
		pthread_mutex_unlock(&t->m);
		return r;
	}
	pthread_mutex_unlock(&t->m);
	return commit_now(t, commit, arg, 1, 1);
}

msgr_result
msgr_turns_step_aside(struct msgr_turns *t, msgr_turns_commit_fn commit, void *arg)
{
	/* Handed on: the last thread to reach a wait commits. */
	if (hand_on(t, commit, arg))
		return MSGR_OK;
	/* Nobody would run before the wait ends, or the transaction has been open long enough:
	 * it is not left open across the wait. Nothing waits for it to be durable. */
	return commit_now(t, commit, arg, 1, 0);
}

int
msgr_turns_lend(struct msgr_turns *t)
{
	/* As a step aside, without the commit: the caller only computes meanwhile. A fiber
	 * computes on the one thread the others would run on: it keeps the turn. */
	if (msgr_fiber_active())
		return 0;
	return hand_on(t, NULL, NULL);
}

msgr_result
msgr_turns_commit(struct msgr_turns *t, msgr_turns_commit_fn commit, void *arg)
{
	return commit_now(t, commit, arg, 0, 1);
}

msgr_result
msgr_turns_leave(struct msgr_turns *t, msgr_turns_commit_fn commit, void *arg)
{
	return commit_now(t, commit, arg, 1, 1);
}
