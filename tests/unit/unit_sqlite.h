/* unit_sqlite.h — reading or changing a state file beside the store under test, as another
 * process or a person with sqlite3 would (the SQLite tests include it after unit.h). */
#ifndef MSGR_TEST_UNIT_SQLITE_H
#define MSGR_TEST_UNIT_SQLITE_H

#include <sqlite3.h>

/* The first column of query's first row, on a read-only connection of its own; -1 when the
 * query gives no row. A statement that cannot be prepared fails the test. */
static inline long long
unit_sqlite_count(const char *path, const char *query)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	assert_int_equal(sqlite3_prepare_v2(db, query, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* Runs sql (one or more statements) on a read-write connection of its own, as an older build,
 * another process or a person with sqlite3 would; SQLite's result (SQLITE_OK when every
 * statement ran). Lock waits up to 2 s, as the store's own. */
static inline int
unit_sqlite_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	if ((rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL)) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 2000);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	sqlite3_close(db);
	return rc;
}

#endif
