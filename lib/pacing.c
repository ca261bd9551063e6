/* pacing.c — a token bucket per page (pacing.h). */

#include "clock.h"
#include "fibers.h"
#include "pacing.h"

void
msgr_pacer_init(struct msgr_pacer *p, int rate)
{
	p->rate = rate > 0 ? rate : MSGR_PACING_DEFAULT_RATE;
	p->tokens = p->rate;
	p->refill_at = 0;
	atomic_flag_clear(&p->busy);
}

long long
msgr_pacer_take(struct msgr_pacer *p)
{
	long long now, wait = 0;

	while (atomic_flag_test_and_set_explicit(&p->busy, memory_order_acquire))
		;
	/* Read under the lock: a later reading never refills before an earlier one. */
	now = msgr_clock_mono_ms();
	if (p->refill_at == 0)
		p->refill_at = now;
	p->tokens += (double)(now - p->refill_at) * p->rate / 1000.0;
	if (p->tokens > p->rate)
		p->tokens = p->rate;
	p->refill_at = now;
	/* Below zero the bucket owes the calls already promised a time: each waits its share. */
	p->tokens -= 1.0;
	if (p->tokens < 0.0)
		wait = (long long)(-p->tokens * 1000.0 / p->rate) + 1;
	atomic_flag_clear_explicit(&p->busy, memory_order_release);
	return wait;
}

void
msgr_pacer_sleep(long long ms)
{
	/* Not cut short by a signal (SIGTERM to `msgrctl worker`): the call is coming anyway
	 * and the job is finished before the stop is seen. */
	msgr_fiber_sleep(ms, 0);
}

void
msgr_pacer_wait(struct msgr_pacer *p)
{
	msgr_pacer_sleep(msgr_pacer_take(p));
}
