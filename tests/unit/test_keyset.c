/* Unit tests: the set of dedup keys the host committer's handle keeps of its inbox
 * (lib/keyset.h). */
#include "unit.h"

#include <stdio.h>

#include "keyset.h"

static void
test_add_has_del(void **state)
{
	struct msgr_keyset s;

	(void)state;
	msgr_keyset_init(&s);
	assert_false(msgr_keyset_has(&s, "a"));
	msgr_keyset_del(&s, "a");                  /* absent: nothing happens */
	assert_int_equal(msgr_keyset_add(&s, "a"), MSGR_OK);
	assert_int_equal(msgr_keyset_add(&s, "a"), MSGR_OK);
	assert_int_equal(s.n, 1);
	assert_true(msgr_keyset_has(&s, "a"));
	assert_false(msgr_keyset_has(&s, "b"));
	assert_false(msgr_keyset_has(&s, ""));
	msgr_keyset_del(&s, "a");
	assert_false(msgr_keyset_has(&s, "a"));
	assert_int_equal(s.n, 0);
	assert_int_equal(msgr_keyset_add(&s, "a"), MSGR_OK);
	assert_true(msgr_keyset_has(&s, "a"));
	msgr_keyset_clear(&s);
	assert_false(msgr_keyset_has(&s, "a"));
	assert_int_equal(s.n, 0);
	msgr_keyset_clear(&s);                     /* twice is fine */
}

/* Many keys, removed and added in turns: the table grows, tombstones are reused or dropped,
 * and every answer stays right. */
static void
test_many_with_churn(void **state)
{
	enum { N = 20000 };
	struct msgr_keyset s;
	char k[80];
	size_t i, round;

	(void)state;
	msgr_keyset_init(&s);
	for (i = 0; i < N; i++) {
		snprintf(k, sizeof(k), "%064zx", i * 2654435761u);
		assert_int_equal(msgr_keyset_add(&s, k), MSGR_OK);
	}
	assert_int_equal(s.n, N);
	assert_true(s.used * 2 <= s.cap);
	for (round = 0; round < 4; round++) {
		/* The odd ones go, then come back. */
		for (i = 1; i < N; i += 2) {
			snprintf(k, sizeof(k), "%064zx", i * 2654435761u);
			msgr_keyset_del(&s, k);
		}
		assert_int_equal(s.n, N / 2);
		for (i = 0; i < N; i++) {
			snprintf(k, sizeof(k), "%064zx", i * 2654435761u);
			assert_int_equal(msgr_keyset_has(&s, k), i % 2 == 0);
		}
		for (i = 1; i < N; i += 2) {
			snprintf(k, sizeof(k), "%064zx", i * 2654435761u);
			assert_int_equal(msgr_keyset_add(&s, k), MSGR_OK);
		}
		assert_int_equal(s.n, N);
		assert_true(s.used * 2 <= s.cap);
	}
	snprintf(k, sizeof(k), "%064x", 7u);
	assert_false(msgr_keyset_has(&s, k));
	msgr_keyset_clear(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_has_del),
		cmocka_unit_test(test_many_with_churn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
