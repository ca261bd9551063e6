/* outbox.c — a process's requests to the host committer, sent together (outbox.h). */
#include "outbox.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "answerer.h"
#include "clock.h"

/* Room for a group's head in a message; the rest is the entries' rows. */
#define GROUP_HEAD 16
/* An entry's buffer kept between requests up to this: a large body's is given back. */
#define KEEP_ROWS (64u << 10)

struct flight {
	struct msgr_answerer_item it;        /* first: the answerer's item is the flight */
	struct msgr_outbox *ob;
	struct msgr_hostcommit_call *call;
	struct msgr_outbox_entry *first;     /* its entries, chained by next */
	size_t n;
	const struct msgr_buf **parts;       /* MSGR_HOSTCOMMIT_MAX_BATCH */
	int busy;
};

struct msgr_outbox {
	struct msgr_hostcommit *h;
	struct msgr_answerer *ans;
	msgr_outbox_fn done;
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t idle;                 /* pending reached 0 */
	struct msgr_outbox_entry *head, *tail;
	unsigned pending;                    /* sent and not done */
	unsigned long groups;
	unsigned nflights;
	struct flight *fl;
};

/* Runs done for each entry of a chain (lost or answered), then counts them done. */
static void
finish(struct msgr_outbox *ob, struct msgr_outbox_entry *e, int lost)
{
	struct msgr_outbox_entry *next;
	unsigned n = 0;

	for (; e != NULL; e = next) {
		next = e->next;
		e->next = NULL;
		e->answer->next = NULL;
		if (e->rows.cap > KEEP_ROWS)
			msgr_buf_free(&e->rows);
		ob->done(ob->arg, e, lost);
		n++;
	}
	pthread_mutex_lock(&ob->mu);
	ob->pending -= n;
	if (ob->pending == 0)
		pthread_cond_broadcast(&ob->idle);
	pthread_mutex_unlock(&ob->mu);
}

/* Takes what is queued into a free flight, within the wire's bounds: the flight, or NULL
 * (nothing queued, or every flight out). Under ob->mu. */
static struct flight *
take_queued(struct msgr_outbox *ob)
{
	struct flight *f = NULL;
	struct msgr_outbox_entry *e, *last = NULL;
	size_t bytes = GROUP_HEAD, n = 0;
	unsigned i;

	if (ob->head == NULL)
		return NULL;
	for (i = 0; i < ob->nflights && f == NULL; i++)
		if (!ob->fl[i].busy)
			f = &ob->fl[i];
	if (f == NULL)
		return NULL;
	/* At least one entry; one too big for the wire alone is lost at the send, and stored
	 * by its own thread. */
	for (e = ob->head; e != NULL && n < MSGR_HOSTCOMMIT_MAX_BATCH; e = e->next) {
		if (n > 0 && bytes + e->rows.len > MSGR_HOSTCOMMIT_MAX_MSG)
			break;
		bytes += e->rows.len;
		f->parts[n++] = &e->rows;
		last = e;
	}
	f->first = ob->head;
	f->n = n;
	ob->head = last->next;
	if (ob->head == NULL)
		ob->tail = NULL;
	last->next = NULL;
	f->busy = 1;
	return f;
}

static void flush(struct msgr_outbox *ob);

/* The flight's entries are done (answered, or lost); the flight is free for the next group. */
static void
land(struct msgr_outbox *ob, struct flight *f, int lost, int then_flush)
{
	struct msgr_outbox_entry *first = f->first;

	pthread_mutex_lock(&ob->mu);
	f->first = NULL;
	f->n = 0;
	f->call = NULL;
	f->busy = 0;
	pthread_mutex_unlock(&ob->mu);
	/* What waited for this flight goes before these answers are written: the committer
	 * works on it meanwhile. */
	if (then_flush)
		flush(ob);
	finish(ob, first, lost);
}

/* On the answerer's thread: the flight's answer is in, its deadline passed, or the
 * connection ended. */
static void
flight_done(void *arg, struct msgr_answerer_item *it, int timed_out)
{
	struct flight *f = (struct flight *)(void *)it;
	msgr_result rc;

	(void)arg;
	(void)timed_out;   /* past the deadline msgr_hostcommit_receive answers BUSY for each */
	rc = msgr_hostcommit_receive(f->ob->h, f->call, f->first->answer, f->n);
	land(f->ob, f, rc != MSGR_OK, 1);
}

/* Sends what is queued, as one group, while a flight is free. */
static void
flush(struct msgr_outbox *ob)
{
	struct flight *f;
	struct msgr_outbox_entry *e;
	struct msgr_hostcommit_call *call;
	int fd;

	for (;;) {
		pthread_mutex_lock(&ob->mu);
		f = take_queued(ob);
		if (f != NULL)
			ob->groups++;
		pthread_mutex_unlock(&ob->mu);
		if (f == NULL)
			return;
		/* The answers read back into the entries' batches, chained in the group's order. */
		for (e = f->first; e != NULL; e = e->next)
			e->answer->next = e->next != NULL ? e->next->answer : NULL;
		if (msgr_hostcommit_send_parts(ob->h, f->parts, f->n, &call) != MSGR_OK) {
			land(ob, f, 1, 0);
			continue;
		}
		f->call = call;
		/* Nothing of f is read after the add: its answer may complete it at once. */
		fd = msgr_hostcommit_call_fd(call);
		f->it.fd = fd;
		f->it.deadline = msgr_hostcommit_call_deadline(call);
		if (msgr_answerer_add(ob->ans, &f->it) != MSGR_OK)
			/* Not watched: waited for here. */
			land(ob, f, msgr_hostcommit_receive(ob->h, call, f->first->answer, f->n) !=
			    MSGR_OK, 0);
	}
}

msgr_result
msgr_outbox_encode(struct msgr_outbox_entry *e, const struct msgr_commit_batch *rows)
{
	if (e == NULL || rows == NULL)
		return MSGR_ERR_INVALID;
	msgr_buf_reset(&e->rows);
	return msgr_hostcommit_encode_batch(rows, &e->rows);
}

void
msgr_outbox_send(struct msgr_outbox *ob, struct msgr_outbox_entry *e,
    struct msgr_commit_batch *answer)
{
	e->answer = answer;
	e->next = NULL;
	pthread_mutex_lock(&ob->mu);
	if (ob->tail != NULL)
		ob->tail->next = e;
	else
		ob->head = e;
	ob->tail = e;
	ob->pending++;
	pthread_mutex_unlock(&ob->mu);
	flush(ob);
}

unsigned
msgr_outbox_pending(struct msgr_outbox *ob)
{
	unsigned n;

	if (ob == NULL)
		return 0;
	pthread_mutex_lock(&ob->mu);
	n = ob->pending;
	pthread_mutex_unlock(&ob->mu);
	return n;
}

unsigned long
msgr_outbox_groups(struct msgr_outbox *ob)
{
	unsigned long n;

	if (ob == NULL)
		return 0;
	pthread_mutex_lock(&ob->mu);
	n = ob->groups;
	pthread_mutex_unlock(&ob->mu);
	return n;
}

static void
outbox_free(struct msgr_outbox *ob)
{
	unsigned i;

	if (ob->fl != NULL)
		for (i = 0; i < ob->nflights; i++)
			free(ob->fl[i].parts);
	free(ob->fl);
	pthread_cond_destroy(&ob->idle);
	pthread_mutex_destroy(&ob->mu);
	free(ob);
}

msgr_result
msgr_outbox_open(struct msgr_hostcommit *h, unsigned flights, msgr_outbox_fn done, void *arg,
    struct msgr_outbox **out)
{
	struct msgr_outbox *ob;
	msgr_result rc;
	unsigned i;

	if (out == NULL)
		return MSGR_ERR_INVALID;
	*out = NULL;
	if (h == NULL || done == NULL || flights > 64)
		return MSGR_ERR_INVALID;
	if ((ob = calloc(1, sizeof(*ob))) == NULL)
		return MSGR_ERR_NOMEM;
	if (pthread_mutex_init(&ob->mu, NULL) != 0) {
		free(ob);
		return MSGR_ERR_NOMEM;
	}
	if (msgr_clock_mono_cond_init(&ob->idle) != 0) {
		pthread_mutex_destroy(&ob->mu);
		free(ob);
		return MSGR_ERR_NOMEM;
	}
	ob->h = h;
	ob->done = done;
	ob->arg = arg;
	ob->nflights = flights != 0 ? flights : MSGR_OUTBOX_FLIGHTS;
	if ((ob->fl = calloc(ob->nflights, sizeof(*ob->fl))) == NULL) {
		outbox_free(ob);
		return MSGR_ERR_NOMEM;
	}
	for (i = 0; i < ob->nflights; i++) {
		ob->fl[i].ob = ob;
		ob->fl[i].parts = calloc(MSGR_HOSTCOMMIT_MAX_BATCH, sizeof(*ob->fl[i].parts));
		if (ob->fl[i].parts == NULL) {
			outbox_free(ob);
			return MSGR_ERR_NOMEM;
		}
	}
	if ((rc = msgr_answerer_start(flight_done, ob, &ob->ans)) != MSGR_OK) {
		outbox_free(ob);
		return rc;
	}
	*out = ob;
	return MSGR_OK;
}

void
msgr_outbox_close(struct msgr_outbox *ob)
{
	if (ob == NULL)
		return;
	/* A queued entry always has a flight coming back to send it, so this ends. */
	pthread_mutex_lock(&ob->mu);
	while (ob->pending > 0)
		pthread_cond_wait(&ob->idle, &ob->mu);
	pthread_mutex_unlock(&ob->mu);
	msgr_answerer_stop(ob->ans);
	outbox_free(ob);
}
