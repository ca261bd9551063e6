/* worker.c — works the stored events (worker.h): claims a conversation's next event and takes
 * it through the steps of docs/worker.md, each done by a module of its own:
 *   record   what the event says about its conversation    conversation.c
 *   plan     the bot's answer as Graph calls, kept once      plan.c (names: profile.c)
 *   send     each call in order, marked done as it goes       send.c (attachment.c, pacing.c)
 *   outcome  done, put back, paused or given up               retry.c, pause.c
 * Every Graph call goes through calls.c, to the client or to a test's hook. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bot.h"
#include "clock.h"
#include "conversation.h"
#include "echo.h"
#include "event.h"
#include "log.h"
#include "message.h"
#include "pacing.h"
#include "pause.h"
#include "plan.h"
#include "profile.h"
#include "send.h"
#include "worker.h"

/* Finished jobs are kept this long so their keys keep deduplicating redeliveries, far beyond
 * the hour Facebook retries a delivery (docs/facebook.md "Webhooks"). */
#define KEEP_DONE_MS      (7LL * 24 * 3600 * 1000)
#define PURGE_EVERY_MS    (10LL * 60 * 1000)
/* Rows of a kind one purge step deletes, in one transaction of a few milliseconds, and the
 * least time between two steps: ten minutes of a busy day a week ago are hundreds of thousands
 * of rows, and one transaction of them all held the store's write lock (the host committer's
 * intake waiting behind it) for seconds. Steps keep up with 5,000 finished events a second
 * and hold the lock a few milliseconds in fifty (docs/store.md "Purge"). */
#define PURGE_BATCH       250
#define PURGE_STEP_MS     50
/* How long a worker waits in place for the echo of a call of unknown outcome before it puts
 * the job back until worker.echo_wait_ms has passed: an echo usually comes within a second,
 * and a worker held longer would keep other conversations waiting. */
#define ECHO_BLOCK_MS     2000

/* What the worker keeps per connector. */
struct conn_rt {
	const struct msgr_connector *conn;
	struct msgr_bot *bot;          /* opened on first use */
	struct msgr_pacer own;         /* its page's calls, unless shared: */
	struct msgr_pacer *pacer;      /* own, or another worker's (msgr_worker_pace_with) */
};

struct msgr_worker {
	const struct msgr_config *cfg;
	struct msgr_store *st;
	char owner[128];
	struct msgr_worker_hooks hooks;
	struct msgr_caller calls;      /* the client g, or hooks.graph in Facebook's place */
	int own_clock;                 /* the store stamps with hooks.now_ms: undone at close */
	struct conn_rt *rt;
	long long last_purge;
	int purges;                    /* 0: left to the worker it paces with */
	int purging;                   /* a purge that reached PURGE_BATCH goes on */
	long long purge_at;            /* ... at its next step, not before this */
	unsigned long long rng;
	int relaxed;                   /* this run's bookkeeping commits are not fsynced each */
	long long claimed_at;          /* the time the current job's claim was asked at */
};

/* ---- clock, randomness ---- */

static long long
default_now(void *arg)
{
	(void)arg;
	return msgr_clock_wall_ms();
}

static double
default_random(void *arg)
{
	struct msgr_worker *w = arg;

	/* xorshift64*: jitter only needs to differ between processes, not to be secret. */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return (double)((w->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static long long
now_ms(struct msgr_worker *w)
{
	return w->hooks.now_ms(w->hooks.arg);
}

static double
random01(struct msgr_worker *w)
{
	return w->hooks.random01 ? w->hooks.random01(w->hooks.arg) : default_random(w);
}

long long
msgr_worker_backoff_ms(int attempt, double r, long long hint_ms)
{
	return msgr_retry_backoff_ms(attempt, r, hint_ms);
}

/* ---- open, close ---- */

/* "host:pid:random": unique per process, so a lease names who holds it. */
static void
make_owner(struct msgr_worker *w)
{
	char host[64];

	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "host");
	host[sizeof(host) - 1] = '\0';
	snprintf(w->owner, sizeof(w->owner), "%s:%ld:%08llx", host, (long)getpid(),
	    (unsigned long long)(w->rng & 0xffffffffULL));
}

/* The clock, the jitter and the Graph API: the hooks given, else the real ones. */
static void
use_hooks(struct msgr_worker *w, const struct msgr_worker_hooks *hooks, struct msgr_graph *g)
{
	if (hooks != NULL)
		w->hooks = *hooks;
	if (w->hooks.now_ms == NULL) {
		w->hooks.now_ms = default_now;
	} else {
		/* Rows are stamped with the time the worker decides by. */
		struct msgr_clock clock = { w->hooks.now_ms, w->hooks.arg };
		msgr_store_set_clock(w->st, &clock);
		w->own_clock = 1;
	}
	w->calls.g = g;
	w->calls.hook = w->hooks.graph;
	w->calls.arg = w->hooks.arg;
	w->calls.st = w->st;
}

msgr_result
msgr_worker_open(const struct msgr_config *cfg, struct msgr_store *st, struct msgr_graph *g,
    const char *owner, const struct msgr_worker_hooks *hooks, struct msgr_worker **out,
    char **errors)
{
	struct msgr_worker *w;
	size_t i;

	*out = NULL;
	if (errors != NULL)
		*errors = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return MSGR_ERR_NOMEM;
	if (cfg->n_connectors > 0 &&
	    (w->rt = calloc(cfg->n_connectors, sizeof(*w->rt))) == NULL) {
		free(w);
		return MSGR_ERR_NOMEM;
	}
	w->cfg = cfg;
	w->st = st;
	w->purges = 1;
	for (i = 0; i < cfg->n_connectors; i++) {
		w->rt[i].conn = &cfg->connectors[i];
		msgr_pacer_init(&w->rt[i].own, cfg->connectors[i].send_rate);
		w->rt[i].pacer = &w->rt[i].own;
	}
	use_hooks(w, hooks, g);
	w->rng = (unsigned long long)default_now(NULL) ^ ((unsigned long long)getpid() << 32)
	    ^ (unsigned long long)(uintptr_t)w;
	if (w->rng == 0)
		w->rng = 88172645463325252ULL;
	if (owner != NULL)
		snprintf(w->owner, sizeof(w->owner), "%s", owner);
	else
		make_owner(w);
	*out = w;
	return MSGR_OK;
}

void
msgr_worker_close(struct msgr_worker *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->cfg->n_connectors; i++)
		msgr_bot_close(w->rt[i].bot);
	if (w->own_clock)
		msgr_store_set_clock(w->st, NULL);
	free(w->rt);
	free(w);
}

/* ---- one job ---- */

/* What the steps of one job share. */
struct job_run {
	struct msgr_worker *w;
	struct msgr_job *job;
	struct msgr_worker_counts *counts;
	const struct msgr_connector *c;    /* NULL when no longer configured */
	struct conn_rt *rt;
	struct msgr_event ev;
	int ev_parsed;
	struct msgr_plan plan;
	int ended;                         /* finished or put back: the job is out of our hands */
	int did_send;                      /* a call of this job went through */
	long long lease_until;             /* our lease ends no earlier than this (ms) */
	char why[MSGR_MESSAGE_WHY_MAX];
};

static struct msgr_retry
retry_of(struct job_run *j)
{
	struct msgr_retry x = { j->w->st, j->w->owner, now_ms(j->w),
	    j->w->cfg->worker.retry_max_s };
	return x;
}

/* Ends the job: finished in state with note (may be NULL). */
static msgr_result
job_finish(struct job_run *j, enum msgr_job_state state, const char *note)
{
	j->ended = 1;
	return msgr_store_finish(j->w->st, j->job->id, j->w->owner, state, note);
}

/* Ends the job: given up, why recorded. */
static msgr_result
job_fail(struct job_run *j, const char *why)
{
	struct msgr_retry x = retry_of(j);

	j->ended = 1;
	j->counts->failed++;
	return msgr_retry_give_up(&x, j->job, why);
}

/* Ends the job: put back with backoff (hint_ms from Facebook's usage headers), or given up
 * once worker.retry_max_s has passed. */
static msgr_result
job_later(struct job_run *j, long long hint_ms)
{
	struct msgr_retry x = retry_of(j);
	int gave_up = 0;
	msgr_result rc;

	j->ended = 1;
	rc = msgr_retry_later(&x, j->job, j->why, hint_ms, random01(j->w), &gave_up);
	if (gave_up)
		j->counts->failed++;
	else
		j->counts->retried++;
	return rc;
}

/* Ends the job: put back for a look after a pause's wait. */
static msgr_result
job_wait_pause(struct job_run *j, const char *why)
{
	struct msgr_retry x = retry_of(j);

	j->ended = 1;
	j->counts->retried++;
	return msgr_retry_wait(&x, j->job, MSGR_PAUSE_WAIT_MS, why);
}

/* Step 1: the job's connector and event, and what the event says, recorded (idempotent: a
 * job run twice records the same). */
static msgr_result
job_start(struct job_run *j)
{
	struct msgr_job *job = j->job;
	msgr_result rc;

	if (j->c == NULL)
		return job_finish(j, MSGR_JOB_SKIPPED, "connector no longer configured");
	if (msgr_retry_deaths(job) >= MSGR_RETRY_MAX_DEATHS) {
		snprintf(j->why, sizeof(j->why),
		    "given up: a worker died %d times working this event", msgr_retry_deaths(job));
		return job_fail(j, j->why);
	}
	if ((rc = msgr_event_parse_text(job->raw, strlen(job->raw), job->page_id, job->standby,
	    &j->ev, j->why, sizeof(j->why))) != MSGR_OK)
		return job_fail(j, j->why);
	j->ev_parsed = 1;
	if ((rc = msgr_conversation_record(j->w->st, j->c, &j->ev)) != MSGR_OK)
		return rc;
	/* An echo: kept by its mid, with the outbox row its tag names (lib/echo.h). */
	return msgr_echo_record(j->w->st, j->c, &j->ev);
}

/* Does the bot hear of this event? Never of echoes or standby (docs/worker.md, step 3); a
 * Bot API bot of the kinds its connector lists, the stories bot of the answerable ones. */
static int
asks_bot(const struct msgr_connector *c, const struct msgr_event *ev)
{
	if (ev->standby || ev->kind == MSGR_EVENT_ECHO)
		return 0;
	if (c->bot.type == MSGR_BOT_API)
		return (c->bot.events >> ev->kind) & 1UL;
	return msgr_event_answerable(ev);
}

/* The bot's actions for the event, made into j->plan's items; j->why says what failed.
 * MSGR_ERR_TRANSIENT when the bot cannot be opened: a fixed file or a restarted bot cures it.
 * What touches no store (its answer, the messages checked and built) runs with the turn lent
 * to another thread (msgr_store_lend), so their store work goes on beside it; opening the bot
 * with the store's transaction committed. */
static msgr_result
ask_bot(struct job_run *j)
{
	struct msgr_store *st = j->w->st;
	struct conn_rt *rt = j->rt;
	struct msgr_bot_input in;
	char first[MSGR_PROFILE_NAME_MAX], last[MSGR_PROFILE_NAME_MAX];
	char *errors = NULL;
	const char *detail;
	json_t *actions = NULL;
	msgr_result rc;
	int away;                          /* the turn given up: take it back */

	if (rt->bot == NULL) {
		/* Not with the store's write lock held: reading and folding a large stories file
		 * takes a while (4 s under valgrind in one CI run), and the host's intake and every
		 * other worker would wait for it. Once per process and connector. */
		if ((rc = msgr_store_step_aside(st)) != MSGR_OK) {
			msgr_store_resume(st);
			return rc;
		}
		rc = msgr_bot_open(j->c, &rt->bot, &errors);
		msgr_store_resume(st);
		if (rc != MSGR_OK) {
			snprintf(j->why, sizeof(j->why), "bot of connector %s cannot open: %s",
			    j->c->id, errors ? errors : msgr_strerror(rc));
			free(errors);
			return MSGR_ERR_TRANSIENT;
		}
	}
	msgr_profile_names(st, &j->w->calls, j->c, j->ev.sender_id, now_ms(j->w), first, last);
	memset(&in, 0, sizeof(in));
	in.conn = j->c;
	in.ev = &j->ev;
	in.first_name = first;
	in.last_name = last;
	/* A Bot API bot is asked over HTTP: not with the store's write lock held. Asked again
	 * after a rollback, it answers again: nothing need be durable first. */
	if (j->c->bot.type == MSGR_BOT_API) {
		away = 1;
		if ((rc = msgr_store_step_aside(st)) != MSGR_OK)
			goto out;
	} else {
		away = msgr_store_lend(st);
	}
	if ((rc = msgr_bot_answer(rt->bot, &in, &actions)) == MSGR_OK) {
		rc = msgr_plan_actions(&j->plan, j->c, &j->ev, actions, j->why, sizeof(j->why));
	} else {
		/* The bot's own reason (a refused reply names the message and the limit) is what
		 * `msgrctl status` shows among the recent failures. */
		detail = msgr_bot_last_error(rt->bot);
		snprintf(j->why, sizeof(j->why), "bot: %s%s%s", msgr_strerror(rc),
		    detail[0] ? ": " : "", detail);
	}
out:
	if (away)
		msgr_store_resume(st);
	json_decref(actions);
	return rc;
}

/* What this job must do, as Graph calls into j->plan; none when it only records. */
static msgr_result
make_plan(struct job_run *j)
{
	const struct msgr_event *ev = &j->ev;

	/* Another app asks for the thread: honoured or not, per connector (docs/worker.md). */
	if (ev->kind == MSGR_EVENT_REQUEST_THREAD_CONTROL && !ev->standby &&
	    j->c->on_request_thread_control == MSGR_RTC_HONOUR &&
	    ev->requested_owner_app_id != NULL && ev->user_id[0] != '\0')
		return msgr_plan_pass(&j->plan, ev->requested_owner_app_id, ev->metadata);
	if (!asks_bot(j->c, ev))
		return MSGR_OK;
	return ask_bot(j);
}

/* Step 2: the plan, made once. A job resumed after a crash or a retry finds it in the outbox
 * and goes on from the first call not yet done; the bot is not asked twice. */
static msgr_result
job_plan(struct job_run *j)
{
	msgr_result rc = msgr_plan_load(&j->plan, j->w->st, j->job->id);

	if (rc != MSGR_ERR_NOTFOUND)
		return rc;
	rc = make_plan(j);
	if (rc == MSGR_ERR_TRANSIENT)
		return job_later(j, 0);
	if (rc != MSGR_OK)
		return job_fail(j, j->why);
	if (j->plan.n == 0)
		return job_finish(j, MSGR_JOB_DONE,
		    asks_bot(j->c, &j->ev) ? "no answer" : "recorded");
	return msgr_plan_save(&j->plan, j->w->st, j->job->id);
}

/* After a call went through: marked done in the step that learns it, so it is never sent
 * twice; the first one also ends the pauses (a probe does that), so the rest of a probe's own
 * answer does not wait for the next probe. */
static msgr_result
item_done(struct job_run *j, struct msgr_plan_item *it, const struct msgr_graph_result *res)
{
	msgr_result rc;

	rc = msgr_store_outbox_done(j->w->st, it->outbox_id,
	    res->message_id[0] ? res->message_id : NULL);
	j->counts->sent++;
	if (rc != MSGR_OK)
		return rc;
	it->done = 1;
	if (!j->did_send && (rc = msgr_pause_end(j->w->st, j->c, j->job->page_id)) != MSGR_OK)
		return rc;
	j->did_send = 1;
	return MSGR_OK;
}

/* After a call that did not go through (rc, res): what becomes of the job. */
static msgr_result
item_failed(struct job_run *j, struct msgr_plan_item *it, msgr_result rc,
    const struct msgr_graph_result *res)
{
	if (j->why[0] == '\0' && !res->transport_ok && res->transport_error[0])
		snprintf(j->why, sizeof(j->why), "no answer: %.120s", res->transport_error);
	else if (j->why[0] == '\0')
		snprintf(j->why, sizeof(j->why), "(#%ld/%ld) %.200s", res->code, res->subcode,
		    res->message[0] ? res->message : msgr_strerror(rc));
	if (rc == MSGR_ERR_PERMANENT && it->optional) {
		/* A typing indicator refused is no reason to drop the answer. */
		it->done = 1;
		return msgr_store_outbox_done(j->w->st, it->outbox_id, NULL);
	}
	switch (rc) {
	case MSGR_ERR_TRANSIENT:
		return job_later(j, res->usage.retry_after_ms);
	case MSGR_ERR_PAUSE_CONNECTOR:
	case MSGR_ERR_PAUSE_PAGE:
		/* Not recorded, the pause would stop nothing: the store's failure stops the run. */
		rc = msgr_pause_start(j->w->st, j->c, j->job->page_id, rc, res, now_ms(j->w));
		if (rc != MSGR_OK)
			return rc;
		return job_wait_pause(j, j->why);
	case MSGR_ERR_NOMEM:
	case MSGR_ERR_BUSY:
	case MSGR_ERR_STORE:
		return job_later(j, 0);
	default:
		return job_fail(j, j->why);
	}
}

/* One call of the plan, logged, and its outcome. */
static msgr_result
job_call(struct job_run *j, struct msgr_plan_item *it)
{
	struct msgr_sender s = { j->w->st, &j->w->calls, j->rt->pacer, j->c, now_ms(j->w),
	    j->w->relaxed };
	struct msgr_graph_result res;
	long long t0 = msgr_clock_mono_ms();
	msgr_result rc;

	msgr_graph_result_init(&res);
	j->why[0] = '\0';
	it->untried = 0;    /* whatever becomes of this call, its row's state is to be read */
	rc = msgr_send_item(&s, &j->ev, it, &res, j->why, sizeof(j->why));
	msgr_log(rc == MSGR_OK ? MSGR_LOG_INFO : MSGR_LOG_WARN,
	    "send job=%lld connector=%s call=%s item=%d status=%s code=%ld/%ld mid=%s ms=%lld",
	    (long long)j->job->id, j->c->id, msgr_plan_kind_name(it->kind), it->seq,
	    rc == MSGR_OK ? "ok" : msgr_strerror(rc), res.code, res.subcode,
	    res.message_id[0] ? res.message_id : "-", msgr_clock_mono_ms() - t0);
	rc = rc == MSGR_OK ? item_done(j, it, &res) : item_failed(j, it, rc, &res);
	msgr_graph_result_clear(&res);
	return rc;
}

/* 1 when it is a message sent from an outbox row: its call is preceded by the row's
 * in-flight mark (lib/send.c), which is then the durable commit before it. */
static int
marked_message(const struct msgr_plan_item *it)
{
	return it->kind == MSGR_PLAN_SEND && it->outbox_id > 0 &&
	    json_is_object(json_object_get(it->body, "message"));
}

/* The renewal before a call. Before a call that must not go twice (a thread action; a
 * message's own in-flight mark plays that part: marked_message) it is a durable commit, which
 * makes every bookkeeping commit before it durable too: what the run has recorded so far, the
 * plan and the calls done, survives a power loss before anything more reaches Facebook
 * (docs/worker.md "Durability"). */
static msgr_result
renew_before(struct job_run *j, const struct msgr_plan_item *it)
{
	int barrier = j->w->relaxed && !it->optional && !marked_message(it);
	long long now = now_ms(j->w);
	msgr_result rc, rs;

	/* A call whose whole timeout (and a second more) fits in the lease already held needs no
	 * renewal: nobody can take the job before it ends. A message's durable commit is its
	 * in-flight mark; only a thread action's renewal is its barrier, and always made. */
	if (!barrier && now + j->w->cfg->graph.timeout_ms + 1000 <= j->lease_until)
		return MSGR_OK;
	if (barrier && (rc = msgr_store_set_sync(j->w->st, 1)) != MSGR_OK)
		return rc;
	rc = msgr_store_renew(j->w->st, j->job->id, j->w->owner, now, j->w->cfg->worker.lease_ms);
	if (rc == MSGR_OK)
		j->lease_until = now + j->w->cfg->worker.lease_ms;
	if (barrier && (rs = msgr_store_set_sync(j->w->st, 0)) != MSGR_OK && rc == MSGR_OK)
		rc = rs;
	return rc;
}

/* Ends the job: put back until the echo of a call of unknown outcome may still come. */
static msgr_result
job_wait_echo(struct job_run *j, long long wait_ms)
{
	struct msgr_retry x = retry_of(j);

	j->ended = 1;
	j->counts->retried++;
	return msgr_retry_wait(&x, j->job, wait_ms,
	    "waiting for the echo of a message whose call's outcome is unknown");
}

/* A message whose last call's outcome is unknown: a process died with it in flight, or the
 * call got no answer. Facebook echoes what a page sends with the message's metadata, which
 * names the outbox row and the try (lib/echo.h): an echo of the row means it went, so it is
 * marked done and not sent again. The echo is awaited until worker.echo_wait_ms after the
 * call: a while here (ECHO_BLOCK_MS at most, within the lease), then, if the time is not up,
 * the job is put back until it is (the conversation waits; the worker goes on with others).
 * Only then is the message sent again, a double risked: logged and counted. A page whose
 * echoes were never seen is not subscribed to message_echoes: waiting would only delay.
 * *waited says whether time passed here (the lease is renewed again before the call). */
static msgr_result
check_in_flight(struct job_run *j, struct msgr_plan_item *it, int *waited)
{
	struct msgr_worker *w = j->w;
	struct msgr_outbox_flight f;
	char mid[MSGR_MAX_MID_LEN + 1] = "";
	long long left, block;
	const char *why;
	msgr_result rc;

	*waited = 0;
	if (!marked_message(it) || it->untried)
		return MSGR_OK;
	if ((rc = msgr_store_outbox_flight(w->st, it->outbox_id, &f)) != MSGR_OK)
		return rc == MSGR_ERR_NOTFOUND ? MSGR_OK : rc;
	if (f.done || !f.inflight || f.tries <= 0)
		return MSGR_OK;
	/* A first look without waiting also records the echoes already queued. */
	rc = msgr_echo_await(w->st, j->c, j->job->page_id, j->job->user_id, it->outbox_id,
	    f.tries, 0, mid, sizeof(mid));
	why = "worker.echo_wait_ms is 0";
	if (rc == MSGR_ERR_NOTFOUND && w->cfg->worker.echo_wait_ms > 0) {
		rc = msgr_store_echo_page_known(w->st, j->job->page_id, now_ms(w) - KEEP_DONE_MS);
		if (rc == MSGR_ERR_NOTFOUND)
			why = "no echo of this page ever seen: is message_echoes subscribed?";
	}
	if (rc == MSGR_OK && mid[0] == '\0') {
		/* The page echoes: its echo may be on its way. */
		left = f.tried_at + w->cfg->worker.echo_wait_ms - now_ms(w);
		if (left > w->cfg->worker.echo_wait_ms)
			left = w->cfg->worker.echo_wait_ms;   /* a clock moved back */
		block = left < ECHO_BLOCK_MS ? left : ECHO_BLOCK_MS;
		if (block > w->cfg->worker.lease_ms / 2)
			block = w->cfg->worker.lease_ms / 2;
		rc = MSGR_ERR_NOTFOUND;
		if (block > 0) {
			*waited = 1;
			rc = msgr_echo_await(w->st, j->c, j->job->page_id, j->job->user_id,
			    it->outbox_id, f.tries, (int)block, mid, sizeof(mid));
		}
		if (rc == MSGR_ERR_NOTFOUND && left - block > 0) {
			msgr_log(MSGR_LOG_INFO, "job=%lld connector=%s item=%d outbox=%lld: waiting "
			    "%lld ms more for the echo of a call whose outcome is unknown",
			    (long long)j->job->id, j->c->id, it->seq, (long long)it->outbox_id,
			    left - block);
			return job_wait_echo(j, left - block);
		}
		why = "no echo came";
	}
	if (rc == MSGR_OK) {
		msgr_log(MSGR_LOG_INFO, "echo job=%lld connector=%s item=%d outbox=%lld mid=%s: the "
		    "call whose outcome was unknown went through; not sent again",
		    (long long)j->job->id, j->c->id, it->seq, (long long)it->outbox_id, mid);
		if ((rc = msgr_store_outbox_done(w->st, it->outbox_id, mid)) != MSGR_OK)
			return rc;
		it->done = 1;
		j->counts->echoed++;
		return MSGR_OK;
	}
	if (rc != MSGR_ERR_NOTFOUND)
		return rc;
	msgr_log(MSGR_LOG_WARN, "job=%lld connector=%s item=%d outbox=%lld: repeated a call whose "
	    "outcome was unknown (%s; %d ms after it): it may reach the user twice",
	    (long long)j->job->id, j->c->id, it->seq, (long long)it->outbox_id, why,
	    (int)(now_ms(w) - f.tried_at));
	j->counts->repeated++;
	return MSGR_OK;
}

/* Step 3: the calls in order, from the first not done, each after a look at the pauses. */
static msgr_result
job_send(struct job_run *j)
{
	struct msgr_job *job = j->job;
	size_t i;
	int waited = 0;
	msgr_result rc;

	for (i = 0; i < j->plan.n; i++) {
		if (j->plan.items[i].done)
			continue;
		rc = msgr_pause_check(j->w->st, j->c, job->page_id, now_ms(j->w));
		if (rc == MSGR_ERR_PAUSE_CONNECTOR || rc == MSGR_ERR_PAUSE_PAGE)
			return job_wait_pause(j, rc == MSGR_ERR_PAUSE_PAGE ? "page paused" :
			    "connector paused");
		if (rc != MSGR_OK)
			return rc;
		/* Each call starts with a whole lease ahead (lease_ms > graph timeout, checked at
		 * config load), so no other process can take the job while a call is in flight. */
		if ((rc = renew_before(j, &j->plan.items[i])) != MSGR_OK)
			return rc;
		/* Asked of every call, not only of a resumed plan's: a plan saved just now may
		 * be another process's, found in the outbox (plan.h), and a retry's calls of
		 * this run got no answer. */
		if ((rc = check_in_flight(j, &j->plan.items[i], &waited)) != MSGR_OK || j->ended)
			return rc;
		if (j->plan.items[i].done)
			continue;
		if (waited && (rc = renew_before(j, &j->plan.items[i])) != MSGR_OK)
			return rc;
		if ((rc = job_call(j, &j->plan.items[i])) != MSGR_OK || j->ended)
			return rc;
	}
	return job_finish(j, MSGR_JOB_DONE, NULL);
}

static msgr_result
work_job(struct msgr_worker *w, struct msgr_job *job, struct msgr_worker_counts *counts)
{
	struct job_run j;
	msgr_result rc;

	memset(&j, 0, sizeof(j));
	j.w = w;
	j.lease_until = w->claimed_at + w->cfg->worker.lease_ms;
	j.job = job;
	j.counts = counts;
	j.c = msgr_config_by_id(w->cfg, job->connector_id);
	if (j.c != NULL)
		j.rt = &w->rt[j.c - w->cfg->connectors];
	msgr_plan_init(&j.plan);
	if ((rc = job_start(&j)) == MSGR_OK && !j.ended &&
	    (rc = job_plan(&j)) == MSGR_OK && !j.ended)
		rc = job_send(&j);
	msgr_plan_clear(&j.plan);
	if (j.ev_parsed)
		msgr_event_clear(&j.ev);
	/* Another process took the job over (our lease lapsed): its outcome stands. */
	return rc == MSGR_ERR_NOTFOUND ? MSGR_OK : rc;
}

/* Moves at most INGEST_CHUNK events of the inbox into the queue: a burst's backlog a piece
 * before each claim. On a held handle that is part of the claim's transaction, so the write
 * lock (which the host committer's intake needs too) is not held for a whole backlog. */
#define INGEST_CHUNK 128
static msgr_result
ingest_inbox(struct msgr_worker *w)
{
	size_t moved;
	int more;

	return msgr_store_ingest(w->st, INGEST_CHUNK, &moved, &more);
}

msgr_result
msgr_worker_pace_with(struct msgr_worker *w, const struct msgr_worker *first)
{
	size_t i;

	if (w == NULL || first == NULL || w->cfg != first->cfg)
		return MSGR_ERR_INVALID;
	for (i = 0; i < w->cfg->n_connectors; i++)
		w->rt[i].pacer = first->rt[i].pacer;
	w->purges = 0;
	return MSGR_OK;
}

/* Finished jobs, expired cache entries and echoes older than KEEP_DONE_MS, every
 * PURGE_EVERY_MS: PURGE_BATCH of each at a time, PURGE_STEP_MS apart at least, at the start
 * of a run and between its jobs, until a batch comes back short (the next runs go on where
 * one ended). A failure is logged and the purge tried again PURGE_EVERY_MS later. */
static void
purge_step(struct msgr_worker *w)
{
	long long now = now_ms(w);
	size_t echoes = 0;
	int more = 0;

	if (!w->purges)
		return;
	if (!w->purging) {
		if (now - w->last_purge <= PURGE_EVERY_MS)
			return;
		w->last_purge = now;
	} else if (now < w->purge_at && w->purge_at - now <= PURGE_STEP_MS) {
		return;   /* not yet (a clock set back runs it now) */
	}
	w->purging = 0;
	w->purge_at = now + PURGE_STEP_MS;
	if (msgr_store_purge(w->st, now - KEEP_DONE_MS, PURGE_BATCH, NULL, &more) != MSGR_OK) {
		msgr_log(MSGR_LOG_WARN, "purge of old jobs failed: %s", msgr_store_errmsg(w->st));
		return;
	}
	/* Echoes go with the jobs whose calls they prove. */
	if (msgr_store_echo_purge(w->st, now - KEEP_DONE_MS, PURGE_BATCH, &echoes) != MSGR_OK) {
		msgr_log(MSGR_LOG_WARN, "purge of old echoes failed: %s",
		    msgr_store_errmsg(w->st));
		return;
	}
	w->purging = more || echoes >= PURGE_BATCH;
}

msgr_result
msgr_worker_run(struct msgr_worker *w, long long budget_ms, struct msgr_worker_counts *counts)
{
	struct msgr_worker_counts local;
	struct msgr_job job;
	long long start = msgr_clock_mono_ms();
	msgr_result rc = MSGR_OK, rs;

	if (counts == NULL)
		counts = &local;
	memset(counts, 0, sizeof(*counts));
	memset(&job, 0, sizeof(job));
	if (w->st == NULL)
		return MSGR_ERR_STORE;   /* opened only to send (msgr_worker_send_text) */
	/* A handle shared by several workers' threads is used in turns (lib/turns.h). */
	msgr_store_enter(w->st);
	purge_step(w);
	/* Bookkeeping commits without an fsync each, a durable one before every call that must
	 * not go twice (renew_before): with state.sync = "full" only. */
	w->relaxed = w->cfg->state.sync == MSGR_SYNC_FULL &&
	    msgr_store_set_sync(w->st, 0) == MSGR_OK;
	/* The bookkeeping between two calls is one commit (msgr_store_hold); calls.c and every
	 * wait flush it first. */
	if ((rc = msgr_store_hold(w->st, 1)) != MSGR_OK)
		goto out;
	for (;;) {
		if (budget_ms > 0 && msgr_clock_mono_ms() - start >= budget_ms)
			break;
		/* Events the host committer acknowledged wait in the inbox until moved into the
		 * queue (docs/store.md "Inbox"): what is there now is claimable by this claim. */
		if ((rc = ingest_inbox(w)) != MSGR_OK)
			break;
		w->claimed_at = now_ms(w);
		rc = msgr_store_claim(w->st, w->owner, w->claimed_at, w->cfg->worker.lease_ms, &job);
		if (rc == MSGR_ERR_EMPTY) {
			rc = MSGR_OK;
			break;
		}
		if (rc != MSGR_OK)
			break;
		counts->jobs++;
		rc = work_job(w, &job, counts);
		msgr_job_clear(&job);
		if (rc != MSGR_OK)
			break;
		/* Between jobs: a batch joins the next job's first commit, never a longer one. */
		if (w->purging)
			purge_step(w);
	}
out:
	if ((rs = msgr_store_hold(w->st, 0)) != MSGR_OK && rc == MSGR_OK)
		rc = rs;
	/* The handle may be the responder's intake handle (one thread): it goes back durable,
	 * or is reported failed so that it is closed and reopened (durable) before any intake. */
	if (w->relaxed) {
		w->relaxed = 0;
		if (msgr_store_set_sync(w->st, 1) != MSGR_OK && rc == MSGR_OK)
			rc = MSGR_ERR_STORE;
		/* The end of a run is made durable too, with no message call after it to carry it:
		 * a checkpoint of a durable handle syncs the WAL first (SQLite; PostgreSQL's WAL
		 * writer flushes within a few hundred ms by itself). A run that took no job wrote
		 * nothing a power loss may not undo (moves out of the inbox and purges are made
		 * again), and no fsync: the responder's helpers often find nothing left. */
		if (rc == MSGR_OK && counts->jobs > 0 && msgr_store_checkpoint(w->st, NULL) != MSGR_OK)
			rc = MSGR_ERR_STORE;
	}
	/* The handle's words are read while this thread still has its turn: after it, another
	 * worker's call may be writing them. */
	if (rc != MSGR_OK)
		msgr_log(MSGR_LOG_WARN, "worker stopped: %s (%s)", msgr_strerror(rc),
		    msgr_store_errmsg(w->st));
	if ((rs = msgr_store_leave(w->st)) != MSGR_OK) {
		msgr_log(MSGR_LOG_WARN, "worker stopped: its last commit failed: %s",
		    msgr_strerror(rs));
		if (rc == MSGR_OK)
			rc = rs;
	}
	return rc;
}

/* ---- a text sent by hand ---- */

/* The plan of t's text: each part of it a message action, planned as a bot's would be. */
static msgr_result
plan_text(struct msgr_plan *plan, struct msgr_worker_text *t, const struct msgr_event *ev)
{
	char **parts = NULL;
	size_t n = 0, i;
	msgr_result rc;

	/* Split here, not only past the limit as a bot's text is: a text typed by hand loses
	 * its surrounding whitespace and an empty one is refused by name. */
	if ((rc = msgr_message_split_text(t->text, MSGR_TEXT_MAX_CHARS, &parts, &n)) != MSGR_OK ||
	    n == 0) {
		snprintf(t->why, sizeof(t->why), "the text cannot be sent: %s",
		    rc == MSGR_OK ? "empty" : msgr_strerror(rc));
		return rc == MSGR_OK ? MSGR_ERR_INVALID : rc;
	}
	for (i = 0; i < n && rc == MSGR_OK; i++) {
		json_t *action = json_pack("{s:{s:s}, s:s?, s:s?}", "message", "text", parts[i],
		    "messaging_type", t->messaging_type, "tag", t->tag);

		if (action == NULL) {
			snprintf(t->why, sizeof(t->why), "out of memory");
			rc = MSGR_ERR_NOMEM;
		} else
			rc = msgr_plan_message(plan, t->conn, ev, action, t->why, sizeof(t->why));
		json_decref(action);
	}
	msgr_message_split_free(parts, n);
	return rc;
}

msgr_result
msgr_worker_send_text(struct msgr_worker *w, struct msgr_worker_text *t,
    struct msgr_graph_result *res)
{
	struct conn_rt *rt = &w->rt[t->conn - w->cfg->connectors];
	struct msgr_plan plan;
	struct msgr_event ev;
	struct msgr_sender s;
	msgr_result rc;
	size_t i;

	t->step = MSGR_WORKER_SEND_BUILD;
	t->why[0] = '\0';
	msgr_plan_init(&plan);
	/* The event the text answers, as far as sending needs one. A psid too long for it stays
	 * out, and the Send API body is refused for its recipient as it would be. Its time is
	 * now: with nothing known of the user, the window is not held against the sender. */
	memset(&ev, 0, sizeof(ev));
	snprintf(ev.page_id, sizeof(ev.page_id), "%s", t->conn->page_id);
	if (strlen(t->psid) < sizeof(ev.user_id))
		snprintf(ev.user_id, sizeof(ev.user_id), "%s", t->psid);
	ev.sender_id = t->psid;
	ev.timestamp = now_ms(w);
	if ((rc = plan_text(&plan, t, &ev)) != MSGR_OK)
		goto out;
	memset(&s, 0, sizeof(s));
	s.st = w->st;
	s.calls = &w->calls;
	s.pacer = rt->pacer;
	s.conn = t->conn;
	for (i = 0; i < plan.n; i++) {
		s.now = now_ms(w);
		t->why[0] = '\0';
		if ((rc = msgr_send_item(&s, &ev, &plan.items[i], res, t->why,
		    sizeof(t->why))) != MSGR_OK) {
			t->step = t->why[0] != '\0' ? MSGR_WORKER_SEND_WINDOW : MSGR_WORKER_SEND_CALL;
			goto out;
		}
		if (t->sent != NULL)
			t->sent(t->arg, res->message_id);
		msgr_graph_result_clear(res);
	}
out:
	msgr_plan_clear(&plan);
	return rc;
}
