/* fcgi_work.c — the worker inside the responder, after each answer has gone: one thread of
 * the process leads a run, on a store handle that never holds up a commit; with several
 * threads on SQLite, three helper threads of the process work it beside the leader. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "options.h"
#include "responder.h"

/* How often an idle responder still looks for due retries, when no new event came. */
#define WORK_POLL_MS 1000
/* A helper works in slices this long, looking between them whether the intake is busy. */
#define HELP_SLICE_MS 50
/* How long a helper pauses while the intake is busy. */
#define HELP_PAUSE_MS 5

/* 1 when helpers work each run beside its leader: several request threads, on SQLite, whose
 * handle threads can share in turns (PostgreSQL would need a connection each). One thread
 * per process (mod_fcgid) keeps working alone. */
static int
helped(const struct responder *rs)
{
	return rs->threads > 1 && rs->helpers_ok && rs->store_opt.path != NULL &&
	    (rs->store_opt.backend == NULL || strcmp(rs->store_opt.backend, "sqlite") == 0);
}

/* The store handle the worker uses: with one thread, the commit's (borrowed: nothing else
 * runs); with several, its own, so the worker never holds up a group commit. */
static struct msgr_store *
work_store(struct responder *rs)
{
	msgr_result rc;

	if (rs->threads == 1)
		return msgr_commit_borrow(rs->commit);
	if (rs->own_store != NULL)
		return rs->own_store;
	rs->own_err[0] = '\0';
	rs->store_opt.errbuf = rs->own_err;
	rs->store_opt.errbufsz = sizeof(rs->own_err);
	rc = msgr_store_open(&rs->store_opt, &rs->own_store);
	if (rc != MSGR_OK) {
		rs->own_store = NULL;
		msgr_log(MSGR_LOG_WARN, "store %s cannot be opened for the worker: %s%s%s",
		    rs->store_opt.path, msgr_strerror(rc), rs->own_err[0] ? ": " : "", rs->own_err);
		return NULL;
	}
	/* Helpers take turns on it (lib/turns.h); without that, the leader works alone. */
	rs->own_shared = helped(rs) && msgr_store_share(rs->own_store) == MSGR_OK;
	return rs->own_store;
}

/* The helpers' workers, opened on the handle being replaced or closed. Only between runs,
 * when every helper waits for the next (a run ends with its helpers'). */
static void
helpers_close(struct responder *rs)
{
	unsigned i;

	for (i = 0; i < RESPONDER_HELPERS; i++) {
		msgr_worker_close(rs->helpers[i].worker);
		rs->helpers[i].worker = NULL;
	}
}

/* Done with the handle; failed: it hit MSGR_ERR_STORE and is reopened on next use. */
static void
work_store_done(struct responder *rs, int failed)
{
	if (rs->threads == 1) {
		msgr_commit_giveback(rs->commit, failed);
		return;
	}
	if (failed && rs->own_store != NULL) {
		helpers_close(rs);
		msgr_store_close(rs->own_store);
		rs->own_store = NULL;
	}
}

/* A helper's worker and Graph API client, opened on the leader's handle on first use and
 * paced with the leader's worker (one page's rate for all). 1 ready. */
static int
helper_ready(struct responder *rs, struct work_helper *h)
{
	struct msgr_graph_options gopt;
	char *errors = NULL;
	msgr_result rc;

	if (h->graph == NULL) {
		msgr_options_graph(rs->cfg, &gopt);
		if (msgr_graph_open(&gopt, &h->graph) != MSGR_OK) {
			h->graph = NULL;
			return 0;
		}
	}
	if (h->worker != NULL)
		return 1;
	rc = msgr_worker_open(rs->cfg, rs->own_store, h->graph, NULL, NULL, &h->worker, &errors);
	if (rc == MSGR_OK && (rc = msgr_worker_pace_with(h->worker, rs->worker)) != MSGR_OK) {
		msgr_worker_close(h->worker);
		h->worker = NULL;
	}
	if (rc != MSGR_OK) {
		msgr_log(MSGR_LOG_WARN, "worker helper cannot start: %s %s", msgr_strerror(rc),
		    errors ? errors : "");
		free(errors);
		h->worker = NULL;
		return 0;
	}
	return 1;
}

/* 1 while more than half of the request threads are serving: the host is busy taking
 * webhooks, whose acknowledgement comes first (Facebook sends again what is not acknowledged
 * and gives up on a webhook that keeps failing); answers can wait in the queue. At 3,300
 * webhooks a second, helpers working regardless took a third of the intake; pausing when a
 * quarter served already held them back at 500 a second (docs/benchmarks.md). */
static int
intake_busy(struct responder *rs)
{
	return atomic_load(&rs->serving) * 2 > rs->threads;
}

/* A helper's part of the run ending at end (monotonic ms): slices of HELP_SLICE_MS while the
 * intake is not busy, a pause of HELP_PAUSE_MS while it is, until a slice finds nothing, the
 * leader is done or the time is up. 1 on a store failure. */
static int
help_run(struct responder *rs, struct work_helper *h, long long end)
{
	struct msgr_worker_counts counts;
	struct timespec until;
	long long now;
	int ending = 0, busy;

	while (!ending && (now = msgr_clock_mono_ms()) < end) {
		if (!(busy = intake_busy(rs))) {
			if (msgr_worker_run(h->worker, end - now < HELP_SLICE_MS ? end - now :
			    HELP_SLICE_MS, &counts) == MSGR_ERR_STORE)
				return 1;
			if (counts.jobs == 0)
				return 0;
		}
		pthread_mutex_lock(&rs->help_mu);
		if (busy && !rs->help_ending) {
			msgr_clock_mono_timespec(&until, now + HELP_PAUSE_MS);
			(void)pthread_cond_timedwait(&rs->help_go, &rs->help_mu, &until);
		}
		ending = rs->help_ending;
		pthread_mutex_unlock(&rs->help_mu);
	}
	return 0;
}

/* A helper's thread: waits for a run to begin, works it beside the leader until the queue is
 * empty or the budget spent, says it is done, and waits again, until the process stops. The
 * run's store work takes turns on the leader's handle while the Graph API calls of each
 * thread overlap. Its signal mask is the request thread's that started it: no stop signal,
 * and no wake. */
static void *
helper_main(void *arg)
{
	struct work_helper *h = arg;
	struct responder *rs = h->rs;
	long long end;
	int failed;

	for (;;) {
		pthread_mutex_lock(&rs->help_mu);
		while (rs->help_gen == h->seen && !rs->help_stop)
			pthread_cond_wait(&rs->help_go, &rs->help_mu);
		if (rs->help_stop) {
			pthread_mutex_unlock(&rs->help_mu);
			return NULL;
		}
		h->seen = rs->help_gen;
		end = rs->help_began + rs->cfg->worker.budget_ms;
		pthread_mutex_unlock(&rs->help_mu);
		failed = 0;
		if (helper_ready(rs, h)) {
			msgr_http_set_deadline(end);
			failed = help_run(rs, h, end);
			msgr_http_set_deadline(0);
		}
		pthread_mutex_lock(&rs->help_mu);
		rs->help_failed |= failed;
		if (--rs->help_busy == 0)
			pthread_cond_signal(&rs->help_done);
		pthread_mutex_unlock(&rs->help_mu);
	}
}

/* Starts the helpers' threads not started yet (on the first run) and sets them all to work
 * on the run beginning; returns how many work. */
static unsigned
helpers_begin(struct responder *rs)
{
	struct work_helper *h;
	unsigned i, n = 0;
	int err;

	for (i = 0; i < RESPONDER_HELPERS; i++) {
		h = &rs->helpers[i];
		if (!h->started && !rs->help_refused) {
			h->rs = rs;
			h->seen = rs->help_gen;   /* before it runs: it must not miss this run */
			if ((err = pthread_create(&h->tid, NULL, helper_main, h)) != 0) {
				msgr_log(MSGR_LOG_WARN, "worker helper thread cannot start (error %d): "
				    "the runs go on with %u", err, n);
				rs->help_refused = 1;
			} else {
				h->started = 1;
			}
		}
		n += (unsigned)h->started;
	}
	pthread_mutex_lock(&rs->help_mu);
	rs->help_failed = 0;
	rs->help_busy = n;
	rs->help_ending = 0;
	rs->help_began = msgr_clock_mono_ms();
	rs->help_gen++;
	pthread_cond_broadcast(&rs->help_go);
	pthread_mutex_unlock(&rs->help_mu);
	return n;
}

/* Waits for every helper's run to end; 1 when one hit a store failure. */
static int
helpers_end(struct responder *rs)
{
	int failed;

	pthread_mutex_lock(&rs->help_mu);
	rs->help_ending = 1;                   /* the paused ones need not wait on */
	pthread_cond_broadcast(&rs->help_go);
	while (rs->help_busy > 0)
		pthread_cond_wait(&rs->help_done, &rs->help_mu);
	failed = rs->help_failed;
	pthread_mutex_unlock(&rs->help_mu);
	return failed;
}

/* One worker run within cfg->worker.budget_ms; work_mu is held. */
static void
work_once(struct responder *rs)
{
	struct msgr_graph_options gopt;
	struct msgr_worker_counts counts;
	struct msgr_store *st;
	char *errors = NULL;
	unsigned helping;
	msgr_result rc;

	if (rs->graph == NULL) {
		msgr_options_graph(rs->cfg, &gopt);
		if ((rc = msgr_graph_open(&gopt, &rs->graph)) != MSGR_OK) {
			msgr_log(MSGR_LOG_ERROR, "graph client cannot start: %s", msgr_strerror(rc));
			return;
		}
	}
	if ((st = work_store(rs)) == NULL)
		return;
	if (rs->worker != NULL && rs->worker_store != st) {
		helpers_close(rs);
		msgr_worker_close(rs->worker);
		rs->worker = NULL;
	}
	if (rs->worker == NULL) {
		rc = msgr_worker_open(rs->cfg, st, rs->graph, NULL, NULL, &rs->worker, &errors);
		if (rc != MSGR_OK) {
			msgr_log(MSGR_LOG_ERROR, "worker cannot start: %s %s", msgr_strerror(rc),
			    errors ? errors : "");
			free(errors);
			work_store_done(rs, 0);
			return;
		}
		rs->worker_store = st;
	}
	/* Every Graph and Bot API call of the run ends within the budget (docs/worker.md
	 * "Budget"): the process is the web server's, not the bot's. */
	msgr_http_set_deadline(msgr_clock_mono_ms() + rs->cfg->worker.budget_ms);
	helping = rs->threads > 1 && rs->own_shared ? helpers_begin(rs) : 0;
	rc = msgr_worker_run(rs->worker, rs->cfg->worker.budget_ms, &counts);
	msgr_http_set_deadline(0);
	/* The run ends with its helpers': their handle may be closed next. */
	if (helping > 0 && helpers_end(rs) && rc == MSGR_OK)
		rc = MSGR_ERR_STORE;
	if (rc == MSGR_ERR_STORE) {
		/* Reopened on next use, as after a failed enqueue. */
		msgr_worker_close(rs->worker);
		rs->worker = NULL;
	}
	work_store_done(rs, rc == MSGR_ERR_STORE);
}

/* The worker runs here, after the web server has released Facebook's connection
 * (FCGX_Finish_r / stdout closed), within cfg->worker.budget_ms (docs/worker.md).
 * budget_ms 0 leaves the work to `msgrctl worker` or `msgrctl drain`. It runs when a
 * request stored new events, or at most every WORK_POLL_MS for due retries, so a flood of
 * verifications or duplicates costs no extra transaction. With several threads one leads it
 * (with its helpers: helped) while the others keep answering; a thread finding it busy
 * goes back to accept, and the one leading looks at work_pending again after it lets go, so
 * no new event is left waiting for the next request. Never once a stop is pending: the pool
 * and cron take it. */
void
fcgi_after_response(struct responder *rs)
{
	long long now;

	if (rs->cfg == NULL || rs->cfg->worker.budget_ms <= 0)
		return;
	for (;;) {
		if (atomic_load(&responder_stop))
			return;
		if (pthread_mutex_trylock(&rs->work_mu) != 0)
			return;
		now = msgr_clock_mono_ms();
		if (atomic_exchange(&rs->work_pending, 0) || now - rs->last_work >= WORK_POLL_MS) {
			rs->last_work = now;
			work_once(rs);
		}
		pthread_mutex_unlock(&rs->work_mu);
		if (!atomic_load(&rs->work_pending))
			return;
	}
}

void
fcgi_work_init(struct responder *rs)
{
	if (pthread_mutex_init(&rs->help_mu, NULL) != 0)
		return;
	if (msgr_clock_mono_cond_init(&rs->help_go) == 0) {
		if (pthread_cond_init(&rs->help_done, NULL) == 0) {
			rs->helpers_ok = 1;
			return;
		}
		pthread_cond_destroy(&rs->help_go);
	}
	pthread_mutex_destroy(&rs->help_mu);
}

void
fcgi_work_close(struct responder *rs)
{
	unsigned i;

	if (rs->helpers_ok) {
		pthread_mutex_lock(&rs->help_mu);
		rs->help_stop = 1;
		pthread_cond_broadcast(&rs->help_go);
		pthread_mutex_unlock(&rs->help_mu);
	}
	for (i = 0; i < RESPONDER_HELPERS; i++) {
		if (rs->helpers[i].started)
			pthread_join(rs->helpers[i].tid, NULL);
		rs->helpers[i].started = 0;
		msgr_worker_close(rs->helpers[i].worker);
		msgr_graph_close(rs->helpers[i].graph);
		rs->helpers[i].worker = NULL;
		rs->helpers[i].graph = NULL;
	}
	if (rs->helpers_ok) {
		pthread_cond_destroy(&rs->help_done);
		pthread_cond_destroy(&rs->help_go);
		pthread_mutex_destroy(&rs->help_mu);
		rs->helpers_ok = 0;
	}
}
