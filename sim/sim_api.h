/* sim_api.h — the page's JSON API under /_sim/api/ (docs/simulator.md "The page's API").
 *
 * Every answer is JSON; an error is {"error": "what is wrong"} with 400 (bad request), 404
 * (unknown page, user or path) or 405 (another method, with Allow). Request bodies are JSON
 * objects of at most 1 MiB. */
#ifndef SIM_API_H
#define SIM_API_H

#include "sim_ctx.h"

/* Serves one request; sub is the path after /_sim/api/ ("world", "batch/flush", ...). */
void sim_api_serve(struct sim_ctx *cx, const char *sub);

#endif
