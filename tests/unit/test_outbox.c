/* Unit tests: a process's requests to the host committer, sent together (lib/outbox.h).
 *
 * A fake committer listens where the real one would (the store's path + "-host.sock") and
 * answers when the test says, so what travels together is seen exactly: a lone entry goes at
 * once; entries put while a group is out wait and go as ONE message once its answer is in,
 * sent before that answer's entries are completed; each entry gets its own batch's answer,
 * exactly once; a connection that breaks makes its group's entries lost; no answer by the
 * host's timeout is BUSY; nobody to send to is lost at once, on the sending thread. The
 * real committer then stores what the outbox sends, once. */
#include "unit.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "unit_sqlite.h"

#include "clock.h"
#include "commit.h"
#include "hostcommit.h"
#include "outbox.h"
#include "store.h"

#define MAXG 16
#define NE 8

/* ---- the fake committer ---- */

struct fake {
	int listen_fd;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* what it read: each group's size and its keys, in order */
	int groups;
	size_t size[MAXG];
	char keys[MAXG][NE][16];
	/* what it may do: answer groups up to this many; close instead of answering group k */
	int release;
	int close_at;            /* 1-based group to hang up on, 0 never */
	int stop;
};

static void
fake_wait_groups(struct fake *k, int n, long ms)
{
	long long end = msgr_clock_mono_ms() + ms;
	struct timespec tick = { 0, 2000000L };

	for (;;) {
		int g;

		pthread_mutex_lock(&k->mu);
		g = k->groups;
		pthread_mutex_unlock(&k->mu);
		if (g >= n || msgr_clock_mono_ms() >= end)
			return;
		nanosleep(&tick, NULL);
	}
}

static void
fake_release(struct fake *k, int upto)
{
	pthread_mutex_lock(&k->mu);
	k->release = upto;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
}

static int
send_framed(int fd, struct msgr_buf *b)
{
	uint32_t len = (uint32_t)(b->len - 4);

	b->data[0] = (char)(len & 0xff);
	b->data[1] = (char)((len >> 8) & 0xff);
	b->data[2] = (char)((len >> 16) & 0xff);
	b->data[3] = (char)((len >> 24) & 0xff);
	return send(fd, b->data, b->len, MSG_NOSIGNAL) == (ssize_t)b->len ? 0 : -1;
}

/* One connection: the hello, then groups answered as released. */
static void
fake_serve(struct fake *k, int fd)
{
	struct msgr_buf in, out;
	struct msgr_hostcommit_group g;
	long long far = msgr_clock_mono_ms() + 20000;
	size_t i;
	int n;

	msgr_buf_init(&in, 1u << 20);
	msgr_buf_init(&out, 1u << 20);
	if (msgr_hostcommit_recv(fd, &in, far, 0) != 0)
		goto out;
	msgr_buf_reset(&out);
	(void)msgr_buf_append(&out, "\0\0\0\0\1\0\0\0\1\0\0\0", 12);
	if (send_framed(fd, &out) != 0)
		goto out;
	while (msgr_hostcommit_recv(fd, &in, far, 0) == 0) {
		if (msgr_hostcommit_decode_group((const unsigned char *)in.data, in.len, &g) !=
		    MSGR_OK)
			break;
		pthread_mutex_lock(&k->mu);
		n = k->groups < MAXG ? k->groups : MAXG - 1;
		k->size[n] = g.n;
		for (i = 0; i < g.n && i < NE; i++)
			snprintf(k->keys[n][i], sizeof(k->keys[n][i]), "%s",
			    g.b[i].n > 0 ? g.b[i].ev[0].key : "");
		k->groups++;
		while (k->release < k->groups && !k->stop)
			pthread_cond_wait(&k->cv, &k->mu);
		n = k->close_at == k->groups || k->stop;
		pthread_mutex_unlock(&k->mu);
		if (n) {
			msgr_hostcommit_group_free(&g);
			break;
		}
		/* each batch's answer says which it is: n_new = its place + 1, group = the size */
		for (i = 0; i < g.n; i++) {
			g.b[i].rc = MSGR_OK;
			g.b[i].n_new = i + 1;
			g.b[i].n_dup = 0;
			g.b[i].group = g.n;
			g.b[i].counts_exact = 1;
		}
		msgr_buf_reset(&out);
		(void)msgr_buf_append(&out, "\0\0\0\0", 4);
		(void)msgr_hostcommit_encode_answer(g.b, g.n, &out);
		msgr_hostcommit_group_free(&g);
		if (send_framed(fd, &out) != 0)
			break;
	}
out:
	close(fd);
	msgr_buf_free(&in);
	msgr_buf_free(&out);
}

static void *
fake_run(void *arg)
{
	struct fake *k = arg;
	int fd;

	while ((fd = accept(k->listen_fd, NULL, NULL)) >= 0) {
		int stop;

		pthread_mutex_lock(&k->mu);
		stop = k->stop;
		pthread_mutex_unlock(&k->mu);
		if (stop) {
			close(fd);
			break;
		}
		fake_serve(k, fd);
	}
	return NULL;
}

static void
fake_start(struct fake *k, const char *db)
{
	struct sockaddr_un sa;

	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s-host.sock", db);
	k->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(k->listen_fd >= 0);
	assert_int_equal(bind(k->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(k->listen_fd, 8), 0);
	assert_int_equal(pthread_create(&k->tid, NULL, fake_run, k), 0);
}

static void
fake_stop(struct fake *k)
{
	pthread_mutex_lock(&k->mu);
	k->stop = 1;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
	shutdown(k->listen_fd, SHUT_RDWR);
	pthread_join(k->tid, NULL);
	close(k->listen_fd);
	pthread_cond_destroy(&k->cv);
	pthread_mutex_destroy(&k->mu);
}

/* ---- the caller's side ---- */

struct req {
	struct msgr_outbox_entry e;
	struct msgr_commit_batch answer;
	struct msgr_store_event ev;
	char key[16];
	int done, lost;
	unsigned long groups_at_done;   /* groups sent when its done ran */
	pthread_t on;                   /* the thread done ran on */
};

struct fx {
	struct unit_tmp t;
	struct msgr_store_options o;
	struct msgr_hostcommit *h;
	struct msgr_outbox *ob;
	struct req r[NE];
	pthread_mutex_t mu;
};

static void
on_done(void *arg, struct msgr_outbox_entry *e, int lost)
{
	struct fx *x = arg;
	struct req *r = (struct req *)(void *)e;

	pthread_mutex_lock(&x->mu);
	r->done++;
	r->lost = lost;
	r->on = pthread_self();
	r->groups_at_done = msgr_outbox_groups(x->ob);
	pthread_mutex_unlock(&x->mu);
}

static int
done_of(struct fx *x, int i)
{
	int d;

	pthread_mutex_lock(&x->mu);
	d = x->r[i].done;
	pthread_mutex_unlock(&x->mu);
	return d;
}

static int
wait_done(struct fx *x, int i, long ms)
{
	long long end = msgr_clock_mono_ms() + ms;
	struct timespec tick = { 0, 2000000L };

	while (done_of(x, i) == 0 && msgr_clock_mono_ms() < end)
		nanosleep(&tick, NULL);
	return done_of(x, i);
}

static void
fx_open(struct fx *x, int may_serve, int timeout_ms)
{
	struct msgr_hostcommit_options ho;
	int i;

	memset(&x->o, 0, sizeof(x->o));
	x->o.path = x->t.path;
	x->o.wal = 1;
	x->o.sync_full = 1;
	x->o.busy_timeout_ms = 2000;
	memset(&ho, 0, sizeof(ho));
	ho.store = &x->o;
	ho.may_serve = may_serve;
	ho.timeout_ms = timeout_ms;
	assert_int_equal(msgr_hostcommit_open(&ho, &x->h), MSGR_OK);
	assert_int_equal(msgr_outbox_open(x->h, 0, on_done, x, &x->ob), MSGR_OK);
	for (i = 0; i < NE; i++)
		msgr_buf_init(&x->r[i].e.rows, MSGR_HOSTCOMMIT_MAX_MSG);
}

static void
fx_close(struct fx *x)
{
	int i;

	msgr_outbox_close(x->ob);
	x->ob = NULL;
	msgr_hostcommit_close(x->h);
	x->h = NULL;
	for (i = 0; i < NE; i++)
		msgr_buf_free(&x->r[i].e.rows);
}

/* Request i's one event, put (key "k<tag><i>"). */
static void
put(struct fx *x, int i, const char *tag)
{
	struct req *r = &x->r[i];
	struct msgr_commit_batch rows;

	pthread_mutex_lock(&x->mu);
	r->done = r->lost = 0;
	pthread_mutex_unlock(&x->mu);
	snprintf(r->key, sizeof(r->key), "k%s%d", tag, i);
	r->ev = (struct msgr_store_event){ "conn", "100", "200", 1, 0, 1000, r->key, "{}" };
	memset(&rows, 0, sizeof(rows));
	rows.ev = &r->ev;
	rows.n = 1;
	memset(&r->answer, 0, sizeof(r->answer));
	r->answer.rc = MSGR_ERR_STORE;
	assert_int_equal(msgr_outbox_encode(&r->e, &rows), MSGR_OK);
	msgr_outbox_send(x->ob, &r->e, &r->answer);
}

static int
setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	if (x == NULL || unit_tmp_make(&x->t, "outbox") != 0) {
		free(x);
		return -1;
	}
	pthread_mutex_init(&x->mu, NULL);
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *x = *state;

	unit_rmdir_all(x->t.dir);
	pthread_mutex_destroy(&x->mu);
	free(x);
	return 0;
}

static void
test_refusals(void **state)
{
	struct fx *x = *state;
	struct msgr_outbox *ob = NULL;
	struct msgr_commit_batch rows;

	(void)x;
	assert_int_equal(msgr_outbox_open(NULL, 0, on_done, NULL, &ob), MSGR_ERR_INVALID);
	assert_null(ob);
	assert_int_equal(msgr_outbox_open(NULL, 0, on_done, NULL, NULL), MSGR_ERR_INVALID);
	fx_open(x, 0, 2000);
	assert_int_equal(msgr_outbox_open(x->h, 0, NULL, NULL, &ob), MSGR_ERR_INVALID);
	assert_int_equal(msgr_outbox_open(x->h, 1000, on_done, NULL, &ob), MSGR_ERR_INVALID);
	memset(&rows, 0, sizeof(rows));
	assert_int_equal(msgr_outbox_encode(NULL, &rows), MSGR_ERR_INVALID);
	assert_int_equal(msgr_outbox_encode(&x->r[0].e, NULL), MSGR_ERR_INVALID);
	assert_int_equal(msgr_outbox_pending(x->ob), 0);
	assert_int_equal(msgr_outbox_pending(NULL), 0);
	fx_close(x);
	msgr_outbox_close(NULL);
}

/* A lone entry goes at once; entries put while its group is out go together, as one message,
 * once its answer is in, and before that answer's entries are completed; each gets its own
 * batch's answer, once, on the outbox's thread. */
static void
test_together(void **state)
{
	struct fx *x = *state;
	struct fake k;
	int i;

	fake_start(&k, x->t.path);
	fx_open(x, 0, 5000);
	put(x, 0, "a");
	fake_wait_groups(&k, 1, 2000);
	assert_int_equal(k.groups, 1);
	assert_int_equal(k.size[0], 1);
	assert_string_equal(k.keys[0][0], "ka0");
	/* while it is out: queued, nothing sent */
	for (i = 1; i < 5; i++) {
		put(x, i, "a");
	}
	fake_wait_groups(&k, 2, 150);
	pthread_mutex_lock(&k.mu);
	assert_int_equal(k.groups, 1);
	pthread_mutex_unlock(&k.mu);
	assert_int_equal(msgr_outbox_pending(x->ob), 5);
	assert_int_equal(done_of(x, 0), 0);
	fake_release(&k, 1);
	assert_int_equal(wait_done(x, 0, 2000), 1);
	fake_wait_groups(&k, 2, 2000);
	pthread_mutex_lock(&k.mu);
	assert_int_equal(k.groups, 2);
	assert_int_equal(k.size[1], 4);
	for (i = 0; i < 4; i++) {
		char want[16];

		snprintf(want, sizeof(want), "ka%d", i + 1);
		assert_string_equal(k.keys[1][i], want);
	}
	pthread_mutex_unlock(&k.mu);
	/* the second group was sent before the first's entry was completed */
	assert_int_equal(x->r[0].groups_at_done, 2);
	assert_int_equal(x->r[0].lost, 0);
	assert_int_equal(x->r[0].answer.rc, MSGR_OK);
	assert_int_equal(x->r[0].answer.n_new, 1);
	assert_int_equal(x->r[0].answer.group, 1);
	assert_false(pthread_equal(x->r[0].on, pthread_self()));
	for (i = 1; i < 5; i++)
		assert_int_equal(done_of(x, i), 0);
	fake_release(&k, 2);
	for (i = 1; i < 5; i++) {
		assert_int_equal(wait_done(x, i, 2000), 1);
		assert_int_equal(x->r[i].lost, 0);
		assert_int_equal(x->r[i].answer.rc, MSGR_OK);
		assert_int_equal(x->r[i].answer.n_new, (size_t)i);   /* its own place's answer */
		assert_int_equal(x->r[i].answer.group, 4);
		assert_null(x->r[i].answer.next);
	}
	assert_int_equal(msgr_outbox_groups(x->ob), 2);
	fx_close(x);
	fake_stop(&k);
	for (i = 0; i < 5; i++)
		assert_int_equal(x->r[i].done, 1);
}

/* The connection breaks before the answer: the group's entries are lost (stored by their
 * callers); the next group goes on a fresh connection and is answered. */
static void
test_connection_breaks(void **state)
{
	struct fx *x = *state;
	struct fake k;
	int i;

	fake_start(&k, x->t.path);
	k.close_at = 1;
	fx_open(x, 0, 5000);
	put(x, 0, "b");
	fake_wait_groups(&k, 1, 2000);
	put(x, 1, "b");
	put(x, 2, "b");
	fake_release(&k, 1);   /* group 1's turn: the connection closed instead */
	assert_int_equal(wait_done(x, 0, 2000), 1);
	assert_int_equal(x->r[0].lost, 1);
	/* what waited went next, on a new connection: answered */
	fake_release(&k, 2);
	for (i = 1; i < 3; i++) {
		assert_int_equal(wait_done(x, i, 2000), 1);
		assert_int_equal(x->r[i].lost, 0);
		assert_int_equal(x->r[i].answer.rc, MSGR_OK);
	}
	assert_int_equal(k.size[1], 2);
	fx_close(x);
	fake_stop(&k);
	for (i = 0; i < 3; i++)
		assert_int_equal(x->r[i].done, 1);
}

/* No answer by the host's timeout: BUSY (a 503), not lost (the committer may still store
 * it), not before the timeout. */
static void
test_timeout(void **state)
{
	struct fx *x = *state;
	struct fake k;
	long long t0;

	fake_start(&k, x->t.path);
	fx_open(x, 0, 300);
	t0 = msgr_clock_mono_ms();
	put(x, 0, "c");
	assert_int_equal(wait_done(x, 0, 3000), 1);
	assert_true(msgr_clock_mono_ms() - t0 >= 290);
	assert_int_equal(x->r[0].lost, 0);
	assert_int_equal(x->r[0].answer.rc, MSGR_ERR_BUSY);
	fx_close(x);
	fake_stop(&k);
	assert_int_equal(x->r[0].done, 1);
}

/* Nobody to send to (no committer, and this handle may not become it): lost at once, on the
 * thread that sent, and the outbox stays usable. */
static void
test_nobody(void **state)
{
	struct fx *x = *state;

	fx_open(x, 0, 2000);
	put(x, 0, "d");
	assert_int_equal(done_of(x, 0), 1);
	assert_int_equal(x->r[0].lost, 1);
	assert_true(pthread_equal(x->r[0].on, pthread_self()));
	put(x, 1, "d");
	assert_int_equal(done_of(x, 1), 1);
	assert_int_equal(x->r[1].lost, 1);
	assert_int_equal(msgr_outbox_pending(x->ob), 0);
	fx_close(x);
}

/* With the real committer (this handle becomes it): every entry stored once, answered
 * with the store's counts; the same keys again are duplicates. */
static void
test_real_committer(void **state)
{
	struct fx *x = *state;
	const struct msgr_commit_batch *b;
	int i, round;

	fx_open(x, 1, 5000);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < NE; i++) {
			put(x, i, "e");
		}
		for (i = 0; i < NE; i++) {
			assert_int_equal(wait_done(x, i, 5000), 1);
			assert_int_equal(x->r[i].lost, 0);
			assert_int_equal(x->r[i].answer.rc, MSGR_OK);
			/* a request's own counts, or its transaction's (commit.h): one event each */
			b = &x->r[i].answer;
			assert_true(b->group >= 1 && b->group <= NE);
			assert_int_equal(b->n_new + b->n_dup, b->counts_exact ? 1 : b->group);
			assert_int_equal(round == 0 ? b->n_dup : b->n_new, 0);
		}
	}
	assert_true(msgr_outbox_groups(x->ob) >= 2);
	assert_true(msgr_outbox_groups(x->ob) <= 2 * NE);
	fx_close(x);
	assert_int_equal(unit_sqlite_count(x->t.path,
	    "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM inbox)"), NE);
}

struct closer {
	struct fx *x;
	long long returned;
};

static void *
close_run(void *arg)
{
	struct closer *c = arg;

	msgr_outbox_close(c->x->ob);
	c->returned = msgr_clock_mono_ms();
	return NULL;
}

/* The close waits for every entry, those queued behind a group out included. */
static void
test_close_waits(void **state)
{
	struct fx *x = *state;
	struct fake k;
	struct closer c = { x, 0 };
	pthread_t tid;
	long long released;
	int i;

	fake_start(&k, x->t.path);
	fx_open(x, 0, 5000);
	put(x, 0, "f");
	fake_wait_groups(&k, 1, 2000);
	put(x, 1, "f");
	assert_int_equal(pthread_create(&tid, NULL, close_run, &c), 0);
	{
		struct timespec ts = { 0, 150 * 1000000L };

		nanosleep(&ts, NULL);
	}
	released = msgr_clock_mono_ms();
	fake_release(&k, 2);
	pthread_join(tid, NULL);
	assert_true(c.returned >= released);
	for (i = 0; i < 2; i++) {
		assert_int_equal(x->r[i].done, 1);
		assert_int_equal(x->r[i].answer.rc, MSGR_OK);
	}
	x->ob = NULL;
	msgr_hostcommit_close(x->h);
	x->h = NULL;
	for (i = 0; i < NE; i++)
		msgr_buf_free(&x->r[i].e.rows);
	fake_stop(&k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_together, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_breaks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nobody, setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_committer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_waits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
