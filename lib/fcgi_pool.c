/* fcgi_pool.c — request threads on the FastCGI socket and their stop (lib/fcgi_pool.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fcgi_io.h"
#include "fcgi_pool.h"
#include "log.h"

/* Where a request thread is, for the log line of a stop that takes long. */
enum phase { PHASE_ACCEPT = 0, PHASE_SERVE, PHASE_FINISH, PHASE_AFTER, PHASE_WAIT };
static const char *const phase_names[] = { "accept", "serve", "finish", "after-response work",
	"wait for a request object" };

/* The request objects and the kept requests. One mutex: a request thread takes it only when
 * serve kept its object, a release once per kept request. */
struct msgr_fcgi_pool_state {
	pthread_mutex_t mu;
	pthread_cond_t freed;          /* an object came back, or a stop */
	pthread_cond_t nudged_cv;      /* a nudge, or a stop */
	FCGX_Request **all;            /* threads + spare, for the end */
	FCGX_Request **free;           /* objects no thread holds */
	unsigned nall, nfree;
	int kept;                      /* kept by serve and not released (a release may come
	                                  before the count: briefly negative) */
	atomic_int nudged;             /* a nudge not yet taken by the pool's thread */
	pthread_t after_tid;
	int after_started;
};

struct pool_thread {
	struct msgr_fcgi_pool *p;
	unsigned index;
	pthread_t tid;
	int started;
	FCGX_Request *fr;
	atomic_int in_accept;          /* waiting for a connection: the stop wakes it */
	atomic_int finished;           /* left its loop */
	atomic_int phase;
};

/* A free request object, waiting for one; NULL once a stop is pending. */
static FCGX_Request *
object_take(struct msgr_fcgi_pool *p)
{
	struct msgr_fcgi_pool_state *st = p->state;
	FCGX_Request *fr = NULL;

	pthread_mutex_lock(&st->mu);
	while (st->nfree == 0 && !atomic_load(p->stop))
		pthread_cond_wait(&st->freed, &st->mu);
	if (!atomic_load(p->stop) && st->nfree > 0)
		fr = st->free[--st->nfree];
	pthread_mutex_unlock(&st->mu);
	return fr;
}

static void
object_put(struct msgr_fcgi_pool_state *st, FCGX_Request *fr, int kept)
{
	pthread_mutex_lock(&st->mu);
	st->free[st->nfree++] = fr;
	st->kept -= kept;
	pthread_cond_broadcast(&st->freed);
	pthread_mutex_unlock(&st->mu);
}

void
msgr_fcgi_pool_release(struct msgr_fcgi_pool *p, FCGX_Request *fr)
{
	msgr_fcgi_finish(fr);
	object_put(p->state, fr, 1);
}

void
msgr_fcgi_pool_nudge(struct msgr_fcgi_pool *p)
{
	struct msgr_fcgi_pool_state *st = p->state;

	/* Once until the thread takes it: a burst of nudges costs one wake. The signal under the
	 * mutex: the thread cannot be between its look at the flag and its wait. */
	if (atomic_exchange(&st->nudged, 1))
		return;
	pthread_mutex_lock(&st->mu);
	pthread_cond_signal(&st->nudged_cv);
	pthread_mutex_unlock(&st->mu);
}

/* The pool's own thread: `after` on a nudge. A request thread waiting in accept cannot be
 * relied on for it: a wake signal landing just before accept(2) would be lost. */
static void *
after_thread(void *arg)
{
	struct msgr_fcgi_pool *p = arg;
	struct msgr_fcgi_pool_state *st = p->state;

	for (;;) {
		pthread_mutex_lock(&st->mu);
		while (!atomic_load(&st->nudged) && !atomic_load(p->stop))
			pthread_cond_wait(&st->nudged_cv, &st->mu);
		atomic_store(&st->nudged, 0);
		pthread_mutex_unlock(&st->mu);
		if (atomic_load(p->stop))
			break;
		p->after(p->arg, p->threads);
	}
	return NULL;
}

/* One request thread. Every signal the pool blocked stays blocked here (the mask is
 * inherited) except the wake signal while waiting in accept. */
static void *
request_thread(void *arg)
{
	struct pool_thread *t = arg;
	struct msgr_fcgi_pool *p = t->p;
	sigset_t wake;
	int rc, kept;

	sigemptyset(&wake);
	sigaddset(&wake, MSGR_FCGI_WAKE_SIGNAL);
	for (;;) {
		if (atomic_load(p->stop))
			break;
		if (t->fr == NULL) {
			atomic_store(&t->phase, PHASE_WAIT);
			if ((t->fr = object_take(p)) == NULL)
				break;
		}
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
		kept = p->serve(p->arg, t->index, t->fr) == 1 && p->spare > 0;
		if (kept) {
			/* Its release may already have come: the count goes negative until here. */
			pthread_mutex_lock(&p->state->mu);
			p->state->kept++;
			pthread_mutex_unlock(&p->state->mu);
			t->fr = NULL;
		} else {
			atomic_store(&t->phase, PHASE_FINISH);
			msgr_fcgi_finish(t->fr);
		}
		atomic_store(&t->phase, PHASE_AFTER);
		if (p->after != NULL)
			p->after(p->arg, t->index);
	}
	if (t->fr != NULL)
		object_put(p->state, t->fr, 0);
	t->fr = NULL;
	atomic_store(&t->finished, 1);
	return NULL;
}

/* Every request object, initialised: thread i's is object i, the spares are free. 0, or -1
 * (logged; those initialised are in st->all). */
static int
objects_init(struct msgr_fcgi_pool *p, struct msgr_fcgi_pool_state *st)
{
	unsigned i, n = p->threads + p->spare;

	if ((st->all = calloc(n, sizeof(*st->all))) == NULL ||
	    (st->free = calloc(n, sizeof(*st->free))) == NULL) {
		msgr_log(MSGR_LOG_ERROR, "out of memory for %u request objects", n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		FCGX_Request *fr = p->request(p->arg, i);

		/* Any EINTR ends the accept: libfcgi's own loop retries an interrupted accept
		 * unless it sees its shutdown flag, a plain static int it may never read again
		 * once inside; seen under load as a thread woken every 20 ms yet kept in accept
		 * for seconds after a stop. Whether to stop is decided here instead. */
		if (FCGX_InitRequest(fr, 0, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
			msgr_log(MSGR_LOG_ERROR, "FastCGI initialisation failed");
			return -1;
		}
		st->all[st->nall++] = fr;
		if (i >= p->threads)
			st->free[st->nfree++] = fr;
	}
	return 0;
}

/* Starts the threads of th; returns how many run. */
static unsigned
start_threads(struct msgr_fcgi_pool *p, struct pool_thread *th)
{
	unsigned i, running = 0;
	int err;

	for (i = 0; i < p->threads; i++) {
		th[i].p = p;
		th[i].index = i;
		th[i].fr = p->state->all[i];
		if ((err = pthread_create(&th[i].tid, NULL, request_thread, &th[i])) != 0) {
			msgr_log(MSGR_LOG_ERROR, "cannot start request thread %u: error %d", i, err);
			/* Free for the others to take. */
			object_put(p->state, th[i].fr, 0);
			break;
		}
		th[i].started = 1;
		running++;
	}
	if (running > 0 && p->spare > 0 && p->after != NULL) {
		if ((err = pthread_create(&p->state->after_tid, NULL, after_thread, p)) != 0)
			msgr_log(MSGR_LOG_WARN, "no thread for nudged work (error %d): it waits for "
			    "the next request", err);
		else
			p->state->after_started = 1;
	}
	if (running > 0 && running < p->threads)
		msgr_log(MSGR_LOG_WARN, "serving with %u of %u threads", running, p->threads);
	return running;
}

/* Waits for a stop signal (blocked everywhere, so no handler runs mid-request), or for a
 * thread to have set the stop. */
static void
wait_for_stop(struct msgr_fcgi_pool *p, const sigset_t *stops)
{
	struct timespec tick = { 0, 200 * 1000000L };

	while (!atomic_load(p->stop)) {
		if (sigtimedwait(stops, NULL, &tick) > 0)
			break;
	}
	atomic_store(p->stop, 1);
}

/* Before an _exit: nothing will join the threads now. Detached, a thread that has ended or
 * ends before the exit is not a leak (ThreadSanitizer exits 66 on one). */
static void
detach_all(struct msgr_fcgi_pool *p, struct pool_thread *th)
{
	unsigned i;

	for (i = 0; th != NULL && i < p->threads; i++)
		if (th[i].started)
			pthread_detach(th[i].tid);
	if (p->state->after_started)
		pthread_detach(p->state->after_tid);
}

/* Wakes the threads blocked in accept until every one has left its loop: libfcgi's accept
 * gives up on EINTR once a shutdown is pending, and the wake is repeated because a thread
 * may be between its stop check and accept(2). Past grace_ms the process exits. */
static void
stop_threads(struct msgr_fcgi_pool *p, struct pool_thread *th)
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
		/* Threads waiting for a request object, and the nudged thread, wake too. */
		pthread_mutex_lock(&p->state->mu);
		pthread_cond_broadcast(&p->state->freed);
		pthread_cond_broadcast(&p->state->nudged_cv);
		pthread_mutex_unlock(&p->state->mu);
		if (left > 0 && msgr_clock_mono_ms() - stop_at > p->grace_ms) {
			msgr_log(MSGR_LOG_WARN, "stopping: %d threads still busy after %d ms, exiting "
			    "anyway%s", left, p->grace_ms, p->grace_note ? p->grace_note : "");
			detach_all(p, th);
			_exit(0);
		}
		if (left > 0)
			nanosleep(&pause, NULL);
	} while (left > 0);
}

/* Waits until every kept request is released (their answers written by the program's
 * threads); past grace_ms the process exits, as for the request threads. */
static void
wait_kept(struct msgr_fcgi_pool *p, struct pool_thread *th)
{
	struct msgr_fcgi_pool_state *st = p->state;
	struct timespec pause = { 0, 5 * 1000000L };
	long long stop_at = msgr_clock_mono_ms();
	int kept;

	for (;;) {
		pthread_mutex_lock(&st->mu);
		kept = st->kept;
		pthread_mutex_unlock(&st->mu);
		if (kept <= 0)
			return;
		if (msgr_clock_mono_ms() - stop_at > p->grace_ms) {
			msgr_log(MSGR_LOG_WARN, "stopping: %d answers still pending after %d ms, "
			    "exiting anyway%s", kept, p->grace_ms, p->grace_note ? p->grace_note : "");
			detach_all(p, th);
			_exit(0);
		}
		nanosleep(&pause, NULL);
	}
}

int
msgr_fcgi_pool_run(struct msgr_fcgi_pool *p, unsigned *running)
{
	struct msgr_fcgi_pool_state st;
	struct pool_thread *th = NULL;
	sigset_t stops, blocked;
	unsigned i, n = 0;
	int status = 1, sync_ok = 0;

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
	memset(&st, 0, sizeof(st));
	p->state = &st;
	if (pthread_mutex_init(&st.mu, NULL) != 0)
		goto out;
	if (pthread_cond_init(&st.freed, NULL) != 0) {
		pthread_mutex_destroy(&st.mu);
		goto out;
	}
	if (pthread_cond_init(&st.nudged_cv, NULL) != 0) {
		pthread_cond_destroy(&st.freed);
		pthread_mutex_destroy(&st.mu);
		goto out;
	}
	sync_ok = 1;
	if (objects_init(p, &st) != 0)
		goto out;
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
	wait_kept(p, th);
	status = 0;
out:
	atomic_store(p->stop, 1);
	for (i = 0; th != NULL && i < p->threads; i++)
		if (th[i].started)
			pthread_join(th[i].tid, NULL);
	if (st.after_started) {
		pthread_mutex_lock(&st.mu);
		pthread_cond_broadcast(&st.nudged_cv);
		pthread_mutex_unlock(&st.mu);
		pthread_join(st.after_tid, NULL);
	}
	for (i = 0; i < st.nall; i++)
		FCGX_Free(st.all[i], 1);
	free(st.all);
	free(st.free);
	free(th);
	if (sync_ok) {
		pthread_cond_destroy(&st.nudged_cv);
		pthread_cond_destroy(&st.freed);
		pthread_mutex_destroy(&st.mu);
	}
	p->state = NULL;
	if (running != NULL)
		*running = n;
	return status;
}
