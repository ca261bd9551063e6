/* test_id.c — the one check of a Facebook id (lib/id.h). */
#include "unit.h"
#include "id.h"
#include "limits.h"

static void
test_digits(void **state)
{
	(void)state;
	assert_true(msgr_id_digits("0123456789", 10));
	assert_true(msgr_id_digits("12x", 2));           /* only the n bytes given */
	assert_false(msgr_id_digits("12x", 3));
	assert_false(msgr_id_digits("", 0));
	assert_false(msgr_id_digits(NULL, 3));
	assert_false(msgr_id_digits("-1", 2));
	assert_false(msgr_id_digits("1 ", 2));
	assert_false(msgr_id_digits("\xd9\xa1", 2));     /* an Arabic-Indic one is no digit here */
}

static void
test_valid(void **state)
{
	char id[MSGR_MAX_ID_LEN + 2];

	(void)state;
	assert_true(msgr_id_valid("1"));
	assert_true(msgr_id_valid(MSGR_PAGE_INBOX_APP_ID));
	assert_false(msgr_id_valid(""));
	assert_false(msgr_id_valid(NULL));
	assert_false(msgr_id_valid("12a"));
	assert_false(msgr_id_valid("+12"));
	/* MSGR_MAX_ID_LEN digits pass, one more does not */
	memset(id, '7', MSGR_MAX_ID_LEN);
	id[MSGR_MAX_ID_LEN] = '\0';
	assert_true(msgr_id_valid(id));
	id[MSGR_MAX_ID_LEN] = '7';
	id[MSGR_MAX_ID_LEN + 1] = '\0';
	assert_false(msgr_id_valid(id));
}

static void
test_target(void **state)
{
	(void)state;
	assert_true(msgr_id_target("inbox"));
	assert_true(msgr_id_target("987654321098765"));
	assert_false(msgr_id_target("Inbox"));
	assert_false(msgr_id_target("inbox "));
	assert_false(msgr_id_target(""));
	assert_false(msgr_id_target(NULL));
	assert_false(msgr_id_target("app"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digits),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_target),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
