/* fcgi_threads.c — responder.threads > 1: N request threads per FastCGI process
 * (lib/fcgi_pool.h) accepting on the shared socket, their events sharing transactions through
 * the group commit (lib/commit.h) or the host's committer (lib/hostcommit.h)
 * (docs/responder.md "Threads and group commit", "Signals").
 *
 * With the host's committer, a request thread does not wait for its events to be stored: it
 * sends them to the committer and goes back to accept, and the process's answerer thread
 * (lib/answerer.h) writes the answer, 200 only once the committer has said they are stored
 * (docs/responder.md "Answers from another thread"). Each request in flight then holds one
 * of THREADS x OBJECTS_PER_THREAD request objects; a request thread finding none free waits
 * for one. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_pool.h"
#include "log.h"
#include "responder.h"

/* A stop that takes longer says which threads it waits for, and where. */
#define SLOW_STOP_MS 1500
/* A stop never waits longer than this: libfcgi closes a connection gracefully, waiting up to
 * 2 s per read for the peer to hang up, and a busy pool can hold a thread there for seconds.
 * Past it the process exits anyway: every commit is atomic (a transaction is whole or not at
 * all) and a webhook not yet answered is sent again by Facebook and deduplicated. */
#define STOP_GRACE_MS 3000
/* Request objects per request thread when answers come from the answerer: requests whose
 * events wait for the committer while the thread accepts the next. Measured: the committer's
 * transaction takes a few requests of each thread; four leaves room without holding memory. */
#define OBJECTS_PER_THREAD 4

struct pool_arg {
	struct responder *rs;
	struct rthread *th;            /* one per request object */
	struct msgr_fcgi_pool pool;
	struct msgr_answerer *ans;     /* NULL: each request thread waits for its own answer */
};

/* The request state holding member m at p. */
#define RTHREAD_OF(p, m) ((struct rthread *)(void *)((char *)(p) - offsetof(struct rthread, m)))

static FCGX_Request *
thread_request(void *arg, unsigned i)
{
	struct pool_arg *a = arg;

	return &a->th[i].fr;
}

/* The committer's answer for t (or its deadline): the request's answer, its end. */
static void
complete(struct pool_arg *a, struct rthread *t)
{
	struct msgr_request_io io = msgr_fcgi_io(&t->fr);
	msgr_result rc;

	rc = msgr_hostcommit_receive(a->rs->host, t->pend.call, &t->pend.b, 1);
	t->pend.call = NULL;
	responder_answer(t, &io, rc != MSGR_OK);
}

/* On the answerer's thread. A request thread in the middle of a request runs the worker
 * after it (it reads work_pending then); when none is, the pool's own thread is nudged. */
static void
answered(void *arg, struct msgr_answerer_item *it, int timed_out)
{
	struct pool_arg *a = arg;
	struct rthread *t = RTHREAD_OF(it, wait);

	(void)timed_out;   /* the call's deadline has passed: msgr_hostcommit_receive says so */
	complete(a, t);
	/* Before the release: a request thread may take the object at once, and once the last
	 * kept request is released a stopping pool ends (its state with it). */
	if (t->oc.stored > 0 && a->rs->cfg->worker.budget_ms > 0 &&
	    atomic_load(&a->rs->serving) == 0)
		msgr_fcgi_pool_nudge(&a->pool);
	msgr_fcgi_pool_release(&a->pool, &t->fr);
}

/* The committer's half of the intake's store step (lib/respond.h). */
static msgr_result
send_rows(void *arg, const struct msgr_commit_batch *b, void **call)
{
	struct responder *rs = arg;
	struct msgr_hostcommit_call *c = NULL;
	msgr_result rc;

	rc = msgr_hostcommit_send(rs->host, b, 1, &c);
	*call = c;
	return rc;
}

static int
thread_serve(void *arg, unsigned i, FCGX_Request *fr)
{
	struct pool_arg *a = arg;
	struct rthread *t = RTHREAD_OF(fr, fr);
	struct msgr_request_io io = msgr_fcgi_io(fr);
	int kept;

	(void)i;
	atomic_fetch_add(&a->rs->serving, 1);
	kept = responder_serve(t, &io, a->ans != NULL);
	if (kept) {
		t->wait.fd = msgr_hostcommit_call_fd(t->pend.call);
		t->wait.deadline = msgr_hostcommit_call_deadline(t->pend.call);
		if (msgr_answerer_add(a->ans, &t->wait) != MSGR_OK) {
			complete(a, t);   /* waited for here, as without the answerer */
			kept = 0;
		}
	}
	atomic_fetch_sub(&a->rs->serving, 1);
	return kept;
}

static void
thread_after(void *arg, unsigned i)
{
	struct pool_arg *a = arg;

	(void)i;
	fcgi_after_response(a->rs);
}

int
fcgi_serve_threads(struct responder *rs)
{
	struct pool_arg a;
	sigset_t alarm;
	unsigned long served = 0;
	unsigned running = 0, objects, i;
	int n = rs->threads, status = 1;

	memset(&a, 0, sizeof(a));
	a.rs = rs;
	/* SIGALRM has a handler for the single-threaded loop; here it waits like the stops. */
	sigemptyset(&alarm);
	sigaddset(&alarm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alarm, NULL);
	/* Answers from the answerer only with the host's committer, whose answers it can wait
	 * for; without one (PostgreSQL, host_commit = false) each thread waits for its commit. */
	if (rs->host != NULL && msgr_answerer_start(answered, &a, &a.ans) != MSGR_OK) {
		msgr_log(MSGR_LOG_WARN, "no answerer thread: each request thread waits for its own "
		    "commit");
		a.ans = NULL;
	}
	objects = (unsigned)n * (a.ans != NULL ? OBJECTS_PER_THREAD : 1);
	if ((a.th = calloc(objects, sizeof(*a.th))) == NULL) {
		msgr_log(MSGR_LOG_ERROR, "out of memory starting %d threads", n);
		msgr_answerer_stop(a.ans);
		return 1;
	}
	for (i = 0; i < objects; i++) {
		a.th[i].rs = rs;
		a.th[i].index = i;
		msgr_request_init(&a.th[i].req);
	}
	if (a.ans != NULL) {
		rs->respond.send = send_rows;
		rs->respond.send_arg = rs;
	}
	a.pool = (struct msgr_fcgi_pool){ .threads = (unsigned)n, .spare = objects - (unsigned)n,
	    .stop = &responder_stop, .arg = &a, .request = thread_request, .serve = thread_serve,
	    .after = thread_after, .slow_ms = SLOW_STOP_MS, .grace_ms = STOP_GRACE_MS,
	    .grace_note = " (whatever was not answered, Facebook sends again)" };
	status = msgr_fcgi_pool_run(&a.pool, &running);
	/* Every kept request was released before the pool returned: nothing is pending. */
	msgr_answerer_stop(a.ans);
	rs->respond.send = NULL;
	for (i = 0; i < objects; i++) {
		served += a.th[i].counter;
		msgr_request_free(&a.th[i].req);
	}
	free(a.th);
	if (status == 0)
		msgr_log(MSGR_LOG_INFO, "stopping after %lu requests (%u threads)", served, running);
	return status;
}
