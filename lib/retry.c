/* retry.c — putting a job back for later, or giving it up (retry.h). */
#include <stdio.h>

#include "log.h"
#include "retry.h"

long long
msgr_retry_backoff_ms(int attempt, double r, long long hint_ms)
{
	long long d = MSGR_RETRY_FIRST_MS;
	int i;

	for (i = 0; i < attempt && d < MSGR_RETRY_CAP_MS; i++)
		d *= 2;
	if (d > MSGR_RETRY_CAP_MS)
		d = MSGR_RETRY_CAP_MS;
	if (r < 0 || r >= 1)
		r = 0.5;
	/* "Full jitter" in the upper half: spreads processes apart, never retries at once. */
	d = d / 2 + (long long)((double)(d / 2) * r);
	if (hint_ms > d)
		d = hint_ms < MSGR_RETRY_CAP_MS ? hint_ms : MSGR_RETRY_CAP_MS;
	return d;
}

int
msgr_retry_deaths(const struct msgr_job *job)
{
	/* This claim is not a death yet; every retry ended a claim properly. */
	return job->claims - 1 - job->attempts;
}

msgr_result
msgr_retry_give_up(const struct msgr_retry *x, const struct msgr_job *job, const char *why)
{
	msgr_log(MSGR_LOG_ERROR, "job=%lld connector=%s failed: %s", (long long)job->id,
	    job->connector_id, why);
	return msgr_store_finish(x->st, job->id, x->owner, MSGR_JOB_FAILED, why);
}

msgr_result
msgr_retry_later(const struct msgr_retry *x, const struct msgr_job *job, const char *why,
    long long hint_ms, double r, int *gave_up)
{
	long long delay;
	char note[400];

	*gave_up = 0;
	if (x->now - job->received_at > (long long)x->retry_max_s * 1000) {
		snprintf(note, sizeof(note), "gave up after %d tries: %s", job->attempts + 1, why);
		msgr_log(MSGR_LOG_ERROR, "job=%lld connector=%s %s", (long long)job->id,
		    job->connector_id, note);
		*gave_up = 1;
		return msgr_store_finish(x->st, job->id, x->owner, MSGR_JOB_FAILED, note);
	}
	delay = msgr_retry_backoff_ms(job->attempts, r, hint_ms);
	msgr_log(MSGR_LOG_WARN, "job=%lld connector=%s retry in %lld ms: %s", (long long)job->id,
	    job->connector_id, delay, why);
	return msgr_store_retry(x->st, job->id, x->owner, x->now + delay, why);
}

msgr_result
msgr_retry_wait(const struct msgr_retry *x, const struct msgr_job *job, long long wait_ms,
    const char *why)
{
	return msgr_store_retry(x->st, job->id, x->owner, x->now + wait_ms, why);
}
