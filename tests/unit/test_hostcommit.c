/* Unit tests: one committer per host (lib/hostcommit.h).
 *
 * The wire: groups and answers go through encode and decode unchanged; every truncation,
 * trailing byte, unterminated string or impossible count is refused before anything is
 * allocated for it. The live part stands for processes with handles of their own in one
 * process: each handle opens the lock file on its own, so two handles contend for it as two
 * processes would (flock locks belong to the open file). The first handle to relay becomes
 * the committer; the others connect to it; their rows land once, in shared transactions;
 * when the committer goes, the next handle that relays takes over; a client that wants more
 * durability than the committer gives is refused and stores alone. */
#include "unit.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "unit_sqlite.h"

#include "clock.h"
#include "commit.h"
#include "hostcommit.h"
#include "store.h"

/* ---- the wire ---- */

struct rows {
	struct msgr_commit_batch b[3];
	struct msgr_store_event ev[4];
	struct msgr_store_quarantine q[2];
};

static void
rows_init(struct rows *r)
{
	static const char bin[] = { 'a', '\0', 'b' };

	memset(r, 0, sizeof(*r));
	r->ev[0] = (struct msgr_store_event){ "conn", "100", "200", 1, 0, 1700000000000LL,
	    "k1", "{\"a\":1}" };
	r->ev[1] = (struct msgr_store_event){ "conn", "100", "", 3, 1, 0, "k2", "{}" };
	r->ev[2] = (struct msgr_store_event){ "other", "101", "201", 2, 0, -5, "k3",
	    "{\"t\":\"\\u00e9\"}" };
	r->ev[3] = (struct msgr_store_event){ "conn", "100", "202", 1, 0, 42, "k4", "[]" };
	r->q[0] = (struct msgr_store_quarantine){ "conn", "not JSON", bin, sizeof(bin) };
	r->q[1] = (struct msgr_store_quarantine){ "conn", "empty", NULL, 0 };
	r->b[0].ev = &r->ev[0];
	r->b[0].n = 2;
	r->b[0].q = &r->q[0];
	r->b[0].nq = 1;
	r->b[1].n = 0;                 /* an empty batch rides along */
	r->b[2].ev = &r->ev[2];
	r->b[2].n = 2;
	r->b[2].q = &r->q[1];
	r->b[2].nq = 1;
	r->b[0].next = &r->b[1];
	r->b[1].next = &r->b[2];
}

static void
same_event(const struct msgr_store_event *a, const struct msgr_store_event *b)
{
	assert_string_equal(a->connector_id, b->connector_id);
	assert_string_equal(a->page_id, b->page_id);
	assert_string_equal(a->user_id, b->user_id);
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->standby, b->standby);
	assert_true(a->timestamp == b->timestamp);
	assert_string_equal(a->key, b->key);
	assert_string_equal(a->raw, b->raw);
}

static void
test_group_roundtrip(void **state)
{
	struct rows r;
	struct msgr_buf out;
	struct msgr_hostcommit_group g;

	(void)state;
	rows_init(&r);
	msgr_buf_init(&out, 1 << 20);
	assert_int_equal(msgr_hostcommit_encode_group(r.b, 3, &out), MSGR_OK);
	assert_int_equal(msgr_hostcommit_decode_group((const unsigned char *)out.data, out.len, &g),
	    MSGR_OK);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.b[0].n, 2);
	assert_int_equal(g.b[0].nq, 1);
	assert_int_equal(g.b[1].n, 0);
	assert_int_equal(g.b[1].nq, 0);
	assert_int_equal(g.b[2].n, 2);
	assert_ptr_equal(g.b[0].next, &g.b[1]);
	assert_ptr_equal(g.b[1].next, &g.b[2]);
	assert_null(g.b[2].next);
	same_event(&g.b[0].ev[0], &r.ev[0]);
	same_event(&g.b[0].ev[1], &r.ev[1]);
	same_event(&g.b[2].ev[0], &r.ev[2]);
	same_event(&g.b[2].ev[1], &r.ev[3]);
	/* a quarantined body is bytes: a NUL inside survives */
	assert_int_equal(g.b[0].q[0].raw_len, 3);
	assert_memory_equal(g.b[0].q[0].raw, "a\0b", 3);
	assert_string_equal(g.b[0].q[0].reason, "not JSON");
	assert_int_equal(g.b[2].q[0].raw_len, 0);
	msgr_hostcommit_group_free(&g);
	msgr_buf_free(&out);
}

static void
test_group_refusals(void **state)
{
	struct rows r;
	struct msgr_buf out;
	struct msgr_hostcommit_group g;
	unsigned char *copy;
	size_t i;

	(void)state;
	rows_init(&r);
	msgr_buf_init(&out, 1 << 20);
	assert_int_equal(msgr_hostcommit_encode_group(r.b, 3, &out), MSGR_OK);
	/* every truncation is refused, and leaves g empty */
	for (i = 0; i < out.len; i++) {
		copy = malloc(i + 1);
		assert_non_null(copy);
		memcpy(copy, out.data, i);
		assert_int_equal(msgr_hostcommit_decode_group(copy, i, &g), MSGR_ERR_PARSE);
		assert_null(g.b);
		assert_int_equal(g.n, 0);
		free(copy);
	}
	/* a trailing byte */
	copy = malloc(out.len + 1);
	assert_non_null(copy);
	memcpy(copy, out.data, out.len);
	copy[out.len] = 0;
	assert_int_equal(msgr_hostcommit_decode_group(copy, out.len + 1, &g), MSGR_ERR_PARSE);
	/* a string's terminating NUL replaced: offset of the first event's connector_id is
	 * 4 (type) + 4 (n) + 8 (n, nq) + 4 (length) + 4 ("conn") */
	memcpy(copy, out.data, out.len);
	assert_int_equal(copy[24], 0);
	copy[24] = 'x';
	assert_int_equal(msgr_hostcommit_decode_group(copy, out.len, &g), MSGR_ERR_PARSE);
	/* a NUL inside a text field */
	memcpy(copy, out.data, out.len);
	copy[21] = 0;
	assert_int_equal(msgr_hostcommit_decode_group(copy, out.len, &g), MSGR_ERR_PARSE);
	/* a standby flag other than 0 or 1 (found by fuzz_hostcommit: it decoded as 1 and so
	 * encoded back to other bytes): 4 + 4 + 8, then "conn", "100" and "200" (9 + 8 + 8
	 * bytes) and the kind (4) */
	memcpy(copy, out.data, out.len);
	assert_int_equal(copy[45], 0);
	copy[45] = 0x11;
	assert_int_equal(msgr_hostcommit_decode_group(copy, out.len, &g), MSGR_ERR_PARSE);
	assert_null(g.b);
	copy[45] = 1;
	assert_int_equal(msgr_hostcommit_decode_group(copy, out.len, &g), MSGR_OK);
	assert_true(g.b[0].ev[0].standby);
	msgr_hostcommit_group_free(&g);
	/* a count no message could hold is refused before any allocation */
	memcpy(copy, out.data, out.len);
	copy[8] = copy[9] = copy[10] = copy[11] = 0xff;
	assert_int_equal(msgr_hostcommit_decode_group(copy, out.len, &g), MSGR_ERR_PARSE);
	/* more batches than a committer takes */
	memcpy(copy, out.data, out.len);
	copy[4] = copy[5] = copy[6] = copy[7] = 0xff;
	assert_int_equal(msgr_hostcommit_decode_group(copy, out.len, &g), MSGR_ERR_TOOBIG);
	/* zero batches, and the wrong type */
	memcpy(copy, out.data, out.len);
	copy[4] = copy[5] = copy[6] = copy[7] = 0;
	assert_int_equal(msgr_hostcommit_decode_group(copy, out.len, &g), MSGR_ERR_PARSE);
	memcpy(copy, out.data, out.len);
	copy[0] = 9;
	assert_int_equal(msgr_hostcommit_decode_group(copy, out.len, &g), MSGR_ERR_PARSE);
	free(copy);
	/* a row with a NULL field cannot be sent */
	r.ev[0].key = NULL;
	msgr_buf_reset(&out);
	assert_int_equal(msgr_hostcommit_encode_group(r.b, 3, &out), MSGR_ERR_INVALID);
	msgr_buf_free(&out);
}

static void
test_answer_roundtrip(void **state)
{
	struct msgr_commit_batch a[2], b[2];
	struct msgr_buf out;

	(void)state;
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	a[0].next = &a[1];
	b[0].next = &b[1];
	a[0].rc = MSGR_OK;
	a[0].group = 5;
	a[0].n_new = 2;
	a[0].n_dup = 1;
	a[0].counts_exact = 1;
	a[1].rc = MSGR_ERR_BUSY;
	a[1].unavailable = 1;
	a[1].group = 5;
	msgr_buf_init(&out, 4096);
	assert_int_equal(msgr_hostcommit_encode_answer(a, 2, &out), MSGR_OK);
	assert_int_equal(msgr_hostcommit_decode_answer((const unsigned char *)out.data, out.len,
	    b, 2), MSGR_OK);
	assert_int_equal(b[0].rc, MSGR_OK);
	assert_int_equal(b[0].group, 5);
	assert_int_equal(b[0].n_new, 2);
	assert_int_equal(b[0].n_dup, 1);
	assert_int_equal(b[0].counts_exact, 1);
	assert_int_equal(b[0].unavailable, 0);
	assert_int_equal(b[1].rc, MSGR_ERR_BUSY);
	assert_int_equal(b[1].unavailable, 1);
	assert_int_equal(b[1].counts_exact, 0);
	/* an answer for another number of batches, or cut short */
	assert_int_equal(msgr_hostcommit_decode_answer((const unsigned char *)out.data, out.len,
	    b, 1), MSGR_ERR_PARSE);
	assert_int_equal(msgr_hostcommit_decode_answer((const unsigned char *)out.data,
	    out.len - 1, b, 2), MSGR_ERR_PARSE);
	/* a result code out of range */
	out.data[8] = 0x7f;
	assert_int_equal(msgr_hostcommit_decode_answer((const unsigned char *)out.data, out.len,
	    b, 2), MSGR_ERR_PARSE);
	msgr_buf_free(&out);
}

/* ---- the gather ---- */

/* Waited for: a request thread of a pool (threaded) seen sending within
 * MSGR_HOSTCOMMIT_ACTIVE_US whose next group is not in yet. Not: the only connection of its
 * process, one never seen, one quiet for longer. */
static void
test_gather_awaits(void **state)
{
	long long now = 10LL * 1000 * 1000;

	(void)state;
	assert_int_equal(msgr_hostcommit_awaited(now - 100, 1, now), 1);
	assert_int_equal(msgr_hostcommit_awaited(now - MSGR_HOSTCOMMIT_ACTIVE_US + 1, 1, now), 1);
	assert_int_equal(msgr_hostcommit_awaited(now - 100, 0, now), 0);
	assert_int_equal(msgr_hostcommit_awaited(0, 1, now), 0);
	assert_int_equal(msgr_hostcommit_awaited(now - MSGR_HOSTCOMMIT_ACTIVE_US, 1, now), 0);
	assert_int_equal(msgr_hostcommit_awaited(now - 60LL * 1000 * 1000, 1, now), 0);
	/* The wait is shorter than the quiet that ends it: a client is never awaited for a
	 * whole window after its last group. */
	assert_true(MSGR_HOSTCOMMIT_GATHER_US < MSGR_HOSTCOMMIT_ACTIVE_US);
}

/* The gather ends once as many groups are in as the last transaction held (4 in flight over
 * 16 threads: not the whole wait for the 12 idle ones), and never holds back a load that
 * grows. */
static void
test_gather_stops_at_last_size(void **state)
{
	(void)state;
	assert_int_equal(msgr_hostcommit_gather_more(1, 12, 4, 500), 1);
	assert_int_equal(msgr_hostcommit_gather_more(3, 12, 4, 500), 1);
	assert_int_equal(msgr_hostcommit_gather_more(4, 12, 4, 500), 0);
	assert_int_equal(msgr_hostcommit_gather_more(9, 7, 4, 500), 0);
	/* The other ends, as before: nothing in, nobody awaited, no time left. */
	assert_int_equal(msgr_hostcommit_gather_more(0, 12, 4, 500), 0);
	assert_int_equal(msgr_hostcommit_gather_more(3, 0, 4, 500), 0);
	assert_int_equal(msgr_hostcommit_gather_more(3, 12, 4, 0), 0);
	/* Before any transaction (last 0) nothing is waited for. */
	assert_int_equal(msgr_hostcommit_gather_more(1, 12, 0, 500), 0);
	assert_int_equal(msgr_hostcommit_gather_more(15, 1, 16, 500), 1);
}

/* ---- live ---- */

static int
setup(void **state)
{
	struct unit_tmp *f = calloc(1, sizeof(*f));

	if (f == NULL || unit_tmp_make(f, "hostc") != 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct unit_tmp *f = *state;

	unit_rmdir_all(f->dir);
	free(f);
	return 0;
}

/* A "process": its queue and its host committer handle. */
/* What the committer acknowledged: the events it has moved into the queue and those still in
 * its inbox (docs/store.md "Inbox"). */
#define ACKED "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM inbox)"

struct proc {
	struct msgr_store_options o;
	struct msgr_commit *c;
	struct msgr_hostcommit *h;
};

static void
proc_open_timeout(struct proc *p, const char *path, int sync_full, int may_serve, int timeout_ms)
{
	struct msgr_hostcommit_options ho;

	memset(p, 0, sizeof(*p));
	p->o.path = path;
	p->o.wal = 1;
	p->o.sync_full = sync_full;
	p->o.busy_timeout_ms = 2000;
	assert_int_equal(msgr_commit_open(&p->o, &p->c), MSGR_OK);
	memset(&ho, 0, sizeof(ho));
	ho.store = &p->o;
	ho.may_serve = may_serve;
	ho.timeout_ms = timeout_ms;
	assert_int_equal(msgr_hostcommit_open(&ho, &p->h), MSGR_OK);
	msgr_commit_set_relay(p->c, msgr_hostcommit_relay, p->h);
}

static void
proc_open(struct proc *p, const char *path, int sync_full, int may_serve)
{
	proc_open_timeout(p, path, sync_full, may_serve, 4000);
}

static void
proc_close(struct proc *p)
{
	msgr_hostcommit_close(p->h);
	msgr_commit_close(p->c);
}

/* Submits one event with key KEY through p; returns the batch's rc and group. */
static msgr_result
submit_key(struct proc *p, const char *key, size_t *group, size_t *n_new)
{
	struct msgr_store_event ev = { "conn", "100", "200", 1, 0, 1000, key, "{}" };
	struct msgr_commit_batch b;
	msgr_result rc;

	memset(&b, 0, sizeof(b));
	b.ev = &ev;
	b.n = 1;
	rc = msgr_commit_submit(p->c, &b);
	if (group != NULL)
		*group = b.group;
	if (n_new != NULL)
		*n_new = b.n_new;
	return rc;
}

static void
test_refusals(void **state)
{
	struct msgr_store_options o;
	struct msgr_hostcommit_options ho;
	struct msgr_hostcommit *h = (struct msgr_hostcommit *)&o;
	char longpath[200];

	(void)state;
	memset(&o, 0, sizeof(o));
	memset(&ho, 0, sizeof(ho));
	assert_int_equal(msgr_hostcommit_open(&ho, &h), MSGR_ERR_INVALID);
	assert_null(h);
	ho.store = &o;
	assert_int_equal(msgr_hostcommit_open(&ho, &h), MSGR_ERR_INVALID);
	o.path = "x.db";
	o.backend = "postgresql";
	assert_int_equal(msgr_hostcommit_open(&ho, &h), MSGR_ERR_INVALID);
	o.backend = NULL;
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	o.path = longpath;
	assert_int_equal(msgr_hostcommit_open(&ho, &h), MSGR_ERR_TOOBIG);
	assert_null(h);
	msgr_hostcommit_close(NULL);
	assert_int_equal(msgr_hostcommit_serving(NULL), 0);
}

static void
test_one_committer_for_all(void **state)
{
	struct unit_tmp *f = *state;
	struct proc a, b;
	struct stat sb;
	char sock[200];
	size_t g = 0, n = 0;

	proc_open(&a, f->path, 1, 1);
	proc_open(&b, f->path, 1, 1);
	assert_int_equal(submit_key(&a, "a1", &g, &n), MSGR_OK);
	assert_int_equal(n, 1);
	assert_true(msgr_hostcommit_serving(a.h));
	/* the socket is private to its owner */
	snprintf(sock, sizeof(sock), "%s-host.sock", f->path);
	assert_int_equal(stat(sock, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* b finds a committer and does not become one */
	assert_int_equal(submit_key(&b, "b1", &g, &n), MSGR_OK);
	assert_int_equal(n, 1);
	assert_false(msgr_hostcommit_serving(b.h));
	/* the same event through the other one is a duplicate */
	assert_int_equal(submit_key(&b, "a1", &g, &n), MSGR_OK);
	assert_int_equal(n, 0);
	assert_int_equal(unit_sqlite_count(f->path, ACKED), 2);
	/* the committer goes: b's next call breaks or finds nobody, and b takes over */
	proc_close(&a);
	assert_int_equal(stat(sock, &sb), -1);
	assert_int_equal(submit_key(&b, "b2", &g, &n), MSGR_OK);
	assert_int_equal(n, 1);
	assert_true(msgr_hostcommit_serving(b.h));
	assert_int_equal(stat(sock, &sb), 0);
	proc_close(&b);
	assert_int_equal(unit_sqlite_count(f->path, ACKED), 3);
}

static void
test_weaker_committer_refused(void **state)
{
	struct unit_tmp *f = *state;
	struct proc weak, strong, alone;
	size_t n = 0;

	/* a committer with sync = "normal" */
	proc_open(&weak, f->path, 0, 1);
	assert_int_equal(submit_key(&weak, "w1", NULL, &n), MSGR_OK);
	assert_true(msgr_hostcommit_serving(weak.h));
	/* a client that wants "full" is refused: the relay says so, and its queue stores alone */
	proc_open(&strong, f->path, 1, 1);
	{
		struct msgr_store_event ev = { "conn", "100", "200", 1, 0, 1000, "s0", "{}" };
		struct msgr_commit_batch b;

		memset(&b, 0, sizeof(b));
		b.ev = &ev;
		b.n = 1;
		assert_int_equal(msgr_hostcommit_relay(strong.h, &b, 1), MSGR_ERR_IO);
	}
	assert_int_equal(submit_key(&strong, "s1", NULL, &n), MSGR_OK);
	assert_int_equal(n, 1);
	assert_false(msgr_hostcommit_serving(strong.h));
	/* one that may not serve and wants no more than "normal" is served */
	proc_open(&alone, f->path, 0, 0);
	assert_int_equal(submit_key(&alone, "n1", NULL, &n), MSGR_OK);
	assert_int_equal(n, 1);
	proc_close(&alone);
	proc_close(&strong);
	proc_close(&weak);
	assert_int_equal(unit_sqlite_count(f->path, "SELECT count(*) FROM events"), 3);
}

static void
test_nobody_to_serve(void **state)
{
	struct unit_tmp *f = *state;
	struct proc p;
	size_t n = 0, g = 9;

	/* a plain CGI process finds no committer and may not become one: it stores alone */
	proc_open(&p, f->path, 1, 0);
	assert_int_equal(submit_key(&p, "c1", &g, &n), MSGR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(g, 1);
	assert_false(msgr_hostcommit_serving(p.h));
	proc_close(&p);
	assert_int_equal(unit_sqlite_count(f->path, "SELECT count(*) FROM events"), 1);
}

#define PROCS 4
#define PER 40

struct worker {
	struct proc *p;
	int index;
	size_t max_group;
	int failures;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	char key[32];
	size_t g, n;
	int i;

	for (i = 0; i < PER; i++) {
		snprintf(key, sizeof(key), "p%d-%d", w->index, i);
		if (submit_key(w->p, key, &g, &n) != MSGR_OK || n != 1)
			w->failures++;
		if (g > w->max_group)
			w->max_group = g;
	}
	return NULL;
}

struct one_submit {
	struct proc *p;
	char key[32];
	size_t group;
	msgr_result rc;
};

static void *
submit_one(void *arg)
{
	struct one_submit *o = arg;

	o->rc = submit_key(o->p, o->key, &o->group, NULL);
	return NULL;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void
test_concurrent_processes_share(void **state)
{
	struct unit_tmp *f = *state;
	struct proc p[PROCS];
	struct worker w[PROCS];
	pthread_t t[PROCS];
	size_t max_group = 0;
	int i, serving = 0, attempt;

	for (i = 0; i < PROCS; i++)
		proc_open(&p[i], f->path, 1, 1);
	for (i = 0; i < PROCS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].p = &p[i];
		w[i].index = i;
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (i = 0; i < PROCS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
		if (w[i].max_group > max_group)
			max_group = w[i].max_group;
		serving += msgr_hostcommit_serving(p[i].h);
	}
	assert_int_equal(serving, 1);
	assert_true(max_group <= PROCS);
	/* Overlap made certain: while another writer holds the lock, the committer's transaction
	 * waits and the other "processes" queue up behind it; once the lock goes, they share the
	 * next transaction. A machine loaded enough to start the threads later than the hold
	 * gets another try (three at most). */
	for (attempt = 0; attempt < 3; attempt++) {
		sqlite3 *db = NULL;
		struct one_submit os[PROCS];

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		sqlite3_busy_timeout(db, 2000);
		assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
		for (i = 0; i < PROCS; i++) {
			os[i].p = &p[i];
			snprintf(os[i].key, sizeof(os[i].key), "locked-%d-%d", attempt, i);
			os[i].group = 0;
			os[i].rc = MSGR_ERR_INVALID;
			assert_int_equal(pthread_create(&t[i], NULL, submit_one, &os[i]), 0);
		}
		/* Under the committer's busy timeout (2000 ms): the held group waits, not fails. */
		sleep_ms(1000);
		assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		max_group = 0;
		for (i = 0; i < PROCS; i++) {
			pthread_join(t[i], NULL);
			assert_int_equal(os[i].rc, MSGR_OK);
			if (os[i].group > max_group)
				max_group = os[i].group;
		}
		assert_true(max_group <= PROCS);
		if (max_group >= 2)
			break;
	}
	assert_true(max_group >= 2);
	for (i = 0; i < PROCS; i++)
		proc_close(&p[i]);
	assert_int_equal(unit_sqlite_count(f->path, "SELECT count(*) FROM events"),
	    PROCS * PER + PROCS * (attempt < 3 ? attempt + 1 : 3));
}

/* Open sockets of this test process: the committer's listener, and both ends of each
 * connection between a client and the committer (they are all in this one process). */
static int
count_sockets(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[300], target[64];
	ssize_t n;
	int count = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		if ((n = readlink(path, target, sizeof(target) - 1)) <= 0)
			continue;
		target[n] = '\0';
		count += strncmp(target, "socket:", 7) == 0;
	}
	closedir(d);
	return count;
}

#define THREADS 8

/* The request threads of one process each hand their batch to the committer on a connection
 * of their own, at once: none waits behind another thread's round trip, and the committer
 * stores what they sent meanwhile in one transaction. While another writer holds the lock,
 * every thread's batch is in flight together. */
static void
test_threads_relay_side_by_side(void **state)
{
	struct unit_tmp *f = *state;
	struct proc p;
	struct one_submit os[THREADS];
	pthread_t t[THREADS];
	sqlite3 *db = NULL;
	size_t max_group = 0;
	int i, before;

	proc_open(&p, f->path, 1, 1);
	assert_int_equal(submit_key(&p, "first", NULL, NULL), MSGR_OK);
	assert_true(msgr_hostcommit_serving(p.h));
	before = count_sockets();
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	for (i = 0; i < THREADS; i++) {
		os[i].p = &p;
		snprintf(os[i].key, sizeof(os[i].key), "t%d", i);
		os[i].group = 0;
		os[i].rc = MSGR_ERR_INVALID;
		assert_int_equal(pthread_create(&t[i], NULL, submit_one, &os[i]), 0);
	}
	/* Under the committer's busy timeout (2000 ms): the held group waits, not fails. */
	sleep_ms(800);
	/* One connection was open before; each of the other threads opened one of its own
	 * (the committer, busy with the held group, accepts them after it). */
	assert_true(count_sockets() >= before + THREADS - 1);
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(os[i].rc, MSGR_OK);
		if (os[i].group > max_group)
			max_group = os[i].group;
	}
	assert_true(max_group >= 2);
	assert_true(max_group <= THREADS);
	proc_close(&p);
	assert_int_equal(unit_sqlite_count(f->path, ACKED), THREADS + 1);
}

/* ---- the client's read of an answer (msgr_hostcommit_recv), over a socketpair ---- */

/* What the peer side of the pair writes, in pieces, from a thread of its own. */
struct feed {
	int fd;
	const unsigned char *p;
	size_t len;
	size_t piece;      /* bytes per write */
	long pause_ms;     /* before each write */
	int close_after;   /* shut the connection once written */
};

static void *
feed_run(void *arg)
{
	struct feed *f = arg;
	struct timespec ts = { f->pause_ms / 1000, (f->pause_ms % 1000) * 1000000L };
	size_t off = 0, n;

	while (off < f->len) {
		nanosleep(&ts, NULL);
		n = f->len - off < f->piece ? f->len - off : f->piece;
		if (write(f->fd, f->p + off, n) != (ssize_t)n)
			break;
		off += n;
	}
	if (f->close_after)
		shutdown(f->fd, SHUT_WR);
	return NULL;
}

/* Reads one answer from what feed writes: msgr_hostcommit_recv's result, b holding the body.
 * timed: as the client reads, the socket's receive timeout set to the wait. */
static int recv_timed;

static int
recv_fed(const unsigned char *msg, size_t len, size_t piece, long pause_ms, int close_after,
    long long wait_ms, struct msgr_buf *b)
{
	struct timeval tv = { (time_t)(wait_ms / 1000), (suseconds_t)(wait_ms % 1000) * 1000 };
	int sv[2], rc;
	pthread_t t;
	struct feed f;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if (recv_timed)
		assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	f = (struct feed){ sv[1], msg, len, piece, pause_ms, close_after };
	assert_int_equal(pthread_create(&t, NULL, feed_run, &f), 0);
	rc = msgr_hostcommit_recv(sv[0], b, msgr_clock_mono_ms() + wait_ms, recv_timed);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	return rc;
}

static void
client_read(void)
{
	static const unsigned char ok[] = { 5, 0, 0, 0, 'h', 'e', 'l', 'l', 'o' };
	static const unsigned char past[] = { 2, 0, 0, 0, 'h', 'i', 'X' };
	static const unsigned char empty[] = { 0, 0, 0, 0 };
	static const unsigned char huge[] = { 0, 0, 0, 0x7f, 'x' };
	unsigned char big[4 + 10000];
	struct msgr_buf b;
	size_t i;

	msgr_buf_init(&b, 1u << 20);
	/* at once, a byte at a time (the length split over four reads), or late */
	assert_int_equal(recv_fed(ok, sizeof(ok), sizeof(ok), 0, 0, 2000, &b), 0);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "hello", 5);
	assert_int_equal(recv_fed(ok, sizeof(ok), 1, 2, 0, 2000, &b), 0);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "hello", 5);
	assert_int_equal(recv_fed(ok, sizeof(ok), sizeof(ok), 50, 0, 2000, &b), 0);
	assert_memory_equal(b.data, "hello", 5);
	/* a body longer than one read, in uneven pieces */
	big[0] = 10000 & 0xff;
	big[1] = 10000 >> 8;
	big[2] = big[3] = 0;
	for (i = 4; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7);
	assert_int_equal(recv_fed(big, sizeof(big), 3001, 1, 0, 2000, &b), 0);
	assert_int_equal(b.len, 10000);
	assert_memory_equal(b.data, big + 4, 10000);
	/* an empty body */
	assert_int_equal(recv_fed(empty, sizeof(empty), 4, 0, 0, 2000, &b), 0);
	assert_int_equal(b.len, 0);
	/* a byte past the answer, a length over the bound, a close mid-message: broken */
	assert_int_equal(recv_fed(past, sizeof(past), sizeof(past), 0, 0, 2000, &b), -1);
	assert_int_equal(recv_fed(huge, sizeof(huge), sizeof(huge), 0, 0, 2000, &b), -1);
	assert_int_equal(recv_fed(ok, 6, 6, 0, 1, 2000, &b), -1);
	assert_int_equal(recv_fed(ok, 0, 1, 0, 1, 2000, &b), -1);
	/* nothing within the deadline: -2, not a broken connection */
	assert_int_equal(recv_fed(ok, 0, 1, 0, 0, 100, &b), -2);
	assert_int_equal(recv_fed(ok, 6, 6, 0, 0, 100, &b), -2);
	msgr_buf_free(&b);
}

static void
test_client_read(void **state)
{
	(void)state;
	recv_timed = 0;
	client_read();
}

/* The same on a socket with a receive timeout, as the client reads: the first wait in recv. */
static void
test_client_read_timed(void **state)
{
	long long t0;
	struct msgr_buf b;

	(void)state;
	recv_timed = 1;
	client_read();
	/* the timeout's end is the deadline's: -2 at about the wait, not later */
	msgr_buf_init(&b, 1024);
	t0 = msgr_clock_mono_ms();
	assert_int_equal(recv_fed((const unsigned char *)"", 0, 1, 0, 0, 300, &b), -2);
	assert_true(msgr_clock_mono_ms() - t0 >= 290);
	assert_true(msgr_clock_mono_ms() - t0 < 3000);
	msgr_buf_free(&b);
	recv_timed = 0;
}

/* The relay in two halves: several groups in flight from one thread, each on a connection
 * of its own, their answers read in any order. */
static void
test_send_then_receive(void **state)
{
	struct unit_tmp *f = *state;
	struct msgr_store_event ev[3] = {
		{ "conn", "100", "200", 1, 0, 1000, "s0", "{}" },
		{ "conn", "100", "200", 1, 0, 1000, "s1", "{}" },
		{ "conn", "100", "200", 1, 0, 1000, "s2", "{}" } };
	struct msgr_commit_batch b[3];
	struct msgr_hostcommit_call *call[3];
	struct proc p;
	long long now;
	int i;

	proc_open(&p, f->path, 1, 1);
	assert_int_equal(msgr_hostcommit_send(p.h, &b[0], 1, NULL), MSGR_ERR_IO);
	assert_int_equal(msgr_hostcommit_send(NULL, &b[0], 1, &call[0]), MSGR_ERR_IO);
	assert_null(call[0]);
	assert_int_equal(msgr_hostcommit_call_fd(NULL), -1);
	now = msgr_clock_mono_ms();
	for (i = 0; i < 3; i++) {
		memset(&b[i], 0, sizeof(b[i]));
		b[i].ev = &ev[i];
		b[i].n = 1;
		assert_int_equal(msgr_hostcommit_send(p.h, &b[i], 1, &call[i]), MSGR_OK);
		assert_non_null(call[i]);
		assert_true(msgr_hostcommit_call_fd(call[i]) >= 0);
		assert_true(msgr_hostcommit_call_deadline(call[i]) >= now + 4000);
		assert_true(msgr_hostcommit_call_deadline(call[i]) < now + 5000);
	}
	/* the first send made this process the committer */
	assert_true(msgr_hostcommit_serving(p.h));
	assert_int_not_equal(msgr_hostcommit_call_fd(call[0]), msgr_hostcommit_call_fd(call[1]));
	assert_int_not_equal(msgr_hostcommit_call_fd(call[1]), msgr_hostcommit_call_fd(call[2]));
	for (i = 2; i >= 0; i--) {
		b[i].rc = MSGR_ERR_STORE;
		assert_int_equal(msgr_hostcommit_receive(p.h, call[i], &b[i], 1), MSGR_OK);
		assert_int_equal(b[i].rc, MSGR_OK);
		assert_int_equal(b[i].n_new, 1);
		assert_true(b[i].group >= 1);
	}
	assert_int_equal(unit_sqlite_count(f->path, ACKED), 3);
	/* a connection kept from before carries the next call: the same event is a duplicate */
	memset(&b[0], 0, sizeof(b[0]));
	b[0].ev = &ev[0];
	b[0].n = 1;
	assert_int_equal(msgr_hostcommit_send(p.h, &b[0], 1, &call[0]), MSGR_OK);
	assert_int_equal(msgr_hostcommit_receive(p.h, call[0], &b[0], 1), MSGR_OK);
	assert_int_equal(b[0].rc, MSGR_OK);
	assert_int_equal(b[0].n_new, 0);
	assert_int_equal(b[0].n_dup, 1);
	proc_close(&p);
	assert_int_equal(unit_sqlite_count(f->path, ACKED), 3);
}

/* An answer read past the call's deadline is not read: BUSY (a 503), though the committer
 * did store the group, and the connection is not used again. */
static void
test_receive_late(void **state)
{
	struct unit_tmp *f = *state;
	struct msgr_store_event ev = { "conn", "100", "200", 1, 0, 1000, "late", "{}" };
	struct msgr_hostcommit_call *call = NULL;
	struct msgr_commit_batch b;
	struct proc p;
	long long t0;

	proc_open_timeout(&p, f->path, 1, 1, 300);
	memset(&b, 0, sizeof(b));
	b.ev = &ev;
	b.n = 1;
	assert_int_equal(msgr_hostcommit_send(p.h, &b, 1, &call), MSGR_OK);
	sleep_ms(450);
	t0 = msgr_clock_mono_ms();
	assert_int_equal(msgr_hostcommit_receive(p.h, call, &b, 1), MSGR_OK);
	/* not waited for again: at once */
	assert_true(msgr_clock_mono_ms() - t0 < 200);
	assert_int_equal(b.rc, MSGR_ERR_BUSY);
	assert_int_equal(b.n_new, 0);
	assert_int_equal(unit_sqlite_count(f->path, ACKED), 1);
	/* the next call goes on a fresh connection and is answered */
	memset(&b, 0, sizeof(b));
	b.ev = &ev;
	b.n = 1;
	assert_int_equal(msgr_hostcommit_send(p.h, &b, 1, &call), MSGR_OK);
	assert_int_equal(msgr_hostcommit_receive(p.h, call, &b, 1), MSGR_OK);
	assert_int_equal(b.rc, MSGR_OK);
	assert_int_equal(b.n_dup, 1);
	proc_close(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_roundtrip),
		cmocka_unit_test(test_group_refusals),
		cmocka_unit_test(test_answer_roundtrip),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_gather_awaits),
		cmocka_unit_test(test_gather_stops_at_last_size),
		cmocka_unit_test(test_client_read),
		cmocka_unit_test(test_client_read_timed),
		cmocka_unit_test_setup_teardown(test_one_committer_for_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_weaker_committer_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nobody_to_serve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_processes_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads_relay_side_by_side, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_then_receive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_late, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
