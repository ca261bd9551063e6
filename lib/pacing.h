/* pacing.h — Graph API calls of one page paced by a token bucket of send_rate calls a second,
 * far under Facebook's 300 a second (docs/facebook.md "Limits"; docs/worker.md, step 4). A
 * bucket is per process: with a pool of N processes a page may see up to N x send_rate.
 * Measured on the monotonic clock: setting the system's clock neither stalls nor floods a
 * page. */
#ifndef MSGR_PACING_H
#define MSGR_PACING_H

#include <stdatomic.h>

struct msgr_pacer {
	int rate;                 /* calls a second; the bucket holds at most this many */
	double tokens;
	long long refill_at;      /* monotonic ms of the last refill; 0 before the first call */
	atomic_flag busy;         /* taken for a token's few instructions: threads that share
	                             the pacer without sharing a store handle's turn */
};

#define MSGR_PACING_DEFAULT_RATE 50

/* A full bucket of rate calls a second (rate <= 0: MSGR_PACING_DEFAULT_RATE). */
void msgr_pacer_init(struct msgr_pacer *p, int rate);

/* Takes one call's token now, ahead of time when the bucket is empty: returns how many ms to
 * wait before the call (0: at once). Threads sharing a pacer take their tokens in turn
 * (lib/turns.h) and wait apart. */
long long msgr_pacer_take(struct msgr_pacer *p);
/* Takes one call's token, sleeping until it is due (at most 1/rate s per call waiting). */
void msgr_pacer_wait(struct msgr_pacer *p);
/* Sleeps ms, the rest of it when a signal cuts it short. */
void msgr_pacer_sleep(long long ms);

#endif
