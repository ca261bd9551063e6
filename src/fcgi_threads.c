/* fcgi_threads.c — responder.threads > 1: N request threads per FastCGI process, each with its
 * own FCGX_Request and request state, accepting on the shared socket; their events share
 * transactions through the group commit (lib/commit.h). The main thread only waits for a
 * stop signal, then wakes the threads waiting in accept until each has finished the request
 * it holds (docs/responder.md "Threads and group commit", "Signals"). */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "responder.h"

/* A stop that takes longer says which threads it waits for, and where. */
#define SLOW_STOP_MS 1500
/* A stop never waits longer than this: libfcgi closes a connection gracefully, waiting up to
 * 2 s per read for the peer to hang up, and a busy pool can hold a thread there for seconds.
 * Past it the process exits anyway: every commit is atomic (a transaction is whole or not at
 * all) and a webhook not yet answered is sent again by Facebook and deduplicated. */
#define STOP_GRACE_MS 3000

/* Where a request thread is, for the log line of a stop that takes long. */
enum phase { PHASE_ACCEPT = 0, PHASE_SERVE, PHASE_FINISH, PHASE_AFTER };
static const char *const phase_names[] = { "accept", "serve", "finish", "after-response work" };

/* One request thread. Every signal with a handler is blocked here (the mask is inherited
 * from the main thread) except WAKE_SIGNAL while waiting in accept. */
static void *
request_thread(void *arg)
{
	struct rthread *t = arg;
	struct msgr_request_io io = fcgi_io(&t->fr);
	sigset_t wake;
	int rc;

	sigemptyset(&wake);
	sigaddset(&wake, WAKE_SIGNAL);
	for (;;) {
		if (atomic_load(&responder_stop))
			break;
		atomic_store(&t->phase, PHASE_ACCEPT);
		atomic_store(&t->in_accept, 1);
		pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
		rc = FCGX_Accept_r(&t->fr);
		pthread_sigmask(SIG_BLOCK, &wake, NULL);
		atomic_store(&t->in_accept, 0);
		if (rc < 0) {
			if (atomic_load(&responder_stop))
				break;
			if (rc == -EINTR)
				continue;   /* a wake or a stray signal, and no stop: accept again */
			/* The listening socket failed: the whole process stops, as one thread
			 * would (the web server starts another). */
			msgr_log(MSGR_LOG_ERROR, "thread %u: accept failed (%d): stopping", t->index,
			    rc);
			atomic_store(&responder_stop, 1);
			break;
		}
		atomic_store(&t->phase, PHASE_SERVE);
		responder_serve(t, &io);
		atomic_store(&t->phase, PHASE_FINISH);
		FCGX_Finish_r(&t->fr);
		atomic_store(&t->phase, PHASE_AFTER);
		fcgi_after_response(t->rs);
	}
	atomic_store(&t->finished, 1);
	return NULL;
}

/* Starts the n threads of th; returns how many run. */
static int
start_threads(struct responder *rs, struct rthread *th, int n)
{
	int i, err, running = 0;

	for (i = 0; i < n; i++) {
		th[i].rs = rs;
		th[i].index = (unsigned)i;
		msgr_request_init(&th[i].req);
		/* Any EINTR ends the accept: libfcgi's own loop retries an interrupted accept
		 * unless it sees its shutdown flag, a plain static int it may never read again
		 * once inside; seen under load as a thread woken every 20 ms yet kept in accept
		 * for seconds after a stop. Whether to stop is decided here instead. */
		if (FCGX_InitRequest(&th[i].fr, 0, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
			msgr_log(MSGR_LOG_ERROR, "FastCGI initialisation failed");
			break;
		}
		if ((err = pthread_create(&th[i].tid, NULL, request_thread, &th[i])) != 0) {
			msgr_log(MSGR_LOG_ERROR, "cannot start request thread %d: error %d", i, err);
			FCGX_Free(&th[i].fr, 1);
			break;
		}
		th[i].started = 1;
		running++;
	}
	if (running > 0 && running < n)
		msgr_log(MSGR_LOG_WARN, "serving with %d of %d threads", running, n);
	return running;
}

/* Waits for SIGTERM, SIGINT or SIGUSR1 (blocked everywhere, so no handler runs
 * mid-request), or for a thread to have stopped the process. */
static void
wait_for_stop(const sigset_t *stops)
{
	struct timespec tick = { 0, 200 * 1000000L };

	while (!atomic_load(&responder_stop)) {
		if (sigtimedwait(stops, NULL, &tick) > 0)
			break;
	}
	atomic_store(&responder_stop, 1);
}

/* Wakes the threads blocked in accept until every one has left its loop: libfcgi's accept
 * gives up on EINTR once a shutdown is pending, and the wake is repeated because a thread
 * may be between its stop check and accept(2). Past STOP_GRACE_MS the process exits. */
static void
stop_threads(struct rthread *th, int n)
{
	struct timespec pause = { 0, 20 * 1000000L };
	long long stop_at;
	int i, left, reported = 0;

	FCGX_ShutdownPending();
	stop_at = msgr_clock_mono_ms();
	do {
		int report = !reported && msgr_clock_mono_ms() - stop_at > SLOW_STOP_MS;

		left = 0;
		for (i = 0; i < n; i++) {
			if (!th[i].started || atomic_load(&th[i].finished))
				continue;
			left++;
			if (atomic_load(&th[i].in_accept))
				pthread_kill(th[i].tid, WAKE_SIGNAL);
			if (report)
				msgr_log(MSGR_LOG_WARN, "stopping: thread %d still in %s after %d ms", i,
				    phase_names[atomic_load(&th[i].phase)], SLOW_STOP_MS);
		}
		reported |= report;
		if (left > 0 && msgr_clock_mono_ms() - stop_at > STOP_GRACE_MS) {
			msgr_log(MSGR_LOG_WARN, "stopping: %d threads still busy after %d ms, exiting "
			    "anyway (whatever was not answered, Facebook sends again)", left,
			    STOP_GRACE_MS);
			_exit(0);
		}
		if (left > 0)
			nanosleep(&pause, NULL);
	} while (left > 0);
}

int
fcgi_serve_threads(struct responder *rs)
{
	struct rthread *th = NULL;
	sigset_t stops, blocked;
	unsigned long served = 0;
	int i, n = rs->threads, running = 0, status = 1;

	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGUSR1);
	blocked = stops;
	sigaddset(&blocked, SIGALRM);
	sigaddset(&blocked, WAKE_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &blocked, NULL);
	if (FCGX_Init() != 0) {
		msgr_log(MSGR_LOG_ERROR, "FastCGI initialisation failed");
		goto out;
	}
	if ((th = calloc((size_t)n, sizeof(*th))) == NULL) {
		msgr_log(MSGR_LOG_ERROR, "out of memory starting %d threads", n);
		goto out;
	}
	if ((running = start_threads(rs, th, n)) == 0)
		goto out;
	wait_for_stop(&stops);
	stop_threads(th, n);
	status = 0;
out:
	for (i = 0; th != NULL && i < n; i++) {
		if (th[i].started) {
			pthread_join(th[i].tid, NULL);
			FCGX_Free(&th[i].fr, 1);
		}
		served += th[i].counter;
		msgr_request_free(&th[i].req);
	}
	free(th);
	if (status == 0)
		msgr_log(MSGR_LOG_INFO, "stopping after %lu requests (%d threads)", served, running);
	return status;
}
