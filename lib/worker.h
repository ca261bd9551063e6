/* worker.h — works the stored events: claim, record, ask the bot, send, record the outcome,
 * retry (docs/worker.md).
 *
 * The same code runs after each response inside the responder (bounded by a budget so the
 * next request is not kept waiting), in `msgrctl drain` (due work now, for cron) and in
 * `msgrctl worker` (long-running). Every decision that must survive a crash is in the
 * store: the claim is a lease, the planned sends of an event are an outbox written once,
 * each send is marked done in the step that learns it succeeded, and retries are due times.
 * So a killed process loses nothing and, once work resumes, sends nothing twice. The one Send
 * API call that may have been in flight at the kill (Facebook offers no idempotency key) is
 * marked so in the outbox and tagged with its row; its echo, awaited up to
 * worker.echo_wait_ms before the call is repeated, tells that it went (lib/echo.h). */
#ifndef MSGR_WORKER_H
#define MSGR_WORKER_H

#include <stddef.h>
#include "calls.h"
#include "config.h"
#include "graph.h"
#include "message.h"
#include "result.h"
#include "retry.h"
#include "store.h"

struct msgr_worker;

/* Clock, randomness and Facebook are injectable so that backoff, the messaging window, pauses
 * and exactly-once can be tested (tests/unit/test_worker.c). */
struct msgr_worker_hooks {
	long long (*now_ms)(void *arg);       /* default: CLOCK_REALTIME; the store stamps its
	                                         rows with it too (msgr_store_set_clock) */
	double (*random01)(void *arg);        /* default: a per-process PRNG in [0, 1) */
	void *arg;
	msgr_call_hook graph;                 /* answers every Graph API call (lib/calls.h);
	                                         default: the client g sends them */
};

/* cfg, st and g are borrowed and must outlive the worker (g may be NULL when hooks->graph
 * answers; st may be NULL for a worker that only sends with msgr_worker_send_text). owner names this process's leases (e.g. "host:pid"); NULL makes one. hooks may
 * be NULL. MSGR_OK, MSGR_ERR_NOMEM, MSGR_ERR_CONFIG (a bot could not be opened: errors in
 * *errors when not NULL). */
msgr_result msgr_worker_open(const struct msgr_config *cfg, struct msgr_store *st,
    struct msgr_graph *g, const char *owner, const struct msgr_worker_hooks *hooks,
    struct msgr_worker **out, char **errors);
void msgr_worker_close(struct msgr_worker *w);

struct msgr_worker_counts {
	size_t jobs;        /* events claimed */
	size_t sent;        /* Graph calls that succeeded */
	size_t retried;     /* jobs put back for a later try */
	size_t failed;      /* jobs given up (permanent error, window, retries exhausted) */
	size_t echoed;      /* messages whose call's outcome was unknown (a process died with
	                       it in flight, no answer came) found sent by their echo: marked
	                       done, not sent again */
	size_t repeated;    /* such messages sent again without an echo: each a double risked
	                       (logged "repeated a call whose outcome was unknown") */
};

/* Makes w pace its calls with first's pacers: the workers of one process's threads, which
 * share a store handle in turns (msgr_store_share), so each page keeps its send_rate
 * whatever the number of threads. w also leaves the purge of old jobs to first, so that a
 * team's purge goes at one worker's pace. first must outlive w; both opened with the same
 * config. MSGR_OK, MSGR_ERR_INVALID. */
msgr_result msgr_worker_pace_with(struct msgr_worker *w, const struct msgr_worker *first);

/* Works due events until none is due or budget_ms has passed (budget_ms <= 0: until none is
 * due). A job started is finished or put back before the budget check, never abandoned.
 * MSGR_OK (also when there was nothing to do), MSGR_ERR_BUSY / MSGR_ERR_STORE when the store
 * failed (the work stays queued). counts may be NULL. */
msgr_result msgr_worker_run(struct msgr_worker *w, long long budget_ms,
    struct msgr_worker_counts *counts);

/* Where msgr_worker_send_text stopped. */
enum msgr_worker_send_step {
	MSGR_WORKER_SEND_BUILD = 0,   /* a part cannot be sent as it is (why): nothing went */
	MSGR_WORKER_SEND_WINDOW,      /* refused here as Facebook would, outside the messaging
	                                 window (why) */
	MSGR_WORKER_SEND_CALL         /* the call failed: Facebook's answer or the transport's
	                                 reason in res */
};

/* A text to send now, not in answer to an event (`msgrctl send`). */
struct msgr_worker_text {
	const struct msgr_connector *conn;  /* the page that sends: one of the worker's
	                                       config's connectors */
	const char *psid;                   /* the recipient's page-scoped id */
	const char *text;
	const char *messaging_type;         /* NULL: RESPONSE */
	const char *tag;                    /* HUMAN_AGENT with MESSAGE_TAG, else NULL */
	void (*sent)(void *arg, const char *message_id);   /* after each part Facebook took */
	void *arg;
	/* out */
	enum msgr_worker_send_step step;
	char why[MSGR_MESSAGE_WHY_MAX];
};

/* Sends t->text now the way the worker sends a bot's answer (docs/worker.md, steps 3 and 4):
 * split at word boundaries past 2000 characters (surrounding whitespace dropped), every part
 * built and checked before any goes, the messaging window judged on what the store knows of
 * the user (nothing known: not held against the sender), paced with the page's other calls.
 * Nothing is written to the outbox: there is no event to answer, and no retry. MSGR_OK when
 * every part was taken; otherwise t->step says where it stopped (res filled for a call). */
msgr_result msgr_worker_send_text(struct msgr_worker *w, struct msgr_worker_text *t,
    struct msgr_graph_result *res);

/* The delay before retry number attempt: msgr_retry_backoff_ms (lib/retry.h), under the
 * name its tests have always used. */
long long msgr_worker_backoff_ms(int attempt, double r, long long hint_ms);

#endif
