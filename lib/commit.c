/* commit.c — group commit for the responder's request threads (commit.h says what and why).
 *
 * Leader/follower: one mutex guards the queue of batches and the `leading` flag; whoever
 * holds `leading` is the only thread that touches the store handle, so the handle is used by
 * one thread at a time as store.h requires. A thread waits on the condition variable until
 * its batch is done or nobody leads; in the second case it leads. The leader works outside
 * the mutex, so batches keep queueing while a transaction waits for its fsync: that queue is
 * the next group.
 *
 * Counts per batch: msgr_store_enqueue reports new and duplicate events for the whole call.
 * Duplicates inside the group (two requests carrying one event) are found here by key; when
 * they account for every duplicate the store saw, each batch's counts are exact. Otherwise
 * some event was stored before the group began and the store cannot say whose it was: the
 * batches then carry the group's counts and counts_exact = 0, and their log lines say so. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commit.h"
#include "keyset.h"
#include "log.h"

struct msgr_commit {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int leading;                          /* a thread holds the store (commit or borrow) */
	struct msgr_commit_batch *head, *tail; /* queued, not yet taken by a leader */
	struct msgr_store_options opt;
	char *path;
	char err[256];                        /* why the last open failed */
	struct msgr_store *st;                /* only the thread holding `leading` touches it */
	msgr_commit_relay_fn relay;           /* the host's committer, tried first */
	void *relay_arg;
};

msgr_result
msgr_commit_open(const struct msgr_store_options *opt, struct msgr_commit **out)
{
	struct msgr_commit *c = NULL;
	msgr_result rc = MSGR_ERR_NOMEM;
	int mu_ok = 0;

	if (out == NULL)
		return MSGR_ERR_INVALID;
	*out = NULL;
	if (opt == NULL || opt->path == NULL)
		return MSGR_ERR_INVALID;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto out;
	if ((c->path = strdup(opt->path)) == NULL)
		goto out;
	if (pthread_mutex_init(&c->mu, NULL) != 0)
		goto out;
	mu_ok = 1;
	if (pthread_cond_init(&c->cv, NULL) != 0)
		goto out;
	c->opt = *opt;
	c->opt.path = c->path;
	c->opt.errbuf = c->err;
	c->opt.errbufsz = sizeof(c->err);
	*out = c;
	c = NULL;
	rc = MSGR_OK;
out:
	if (c != NULL) {
		if (mu_ok)
			pthread_mutex_destroy(&c->mu);
		free(c->path);
		free(c);
	}
	return rc;
}

void
msgr_commit_close(struct msgr_commit *c)
{
	if (c == NULL)
		return;
	if (c->st != NULL)
		msgr_store_close(c->st);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c->path);
	free(c);
}

/* The store, opened now if it could not be before (503 until it can: docs/responder.md
 * "How it runs"). Called only by the thread holding `leading` (or before any thread runs). */
static struct msgr_store *
store_get(struct msgr_commit *c, msgr_result *why)
{
	msgr_result rc;

	*why = MSGR_OK;
	if (c->st != NULL)
		return c->st;
	c->err[0] = '\0';
	rc = msgr_store_open(&c->opt, &c->st);
	if (rc != MSGR_OK) {
		c->st = NULL;
		*why = rc;
		msgr_log(MSGR_LOG_WARN, "store %s cannot be opened: %s%s%s", c->path,
		    msgr_strerror(rc), c->err[0] ? ": " : "", c->err);
	}
	return c->st;
}

msgr_result
msgr_commit_prepare(struct msgr_commit *c)
{
	msgr_result why;

	if (c == NULL)
		return MSGR_ERR_INVALID;
	pthread_mutex_lock(&c->mu);
	while (c->leading)
		pthread_cond_wait(&c->cv, &c->mu);
	c->leading = 1;
	pthread_mutex_unlock(&c->mu);
	(void)store_get(c, &why);
	pthread_mutex_lock(&c->mu);
	c->leading = 0;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return why;
}

/* After a failed transaction: logged; a store that failed (not merely busy) is closed and
 * reopened on next use, as the fault may be a replaced or repaired file. */
static void
store_failed(struct msgr_commit *c, msgr_result rc)
{
	msgr_log(MSGR_LOG_WARN, "store enqueue failed: %s (%s)", msgr_strerror(rc),
	    c->st != NULL ? msgr_store_errmsg(c->st) : "closed");
	if (rc == MSGR_ERR_STORE && c->st != NULL) {
		msgr_store_close(c->st);
		c->st = NULL;
	}
}

static void
set_unavailable(struct msgr_commit_batch *b, msgr_result why, size_t group)
{
	b->rc = why == MSGR_ERR_BUSY ? MSGR_ERR_BUSY : MSGR_ERR_STORE;
	b->unavailable = 1;
	b->group = group;
}

/* One batch in its own transaction. */
static msgr_result
commit_one(struct msgr_commit *c, struct msgr_commit_batch *b)
{
	struct msgr_store *st;
	msgr_result why;

	if ((st = store_get(c, &why)) == NULL) {
		set_unavailable(b, why, 1);
		return b->rc;
	}
	b->group = 1;
	b->counts_exact = 1;
	b->rc = msgr_store_enqueue(st, b->ev, b->n, b->q, b->nq, &b->n_new, &b->n_dup);
	if (b->rc != MSGR_OK)
		store_failed(c, b->rc);
	return b->rc;
}

/* Each batch's new/dup counts from the group's (see the top of the file). */
static void
attribute(struct msgr_commit_batch *group, size_t n, size_t n_new, size_t n_dup)
{
	struct msgr_commit_batch *b;
	const char **set = NULL;
	size_t cap = 16, mask, i, h, in_group = 0;
	int exact = 0;

	while (cap < 2 * n && cap < SIZE_MAX / 4)
		cap *= 2;
	if (n > 0 && (set = calloc(cap, sizeof(*set))) != NULL) {
		mask = cap - 1;
		for (b = group; b != NULL; b = b->next) {
			b->n_dup = 0;
			for (i = 0; i < b->n; i++) {
				const char *k = b->ev[i].key;

				if (k == NULL)
					continue;
				h = msgr_keyset_hash(k) & mask;
				while (set[h] != NULL && strcmp(set[h], k) != 0)
					h = (h + 1) & mask;
				if (set[h] != NULL)
					b->n_dup++;
				else
					set[h] = k;
			}
			in_group += b->n_dup;
		}
		exact = in_group == n_dup;
	} else if (n == 0) {
		exact = 1;   /* quarantine rows only */
	}
	free(set);
	for (b = group; b != NULL; b = b->next) {
		b->counts_exact = exact;
		if (exact) {
			b->n_new = b->n - b->n_dup;
		} else {
			b->n_new = n_new;
			b->n_dup = n_dup;
		}
	}
}

/* Every batch of the group in ONE transaction. MSGR_ERR_NOMEM, INVALID or TOOBIG leave the
 * batches' results unset for the caller to store them one by one. */
static msgr_result
commit_group(struct msgr_commit *c, struct msgr_commit_batch *group, size_t k, size_t n,
    size_t nq)
{
	struct msgr_store_event *ev = NULL;
	struct msgr_store_quarantine *q = NULL;
	struct msgr_commit_batch *b;
	struct msgr_store *st;
	size_t o = 0, oq = 0, n_new = 0, n_dup = 0;
	msgr_result rc, why;

	if ((st = store_get(c, &why)) == NULL) {
		for (b = group; b != NULL; b = b->next)
			set_unavailable(b, why, k);
		return group->rc;
	}
	rc = MSGR_ERR_NOMEM;
	if ((n > 0 && (ev = calloc(n, sizeof(*ev))) == NULL) ||
	    (nq > 0 && (q = calloc(nq, sizeof(*q))) == NULL))
		goto out;
	for (b = group; b != NULL; b = b->next) {
		if (b->n > 0)
			memcpy(ev + o, b->ev, b->n * sizeof(*ev));
		if (b->nq > 0)
			memcpy(q + oq, b->q, b->nq * sizeof(*q));
		o += b->n;
		oq += b->nq;
	}
	rc = msgr_store_enqueue(st, ev, n, q, nq, &n_new, &n_dup);
	switch (rc) {
	case MSGR_OK:
		for (b = group; b != NULL; b = b->next) {
			b->rc = MSGR_OK;
			b->group = k;
		}
		attribute(group, n, n_new, n_dup);
		break;
	case MSGR_ERR_NOMEM:
	case MSGR_ERR_INVALID:
	case MSGR_ERR_TOOBIG:
		break;   /* one batch's fault, or memory: the caller splits the group */
	default:
		/* BUSY, STORE: nothing was stored; every batch gets the answer (503). */
		store_failed(c, rc);
		for (b = group; b != NULL; b = b->next) {
			b->rc = rc;
			b->group = k;
		}
		break;
	}
out:
	free(ev);
	free(q);
	return rc;
}

/* Commits a group taken from the queue. Returns BUSY or STORE when the group failed as a
 * whole for the store's sake (the batches queued behind it then fail too), else MSGR_OK. */
static msgr_result
lead(struct msgr_commit *c, struct msgr_commit_batch *group)
{
	struct msgr_commit_batch *b;
	size_t k = 0, n = 0, nq = 0;
	msgr_result rc;

	for (b = group; b != NULL; b = b->next) {
		k++;
		n += b->n;
		nq += b->nq;
	}
	if (k == 1)
		rc = commit_one(c, group);
	else {
		rc = commit_group(c, group, k, n, nq);
		if (rc == MSGR_ERR_NOMEM || rc == MSGR_ERR_INVALID || rc == MSGR_ERR_TOOBIG) {
			/* Only the batch at fault should fail: each in its own transaction. */
			for (b = group; b != NULL; b = b->next)
				(void)commit_one(c, b);
			return MSGR_OK;
		}
	}
	return rc == MSGR_ERR_BUSY || rc == MSGR_ERR_STORE ? rc : MSGR_OK;
}

void
msgr_commit_set_relay(struct msgr_commit *c, msgr_commit_relay_fn fn, void *arg)
{
	if (c == NULL)
		return;
	c->relay = fn;
	c->relay_arg = arg;
}

static void
batch_reset(struct msgr_commit_batch *b)
{
	b->rc = MSGR_OK;
	b->unavailable = 0;
	b->group = 0;
	b->n_new = b->n_dup = 0;
	b->counts_exact = 1;
	b->next = NULL;
	b->done = 0;
}

/* Queues the chain first..last and waits until last is done (batches of one chain are taken
 * together, so every one is then done), leading whenever nobody does. */
static void
submit_chain(struct msgr_commit *c, struct msgr_commit_batch *first,
    struct msgr_commit_batch *last)
{
	struct msgr_commit_batch *group, *p;
	msgr_result failed;
	int unavailable;

	pthread_mutex_lock(&c->mu);
	if (c->tail != NULL)
		c->tail->next = first;
	else
		c->head = first;
	c->tail = last;
	for (;;) {
		if (last->done)
			break;
		if (c->leading) {
			pthread_cond_wait(&c->cv, &c->mu);
			continue;
		}
		/* Nobody leads and this chain still waits: take the queue (it holds the chain). */
		c->leading = 1;
		group = c->head;
		c->head = c->tail = NULL;
		pthread_mutex_unlock(&c->mu);

		failed = lead(c, group);
		unavailable = group->unavailable;

		pthread_mutex_lock(&c->mu);
		for (p = group; p != NULL; p = p->next)
			p->done = 1;
		if (failed != MSGR_OK) {
			/* These waited through the failed transaction's busy timeout: answering them
			 * now keeps them inside the 5 s Facebook waits for an answer. */
			for (p = c->head; p != NULL; p = p->next) {
				p->rc = failed;
				p->unavailable = unavailable;
				p->group = 0;
				p->done = 1;
			}
			c->head = c->tail = NULL;
		}
		c->leading = 0;
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
}

msgr_result
msgr_commit_submit(struct msgr_commit *c, struct msgr_commit_batch *b)
{
	if (c == NULL || b == NULL)
		return MSGR_ERR_INVALID;
	batch_reset(b);
	if (b->n == 0 && b->nq == 0)
		return MSGR_OK;
	/* With the host's committer, each thread hands its own batch on its own connection:
	 * no thread of the process waits for a leader, nor a group for the one ahead of it,
	 * and the committer still stores what every thread sent meanwhile in one transaction.
	 * Not relayed (the relay tried a fresh connection already): the queue below, whose
	 * leader stores the group here. */
	if (c->relay != NULL && c->relay(c->relay_arg, b, 1) == MSGR_OK)
		return b->rc;
	submit_chain(c, b, b);
	return b->rc;
}

msgr_result
msgr_commit_submit_group(struct msgr_commit *c, struct msgr_commit_batch *b, size_t n)
{
	size_t i;

	if (c == NULL || (b == NULL && n > 0))
		return MSGR_ERR_INVALID;
	if (n == 0)
		return MSGR_OK;
	for (i = 0; i < n; i++) {
		batch_reset(&b[i]);
		if (i > 0)
			b[i - 1].next = &b[i];
	}
	/* Empty batches ride along: the store counts nothing for them. */
	submit_chain(c, &b[0], &b[n - 1]);
	return MSGR_OK;
}

struct msgr_store *
msgr_commit_borrow(struct msgr_commit *c)
{
	struct msgr_store *st;
	msgr_result why;

	if (c == NULL)
		return NULL;
	pthread_mutex_lock(&c->mu);
	while (c->leading)
		pthread_cond_wait(&c->cv, &c->mu);
	c->leading = 1;
	pthread_mutex_unlock(&c->mu);
	if ((st = store_get(c, &why)) == NULL)
		msgr_commit_giveback(c, 0);
	return st;
}

void
msgr_commit_giveback(struct msgr_commit *c, int failed)
{
	if (c == NULL)
		return;
	if (failed && c->st != NULL) {
		msgr_store_close(c->st);
		c->st = NULL;
	}
	pthread_mutex_lock(&c->mu);
	c->leading = 0;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}
