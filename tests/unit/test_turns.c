/* Unit tests: threads taking turns on one store handle and committing together
 * (lib/turns.h), with a commit of the test's own that records what it covers; and the same
 * as fibers of one thread (lib/fibers.h), whose waits are the fibers' own. */
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "fibers.h"
#include "turns.h"

enum { THREADS = 6, ROUNDS = 200 };

struct shared {
	struct msgr_turns *t;
	atomic_int inside;          /* threads holding the turn: never more than one */
	atomic_int overlaps;
	long long written;          /* writes made so far (under the turn) */
	long long committed;        /* writes covered by the commits made so far */
	long long commits;
	long long pauses;
	long long uncovered;        /* pauses that returned before their write was committed */
	int fail_at;                /* the commit of this number fails (0: none) */
	long long failed_seen;      /* pauses that reported the failure */
	int mixed;                  /* every other wait steps aside instead of pausing */
	long long asides;           /* step asides since the last commit (under the turn) */
	long long most_asides;      /* the most of them before a commit */
	int apart;                  /* commits are durable only once sync() ran after them */
	pthread_mutex_t sync_m;
	long long durable;          /* writes on "disk": committed before a sync began */
	long long syncs;
	int sync_fail_at;           /* the sync of this number fails (0: none) */
	long long undurable;        /* pauses that returned before their write was durable */
	int fibers;                 /* the workers are fibers of one thread, not threads */
	long long lends;            /* lends that handed the turn on (fibers: none) */
	int started;                /* fibers run so far (test_turns_fiber_ends) */
};

static msgr_result
commit(void *arg)
{
	struct shared *s = arg;
	struct timespec ts = { 0, 200000 };   /* an fsync's time: others get ready meanwhile */

	nanosleep(&ts, NULL);
	if (s->asides > s->most_asides)
		s->most_asides = s->asides;
	s->asides = 0;
	/* Atomic: the sync reads it outside the turn. */
	__atomic_store_n(&s->committed, s->written, __ATOMIC_SEQ_CST);
	/* Atomic: a thread that stepped aside looks at the count outside the turn. */
	return __atomic_add_fetch(&s->commits, 1, __ATOMIC_SEQ_CST) == s->fail_at ?
	    MSGR_ERR_STORE : MSGR_OK;
}

/* A sync run apart (msgr_turns_set_sync), by a thread without the turn: what was committed
 * when it began is on disk when it returns. */
static msgr_result
sync_apart(void *arg)
{
	struct shared *s = arg;
	struct timespec ts = { 0, 300000 };   /* an fdatasync's time */
	long long upto = __atomic_load_n(&s->committed, __ATOMIC_SEQ_CST);
	int fail;

	nanosleep(&ts, NULL);
	pthread_mutex_lock(&s->sync_m);
	fail = ++s->syncs == s->sync_fail_at;
	if (!fail && upto > s->durable)
		s->durable = upto;
	pthread_mutex_unlock(&s->sync_m);
	return fail ? MSGR_ERR_IO : MSGR_OK;
}

static long long
durable_now(struct shared *s)
{
	long long d;

	pthread_mutex_lock(&s->sync_m);
	d = s->durable;
	pthread_mutex_unlock(&s->sync_m);
	return d;
}

static void
enter(struct shared *s)
{
	msgr_turns_take(s->t);
	if (atomic_fetch_add(&s->inside, 1) != 0)
		atomic_fetch_add(&s->overlaps, 1);
}

static void
out(struct shared *s)
{
	atomic_fetch_sub(&s->inside, 1);
}

/* The Graph call: a fiber's sleep lets the others run meanwhile, as a thread's does. */
static void
call_wait(struct shared *s)
{
	struct timespec call = { 0, 50000 };

	if (s->fibers)
		msgr_fiber_sleep(1, 0);
	else
		nanosleep(&call, NULL);
}

static void *
worker(void *arg)
{
	struct shared *s = arg;
	long long mine;
	msgr_result r;
	int i;

	enter(s);
	for (i = 0; i < ROUNDS; i++) {
		mine = ++s->written;           /* a write, under the turn */
		/* Work beside the store (a bot's answer): lent when someone could use the turn;
		 * a fiber keeps it, nothing would run beside it. */
		if (i % 5 == 0) {
			out(s);
			if (msgr_turns_lend(s->t)) {
				__atomic_add_fetch(&s->lends, 1, __ATOMIC_RELAXED);
				enter(s);              /* takes it back */
			} else if (atomic_fetch_add(&s->inside, 1) != 0) {
				atomic_fetch_add(&s->overlaps, 1);   /* kept: still ours */
			}
		}
		if (s->mixed && i % 2 == 0) {
			/* A call that may go twice: nothing to wait for, no check after it. */
			s->asides++;
			out(s);
			if (msgr_turns_step_aside(s->t, commit, s) != MSGR_OK)
				__atomic_add_fetch(&s->failed_seen, 1, __ATOMIC_RELAXED);
			call_wait(s);
			enter(s);
			continue;
		}
		s->pauses++;
		out(s);
		r = msgr_turns_pause(s->t, commit, s);
		/* Not under the turn any more: read what the commit left under the lock the
		 * turns hold while counting (pause returned after it). */
		if (r != MSGR_OK)
			__atomic_add_fetch(&s->failed_seen, 1, __ATOMIC_RELAXED);
		else if (s->apart && durable_now(s) < mine)
			__atomic_add_fetch(&s->undurable, 1, __ATOMIC_RELAXED);
		call_wait(s);                  /* the Graph call */
		enter(s);
		if (s->committed < mine)
			s->uncovered++;
	}
	out(s);
	msgr_turns_leave(s->t, commit, s);
	return NULL;
}

static void
fiber_worker(void *arg)
{
	(void)worker(arg);
}

static void
run(struct shared *s)
{
	pthread_t tid[THREADS];
	void *args[THREADS];
	int i;

	assert_int_equal(msgr_turns_new(&s->t), MSGR_OK);
	assert_int_equal(pthread_mutex_init(&s->sync_m, NULL), 0);
	if (s->apart)
		msgr_turns_set_sync(s->t, sync_apart);
	for (i = 0; i < THREADS; i++)
		args[i] = s;
	if (s->fibers)
		assert_int_equal(msgr_fibers_run(THREADS, fiber_worker, args, NULL), MSGR_OK);
	for (i = 0; i < THREADS && !s->fibers; i++)
		assert_int_equal(pthread_create(&tid[i], NULL, worker, s), 0);
	for (i = 0; i < THREADS && !s->fibers; i++)
		assert_int_equal(pthread_join(tid[i], NULL), 0);
	msgr_turns_free(s->t);
	pthread_mutex_destroy(&s->sync_m);
}

/* One thread at a time; every pause returns only once a commit covered its write; and the
 * threads' writes share commits: far fewer commits than pauses. */
static void
test_turns_commit_together(void **state)
{
	struct shared s = { 0 };

	(void)state;
	run(&s);
	assert_int_equal(atomic_load(&s.overlaps), 0);
	assert_int_equal(s.uncovered, 0);
	assert_int_equal(s.written, THREADS * ROUNDS);
	assert_int_equal(s.pauses, THREADS * ROUNDS);
	assert_int_equal(s.committed, s.written);      /* the last leave committed the rest */
	assert_true(s.commits < s.pauses / 2);
	assert_int_equal(s.failed_seen, 0);
}

/* A commit that fails is reported to the thread that made it and to every thread whose
 * writes it covered, so each of them stops as after a lost transaction. */
static void
test_turns_failure_reaches_waiters(void **state)
{
	struct shared s = { 0 };

	(void)state;
	s.fail_at = 5;
	run(&s);
	assert_int_equal(atomic_load(&s.overlaps), 0);
	assert_true(s.failed_seen >= 1);
	/* Those waiting for it, not those that came later: at most one commit's worth. */
	assert_true(s.failed_seen <= THREADS);
}

/* Steps aside mixed with pauses: still one thread at a time; a pause returns only once every
 * write of its thread, those left behind when it stepped aside too, is committed; fewer
 * commits than waits, and the transaction never carries more than 16 hand-overs. */
static void
test_turns_step_aside(void **state)
{
	struct shared s = { 0 };

	(void)state;
	s.mixed = 1;
	run(&s);
	assert_int_equal(atomic_load(&s.overlaps), 0);
	assert_int_equal(s.uncovered, 0);
	assert_int_equal(s.written, THREADS * ROUNDS);
	assert_int_equal(s.pauses, THREADS * ROUNDS / 2);
	assert_int_equal(s.committed, s.written);
	assert_true(s.commits < s.pauses);
	assert_true(s.most_asides <= 17);
	assert_int_equal(s.failed_seen, 0);
}

struct taker {
	struct shared *s;
	msgr_result commit_rc;
};

/* Takes the turn once the main thread has stepped aside, makes a commit that fails, leaves. */
static void *
failing_taker(void *arg)
{
	struct taker *k = arg;

	msgr_turns_take(k->s->t);
	k->s->fail_at = (int)k->s->commits + 1;
	k->commit_rc = msgr_turns_commit(k->s->t, commit, k->s);
	k->s->fail_at = 0;
	msgr_turns_leave(k->s->t, commit, k->s);
	return NULL;
}

/* A thread that stepped aside learns at its next pause that the commit which carried its
 * write failed, before anything that needs the write leaves; the pause after that is clean. */
static void
test_turns_step_aside_failure(void **state)
{
	struct shared s = { 0 };
	struct taker k = { &s, MSGR_OK };
	pthread_t tid;
	long long before;

	(void)state;
	assert_int_equal(msgr_turns_new(&s.t), MSGR_OK);
	msgr_turns_take(s.t);
	assert_int_equal(pthread_create(&tid, NULL, failing_taker, &k), 0);
	while (msgr_turns_waiting(s.t) == 0)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	s.written++;
	before = s.commits;
	assert_int_equal(msgr_turns_step_aside(s.t, commit, &s), MSGR_OK);
	/* Handed on, uncommitted: the other thread's failing commit carries the write. */
	assert_int_equal(pthread_join(tid, NULL), 0);
	assert_int_equal(k.commit_rc, MSGR_ERR_STORE);
	assert_int_equal(s.commits, before + 2);   /* its failing commit and its leave */
	msgr_turns_take(s.t);
	assert_int_equal(msgr_turns_pause(s.t, commit, &s), MSGR_ERR_STORE);
	msgr_turns_take(s.t);
	assert_int_equal(msgr_turns_pause(s.t, commit, &s), MSGR_OK);
	msgr_turns_free(s.t);
}

/* Takes the turn, writes, and leaves with a commit. */
static void *
plain_taker(void *arg)
{
	struct shared *s = arg;

	msgr_turns_take(s->t);
	s->written++;
	msgr_turns_leave(s->t, commit, s);
	return NULL;
}

/* Lending the turn for work that does not touch the store: kept when nobody is ready (no
 * commit either way); handed on, uncommitted, to a thread that is ready, whose commit then
 * carries the lender's write too. */
static void
test_turns_lend(void **state)
{
	struct shared s = { 0 };
	pthread_t tid;

	(void)state;
	assert_int_equal(msgr_turns_new(&s.t), MSGR_OK);
	msgr_turns_take(s.t);
	s.written++;
	assert_int_equal(msgr_turns_lend(s.t), 0);      /* nobody ready: still ours */
	assert_int_equal(s.commits, 0);
	assert_int_equal(pthread_create(&tid, NULL, plain_taker, &s), 0);
	while (msgr_turns_waiting(s.t) == 0)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	assert_int_equal(msgr_turns_lend(s.t), 1);      /* the other thread runs meanwhile */
	assert_int_equal(pthread_join(tid, NULL), 0);
	assert_int_equal(s.commits, 1);                 /* its leave, no commit of the lender's */
	assert_int_equal(s.committed, 2);               /* which carried the lender's write */
	msgr_turns_take(s.t);
	assert_int_equal(msgr_turns_pause(s.t, commit, &s), MSGR_OK);
	msgr_turns_free(s.t);
}

/* Commits synced apart: a pause returns only once its write is durable, not only committed;
 * the syncs run beside the turn (fewer of them than commits: a sync under way covers the
 * threads that need no more), and step asides' own commits are not synced. */
static void
test_turns_sync_apart(void **state)
{
	struct shared s = { 0 };

	(void)state;
	s.apart = 1;
	s.mixed = 1;
	run(&s);
	assert_int_equal(atomic_load(&s.overlaps), 0);
	assert_int_equal(s.uncovered, 0);
	assert_int_equal(s.undurable, 0);
	assert_int_equal(s.failed_seen, 0);
	assert_int_equal(s.committed, s.written);
	assert_int_equal(s.durable, s.written);         /* the last leave synced the rest */
	assert_true(s.syncs > 0 && s.syncs <= s.pauses + THREADS);
}

/* A sync that fails fails the pauses that needed it and every one after: after a failed
 * fsync nothing can be promised on disk. */
static void
test_turns_sync_failure(void **state)
{
	struct shared s = { 0 };

	(void)state;
	s.apart = 1;
	s.sync_fail_at = 3;
	run(&s);
	assert_int_equal(atomic_load(&s.overlaps), 0);
	assert_int_equal(s.undurable, 0);
	/* Every pause from the failure on reported it: most of them. */
	assert_true(s.failed_seen >= s.pauses / 2);
}

/* Alone, a thread commits at every pause, as a handle not shared would. */
static void
test_turns_alone(void **state)
{
	struct shared s = { 0 };
	int i;

	(void)state;
	assert_int_equal(msgr_turns_new(&s.t), MSGR_OK);
	msgr_turns_take(s.t);
	for (i = 0; i < 10; i++) {
		s.written++;
		assert_int_equal(msgr_turns_pause(s.t, commit, &s), MSGR_OK);
		assert_int_equal(s.committed, s.written);
		msgr_turns_take(s.t);
	}
	assert_int_equal(s.commits, 10);
	/* Stepping aside with nobody to hand on to commits too. */
	s.written++;
	assert_int_equal(msgr_turns_step_aside(s.t, commit, &s), MSGR_OK);
	assert_int_equal(s.committed, s.written);
	msgr_turns_take(s.t);
	assert_int_equal(msgr_turns_commit(s.t, commit, &s), MSGR_OK);
	assert_int_equal(msgr_turns_leave(s.t, commit, &s), MSGR_OK);
	assert_int_equal(s.commits, 13);
	msgr_turns_free(s.t);
	msgr_turns_free(NULL);
}

/* As fibers of one thread: one at a time, each pause covered (and durable, synced apart by
 * the run's own thread), commits shared among the fibers as among threads, at most 16
 * hand-overs a transaction, and no lend (nothing would run beside the lender). */
static void
test_turns_fibers(void **state)
{
	struct shared s = { 0 };

	(void)state;
	s.fibers = 1;
	run(&s);
	assert_int_equal(atomic_load(&s.overlaps), 0);
	assert_int_equal(s.uncovered, 0);
	assert_int_equal(s.pauses, THREADS * ROUNDS);
	assert_int_equal(s.committed, s.written);
	assert_true(s.commits < s.pauses / 2);
	assert_int_equal(s.lends, 0);
	assert_int_equal(s.failed_seen, 0);

	memset(&s, 0, sizeof(s));
	s.fibers = 1;
	s.mixed = 1;
	s.apart = 1;
	run(&s);
	assert_int_equal(atomic_load(&s.overlaps), 0);
	assert_int_equal(s.uncovered, 0);
	assert_int_equal(s.undurable, 0);
	assert_int_equal(s.failed_seen, 0);
	assert_int_equal(s.durable, s.written);
	assert_true(s.commits < s.pauses);
	assert_true(s.syncs > 0 && s.syncs < s.pauses);
	assert_true(s.most_asides <= 17);
}

/* A fiber stepping aside with nobody to hand on to leaves the transaction open for the loop:
 * no commit then, one as soon as the loop has nothing to run (its sleep), and none at all
 * when the fiber commits first. */
static void
alone_fiber(void *arg)
{
	struct shared *s = arg;

	msgr_turns_take(s->t);
	s->written++;
	assert_int_equal(msgr_turns_step_aside(s->t, commit, s), MSGR_OK);
	assert_int_equal(s->commits, 0);           /* left to the loop */
	msgr_fiber_sleep(5, 0);                    /* the loop has nothing else: it commits */
	assert_int_equal(s->commits, 1);
	assert_int_equal(s->committed, s->written);
	msgr_turns_take(s->t);
	s->written++;
	assert_int_equal(msgr_turns_step_aside(s->t, commit, s), MSGR_OK);
	msgr_turns_take(s->t);                     /* back before the loop was idle */
	s->written++;
	assert_int_equal(msgr_turns_pause(s->t, commit, s), MSGR_OK);
	assert_int_equal(s->commits, 2);           /* one commit for both writes */
	assert_int_equal(s->committed, s->written);
	msgr_fiber_sleep(5, 0);
	assert_int_equal(s->commits, 2);           /* nothing left open: no idle commit */
	msgr_turns_take(s->t);
	assert_int_equal(msgr_turns_leave(s->t, commit, s), MSGR_OK);
}

static void
test_turns_fiber_alone(void **state)
{
	struct shared s = { 0 };
	void *args[1] = { &s };

	(void)state;
	assert_int_equal(msgr_turns_new(&s.t), MSGR_OK);
	assert_int_equal(msgr_fibers_run(1, alone_fiber, args, NULL), MSGR_OK);
	assert_int_equal(s.commits, 3);
	msgr_turns_free(s.t);
}

/* The first fiber pauses while the second, runnable, counts as about to want the turn; the
 * second ends instead (a worker whose budget is spent): the loop commits for the first, which
 * would otherwise wait for ever. */
static void
ends_fiber(void *arg)
{
	struct shared *s = arg;

	if (s->started++ > 0)
		return;
	msgr_turns_take(s->t);
	s->written++;
	assert_int_equal(msgr_turns_pause(s->t, commit, s), MSGR_OK);
	assert_int_equal(s->committed, s->written);
	s->pauses++;
}

static void
test_turns_fiber_ends(void **state)
{
	struct shared s = { 0 };
	void *args[2] = { &s, &s };

	(void)state;
	assert_int_equal(msgr_turns_new(&s.t), MSGR_OK);
	assert_int_equal(msgr_fibers_run(2, ends_fiber, args, NULL), MSGR_OK);
	assert_int_equal(s.started, 2);
	assert_int_equal(s.pauses, 1);
	assert_int_equal(s.commits, 1);
	msgr_turns_free(s.t);
}

/* A failing commit or sync reaches the fibers whose writes it carried, as it does threads. */
static void
test_turns_fibers_failure(void **state)
{
	struct shared s = { 0 };

	(void)state;
	s.fibers = 1;
	s.fail_at = 5;
	run(&s);
	assert_int_equal(atomic_load(&s.overlaps), 0);
	assert_true(s.failed_seen >= 1 && s.failed_seen <= THREADS);

	memset(&s, 0, sizeof(s));
	s.fibers = 1;
	s.apart = 1;
	s.sync_fail_at = 3;
	run(&s);
	assert_int_equal(s.undurable, 0);
	assert_true(s.failed_seen >= s.pauses / 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_turns_commit_together),
		cmocka_unit_test(test_turns_failure_reaches_waiters),
		cmocka_unit_test(test_turns_step_aside),
		cmocka_unit_test(test_turns_step_aside_failure),
		cmocka_unit_test(test_turns_lend),
		cmocka_unit_test(test_turns_sync_apart),
		cmocka_unit_test(test_turns_sync_failure),
		cmocka_unit_test(test_turns_alone),
		cmocka_unit_test(test_turns_fibers),
		cmocka_unit_test(test_turns_fibers_failure),
		cmocka_unit_test(test_turns_fiber_alone),
		cmocka_unit_test(test_turns_fiber_ends),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
