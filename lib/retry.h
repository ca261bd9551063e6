/* retry.h — what becomes of a job that did not go through (docs/worker.md, step 5 "Outcome"):
 * a failure a retry can cure puts it back, due again after an exponential backoff with jitter,
 * until worker.retry_max_s has passed since it came; anything else, or a job whose workers kept
 * dying, is given up and recorded with the reason `msgrctl status` shows. Both are rows of the
 * store, so they survive restarts. */
#ifndef MSGR_RETRY_H
#define MSGR_RETRY_H

#include "result.h"
#include "store.h"

#define MSGR_RETRY_FIRST_MS 1000LL     /* first retry within 2 s (docs/worker.md) */
#define MSGR_RETRY_CAP_MS   300000LL   /* 5 minutes between tries at most */
/* Claims of one event that ended in neither a finish nor a retry: each was a process that
 * died holding it (a crash, an OOM kill). This many, and the event is given up, so one
 * poisonous event cannot take the pool down for ever. */
#define MSGR_RETRY_MAX_DEATHS 3

/* Delay before retry number attempt (0 = first retry): exponential from MSGR_RETRY_FIRST_MS
 * with jitter in [delay/2, delay], capped at MSGR_RETRY_CAP_MS; hint_ms (a usage header's time
 * to regain access) raises it when larger. r in [0, 1) (outside: 0.5). Pure. */
long long msgr_retry_backoff_ms(int attempt, double r, long long hint_ms);

/* A job's end of this try, as the worker owner (lease holder) sees it at now. */
struct msgr_retry {
	struct msgr_store *st;
	const char *owner;
	long long now;
	int retry_max_s;          /* worker.retry_max_s */
};

/* Workers that died holding job: claims that ended in neither a finish nor a retry. */
int msgr_retry_deaths(const struct msgr_job *job);

/* Puts job back, due after msgr_retry_backoff_ms(job->attempts, r, hint_ms), or gives it up
 * (*gave_up = 1) when retry_max_s has passed since it came. Logged, why recorded. MSGR_OK;
 * MSGR_ERR_NOTFOUND (another process took the job over); the store's errors. */
msgr_result msgr_retry_later(const struct msgr_retry *x, const struct msgr_job *job,
    const char *why, long long hint_ms, double r, int *gave_up);

/* Puts job back, due after wait_ms whatever its attempts (a pause: the job looks again). */
msgr_result msgr_retry_wait(const struct msgr_retry *x, const struct msgr_job *job,
    long long wait_ms, const char *why);

/* Gives job up: failed, why recorded and logged. Results as msgr_retry_later. */
msgr_result msgr_retry_give_up(const struct msgr_retry *x, const struct msgr_job *job,
    const char *why);

#endif
