/* Unit tests: threads taking turns on one store handle and committing together
 * (lib/turns.h), with a commit of the test's own that records what it covers. */
#include "unit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

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
};

static msgr_result
commit(void *arg)
{
	struct shared *s = arg;
	struct timespec ts = { 0, 200000 };   /* an fsync's time: others get ready meanwhile */

	nanosleep(&ts, NULL);
	s->commits++;
	s->committed = s->written;
	return s->commits == s->fail_at ? MSGR_ERR_STORE : MSGR_OK;
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

static void *
worker(void *arg)
{
	struct shared *s = arg;
	struct timespec call = { 0, 50000 };
	long long mine;
	msgr_result r;
	int i;

	enter(s);
	for (i = 0; i < ROUNDS; i++) {
		mine = ++s->written;           /* a write, under the turn */
		s->pauses++;
		out(s);
		r = msgr_turns_pause(s->t, commit, s);
		/* Not under the turn any more: read what the commit left under the lock the
		 * turns hold while counting (pause returned after it). */
		if (r != MSGR_OK)
			__atomic_add_fetch(&s->failed_seen, 1, __ATOMIC_RELAXED);
		nanosleep(&call, NULL);        /* the Graph call */
		enter(s);
		if (s->committed < mine)
			s->uncovered++;
	}
	out(s);
	msgr_turns_leave(s->t, commit, s);
	return NULL;
}

static void
run(struct shared *s)
{
	pthread_t tid[THREADS];
	int i;

	assert_int_equal(msgr_turns_new(&s->t), MSGR_OK);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&tid[i], NULL, worker, s), 0);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(tid[i], NULL), 0);
	msgr_turns_free(s->t);
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
	assert_int_equal(msgr_turns_commit(s.t, commit, &s), MSGR_OK);
	assert_int_equal(msgr_turns_leave(s.t, commit, &s), MSGR_OK);
	assert_int_equal(s.commits, 12);
	msgr_turns_free(s.t);
	msgr_turns_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_turns_commit_together),
		cmocka_unit_test(test_turns_failure_reaches_waiters),
		cmocka_unit_test(test_turns_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
