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
