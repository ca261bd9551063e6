/* checkpointer.c — a thread checkpointing a SQLite store's WAL (checkpointer.h). */
#define _GNU_SOURCE   /* pthread_setname_np */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "checkpointer.h"
#include "clock.h"

struct msgr_checkpointer {
	struct msgr_store_options opt;
	pthread_mutex_t m;
	pthread_cond_t cv;            /* signalled by stop */
	int stop;
	pthread_t tid;
};

static void *
run(void *arg)
{
	struct msgr_checkpointer *c = arg;
	struct msgr_store *st = NULL;
	struct timespec ts;
	int stop;

	for (;;) {
		pthread_mutex_lock(&c->m);
		msgr_clock_mono_timespec(&ts, msgr_clock_mono_ms() + MSGR_CHECKPOINT_EVERY_MS);
		while (!c->stop && pthread_cond_timedwait(&c->cv, &c->m, &ts) == 0)
			;
		stop = c->stop;
		pthread_mutex_unlock(&c->m);
		if (stop)
			break;
		if (st == NULL && msgr_store_open(&c->opt, &st) != MSGR_OK) {
			st = NULL;
			continue;
		}
		if (msgr_store_checkpoint(st, NULL) != MSGR_OK) {
			msgr_store_close(st);   /* reopened next time: the file may have been replaced */
			st = NULL;
		}
	}
	msgr_store_close(st);
	return NULL;
}

msgr_result
msgr_checkpointer_start(const struct msgr_store_options *opt, const char *name,
    struct msgr_checkpointer **out)
{
	struct msgr_checkpointer *c;
	sigset_t all, old;
	int rc;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return MSGR_ERR_NOMEM;
	c->opt = *opt;
	c->opt.checkpoint_apart = 0;
	c->opt.errbuf = NULL;
	c->opt.errbufsz = 0;
	if (pthread_mutex_init(&c->m, NULL) != 0) {
		free(c);
		return MSGR_ERR_NOMEM;
	}
	if (msgr_clock_mono_cond_init(&c->cv) != 0) {
		pthread_mutex_destroy(&c->m);
		free(c);
		return MSGR_ERR_NOMEM;
	}
	/* The signals belong to the program's own loop: the thread takes none of them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&c->tid, NULL, run, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->m);
		free(c);
		return MSGR_ERR_NOMEM;
	}
	if (name != NULL)
		(void)pthread_setname_np(c->tid, name);
	*out = c;
	return MSGR_OK;
}

void
msgr_checkpointer_stop(struct msgr_checkpointer *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->m);
	c->stop = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->m);
	pthread_join(c->tid, NULL);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->m);
	free(c);
}
