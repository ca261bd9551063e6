/* intake.h — a parsed webhook batch -> the rows the store takes (SPEC.md "Routing").
 *
 * Each event goes to the connector of its page within the app of the connector whose path
 * the body was posted to (or, for `msgrctl replay`, the connector that quarantined it): one
 * app's signature never injects events into another app's page. Events of other pages are
 * counted and dropped; rejected parts go to quarantine under the connector of their page.
 * Shared by the responder and `msgrctl replay` so both route the same way. No I/O. */
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
 * from b: keep it alive until the store has taken them. MSGR_OK or MSGR_ERR_NOMEM;
 * msgr_intake_free in both cases. */
msgr_result msgr_intake_route(const struct msgr_config *cfg, const struct msgr_connector *via,
    const struct msgr_webhook_batch *b, struct msgr_intake *out);
void msgr_intake_free(struct msgr_intake *in);

#endif
