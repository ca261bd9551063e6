/* fcgi_serve.c — one request of the responder, whichever way it arrived (the one-request
 * loops of messenger_fcgi.c, the request threads of fcgi_threads.c): an id for its log line,
 * lib/respond.c's handling, and the note that the worker has something to do. Apart from both
 * callers so neither depends on the other. */
#include <stdio.h>

#include "clock.h"
#include "responder.h"

atomic_int responder_stop;

/* The request's log line, and the note for the worker. */
static void
served(struct rthread *t)
{
	struct responder *rs = t->rs;

	if (t->oc.stored > 0)
		atomic_store(&rs->work_pending, 1);
	msgr_respond_log(&rs->respond, &t->req, &t->oc, t->id, (long)(msgr_clock_mono_ms() - t->t0));
}

int
responder_serve(struct rthread *t, const struct msgr_request_io *io, int may_defer)
{
	struct responder *rs = t->rs;

	t->t0 = msgr_clock_mono_ms();
	t->counter++;
	/* Unique per process lifetime: pid-counter, or pid-object-counter with several threads. */
	if (rs->threads > 1)
		snprintf(t->id, sizeof(t->id), "%lx-%x-%lx", rs->pid, t->index, t->counter);
	else
		snprintf(t->id, sizeof(t->id), "%lx-%lx", rs->pid, t->counter);
	if (msgr_respond_begin(&rs->respond, &t->req, io, &t->oc, may_defer ? &t->pend : NULL))
		return 1;
	served(t);
	return 0;
}

void
responder_answer(struct rthread *t, const struct msgr_request_io *io, int lost)
{
	msgr_respond_end(&t->rs->respond, &t->req, io, &t->oc, &t->pend, lost);
	served(t);
}
