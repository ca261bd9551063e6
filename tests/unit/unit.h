/* unit.h — what every cmocka unit test includes, in the order cmocka needs. */
#ifndef MSGR_TEST_UNIT_H
#define MSGR_TEST_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Folder of the test data (tests/data), overridable for out-of-tree runs. */
static inline const char *
unit_data_dir(void)
{
	const char *d = getenv("MSGR_TEST_DATA");
	return d ? d : "tests/data";
}

#endif
