/* sim_ctx.h — what a request handler of the simulator works with.
 *
 * One per request thread, reused for each request: the shared world, the config, this
 * request, this thread's HTTP client, and the webhooks to post once the answer has gone
 * (a message echo follows the Send API answer, as Facebook's does). */
#ifndef SIM_CTX_H
#define SIM_CTX_H

#include <jansson.h>

#include "config.h"
#include "http.h"
#include "sim_req.h"
#include "sim_world.h"

struct sim_ctx {
	struct sim_world *w;
	const struct msgr_config *cfg;
	struct sim_req *req;
	struct msgr_http *http;        /* this thread's: webhooks, subscription checks */
	json_t *deferred;              /* events to post after the answer (sim_hook.h) */
	const char *msgrctl;           /* the connector's msgrctl */
	const char *webdir;            /* the chat page's folder */
	int (*stopping)(void);         /* 1 once the process is asked to stop */
};

#endif
