/* webhook.h — a signed webhook body -> typed events, with explicit bounds; no I/O.
 *
 * The body must already have passed msgr_signature_verify. Parsing never fails the request
 * for its content (docs/responder.md "Answers"): a body that is not JSON or not a webhook is
 * reported so the caller quarantines it whole; a malformed entry or event is put in the
 * batch's quarantine list with its reason while the valid events beside it are kept. */
#ifndef MSGR_WEBHOOK_H
#define MSGR_WEBHOOK_H

#include <stddef.h>
#include "event.h"
#include "result.h"

struct msgr_webhook_limits {
	size_t max_depth;             /* MSGR_MAX_JSON_DEPTH */
	size_t max_entries;           /* MSGR_MAX_ENTRIES */
	size_t max_events_per_entry;  /* MSGR_MAX_EVENTS_PER_ENTRY */
	size_t max_events;            /* MSGR_MAX_EVENTS_PER_BODY */
};

/* A part of a body set aside: its compact JSON and why. */
struct msgr_webhook_reject {
	char *raw;                    /* malloc'd JSON text */
	char page_id[MSGR_MAX_ID_LEN + 1];   /* "" when unknown */
	char reason[200];
};

struct msgr_webhook_batch {
	char object[32];              /* "page" for Messenger; anything else is dropped by the caller */
	struct msgr_event *events;    /* in body order */
	size_t n_events;
	struct msgr_webhook_reject *rejects;
	size_t n_rejects;
};

void msgr_webhook_limits_default(struct msgr_webhook_limits *lim);

/* Parses body[0..len). MSGR_OK: *out filled (possibly with rejects; object may be other than
 * "page", then with no events). MSGR_ERR_PARSE / MSGR_ERR_TOOBIG: the body as a whole is not a
 * webhook (invalid JSON or UTF-8, NUL, too deep, not an object, no entry array, over a bound);
 * why says so and *out is empty. MSGR_ERR_NOMEM. msgr_webhook_batch_free in every case. */
msgr_result msgr_webhook_parse(const char *body, size_t len,
    const struct msgr_webhook_limits *lim, struct msgr_webhook_batch *out,
    char *why, size_t whysz);
void msgr_webhook_batch_free(struct msgr_webhook_batch *b);

#endif
