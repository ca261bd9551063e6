/* calls.h — the Graph API calls of the worker, in one place: each goes to the client
 * (lib/graph.h), or to a hook that answers in Facebook's place (struct msgr_worker_hooks),
 * so the worker's tests see every call it makes and choose every answer (docs/worker.md
 * "Tests"). */
#ifndef MSGR_CALLS_H
#define MSGR_CALLS_H

#include <jansson.h>

#include "config.h"
#include "graph.h"
#include "pacing.h"
#include "result.h"
#include "store.h"

enum msgr_call_kind {
	MSGR_CALL_SEND = 0,        /* POST me/messages: a message or a sender action */
	MSGR_CALL_PASS_THREAD,     /* POST me/pass_thread_control */
	MSGR_CALL_TAKE_THREAD,     /* POST me/take_thread_control */
	MSGR_CALL_UPLOAD,          /* POST me/message_attachments: an attachment made reusable */
	MSGR_CALL_PROFILE          /* GET {psid}: the user's names */
};

/* One call; everything is borrowed for its duration. */
struct msgr_call {
	enum msgr_call_kind kind;
	const struct msgr_connector *conn;   /* whose page token and app secret it carries */
	const json_t *body;                  /* SEND: the whole Send API body */
	const char *psid;                    /* PASS_THREAD, TAKE_THREAD, PROFILE */
	const char *target;                  /* PASS_THREAD: an app id or "inbox" */
	const char *metadata;                /* PASS_THREAD, TAKE_THREAD; may be NULL */
	const char *type;                    /* UPLOAD: image, audio, video, file */
	const char *url;                     /* UPLOAD */
};

/* Answers call in Facebook's place: fills res as the client would (rc, code, subcode,
 * message, message_id, attachment_id, json: msgr_graph_classify gives rc from a code) and
 * returns res->rc. */
typedef msgr_result (*msgr_call_hook)(void *arg, const struct msgr_call *call,
    struct msgr_graph_result *res);

/* Where calls go: hook when set, else the client g. What st holds (msgr_store_hold) is
 * committed before each call: nothing goes to Facebook that the store could still lose to a
 * rollback, and no call waits with the write lock held. */
struct msgr_caller {
	struct msgr_graph *g;
	msgr_call_hook hook;
	void *arg;
	struct msgr_store *st;               /* may be NULL */
};

/* Makes call; res initialised by the caller (msgr_graph_result_init). Returns as the
 * matching msgr_graph_* call (res->rc); MSGR_ERR_INVALID when there is neither client nor
 * hook; what flushing c->st returned when it failed (then no call is made). */
msgr_result msgr_call_make(const struct msgr_caller *c, const struct msgr_call *call,
    struct msgr_graph_result *res);
/* Takes the next call's token of the page's pacer p; when it is not due yet, waits for it
 * with the store paused (msgr_store_pause: committed, the write lock and the turn left to
 * others). MSGR_OK, or what committing c->st returned (the token is spent either way). */
msgr_result msgr_call_pace(const struct msgr_caller *c, struct msgr_pacer *p);

#endif
