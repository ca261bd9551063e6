/* fcgi_work.c — the worker inside the responder, after each answer has gone: one thread of
 * the process leads a run, on a store handle that never holds up a commit; with several
 * threads on SQLite, one process of the host at a time, and a few more of its threads join. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "options.h"
#include "responder.h"

/* How often an idle responder still looks for due retries, when no new event came. */
#define WORK_POLL_MS 1000
/* The host's worker lock, beside the state file. */
#define WORKER_LOCK_SUFFIX "-worker.lock"
/* How often a run waiting for another process's run to end looks again. */
#define LOCK_WAIT_STEP_MS 2

/* 1 when runs take the host's worker lock and helpers join them: several threads on SQLite.
 * Workers of several processes on one SQLite file wait for each other's write lock, and four
 * of them answered fewer events together than one process's threads taking turns on one
 * handle (docs/benchmarks.md); one thread per process (mod_fcgid) keeps working alone, as
 * it must answer its own requests too. */
static int
host_runs(const struct responder *rs)
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
	rs->own_shared = host_runs(rs) && msgr_store_share(rs->own_store) == MSGR_OK;
	return rs->own_store;
}

/* The helpers' workers, opened on the handle being replaced or closed; every helper's mutex
 * is held. */
static void
helpers_close(struct responder *rs)
{
	unsigned i;

	for (i = 0; i < RESPONDER_HELPERS; i++) {
		msgr_worker_close(rs->helpers[i].worker);
		rs->helpers[i].worker = NULL;
	}
}

/* Waits for every helper's run to end and keeps them out (1), or lets them in again (0). */
static void
helpers_hold(struct responder *rs, int hold)
{
	unsigned i;

	for (i = 0; i < RESPONDER_HELPERS; i++) {
		if (hold)
			pthread_mutex_lock(&rs->helpers[i].mu);
		else
			pthread_mutex_unlock(&rs->helpers[i].mu);
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
		helpers_hold(rs, 1);
		helpers_close(rs);
		helpers_hold(rs, 0);
		msgr_store_close(rs->own_store);
		rs->own_store = NULL;
	}
}

/* Takes the host's worker lock, waiting while another process's run holds it: at most twice
 * worker.budget_ms (a run ends within one), or until a stop. 1 taken (or working alone: the
 * lock file cannot be opened, said once); 0 not: the run going on elsewhere takes the work,
 * or the next request here does. */
static int
worker_lock(struct responder *rs)
{
	struct timespec step = { 0, LOCK_WAIT_STEP_MS * 1000000L };
	char path[4096];
	long long until;
	int n;

	if (rs->worker_lock_fd == -2)
		return 1;
	if (rs->worker_lock_fd < 0) {
		n = snprintf(path, sizeof(path), "%s%s", rs->store_opt.path, WORKER_LOCK_SUFFIX);
		if (n < 0 || (size_t)n >= sizeof(path) ||
		    (rs->worker_lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
			msgr_log(MSGR_LOG_WARN, "worker lock %s%s cannot be opened (%s): this process's "
			    "worker runs beside the others'", rs->store_opt.path, WORKER_LOCK_SUFFIX,
			    n < 0 || (size_t)n >= sizeof(path) ? "path too long" : strerror(errno));
			rs->worker_lock_fd = -2;
			return 1;
		}
	}
	until = msgr_clock_mono_ms() + 2LL * rs->cfg->worker.budget_ms;
	for (;;) {
		if (flock(rs->worker_lock_fd, LOCK_EX | LOCK_NB) == 0)
			return 1;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			msgr_log(MSGR_LOG_WARN, "worker lock: %s: working without it", strerror(errno));
			return 1;
		}
		if (atomic_load(&responder_stop) || msgr_clock_mono_ms() >= until)
			return 0;
		nanosleep(&step, NULL);
	}
}

static void
worker_unlock(struct responder *rs)
{
	if (rs->worker_lock_fd >= 0)
		(void)flock(rs->worker_lock_fd, LOCK_UN);
}

/* One worker run within cfg->worker.budget_ms; work_mu is held. */
static void
work_once(struct responder *rs)
{
	struct msgr_graph_options gopt;
	struct msgr_worker_counts counts;
	struct msgr_store *st;
	char *errors = NULL;
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
		helpers_hold(rs, 1);
		helpers_close(rs);
		helpers_hold(rs, 0);
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
	atomic_store(&rs->helper_failed, 0);
	if (rs->threads > 1 && rs->own_shared)
		atomic_store(&rs->work_active, 1);
	rc = msgr_worker_run(rs->worker, rs->cfg->worker.budget_ms, &counts);
	msgr_http_set_deadline(0);
	if (atomic_exchange(&rs->work_active, 0)) {
		/* The run ends with its helpers': their handle may be closed next. */
		helpers_hold(rs, 1);
		helpers_hold(rs, 0);
		if (rc == MSGR_OK && atomic_load(&rs->helper_failed))
			rc = MSGR_ERR_STORE;
	}
	if (rc == MSGR_ERR_STORE) {
		/* Reopened on next use, as after a failed enqueue. */
		msgr_worker_close(rs->worker);
		rs->worker = NULL;
	}
	work_store_done(rs, rc == MSGR_ERR_STORE);
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

/* A thread finding the run led by another joins it when a helper's place is free: the run's
 * store work takes turns on one handle while the Graph API calls of each thread overlap. */
static void
help(struct responder *rs)
{
	struct msgr_worker_counts counts;
	struct work_helper *h;
	unsigned i;

	if (!atomic_load(&rs->work_active))
		return;
	for (i = 0; i < RESPONDER_HELPERS; i++) {
		h = &rs->helpers[i];
		if (pthread_mutex_trylock(&h->mu) != 0)
			continue;
		/* Looked at again with the place held: a leader ending the run holds every place
		 * before it touches the handle. */
		if (atomic_load(&rs->work_active) && helper_ready(rs, h)) {
			msgr_http_set_deadline(msgr_clock_mono_ms() + rs->cfg->worker.budget_ms);
			if (msgr_worker_run(h->worker, rs->cfg->worker.budget_ms, &counts) ==
			    MSGR_ERR_STORE)
				atomic_store(&rs->helper_failed, 1);
			msgr_http_set_deadline(0);
		}
		pthread_mutex_unlock(&h->mu);
		return;
	}
}

/* A run led by this thread (work_mu held): with host_runs, once this process holds the host's
 * worker lock. */
static void
work_led(struct responder *rs)
{
	if (!host_runs(rs)) {
		work_once(rs);
		return;
	}
	if (!worker_lock(rs))
		return;
	work_once(rs);
	worker_unlock(rs);
}

/* The worker runs here, after the web server has released Facebook's connection
 * (FCGX_Finish_r / stdout closed), within cfg->worker.budget_ms (docs/worker.md).
 * budget_ms 0 leaves the work to `msgrctl worker` or `msgrctl drain`. It runs when a
 * request stored new events, or at most every WORK_POLL_MS for due retries, so a flood of
 * verifications or duplicates costs no extra transaction. With several threads one leads it
 * while the others keep answering; a thread finding it busy joins it as a helper when there
 * is a place (host_runs) or goes back to accept, and the one leading looks at work_pending
 * again after it lets go, so no new event is left waiting for the next request. Never once a
 * stop is pending: the pool and cron take it. */
void
fcgi_after_response(struct responder *rs)
{
	long long now;

	if (rs->cfg == NULL || rs->cfg->worker.budget_ms <= 0)
		return;
	for (;;) {
		if (atomic_load(&responder_stop))
			return;
		if (pthread_mutex_trylock(&rs->work_mu) != 0) {
			help(rs);
			return;
		}
		now = msgr_clock_mono_ms();
		if (atomic_exchange(&rs->work_pending, 0) || now - rs->last_work >= WORK_POLL_MS) {
			rs->last_work = now;
			work_led(rs);
		}
		pthread_mutex_unlock(&rs->work_mu);
		if (!atomic_load(&rs->work_pending))
			return;
	}
}
