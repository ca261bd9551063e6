/* fcgi_work.c — the worker inside the responder, after each answer has gone: one thread of
 * the process at a time, on a store handle that never holds up a commit. */
#include <stdlib.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "options.h"
#include "responder.h"

/* How often an idle responder still looks for due retries, when no new event came. */
#define WORK_POLL_MS 1000

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
	}
	return rs->own_store;
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
		msgr_store_close(rs->own_store);
		rs->own_store = NULL;
	}
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
	rc = msgr_worker_run(rs->worker, rs->cfg->worker.budget_ms, &counts);
	msgr_http_set_deadline(0);
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
 * verifications or duplicates costs no extra transaction. With several threads one runs it
 * while the others keep answering; a thread finding it busy goes back to accept, and the
 * one working looks at work_pending again after it lets go, so no new event is left
 * waiting for the next request. Never once a stop is pending: the pool and cron take it. */
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
