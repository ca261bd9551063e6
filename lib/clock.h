/* clock.h — the two clocks of the connector.
 *
 * Wall time is what is stored and shared between processes and restarts: event timestamps,
 * due times of retries, lease expiries, cache expiries (Facebook's timestamps are wall time
 * too). Monotonic time measures durations within a process: work budgets, pacing, request
 * durations; it never jumps when the system clock is set. */
#ifndef MSGR_CLOCK_H
#define MSGR_CLOCK_H

#include <pthread.h>
#include <time.h>

/* Milliseconds since the epoch (CLOCK_REALTIME). */
long long msgr_clock_wall_ms(void);
/* Milliseconds of CLOCK_MONOTONIC: only differences mean anything. */
long long msgr_clock_mono_ms(void);
/* Microseconds of the same clock. */
long long msgr_clock_mono_us(void);

/* A condition variable whose timed waits count on CLOCK_MONOTONIC, so that a wait is not cut
 * short or stretched when the system clock is set. 0 or pthread's error. */
int msgr_clock_mono_cond_init(pthread_cond_t *c);
/* The absolute time, on that condition's clock, of the msgr_clock_mono_ms value mono_ms. */
void msgr_clock_mono_timespec(struct timespec *ts, long long mono_ms);

/* A wall clock that can be replaced: the worker's tests move time (the 24-hour window, retry
 * due times, pause probes), and everything the worker stores must be stamped with the same
 * time it decides by. now_ms NULL means the system's (msgr_clock_wall_ms). */
struct msgr_clock {
	long long (*now_ms)(void *arg);
	void *arg;
};

/* Wall time of c in ms; c NULL or c->now_ms NULL: msgr_clock_wall_ms(). */
long long msgr_clock_now(const struct msgr_clock *c);

#endif
