/* fcgi_serve.c — one request of the responder, whichever way it arrived (the one-request
 * loops of messenger_fcgi.c, the request threads of fcgi_threads.c): an id for its log line,
 * lib/respond.c's handling, and the note that the worker has something to do. Apart from both
 * callers so neither depends on the other. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "responder.h"

atomic_int responder_stop;

static long
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)((t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000);
}

void
responder_serve(struct rthread *t, const struct msgr_request_io *io)
{
	struct responder *rs = t->rs;
	struct msgr_respond_outcome oc;
	struct timespec t0;
	char id[48];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	t->counter++;
	/* Unique per process lifetime: pid-counter, or pid-thread-counter with several threads. */
	if (rs->threads > 1)
		snprintf(id, sizeof(id), "%lx-%x-%lx", rs->pid, t->index,
		    t->counter);
	else
		snprintf(id, sizeof(id), "%lx-%lx", rs->pid, t->counter);
	msgr_respond(&rs->respond, &t->req, io, &oc);
	if (oc.stored > 0)
		atomic_store(&rs->work_pending, 1);
	msgr_respond_log(&rs->respond, &t->req, &oc, id, ms_since(&t0));
}
