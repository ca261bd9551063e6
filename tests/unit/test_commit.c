/* Unit tests: the group commit (lib/commit.h), driven with real threads and a real SQLite
 * store in a fresh folder under /tmp.
 *
 * The contract (docs/responder.md "Threads and group commit"): batches that wait together are
 * stored in ONE transaction; a group fails as a whole for the store's sake (busy, failed) and
 * nothing of it is stored; a fault of one batch's own rows fails that batch alone; each batch
 * learns exactly its own new and duplicate events, unless an event of the group was stored
 * before the group began (then it carries the group's totals, counts_exact = 0).
 *
 * To make batches wait together, the test holds the store with msgr_commit_borrow (as the
 * one-thread responder's worker does) while the submitting threads queue up behind it, then
 * gives it back: the first of them to wake leads, taking every queued batch. */
#include "unit.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "unit_sqlite.h"

#include "commit.h"
#include "store.h"

#define MAX_EV 8
#define N_THREADS 8
/* How long the submitting threads get to queue up behind a borrowed store: far more than a
 * thread needs from its start to its wait, even under the sanitizers. */
#define QUEUE_MS 300

struct fx {
	struct unit_tmp t;
	const char *path;             /* t.path */
	struct msgr_commit *c;
};

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static struct msgr_commit *
open_commit(const char *path, int busy_ms)
{
	struct msgr_store_options o;
	struct msgr_commit *c = NULL;

	memset(&o, 0, sizeof(o));
	o.path = path;
	o.wal = 1;
	o.sync_full = 0;
	o.busy_timeout_ms = busy_ms;
	assert_int_equal(msgr_commit_open(&o, &c), MSGR_OK);
	assert_non_null(c);
	return c;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	if (unit_tmp_make(&f->t, "commit") != 0) {
		free(f);
		return -1;
	}
	f->path = f->t.path;
	f->c = open_commit(f->path, 2000);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	msgr_commit_close(f->c);
	unit_rmdir_all(f->t.dir);
	free(f);
	return 0;
}

static long long
n_events(const struct fx *f)
{
	return unit_sqlite_count(f->path, "SELECT count(*) FROM events");
}

/* One request's rows: events with the given keys, optional quarantine rows. */
struct req {
	struct msgr_commit_batch b;
	struct msgr_store_event ev[MAX_EV];
	char keys[MAX_EV][32];
	char raws[MAX_EV][64];
	struct msgr_store_quarantine q;
	/* for the threads */
	struct msgr_commit *c;
	int entered;                  /* about to submit */
	int returned;                 /* submit returned */
};

static void
req_init(struct req *r, const char *const *keys, size_t n, int with_quarantine)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	assert_true(n <= MAX_EV);
	for (i = 0; i < n; i++) {
		snprintf(r->keys[i], sizeof(r->keys[i]), "%s", keys[i]);
		snprintf(r->raws[i], sizeof(r->raws[i]), "{\"k\":\"%s\"}", keys[i]);
		r->ev[i].connector_id = "conn";
		r->ev[i].page_id = "100";
		r->ev[i].user_id = "200";
		r->ev[i].timestamp = 1000 + (long long)i;
		r->ev[i].key = r->keys[i];
		r->ev[i].raw = r->raws[i];
	}
	r->b.ev = r->ev;
	r->b.n = n;
	if (with_quarantine) {
		r->q.connector_id = "conn";
		r->q.reason = "not JSON";
		r->q.raw = "garbage";
		r->q.raw_len = 7;
		r->b.q = &r->q;
		r->b.nq = 1;
	}
}

/* n unique keys "<prefix>-<i>". */
static void
req_unique(struct req *r, const char *prefix, size_t n)
{
	char buf[MAX_EV][32];
	const char *keys[MAX_EV];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(buf[i], sizeof(buf[i]), "%s-%zu", prefix, i);
		keys[i] = buf[i];
	}
	req_init(r, keys, n, 0);
}

static pthread_mutex_t flags_mu = PTHREAD_MUTEX_INITIALIZER;

static void
set_flag(int *flag)
{
	pthread_mutex_lock(&flags_mu);
	*flag = 1;
	pthread_mutex_unlock(&flags_mu);
}

static int
get_flag(const int *flag)
{
	int v;

	pthread_mutex_lock(&flags_mu);
	v = *flag;
	pthread_mutex_unlock(&flags_mu);
	return v;
}

static void *
submitter(void *arg)
{
	struct req *r = arg;

	set_flag(&r->entered);
	(void)msgr_commit_submit(r->c, &r->b);
	set_flag(&r->returned);
	return NULL;
}

/* Submits every request from its own thread while the store is borrowed, so they queue up
 * together; then gives the store back and waits for all. */
static void
submit_together(struct msgr_commit *c, struct req *rs, size_t n)
{
	pthread_t tid[N_THREADS];
	struct msgr_store *st;
	size_t i, entered, early;

	assert_true(n <= N_THREADS);
	st = msgr_commit_borrow(c);
	assert_non_null(st);
	for (i = 0; i < n; i++) {
		rs[i].c = c;
		rs[i].entered = rs[i].returned = 0;
		assert_int_equal(pthread_create(&tid[i], NULL, submitter, &rs[i]), 0);
	}
	do {
		sleep_ms(5);
		for (i = 0, entered = 0; i < n; i++)
			entered += (size_t)get_flag(&rs[i].entered);
	} while (entered < n);
	sleep_ms(QUEUE_MS);
	for (i = 0, early = 0; i < n; i++)
		early += (size_t)get_flag(&rs[i].returned);
	msgr_commit_giveback(c, 0);
	for (i = 0; i < n; i++)
		assert_int_equal(pthread_join(tid[i], NULL), 0);
	/* Nobody finished while the store was held: a commit never runs beside a borrow.
	 * (Checked once every thread is joined: a failed check must not leave one waiting.) */
	assert_int_equal(early, 0);
}

/* ---- the tests ---- */

static void
test_refusals(void **state)
{
	struct msgr_store_options o;
	struct msgr_commit *c = (struct msgr_commit *)1;
	struct msgr_commit_batch b;

	(void)state;
	memset(&o, 0, sizeof(o));
	assert_int_equal(msgr_commit_open(NULL, &c), MSGR_ERR_INVALID);
	assert_null(c);
	assert_int_equal(msgr_commit_open(&o, &c), MSGR_ERR_INVALID);   /* no path */
	assert_null(c);
	o.path = "/tmp/x.db";
	assert_int_equal(msgr_commit_open(&o, NULL), MSGR_ERR_INVALID);
	memset(&b, 0, sizeof(b));
	assert_int_equal(msgr_commit_submit(NULL, &b), MSGR_ERR_INVALID);
	assert_int_equal(msgr_commit_prepare(NULL), MSGR_ERR_INVALID);
	assert_null(msgr_commit_borrow(NULL));
	msgr_commit_giveback(NULL, 0);
	msgr_commit_close(NULL);
}

static void
test_empty_batch(void **state)
{
	struct fx *f = *state;
	struct req r;

	req_init(&r, NULL, 0, 0);
	r.b.group = 7;
	assert_int_equal(msgr_commit_submit(f->c, &r.b), MSGR_OK);
	assert_int_equal(r.b.rc, MSGR_OK);
	assert_int_equal(r.b.group, 0);            /* no transaction at all */
	assert_int_equal(r.b.n_new + r.b.n_dup, 0);
	assert_true(r.b.counts_exact);
}

static void
test_one_batch(void **state)
{
	static const char *const keys[] = { "a", "b", "c" };
	struct fx *f = *state;
	struct req r;

	req_init(&r, keys, 3, 1);
	assert_int_equal(msgr_commit_submit(f->c, &r.b), MSGR_OK);
	assert_int_equal(r.b.rc, MSGR_OK);
	assert_int_equal(r.b.group, 1);
	assert_int_equal(r.b.n_new, 3);
	assert_int_equal(r.b.n_dup, 0);
	assert_true(r.b.counts_exact);
	assert_false(r.b.unavailable);
	/* the same again: every event a duplicate, the quarantine row stored again */
	assert_int_equal(msgr_commit_submit(f->c, &r.b), MSGR_OK);
	assert_int_equal(r.b.n_new, 0);
	assert_int_equal(r.b.n_dup, 3);
	assert_true(r.b.counts_exact);
	assert_int_equal(n_events(f), 3);
	assert_int_equal(unit_sqlite_count(f->path, "SELECT count(*) FROM quarantine"), 2);
}

static void
test_group_shares_one_transaction(void **state)
{
	struct fx *f = *state;
	struct req rs[N_THREADS];
	char prefix[16];
	size_t i;

	for (i = 0; i < N_THREADS; i++) {
		snprintf(prefix, sizeof(prefix), "t%zu", i);
		req_unique(&rs[i], prefix, 5);
	}
	rs[3].b.q = &rs[3].q;                      /* one request brings a quarantine row too */
	rs[3].q.connector_id = "conn";
	rs[3].q.reason = "bad entry";
	rs[3].q.raw = "{}";
	rs[3].q.raw_len = 2;
	rs[3].b.nq = 1;
	submit_together(f->c, rs, N_THREADS);
	for (i = 0; i < N_THREADS; i++) {
		assert_int_equal(rs[i].b.rc, MSGR_OK);
		/* all queued behind the borrow: one leader took them all, one transaction */
		assert_int_equal(rs[i].b.group, N_THREADS);
		assert_true(rs[i].b.counts_exact);
		assert_int_equal(rs[i].b.n_new, 5);
		assert_int_equal(rs[i].b.n_dup, 0);
	}
	assert_int_equal(n_events(f), 5 * N_THREADS);
	assert_int_equal(unit_sqlite_count(f->path, "SELECT count(*) FROM quarantine"), 1);
}

/* Two requests carrying one event: stored once, and each request is told exactly which of
 * its events were new (the one queued first stores it). */
static void
test_group_duplicates_exact(void **state)
{
	static const char *const ka[] = { "same", "a1" }, *const kb[] = { "same", "b1", "b2" };
	static const char *const kc[] = { "c1" };
	struct fx *f = *state;
	struct req rs[3];
	size_t i, new_sum = 0, dup_sum = 0;

	req_init(&rs[0], ka, 2, 0);
	req_init(&rs[1], kb, 3, 0);
	req_init(&rs[2], kc, 1, 0);
	submit_together(f->c, rs, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(rs[i].b.rc, MSGR_OK);
		assert_int_equal(rs[i].b.group, 3);
		assert_true(rs[i].b.counts_exact);
		new_sum += rs[i].b.n_new;
		dup_sum += rs[i].b.n_dup;
	}
	assert_int_equal(rs[2].b.n_new, 1);
	assert_int_equal(rs[2].b.n_dup, 0);
	/* "same" is new in exactly one of the first two, a duplicate in the other */
	assert_int_equal(rs[0].b.n_dup + rs[1].b.n_dup, 1);
	assert_int_equal(rs[0].b.n_new + rs[1].b.n_new, 4);
	assert_int_equal(new_sum, 5);
	assert_int_equal(dup_sum, 1);
	assert_int_equal(n_events(f), 5);
}

/* An event already stored before the group began: the store counts one duplicate for the
 * whole transaction and cannot say whose, so each batch carries the group's totals. */
static void
test_group_counts_of_group(void **state)
{
	static const char *const old[] = { "old" };
	static const char *const ka[] = { "old", "a1" }, *const kb[] = { "b1" };
	struct fx *f = *state;
	struct req pre, rs[2];
	size_t i;

	req_init(&pre, old, 1, 0);
	assert_int_equal(msgr_commit_submit(f->c, &pre.b), MSGR_OK);
	req_init(&rs[0], ka, 2, 0);
	req_init(&rs[1], kb, 1, 0);
	submit_together(f->c, rs, 2);
	for (i = 0; i < 2; i++) {
		assert_int_equal(rs[i].b.rc, MSGR_OK);
		assert_int_equal(rs[i].b.group, 2);
		assert_false(rs[i].b.counts_exact);
		assert_int_equal(rs[i].b.n_new, 2);     /* a1, b1 */
		assert_int_equal(rs[i].b.n_dup, 1);     /* old */
	}
	assert_int_equal(n_events(f), 3);
}

/* The store is locked past its busy timeout: the whole group fails BUSY, nothing of it is
 * stored; once the lock is gone the same batches are stored, each event once. */
static void
test_busy_fails_whole_group(void **state)
{
	struct fx *f = *state;
	struct req rs[4];
	sqlite3 *other = NULL;
	char prefix[16];
	size_t i;

	msgr_commit_close(f->c);
	f->c = open_commit(f->path, 100);
	assert_int_equal(msgr_commit_prepare(f->c), MSGR_OK);   /* open before the lock */
	for (i = 0; i < 4; i++) {
		snprintf(prefix, sizeof(prefix), "r%zu", i);
		req_unique(&rs[i], prefix, 3);
	}
	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	submit_together(f->c, rs, 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(rs[i].b.rc, MSGR_ERR_BUSY);
		assert_int_equal(rs[i].b.group, 4);
		assert_false(rs[i].b.unavailable);
	}
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(n_events(f), 0);

	/* Facebook's retries: stored, each event once */
	submit_together(f->c, rs, 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(rs[i].b.rc, MSGR_OK);
		assert_int_equal(rs[i].b.n_new, 3);
		assert_true(rs[i].b.counts_exact);
	}
	assert_int_equal(n_events(f), 12);
}

/* A request queued behind a group that failed for the store's sake gets the same answer at
 * once (it already waited through one busy timeout), or fails in its own group: never
 * stored while the lock is held. */
static void
test_queued_behind_failure(void **state)
{
	struct fx *f = *state;
	struct req first, behind;
	pthread_t a, b;
	sqlite3 *other = NULL;

	msgr_commit_close(f->c);
	f->c = open_commit(f->path, 300);
	assert_int_equal(msgr_commit_prepare(f->c), MSGR_OK);
	req_unique(&first, "first", 2);
	req_unique(&behind, "behind", 2);
	first.c = behind.c = f->c;
	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(pthread_create(&a, NULL, submitter, &first), 0);
	sleep_ms(100);                             /* first leads and waits for the lock */
	assert_int_equal(pthread_create(&b, NULL, submitter, &behind), 0);
	assert_int_equal(pthread_join(a, NULL), 0);
	assert_int_equal(pthread_join(b, NULL), 0);
	assert_int_equal(first.b.rc, MSGR_ERR_BUSY);
	assert_int_equal(behind.b.rc, MSGR_ERR_BUSY);
	assert_true(behind.b.group == 0 || behind.b.group == 1);
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(n_events(f), 0);
}

/* A fault of one request's own rows (an id longer than the store keeps) fails that request
 * alone: the others of its group are stored, each in its own transaction. */
static void
test_one_bad_batch_fails_alone(void **state)
{
	static char long_user[300];
	struct fx *f = *state;
	struct req rs[3];
	size_t i;

	memset(long_user, '9', sizeof(long_user) - 1);
	req_unique(&rs[0], "ok0", 2);
	req_unique(&rs[1], "bad", 2);
	req_unique(&rs[2], "ok2", 2);
	rs[1].ev[1].user_id = long_user;
	submit_together(f->c, rs, 3);
	assert_int_equal(rs[1].b.rc, MSGR_ERR_TOOBIG);
	assert_int_equal(rs[1].b.group, 1);
	for (i = 0; i < 3; i += 2) {
		assert_int_equal(rs[i].b.rc, MSGR_OK);
		assert_int_equal(rs[i].b.group, 1);
		assert_int_equal(rs[i].b.n_new, 2);
		assert_true(rs[i].b.counts_exact);
	}
	assert_int_equal(n_events(f), 4);
	assert_int_equal(unit_sqlite_count(f->path, "SELECT count(*) FROM events WHERE key LIKE 'bad-%'"),
	    0);
}

/* A store that cannot be opened: every request is told so (503), and the next one tries to
 * open it again. */
static void
test_store_unavailable(void **state)
{
	struct fx *f = *state;
	struct msgr_commit *c;
	struct req r;
	char path[160];

	snprintf(path, sizeof(path), "%s/missing/state.db", f->t.dir);
	c = open_commit(path, 100);
	assert_int_not_equal(msgr_commit_prepare(c), MSGR_OK);
	assert_null(msgr_commit_borrow(c));
	req_unique(&r, "u", 1);
	assert_int_equal(msgr_commit_submit(c, &r.b), MSGR_ERR_STORE);
	assert_true(r.b.unavailable);
	assert_int_equal(r.b.group, 1);
	/* the folder appears: the next request opens the store and is stored */
	snprintf(path, sizeof(path), "%s/missing", f->t.dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(msgr_commit_submit(c, &r.b), MSGR_OK);
	assert_false(r.b.unavailable);
	assert_int_equal(r.b.n_new, 1);
	msgr_commit_close(c);
	snprintf(path, sizeof(path), "%s/missing/state.db", f->t.dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/missing/state.db-wal", f->t.dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/missing/state.db-shm", f->t.dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/missing/state.db-claims", f->t.dir);   /* lib/holder.h */
	unlink(path);
	snprintf(path, sizeof(path), "%s/missing", f->t.dir);
	assert_int_equal(rmdir(path), 0);
}

/* A borrower that hit a store failure gives the handle back as failed: it is closed and the
 * next commit opens it again. */
static void
test_giveback_failed_reopens(void **state)
{
	struct fx *f = *state;
	struct msgr_store *st;
	struct req r;

	st = msgr_commit_borrow(f->c);
	assert_non_null(st);
	msgr_commit_giveback(f->c, 1);
	req_unique(&r, "after", 2);
	assert_int_equal(msgr_commit_submit(f->c, &r.b), MSGR_OK);
	assert_int_equal(r.b.n_new, 2);
	/* a borrow after that is a working handle */
	st = msgr_commit_borrow(f->c);
	assert_non_null(st);
	msgr_commit_giveback(f->c, 0);
	assert_int_equal(n_events(f), 2);
}

/* Makes the state file unwritable (on) or writable again: the immutable flag for root, whom a
 * mode does not bind (tests/integration/test_store_faults.py breaks a store the same way), a
 * mode for anyone else. */
static void
set_unwritable(const char *path, int on)
{
	int fd, flags = 0;

	if (geteuid() != 0) {
		assert_int_equal(chmod(path, on ? 0400 : 0600), 0);
		return;
	}
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(ioctl(fd, FS_IOC_GETFLAGS, &flags), 0);
	flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
	assert_int_equal(ioctl(fd, FS_IOC_SETFLAGS, &flags), 0);
	close(fd);
}

/* A state file that cannot be written: SQLite would open it read-only without a word. The
 * store refuses that handle, so nothing that opens the store during the fault (a borrower:
 * the host committer's inbox move) keeps one that would fail the first write after it. */
static void
test_read_only_file_not_kept(void **state)
{
	struct fx *f = *state;
	struct msgr_store *st;
	struct req r;
	msgr_result prepared, submitted;

	req_unique(&r, "before", 1);
	assert_int_equal(msgr_commit_submit(f->c, &r.b), MSGR_OK);
	msgr_commit_close(f->c);           /* the last handle: the WAL goes into the file */
	f->c = open_commit(f->path, 100);
	req_unique(&r, "during", 1);
	/* Results kept until the flag is off again: a failed assert must not leave the file
	 * immutable under /tmp. */
	set_unwritable(f->path, 1);
	st = msgr_commit_borrow(f->c);
	if (st != NULL)
		msgr_commit_giveback(f->c, 0);
	prepared = msgr_commit_prepare(f->c);
	submitted = msgr_commit_submit(f->c, &r.b);
	set_unwritable(f->path, 0);
	assert_null(st);
	assert_int_not_equal(prepared, MSGR_OK);
	assert_int_equal(submitted, MSGR_ERR_STORE);
	assert_true(r.b.unavailable);
	/* the fault is gone: the very next request is stored */
	assert_int_equal(msgr_commit_submit(f->c, &r.b), MSGR_OK);
	assert_int_equal(r.b.n_new, 1);
	assert_int_equal(n_events(f), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test_setup_teardown(test_empty_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_shares_one_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_duplicates_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_counts_of_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_fails_whole_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queued_behind_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_bad_batch_fails_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_unavailable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_giveback_failed_reopens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_file_not_kept, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
