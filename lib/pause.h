/* pause.h — pauses of sending: a connector whose token Facebook refused (104, 190) or a page
 * it restricted (10/1893063) stops sending while its queue is kept. Its jobs look again every
 * MSGR_PAUSE_WAIT_MS without a call; one job probes every MSGR_PAUSE_PROBE_MS; a call that
 * goes through, or (connector) another token in the config, ends the pause (docs/worker.md,
 * step 5 "Outcome"). The pause itself is a row of the store (struct msgr_pause). */
#ifndef MSGR_PAUSE_H
#define MSGR_PAUSE_H

#include "config.h"
#include "graph.h"
#include "result.h"
#include "store.h"

#define MSGR_PAUSE_PROBE_MS (10LL * 60 * 1000)   /* one job tries a paused scope this often */
#define MSGR_PAUSE_WAIT_MS  (5LL * 1000)         /* a paused job's wait between looks */

/* Before a call of connector c to page_id at now: MSGR_OK to go on (also when this call is the
 * probe: the next one is then MSGR_PAUSE_PROBE_MS away; also when c's token changed since its
 * pause, which ends it); MSGR_ERR_PAUSE_CONNECTOR or MSGR_ERR_PAUSE_PAGE to wait; the store's
 * error (MSGR_ERR_BUSY, MSGR_ERR_STORE...) when it could not tell. */
msgr_result msgr_pause_check(struct msgr_store *st, const struct msgr_connector *c,
    const char *page_id, long long now);

/* After Facebook answered rc (MSGR_ERR_PAUSE_CONNECTOR or MSGR_ERR_PAUSE_PAGE; its error in
 * res): pauses the connector (with its token's fingerprint) or the page, the next probe
 * MSGR_PAUSE_PROBE_MS away, and logs it. MSGR_OK or the store's error (logged). */
msgr_result msgr_pause_start(struct msgr_store *st, const struct msgr_connector *c,
    const char *page_id, msgr_result rc, const struct msgr_graph_result *res, long long now);

/* After a call of c to page_id went through: ends their pauses (logged). MSGR_OK or the
 * store's error. */
msgr_result msgr_pause_end(struct msgr_store *st, const struct msgr_connector *c,
    const char *page_id);

#endif
