/* fcgi_work.c — the worker inside the responder, after each answer has gone: one thread of
 * the process leads a run, on a store handle that never holds up a commit; with several
 * threads on SQLite, it works the run as fibers, each a worker of its own on that handle. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "options.h"
#include "responder.h"

/* How often an idle responder still looks for due retries, when no new event came. */
#define WORK_POLL_MS 1000
/* A fiber other than the first works in slices this long, looking between them whether the
 * intake is busy. */
#define HELP_SLICE_MS 50
/* How long such a fiber pauses while the intake is busy. */
#define HELP_PAUSE_MS 5

/* 1 when a run is worked by fibers: several request threads, on SQLite, whose handle fibers
 * can share in turns (PostgreSQL would need a connection each). One thread per process
 * (mod_fcgid) keeps working alone, on the commit's handle. */
static int
helped(const struct responder *rs)
{
	return rs->threads > 1 && rs->store_opt.path != NULL &&
	    (rs->store_opt.backend == NULL || strcmp(rs->store_opt.backend, "sqlite") == 0);
}

/* The store handle the worker uses: with one thread, the commit's (borrowed: nothing else
 * runs); with several, its own, so the worker never holds up a group commit. */
static struct msgr_store *
work_store(struct responder *rs)
{
	struct msgr_store_options opt;
	msgr_result rc;

	if (rs->threads == 1)
		return msgr_commit_borrow(rs->commit);
	if (rs->own_store != NULL)
		return rs->own_store;
	rs->own_err[0] = '\0';
	opt = rs->store_opt;
	opt.errbuf = rs->own_err;
	opt.errbufsz = sizeof(rs->own_err);
	/* With a host committer, its thread checkpoints the WAL (lib/hostcommit.h): the worker's
	 * commits, a few hundred a second beside the committer's, would otherwise each run into
	 * SQLite's own checkpoint past 1,000 pages, with its fsync, holding the write lock. */
	opt.checkpoint_apart = rs->host != NULL && opt.wal;
	rc = msgr_store_open(&opt, &rs->own_store);
	if (rc != MSGR_OK) {
		rs->own_store = NULL;
		msgr_log(MSGR_LOG_WARN, "store %s cannot be opened for the worker: %s%s%s",
		    rs->store_opt.path, msgr_strerror(rc), rs->own_err[0] ? ": " : "", rs->own_err);
		return NULL;
	}
	/* The fibers take turns on it (lib/turns.h); without that, the leader works alone. */
	rs->own_shared = helped(rs) && msgr_store_share(rs->own_store) == MSGR_OK;
	return rs->own_store;
}

/* The fibers' workers (the first's aside), opened on the handle being replaced or closed.
 * Only between runs. */
static void
helpers_close(struct responder *rs)
{
	unsigned i;

	for (i = 1; i < RESPONDER_FIBERS; i++) {
		msgr_worker_close(rs->fibers[i].worker);
		rs->fibers[i].worker = NULL;
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

/* Fiber h's worker and Graph API client (not the first's), opened on the leader's handle on
 * first use and paced with the leader's worker (one page's rate for all). 1 ready. */
static int
helper_ready(struct responder *rs, struct work_fiber *h)
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
		msgr_log(MSGR_LOG_WARN, "worker fiber cannot start: %s %s", msgr_strerror(rc),
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

/* One fiber's part of a run. The first runs the leader's worker for the whole budget, as a
 * run without fibers does, and the others stop once it is done. The others work in slices of
 * HELP_SLICE_MS while the intake is not busy and pause HELP_PAUSE_MS while it is, until a
 * slice finds nothing, the first is done or the time is up. */
static void
work_fiber(void *arg)
{
	struct work_fiber *f = arg;
	struct responder *rs = f->rs;
	struct msgr_worker_counts counts;
	long long now;

	if (f == &rs->fibers[0]) {
		f->rc = msgr_worker_run(rs->worker, rs->cfg->worker.budget_ms, &counts);
		rs->fibers_ending = 1;
		return;
	}
	while (!rs->fibers_ending && (now = msgr_clock_mono_ms()) < rs->fibers_end) {
		if (intake_busy(rs)) {
			msgr_fiber_sleep(HELP_PAUSE_MS, 1);
			continue;
		}
		if (msgr_worker_run(f->worker, rs->fibers_end - now < HELP_SLICE_MS ?
		    rs->fibers_end - now : HELP_SLICE_MS, &counts) == MSGR_ERR_STORE) {
			f->rc = MSGR_ERR_STORE;
			return;
		}
		if (counts.jobs == 0)
			return;
	}
}

/* The run as fibers of this thread: the leader's worker and every other fiber's that could
 * be made ready, taking turns on own_store while their Graph API calls overlap (one poll for
 * all, no sleep and wake-up of the kernel's between them). The first fiber's result, or
 * MSGR_ERR_STORE when another's store failed. */
static msgr_result
work_fibers(struct responder *rs)
{
	struct msgr_worker_counts counts;
	void *args[RESPONDER_FIBERS];
	msgr_result rc;
	size_t n, i;

	rs->fibers_end = msgr_clock_mono_ms() + rs->cfg->worker.budget_ms;
	msgr_http_set_deadline(rs->fibers_end);
	rs->fibers_ending = 0;
	for (n = 0; n < RESPONDER_FIBERS; n++) {
		if (n > 0 && !helper_ready(rs, &rs->fibers[n]))
			break;
		rs->fibers[n].rs = rs;
		rs->fibers[n].rc = MSGR_OK;
		args[n] = &rs->fibers[n];
	}
	rc = msgr_fibers_run_kept(&rs->keep, n, work_fiber, args, &responder_stop);
	if (rc == MSGR_ERR_NOMEM)   /* nothing ran: the leader's worker alone */
		return msgr_worker_run(rs->worker, rs->cfg->worker.budget_ms, &counts);
	if (rc != MSGR_OK) {
		/* They waited for each other (a bug, logged): their handle starts afresh. */
		return MSGR_ERR_STORE;
	}
	for (i = 1; i < n; i++)
		if (rs->fibers[i].rc == MSGR_ERR_STORE && rs->fibers[0].rc == MSGR_OK)
			return MSGR_ERR_STORE;
	return rs->fibers[0].rc;
}

/* ---- one run of fibers on the host at a time ----
 *
 * Each process's run takes turns on SQLite's one write lock with the host committer's
 * transactions, and two processes' runs with each other as well: at 800 webhooks a second
 * behind the lighttpd snippet's pool they answered 1.1 to 1.6 times as many events with only
 * one of them working (docs/benchmarks.md). A run takes the lock file STATE-work.lock first;
 * a process that finds it taken leaves the events it stored to the run that holds it. That
 * run may already have looked at the queue for the last time, so every process counts its
 * coming in the file (host_asks, before it tries the lock) and the run, once it has let the
 * lock go, runs again when the count moved since it took it: an event stored before its
 * process came is either seen by the run or brings it back, and one stored after finds the
 * lock free. */

#define WORK_LOCK_SUFFIX "-work.lock"

/* The lock file and its count, opened on first use; -1 when they cannot be (each process
 * then runs its own, as without them). */
static int
host_open(struct responder *rs)
{
	char path[4096];
	void *map;
	int fd;

	if (rs->host_fd != -2)
		return rs->host_fd;
	rs->host_fd = -1;
	if (snprintf(path, sizeof(path), "%s%s", rs->store_opt.path, WORK_LOCK_SUFFIX) >=
	    (int)sizeof(path))
		return -1;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		msgr_log(MSGR_LOG_WARN, "worker: cannot open %s (%s): each process runs its own",
		    path, strerror(errno));
		return -1;
	}
	map = MAP_FAILED;
	if (ftruncate(fd, (off_t)sizeof(*rs->host_asks)) == 0)
		map = mmap(NULL, sizeof(*rs->host_asks), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		msgr_log(MSGR_LOG_WARN, "worker: cannot map %s (%s): each process runs its own",
		    path, strerror(errno));
		close(fd);
		return -1;
	}
	rs->host_asks = map;
	return rs->host_fd = fd;
}

static void
host_close(struct responder *rs)
{
	if (rs->host_asks != NULL)
		munmap((void *)rs->host_asks, sizeof(*rs->host_asks));
	if (rs->host_fd >= 0)
		close(rs->host_fd);
	rs->host_asks = NULL;
	rs->host_fd = -2;
}

/* The host's turn for a run: 1 taken (*seen: the count then), 0 another process holds it. */
static int
host_take(struct responder *rs, int fd, unsigned long *seen)
{
	atomic_fetch_add(rs->host_asks, 1);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0)
		return 0;
	*seen = atomic_load(rs->host_asks);
	return 1;
}

/* Lets the turn go; 1 when a process came for it meanwhile (run again). */
static int
host_give(struct responder *rs, int fd, unsigned long seen)
{
	(void)flock(fd, LOCK_UN);
	return atomic_load(rs->host_asks) != seen;
}

/* The run as fibers, on the host's turn: again as long as a process came meanwhile. */
static msgr_result
work_fibers_on_host(struct responder *rs)
{
	unsigned long seen = 0;
	msgr_result rc;
	int fd = host_open(rs);

	if (fd < 0)
		return work_fibers(rs);
	do {
		if (!host_take(rs, fd, &seen))
			return MSGR_OK;
		rc = work_fibers(rs);
	} while (host_give(rs, fd, seen) && rc == MSGR_OK && !atomic_load(&responder_stop));
	return rc;
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
	/* Every Graph and Bot API call of a run ends within the budget (docs/worker.md
	 * "Budget"): the process is the web server's, not the bot's. A run of fibers sets its
	 * own deadline, each time it runs again on the host's turn. */
	if (rs->threads > 1 && rs->own_shared) {
		rc = work_fibers_on_host(rs);
	} else {
		msgr_http_set_deadline(msgr_clock_mono_ms() + rs->cfg->worker.budget_ms);
		rc = msgr_worker_run(rs->worker, rs->cfg->worker.budget_ms, &counts);
	}
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
fcgi_work_close(struct responder *rs)
{
	unsigned i;

	msgr_fibers_keep_free(&rs->keep);
	host_close(rs);
	for (i = 1; i < RESPONDER_FIBERS; i++) {
		msgr_worker_close(rs->fibers[i].worker);
		msgr_graph_close(rs->fibers[i].graph);
		rs->fibers[i].worker = NULL;
		rs->fibers[i].graph = NULL;
	}
}
