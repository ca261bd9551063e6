#include <time.h>

#include "clock.h"

/* Time on clock id in units per second (1000 or 1000000). */
static long long
of(clockid_t id, long long per_s)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (long long)ts.tv_sec * per_s + ts.tv_nsec / (1000000000LL / per_s);
}

long long
msgr_clock_wall_ms(void)
{
	return of(CLOCK_REALTIME, 1000);
}

long long
msgr_clock_mono_ms(void)
{
	return of(CLOCK_MONOTONIC, 1000);
}

long long
msgr_clock_mono_us(void)
{
	return of(CLOCK_MONOTONIC, 1000000);
}

int
msgr_clock_mono_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t a;
	int err;

	if ((err = pthread_condattr_init(&a)) != 0)
		return err;
	if ((err = pthread_condattr_setclock(&a, CLOCK_MONOTONIC)) == 0)
		err = pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
	return err;
}

void
msgr_clock_mono_timespec(struct timespec *ts, long long mono_ms)
{
	ts->tv_sec = (time_t)(mono_ms / 1000);
	ts->tv_nsec = (long)(mono_ms % 1000) * 1000000L;
}

long long
msgr_clock_now(const struct msgr_clock *c)
{
	if (c == NULL || c->now_ms == NULL)
		return msgr_clock_wall_ms();
	return c->now_ms(c->arg);
}
