/* Unit tests: worker backoff (exponential, jittered, capped, first retry within 2 s). */
#include "unit.h"
#include "worker.h"

static void
test_first_retry_within_two_seconds(void **state)
{
	double r;

	(void)state;
	for (r = 0.0; r < 1.0; r += 0.05) {
		long long d = msgr_worker_backoff_ms(0, r, 0);
		assert_true(d >= MSGR_RETRY_FIRST_MS / 2);
		assert_true(d <= 2000);
	}
}

static void
test_grows_exponentially_then_caps(void **state)
{
	long long prev = 0, d;
	int a;

	(void)state;
	/* With the same jitter draw, each try waits twice the one before until the cap. */
	for (a = 0; a < 40; a++) {
		d = msgr_worker_backoff_ms(a, 0.999, 0);
		assert_true(d <= MSGR_RETRY_CAP_MS);
		if (prev * 2 <= MSGR_RETRY_CAP_MS / 2)
			assert_true(d >= prev * 2 - 2);
		assert_true(d >= prev);
		prev = d;
	}
	assert_true(prev >= MSGR_RETRY_CAP_MS * 99 / 100);
	/* a huge attempt count does not overflow */
	assert_true(msgr_worker_backoff_ms(1 << 30, 0.5, 0) <= MSGR_RETRY_CAP_MS);
}

static void
test_jitter_spreads(void **state)
{
	(void)state;
	/* The draw moves the delay within [d/2, d]: two processes rarely retry together. */
	assert_int_equal(msgr_worker_backoff_ms(3, 0.0, 0), 4000);
	assert_true(msgr_worker_backoff_ms(3, 0.99, 0) > 7900);
	/* a draw outside [0, 1) is taken as the middle */
	assert_int_equal(msgr_worker_backoff_ms(3, 7.0, 0), 6000);
	assert_int_equal(msgr_worker_backoff_ms(3, -1.0, 0), 6000);
}

static void
test_hint_raises_but_is_capped(void **state)
{
	(void)state;
	/* A usage header's time to regain access wins when longer... */
	assert_int_equal(msgr_worker_backoff_ms(0, 0.5, 60000), 60000);
	/* ...never shortens the backoff... */
	assert_int_equal(msgr_worker_backoff_ms(3, 0.0, 10), 4000);
	/* ...and never waits past the cap. */
	assert_int_equal(msgr_worker_backoff_ms(0, 0.5, 3600000), MSGR_RETRY_CAP_MS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_retry_within_two_seconds),
		cmocka_unit_test(test_grows_exponentially_then_caps),
		cmocka_unit_test(test_jitter_spreads),
		cmocka_unit_test(test_hint_raises_but_is_capped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
