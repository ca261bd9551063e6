/* sim_graph.h — the fake Graph API: the connector's calls, checked as Facebook checks them.
 *
 * The config's graph.url points at simulator.url + "/_sim/graph", so every call of the
 * connector (and of msgrctl) arrives here as /_sim/graph/vN.N/... The rules are those of
 * tests/fake_graph.py, ported: the token (Authorization: Bearer, or access_token) must be a
 * connector's call_token or an app token "app_id|secret"; appsecret_proof = HMAC-SHA256(app
 * secret, token) is required; the version must be the config's; Send API bodies are checked
 * whole (lib/message.h msgr_message_validate for the message, msgr_message_window_check for
 * Facebook's window on the simulator's clock), only the thread owner may send, personas must
 * be configured, attachment ids must have been uploaded for the page. Refusals are
 * Facebook's: HTTP 400 {"error":{message, type, code, error_subcode, fbtrace_id}}.
 *
 * Every call is recorded (token and proof never kept) and, when it is about a known user,
 * added to that conversation: messages, sender actions, thread control, refusals. A failure
 * set with POST /_sim/api/fail is applied to the next calls; "hang" holds only the calling
 * thread, never the world's mutex. */
#ifndef SIM_GRAPH_H
#define SIM_GRAPH_H

#include "sim_ctx.h"

/* Serves one call; sub is the path after /_sim/graph ("/v26.0/me/messages"). */
void sim_graph_serve(struct sim_ctx *cx, const char *sub);

#endif
