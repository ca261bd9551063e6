/* fcgi_pool.c — request threads on the FastCGI socket and their stop (lib/fcgi_pool.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fcgi_io.h"
#include "fcgi_pool.h"
#include "log.h"

/* Where a request thread is, for the log line of a stop that takes long. */
enum phase { PHASE_ACCEPT = 0, PHASE_SERVE, PHASE_FINISH, PHASE_AFTER };
static const char *const phase_names[] = { "accept", "serve", "finish", "after-response work" };

struct pool_thread {
	const struct msgr_fcgi_pool *p;
	unsigned index;
	pthread_t tid;
	int started;
	FCGX_Request *fr;
	atomic_int in_accept;          /* waiting for a connection: the stop wakes it */
	atomic_int finished;           /* left its loop */
	atomic_int phase;
};

/* One request thread. Every signal the pool blocked stays blocked here (the mask is
 * inherited) except the wake signal while waiting in accept. */
static void *
request_thread(void *arg)
{
	struct pool_thread *t = arg;
	const struct msgr_fcgi_pool *p = t->p;
	sigset_t wake;
	int rc;

	sigemptyset(&wake);
	sigaddset(&wake, MSGR_FCGI_WAKE_SIGNAL);
	for (;;) {
		if (atomic_load(p->stop))
			break;
		atomic_store(&t->phase, PHASE_ACCEPT);
		atomic_store(&t->in_accept, 1);
		pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
		rc = msgr_fcgi_accept(t->fr);
		pthread_sigmask(SIG_BLOCK, &wake, NULL);
		atomic_store(&t->in_accept, 0);
		if (rc < 0) {
			if (atomic_load(p->stop))
				break;
			if (rc == -EINTR)
				continue;   /* a wake or a stray signal, and no stop: accept again */
			/* The listening socket failed: the whole process stops, as one thread
			 * would (the web server starts another). */
			msgr_log(MSGR_LOG_ERROR, "thread %u: accept failed (%d): stopping", t->index,
			    rc);
			atomic_store(p->stop, 1);
			break;
		}
		if (rc > 0)
			continue;   /* cut short and answered */
		atomic_store(&t->phase, PHASE_SERVE);
		p->serve(p->arg, t->index, t->fr);
		atomic_store(&t->phase, PHASE_FINISH);
		msgr_fcgi_finish(t->fr);
		atomic_store(&t->phase, PHASE_AFTER);
		if (p->after != NULL)
			p->after(p->arg, t->index);
	}
	atomic_store(&t->finished, 1);
	return NULL;
}

/* Starts the threads of th; returns how many run. */
static unsigned
start_threads(const struct msgr_fcgi_pool *p, struct pool_thread *th)
{
	unsigned i, running = 0;
	int err;

	for (i = 0; i < p->threads; i++) {
		th[i].p = p;
		th[i].index = i;
		th[i].fr = p->request(p->arg, i);
		/* Any EINTR ends the accept: libfcgi's own loop retries an interrupted accept
		 * unless it sees its shutdown flag, a plain static int it may never read again
		 * once inside; seen under load as a thread woken every 20 ms yet kept in accept
		 * for seconds after a stop. Whether to stop is decided here instead. */
		if (FCGX_InitRequest(th[i].fr, 0, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
			msgr_log(MSGR_LOG_ERROR, "FastCGI initialisation failed");
			break;
		}
		if ((err = pthread_create(&th[i].tid, NULL, request_thread, &th[i])) != 0) {
			msgr_log(MSGR_LOG_ERROR, "cannot start request thread %u: error %d", i, err);
			FCGX_Free(th[i].fr, 1);
			break;
		}
		th[i].started = 1;
		running++;
	}
	if (running > 0 && running < p->threads)
		msgr_log(MSGR_LOG_WARN, "serving with %u of %u threads", running, p->threads);
	return running;
}

/* Waits for a stop signal (blocked everywhere, so no handler runs mid-request), or for a
 * thread to have set the stop. */
static void
wait_for_stop(const struct msgr_fcgi_pool *p, const sigset_t *stops)
{
	struct timespec tick = { 0, 200 * 1000000L };

	while (!atomic_load(p->stop)) {
		if (sigtimedwait(stops, NULL, &tick) > 0)
			break;
	}
	atomic_store(p->stop, 1);
}

/* Wakes the threads blocked in accept until every one has left its loop: libfcgi's accept
 * gives up on EINTR once a shutdown is pending, and the wake is repeated because a thread
 * may be between its stop check and accept(2). Past grace_ms the process exits. */
static void
stop_threads(const struct msgr_fcgi_pool *p, struct pool_thread *th)
{
	struct timespec pause = { 0, 20 * 1000000L };
	long long stop_at;
	unsigned i;
	int left, reported = 0;

	FCGX_ShutdownPending();
	stop_at = msgr_clock_mono_ms();
	do {
		int report = !reported && msgr_clock_mono_ms() - stop_at > p->slow_ms;

		left = 0;
		for (i = 0; i < p->threads; i++) {
			if (!th[i].started || atomic_load(&th[i].finished))
				continue;
			left++;
			if (atomic_load(&th[i].in_accept))
				pthread_kill(th[i].tid, MSGR_FCGI_WAKE_SIGNAL);
			if (report)
				msgr_log(MSGR_LOG_WARN, "stopping: thread %u still in %s after %d ms", i,
				    phase_names[atomic_load(&th[i].phase)], p->slow_ms);
		}
		reported |= report;
		if (left > 0 && msgr_clock_mono_ms() - stop_at > p->grace_ms) {
			msgr_log(MSGR_LOG_WARN, "stopping: %d threads still busy after %d ms, exiting "
			    "anyway%s", left, p->grace_ms, p->grace_note ? p->grace_note : "");
			/* Nothing will join them now: detached, a thread that has ended or ends
			 * before the exit is not a leak (ThreadSanitizer exits 66 on one). */
			for (i = 0; i < p->threads; i++)
				if (th[i].started)
					pthread_detach(th[i].tid);
			_exit(0);
		}
		if (left > 0)
			nanosleep(&pause, NULL);
	} while (left > 0);
}

int
msgr_fcgi_pool_run(const struct msgr_fcgi_pool *p, unsigned *running)
{
	struct pool_thread *th = NULL;
	sigset_t stops, blocked;
	unsigned i, n = 0;
	int status = 1;

	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGUSR1);
	blocked = stops;
	sigaddset(&blocked, MSGR_FCGI_WAKE_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &blocked, NULL);
	if (FCGX_Init() != 0) {
		msgr_log(MSGR_LOG_ERROR, "FastCGI initialisation failed");
		goto out;
	}
	if ((th = calloc(p->threads, sizeof(*th))) == NULL) {
		msgr_log(MSGR_LOG_ERROR, "out of memory starting %u threads", p->threads);
		goto out;
	}
	if ((n = start_threads(p, th)) == 0)
		goto out;
	if (p->started != NULL)
		p->started(p->arg, n);
	wait_for_stop(p, &stops);
	stop_threads(p, th);
	status = 0;
out:
	for (i = 0; th != NULL && i < p->threads; i++) {
		if (th[i].started) {
			pthread_join(th[i].tid, NULL);
			FCGX_Free(th[i].fr, 1);
		}
	}
	free(th);
	if (running != NULL)
		*running = n;
	return status;
}
