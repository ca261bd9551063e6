/* ctl_work.c — msgrctl's worker commands, drain, worker, status, replay and send
 * (man/msgrctl.1), and their table. They run the same library code as the responder:
 * lib/worker for the work, lib/intake for replays, lib/message + lib/graph for a direct
 * send. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>   /* mallopt */
#endif

#include "checkpointer.h"
#include "clock.h"
#include "event.h"
#include "fibers.h"
#include "intake.h"
#include "log.h"
#include "message.h"
#include "ctl.h"
#include "msgrctl.h"
#include "options.h"
#include "webhook.h"
#include "worker.h"

#define REPLAY_MAX 1000        /* quarantined bodies looked at in one run */
#define FAILURES_SHOWN 10

/* Set by SIGTERM or SIGINT; read by every thread of `worker --threads` (a lock-free atomic:
 * safe in a signal handler). */
static atomic_int ctl_stop;

static void
on_stop(int sig)
{
	(void)sig;
	atomic_store(&ctl_stop, 1);
}


static void
iso_time(long long ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%lld", ms);
}

/* The handles the worker commands need, opened together and closed together. */
struct work {
	struct msgr_store *st;
	struct msgr_graph *g;
	struct msgr_worker *w;
};

/* The worker's threads allocate and free a few hundred kB an answer (the event, the plan,
 * jansson's trees, HTTP buffers). glibc hands the free top of a thread's heap back to the
 * kernel once it passes 128 kB (an madvise that interrupts every other thread to flush its
 * TLB), and the next answer faults those pages in again: about one madvise every two answers
 * and two page faults an answer, gone when each heap keeps up to 8 MB free (docs/benchmarks.md,
 * "The drain keeps its freed memory"). The commands that work keep it; the responders keep
 * glibc's default, their resident memory being what a pool costs. */
static void
keep_freed_memory(void)
{
#if defined(__GLIBC__) && defined(M_TRIM_THRESHOLD)
	(void)mallopt(M_TRIM_THRESHOLD, 8 << 20);
#endif
}

static int
work_open(struct ctl *ctl, struct work *wk)
{
	char *errors = NULL;
	msgr_result rc;

	memset(wk, 0, sizeof(*wk));
	keep_freed_memory();
	if (ctl_load(ctl) || ctl_open_store(ctl, &wk->st) || ctl_open_graph(ctl, &wk->g))
		return 1;
	if ((rc = msgr_worker_open(ctl->cfg, wk->st, wk->g, NULL, NULL, &wk->w, &errors)) !=
	    MSGR_OK) {
		fprintf(stderr, "msgrctl %s: worker: %s%s%s\n", ctl->cmd->name, msgr_strerror(rc),
		    errors ? ": " : "", errors ? errors : "");
		free(errors);
		return 1;
	}
	return 0;
}

static void
work_close(struct work *wk)
{
	msgr_worker_close(wk->w);
	msgr_graph_close(wk->g);
	msgr_store_close(wk->st);
}

/* s as a whole decimal number in [lo, hi] into *out: 0, or 1 when it is not one. */
static int
parse_int(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return 1;
	*out = v;
	return 0;
}

static int
parse_ms(const char *cmd, const char *s, long long *out)
{
	if (parse_int(s, 0, 86400000LL, out)) {
		fprintf(stderr, "msgrctl %s: not a duration in milliseconds: %.40s\n", cmd, s);
		return 1;
	}
	return 0;
}

/* `drain --threads`, `worker --threads`: at most this many workers share the process's
 * store handle. */
#define WORK_THREADS_MAX 64

/* One worker of a command run with threads: its own Graph client and worker (lib/worker.h).
 * On SQLite the store handle of the first, shared in turns (lib/turns.h): one write lock
 * for the whole store, so the threads gain by sharing its commits. On PostgreSQL a handle of
 * its own (st): the server locks rows, not the store, and each call commits by itself, so
 * the threads run side by side, as processes would. Entry 0 is the command's own (struct
 * work). */
struct team_member {
	struct ctl *ctl;
	struct msgr_graph *g;
	struct msgr_store *st;         /* PostgreSQL: this thread's own; NULL on SQLite */
	struct msgr_checkpointer *ckpt;  /* entry 0 only: the team's, or NULL */
	struct msgr_worker *w;
	long long budget;
	struct msgr_worker_counts n;
	msgr_result rc;
	void *(*fn)(void *);           /* what it runs (team_run) */
	pthread_t tid;
	int started;
};

/* Set by a `worker --threads` thread whose store failed twice running: every thread stops,
 * and the command reopens the store as one worker does. */
static atomic_int team_failed;

static void
counts_add(struct msgr_worker_counts *to, const struct msgr_worker_counts *n)
{
	to->jobs += n->jobs;
	to->sent += n->sent;
	to->retried += n->retried;
	to->failed += n->failed;
	to->echoed += n->echoed;
	to->repeated += n->repeated;
}

/* Shares wk's store and opens threads - 1 more workers on it, each pacing with wk's. NULL
 * (said on stderr) when that failed; free with team_close. On SQLite in WAL mode,
 * checkpoints are left to a thread of their own (lib/checkpointer.h): a commit that ran one
 * would hold the turn of every thread through its fsync. */
static struct team_member *
team_open(struct ctl *ctl, struct work *wk, int threads)
{
	int own = ctl->cfg->state.backend == MSGR_BACKEND_POSTGRESQL;
	struct msgr_store_options o;
	struct team_member *t;
	char *errors = NULL;
	msgr_result rc;
	int i;

	if (!own && (rc = msgr_store_share(wk->st)) != MSGR_OK) {
		fprintf(stderr, "msgrctl %s: store: %s\n", ctl->cmd->name, msgr_strerror(rc));
		return NULL;
	}
	if ((t = calloc((size_t)threads, sizeof(*t))) == NULL) {
		fprintf(stderr, "msgrctl %s: out of memory\n", ctl->cmd->name);
		return NULL;
	}
	msgr_options_store(ctl->cfg, &o);
	if (!own && o.wal && ctl->checkpoint_apart &&
	    msgr_checkpointer_start(&o, "msgr-checkpoint", &t[0].ckpt) != MSGR_OK)
		msgr_log(MSGR_LOG_WARN, "%s: no checkpoint thread; checkpoints run past 40 MB of "
		    "WAL only", ctl->cmd->name);
	for (i = 0; i < threads; i++)
		t[i].ctl = ctl;
	t[0].g = wk->g;
	t[0].w = wk->w;
	for (i = 1; i < threads; i++) {
		if ((own && ctl_open_store(ctl, &t[i].st)) || ctl_open_graph(ctl, &t[i].g))
			break;
		rc = msgr_worker_open(ctl->cfg, own ? t[i].st : wk->st, t[i].g, NULL, NULL,
		    &t[i].w, &errors);
		if (rc == MSGR_OK)
			rc = msgr_worker_pace_with(t[i].w, wk->w);
		if (rc != MSGR_OK) {
			fprintf(stderr, "msgrctl %s: worker: %s%s%s\n", ctl->cmd->name,
			    msgr_strerror(rc), errors ? ": " : "", errors ? errors : "");
			free(errors);
			break;
		}
	}
	if (i < threads) {
		for (; i > 0; i--) {
			msgr_worker_close(t[i].w);
			msgr_graph_close(t[i].g);
			msgr_store_close(t[i].st);
		}
		msgr_checkpointer_stop(t[0].ckpt);
		free(t);
		return NULL;
	}
	return t;
}

/* Closes what team_open opened (entry 0 is the command's own). */
static void
team_close(struct team_member *t, int threads)
{
	int i;

	if (t == NULL)
		return;
	for (i = 1; i < threads; i++) {
		msgr_worker_close(t[i].w);
		msgr_graph_close(t[i].g);
		msgr_store_close(t[i].st);
	}
	msgr_checkpointer_stop(t[0].ckpt);
	free(t);
}

static void
member_fiber(void *arg)
{
	struct team_member *m = arg;

	(void)m->fn(m);
}

/* The members of a team sharing one SQLite handle as fibers of this thread (lib/fibers.h):
 * they take turns on it without the kernel's sleeps and wake-ups, and their Graph calls
 * share one poll. MSGR_OK, or why they could not run (then none ran). */
static msgr_result
team_fibers(struct team_member *t, int threads)
{
	void *args[WORK_THREADS_MAX];
	msgr_result rc;
	int i;

	for (i = 0; i < threads; i++)
		args[i] = &t[i];
	if ((rc = msgr_fibers_run((size_t)threads, member_fiber, args, &ctl_stop)) != MSGR_OK)
		fprintf(stderr, "msgrctl %s: %s\n", t[0].ctl->cmd->name,
		    rc == MSGR_ERR_IO ? "its workers stopped waiting for each other" :
		    "cannot start its workers");
	return rc;
}

/* Runs fn in each member's thread (fibers of this one, when they share a SQLite handle) and
 * waits for them all; sums their counts into *n. The first failure (a member's rc, or one
 * that could not start), or MSGR_OK. */
static msgr_result
team_run(struct team_member *t, int threads, void *(*fn)(void *),
    struct msgr_worker_counts *n)
{
	msgr_result rc = MSGR_OK;
	int i, err, fibers = t[0].ctl->cfg->state.backend != MSGR_BACKEND_POSTGRESQL;

	memset(n, 0, sizeof(*n));
	for (i = 0; i < threads; i++) {
		memset(&t[i].n, 0, sizeof(t[i].n));
		t[i].rc = MSGR_OK;
		t[i].fn = fn;
		t[i].started = 0;
	}
	if (fibers) {
		rc = team_fibers(t, threads);
		/* Stopped waiting for each other (MSGR_ERR_IO): they ran, their counts stand. */
		for (i = 0; i < threads; i++)
			t[i].started = rc == MSGR_OK || rc == MSGR_ERR_IO;
	}
	for (i = 0; i < threads && !fibers; i++) {
		if ((err = pthread_create(&t[i].tid, NULL, fn, &t[i])) != 0) {
			fprintf(stderr, "msgrctl %s: cannot start thread %d: %s\n",
			    t[i].ctl->cmd->name, i, strerror(err));
			rc = MSGR_ERR_NOMEM;
			/* The ones running stop as after a store failure. */
			atomic_store(&team_failed, 1);
			break;
		}
		t[i].started = 1;
	}
	for (i = 0; i < threads; i++) {
		if (!t[i].started)
			continue;
		if (!fibers)
			pthread_join(t[i].tid, NULL);
		counts_add(n, &t[i].n);
		if (t[i].rc != MSGR_OK && rc == MSGR_OK)
			rc = t[i].rc;
	}
	return rc;
}

/* ---- drain ---- */

static void *
drain_thread(void *arg)
{
	struct team_member *m = arg;

	m->rc = msgr_worker_run(m->w, m->budget, &m->n);
	return NULL;
}

/* Runs threads workers over wk's store (the first is wk's own worker); their counts summed
 * into *n. The first failure, or MSGR_OK. */
static msgr_result
drain_threads(struct ctl *ctl, struct work *wk, int threads, long long budget,
    struct msgr_worker_counts *n)
{
	struct team_member *t;
	msgr_result rc;
	int i;

	memset(n, 0, sizeof(*n));
	if ((t = team_open(ctl, wk, threads)) == NULL)
		return MSGR_ERR_STORE;
	for (i = 0; i < threads; i++)
		t[i].budget = budget;
	rc = team_run(t, threads, drain_thread, n);
	team_close(t, threads);
	return rc;
}

/* --threads N of drain and worker: 1 to WORK_THREADS_MAX. */
static int
parse_threads(const char *cmd, const char *s, long long *out)
{
	if (parse_int(s, 1, WORK_THREADS_MAX, out)) {
		fprintf(stderr, "msgrctl %s: --threads is 1 to %d: %.40s\n", cmd, WORK_THREADS_MAX,
		    s);
		return 1;
	}
	return 0;
}

static int
cmd_drain(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTS,
		{ "budget", required_argument, NULL, 'b' },
		{ "threads", required_argument, NULL, 't' }, { NULL, 0, NULL, 0 } };
	struct msgr_worker_counts n;
	struct work wk;
	long long budget = 0, threads = 1;
	msgr_result rc;
	int c, r;

	while ((c = getopt_long(argc, argv, CTL_COMMON_SHORT "b:t:", opts, NULL)) != -1) {
		if (c == 'b') {
			if (parse_ms("drain", optarg, &budget))
				return 1;
		} else if (c == 't') {
			if (parse_threads("drain", optarg, &threads))
				return 1;
		} else if ((r = ctl_option(ctl, c)) >= 0)
			return r;
	}
	if (ctl_too_many(ctl, argc, argv))
		return 1;
	ctl->checkpoint_apart = threads > 1;   /* to the team's checkpointer (team_open) */
	if (work_open(ctl, &wk)) {
		work_close(&wk);
		return 1;
	}
	if (threads > 1)
		rc = drain_threads(ctl, &wk, (int)threads, budget, &n);
	else
		rc = msgr_worker_run(wk.w, budget, &n);
	printf("drained: %zu events, %zu calls sent, %zu retries scheduled, %zu failed\n",
	    n.jobs, n.sent, n.retried, n.failed);
	/* The calls a killed process left of unknown outcome (docs/worker.md, step 4). */
	if (n.echoed > 0 || n.repeated > 0)
		printf("unknown outcomes: %zu found sent by their echo, %zu repeated without one\n",
		    n.echoed, n.repeated);
	if (rc != MSGR_OK)
		fprintf(stderr, "msgrctl drain: %s (%s)\n", msgr_strerror(rc),
		    msgr_store_errmsg(wk.st));
	work_close(&wk);
	return rc == MSGR_OK ? 0 : 1;
}

/* ---- worker ---- */

/* Cut short by a stop (a fiber's by its run's, lib/fibers.h). */
static void
idle_sleep(long long ms)
{
	msgr_fiber_sleep(ms, 1);
}

/* One thread of `worker --threads`: bounded runs until a stop, sleeping worker.idle_ms when
 * there was nothing to do; a store failing twice running stops every thread (team_failed),
 * and the command reopens it. */
static void *
worker_thread(void *arg)
{
	struct team_member *m = arg;
	struct msgr_worker_counts n;
	int failures = 0;

	while (!atomic_load(&ctl_stop) && !atomic_load(&team_failed)) {
		m->rc = msgr_worker_run(m->w, 1000, &n);
		counts_add(&m->n, &n);
		if (m->rc == MSGR_OK) {
			failures = 0;
			if (n.jobs > 0)
				continue;
		} else if (++failures >= 2) {
			atomic_store(&team_failed, 1);
			break;
		}
		idle_sleep(m->ctl->cfg->worker.idle_ms);
	}
	return NULL;
}

/* `worker --threads N`: the threads until a stop; after a store failure, the store reopened
 * and the threads started again. 0, or 1 when the store cannot be reopened. */
static int
worker_team(struct ctl *ctl, struct work *wk, int threads)
{
	struct msgr_worker_counts n;
	struct team_member *t;
	msgr_result rc;

	while (!atomic_load(&ctl_stop)) {
		if ((t = team_open(ctl, wk, threads)) == NULL)
			return 1;
		atomic_store(&team_failed, 0);
		rc = team_run(t, threads, worker_thread, &n);
		team_close(t, threads);
		if (atomic_load(&ctl_stop))
			break;
		/* A store that fails twice running may have been replaced: reopen it. */
		msgr_log(MSGR_LOG_WARN, "worker: store failing (%s), reopening", msgr_strerror(rc));
		work_close(wk);
		if (work_open(ctl, wk))
			return 1;
		idle_sleep(ctl->cfg->worker.idle_ms);
	}
	return 0;
}

static int
cmd_worker(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTS,
		{ "threads", required_argument, NULL, 't' }, { NULL, 0, NULL, 0 } };
	struct msgr_worker_counts n;
	struct sigaction sa;
	struct work wk;
	msgr_result rc = MSGR_OK;
	long long threads = 1;
	int c, r, failures = 0, status = 0;

	while ((c = getopt_long(argc, argv, CTL_COMMON_SHORT "t:", opts, NULL)) != -1) {
		if (c == 't') {
			if (parse_threads("worker", optarg, &threads))
				return 1;
		} else if ((r = ctl_option(ctl, c)) >= 0)
			return r;
	}
	if (ctl_too_many(ctl, argc, argv))
		return 1;
	/* No SA_RESTART: a stop interrupts the idle sleep at once. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0) {
		fprintf(stderr, "msgrctl worker: cannot handle signals: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	ctl->checkpoint_apart = threads > 1;   /* to the team's checkpointer (team_open) */
	if (work_open(ctl, &wk)) {
		work_close(&wk);
		return 1;
	}
	msgr_log(MSGR_LOG_INFO, "worker started");
	if (threads > 1)
		status = worker_team(ctl, &wk, (int)threads);
	while (threads == 1 && !atomic_load(&ctl_stop)) {
		/* A bounded run, so a stop is seen between events even under steady load. */
		rc = msgr_worker_run(wk.w, 1000, &n);
		if (rc == MSGR_OK) {
			failures = 0;
			if (n.jobs > 0)
				continue;
		} else if (++failures >= 2) {
			/* A store that fails twice running may have been replaced: reopen it. */
			msgr_log(MSGR_LOG_WARN, "worker: store failing (%s), reopening",
			    msgr_strerror(rc));
			work_close(&wk);
			if (work_open(ctl, &wk)) {
				status = 1;
				break;
			}
			failures = 0;
		}
		idle_sleep(ctl->cfg->worker.idle_ms);
	}
	if (status == 0)
		msgr_log(MSGR_LOG_INFO, "worker stopping");
	work_close(&wk);
	return status;
}

/* ---- status ---- */

#define CONVERSATIONS_SHOWN 50

/* The conversations whose thread another app or the Page Inbox holds (docs/facebook.md
 * "Thread control"). */
static int
print_handled_elsewhere(struct ctl *ctl, struct msgr_store *st)
{
	struct msgr_conversation_row *rows = NULL;
	size_t n = 0, i;
	char when[32], human[32];
	msgr_result rc;

	if ((rc = msgr_store_conversations_elsewhere(st, CONVERSATIONS_SHOWN, &rows, &n)) !=
	    MSGR_OK) {
		fprintf(stderr, "msgrctl status: %s (%s)\n", msgr_strerror(rc), msgr_store_errmsg(st));
		return 1;
	}
	printf("handled elsewhere:%s\n", n == 0 ? " none" : "");
	for (i = 0; i < n; i++) {
		const struct msgr_conversation_row *r = &rows[i];
		const char *who;

		if (r->c.owner == MSGR_OWNER_APP &&
		    strcmp(r->c.owner_app, MSGR_PAGE_INBOX_APP_ID) == 0)
			who = "the Page Inbox (a person)";
		else if (r->c.owner == MSGR_OWNER_STANDBY)
			who = "another app (seen on standby)";
		else if (r->c.owner == MSGR_OWNER_RELEASED)
			who = "nobody (released)";
		else
			who = "app";
		iso_time(r->c.owner_at, when);
		human[0] = '\0';
		if (r->c.human_ts > 0)
			iso_time(r->c.human_ts, human);
		printf("  page %s user %s: %s%s%s since %s%s%s\n", r->page_id, r->user_id, who,
		    strcmp(who, "app") == 0 ? " " : "", strcmp(who, "app") == 0 ? r->c.owner_app : "",
		    when, human[0] ? ", a person answered at " : "", human);
	}
	free(rows);
	(void)ctl;
	return 0;
}

static int
cmd_status(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTS, { NULL, 0, NULL, 0 } };
	struct msgr_store_stats s;
	struct msgr_store *st = NULL;
	struct msgr_pause *pauses = NULL;
	char **lines = NULL, when[32];
	size_t np = 0, nl = 0, i;
	msgr_result rc;
	int c, r, ret = 1;

	while ((c = getopt_long(argc, argv, CTL_COMMON_SHORT, opts, NULL)) != -1)
		if ((r = ctl_option(ctl, c)) >= 0)
			return r;
	if (ctl_too_many(ctl, argc, argv) || ctl_load(ctl) || ctl_open_store(ctl, &st))
		goto out;
	if ((rc = msgr_store_stats(st, msgr_clock_wall_ms(), &s)) != MSGR_OK ||
	    (rc = msgr_store_pause_list(st, 100, &pauses, &np)) != MSGR_OK ||
	    (rc = msgr_store_recent_failures(st, FAILURES_SHOWN, &lines, &nl)) != MSGR_OK) {
		fprintf(stderr, "msgrctl status: %s (%s)\n", msgr_strerror(rc), msgr_store_errmsg(st));
		goto out;
	}
	printf("queue:       %lld pending (%lld in work, %lld waiting for a retry, %lld retried)\n",
	    s.pending, s.leased, s.waiting, s.retrying);
	printf("done:        %lld   failed: %lld   skipped: %lld\n", s.done, s.failed, s.skipped);
	printf("quarantine:  %lld%s\n", s.quarantined,
	    s.quarantined > 0 ? " (msgrctl replay re-runs them after a fix)" : "");
	if (np == 0)
		printf("paused:      none\n");
	for (i = 0; i < np; i++) {
		iso_time(pauses[i].since, when);
		printf("paused:      %s %s since %s: %s\n", msgr_pause_scope_name(pauses[i].scope),
		    pauses[i].id, when, pauses[i].reason);
	}
	printf("recent failures:%s\n", nl == 0 ? " none" : "");
	for (i = 0; i < nl; i++)
		printf("  %s\n", lines[i]);
	if (print_handled_elsewhere(ctl, st) != 0)
		goto out;
	if (fflush(stdout) != 0) {
		fprintf(stderr, "msgrctl status: cannot write: %s\n", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	msgr_store_lines_free(lines, nl);
	free(pauses);
	msgr_store_close(st);
	return ret;
}

/* ---- replay ---- */

/* A quarantined part as a whole webhook body: a body stays itself; an entry or a single
 * event (kept apart when its neighbours were good) is wrapped as Facebook would send it.
 * NULL when raw is not JSON at all (it can only fail again: left as it is). */
static char *
as_body(const struct ctl *ctl, const struct msgr_connector *cn,
    const struct msgr_quarantine_row *row)
{
	json_t *j = NULL, *body = NULL;
	char why[128];
	char *out = NULL;

	if (msgr_event_json_load(row->raw, row->raw_len, MSGR_MAX_JSON_DEPTH, &j, why,
	    sizeof(why)) != MSGR_OK || !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	(void)ctl;
	if (json_object_get(j, "object") != NULL)
		body = json_incref(j);
	else if (json_object_get(j, "messaging") != NULL || json_object_get(j, "standby") != NULL)
		body = json_pack("{s:s, s:[O]}", "object", "page", "entry", j);
	else
		body = json_pack("{s:s, s:[{s:s, s:i, s:[O]}]}", "object", "page", "entry", "id",
		    cn->page_id, "time", 0, "messaging", j);
	if (body != NULL)
		out = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	json_decref(j);
	return out;
}

/* One row: 0 replayed, 1 still failing (why filled), -1 the store failed. Only a body that
 * is now wholly good is stored (MSGR_INTAKE_WHOLE); the row stays otherwise. */
static int
replay_row(struct ctl *ctl, struct msgr_store *st, const struct msgr_quarantine_row *row,
    int dry_run, size_t *queued, char *why, size_t whysz)
{
	const struct msgr_connector *cn = msgr_config_by_id(ctl->cfg, row->connector_id);
	struct msgr_intake_call call;
	struct msgr_intake_result res;
	char *text = NULL;
	msgr_result rc;
	int ret = 1;

	if (cn == NULL) {
		snprintf(why, whysz, "connector %.100s is no longer configured", row->connector_id);
		return 1;
	}
	if ((text = as_body(ctl, cn, row)) == NULL) {
		snprintf(why, whysz, "still %.200s", row->reason);
		return 1;
	}
	memset(&call, 0, sizeof(call));
	call.cfg = ctl->cfg;
	call.via = cn;
	call.flags = MSGR_INTAKE_WHOLE;
	call.store = dry_run ? NULL : msgr_intake_store;
	call.store_arg = st;
	rc = msgr_intake_body(&call, text, strlen(text), &res);
	if (rc != MSGR_OK && res.step == MSGR_INTAKE_STORE) {
		snprintf(why, whysz, "store: %s (%s)", msgr_strerror(rc), msgr_store_errmsg(st));
		ret = -1;
	} else if (rc != MSGR_OK)
		snprintf(why, whysz, "%s", msgr_strerror(rc));
	else if (res.refused)
		snprintf(why, whysz, "%s", res.why);
	else if (dry_run) {
		*queued += res.routed;
		ret = 0;
	} else if ((rc = msgr_store_quarantine_delete(st, row->id)) != MSGR_OK) {
		/* The events are stored; a stop before the row goes replays it again, and the
		 * dedup keys make that harmless. */
		snprintf(why, whysz, "store: %s (%s)", msgr_strerror(rc), msgr_store_errmsg(st));
		ret = -1;
	} else {
		*queued += res.stored;
		ret = 0;
	}
	free(text);
	return ret;
}

static int
cmd_replay(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTS,
		{ "dry-run", no_argument, NULL, 'n' }, { NULL, 0, NULL, 0 } };
	struct msgr_quarantine_row *rows = NULL;
	struct msgr_store *st = NULL;
	size_t n = 0, i, ok = 0, bad = 0, queued = 0;
	char why[256];
	msgr_result rc;
	int c, r, dry = 0, ret = 1;

	while ((c = getopt_long(argc, argv, CTL_COMMON_SHORT "n", opts, NULL)) != -1) {
		if (c == 'n')
			dry = 1;
		else if ((r = ctl_option(ctl, c)) >= 0)
			return r;
	}
	if (ctl_too_many(ctl, argc, argv) || ctl_load(ctl) || ctl_open_store(ctl, &st))
		goto out;
	if ((rc = msgr_store_quarantine_list(st, REPLAY_MAX, &rows, &n)) != MSGR_OK) {
		fprintf(stderr, "msgrctl replay: %s (%s)\n", msgr_strerror(rc), msgr_store_errmsg(st));
		goto out;
	}
	for (i = 0; i < n; i++) {
		char esc[300];

		why[0] = '\0';
		r = replay_row(ctl, st, &rows[i], dry, &queued, why, sizeof(why));
		if (r < 0) {
			fprintf(stderr, "msgrctl replay: %s\n", why);
			goto out;
		}
		if (r == 0)
			ok++;
		else {
			bad++;
			printf("kept %lld (connector %s): %s\n", (long long)rows[i].id,
			    rows[i].connector_id, msgr_log_escape(esc, sizeof(esc), why, strlen(why)));
		}
	}
	printf("%s: %zu webhooks replayed (%zu events queued), %zu still quarantined\n",
	    dry ? "dry run" : "replay", ok, queued, bad);
	ret = 0;
out:
	msgr_store_quarantine_free(rows, n);
	msgr_store_close(st);
	return ret;
}

/* ---- send ---- */

struct send_args {
	const char *id, *to, *tag, *type, *text;
};

/* Reads send's options into *a. -1: go on; otherwise the exit status. */
static int
send_args(struct ctl *ctl, int argc, char **argv, struct send_args *a)
{
	static const struct option opts[] = { CTL_COMMON_OPTS,
		{ "connector", required_argument, NULL, 'C' }, { "to", required_argument, NULL, 't' },
		{ "tag", required_argument, NULL, 'T' }, { "type", required_argument, NULL, 'y' },
		{ NULL, 0, NULL, 0 } };
	int c, r;

	memset(a, 0, sizeof(*a));
	while ((c = getopt_long(argc, argv, CTL_COMMON_SHORT "C:t:T:y:", opts, NULL)) != -1) {
		switch (c) {
		case 'C': a->id = optarg; break;
		case 't': a->to = optarg; break;
		case 'T': a->tag = optarg; break;
		case 'y': a->type = optarg; break;
		default:
			if ((r = ctl_option(ctl, c)) >= 0)
				return r;
		}
	}
	if (a->id == NULL || a->to == NULL || optind != argc - 1) {
		fprintf(stderr, "msgrctl send: --connector, --to and one TEXT are needed\n");
		fprintf(stderr, "usage: msgrctl send %s\n", ctl->cmd->usage);
		return 1;
	}
	a->text = argv[optind];
	if (a->tag != NULL && a->type == NULL)
		a->type = "MESSAGE_TAG";
	return -1;
}

static void
print_sent(void *arg, const char *message_id)
{
	(void)arg;
	printf("sent %s\n", message_id);
}

/* Why the text did not go, as the worker's send said it. */
static void
send_failed(const struct msgr_worker_text *t, msgr_result rc,
    const struct msgr_graph_result *res)
{
	switch (t->step) {
	case MSGR_WORKER_SEND_BUILD:
		fprintf(stderr, "msgrctl send: %s\n", t->why[0] ? t->why : msgr_strerror(rc));
		break;
	case MSGR_WORKER_SEND_WINDOW:
		fprintf(stderr, "msgrctl send: refused: %s\n", t->why);
		break;
	case MSGR_WORKER_SEND_CALL:
		fprintf(stderr, "msgrctl send: %s: (#%ld/%ld) %s\n", msgr_strerror(rc), res->code,
		    res->subcode, res->message[0] ? res->message : res->transport_error);
		break;
	}
}

/* Sends through the worker's own path (lib/worker.h msgr_worker_send_text): the same split,
 * checks, window and pacing as a bot's answer. */
static int
cmd_send(struct ctl *ctl, int argc, char **argv)
{
	struct msgr_worker_text t;
	struct msgr_graph_result res;
	struct send_args a;
	struct work wk;
	char *errors = NULL;
	msgr_result rc;
	int r, ret = 1;

	if ((r = send_args(ctl, argc, argv, &a)) >= 0)
		return r;
	memset(&wk, 0, sizeof(wk));
	msgr_graph_result_init(&res);
	memset(&t, 0, sizeof(t));
	if (ctl_load(ctl))
		goto out;
	if ((t.conn = msgr_config_by_id(ctl->cfg, a.id)) == NULL) {
		fprintf(stderr, "msgrctl send: no connector \"%.64s\"\n", a.id);
		goto out;
	}
	/* Without the store nothing is known of the user: the text goes unless Facebook
	 * refuses it (ctl_open_store has said why). */
	(void)ctl_open_store(ctl, &wk.st);
	if (ctl_open_graph(ctl, &wk.g))
		goto out;
	if ((rc = msgr_worker_open(ctl->cfg, wk.st, wk.g, NULL, NULL, &wk.w, &errors)) !=
	    MSGR_OK) {
		fprintf(stderr, "msgrctl send: worker: %s%s%s\n", msgr_strerror(rc),
		    errors ? ": " : "", errors ? errors : "");
		free(errors);
		goto out;
	}
	t.psid = a.to;
	t.text = a.text;
	t.messaging_type = a.type;
	t.tag = a.tag;
	t.sent = print_sent;
	if ((rc = msgr_worker_send_text(wk.w, &t, &res)) != MSGR_OK) {
		send_failed(&t, rc, &res);
		goto out;
	}
	ret = 0;
out:
	msgr_graph_result_clear(&res);
	work_close(&wk);
	return ret;
}

/* ---- the table ---- */

const struct ctl_command ctl_work_commands[] = {
	{ "drain", cmd_drain, "[--budget MS] [--threads N]", "run the due work now (for cron)",
	  "Works every due event now, as the responder does after each request: runs the bot,\n"
	  "sends the answers, records the outcome, schedules retries. Stops when nothing is due\n"
	  "(or after --budget milliseconds). For hosts without long-lived processes: run it from\n"
	  "cron every minute.\n\n"
	  "  --budget MS   stop starting new work after MS milliseconds (default: no limit)\n" },
	{ "worker", cmd_worker, "[--threads N]", "run the work continuously (stops on SIGTERM)",
	  "Works due events continuously, sleeping worker.idle_ms when there is none. SIGTERM or\n"
	  "SIGINT finishes the event in hand and exits 0.\n" },
	{ "status", cmd_status, "", "queue, retries, pauses, quarantine, recent failures",
	  "Prints the queue depth, retries waiting, paused connectors and pages, the quarantine\n"
	  "count, recent failures with Facebook's message, and the conversations another app or\n"
	  "a person (Page Inbox) is handling.\n" },
	{ "replay", cmd_replay, "[--dry-run]", "re-run quarantined webhooks",
	  "Parses each quarantined body again (after a fix) and queues its events; a body that\n"
	  "now passes leaves the quarantine, one that still fails stays with its reason.\n\n"
	  "  --dry-run   only say what would happen\n" },
	{ "send", cmd_send, "--connector ID --to PSID [--tag HUMAN_AGENT] [--type T] TEXT",
	  "send a text to a user now",
	  "Sends TEXT (split at word boundaries past 2000 characters) to PSID through the\n"
	  "connector's page and prints Facebook's message id. The 24-hour window is checked\n"
	  "first when the store knows the user's last message.\n\n"
	  "  --connector ID   the connector (page) that sends\n"
	  "  --to PSID        the recipient's page-scoped id\n"
	  "  --type T         messaging_type: RESPONSE (default), UPDATE or MESSAGE_TAG\n"
	  "  --tag HUMAN_AGENT  with MESSAGE_TAG: a person answers, up to 7 days\n" },
	{ NULL, NULL, NULL, NULL, NULL }
};
