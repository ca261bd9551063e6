/* plan.h — the answer to one event as Graph API calls (docs/worker.md, step 3 "Plan, once").
 *
 * A plan is made once from the bot's actions, every message checked against every platform
 * limit before anything is kept (one invalid message and none of the answer goes). It is
 * written to the store's outbox once, in one transaction, so a job resumed after a crash or a
 * retry finds it there and goes on from the first call not marked done; and it stays in hand,
 * typed, while its calls are made. Outbox rows are the JSON objects
 *   {"call":"send","body":{<Send API body>},"optional":true|false}
 *   {"call":"pass_thread_control","target":"inbox"|"<app id>","metadata":...}
 *   {"call":"take_thread_control","metadata":...}
 * which every build must keep reading: a plan written before an upgrade may be half sent. */
#ifndef MSGR_PLAN_H
#define MSGR_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "config.h"
#include "event.h"
#include "result.h"
#include "store.h"

enum msgr_plan_kind {
	MSGR_PLAN_SEND = 0,        /* a Send API call: a message or a sender action */
	MSGR_PLAN_PASS_THREAD,     /* pass_thread_control to target */
	MSGR_PLAN_TAKE_THREAD,     /* take_thread_control */
	MSGR_PLAN_UNREADABLE       /* an outbox row that is none of those: fails the job when
	                              its turn comes (why says how) */
};

struct msgr_plan_item {
	enum msgr_plan_kind kind;
	json_t *body;              /* SEND: the whole Send API body */
	int optional;              /* SEND of a sender action: a refusal does not fail the answer */
	char *target;              /* PASS_THREAD: an app id or "inbox" */
	char *metadata;            /* PASS_THREAD, TAKE_THREAD: NULL when none */
	char *why;                 /* UNREADABLE: the failure to record */
	int seq;                   /* its place in the plan */
	int64_t outbox_id;         /* its outbox row, once saved */
	int done;                  /* Facebook confirmed it (the row is marked) */
	int untried;               /* its row was written by this run (msgr_plan_save) and no
	                              call made for it since: nobody can have marked it in flight
	                              (the run holds the job's lease), so that needs no look */
};

struct msgr_plan {
	struct msgr_plan_item *items;   /* everything owned by the plan */
	size_t n;
	size_t cap;
};

void msgr_plan_init(struct msgr_plan *p);
void msgr_plan_clear(struct msgr_plan *p);

/* The outbox's (and the log's) name of a kind: "send", "pass_thread_control",
 * "take_thread_control"; "unreadable". */
const char *msgr_plan_kind_name(enum msgr_plan_kind kind);

/* Appends the Graph calls of the bot's actions (lib/bot.h shapes) answering ev on connector c:
 * each message or sender action a Send API body built and checked by lib/message.h (a text
 * over the limit split at word boundaries first, quick replies on its last part), each thread
 * action a pass or a take. MSGR_OK; MSGR_ERR_LIMIT (an action over a platform limit or
 * unknown) with why naming the action ("action 2: ..."); MSGR_ERR_NOMEM. On failure part of
 * the answer may have been appended: the caller drops the whole plan (nothing of it goes). */
msgr_result msgr_plan_actions(struct msgr_plan *p, const struct msgr_connector *c,
    const struct msgr_event *ev, const json_t *actions, char *why, size_t whysz);

/* Appends the Send API calls of one message action ({"message": {...}, "messaging_type",
 * "tag", "notification_type"}, lib/bot.h) answering ev: a text over the limit split at word
 * boundaries (docs/sending.md "Splitting long text"), quick replies riding on the last part,
 * each body checked. MSGR_OK; MSGR_ERR_LIMIT or MSGR_ERR_INVALID with why (the message's own
 * reason, without an action number); MSGR_ERR_NOMEM. */
msgr_result msgr_plan_message(struct msgr_plan *p, const struct msgr_connector *c,
    const struct msgr_event *ev, const json_t *action, char *why, size_t whysz);

/* Appends a pass of the thread to target (an app id or "inbox"); metadata may be NULL.
 * MSGR_OK, MSGR_ERR_NOMEM. */
msgr_result msgr_plan_pass(struct msgr_plan *p, const char *target, const char *metadata);

/* Writes p (p->n > 0) as job_id's outbox and fills each item's outbox_id. When the job has
 * an outbox already (another process took the job over and planned first), p is replaced by
 * that one, which may be half sent. MSGR_OK; the store's errors; MSGR_ERR_NOMEM. */
msgr_result msgr_plan_save(struct msgr_plan *p, struct msgr_store *st, int64_t job_id);

/* Reads job_id's outbox into p (empty), each row typed once. MSGR_OK; MSGR_ERR_NOTFOUND
 * when the job has none (it was never planned); the store's errors; MSGR_ERR_NOMEM. */
msgr_result msgr_plan_load(struct msgr_plan *p, struct msgr_store *st, int64_t job_id);

#endif
