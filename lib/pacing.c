/* pacing.c — a token bucket per page (pacing.h). */
#include <errno.h>
#include <time.h>

#include "clock.h"
#include "pacing.h"

void
msgr_pacer_init(struct msgr_pacer *p, int rate)
{
	p->rate = rate > 0 ? rate : MSGR_PACING_DEFAULT_RATE;
	p->tokens = p->rate;
	p->refill_at = 0;
}

void
msgr_pacer_wait(struct msgr_pacer *p)
{
	long long now = msgr_clock_mono_ms();

	if (p->refill_at == 0)
		p->refill_at = now;
	p->tokens += (double)(now - p->refill_at) * p->rate / 1000.0;
	if (p->tokens > p->rate)
		p->tokens = p->rate;
	p->refill_at = now;
	if (p->tokens < 1.0) {
		long long wait = (long long)((1.0 - p->tokens) * 1000.0 / p->rate) + 1;
		struct timespec ts = { (time_t)(wait / 1000), (long)(wait % 1000) * 1000000L };

		/* A signal (SIGTERM to `msgrctl worker`) cuts the sleep short: sleep the rest, the
		 * call is coming anyway and the job is finished before the stop is seen. */
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		p->tokens = 1.0;
		p->refill_at = msgr_clock_mono_ms();
	}
	p->tokens -= 1.0;
}
