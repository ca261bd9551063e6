#include <time.h>

#include "clock.h"

static long long
ms_of(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long
msgr_clock_wall_ms(void)
{
	return ms_of(CLOCK_REALTIME);
}

long long
msgr_clock_mono_ms(void)
{
	return ms_of(CLOCK_MONOTONIC);
}

long long
msgr_clock_now(const struct msgr_clock *c)
{
	if (c == NULL || c->now_ms == NULL)
		return msgr_clock_wall_ms();
	return c->now_ms(c->arg);
}
