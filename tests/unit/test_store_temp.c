/* Unit tests: what a SQLite store writes outside its own files while a held transaction runs
 * (docs/store.md "Files"): no temp file for the journal of a call's savepoint, and nothing in
 * the WAL before the commit while the changed pages stay under 4 MB. A VFS of the test's,
 * made SQLite's default before the first store opens (the store's own VFS wraps the default),
 * counts the temp files SQLite opens. */
#include "unit.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include "store.h"
#include "unit_sqlite.h"

/* Deleted by one call: its savepoint's journal, a page for each page it changes, is past the
 * 64 KB where SQLite would open a temp file for it. */
#define EVENTS 9000

static sqlite3_vfs counting;
static sqlite3_vfs *base;
static int temp_opens;

static int
counting_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	(void)vfs;
	if (flags & (SQLITE_OPEN_SUBJOURNAL | SQLITE_OPEN_TEMP_JOURNAL | SQLITE_OPEN_TEMP_DB |
	    SQLITE_OPEN_TRANSIENT_DB))
		temp_opens++;
	return base->xOpen(base, name, f, flags, out);
}

static int
setup_vfs(void **state)
{
	(void)state;
	if ((base = sqlite3_vfs_find(NULL)) == NULL)
		return -1;
	counting = *base;
	counting.zName = "msgr-test-counting";
	counting.xOpen = counting_open;
	return sqlite3_vfs_register(&counting, 1) == SQLITE_OK ? 0 : -1;
}

static long long
wal_size(const char *path)
{
	char p[160];
	struct stat sb;

	snprintf(p, sizeof(p), "%s-wal", path);
	return stat(p, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* Moved out of the inbox in one held transaction: SQLite's default page cache spills from
 * 6,000 (measured), the store's 4 MB holds 12,000. */
#define MOVED 8000

/* total events of users u0 to u499, 100 to a transaction. */
static void
fill_n(struct msgr_store *st, size_t total)
{
	static char raw[200];
	struct msgr_store_event ev[100];
	char keys[100][32];
	char users[100][16];
	size_t i, j, nn = 0;

	memset(raw, 'x', sizeof(raw) - 1);
	raw[0] = '"';
	raw[sizeof(raw) - 2] = '"';
	for (i = 0; i < total; i += 100) {
		for (j = 0; j < 100; j++) {
			snprintf(keys[j], sizeof(keys[j]), "k-%zu", i + j);
			snprintf(users[j], sizeof(users[j]), "u%zu", (i + j) % 500);
			memset(&ev[j], 0, sizeof(ev[j]));
			ev[j].connector_id = "c1";
			ev[j].page_id = "p1";
			ev[j].user_id = users[j];
			ev[j].kind = 1;
			ev[j].timestamp = 1000;
			ev[j].key = keys[j];
			ev[j].raw = raw;
		}
		assert_int_equal(msgr_store_enqueue(st, ev, 100, NULL, 0, &nn, NULL), MSGR_OK);
		assert_int_equal(nn, 100);
	}
}

/* EVENTS events, finished long ago. */
static void
fill(struct msgr_store *st, const char *path)
{
	fill_n(st, EVENTS);
	assert_int_equal(unit_sqlite_exec(path, "UPDATE events SET state = 1, finished_at = 5;"
	    "DELETE FROM convq"), SQLITE_OK);
}

/* A store on a new file of t's (WAL), its events appended to the inbox when inbox is set. */
static struct msgr_store *
open_store(struct unit_tmp *t, int inbox)
{
	struct msgr_store_options o;
	struct msgr_store *st = NULL;

	memset(&o, 0, sizeof(o));
	o.path = t->path;
	o.wal = 1;
	o.busy_timeout_ms = 2000;
	o.inbox = inbox;
	assert_int_equal(msgr_store_open(&o, &st), MSGR_OK);
	return st;
}

/* A reader in a transaction on path: its snapshot keeps the WAL from starting over, so
 * frames written before a commit would land past its end. */
static sqlite3 *
reader_open(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN; SELECT count(*) FROM events", NULL, NULL, NULL),
	    SQLITE_OK);
	return db;
}

/* One call deleting EVENTS rows in a held transaction: its savepoint's journal stays in
 * memory, and the pages it changed reach the WAL with the commit only. */
static void
test_held_call_keeps_its_pages(void **state)
{
	struct unit_tmp t;
	struct msgr_store *st;
	sqlite3 *reader;
	long long before;
	size_t n = 0;
	int more = 0;

	(void)state;
	assert_int_equal(unit_tmp_make(&t, "store-temp"), 0);
	st = open_store(&t, 0);
	fill(st, t.path);
	reader = reader_open(t.path);
	assert_int_equal(msgr_store_hold(st, 1), MSGR_OK);
	before = wal_size(t.path);
	assert_true(before > 0);
	temp_opens = 0;
	assert_int_equal(msgr_store_purge(st, 10, EVENTS, &n, &more), MSGR_OK);
	assert_int_equal(n, EVENTS);
	assert_int_equal(temp_opens, 0);
	assert_int_equal(wal_size(t.path), before);
	sqlite3_close(reader);
	assert_int_equal(unit_sqlite_count(t.path, "SELECT count(*) FROM events"), EVENTS);
	assert_int_equal(msgr_store_hold(st, 0), MSGR_OK);
	assert_int_equal(unit_sqlite_count(t.path, "SELECT count(*) FROM events"), 0);
	msgr_store_close(st);
	unit_rmdir_all(t.dir);
}

/* The drain's case: moves out of the inbox, 128 rows a call, in one held transaction. */
static void
test_held_moves_keep_their_pages(void **state)
{
	struct unit_tmp t;
	struct msgr_store *st;
	sqlite3 *reader;
	long long before;
	size_t moved = 0, all = 0;
	int more = 1;

	(void)state;
	assert_int_equal(unit_tmp_make(&t, "store-temp"), 0);
	st = open_store(&t, 1);
	fill_n(st, MOVED);
	msgr_store_close(st);
	st = open_store(&t, 0);
	reader = reader_open(t.path);
	assert_int_equal(msgr_store_hold(st, 1), MSGR_OK);
	before = wal_size(t.path);
	temp_opens = 0;
	while (more) {
		assert_int_equal(msgr_store_ingest(st, 128, &moved, &more), MSGR_OK);
		all += moved;
	}
	assert_int_equal(all, MOVED);
	assert_int_equal(temp_opens, 0);
	assert_int_equal(wal_size(t.path), before);
	sqlite3_close(reader);
	assert_int_equal(msgr_store_hold(st, 0), MSGR_OK);
	assert_int_equal(unit_sqlite_count(t.path, "SELECT count(*) FROM inbox"), 0);
	msgr_store_close(st);
	unit_rmdir_all(t.dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_held_call_keeps_its_pages),
		cmocka_unit_test(test_held_moves_keep_their_pages),
	};

	return cmocka_run_group_tests_name("store_temp", tests, setup_vfs, NULL);
}
