/* sim_transcript.h — a conversation as a transcript, and its replay (docs/simulator.md
 * "Transcripts").
 *
 * A transcript lists the person's steps (the body of POST /_sim/api/event without page and
 * user) and, after each, what the page's bot sent in answer, as Send API message objects
 * with what the connector chooses freely taken out: mids, metadata, reply_to, is_reusable,
 * and attachment ids (an uploaded id is written as the URL it was uploaded from, so a
 * message sent by URL and the same one sent by id compare equal). Sender actions, the Page
 * Inbox's answers and system items are left out. Replaying sends each person's step for a
 * fresh user of the transcript's name, waits for the answers (until as many messages as
 * recorded arrived and 500 ms passed without another, or the step's wait: 10 s unless the
 * request asks for another) and compares. */
#ifndef SIM_TRANSCRIPT_H
#define SIM_TRANSCRIPT_H

#include <jansson.h>

#include "sim_ctx.h"

#define SIM_REPLAY_STEPS_MAX 200      /* steps of one transcript */
#define SIM_REPLAY_QUIET_MS  500      /* no new answer for this long: the step is over */
#define SIM_REPLAY_WAIT_MS   10000    /* a step never waits longer, unless asked: */
#define SIM_REPLAY_WAIT_MIN  1000     /* ?wait_ms= of a replay: a slow machine (valgrind) */
#define SIM_REPLAY_WAIT_MAX  120000

/* GET /_sim/api/transcript: a new reference, NULL when out of memory. */
json_t *sim_transcript_build(struct sim_world *w, int page, int user);

/* POST /_sim/api/replay: {"ok", "steps", "diff", "user"} with *status 200, or {"error"} with
 * *status 400 for a transcript that cannot be replayed; NULL when out of memory. Each step
 * waits at most wait_ms for its answers. */
json_t *sim_transcript_replay(struct sim_ctx *cx, const json_t *transcript, long wait_ms,
    int *status);

#endif
