/* intake.h — a signed webhook body -> events stored, or the body quarantined
 * (docs/responder.md "Answers", docs/events.md "From body to batch").
 *
 * msgr_intake_body is the whole pipeline after the signature check, written once for the
 * responder and `msgrctl replay`: parse (bounded), keep only `object == "page"`, route each
 * event to its connector, and store what came out in ONE transaction through the caller's
 * store step (a plain store handle, or the responder's group commit, which shares one
 * transaction between the requests of several threads).
 *
 * Routing: each event goes to the connector of its page within the app of the connector whose
 * path the body was posted to (or, for `msgrctl replay`, the connector that quarantined it):
 * one app's signature never injects events into another app's page. Events of other pages are
 * counted and dropped; rejected parts go to quarantine under the connector of their page. */
#ifndef MSGR_INTAKE_H
#define MSGR_INTAKE_H

#include <stddef.h>

#include "config.h"
#include "event.h"
#include "result.h"
#include "store.h"
#include "webhook.h"

struct msgr_intake {
	struct msgr_store_event *events;       /* borrow from the batch and from *_buf below */
	size_t n_events;
	struct msgr_store_quarantine *quarantine;
	size_t n_quarantine;
	size_t dropped;                        /* events and rejects of pages outside the app */
	const char *dropped_page;              /* the first such page (borrowed) */
	size_t n_unknown;                      /* events of an unknown kind (kept) */
	const char *unknown_key;               /* the first one's key (borrowed) */
	/* owned */
	char **raw_buf;
	char (*conv_buf)[MSGR_EVENT_CONV_LEN + 1];
	size_t cap;
};

/* Routes batch b, posted to (or quarantined by) connector `via`, into *out. The rows borrow
 * from b: keep it alive until the store has taken them. No I/O. MSGR_OK or MSGR_ERR_NOMEM;
 * msgr_intake_free in both cases. */
msgr_result msgr_intake_route(const struct msgr_config *cfg, const struct msgr_connector *via,
    const struct msgr_webhook_batch *b, struct msgr_intake *out);
void msgr_intake_free(struct msgr_intake *in);

/* ---- the whole pipeline ---- */

/* The store step: stores rows->events and rows->quarantine in ONE transaction, all or
 * nothing, and says how many events were new and how many already stored. Called at most
 * once per body, never with no rows; the rows are valid until it returns. */
typedef msgr_result (*msgr_intake_store_fn)(void *arg, const struct msgr_intake *rows,
    size_t *n_new, size_t *n_dup);

/* The store step on a plain store handle (arg: struct msgr_store *): msgr_store_enqueue. */
msgr_result msgr_intake_store(void *st, const struct msgr_intake *rows, size_t *n_new,
    size_t *n_dup);

/* Log a WARN line (naming the connector) for events of pages outside the app and for
 * events of an unknown kind: the responder's log is where an admin sees them. */
#define MSGR_INTAKE_LOG   0x1u
/* Store a body only when it is wholly good: a page webhook without a malformed part. Anything
 * else stores nothing and says why (`msgrctl replay`: the body stays in quarantine). */
#define MSGR_INTAKE_WHOLE 0x2u

struct msgr_intake_call {
	const struct msgr_config *cfg;
	const struct msgr_connector *via;       /* the connector of the path (or of the row) */
	const struct msgr_webhook_limits *lim;  /* NULL: msgr_webhook_limits_default */
	unsigned flags;                         /* MSGR_INTAKE_* */
	msgr_intake_store_fn store;             /* NULL: a dry run, nothing stored */
	void *store_arg;
};

/* What the body is. */
enum msgr_intake_kind {
	MSGR_INTAKE_UNREAD = 0,       /* not parsed (out of memory): nothing stored */
	MSGR_INTAKE_NOT_WEBHOOK,      /* not JSON or not a webhook: the whole body is one
	                                 quarantine row with why as its reason */
	MSGR_INTAKE_OTHER_OBJECT,     /* `object` other than "page" (another product's webhook on
	                                 this callback): nothing stored */
	MSGR_INTAKE_WEBHOOK           /* a page webhook: its events and its malformed parts */
};

/* Where the call ended: an error comes from this step. */
enum msgr_intake_step {
	MSGR_INTAKE_PARSE = 0,
	MSGR_INTAKE_ROUTE,
	MSGR_INTAKE_STORE
};

struct msgr_intake_result {
	enum msgr_intake_kind kind;
	enum msgr_intake_step step;
	int refused;                  /* MSGR_INTAKE_WHOLE: nothing stored, why says why */
	size_t stored;                /* events new to the store */
	size_t duplicates;            /* events it already had (a redelivery) */
	size_t quarantined;           /* rows set aside (the body, or malformed parts) */
	size_t dropped;               /* events and parts of pages outside the app */
	size_t routed;                /* events routed to a connector (what would be stored) */
	char object[32];              /* the body's `object` once parsed */
	char why[200];                /* NOT_WEBHOOK: the quarantine reason; WEBHOOK: the first
	                                 quarantined part's reason ("" if none); refused: why */
};

/* Runs the pipeline on a body whose signature was checked (over these exact bytes). res is
 * filled in every case. MSGR_OK: what res says is done (stored, quarantined, dropped or, with
 * MSGR_INTAKE_WHOLE, refused). Otherwise res->step says where it failed: PARSE or ROUTE
 * (MSGR_ERR_NOMEM, nothing stored), STORE (the store step's error: nothing stored; counts
 * other than dropped are 0). */
msgr_result msgr_intake_body(const struct msgr_intake_call *call, const char *body, size_t len,
    struct msgr_intake_result *res);

#endif
