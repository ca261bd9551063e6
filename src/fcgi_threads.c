/* fcgi_threads.c — responder.threads > 1: N request threads per FastCGI process
 * (lib/fcgi_pool.h), each with its own FCGX_Request and request state, accepting on the shared
 * socket; their events share transactions through the group commit (lib/commit.h)
 * (docs/responder.md "Threads and group commit", "Signals"). */
#include <stdlib.h>

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

struct pool_arg {
	struct responder *rs;
	struct rthread *th;
};

static FCGX_Request *
thread_request(void *arg, unsigned i)
{
	struct pool_arg *a = arg;

	return &a->th[i].fr;
}

static void
thread_serve(void *arg, unsigned i, FCGX_Request *fr)
{
	struct pool_arg *a = arg;
	struct msgr_request_io io = msgr_fcgi_io(fr);

	atomic_fetch_add(&a->rs->serving, 1);
	responder_serve(&a->th[i], &io);
	atomic_fetch_sub(&a->rs->serving, 1);
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
	struct pool_arg a = { rs, NULL };
	struct msgr_fcgi_pool pool;
	sigset_t alarm;
	unsigned long served = 0;
	unsigned running = 0;
	int i, n = rs->threads, status = 1;

	/* SIGALRM has a handler for the single-threaded loop; here it waits like the stops. */
	sigemptyset(&alarm);
	sigaddset(&alarm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alarm, NULL);
	if ((a.th = calloc((size_t)n, sizeof(*a.th))) == NULL) {
		msgr_log(MSGR_LOG_ERROR, "out of memory starting %d threads", n);
		return 1;
	}
	for (i = 0; i < n; i++) {
		a.th[i].rs = rs;
		a.th[i].index = (unsigned)i;
		msgr_request_init(&a.th[i].req);
	}
	pool = (struct msgr_fcgi_pool){ .threads = (unsigned)n, .stop = &responder_stop,
	    .arg = &a, .request = thread_request, .serve = thread_serve, .after = thread_after,
	    .slow_ms = SLOW_STOP_MS, .grace_ms = STOP_GRACE_MS,
	    .grace_note = " (whatever was not answered, Facebook sends again)" };
	status = msgr_fcgi_pool_run(&pool, &running);
	for (i = 0; i < n; i++) {
		served += a.th[i].counter;
		msgr_request_free(&a.th[i].req);
	}
	free(a.th);
	if (status == 0)
		msgr_log(MSGR_LOG_INFO, "stopping after %lu requests (%u threads)", served, running);
	return status;
}
