/* Unit tests: one thread waiting for many answers (lib/answerer.h) — each item completed
 * exactly once, when its socket turns readable or past its deadline, never before either;
 * a connection re-armed for its next answer; the stop waits for what is pending. */
#include "unit.h"

#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "answerer.h"
#include "clock.h"

#define N 48

struct rec {
	struct msgr_answerer_item it;
	int done;                 /* times completed */
	int timed_out;
	long long at;             /* when (monotonic ms) */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void
on_done(void *arg, struct msgr_answerer_item *it, int timed_out)
{
	struct rec *r = (struct rec *)(void *)it;

	(void)arg;
	pthread_mutex_lock(&mu);
	r->done++;
	r->timed_out = timed_out;
	r->at = msgr_clock_mono_ms();
	pthread_mutex_unlock(&mu);
}

static int
done_of(struct rec *r)
{
	int d;

	pthread_mutex_lock(&mu);
	d = r->done;
	pthread_mutex_unlock(&mu);
	return d;
}

/* Waits up to ms for r to be completed once: its count then. */
static int
wait_done(struct rec *r, long ms)
{
	struct timespec tick = { 0, 2 * 1000000L };
	long long end = msgr_clock_mono_ms() + ms;

	while (done_of(r) == 0 && msgr_clock_mono_ms() < end)
		nanosleep(&tick, NULL);
	return done_of(r);
}

static void
pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* r waits on fd for ms at most. */
static void
arm(struct msgr_answerer *a, struct rec *r, int fd, long ms)
{
	memset(r, 0, sizeof(*r));
	r->it.fd = fd;
	r->it.deadline = msgr_clock_mono_ms() + ms;
	assert_int_equal(msgr_answerer_add(a, &r->it), MSGR_OK);
}

static void
test_refusals(void **state)
{
	struct msgr_answerer *a = NULL;
	struct rec r;
	int sv[2];

	(void)state;
	assert_int_equal(msgr_answerer_start(NULL, NULL, &a), MSGR_ERR_INVALID);
	assert_int_equal(msgr_answerer_start(on_done, NULL, NULL), MSGR_ERR_INVALID);
	assert_int_equal(msgr_answerer_start(on_done, NULL, &a), MSGR_OK);
	memset(&r, 0, sizeof(r));
	r.it.fd = -1;
	r.it.deadline = msgr_clock_mono_ms() + 50;
	assert_int_equal(msgr_answerer_add(a, &r.it), MSGR_ERR_IO);
	/* an fd that is not open cannot be watched: refused, never completed */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[0]);
	close(sv[1]);
	r.it.fd = sv[0];
	assert_int_equal(msgr_answerer_add(a, &r.it), MSGR_ERR_IO);
	assert_int_equal(msgr_answerer_pending(a), 0);
	pause_ms(150);
	assert_int_equal(done_of(&r), 0);
	assert_int_equal(msgr_answerer_add(NULL, &r.it), MSGR_ERR_IO);
	msgr_answerer_stop(a);
	msgr_answerer_stop(NULL);
	assert_int_equal(done_of(&r), 0);
}

/* Readable: completed once, not timed out, and not before the answer was written. */
static void
test_answer_completes(void **state)
{
	struct msgr_answerer *a = NULL;
	struct rec r;
	long long wrote;
	int sv[2];

	(void)state;
	assert_int_equal(msgr_answerer_start(on_done, NULL, &a), MSGR_OK);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	arm(a, &r, sv[0], 5000);
	assert_int_equal(msgr_answerer_pending(a), 1);
	pause_ms(150);
	assert_int_equal(done_of(&r), 0);
	wrote = msgr_clock_mono_ms();
	assert_int_equal(write(sv[1], "x", 1), 1);
	assert_int_equal(wait_done(&r, 2000), 1);
	assert_int_equal(r.timed_out, 0);
	assert_true(r.at >= wrote);
	assert_int_equal(msgr_answerer_pending(a), 0);
	/* the same connection, armed again for its next answer (kept in the epoll set) */
	{
		char c;

		assert_int_equal(read(sv[0], &c, 1), 1);
	}
	arm(a, &r, sv[0], 5000);
	pause_ms(100);
	assert_int_equal(done_of(&r), 0);
	assert_int_equal(write(sv[1], "y", 1), 1);
	assert_int_equal(wait_done(&r, 2000), 1);
	assert_int_equal(r.timed_out, 0);
	/* a peer that hangs up is an event too: the caller's read says what it is */
	arm(a, &r, sv[0], 5000);
	close(sv[1]);
	assert_int_equal(wait_done(&r, 2000), 1);
	assert_int_equal(r.timed_out, 0);
	msgr_answerer_stop(a);
	close(sv[0]);
	pause_ms(20);
	assert_int_equal(done_of(&r), 1);
}

/* No answer: completed once with timed_out, not before the deadline and not long after. */
static void
test_deadline(void **state)
{
	struct msgr_answerer *a = NULL;
	struct rec r;
	int sv[2];

	(void)state;
	assert_int_equal(msgr_answerer_start(on_done, NULL, &a), MSGR_OK);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	arm(a, &r, sv[0], 120);
	assert_int_equal(wait_done(&r, 3000), 1);
	assert_int_equal(r.timed_out, 1);
	assert_true(r.at >= r.it.deadline);
	assert_true(r.at < r.it.deadline + 1000);
	/* an answer after that completes nothing more */
	assert_int_equal(write(sv[1], "x", 1), 1);
	pause_ms(150);
	assert_int_equal(done_of(&r), 1);
	msgr_answerer_stop(a);
	close(sv[0]);
	close(sv[1]);
}

/* Many at once, answered in reverse order from another thread: each completed exactly once. */
struct writer {
	int *fds;
};

static void *
write_all(void *arg)
{
	struct writer *w = arg;
	int i;

	for (i = N - 1; i >= 0; i--)
		if (write(w->fds[i], "z", 1) != 1)
			break;
	return NULL;
}

static void
test_many(void **state)
{
	struct msgr_answerer *a = NULL;
	struct rec *r = calloc(N, sizeof(*r));
	int sv[N][2], peer[N], i, once = 0;
	struct writer w = { peer };
	pthread_t tid;

	(void)state;
	assert_non_null(r);
	assert_int_equal(msgr_answerer_start(on_done, NULL, &a), MSGR_OK);
	for (i = 0; i < N; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]), 0);
		peer[i] = sv[i][1];
		arm(a, &r[i], sv[i][0], 10000);
	}
	assert_int_equal(pthread_create(&tid, NULL, write_all, &w), 0);
	assert_int_equal(pthread_join(tid, NULL), 0);
	for (i = 0; i < N; i++)
		once += wait_done(&r[i], 3000) == 1 && !r[i].timed_out;
	assert_int_equal(once, N);
	assert_int_equal(msgr_answerer_pending(a), 0);
	msgr_answerer_stop(a);
	for (i = 0; i < N; i++) {
		assert_int_equal(done_of(&r[i]), 1);
		close(sv[i][0]);
		close(sv[i][1]);
	}
	free(r);
}

/* The stop waits for every pending item: after it returns, each was completed. */
static void
test_stop_waits(void **state)
{
	struct msgr_answerer *a = NULL;
	struct rec r[2];
	long long t0;
	int sv[2][2], i;

	(void)state;
	memset(r, 0, sizeof(r));
	assert_int_equal(msgr_answerer_start(on_done, NULL, &a), MSGR_OK);
	for (i = 0; i < 2; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]), 0);
		arm(a, &r[i], sv[i][0], 200);
	}
	assert_int_equal(write(sv[0][1], "x", 1), 1);
	t0 = msgr_clock_mono_ms();
	msgr_answerer_stop(a);
	assert_int_equal(r[0].done, 1);
	assert_int_equal(r[0].timed_out, 0);
	assert_int_equal(r[1].done, 1);
	assert_int_equal(r[1].timed_out, 1);
	assert_true(msgr_clock_mono_ms() - t0 < 2000);
	for (i = 0; i < 2; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
}

/* A deadline already past when the thread computes its wait (1 ms past, and long past):
 * completed at once as timed out, and the thread lives on for the next item. A wait of -1
 * would have ended the thread, any other negative one blocked it with no timeout. */
static void
test_past_deadline(void **state)
{
	struct msgr_answerer *a = NULL;
	struct rec r[3];
	long past[2] = { 1, 1000 };
	int sv[2], i;

	(void)state;
	assert_int_equal(msgr_answerer_start(on_done, NULL, &a), MSGR_OK);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	for (i = 0; i < 2; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].it.fd = sv[0];
		r[i].it.deadline = msgr_clock_mono_ms() - past[i];
		assert_int_equal(msgr_answerer_add(a, &r[i].it), MSGR_OK);
		assert_int_equal(wait_done(&r[i], 2000), 1);
		assert_int_equal(r[i].timed_out, 1);
	}
	arm(a, &r[2], sv[0], 5000);
	assert_int_equal(write(sv[1], "x", 1), 1);
	assert_int_equal(wait_done(&r[2], 2000), 1);
	assert_int_equal(r[2].timed_out, 0);
	msgr_answerer_stop(a);
	for (i = 0; i < 3; i++)
		assert_int_equal(r[i].done, 1);
	close(sv[0]);
	close(sv[1]);
}

/* The wait before the first deadline: its distance, at most the tick, 0 once past by any
 * amount (1 ms past made -1, the stop's sentinel, before 35b1f61). */
static void
test_wait_ms(void **state)
{
	long long now = 1000000;

	(void)state;
	assert_int_equal(msgr_answerer_wait_ms(now + 40, now), 40);
	assert_int_equal(msgr_answerer_wait_ms(now + 1, now), 1);
	assert_int_equal(msgr_answerer_wait_ms(now + 100000, now), 100);
	assert_int_equal(msgr_answerer_wait_ms(now, now), 0);
	assert_int_equal(msgr_answerer_wait_ms(now - 1, now), 0);
	assert_int_equal(msgr_answerer_wait_ms(now - 2, now), 0);
	assert_int_equal(msgr_answerer_wait_ms(now - 5000000000LL, now), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_answer_completes),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_past_deadline),
		cmocka_unit_test(test_wait_ms),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_stop_waits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
