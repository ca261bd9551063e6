/* sim_hook.h — webhooks out: what Facebook posts to the connector (docs/simulator.md).
 *
 * Each thing the simulated person (or the Page Inbox) does becomes the webhook event
 * Facebook would send: object "page", entry[{id, time, messaging | standby: [...]}], on
 * `messaging` when the connector's app owns the thread and on `standby` otherwise (thread
 * control events always on `messaging`: they are addressed to the app). The body is written
 * compact with every non-ASCII character as \uXXXX, as Facebook writes it, signed with
 * X-Hub-Signature-256 = HMAC-SHA256(app secret, body) and POSTed to simulator.url + the path
 * of the first connector of the page's app (Facebook keeps one callback per app). Each POST
 * is recorded with the connector's status and its duration; the person's items in the
 * conversation carry the webhook's id and status. No lock is held while a POST runs. */
#ifndef SIM_HOOK_H
#define SIM_HOOK_H

#include <jansson.h>

#include "result.h"
#include "sim_ctx.h"

/* POST /_sim/api/event for user on page: body {type, ...} (page and user already read).
 * Returns the answer: {status, webhook, mid, batched[, error]} with *status 200, or
 * {"error"} with *status 400; NULL when out of memory. */
json_t *sim_hook_user_event(struct sim_ctx *cx, int page, int user, const json_t *body,
    int *status);

/* POST /_sim/api/inbox: action take | reply | release, as a person at the page. Returns the
 * answer as sim_hook_user_event. */
json_t *sim_hook_inbox(struct sim_ctx *cx, int page, int user, const json_t *body,
    int *status);

/* POST /_sim/api/batch/flush: the held events, one webhook per app holding each page's
 * events in one entry. {"posted": N, "webhooks": [{webhook, status, events[, error]}]}. */
json_t *sim_hook_flush(struct sim_ctx *cx);

/* POST /_sim/api/redeliver: the last webhook again, same bytes and signature.
 * {status, webhook} with *status 200; {"error"} with 400 when none was posted yet. */
json_t *sim_hook_redeliver(struct sim_ctx *cx, int *status);

/* Locked: queues in cx->deferred the echo Facebook sends of a message the page sent
 * (message as sent; app_id the sending app; mid the message's id), unless echoes are off.
 * MSGR_OK; MSGR_ERR_NOMEM. */
msgr_result sim_hook_defer_echo(struct sim_ctx *cx, int page, int user, const json_t *message,
    const char *app_id, const char *mid);

/* Posts what cx->deferred holds (after the request's answer has gone) and empties it. */
void sim_hook_run_deferred(struct sim_ctx *cx);

#endif
