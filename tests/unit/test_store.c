/* Unit tests: the state store (lib/store.h), on both backends. The interface's promises are
 * checked through msgr_store_* calls, once on SQLite (a fresh database in its own folder
 * under /tmp, removed afterwards) and once on PostgreSQL (a schema of its own in the run's
 * throw-away cluster: tests/unit/pgtest.h, when tests/run gives one). Schema, migration and
 * locking checks are each backend's own. Lock contention is made with a second raw
 * connection or a forked process, as another responder process would. */
#include "unit.h"
#include "pgtest.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit_sqlite.h"

#include "store.h"

struct fx {
	struct unit_tmp t;
	char *dir;                    /* t.dir */
	char *path;                   /* t.path, or "postgresql" */
	char conninfo[512];           /* PostgreSQL: the test's schema; "" for SQLite */
	char schema[64];
	struct msgr_store *st;
};

static long long
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void
opts(struct fx *f, struct msgr_store_options *o, int wal, int busy_ms)
{
	memset(o, 0, sizeof(*o));
	o->path = f->path;
	if (f->conninfo[0] != '\0') {
		o->path = "postgresql";
		o->backend = "postgresql";
		o->conninfo = f->conninfo;
	}
	o->wal = wal;
	o->sync_full = 0;   /* NORMAL: durability is SQLite's business, speed is the tests' */
	o->busy_timeout_ms = busy_ms;
}

static struct msgr_store *
open_store(struct fx *f, int wal, int busy_ms)
{
	struct msgr_store_options o;
	struct msgr_store *st = NULL;
	char err[256] = "";

	opts(f, &o, wal, busy_ms);
	o.errbuf = err;
	o.errbufsz = sizeof(err);
	if (msgr_store_open(&o, &st) != MSGR_OK)
		fail_msg("open %s: %s", f->path, err);
	return st;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	if (unit_tmp_make(&f->t, "store") != 0) {
		free(f);
		return -1;
	}
	f->dir = f->t.dir;
	f->path = f->t.path;
	f->st = open_store(f, 1, 2000);
	*state = f;
	return 0;
}

/* The same store held (msgr_store_hold) from the start, as the worker holds its handle: every
 * call a savepoint of one transaction, committed whenever the test looks beside the store. */
static int
setup_held(void **state)
{
	struct fx *f;

	if (setup(state) != 0)
		return -1;
	f = *state;
	if (msgr_store_hold(f->st, 1) != MSGR_OK)
		return -1;
	return 0;
}

#ifdef MSGR_WITH_PQ
static int
setup_pg(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	if (pgtest_schema_new(f->schema, sizeof(f->schema), f->conninfo,
	    sizeof(f->conninfo)) != 0) {
		free(f);
		return -1;
	}
	snprintf(f->t.path, sizeof(f->t.path), "postgresql");
	f->dir = f->t.dir;
	f->path = f->t.path;
	f->st = open_store(f, 1, 2000);
	*state = f;
	return 0;
}

static int
teardown_pg(void **state)
{
	struct fx *f = *state;

	msgr_store_close(f->st);
	pgtest_schema_drop(f->schema);
	free(f);
	return 0;
}
#endif

static int
teardown(void **state)
{
	struct fx *f = *state;

	msgr_store_close(f->st);
	chmod(f->path, 0644);
	unit_rmdir_all(f->dir);
	free(f);
	return 0;
}

/* Event i of conversation (page, user): key derived from both so tests can make duplicates. */
struct evbuf {
	char key[64];
	char user[32];
	char raw[96];
};

static void
mkev(struct msgr_store_event *e, struct evbuf *b, const char *page, int user, long long ts,
    const char *key)
{
	snprintf(b->key, sizeof(b->key), "%s", key);
	snprintf(b->user, sizeof(b->user), "u%d", user);
	snprintf(b->raw, sizeof(b->raw), "{\"key\":\"%s\",\"timestamp\":%lld}", key, ts);
	memset(e, 0, sizeof(*e));
	e->connector_id = "conn";
	e->page_id = page;
	e->user_id = b->user;
	e->kind = 0;
	e->standby = 0;
	e->timestamp = ts;
	e->key = b->key;
	e->raw = b->raw;
}

/* Enqueues one event alone (its own transaction, so ids follow call order). */
static void
put1(struct msgr_store *st, const char *page, int user, long long ts, const char *key)
{
	struct msgr_store_event e;
	struct evbuf b;
	size_t nn, nd;

	mkev(&e, &b, page, user, ts, key);
	assert_int_equal(msgr_store_enqueue(st, &e, 1, NULL, 0, &nn, &nd), MSGR_OK);
	assert_int_equal(nn, 1);
	assert_int_equal(nd, 0);
}

/* The first column of query's first row, read beside the store (another connection). */
static long long
raw_count(const struct fx *f, const char *query)
{
	/* What a held handle has written is seen beside it once committed. */
	if (f->st != NULL)
		assert_int_equal(msgr_store_flush(f->st), MSGR_OK);
#ifdef MSGR_WITH_PQ
	if (f->conninfo[0] != '\0')
		return pgtest_count(f->conninfo, query);
#endif
	return unit_sqlite_count(f->path, query);
}

/* Runs SQL (printf-style) on the file with a connection of its own, as an older build or
 * another tool would. Returns SQLite's result. */
static int sqlite_exec_fmt(const char *path, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
sqlite_exec_fmt(const char *path, const char *fmt, ...)
{
	char sql[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return unit_sqlite_exec(path, sql);
}

/* Runs SQL on the store's database beside it; 0 when it succeeded. */
static int raw_exec(const struct fx *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
raw_exec(const struct fx *f, const char *fmt, ...)
{
	char sql[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	if (f->st != NULL && msgr_store_flush(f->st) != MSGR_OK)
		return -1;
#ifdef MSGR_WITH_PQ
	if (f->conninfo[0] != '\0')
		return pgtest_exec(f->conninfo, "%s", sql);
#endif
	return sqlite_exec_fmt(f->path, "%s", sql) == SQLITE_OK ? 0 : -1;
}

static void
stats(struct msgr_store *st, long long now, struct msgr_store_stats *s)
{
	assert_int_equal(msgr_store_stats(st, now, s), MSGR_OK);
}

/* ---- schema ---- */

static void
test_schema_created(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	struct msgr_store *st2;
	const char *tables[] = { "events", "outbox", "conv", "cache", "pause", "quarantine" };
	char q[256];
	size_t i;

	assert_int_equal(msgr_store_schema_version(), 10);
	/* version 10: echoes by age, for the bounded purge */
	assert_int_equal(raw_count(f,
	    "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'echo_seen'"), 1);
	/* version 9: the index `msgrctl status` lists threads held elsewhere by, in place of
	 * version 2's conv_name */
	assert_int_equal(raw_count(f,
	    "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'conv_elsewhere'"), 1);
	assert_int_equal(raw_count(f,
	    "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'conv_name'"), 0);
	assert_int_equal(raw_count(f, "PRAGMA user_version"), msgr_store_schema_version());
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(q, sizeof(q),
		    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'",
		    tables[i]);
		assert_int_equal(raw_count(f, q), 1);
	}
	/* version 4: a pause holds its token's fingerprint and its next probe */
	assert_int_equal(raw_count(f, "SELECT count(*) FROM pragma_table_info('pause')"
	    " WHERE name IN ('token_fp', 'probe_at')"), 2);
	/* version 5: a lease names its holder's lock, and the lock file is beside the database */
	assert_int_equal(raw_count(f, "SELECT (SELECT count(*) FROM pragma_table_info('events')"
	    " WHERE name = 'lease_lock') + (SELECT count(*) FROM pragma_table_info('convq')"
	    " WHERE name = 'lease_lock')"), 2);
	snprintf(q, sizeof(q), "%s-claims", f->path);
	assert_int_equal(access(q, F_OK), 0);
	/* version 6: outbox rows in flight and their tries, and the echoes that prove a call */
	assert_int_equal(raw_count(f, "SELECT (SELECT count(*) FROM pragma_table_info('outbox')"
	    " WHERE name IN ('tries', 'inflight', 'tried_at')) + (SELECT count(*) FROM sqlite_master"
	    " WHERE name IN ('echo', 'echo_outbox', 'echo_page'))"), 6);
	/* version 7: one index of pending events, which carries the lease */
	assert_int_equal(raw_count(f, "SELECT count(*) FROM sqlite_master WHERE name ="
	    " 'events_lease'"), 0);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM pragma_index_info('events_conv')"
	    " WHERE name = 'lease_until'"), 1);
	/* version 8: the inbox, a rowid table without an index */
	assert_int_equal(raw_count(f, "SELECT count(*) FROM sqlite_master WHERE tbl_name ="
	    " 'inbox'"), 1);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	sqlite3_close(db);

	/* A second handle on the same file (another process would do the same) migrates nothing. */
	st2 = open_store(f, 1, 2000);
	msgr_store_close(st2);
	assert_int_equal(raw_count(f, "PRAGMA user_version"), msgr_store_schema_version());

	/* journal = "delete" (NFS homes) switches the file back. */
	msgr_store_close(f->st);
	f->st = open_store(f, 0, 2000);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "delete");
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static void
test_reopen_keeps_data(void **state)
{
	struct fx *f = *state;
	struct msgr_store_event ev[3];
	struct evbuf b[3];
	struct msgr_store_quarantine q = { "conn", "not json", "{oops", 5 };
	struct msgr_store_stats s;
	size_t nn, nd, i;
	struct msgr_conversation cv;

	for (i = 0; i < 3; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%zu", i);
		mkev(&ev[i], &b[i], "p1", 1, 1000 + (long long)i, key);
	}
	assert_int_equal(msgr_store_enqueue(f->st, ev, 3, &q, 1, &nn, &nd), MSGR_OK);
	assert_int_equal(msgr_store_set_owner(f->st, "p1", "u1", MSGR_OWNER_APP, "app"), MSGR_OK);
	msgr_store_close(f->st);
	f->st = open_store(f, 1, 2000);

	stats(f->st, wall_ms(), &s);
	assert_int_equal(s.pending, 3);
	assert_int_equal(s.quarantined, 1);
	assert_int_equal(msgr_store_conversation(f->st, "p1", "u1", &cv), MSGR_OK);
	assert_int_equal(cv.owner, MSGR_OWNER_APP);
	assert_string_equal(cv.owner_app, "app");
	/* The dedup keys survived too. */
	assert_int_equal(msgr_store_enqueue(f->st, ev, 3, NULL, 0, &nn, &nd), MSGR_OK);
	assert_int_equal(nn, 0);
	assert_int_equal(nd, 3);
}

/* A file written by the previous schema version is brought up to date at open, data kept. */
static void
test_migrates_older(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = NULL;
	struct msgr_store_stats s;

	put1(f->st, "p1", 1, 1000, "kept");
	msgr_store_close(f->st);
	f->st = NULL;
	/* Make it a version 1 file: without what migrations 2, 3, 5, 6, 8 and 9 add. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP INDEX conv_elsewhere; ALTER TABLE events DROP COLUMN "
	    "claims; ALTER TABLE events DROP COLUMN lease_lock; ALTER TABLE convq DROP COLUMN "
	    "lease_lock; ALTER TABLE outbox DROP COLUMN tries; ALTER TABLE outbox DROP COLUMN inflight; ALTER TABLE outbox DROP COLUMN tried_at; DROP TABLE echo; "
	    "DROP TABLE inbox; PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	f->st = open_store(f, 1, 2000);
	assert_int_equal(raw_count(f, "PRAGMA user_version"), msgr_store_schema_version());
	assert_int_equal(raw_count(f,
	    "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'conv_elsewhere'"), 1);
	assert_int_equal(raw_count(f,
	    "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'conv_name'"), 0);
	assert_int_equal(raw_count(f,
	    "SELECT count(*) FROM pragma_table_info('events') WHERE name = 'claims'"), 1);
	stats(f->st, wall_ms(), &s);
	assert_int_equal(s.pending, 1);
}

static void
test_newer_version_refused(void **state)
{
	struct fx *f = *state;
	struct msgr_store_options o;
	struct msgr_store *st = (struct msgr_store *)1;
	sqlite3 *db = NULL;
	char err[256] = "";

	msgr_store_close(f->st);
	f->st = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	opts(f, &o, 1, 2000);
	o.errbuf = err;
	o.errbufsz = sizeof(err);
	assert_int_equal(msgr_store_open(&o, &st), MSGR_ERR_STORE);
	assert_null(st);
	assert_non_null(strstr(err, "newer"));
	/* Refused, not touched. */
	assert_int_equal(raw_count(f, "PRAGMA user_version"), 99);
	o.readonly = 1;
	assert_int_equal(msgr_store_open(&o, &st), MSGR_ERR_STORE);
}

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

static void
test_garbage_refused(void **state)
{
	struct fx *f = *state;
	struct msgr_store_options o;
	struct msgr_store *st = NULL;
	char buf[8192], err[256];
	int ro;

	msgr_store_close(f->st);
	f->st = NULL;
	unlink(f->path);
	for (ro = 0; ro < 2; ro++) {
		/* Text: not a database at all. */
		memset(buf, 'x', sizeof(buf));
		memcpy(buf, "this is not a database\n", 23);
		write_file(f->path, buf, sizeof(buf));
		opts(f, &o, 1, 500);
		o.readonly = ro;
		o.errbuf = err;
		o.errbufsz = sizeof(err);
		err[0] = '\0';
		assert_int_equal(msgr_store_open(&o, &st), MSGR_ERR_STORE);
		assert_null(st);
		assert_true(err[0] != '\0');

		/* The right magic over garbage pages: corrupt. */
		memset(buf, 0xab, sizeof(buf));
		memcpy(buf, "SQLite format 3", 16);
		write_file(f->path, buf, sizeof(buf));
		err[0] = '\0';
		assert_int_equal(msgr_store_open(&o, &st), MSGR_ERR_STORE);
		assert_null(st);
		assert_true(err[0] != '\0');
	}
	/* And a path that cannot be opened. */
	o.path = "/nonexistent-dir/state.db";
	o.readonly = 0;
	assert_int_equal(msgr_store_open(&o, &st), MSGR_ERR_STORE);
	o.path = "";
	assert_int_equal(msgr_store_open(&o, &st), MSGR_ERR_INVALID);
}

/* ---- intake ---- */

static void
test_enqueue_many(void **state)
{
	struct fx *f = *state;
	enum { N = 1000 };
	struct msgr_store_event *ev = calloc(N, sizeof(*ev));
	struct evbuf *b = calloc(N, sizeof(*b));
	struct msgr_store_quarantine q[2] = {
		{ "conn", "entry without id", "{\"messaging\":[]}", 16 },
		{ "conn", "event without sender", "{}", 2 },
	};
	struct msgr_store_stats s;
	size_t nn = 99, nd = 99, i;

	assert_non_null(ev);
	assert_non_null(b);
	for (i = 0; i < N; i++) {
		char key[32];
		snprintf(key, sizeof(key), "mid.%zu", i);
		mkev(&ev[i], &b[i], "p1", (int)(i % 10), 1000000 + (long long)i, key);
	}
	assert_int_equal(msgr_store_enqueue(f->st, ev, N, q, 2, &nn, &nd), MSGR_OK);
	assert_int_equal(nn, N);
	assert_int_equal(nd, 0);
	stats(f->st, wall_ms(), &s);
	assert_int_equal(s.pending, N);
	assert_int_equal(s.quarantined, 2);
	assert_int_equal(raw_count(f, "SELECT count(DISTINCT user_id) FROM events"), 10);
	/* An empty call is a no-op. */
	assert_int_equal(msgr_store_enqueue(f->st, NULL, 0, NULL, 0, &nn, &nd), MSGR_OK);
	assert_int_equal(nn, 0);
	free(ev);
	free(b);
}

static void
test_duplicates_skipped(void **state)
{
	struct fx *f = *state;
	struct msgr_store_event ev[5];
	struct evbuf b[5];
	struct msgr_store_stats s;
	const char *keys[5] = { "a", "b", "c", "b", "d" };   /* "b" twice in one batch */
	size_t nn, nd, i;

	for (i = 0; i < 5; i++)
		mkev(&ev[i], &b[i], "p1", 1, 1000 + (long long)i, keys[i]);
	assert_int_equal(msgr_store_enqueue(f->st, ev, 5, NULL, 0, &nn, &nd), MSGR_OK);
	assert_int_equal(nn, 4);
	assert_int_equal(nd, 1);
	/* Facebook redelivers the whole body. */
	assert_int_equal(msgr_store_enqueue(f->st, ev, 5, NULL, 0, &nn, &nd), MSGR_OK);
	assert_int_equal(nn, 0);
	assert_int_equal(nd, 5);
	/* The first copy is kept: its timestamp, not the duplicate's. */
	assert_int_equal(raw_count(f, "SELECT ts FROM events WHERE key = 'b'"), 1001);
	stats(f->st, wall_ms(), &s);
	assert_int_equal(s.pending, 4);
}

static void
test_quarantine_rows(void **state)
{
	struct fx *f = *state;
	static const char bin[10] = { 'a', 0, 'b', '\n', (char)0xff, '"', 0, 'z', 1, 2 };
	struct msgr_store_quarantine q[2] = {
		{ "conn", "invalid UTF-8", bin, sizeof(bin) },
		{ "conn2", "empty body", NULL, 0 },
	};
	struct msgr_quarantine_row *rows = NULL;
	size_t n = 0, nn, nd;
	long long t0 = wall_ms();

	assert_int_equal(msgr_store_enqueue(f->st, NULL, 0, q, 2, &nn, &nd), MSGR_OK);
	assert_int_equal(nn, 0);
	assert_int_equal(msgr_store_quarantine_list(f->st, 10, &rows, &n), MSGR_OK);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].connector_id, "conn");
	assert_string_equal(rows[0].reason, "invalid UTF-8");
	assert_int_equal(rows[0].raw_len, sizeof(bin));
	assert_memory_equal(rows[0].raw, bin, sizeof(bin));   /* bytes kept exactly, NULs too */
	assert_true(rows[0].received_at >= t0 - 1 && rows[0].received_at <= wall_ms() + 1);
	assert_string_equal(rows[1].connector_id, "conn2");
	assert_int_equal(rows[1].raw_len, 0);
	assert_string_equal(rows[1].raw, "");
	assert_int_equal(msgr_store_quarantine_delete(f->st, rows[0].id), MSGR_OK);
	assert_int_equal(msgr_store_quarantine_delete(f->st, rows[0].id), MSGR_ERR_NOTFOUND);
	msgr_store_quarantine_free(rows, n);

	/* max bounds the list. */
	assert_int_equal(msgr_store_enqueue(f->st, NULL, 0, q, 2, &nn, &nd), MSGR_OK);
	assert_int_equal(msgr_store_quarantine_list(f->st, 2, &rows, &n), MSGR_OK);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].reason, "empty body");   /* oldest first */
	msgr_store_quarantine_free(rows, n);
}

static void
test_all_or_nothing(void **state)
{
	struct fx *f = *state;
	enum { N = 100 };
	struct msgr_store_event ev[N];
	struct evbuf b[N];
	struct msgr_store_quarantine q = { "conn", "bad entry", "{}", 2 };
	struct msgr_store_stats s;
	char longid[200];
	size_t nn = 7, nd = 7, i;

	for (i = 0; i < N; i++) {
		char key[16];
		snprintf(key, sizeof(key), "k%zu", i);
		mkev(&ev[i], &b[i], "p1", (int)(i % 3), 1000 + (long long)i, key);
	}
	/* Event 60 lacks its key: the 60 rows before it and the quarantine row are undone. */
	ev[60].key = NULL;
	assert_int_equal(msgr_store_enqueue(f->st, ev, N, &q, 1, &nn, &nd), MSGR_ERR_INVALID);
	assert_int_equal(nn, 0);
	assert_int_equal(nd, 0);
	stats(f->st, wall_ms(), &s);
	assert_int_equal(s.pending, 0);
	assert_int_equal(s.quarantined, 0);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events"), 0);

	/* The same with the failure in the quarantine part, after every event. */
	ev[60].key = b[60].key;
	q.reason = NULL;
	assert_int_equal(msgr_store_enqueue(f->st, ev, N, &q, 1, &nn, &nd), MSGR_ERR_INVALID);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events"), 0);

	/* An id longer than a claimed job can hold is refused before anything is written. */
	q.reason = "bad entry";
	memset(longid, '7', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	ev[99].user_id = longid;
	assert_int_equal(msgr_store_enqueue(f->st, ev, N, &q, 1, &nn, &nd), MSGR_ERR_TOOBIG);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events"), 0);

	/* The handle is still good afterwards: no transaction was left open. */
	ev[99].user_id = b[99].user;
	assert_int_equal(msgr_store_enqueue(f->st, ev, N, &q, 1, &nn, &nd), MSGR_OK);
	assert_int_equal(nn, N);
	stats(f->st, wall_ms(), &s);
	assert_int_equal(s.pending, N);
	assert_int_equal(s.quarantined, 1);
}

static void
test_readonly_refused(void **state)
{
	struct fx *f = *state;
	struct msgr_store_options o;
	struct msgr_store *ro = NULL;
	struct msgr_store_event e;
	struct evbuf b;
	struct msgr_store_quarantine q = { "conn", "x", "{}", 2 };
	struct msgr_store_stats s;
	struct msgr_job job;
	size_t nn, nd;

	put1(f->st, "p1", 1, 1000, "first");
	msgr_store_close(f->st);
	f->st = NULL;

	/* Opened read-only (msgrctl status): reads work, every write is a store failure. */
	opts(f, &o, 1, 500);
	o.readonly = 1;
	assert_int_equal(msgr_store_open(&o, &ro), MSGR_OK);
	stats(ro, wall_ms(), &s);
	assert_int_equal(s.pending, 1);
	mkev(&e, &b, "p1", 1, 2000, "second");
	assert_int_equal(msgr_store_enqueue(ro, &e, 1, &q, 1, &nn, &nd), MSGR_ERR_STORE);
	assert_int_equal(msgr_store_claim(ro, "w", wall_ms(), 1000, &job), MSGR_ERR_STORE);
	assert_int_equal(msgr_store_set_owner(ro, "p1", "u1", MSGR_OWNER_STANDBY, NULL),
	    MSGR_ERR_STORE);
	msgr_store_close(ro);

	/* A file without write permission opens read-only and refuses the same way. (root
	 * ignores file modes, so there the read-only open above stands for it.) */
	if (geteuid() != 0) {
		assert_int_equal(chmod(f->path, 0444), 0);
		f->st = open_store(f, 1, 500);
		assert_int_equal(msgr_store_enqueue(f->st, &e, 1, NULL, 0, &nn, &nd), MSGR_ERR_STORE);
		msgr_store_close(f->st);
		f->st = NULL;
		assert_int_equal(chmod(f->path, 0644), 0);
	}
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events"), 1);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM quarantine"), 0);
}

/* ---- locking ---- */

static void
test_busy_timeout(void **state)
{
	struct fx *f = *state;
	struct msgr_store_event e;
	struct evbuf b;
	struct msgr_job job;
	size_t nn, nd;
	sqlite3 *other = NULL;
	long long t0, took;
	int wal;

	for (wal = 1; wal >= 0; wal--) {
		msgr_store_close(f->st);
		f->st = open_store(f, wal, 200);
		put1(f->st, "p1", wal, 1000, wal ? "w-first" : "d-first");

		/* Another process's writer holds the lock for longer than our busy timeout. */
		assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
		assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);

		mkev(&e, &b, "p1", 7, 2000, wal ? "w-second" : "d-second");
		t0 = mono_ms();
		assert_int_equal(msgr_store_enqueue(f->st, &e, 1, NULL, 0, &nn, &nd), MSGR_ERR_BUSY);
		took = mono_ms() - t0;
		assert_true(took >= 150);    /* it waited ... */
		assert_true(took < 3000);    /* ... and gave up about the timeout */
		assert_non_null(strstr(msgr_store_errmsg(f->st), "locked"));
		assert_int_equal(msgr_store_claim(f->st, "w", wall_ms(), 1000, &job), MSGR_ERR_BUSY);
		assert_int_equal(msgr_store_set_owner(f->st, "p1", "u1", MSGR_OWNER_STANDBY, NULL),
		    MSGR_ERR_BUSY);

		/* Once the lock is gone the same call goes through. */
		assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(other);
		assert_int_equal(msgr_store_enqueue(f->st, &e, 1, NULL, 0, &nn, &nd), MSGR_OK);
		assert_int_equal(nn, 1);
	}
}

/* A lock released while we wait is taken within a millisecond or so, not after a coarse
 * sleep: a forked process holds it for ~150 ms. */
static void
test_busy_wait_then_succeed(void **state)
{
	struct fx *f = *state;
	struct msgr_store_event e;
	struct evbuf b;
	size_t nn, nd;
	int fds[2], status;
	char c;
	pid_t pid;
	long long t0, took;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sqlite3 *db = NULL;
		struct timespec ts = { 0, 150 * 1000000L };
		int ok;

		close(fds[0]);
		ok = sqlite3_open(f->path, &db) == SQLITE_OK &&
		    sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL) == SQLITE_OK;
		c = ok ? 'L' : 'E';
		if (write(fds[1], &c, 1) != 1)
			_exit(2);
		nanosleep(&ts, NULL);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		sqlite3_close(db);
		_exit(ok ? 0 : 1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	assert_int_equal(c, 'L');
	mkev(&e, &b, "p1", 1, 1000, "k");
	t0 = mono_ms();
	assert_int_equal(msgr_store_enqueue(f->st, &e, 1, NULL, 0, &nn, &nd), MSGR_OK);
	took = mono_ms() - t0;
	assert_true(took >= 50);     /* it had to wait for the child ... */
	assert_true(took < 1500);    /* ... and not for the whole 2 s timeout */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- claim ---- */

static void
claim_ok(struct msgr_store *st, const char *owner, long long now, struct msgr_job *job)
{
	msgr_result r = msgr_store_claim(st, owner, now, 30000, job);

	if (r != MSGR_OK)
		fail_msg("claim: %s (%s)", msgr_strerror(r), msgr_store_errmsg(st));
}

static void
done(struct msgr_store *st, struct msgr_job *job, const char *owner)
{
	assert_int_equal(msgr_store_finish(st, job->id, owner, MSGR_JOB_DONE, NULL), MSGR_OK);
	msgr_job_clear(job);
}

static void
test_claim_order(void **state)
{
	struct fx *f = *state;
	struct msgr_store_event e;
	struct evbuf b;
	struct msgr_job job, other;
	size_t nn, nd;
	long long t0 = wall_ms(), now;

	/* Inserted out of order, one conversation, plus a standby event (counted in order) and a
	 * delivery with no timestamp (ordered at its arrival, so after all of these). */
	put1(f->st, "p1", 1, t0 - 3000, "m3");
	put1(f->st, "p1", 1, t0 - 5000, "m1");
	mkev(&e, &b, "p1", 1, 0, "delivery");
	e.kind = 5;
	assert_int_equal(msgr_store_enqueue(f->st, &e, 1, NULL, 0, &nn, &nd), MSGR_OK);
	mkev(&e, &b, "p1", 1, t0 - 4000, "standby");
	e.standby = 1;
	assert_int_equal(msgr_store_enqueue(f->st, &e, 1, NULL, 0, &nn, &nd), MSGR_OK);
	now = wall_ms();

	claim_ok(f->st, "w1", now, &job);
	assert_int_equal(job.timestamp, t0 - 5000);
	assert_non_null(strstr(job.raw, "\"m1\""));
	assert_string_equal(job.connector_id, "conn");
	assert_string_equal(job.page_id, "p1");
	assert_string_equal(job.user_id, "u1");
	assert_int_equal(job.attempts, 0);
	assert_true(job.received_at > 0 && job.received_at <= now);
	/* One at a time per conversation, whoever asks. */
	assert_int_equal(msgr_store_claim(f->st, "w2", now, 30000, &other), MSGR_ERR_EMPTY);
	done(f->st, &job, "w1");

	claim_ok(f->st, "w2", now, &job);
	assert_non_null(strstr(job.raw, "\"standby\""));
	assert_int_equal(job.standby, 1);
	done(f->st, &job, "w2");
	claim_ok(f->st, "w1", now, &job);
	assert_non_null(strstr(job.raw, "\"m3\""));
	done(f->st, &job, "w1");
	claim_ok(f->st, "w1", now, &job);
	assert_non_null(strstr(job.raw, "\"delivery\""));
	assert_int_equal(job.kind, 5);
	assert_int_equal(job.timestamp, 0);
	done(f->st, &job, "w1");
	assert_int_equal(msgr_store_claim(f->st, "w1", now, 30000, &job), MSGR_ERR_EMPTY);
}

static void
test_claim_interleaves_conversations(void **state)
{
	struct fx *f = *state;
	struct msgr_store_event ev[4];
	struct evbuf b[4];
	struct msgr_job j1, j2, j3;
	size_t nn, nd;
	long long now;

	mkev(&ev[0], &b[0], "p1", 1, 1000, "a1");
	mkev(&ev[1], &b[1], "p1", 2, 1001, "b1");
	mkev(&ev[2], &b[2], "p1", 1, 1002, "a2");
	mkev(&ev[3], &b[3], "p1", 2, 1003, "b2");
	assert_int_equal(msgr_store_enqueue(f->st, ev, 4, NULL, 0, &nn, &nd), MSGR_OK);
	now = wall_ms();

	claim_ok(f->st, "w1", now, &j1);
	claim_ok(f->st, "w2", now, &j2);
	assert_non_null(strstr(j1.raw, "\"a1\""));
	assert_non_null(strstr(j2.raw, "\"b1\""));   /* the other conversation, not a2 */
	assert_int_equal(msgr_store_claim(f->st, "w3", now, 30000, &j3), MSGR_ERR_EMPTY);
	done(f->st, &j1, "w1");
	claim_ok(f->st, "w3", now, &j3);
	assert_non_null(strstr(j3.raw, "\"a2\""));
	done(f->st, &j2, "w2");
	claim_ok(f->st, "w2", now, &j2);
	assert_non_null(strstr(j2.raw, "\"b2\""));
	done(f->st, &j2, "w2");
	done(f->st, &j3, "w3");
	/* Same user id on another page is another conversation. */
	put1(f->st, "p1", 5, 1, "x1");
	put1(f->st, "p2", 5, 2, "x2");
	claim_ok(f->st, "w1", now + 1000, &j1);
	claim_ok(f->st, "w2", now + 1000, &j2);
	assert_string_not_equal(j1.page_id, j2.page_id);
	done(f->st, &j1, "w1");
	done(f->st, &j2, "w2");
}

static void
test_leased_conversation_blocks_late_event(void **state)
{
	struct fx *f = *state;
	struct msgr_job job, other;

	put1(f->st, "p1", 1, 2000, "later");
	claim_ok(f->st, "w1", wall_ms(), &job);
	/* An earlier event arrives while the later one is being worked: it waits. */
	put1(f->st, "p1", 1, 1000, "earlier");
	assert_int_equal(msgr_store_claim(f->st, "w2", wall_ms(), 30000, &other), MSGR_ERR_EMPTY);
	done(f->st, &job, "w1");
	claim_ok(f->st, "w2", wall_ms(), &other);
	assert_non_null(strstr(other.raw, "\"earlier\""));
	done(f->st, &other, "w2");
}

/* The per-conversation queue row follows every change: a retry puts the head off, a late
 * earlier event becomes the head (due now), and the row goes when the conversation drains. */
static void
test_queue_follows_changes(void **state)
{
	struct fx *f = *state;
	struct msgr_job job;
	long long t;

	put1(f->st, "p1", 1, 2000, "two");
	t = wall_ms();
	claim_ok(f->st, "w1", t, &job);
	assert_int_equal(msgr_store_retry(f->st, job.id, "w1", t + 10000, "later"), MSGR_OK);
	msgr_job_clear(&job);
	assert_int_equal(msgr_store_claim(f->st, "w1", t, 30000, &job), MSGR_ERR_EMPTY);
	put1(f->st, "p1", 1, 1000, "one");
	claim_ok(f->st, "w1", wall_ms(), &job);
	assert_non_null(strstr(job.raw, "\"one\""));
	done(f->st, &job, "w1");
	/* Back to the head waiting for its retry. */
	assert_int_equal(msgr_store_claim(f->st, "w1", wall_ms(), 30000, &job), MSGR_ERR_EMPTY);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM convq"), 1);
	claim_ok(f->st, "w1", t + 10000, &job);
	assert_non_null(strstr(job.raw, "\"two\""));
	assert_int_equal(job.attempts, 1);
	done(f->st, &job, "w1");
	assert_int_equal(raw_count(f, "SELECT count(*) FROM convq"), 0);
}

static void
test_lease_expiry(void **state)
{
	struct fx *f = *state;
	struct msgr_job job, again;
	long long t;

	put1(f->st, "p1", 1, 1000, "k");
	t = wall_ms();   /* after the events are due */
	assert_int_equal(msgr_store_claim(f->st, "w1", t, 1000, &job), MSGR_OK);
	assert_int_equal(msgr_store_claim(f->st, "w2", t + 500, 1000, &again), MSGR_ERR_EMPTY);
	/* w1 was killed: its lease lapses and w2 takes the job over. */
	assert_int_equal(msgr_store_claim(f->st, "w2", t + 1001, 1000, &again), MSGR_OK);
	assert_int_equal(again.id, job.id);
	/* Each claim is counted; none ended, so the worker can tell a process died holding it. */
	assert_int_equal(job.claims, 1);
	assert_int_equal(again.claims, 2);
	assert_int_equal(again.attempts, 0);
	/* w1 comes back late: it no longer holds the job. */
	assert_int_equal(msgr_store_finish(f->st, job.id, "w1", MSGR_JOB_DONE, NULL),
	    MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_retry(f->st, job.id, "w1", t + 5000, "late"), MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_renew(f->st, job.id, "w1", t + 1100, 1000), MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_finish(f->st, again.id, "w2", MSGR_JOB_DONE, "ok"), MSGR_OK);
	assert_int_equal(msgr_store_finish(f->st, again.id, "w2", MSGR_JOB_DONE, "ok"),
	    MSGR_ERR_NOTFOUND);
	/* Past its expiry but untaken, a lease still lets its owner finish. */
	put1(f->st, "p1", 1, 2000, "k2");
	msgr_job_clear(&job);
	assert_int_equal(msgr_store_claim(f->st, "w1", t + 2000, 1000, &job), MSGR_OK);
	assert_int_equal(msgr_store_finish(f->st, job.id, "w1", MSGR_JOB_DONE, NULL), MSGR_OK);
	msgr_job_clear(&job);
	msgr_job_clear(&again);
}

static void
test_finish_retry(void **state)
{
	struct fx *f = *state;
	struct msgr_job job, other;
	struct msgr_store_stats s;
	char **lines = NULL;
	size_t n = 0;
	long long t;
	int64_t id;

	put1(f->st, "p1", 1, 1000, "first");
	put1(f->st, "p1", 1, 2000, "second");
	t = wall_ms();   /* after the events are due */
	claim_ok(f->st, "w1", t, &job);
	id = job.id;
	assert_int_equal(msgr_store_retry(f->st, id, "w1", t + 10000, "timeout"), MSGR_OK);
	msgr_job_clear(&job);
	/* Not due, and the conversation waits for it: "second" is not taken over its head. */
	assert_int_equal(msgr_store_claim(f->st, "w1", t, 30000, &other), MSGR_ERR_EMPTY);
	stats(f->st, t, &s);
	assert_int_equal(s.pending, 2);
	assert_int_equal(s.retrying, 1);
	assert_int_equal(s.waiting, 1);
	assert_int_equal(s.leased, 0);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events WHERE error = 'timeout'"), 1);

	claim_ok(f->st, "w2", t + 10000, &job);
	assert_int_equal(job.id, id);
	assert_int_equal(job.attempts, 1);
	assert_int_equal(msgr_store_retry(f->st, id, "w2", t + 20000, "5xx"), MSGR_OK);
	msgr_job_clear(&job);
	claim_ok(f->st, "w1", t + 20000, &job);
	assert_int_equal(job.attempts, 2);
	assert_int_equal(msgr_store_finish(f->st, id, "w1", MSGR_JOB_PENDING, NULL),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_store_finish(f->st, id, "w1", MSGR_JOB_FAILED,
	    "(#551) This person isn't available\n"), MSGR_OK);
	msgr_job_clear(&job);
	claim_ok(f->st, "w1", t + 20000, &job);
	assert_non_null(strstr(job.raw, "\"second\""));
	assert_int_equal(msgr_store_finish(f->st, job.id, "w1", MSGR_JOB_SKIPPED, "echo"), MSGR_OK);
	msgr_job_clear(&job);

	assert_int_equal(msgr_store_recent_failures(f->st, 10, &lines, &n), MSGR_OK);
	assert_int_equal(n, 1);
	assert_non_null(strstr(lines[0], " conn kind=0 (#551) This person isn't available"));
	assert_null(strchr(lines[0], '\n'));   /* escaped for the terminal */
	assert_true(lines[0][4] == '-' && lines[0][10] == 'T');
	msgr_store_lines_free(lines, n);
	stats(f->st, t + 20000, &s);
	assert_int_equal(s.pending, 0);
	assert_int_equal(s.failed, 1);
	assert_int_equal(s.skipped, 1);
}

static void
test_renew(void **state)
{
	struct fx *f = *state;
	struct msgr_job job, other;
	long long t;

	put1(f->st, "p1", 1, 1000, "k");
	t = wall_ms();   /* after the events are due */
	assert_int_equal(msgr_store_claim(f->st, "w1", t, 1000, &job), MSGR_OK);
	assert_int_equal(msgr_store_renew(f->st, job.id, "w1", t + 900, 5000), MSGR_OK);
	assert_int_equal(msgr_store_claim(f->st, "w2", t + 2000, 1000, &other), MSGR_ERR_EMPTY);
	assert_int_equal(msgr_store_renew(f->st, job.id, "w2", t + 2000, 5000), MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_claim(f->st, "w2", t + 5901, 1000, &other), MSGR_OK);
	assert_int_equal(other.id, job.id);
	assert_int_equal(msgr_store_renew(f->st, job.id, "w1", t + 6000, 5000), MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_renew(f->st, job.id, "w2", t + 6000, 0), MSGR_ERR_INVALID);
	msgr_job_clear(&job);
	done(f->st, &other, "w2");
}

/* ---- outbox, conversation state, caches, pauses ---- */

static void
test_outbox(void **state)
{
	struct fx *f = *state;
	const char *plan[3] = { "{\"sender_action\":\"mark_seen\"}", "{\"message\":{\"text\":\"a\"}}",
	    "{\"message\":{\"text\":\"b\"}}" };
	const char *other_plan[1] = { "{}" };
	const char *bad[2] = { "{}", NULL };
	const char *many[MSGR_STORE_OUTBOX_MAX + 1];
	struct msgr_outbox_item *it = NULL;
	struct msgr_job job;
	int64_t ids[3] = { 0, 0, 0 };
	size_t n = 0, i;

	put1(f->st, "p1", 1, 1000, "k");
	put1(f->st, "p1", 2, 1000, "k2");
	claim_ok(f->st, "w1", wall_ms(), &job);

	assert_int_equal(msgr_store_outbox_get(f->st, job.id, &it, &n), MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_outbox_put(f->st, job.id, plan, 3, ids), MSGR_OK);
	/* A rerun after a crash must not replace a plan that may be half sent. */
	assert_int_equal(msgr_store_outbox_put(f->st, job.id, other_plan, 1, NULL),
	    MSGR_ERR_DUPLICATE);
	assert_int_equal(msgr_store_outbox_get(f->st, job.id, &it, &n), MSGR_OK);
	assert_int_equal(n, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(it[i].seq, (int)i);
		assert_string_equal(it[i].request, plan[i]);
		assert_int_equal(it[i].done, 0);
		assert_int_equal(it[i].id, ids[i]);   /* the put told each item's id */
	}
	assert_int_equal(msgr_store_outbox_done(f->st, it[0].id, NULL), MSGR_OK);
	assert_int_equal(msgr_store_outbox_done(f->st, it[1].id, "m_abc"), MSGR_OK);
	assert_int_equal(msgr_store_outbox_done(f->st, 987654, "m_x"), MSGR_ERR_NOTFOUND);
	msgr_store_outbox_free(it, n);
	assert_int_equal(msgr_store_outbox_get(f->st, job.id, &it, &n), MSGR_OK);
	assert_int_equal(n, 3);
	assert_int_equal(it[0].done, 1);
	assert_int_equal(it[1].done, 1);
	assert_int_equal(it[2].done, 0);
	msgr_store_outbox_free(it, n);
	assert_int_equal(raw_count(f,
	    "SELECT count(*) FROM outbox WHERE message_id = 'm_abc' AND sent_at > 0"), 1);

	/* No such job; a NULL request rolls the whole plan back; a bound on plan size. */
	assert_int_equal(msgr_store_outbox_put(f->st, 424242, plan, 3, NULL), MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_outbox_put(f->st, job.id + 1, bad, 2, NULL),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_store_outbox_get(f->st, job.id + 1, &it, &n), MSGR_ERR_NOTFOUND);
	for (i = 0; i < MSGR_STORE_OUTBOX_MAX + 1; i++)
		many[i] = "{}";
	assert_int_equal(msgr_store_outbox_put(f->st, job.id + 1, many, MSGR_STORE_OUTBOX_MAX + 1,
	    NULL), MSGR_ERR_TOOBIG);
	assert_int_equal(msgr_store_outbox_put(f->st, job.id + 1, many, 0, NULL), MSGR_OK);
	assert_int_equal(msgr_store_outbox_get(f->st, job.id + 1, &it, &n), MSGR_ERR_NOTFOUND);
	done(f->st, &job, "w1");
}

/* The typed state of a conversation: who holds the thread, the user's last message, a
 * person's last answer; each conversation apart, each value apart. */
static void
test_conv(void **state)
{
	struct fx *f = *state;
	struct msgr_conversation cv;

	/* Nothing recorded: the thread is this app's, no time known. */
	assert_int_equal(msgr_store_conversation(f->st, "p1", "u1", &cv), MSGR_OK);
	assert_int_equal(cv.owner, MSGR_OWNER_US);
	assert_int_equal(cv.owner_at, 0);
	assert_int_equal(cv.last_user_ts + cv.human_ts, 0);
	assert_int_equal(msgr_store_set_owner(f->st, "p1", "u1", MSGR_OWNER_APP, "263902037430900"),
	    MSGR_OK);
	assert_int_equal(msgr_store_user_wrote(f->st, "p1", "u1", 5000), MSGR_OK);
	assert_int_equal(msgr_store_conversation(f->st, "p1", "u1", &cv), MSGR_OK);
	assert_int_equal(cv.owner, MSGR_OWNER_APP);
	assert_string_equal(cv.owner_app, "263902037430900");
	assert_true(cv.owner_at > 0);
	assert_int_equal(msgr_store_set_owner(f->st, "p1", "u1", MSGR_OWNER_STANDBY, "ignored"),
	    MSGR_OK);
	assert_int_equal(msgr_store_conversation(f->st, "p1", "u1", &cv), MSGR_OK);
	assert_int_equal(cv.owner, MSGR_OWNER_STANDBY);
	assert_string_equal(cv.owner_app, "");
	assert_int_equal(msgr_store_set_owner(f->st, "p1", "u1", MSGR_OWNER_RELEASED, NULL), MSGR_OK);
	assert_int_equal(msgr_store_conversation(f->st, "p1", "u1", &cv), MSGR_OK);
	assert_int_equal(cv.owner, MSGR_OWNER_RELEASED);
	/* Other conversations know nothing of it. */
	assert_int_equal(msgr_store_conversation(f->st, "p1", "u2", &cv), MSGR_OK);
	assert_int_equal(cv.owner, MSGR_OWNER_US);
	assert_int_equal(cv.last_user_ts, 0);
	assert_int_equal(msgr_store_conversation(f->st, "p2", "u1", &cv), MSGR_OK);
	assert_int_equal(cv.owner_at, 0);
	/* Back to this app; the user's last message stays as it was. */
	assert_int_equal(msgr_store_set_owner(f->st, "p1", "u1", MSGR_OWNER_US, NULL), MSGR_OK);
	assert_int_equal(msgr_store_conversation(f->st, "p1", "u1", &cv), MSGR_OK);
	assert_int_equal(cv.owner, MSGR_OWNER_US);
	assert_int_equal(cv.last_user_ts, 5000);
	/* The user's last message only moves forward; a person's answer is as recorded. */
	assert_int_equal(msgr_store_user_wrote(f->st, "p1", "u1", 4000), MSGR_OK);
	assert_int_equal(msgr_store_human_answered(f->st, "p1", "u1", 4500), MSGR_OK);
	assert_int_equal(msgr_store_conversation(f->st, "p1", "u1", &cv), MSGR_OK);
	assert_int_equal(cv.last_user_ts, 5000);
	assert_int_equal(cv.human_ts, 4500);
	assert_int_equal(msgr_store_user_wrote(f->st, "p1", "u1", 10000000000000LL), MSGR_OK);
	assert_int_equal(msgr_store_conversation(f->st, "p1", "u1", &cv), MSGR_OK);
	assert_int_equal(cv.last_user_ts, 10000000000000LL);

	assert_int_equal(msgr_store_conversation(f->st, NULL, "u1", &cv), MSGR_ERR_INVALID);
	assert_int_equal(msgr_store_set_owner(f->st, "p1", "u1", MSGR_OWNER_APP, NULL),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_store_set_owner(f->st, "p1", "u1", MSGR_OWNER_APP,
	    "12345678901234567890123456789012345678901234567890123456789012345"), MSGR_ERR_INVALID);
	assert_int_equal(msgr_store_set_owner(f->st, "p1", "u1", (enum msgr_owner)9, NULL),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_store_user_wrote(f->st, "p1", "u1", 0), MSGR_ERR_INVALID);
}

static void
test_conv_list(void **state)
{
	struct fx *f = *state;
	struct msgr_conversation_row *rows = NULL;
	size_t n = 99, i;

	assert_int_equal(msgr_store_conversations_elsewhere(f->st, 10, &rows, &n), MSGR_OK);
	assert_int_equal(n, 0);
	free(rows);
	assert_int_equal(msgr_store_set_owner(f->st, "p1", "u1", MSGR_OWNER_APP, "263902037430900"),
	    MSGR_OK);
	assert_int_equal(msgr_store_set_owner(f->st, "p1", "u2", MSGR_OWNER_US, NULL), MSGR_OK);
	assert_int_equal(msgr_store_set_owner(f->st, "p2", "u3", MSGR_OWNER_STANDBY, NULL), MSGR_OK);
	assert_int_equal(msgr_store_human_answered(f->st, "p2", "u3", 777), MSGR_OK);
	assert_int_equal(msgr_store_user_wrote(f->st, "p2", "u4", 888), MSGR_OK);
	/* a thread of this connector's app is not listed; a conversation without owner neither */
	assert_int_equal(msgr_store_conversations_elsewhere(f->st, 10, &rows, &n), MSGR_OK);
	assert_int_equal(n, 2);
	assert_true((strcmp(rows[0].user_id, "u1") == 0 && strcmp(rows[1].user_id, "u3") == 0) ||
	    (strcmp(rows[0].user_id, "u3") == 0 && strcmp(rows[1].user_id, "u1") == 0));
	for (i = 0; i < n; i++) {
		if (strcmp(rows[i].user_id, "u3") == 0) {
			assert_string_equal(rows[i].page_id, "p2");
			assert_int_equal(rows[i].c.owner, MSGR_OWNER_STANDBY);
			assert_int_equal(rows[i].c.human_ts, 777);
		} else {
			assert_int_equal(rows[i].c.owner, MSGR_OWNER_APP);
			assert_string_equal(rows[i].c.owner_app, "263902037430900");
			assert_int_equal(rows[i].c.human_ts, 0);
		}
		assert_true(rows[i].c.owner_at > 0);
	}
	free(rows);
	assert_int_equal(msgr_store_conversations_elsewhere(f->st, 1, &rows, &n), MSGR_OK);
	assert_int_equal(n, 1);
	free(rows);
	assert_int_equal(msgr_store_conversations_elsewhere(f->st, 1, NULL, &n), MSGR_ERR_INVALID);
}

static void
test_cache_expiry(void **state)
{
	struct fx *f = *state;
	char *v = NULL;
	long long t = wall_ms();

	assert_int_equal(msgr_store_cache_put(f->st, "profile", "u1", "{\"first_name\":\"Ada\"}",
	    t + 1000), MSGR_OK);
	assert_int_equal(msgr_store_cache_get(f->st, "profile", "u1", t, &v), MSGR_OK);
	assert_string_equal(v, "{\"first_name\":\"Ada\"}");
	free(v);
	assert_int_equal(msgr_store_cache_get(f->st, "profile", "u1", t + 999, &v), MSGR_OK);
	free(v);
	assert_int_equal(msgr_store_cache_get(f->st, "profile", "u1", t + 1000, &v),
	    MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_cache_get(f->st, "attachment", "u1", t, &v), MSGR_ERR_NOTFOUND);
	/* A put replaces value and expiry. */
	assert_int_equal(msgr_store_cache_put(f->st, "profile", "u1", "{}", t + 5000), MSGR_OK);
	assert_int_equal(msgr_store_cache_get(f->st, "profile", "u1", t + 1000, &v), MSGR_OK);
	assert_string_equal(v, "{}");
	free(v);
	assert_int_equal(msgr_store_cache_del(f->st, "profile", "u1"), MSGR_OK);
	assert_int_equal(msgr_store_cache_get(f->st, "profile", "u1", t, &v), MSGR_ERR_NOTFOUND);
}

/* A pause to set: scope, id, reason, since, token fingerprint, next probe. */
static struct msgr_pause
a_pause(enum msgr_pause_scope scope, const char *id, const char *reason, long long since,
    const char *fp, long long probe_at)
{
	struct msgr_pause p;

	memset(&p, 0, sizeof(p));
	p.scope = scope;
	snprintf(p.id, sizeof(p.id), "%s", id);
	snprintf(p.reason, sizeof(p.reason), "%s", reason);
	snprintf(p.token_fp, sizeof(p.token_fp), "%s", fp);
	p.since = since;
	p.probe_at = probe_at;
	return p;
}

static void
test_pause(void **state)
{
	struct fx *f = *state;
	struct msgr_pause *rows = NULL, p, got;
	struct msgr_store_stats s;
	char longer[400];
	size_t n = 0;
	long long t = wall_ms();

	assert_int_equal(msgr_store_pause_get(f->st, MSGR_PAUSE_CONNECTOR, "c1", &got),
	    MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_pause_any(f->st, "c1", "p1"), MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_pause_any(f->st, NULL, "p1"), MSGR_ERR_INVALID);
	p = a_pause(MSGR_PAUSE_CONNECTOR, "c1", "(#190) token expired", t, "00112233aabbccdd",
	    t + 600000);
	assert_int_equal(msgr_store_pause_set(f->st, &p), MSGR_OK);
	p = a_pause(MSGR_PAUSE_PAGE, "p1", "(#10/1893063) restricted", t + 1, "", t + 600001);
	assert_int_equal(msgr_store_pause_set(f->st, &p), MSGR_OK);
	assert_int_equal(msgr_store_pause_get(f->st, MSGR_PAUSE_CONNECTOR, "c1", &got), MSGR_OK);
	assert_string_equal(got.reason, "(#190) token expired");
	assert_string_equal(got.token_fp, "00112233aabbccdd");
	assert_int_equal(got.probe_at, t + 600000);
	assert_int_equal(msgr_store_pause_get(f->st, MSGR_PAUSE_CONNECTOR, "c1", NULL), MSGR_OK);
	assert_int_equal(msgr_store_pause_get(f->st, MSGR_PAUSE_PAGE, "c1", NULL), MSGR_ERR_NOTFOUND);
	/* One look at both scopes: either paused is enough, the scope matters. */
	assert_int_equal(msgr_store_pause_any(f->st, "c1", "p9"), MSGR_OK);
	assert_int_equal(msgr_store_pause_any(f->st, "c9", "p1"), MSGR_OK);
	assert_int_equal(msgr_store_pause_any(f->st, "p1", "c1"), MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_pause_any(f->st, "c9", "p9"), MSGR_ERR_NOTFOUND);
	/* Paused again: the reason changes, `since` stays the first. */
	p = a_pause(MSGR_PAUSE_CONNECTOR, "c1", "(#190) again", t + 50, "ffeeddccbbaa9988", t + 50);
	assert_int_equal(msgr_store_pause_set(f->st, &p), MSGR_OK);
	assert_int_equal(msgr_store_pause_list(f->st, 10, &rows, &n), MSGR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].scope, MSGR_PAUSE_CONNECTOR);
	assert_string_equal(msgr_pause_scope_name(rows[0].scope), "connector");
	assert_string_equal(rows[0].id, "c1");
	assert_string_equal(rows[0].reason, "(#190) again");
	assert_string_equal(rows[0].token_fp, "ffeeddccbbaa9988");
	assert_int_equal(rows[0].since, t);
	assert_int_equal(rows[1].scope, MSGR_PAUSE_PAGE);
	assert_string_equal(msgr_pause_scope_name(rows[1].scope), "page");
	free(rows);
	stats(f->st, t, &s);
	assert_int_equal(s.paused, 2);
	/* The next probe moves; a pause already ended is not started again by it. */
	assert_int_equal(msgr_store_pause_probe(f->st, MSGR_PAUSE_PAGE, "p1", t + 999), MSGR_OK);
	assert_int_equal(msgr_store_pause_get(f->st, MSGR_PAUSE_PAGE, "p1", &got), MSGR_OK);
	assert_int_equal(got.probe_at, t + 999);
	assert_int_equal(got.since, t + 1);

	assert_int_equal(msgr_store_pause_clear(f->st, MSGR_PAUSE_CONNECTOR, "c1"), MSGR_OK);
	assert_int_equal(msgr_store_pause_get(f->st, MSGR_PAUSE_CONNECTOR, "c1", NULL),
	    MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_pause_clear(f->st, MSGR_PAUSE_CONNECTOR, "c1"), MSGR_OK);
	assert_int_equal(msgr_store_pause_probe(f->st, MSGR_PAUSE_CONNECTOR, "c1", t), MSGR_OK);
	assert_int_equal(msgr_store_pause_get(f->st, MSGR_PAUSE_CONNECTOR, "c1", NULL),
	    MSGR_ERR_NOTFOUND);
	/* A reason longer than a row holds is cut: it is for people. */
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(raw_exec(f, "INSERT INTO pause (scope, id, reason, since)"
	    " VALUES ('connector', 'c9', '%s', 1)", longer), 0);
	assert_int_equal(msgr_store_pause_get(f->st, MSGR_PAUSE_CONNECTOR, "c9", &got), MSGR_OK);
	assert_int_equal(strlen(got.reason), sizeof(got.reason) - 1);
	assert_int_equal(got.reason[0], 'x');
	p = a_pause((enum msgr_pause_scope)7, "x", "r", t, "", 0);
	assert_int_equal(msgr_store_pause_set(f->st, &p), MSGR_ERR_INVALID);
	p = a_pause(MSGR_PAUSE_PAGE, "", "r", t, "", 0);
	assert_int_equal(msgr_store_pause_set(f->st, &p), MSGR_ERR_INVALID);
	assert_int_equal(msgr_store_pause_set(f->st, NULL), MSGR_ERR_INVALID);
	assert_int_equal(msgr_store_pause_get(f->st, MSGR_PAUSE_PAGE, NULL, NULL), MSGR_ERR_INVALID);
	assert_int_equal(msgr_store_pause_get(f->st, (enum msgr_pause_scope)7, "x", NULL),
	    MSGR_ERR_INVALID);
}

/* A version 3 file's pauses keep their token fingerprint and next probe, which lived in the
 * cache then, and the cache loses those entries. */
static void
test_migrates_v3_pauses(void **state)
{
	struct fx *f = *state;
	struct msgr_pause got;
	char *v = NULL;
	long long t = wall_ms();

	assert_int_equal(msgr_store_cache_put(f->st, "profile", "u1", "{}", t + 86400000), MSGR_OK);
	msgr_store_close(f->st);
	f->st = NULL;
	assert_int_equal(sqlite_exec_fmt(f->path,
	    "DROP TABLE pause;"
	    "CREATE TABLE pause ("
	    "  scope TEXT NOT NULL CHECK (scope IN ('connector', 'page')), id TEXT NOT NULL,"
	    "  reason TEXT NOT NULL, since INTEGER NOT NULL,"
	    "  PRIMARY KEY (scope, id)"
	    ") WITHOUT ROWID;"
	    "INSERT INTO pause VALUES ('connector', 'c1', '(#190) expired', 100),"
	    " ('page', 'p1', '(#10/1893063) restricted', 200), ('connector', 'c2', 'old', 300);"
	    "INSERT INTO cache VALUES ('pause_token', 'c1', '0011223344556677', %lld),"
	    " ('pause_probe', 'connector:c1', '1', %lld), ('pause_probe', 'page:p1', '1', %lld);"
	    "ALTER TABLE events DROP COLUMN lease_lock; ALTER TABLE convq DROP COLUMN lease_lock;"
	    "ALTER TABLE outbox DROP COLUMN tries; ALTER TABLE outbox DROP COLUMN inflight; ALTER TABLE outbox DROP COLUMN tried_at; DROP TABLE echo; "
	    "DROP TABLE inbox; DROP INDEX conv_elsewhere; CREATE INDEX conv_name ON conv(name,"
	    " updated_at); PRAGMA user_version = 3", t + 3650LL * 86400000, t + 1000, t + 2000), SQLITE_OK);
	f->st = open_store(f, 1, 2000);
	assert_int_equal(raw_count(f, "PRAGMA user_version"), msgr_store_schema_version());
	assert_int_equal(msgr_store_pause_get(f->st, MSGR_PAUSE_CONNECTOR, "c1", &got), MSGR_OK);
	assert_string_equal(got.reason, "(#190) expired");
	assert_int_equal(got.since, 100);
	assert_string_equal(got.token_fp, "0011223344556677");
	assert_int_equal(got.probe_at, t + 1000);
	assert_int_equal(msgr_store_pause_get(f->st, MSGR_PAUSE_PAGE, "p1", &got), MSGR_OK);
	assert_string_equal(got.token_fp, "");
	assert_int_equal(got.probe_at, t + 2000);
	assert_int_equal(msgr_store_pause_get(f->st, MSGR_PAUSE_CONNECTOR, "c2", &got), MSGR_OK);
	assert_string_equal(got.token_fp, "");
	assert_int_equal(got.probe_at, 0);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM cache"), 1);
	assert_int_equal(msgr_store_cache_get(f->st, "profile", "u1", t, &v), MSGR_OK);
	free(v);
}

/* ---- stats, purge ---- */

static void
test_stats_counts(void **state)
{
	struct fx *f = *state;
	struct msgr_store_quarantine q[2] = { { "c", "r", "{}", 2 }, { "c", "r", "{}", 2 } };
	struct msgr_store_stats s;
	struct msgr_job j;
	size_t nn, nd;
	long long t = wall_ms();
	int u;

	stats(f->st, t, &s);
	assert_int_equal(s.pending + s.done + s.failed + s.skipped + s.quarantined + s.paused, 0);
	/* Six conversations of one event each: 1 leased, 1 waiting for a retry, 1 due, 1 done,
	 * 1 failed, 1 skipped. */
	for (u = 1; u <= 6; u++) {
		char key[8];
		snprintf(key, sizeof(key), "k%d", u);
		put1(f->st, "p1", u, 1000 + u, key);
	}
	t = wall_ms();   /* after the events are due */
	assert_int_equal(msgr_store_enqueue(f->st, NULL, 0, q, 2, &nn, &nd), MSGR_OK);
	{
		struct msgr_pause p = a_pause(MSGR_PAUSE_PAGE, "p1", "r", t, "", 0);
		assert_int_equal(msgr_store_pause_set(f->st, &p), MSGR_OK);
	}
	claim_ok(f->st, "w", t, &j);
	assert_int_equal(msgr_store_finish(f->st, j.id, "w", MSGR_JOB_DONE, NULL), MSGR_OK);
	msgr_job_clear(&j);
	claim_ok(f->st, "w", t, &j);
	assert_int_equal(msgr_store_finish(f->st, j.id, "w", MSGR_JOB_FAILED, "no"), MSGR_OK);
	msgr_job_clear(&j);
	claim_ok(f->st, "w", t, &j);
	assert_int_equal(msgr_store_finish(f->st, j.id, "w", MSGR_JOB_SKIPPED, NULL), MSGR_OK);
	msgr_job_clear(&j);
	claim_ok(f->st, "w", t, &j);
	assert_int_equal(msgr_store_retry(f->st, j.id, "w", t + 60000, "later"), MSGR_OK);
	msgr_job_clear(&j);
	claim_ok(f->st, "w", t, &j);   /* stays leased */

	stats(f->st, t, &s);
	assert_int_equal(s.pending, 3);
	assert_int_equal(s.retrying, 1);
	assert_int_equal(s.waiting, 1);
	assert_int_equal(s.leased, 1);
	assert_int_equal(s.done, 1);
	assert_int_equal(s.failed, 1);
	assert_int_equal(s.skipped, 1);
	assert_int_equal(s.quarantined, 2);
	assert_int_equal(s.paused, 1);
	/* Seen later: the lease has lapsed and the retry is due. */
	stats(f->st, t + 60000, &s);
	assert_int_equal(s.leased, 0);
	assert_int_equal(s.waiting, 0);
	assert_int_equal(s.retrying, 1);
	msgr_job_clear(&j);
}

static void
test_purge(void **state)
{
	struct fx *f = *state;
	const char *plan[1] = { "{}" };
	struct msgr_outbox_item *it = NULL;
	struct msgr_store_stats s;
	struct msgr_job j;
	size_t n, nn, nd;
	int64_t done_id;
	int more = -1;
	long long t;
	char *v = NULL;

	put1(f->st, "p1", 1, 1000, "old1");
	put1(f->st, "p1", 2, 1000, "old2");
	put1(f->st, "p1", 3, 1000, "pending");
	t = wall_ms();   /* after the events are due */
	claim_ok(f->st, "w", t, &j);
	done_id = j.id;
	assert_int_equal(msgr_store_outbox_put(f->st, j.id, plan, 1, NULL), MSGR_OK);
	done(f->st, &j, "w");
	claim_ok(f->st, "w", t, &j);
	assert_int_equal(msgr_store_finish(f->st, j.id, "w", MSGR_JOB_FAILED, "x"), MSGR_OK);
	msgr_job_clear(&j);
	assert_int_equal(msgr_store_cache_put(f->st, "profile", "old", "{}", t - 1), MSGR_OK);
	assert_int_equal(msgr_store_cache_put(f->st, "profile", "new", "{}", t + 86400000), MSGR_OK);

	/* Nothing finished before an hour ago. */
	assert_int_equal(msgr_store_purge(f->st, t - 3600000, 100, &n, &more), MSGR_OK);
	assert_int_equal(n, 0);
	assert_int_equal(more, 0);
	/* A bound out of range deletes nothing. */
	assert_int_equal(msgr_store_purge(f->st, wall_ms() + 1, 0, &n, &more), MSGR_ERR_INVALID);
	assert_int_equal(msgr_store_purge(f->st, wall_ms() + 1, MSGR_PURGE_MAX + 1, &n, &more),
	    MSGR_ERR_INVALID);
	/* One at a time (and one cache entry): more may be left while a batch is full. */
	assert_int_equal(msgr_store_purge(f->st, wall_ms() + 1, 1, &n, &more), MSGR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(more, 1);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events WHERE state IN (1, 2)"), 1);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM cache"), 1);
	assert_int_equal(msgr_store_purge(f->st, wall_ms() + 1, 1, &n, &more), MSGR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(more, 1);
	assert_int_equal(msgr_store_purge(f->st, wall_ms() + 1, 1, &n, &more), MSGR_OK);
	assert_int_equal(n, 0);
	assert_int_equal(more, 0);
	stats(f->st, t, &s);
	assert_int_equal(s.pending, 1);
	assert_int_equal(s.done + s.failed, 0);
	assert_int_equal(msgr_store_outbox_get(f->st, done_id, &it, &n), MSGR_ERR_NOTFOUND);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM outbox"), 0);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM cache"), 1);
	assert_int_equal(msgr_store_cache_get(f->st, "profile", "new", t, &v), MSGR_OK);
	free(v);
	/* A purged key no longer deduplicates; a pending one still does. */
	{
		struct msgr_store_event e[2];
		struct evbuf b[2];
		mkev(&e[0], &b[0], "p1", 1, 1000, "old1");
		mkev(&e[1], &b[1], "p1", 3, 1000, "pending");
		assert_int_equal(msgr_store_enqueue(f->st, e, 2, NULL, 0, &nn, &nd), MSGR_OK);
		assert_int_equal(nn, 1);
		assert_int_equal(nd, 1);
	}
}

/* ---- two processes claiming at once ---- */

enum { CONVS = 6, PER_CONV = 25, TOTAL = CONVS * PER_CONV, WORKERS = 3 };

struct shared {
	int in_conv[CONVS];           /* jobs of each conversation being worked right now */
	long long last_ts[CONVS];     /* timestamp of the last job worked per conversation */
	int claims[TOTAL + 1];        /* times each job id was claimed */
	int finished;
	int overlap;                  /* two jobs of one conversation at once */
	int disorder;                 /* a job worked before an earlier one of its conversation */
	int errors;
};

static int
worker_child(struct fx *f, int id, struct shared *sh, int out)
{
	struct msgr_store_options o;
	struct msgr_store *st = NULL;
	struct msgr_job job;
	char owner[32];
	long long deadline = mono_ms() + 20000;
	unsigned seed = (unsigned)getpid();

	opts(f, &o, 1, 2000);
	if (msgr_store_open(&o, &st) != MSGR_OK)
		return 2;
	snprintf(owner, sizeof(owner), "child%d:%d", id, (int)getpid());
	while (__atomic_load_n(&sh->finished, __ATOMIC_SEQ_CST) < TOTAL && mono_ms() < deadline) {
		msgr_result r = msgr_store_claim(st, owner, wall_ms(), 30000, &job);
		struct timespec pause = { 0, 0 };
		int c;

		if (r == MSGR_ERR_EMPTY || r == MSGR_ERR_BUSY) {
			pause.tv_nsec = 100000;
			nanosleep(&pause, NULL);
			continue;
		}
		if (r != MSGR_OK) {
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
			break;
		}
		c = (int)(strtol(job.user_id + 1, NULL, 10) % CONVS);
		if (__atomic_fetch_add(&sh->in_conv[c], 1, __ATOMIC_SEQ_CST) != 0)
			__atomic_add_fetch(&sh->overlap, 1, __ATOMIC_SEQ_CST);
		if (job.timestamp <= sh->last_ts[c])
			__atomic_add_fetch(&sh->disorder, 1, __ATOMIC_SEQ_CST);
		sh->last_ts[c] = job.timestamp;
		if (job.id >= 1 && job.id <= TOTAL)
			__atomic_add_fetch(&sh->claims[job.id], 1, __ATOMIC_SEQ_CST);
		if (write(out, &job.id, sizeof(job.id)) != (ssize_t)sizeof(job.id))
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
		/* "work" long enough for the others to try this conversation meanwhile */
		pause.tv_nsec = 50000 + (long)(rand_r(&seed) % 300000);
		nanosleep(&pause, NULL);
		__atomic_sub_fetch(&sh->in_conv[c], 1, __ATOMIC_SEQ_CST);
		if (msgr_store_finish(st, job.id, owner, MSGR_JOB_DONE, NULL) != MSGR_OK)
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_SEQ_CST);
		else
			__atomic_add_fetch(&sh->finished, 1, __ATOMIC_SEQ_CST);
		msgr_job_clear(&job);
	}
	msgr_store_close(st);
	return 0;
}

static void
test_concurrent_claims(void **state)
{
	struct fx *f = *state;
	struct msgr_store_event *ev = calloc(TOTAL, sizeof(*ev));
	struct evbuf *b = calloc(TOTAL, sizeof(*b));
	struct msgr_store_stats s;
	struct shared *sh;
	pid_t pids[WORKERS];
	int fds[WORKERS][2], w, i, status, seen[TOTAL + 1];
	size_t nn, nd, got = 0;
	int64_t id;

	assert_non_null(ev);
	assert_non_null(b);
	/* Each conversation's events are enqueued newest first, so id order is not ts order. */
	for (i = 0; i < TOTAL; i++) {
		int c = i % CONVS, k = PER_CONV - 1 - i / CONVS;
		char key[32];
		snprintf(key, sizeof(key), "c%d.%d", c, k);
		mkev(&ev[i], &b[i], "p1", c, 10000 + k, key);
	}
	assert_int_equal(msgr_store_enqueue(f->st, ev, TOTAL, NULL, 0, &nn, &nd), MSGR_OK);
	assert_int_equal(nn, TOTAL);
	free(ev);
	free(b);
	msgr_store_close(f->st);   /* never use a handle across fork (store.h) */
	f->st = NULL;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	for (i = 0; i < CONVS; i++)
		sh->last_ts[i] = -1;
	for (w = 0; w < WORKERS; w++) {
		assert_int_equal(pipe(fds[w]), 0);
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0) {
			int rc;
			close(fds[w][0]);
			rc = worker_child(f, w, sh, fds[w][1]);
			close(fds[w][1]);
			_exit(rc);
		}
		close(fds[w][1]);
	}
	memset(seen, 0, sizeof(seen));
	for (w = 0; w < WORKERS; w++) {
		while (read(fds[w][0], &id, sizeof(id)) == (ssize_t)sizeof(id)) {
			assert_true(id >= 1 && id <= TOTAL);
			seen[id]++;
			got++;
		}
		close(fds[w][0]);
	}
	for (w = 0; w < WORKERS; w++) {
		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(got, TOTAL);
	for (i = 1; i <= TOTAL; i++) {
		assert_int_equal(seen[i], 1);            /* never the same job twice */
		assert_int_equal(sh->claims[i], 1);
	}
	assert_int_equal(sh->overlap, 0);            /* never two of one conversation at once */
	assert_int_equal(sh->disorder, 0);           /* and in timestamp order */
	assert_int_equal(sh->errors, 0);
	assert_int_equal(sh->finished, TOTAL);
	munmap(sh, sizeof(*sh));

	f->st = open_store(f, 1, 2000);
	stats(f->st, wall_ms(), &s);
	assert_int_equal(s.done, TOTAL);
	assert_int_equal(s.pending, 0);
}

/* The backend is chosen by name; one this build lacks is refused with its name. */
static void
test_backend_named(void **state)
{
	struct fx *f = *state;
	struct msgr_store_options o;
	struct msgr_store *st = (struct msgr_store *)1;
	char err[256] = "";

	opts(f, &o, 1, 2000);
	o.errbuf = err;
	o.errbufsz = sizeof(err);
	o.backend = "sqlite";
	assert_int_equal(msgr_store_open(&o, &st), MSGR_OK);
	msgr_store_close(st);
	o.backend = "nosuch";
	assert_int_equal(msgr_store_open(&o, &st), MSGR_ERR_INVALID);
	assert_null(st);
	assert_string_equal(err, "no store backend \"nosuch\" in this build");
	o.backend = "postgresql";
	st = (struct msgr_store *)1;
	assert_int_equal(msgr_store_open(&o, &st), MSGR_ERR_INVALID);
	assert_null(st);
#ifdef MSGR_WITH_PQ
	assert_non_null(strstr(err, "conninfo"));   /* PostgreSQL needs to be told where */
#else
	assert_string_equal(err, "no store backend \"postgresql\" in this build");
#endif
}

/* Calls in flight and echoes (lib/echo.h): an outbox row marked in flight counts its tries
 * until done or settled; echoes are kept once per mid and found only by the row, page and
 * user they name; a conversation's queued echoes are read in id order. */
static void
test_echo_verbs(void **state)
{
	struct fx *f = *state;
	const char *plan[2] = { "{\"message\":{\"text\":\"a\"}}", "{\"message\":{\"text\":\"b\"}}" };
	struct msgr_outbox_flight fl;
	struct msgr_store_echo e, got;
	struct msgr_store_event ev;
	struct msgr_store_raw *rows = NULL;
	struct evbuf b;
	struct msgr_job job;
	int64_t ids[2] = { 0, 0 }, after;
	size_t n = 0, nn, nd;
	int tries = 0;

	put1(f->st, "p1", 1, 1000, "k1");
	claim_ok(f->st, "w1", wall_ms(), &job);
	assert_int_equal(msgr_store_outbox_put(f->st, job.id, plan, 2, ids), MSGR_OK);
	assert_int_equal(msgr_store_outbox_flight(f->st, ids[0], &fl), MSGR_OK);
	assert_int_equal(fl.done + fl.inflight + fl.tries, 0);
	assert_true(fl.tried_at == 0);
	assert_int_equal(msgr_store_outbox_attempt(f->st, ids[0], &tries), MSGR_OK);
	assert_int_equal(tries, 1);
	assert_int_equal(msgr_store_outbox_attempt(f->st, ids[0], &tries), MSGR_OK);
	assert_int_equal(tries, 2);
	assert_int_equal(msgr_store_outbox_flight(f->st, ids[0], &fl), MSGR_OK);
	assert_int_equal(fl.inflight, 1);
	assert_int_equal(fl.tries, 2);
	assert_int_equal(fl.done, 0);
	assert_true(fl.tried_at > 0);
	assert_int_equal(msgr_store_outbox_settle(f->st, ids[0]), MSGR_OK);
	assert_int_equal(msgr_store_outbox_flight(f->st, ids[0], &fl), MSGR_OK);
	assert_int_equal(fl.inflight, 0);
	assert_int_equal(fl.tries, 2);
	assert_int_equal(msgr_store_outbox_done(f->st, ids[1], "m_b"), MSGR_OK);
	assert_int_equal(msgr_store_outbox_flight(f->st, ids[1], &fl), MSGR_OK);
	assert_int_equal(fl.done, 1);
	assert_int_equal(msgr_store_outbox_attempt(f->st, 987654, &tries), MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_outbox_settle(f->st, 987654), MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_outbox_flight(f->st, 987654, &fl), MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_outbox_attempt(f->st, 0, &tries), MSGR_ERR_INVALID);

	/* Echoes: none known yet. */
	assert_int_equal(msgr_store_echo_page_known(f->st, "p1", 0), MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_echo_find(f->st, ids[0], "p1", "u1", &got),
	    MSGR_ERR_NOTFOUND);
	memset(&e, 0, sizeof(e));
	snprintf(e.mid, sizeof(e.mid), "m_echo1");
	snprintf(e.page_id, sizeof(e.page_id), "p1");
	snprintf(e.user_id, sizeof(e.user_id), "u1");
	e.outbox_id = ids[0];
	e.try_no = 2;
	assert_int_equal(msgr_store_echo_put(f->st, &e), MSGR_OK);
	/* A redelivery of the same echo changes nothing. */
	e.try_no = 1;
	assert_int_equal(msgr_store_echo_put(f->st, &e), MSGR_OK);
	assert_int_equal(msgr_store_echo_find(f->st, ids[0], "p1", "u1", &got), MSGR_OK);
	assert_string_equal(got.mid, "m_echo1");
	assert_int_equal(got.try_no, 2);
	assert_true(got.outbox_id == ids[0]);
	assert_true(got.seen_at > 0);
	/* The same row named from another conversation, or another row: no proof. */
	assert_int_equal(msgr_store_echo_find(f->st, ids[0], "p1", "u2", &got),
	    MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_echo_find(f->st, ids[0], "p2", "u1", &got),
	    MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_echo_find(f->st, ids[1], "p1", "u1", &got),
	    MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_echo_page_known(f->st, "p1", 0), MSGR_OK);
	assert_int_equal(msgr_store_echo_page_known(f->st, "p2", 0), MSGR_ERR_NOTFOUND);
	assert_int_equal(msgr_store_echo_page_known(f->st, "p1", wall_ms() + 60000),
	    MSGR_ERR_NOTFOUND);
	/* Bad rows are refused. */
	e.mid[0] = '\0';
	assert_int_equal(msgr_store_echo_put(f->st, &e), MSGR_ERR_INVALID);
	snprintf(e.mid, sizeof(e.mid), "m_echo2");
	e.outbox_id = -1;
	assert_int_equal(msgr_store_echo_put(f->st, &e), MSGR_ERR_INVALID);

	/* Queued echo events of the conversation, by kind, after an id. */
	mkev(&ev, &b, "p1", 1, 2000, "echo-k1");
	ev.kind = 2;
	assert_int_equal(msgr_store_enqueue(f->st, &ev, 1, NULL, 0, &nn, &nd), MSGR_OK);
	mkev(&ev, &b, "p1", 1, 3000, "other-k1");
	ev.kind = 3;
	assert_int_equal(msgr_store_enqueue(f->st, &ev, 1, NULL, 0, &nn, &nd), MSGR_OK);
	mkev(&ev, &b, "p1", 2, 3000, "echo-k2");
	ev.kind = 2;
	assert_int_equal(msgr_store_enqueue(f->st, &ev, 1, NULL, 0, &nn, &nd), MSGR_OK);
	assert_int_equal(msgr_store_echo_pending(f->st, "p1", "u1", 2, 0, 10, &rows, &n), MSGR_OK);
	assert_int_equal(n, 1);
	assert_non_null(strstr(rows[0].raw, "echo-k1"));
	after = rows[0].event_id;
	msgr_store_raw_free(rows, n);
	rows = NULL;
	assert_int_equal(msgr_store_echo_pending(f->st, "p1", "u1", 2, after, 10, &rows, &n),
	    MSGR_OK);
	assert_int_equal(n, 0);
	msgr_store_raw_free(rows, n);

	/* Purge by age, a bounded batch at a time. */
	snprintf(e.mid, sizeof(e.mid), "m_echo3");
	e.outbox_id = ids[1];
	assert_int_equal(msgr_store_echo_put(f->st, &e), MSGR_OK);
	assert_int_equal(msgr_store_echo_purge(f->st, wall_ms() + 60000, 0, &n), MSGR_ERR_INVALID);
	assert_int_equal(msgr_store_echo_purge(f->st, wall_ms() + 60000, 1, &n), MSGR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(msgr_store_echo_page_known(f->st, "p1", 0), MSGR_OK);
	assert_int_equal(msgr_store_echo_purge(f->st, wall_ms() + 60000, 5, &n), MSGR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(msgr_store_echo_page_known(f->st, "p1", 0), MSGR_ERR_NOTFOUND);
	msgr_job_clear(&job);
}

/* msgrctl check's look at the file: read as it is, never created, never migrated. */
static void
test_check(void **state)
{
	struct fx *f = *state;
	struct msgr_store_options o;
	char out[512], want[64];

	opts(f, &o, 1, 2000);
	assert_int_equal(msgr_store_check(&o, out, sizeof(out)), MSGR_OK);
	assert_non_null(strstr(out, "sqlite "));
	snprintf(want, sizeof(want), "schema version %d", msgr_store_schema_version());
	assert_non_null(strstr(out, want));
	msgr_store_close(f->st);
	f->st = NULL;
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(msgr_store_check(&o, out, sizeof(out)), MSGR_OK);
	assert_non_null(strstr(out, "not created yet"));
	assert_int_equal(access(f->path, F_OK), -1);
	write_file(f->path, "this is not a database, not at all, no", 38);
	assert_int_equal(msgr_store_check(&o, out, sizeof(out)), MSGR_ERR_STORE);
	assert_non_null(strstr(out, f->path));
	o.backend = "nosuch";
	assert_int_equal(msgr_store_check(&o, out, sizeof(out)), MSGR_ERR_INVALID);
}

/* ---- a claim ends with its holder (docs/store.md "Claim") ---- */

/* A claim made through a handle that is then closed frees its conversation at once: no
 * waiting for the lease. While the holder is open, nobody else takes it. */
static void
test_claim_ends_with_handle(void **state)
{
	struct fx *f = *state;
	struct msgr_store *other = open_store(f, 1, 2000);
	struct msgr_job job, again;
	long long t;
	msgr_result r = MSGR_ERR_EMPTY;
	int i;

	put1(f->st, "p1", 1, 1000, "k");
	t = wall_ms();
	claim_ok(other, "w2", t, &job);
	assert_int_equal(msgr_store_claim(f->st, "w1", t + 1000, 30000, &again), MSGR_ERR_EMPTY);
	/* A renew through another handle of the same owner moves the tie there. */
	assert_int_equal(msgr_store_renew(other, job.id, "w2", t, 30000), MSGR_OK);
	msgr_store_close(other);
	/* PostgreSQL ends the closed session, and its lock, a moment after the client has gone
	 * (PQfinish does not wait for it): the claim is free within 2 s (docs/store.md). */
	for (i = 0; i < 200 && (r = msgr_store_claim(f->st, "w1", t + 1000, 30000, &again)) ==
	    MSGR_ERR_EMPTY; i++)
		usleep(10000);
	assert_int_equal(r, MSGR_OK);
	assert_int_equal(again.id, job.id);
	assert_int_equal(again.claims, 2);
	/* The first holder's late finish is refused: w1 has it now. */
	assert_int_equal(msgr_store_finish(f->st, job.id, "w2", MSGR_JOB_DONE, NULL),
	    MSGR_ERR_NOTFOUND);
	done(f->st, &again, "w1");
	msgr_job_clear(&job);
	/* The lease still bounds a holder that is alive but stuck. */
	put1(f->st, "p1", 1, 2000, "k2");
	t = wall_ms();   /* after it is due */
	other = open_store(f, 1, 2000);
	assert_int_equal(msgr_store_claim(other, "w2", t, 1000, &job), MSGR_OK);
	assert_int_equal(msgr_store_claim(f->st, "w1", t + 999, 1000, &again), MSGR_ERR_EMPTY);
	claim_ok(f->st, "w1", t + 1001, &again);
	assert_int_equal(again.id, job.id);
	done(f->st, &again, "w1");
	msgr_job_clear(&job);
	msgr_store_close(other);
}

/* A process killed while holding a claim: its conversation is taken over as soon as the
 * kernel (SQLite: the lock beside the file) or the server (PostgreSQL: the session's lock)
 * has seen it die, well within the 2 s the issue asks, whatever the lease. */
static void
test_claim_ends_with_process(void **state)
{
	struct fx *f = *state;
	struct msgr_job job;
	int fds[2], status;
	int64_t id = 0;
	long long t, t0, took;
	pid_t pid;

	put1(f->st, "p1", 1, 1000, "held");
	put1(f->st, "p1", 1, 2000, "next");
	t = wall_ms();
	msgr_store_close(f->st);     /* never a handle across fork (store.h) */
	f->st = NULL;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct msgr_store_options o;
		struct msgr_store *st = NULL;
		struct msgr_job j;

		close(fds[0]);
		opts(f, &o, 1, 2000);
		if (msgr_store_open(&o, &st) != MSGR_OK ||
		    msgr_store_claim(st, "child", t, 600000, &j) != MSGR_OK)
			_exit(2);
		if (write(fds[1], &j.id, sizeof(j.id)) != (ssize_t)sizeof(j.id))
			_exit(3);
		for (;;)
			pause();     /* holding the claim, as a responder inside a long call */
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &id, sizeof(id)), (ssize_t)sizeof(id));
	close(fds[0]);
	f->st = open_store(f, 1, 2000);
	/* Alive: the conversation waits. */
	assert_int_equal(msgr_store_claim(f->st, "w1", t, 30000, &job), MSGR_ERR_EMPTY);
	t0 = mono_ms();
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	for (;;) {
		msgr_result r = msgr_store_claim(f->st, "w1", t, 30000, &job);

		took = mono_ms() - t0;
		if (r == MSGR_OK)
			break;
		assert_int_equal(r, MSGR_ERR_EMPTY);
		assert_true(took < 2000);
		usleep(2000);
	}
	print_message("# %s: claim taken over %lld ms after SIGKILL of its holder (lease 600 s)\n",
	    f->conninfo[0] ? "postgresql" : "sqlite", took);
	assert_int_equal(job.id, id);
	assert_int_equal(job.claims, 2);   /* the worker counts the death */
	assert_non_null(strstr(job.raw, "\"held\""));
	done(f->st, &job, "w1");
	claim_ok(f->st, "w1", t, &job);
	assert_non_null(strstr(job.raw, "\"next\""));
	done(f->st, &job, "w1");
}

static long long
fixed_clock(void *arg)
{
	return *(long long *)arg;
}

/* SQLite: a thread that is this app's needs no owner row, and a user's message, which says
 * so again, writes none (a write of the same value would put its page into the commit). */
static void
test_conv_owner_rows(void **state)
{
	struct fx *f = *state;
	long long t = 4102444800000LL;      /* 2100-01-01T00:00:00Z: never the system's time */
	struct msgr_clock clock = { fixed_clock, &t };
	struct msgr_conversation cv;
	const char *rows = "SELECT count(*) FROM conv WHERE page_id = 'p1' AND user_id = 'u1'"
	    " AND name = 'owner'";
	const char *at = "SELECT updated_at FROM conv WHERE page_id = 'p1' AND user_id = 'u1'"
	    " AND name = 'owner' AND value = ''";

	msgr_store_set_clock(f->st, &clock);
	assert_int_equal(msgr_store_set_owner(f->st, "p1", "u1", MSGR_OWNER_US, NULL), MSGR_OK);
	assert_int_equal(raw_count(f, rows), 0);
	assert_int_equal(msgr_store_set_owner(f->st, "p1", "u1", MSGR_OWNER_APP, "263902037430900"),
	    MSGR_OK);
	assert_int_equal(raw_count(f, rows), 1);
	/* Back to this app: the row says so, with the time it changed. */
	t += 1000;
	assert_int_equal(msgr_store_set_owner(f->st, "p1", "u1", MSGR_OWNER_US, NULL), MSGR_OK);
	assert_int_equal(raw_count(f, at), t);
	/* Said again later: the row is left as it was. */
	t += 60000;
	assert_int_equal(msgr_store_set_owner(f->st, "p1", "u1", MSGR_OWNER_US, NULL), MSGR_OK);
	assert_int_equal(raw_count(f, at), t - 60000);
	assert_int_equal(msgr_store_conversation(f->st, "p1", "u1", &cv), MSGR_OK);
	assert_int_equal(cv.owner, MSGR_OWNER_US);
	msgr_store_set_clock(f->st, NULL);
	/* The owners index holds only threads held elsewhere. */
	assert_int_equal(raw_count(f, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
	    " AND name = 'conv_elsewhere' AND sql LIKE '%WHERE name = ''owner'' AND value <> ''''%'"),
	    1);
}

/* Rows are stamped with the handle's clock, the one the options or msgr_store_set_clock
 * give: arrival, finish, the time an owner was recorded. */
static void
test_clock(void **state)
{
	struct fx *f = *state;
	long long t = 4102444800000LL;      /* 2100-01-01T00:00:00Z: never the system's time */
	struct msgr_clock clock = { fixed_clock, &t };
	struct msgr_conversation cv;
	struct msgr_job j;
	char **lines = NULL;
	size_t n = 0;

	msgr_store_set_clock(f->st, &clock);
	put1(f->st, "p1", 1, 0, "k1");      /* no timestamp: ordered at its arrival */
	assert_int_equal(msgr_store_claim(f->st, "w", t - 1, 1000, &j), MSGR_ERR_EMPTY);
	claim_ok(f->st, "w", t, &j);
	assert_int_equal(j.received_at, t);
	t += 60000;
	assert_int_equal(msgr_store_finish(f->st, j.id, "w", MSGR_JOB_FAILED, "no"), MSGR_OK);
	msgr_job_clear(&j);
	assert_int_equal(msgr_store_recent_failures(f->st, 10, &lines, &n), MSGR_OK);
	assert_int_equal(n, 1);
	assert_string_equal(lines[0], "2100-01-01T00:01:00Z conn kind=0 no");
	msgr_store_lines_free(lines, n);
	assert_int_equal(msgr_store_set_owner(f->st, "p1", "u1", MSGR_OWNER_STANDBY, NULL), MSGR_OK);
	assert_int_equal(msgr_store_conversation(f->st, "p1", "u1", &cv), MSGR_OK);
	assert_int_equal(cv.owner_at, t);
	/* Back to the system's clock. */
	msgr_store_set_clock(f->st, NULL);
	assert_int_equal(msgr_store_set_owner(f->st, "p1", "u1", MSGR_OWNER_US, NULL), MSGR_OK);
	assert_int_equal(msgr_store_conversation(f->st, "p1", "u1", &cv), MSGR_OK);
	assert_true(cv.owner_at < t && cv.owner_at > 1700000000000LL);
}

#ifdef MSGR_WITH_PQ
/* ---- PostgreSQL's own: schema, migration, locks, the connection ---- */

static void
pg_test_schema_created(void **state)
{
	struct fx *f = *state;
	const char *tables[] = { "events", "convq", "outbox", "conv", "cache", "pause",
		"quarantine", "echo" };
	struct msgr_store *st2;
	char q[256];
	size_t i;

	assert_int_equal(raw_count(f, "SELECT version FROM msgr_schema"), 3);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(q, sizeof(q), "SELECT count(*) FROM information_schema.tables"
		    " WHERE table_schema = current_schema() AND table_name = '%s'", tables[i]);
		assert_int_equal(raw_count(f, q), 1);
	}
	assert_int_equal(raw_count(f, "SELECT count(*) FROM pg_indexes WHERE schemaname ="
	    " current_schema() AND indexname IN ('events_conv', 'events_lease', 'convq_due',"
	    " 'conv_name', 'events_failed')"), 5);
	/* Opened again, nothing changes. */
	st2 = open_store(f, 1, 2000);
	msgr_store_close(st2);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM msgr_schema"), 1);
}

/* Several hosts starting at once on an empty database: one creates the schema, the others
 * wait for it (the migration lock) and find it done. */
static void
pg_test_migrate_together(void **state)
{
	struct fx *f = *state;
	enum { N = 4 };
	pid_t pids[N];
	int go[2], i, status;
	char c = 'g';

	msgr_store_close(f->st);
	f->st = NULL;
	assert_int_equal(raw_exec(f, "DROP TABLE events, convq, outbox, conv, cache, pause,"
	    " quarantine, echo, msgr_schema CASCADE"), 0);
	assert_int_equal(pipe(go), 0);
	for (i = 0; i < N; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct msgr_store_options o;
			struct msgr_store *st = NULL;
			char b;

			close(go[1]);
			if (read(go[0], &b, 1) != 0)    /* everyone starts when the pipe closes */
				_exit(4);
			opts(f, &o, 1, 5000);
			if (msgr_store_open(&o, &st) != MSGR_OK)
				_exit(1);
			msgr_store_close(st);
			_exit(0);
		}
	}
	close(go[0]);
	(void)c;
	close(go[1]);
	for (i = 0; i < N; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(raw_count(f, "SELECT version FROM msgr_schema"), 3);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM msgr_schema"), 1);
	f->st = open_store(f, 1, 2000);
	put1(f->st, "p1", 1, 1000, "k");
}

static void
pg_test_newer_refused(void **state)
{
	struct fx *f = *state;
	struct msgr_store_options o;
	struct msgr_store *st = (struct msgr_store *)1;
	char err[256] = "";

	assert_int_equal(raw_exec(f, "UPDATE msgr_schema SET version = 99"), 0);
	opts(f, &o, 1, 2000);
	o.errbuf = err;
	o.errbufsz = sizeof(err);
	assert_int_equal(msgr_store_open(&o, &st), MSGR_ERR_STORE);
	assert_null(st);
	assert_non_null(strstr(err, "newer"));
	assert_int_equal(raw_count(f, "SELECT version FROM msgr_schema"), 99);
	o.readonly = 1;
	assert_int_equal(msgr_store_open(&o, &st), MSGR_ERR_STORE);
	assert_int_equal(msgr_store_check(&o, err, sizeof(err)), MSGR_ERR_STORE);
	assert_non_null(strstr(err, "newer"));
	assert_int_equal(raw_exec(f, "UPDATE msgr_schema SET version = 1"), 0);
}

/* Read-only (msgrctl status): reads work, writes are store failures. */
static void
pg_test_readonly(void **state)
{
	struct fx *f = *state;
	struct msgr_store_options o;
	struct msgr_store *ro = NULL;
	struct msgr_store_stats s;
	struct msgr_job job;

	put1(f->st, "p1", 1, 1000, "first");
	opts(f, &o, 1, 500);
	o.readonly = 1;
	assert_int_equal(msgr_store_open(&o, &ro), MSGR_OK);
	stats(ro, wall_ms(), &s);
	assert_int_equal(s.pending, 1);
	assert_int_equal(msgr_store_claim(ro, "w", wall_ms(), 1000, &job), MSGR_ERR_STORE);
	msgr_store_close(ro);
}

/* A lock held by another session past busy_timeout_ms: MSGR_ERR_BUSY about then, and the
 * handle works once the lock is gone. */
static void
pg_test_busy_timeout(void **state)
{
	struct fx *f = *state;
	struct msgr_store_event e;
	struct evbuf b;
	size_t nn, nd;
	PGconn *c;
	PGresult *r;
	long long t0, took;

	msgr_store_close(f->st);
	f->st = open_store(f, 1, 300);
	put1(f->st, "p1", 1, 1000, "first");
	c = PQconnectdb(f->conninfo);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, "BEGIN; LOCK TABLE events IN EXCLUSIVE MODE");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	mkev(&e, &b, "p1", 2, 2000, "second");
	t0 = mono_ms();
	assert_int_equal(msgr_store_enqueue(f->st, &e, 1, NULL, 0, &nn, &nd), MSGR_ERR_BUSY);
	took = mono_ms() - t0;
	assert_true(took >= 250);
	assert_true(took < 3000);
	assert_non_null(strstr(msgr_store_errmsg(f->st), "55P03"));
	r = PQexec(c, "ROLLBACK");
	PQclear(r);
	PQfinish(c);
	assert_int_equal(msgr_store_enqueue(f->st, &e, 1, NULL, 0, &nn, &nd), MSGR_OK);
	assert_int_equal(nn, 1);
}

/* The server ends the session (a restart, an admin): the call that finds out fails with
 * MSGR_ERR_STORE, and the next one connects again by itself. Claims of the old session are
 * free by then: its lock went with it. */
static void
pg_test_reconnect(void **state)
{
	struct fx *f = *state;
	char conn[sizeof(f->conninfo)], name[96];
	struct msgr_store_stats s;
	struct msgr_job job;
	msgr_result r;
	int i;

	msgr_store_close(f->st);
	snprintf(name, sizeof(name), "reconnect_%s", f->schema);
	assert_true((size_t)snprintf(conn, sizeof(conn), "%s application_name=%s", f->conninfo,
	    name) < sizeof(conn));
	memcpy(f->conninfo, conn, sizeof(conn));
	f->st = open_store(f, 1, 2000);
	put1(f->st, "p1", 1, 1000, "k");
	claim_ok(f->st, "w1", wall_ms(), &job);
	assert_int_equal(pgtest_exec(pgtest_base(), "SELECT pg_terminate_backend(pid)"
	    " FROM pg_stat_activity WHERE application_name = '%s'", name), 0);
	usleep(50000);
	r = msgr_store_stats(f->st, wall_ms(), &s);
	if (r != MSGR_OK) {
		assert_int_equal(r, MSGR_ERR_STORE);
		assert_true(msgr_store_errmsg(f->st)[0] != '\0');
	}
	for (i = 0; i < 3 && (r = msgr_store_stats(f->st, wall_ms(), &s)) != MSGR_OK; i++)
		usleep(50000);
	assert_int_equal(r, MSGR_OK);
	assert_int_equal(s.pending, 1);
	/* The claim's session is gone: another owner takes the job at once. */
	msgr_job_clear(&job);
	claim_ok(f->st, "w2", wall_ms(), &job);
	done(f->st, &job, "w2");
}

/* Where the server cannot be reached, or the conninfo cannot be read: refused, and the
 * password is in no message. */
static void
pg_test_unreachable(void **state)
{
	struct fx *f = *state;
	struct msgr_store_options o;
	struct msgr_store *st = (struct msgr_store *)1;
	char err[512] = "", out[512];

	opts(f, &o, 1, 500);
	o.errbuf = err;
	o.errbufsz = sizeof(err);
	o.conninfo = "host=/nonexistent-msgr port=5999 dbname=x user=u password=Sekrit-PW-1234";
	assert_int_equal(msgr_store_open(&o, &st), MSGR_ERR_STORE);
	assert_null(st);
	assert_true(err[0] != '\0');
	assert_null(strstr(err, "Sekrit-PW-1234"));
	assert_null(strchr(err, '\n'));
	assert_int_equal(msgr_store_check(&o, out, sizeof(out)), MSGR_ERR_STORE);
	assert_non_null(strstr(out, "host=/nonexistent-msgr"));
	assert_null(strstr(out, "Sekrit-PW-1234"));
	o.conninfo = "host='unterminated password=Sekrit-PW-1234";
	assert_int_equal(msgr_store_open(&o, &st), MSGR_ERR_INVALID);
	assert_null(strstr(err, "Sekrit-PW-1234"));
	assert_int_equal(msgr_store_check(&o, out, sizeof(out)), MSGR_ERR_INVALID);
	assert_null(strstr(out, "Sekrit-PW-1234"));
	o.conninfo = f->conninfo;
	assert_int_equal(msgr_store_check(&o, out, sizeof(out)), MSGR_OK);
	assert_non_null(strstr(out, "connected (PostgreSQL "));
	assert_non_null(strstr(out, "schema version 3"));
}

/* A note cut inside a UTF-8 character (a Graph error cut to fit) is still stored. */
static void
pg_test_text_cleaned(void **state)
{
	struct fx *f = *state;
	struct msgr_job job;

	put1(f->st, "p1", 1, 1000, "k");
	claim_ok(f->st, "w", wall_ms(), &job);
	assert_int_equal(msgr_store_finish(f->st, job.id, "w", MSGR_JOB_FAILED,
	    "cut in the middle of \xc3"), MSGR_OK);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events WHERE error ="
	    " 'cut in the middle of ?'"), 1);
	msgr_job_clear(&job);
}
#endif

/* ---- a held handle ---- */

/* msgr_store_hold: the calls' writes are one transaction, seen by nobody before the flush,
 * which commits them all; meanwhile the write lock is the holder's; a call that fails undoes
 * only its own writes; hold(0) commits and goes back to a commit per call. */
static void
test_hold(void **state)
{
	struct fx *f = *state;
	struct msgr_store *other = open_store(f, 1, 50);
	struct msgr_store_event e;
	struct evbuf b;
	struct msgr_job job;
	size_t nn, nd;
	long long t;

	assert_int_equal(msgr_store_flush(f->st), MSGR_OK);      /* nothing held: nothing to do */
	assert_int_equal(msgr_store_hold(f->st, 1), MSGR_OK);
	put1(f->st, "p1", 1, 1000, "h1");
	put1(f->st, "p1", 2, 1001, "h2");
	t = wall_ms();
	claim_ok(f->st, "w1", t, &job);
	/* Another writer waits for the lock, and gives up after its busy timeout. */
	mkev(&e, &b, "p1", 3, 1002, "h3");
	assert_int_equal(msgr_store_enqueue(other, &e, 1, NULL, 0, &nn, &nd), MSGR_ERR_BUSY);
	/* A call refused (not our job) undoes nothing before it. */
	assert_int_equal(msgr_store_finish(f->st, job.id, "w2", MSGR_JOB_DONE, NULL),
	    MSGR_ERR_NOTFOUND);
	/* A batch that fails (a key missing) leaves nothing of itself, and the rest stands. */
	e.key = NULL;
	assert_int_equal(msgr_store_enqueue(f->st, &e, 1, NULL, 0, &nn, &nd), MSGR_ERR_INVALID);
	e.key = b.key;
	assert_int_equal(msgr_store_finish(f->st, job.id, "w1", MSGR_JOB_DONE, "held"), MSGR_OK);
	msgr_job_clear(&job);
	{
		/* Read beside it without a flush: nothing of the held transaction yet. */
		sqlite3 *db = NULL;
		sqlite3_stmt *s = NULL;

		assert_int_equal(sqlite3_open_v2(f->path, &db, SQLITE_OPEN_READONLY, NULL),
		    SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM events", -1, &s,
		    NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int64(s, 0), 0);
		sqlite3_finalize(s);
		sqlite3_close(db);
	}
	assert_int_equal(msgr_store_flush(f->st), MSGR_OK);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events"), 2);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events WHERE state = 1"
	    " AND error = 'held'"), 1);
	/* The lock is free again. */
	assert_int_equal(msgr_store_enqueue(other, &e, 1, NULL, 0, &nn, &nd), MSGR_OK);
	/* Still held: the next calls gather again; hold(0) commits them and ends it. */
	put1(f->st, "p1", 4, 1003, "h4");
	assert_int_equal(msgr_store_enqueue(other, &e, 1, NULL, 0, &nn, &nd), MSGR_ERR_BUSY);
	assert_int_equal(msgr_store_hold(f->st, 0), MSGR_OK);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events"), 4);
	put1(f->st, "p1", 5, 1004, "h5");
	mkev(&e, &b, "p1", 6, 1005, "h6");
	assert_int_equal(msgr_store_enqueue(other, &e, 1, NULL, 0, &nn, &nd), MSGR_OK);
	/* set_sync and checkpoint commit what is held first. */
	assert_int_equal(msgr_store_hold(f->st, 1), MSGR_OK);
	put1(f->st, "p1", 7, 1006, "h7");
	assert_int_equal(msgr_store_set_sync(f->st, 1), MSGR_OK);
	mkev(&e, &b, "p1", 8, 1007, "h8");
	assert_int_equal(msgr_store_enqueue(other, &e, 1, NULL, 0, &nn, &nd), MSGR_OK);
	put1(f->st, "p1", 9, 1008, "h9");
	assert_int_equal(msgr_store_checkpoint(f->st, NULL), MSGR_OK);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events"), 9);
	assert_int_equal(msgr_store_hold(f->st, 0), MSGR_OK);
	msgr_store_close(other);
}

/* A held transaction whose commit fails (the disk refuses the WAL's growth: a file size
 * limit, as a full disk would) reports it at the flush, leaves nothing of itself behind, and
 * the handle goes on once the disk takes writes again. */
/* A handle shared by threads taking turns (msgr_store_share), as `msgrctl drain --threads`
 * shares it: each thread claims, finishes and pauses as a worker does around its calls.
 * Every event is worked exactly once, and everything is committed at the end. */
enum { SHARED_THREADS = 4, SHARED_USERS = 30, SHARED_EACH = 4 };

struct shared_run {
	struct msgr_store *st;
	int index;
	int finished;
	int64_t ids[SHARED_USERS * SHARED_EACH];
	msgr_result rc;
};

static void *
shared_worker(void *arg)
{
	struct shared_run *r = arg;
	char owner[32];
	struct msgr_job job;
	msgr_result rc = MSGR_OK;

	snprintf(owner, sizeof(owner), "thread%d", r->index);
	msgr_store_enter(r->st);
	for (;;) {
		if ((rc = msgr_store_claim(r->st, owner, wall_ms(), 30000, &job)) != MSGR_OK)
			break;
		/* The Graph call: the store paused, the turn left to the others. */
		rc = msgr_store_pause(r->st);
		msgr_store_resume(r->st);
		if (rc == MSGR_OK)
			rc = msgr_store_finish(r->st, job.id, owner, MSGR_JOB_DONE, NULL);
		if (rc == MSGR_OK)
			r->ids[r->finished++] = job.id;
		msgr_job_clear(&job);
		if (rc != MSGR_OK)
			break;
	}
	r->rc = rc == MSGR_ERR_EMPTY ? MSGR_OK : rc;
	if (msgr_store_leave(r->st) != MSGR_OK && r->rc == MSGR_OK)
		r->rc = MSGR_ERR_STORE;
	return NULL;
}

static void
test_shared_threads(void **state)
{
	struct fx *f = *state;
	struct shared_run *r = calloc(SHARED_THREADS, sizeof(*r));
	pthread_t tid[SHARED_THREADS];
	char *seen = calloc(SHARED_USERS * SHARED_EACH + 1, 1);
	char key[32];
	int i, j, total = 0;

	assert_non_null(r);
	assert_non_null(seen);
	for (i = 0; i < SHARED_USERS * SHARED_EACH; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		put1(f->st, "p1", i % SHARED_USERS, 1000 + i, key);
	}
	assert_int_equal(msgr_store_share(f->st), MSGR_OK);
	assert_int_equal(msgr_store_share(f->st), MSGR_ERR_INVALID);
	/* Shared: every commit durable, set_sync leaves it so. */
	assert_int_equal(msgr_store_set_sync(f->st, 0), MSGR_OK);
	for (i = 0; i < SHARED_THREADS; i++) {
		r[i].st = f->st;
		r[i].index = i;
		assert_int_equal(pthread_create(&tid[i], NULL, shared_worker, &r[i]), 0);
	}
	for (i = 0; i < SHARED_THREADS; i++)
		assert_int_equal(pthread_join(tid[i], NULL), 0);
	for (i = 0; i < SHARED_THREADS; i++) {
		assert_int_equal(r[i].rc, MSGR_OK);
		for (j = 0; j < r[i].finished; j++) {
			assert_true(r[i].ids[j] >= 1 && r[i].ids[j] <= SHARED_USERS * SHARED_EACH);
			assert_int_equal(seen[r[i].ids[j]], 0);   /* nobody worked it twice */
			seen[r[i].ids[j]] = 1;
		}
		total += r[i].finished;
	}
	assert_int_equal(total, SHARED_USERS * SHARED_EACH);
	/* All of it committed: seen beside the store without a flush of ours. */
	assert_int_equal(unit_sqlite_count(f->path, "SELECT count(*) FROM events WHERE state = 1"),
	    SHARED_USERS * SHARED_EACH);
	free(seen);
	free(r);
}

static void
test_hold_commit_fails(void **state)
{
	struct fx *f = *state;
	struct rlimit old, tiny = { 1, 1 };
	void (*was)(int);

	put1(f->st, "p1", 1, 1000, "before");
	assert_int_equal(msgr_store_hold(f->st, 1), MSGR_OK);
	put1(f->st, "p1", 2, 1001, "held1");
	put1(f->st, "p1", 3, 1002, "held2");
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	was = signal(SIGXFSZ, SIG_IGN);
	tiny.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &tiny), 0);
	assert_int_not_equal(msgr_store_flush(f->st), MSGR_OK);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, was);
	assert_non_null(strstr(msgr_store_errmsg(f->st), "commit"));
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events"), 1);
	put1(f->st, "p1", 4, 1003, "after");
	assert_int_equal(msgr_store_hold(f->st, 0), MSGR_OK);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events"), 2);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events WHERE key LIKE 'held%'"), 0);
}

/* ---- the inbox (options.inbox: the host committer's handle) ---- */

static struct msgr_store *
open_inbox(struct fx *f)
{
	struct msgr_store_options o;
	struct msgr_store *st = NULL;

	opts(f, &o, 1, 2000);
	o.inbox = 1;
	assert_int_equal(msgr_store_open(&o, &st), MSGR_OK);
	return st;
}

static void
enqueue_keys(struct msgr_store *st, const char *const *keys, size_t n, size_t want_new,
    size_t want_dup)
{
	struct msgr_store_event ev[8];
	struct evbuf b[8];
	size_t i, nn = 99, nd = 99;

	assert_true(n <= 8);
	for (i = 0; i < n; i++)
		mkev(&ev[i], &b[i], "p1", (int)i, 1000 + (long long)i, keys[i]);
	assert_int_equal(msgr_store_enqueue(st, ev, n, NULL, 0, &nn, &nd), MSGR_OK);
	assert_int_equal(nn, want_new);
	assert_int_equal(nd, want_dup);
}

/* Acknowledged into the inbox with exact counts, claimable once moved, moved once. */
static void
test_inbox_then_ingest(void **state)
{
	struct fx *f = *state;
	struct msgr_store *ib = open_inbox(f);
	static const char *const abc[] = { "a", "b", "c" }, *const add[] = { "a", "d", "d" },
	    *const e[] = { "e" }, *const a[] = { "a" };
	struct msgr_store_quarantine q = { "conn", "no sender", "{}", 2 };
	struct msgr_store_event ev;
	struct evbuf b;
	struct msgr_job job;
	struct msgr_store_stats st;
	size_t nn, nd, moved = 99;
	long long at;
	int more = 9;

	mkev(&ev, &b, "p1", 0, 1000, "a");
	enqueue_keys(ib, abc, 3, 3, 0);
	/* A quarantine row goes where it always goes, at once. */
	assert_int_equal(msgr_store_enqueue(ib, NULL, 0, &q, 1, &nn, &nd), MSGR_OK);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM quarantine"), 1);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM inbox"), 3);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events"), 0);
	assert_int_equal(msgr_store_claim(f->st, "w", wall_ms(), 30000, &job), MSGR_ERR_EMPTY);
	/* Queued all the same, for `msgrctl status`. */
	stats(f->st, wall_ms(), &st);
	assert_int_equal(st.pending, 3);
	/* A redelivery waiting in the inbox, and twice the same event in one call. */
	enqueue_keys(ib, add, 3, 1, 2);
	/* Already in the queue (stored by a handle without an inbox): a duplicate too. */
	enqueue_keys(f->st, e, 1, 1, 0);
	enqueue_keys(ib, e, 1, 0, 1);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM inbox"), 4);
	at = raw_count(f, "SELECT received_at FROM inbox WHERE key = 'a'");
	/* Any handle moves it, oldest first, in chunks. */
	assert_int_equal(msgr_store_ingest(f->st, 2, &moved, &more), MSGR_OK);
	assert_int_equal(moved, 2);
	assert_int_equal(more, 1);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events WHERE key IN ('a', 'b')"), 2);
	assert_int_equal(msgr_store_ingest(f->st, 10, &moved, &more), MSGR_OK);
	assert_int_equal(moved, 2);
	assert_int_equal(more, 0);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM inbox"), 0);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM events"), 5);
	assert_int_equal(raw_count(f, "SELECT count(DISTINCT key) FROM events"), 5);
	/* received_at is the acknowledgement's, not the move's. */
	assert_true(raw_count(f, "SELECT received_at FROM events WHERE key = 'a'") == at);
	/* The inbox handle still knows a as stored: moved by another handle, found in events. */
	enqueue_keys(ib, a, 1, 0, 1);
	assert_int_equal(msgr_store_ingest(ib, 10, &moved, &more), MSGR_OK);
	assert_int_equal(moved, 0);
	assert_int_equal(more, 0);
	enqueue_keys(ib, a, 1, 0, 1);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM inbox"), 0);
	/* Claimable now, conversation by conversation as always. */
	assert_int_equal(msgr_store_claim(f->st, "w", wall_ms(), 30000, &job), MSGR_OK);
	assert_string_equal(job.page_id, "p1");
	msgr_job_clear(&job);
	assert_int_equal(msgr_store_ingest(f->st, 0, &moved, &more), MSGR_ERR_INVALID);
	msgr_store_close(ib);
}

/* A call that fails stores nothing, and forgets the keys it had noted: sent again, the same
 * events are new. */
static void
test_inbox_failed_call_forgets(void **state)
{
	struct fx *f = *state;
	struct msgr_store *ib = open_inbox(f);
	static const char *const xy[] = { "x", "y" };
	struct msgr_store_event ev[2];
	struct evbuf b[2];
	struct msgr_store_quarantine q = { "conn", "huge", "{}", (size_t)0x80000000u };
	size_t nn, nd;

	mkev(&ev[0], &b[0], "p1", 0, 1000, "x");
	mkev(&ev[1], &b[1], "p1", 1, 1001, "y");
	assert_int_equal(msgr_store_enqueue(ib, ev, 2, &q, 1, &nn, &nd), MSGR_ERR_TOOBIG);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM inbox"), 0);
	enqueue_keys(ib, xy, 2, 2, 0);
	assert_int_equal(raw_count(f, "SELECT count(*) FROM inbox"), 2);
	msgr_store_close(ib);
}

#ifdef MSGR_WITH_PQ
/* PostgreSQL has no inbox: the option changes nothing, an ingest moves nothing. */
static void
test_inbox_pg_direct(void **state)
{
	struct fx *f = *state;
	struct msgr_store *ib = open_inbox(f);
	static const char *const k[] = { "k1", "k2" };
	struct msgr_job job;
	size_t moved = 9;
	int more = 9;

	enqueue_keys(ib, k, 2, 2, 0);
	assert_int_equal(msgr_store_ingest(ib, 10, &moved, &more), MSGR_OK);
	assert_int_equal(moved, 0);
	assert_int_equal(more, 0);
	assert_int_equal(msgr_store_claim(f->st, "w", wall_ms(), 30000, &job), MSGR_OK);
	msgr_job_clear(&job);
	msgr_store_close(ib);
}
#endif

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TH(fn) { "held:" #fn, fn, setup_held, teardown, NULL }
#define TP(fn) { "postgresql:" #fn, fn, setup_pg, teardown_pg, NULL }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_schema_created),
		T(test_reopen_keeps_data),
		T(test_migrates_older),
		T(test_newer_version_refused),
		T(test_garbage_refused),
		T(test_enqueue_many),
		T(test_inbox_then_ingest),
		T(test_inbox_failed_call_forgets),
		T(test_duplicates_skipped),
		T(test_quarantine_rows),
		T(test_all_or_nothing),
		T(test_readonly_refused),
		T(test_busy_timeout),
		T(test_busy_wait_then_succeed),
		T(test_claim_order),
		T(test_claim_interleaves_conversations),
		T(test_leased_conversation_blocks_late_event),
		T(test_queue_follows_changes),
		T(test_lease_expiry),
		T(test_finish_retry),
		T(test_renew),
		T(test_outbox),
		T(test_echo_verbs),
		T(test_conv),
		T(test_conv_owner_rows),
		T(test_conv_list),
		T(test_cache_expiry),
		T(test_pause),
		T(test_migrates_v3_pauses),
		T(test_stats_counts),
		T(test_purge),
		T(test_concurrent_claims),
		T(test_backend_named),
		T(test_clock),
		T(test_check),
		T(test_claim_ends_with_handle),
		T(test_claim_ends_with_process),
		T(test_hold),
		T(test_hold_commit_fails),
		T(test_shared_threads),
	};
	/* The interface's promises again through a held handle (the worker's way): the same
	 * answers, each call a savepoint. Not those that wait on other connections. */
	const struct CMUnitTest held_tests[] = {
		TH(test_enqueue_many),
		TH(test_duplicates_skipped),
		TH(test_quarantine_rows),
		TH(test_all_or_nothing),
		TH(test_claim_order),
		TH(test_claim_interleaves_conversations),
		TH(test_leased_conversation_blocks_late_event),
		TH(test_queue_follows_changes),
		TH(test_lease_expiry),
		TH(test_finish_retry),
		TH(test_renew),
		TH(test_outbox),
		TH(test_echo_verbs),
		TH(test_conv),
		TH(test_conv_list),
		TH(test_cache_expiry),
		TH(test_pause),
		TH(test_stats_counts),
		TH(test_purge),
		TH(test_clock),
	};
	int failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);

	failed += cmocka_run_group_tests_name("sqlite, held", held_tests, NULL, NULL);
#ifdef MSGR_WITH_PQ
	/* The same promises on PostgreSQL, and its own checks. */
	const struct CMUnitTest pg_tests[] = {
		TP(test_reopen_keeps_data),
		TP(test_enqueue_many),
		TP(test_inbox_pg_direct),
		TP(test_duplicates_skipped),
		TP(test_quarantine_rows),
		TP(test_all_or_nothing),
		TP(test_claim_order),
		TP(test_claim_interleaves_conversations),
		TP(test_leased_conversation_blocks_late_event),
		TP(test_queue_follows_changes),
		TP(test_lease_expiry),
		TP(test_finish_retry),
		TP(test_renew),
		TP(test_outbox),
		TP(test_echo_verbs),
		TP(test_conv),
		TP(test_conv_list),
		TP(test_cache_expiry),
		TP(test_pause),
		TP(test_stats_counts),
		TP(test_purge),
		TP(test_concurrent_claims),
		TP(test_clock),
		TP(test_claim_ends_with_handle),
		TP(test_claim_ends_with_process),
		TP(pg_test_schema_created),
		TP(pg_test_migrate_together),
		TP(pg_test_newer_refused),
		TP(pg_test_readonly),
		TP(pg_test_busy_timeout),
		TP(pg_test_reconnect),
		TP(pg_test_unreachable),
		TP(pg_test_text_cleaned),
	};

	if (pgtest_base() != NULL)
		failed += cmocka_run_group_tests_name("postgresql", pg_tests, NULL, NULL);
	else
		print_message("# postgresql: MSGR_TEST_PG is not set (tests/run starts a cluster"
		    " and sets it): its half is left out\n");
#endif
	return failed;
}
