/* turns.c — threads taking turns on one store handle, committing together (turns.h). */
#include <pthread.h>
#include <stdlib.h>

#include "turns.h"

struct msgr_turns {
	pthread_mutex_t m;
	pthread_cond_t free_cv;       /* the turn was given up: one ready thread takes it */
	pthread_cond_t commit_cv;     /* a commit was made: its waiters go on */
	int busy;                     /* a thread holds the turn */
	unsigned ready;               /* threads waiting to take it */
	unsigned long long commits;   /* commits made so far */
	unsigned long long failed;    /* the number of the last commit that failed; 0: none */
};

msgr_result
msgr_turns_new(struct msgr_turns **out)
{
	struct msgr_turns *t;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return MSGR_ERR_NOMEM;
	if (pthread_mutex_init(&t->m, NULL) != 0) {
		free(t);
		return MSGR_ERR_NOMEM;
	}
	if (pthread_cond_init(&t->free_cv, NULL) != 0) {
		pthread_mutex_destroy(&t->m);
		free(t);
		return MSGR_ERR_NOMEM;
	}
	if (pthread_cond_init(&t->commit_cv, NULL) != 0) {
		pthread_cond_destroy(&t->free_cv);
		pthread_mutex_destroy(&t->m);
		free(t);
		return MSGR_ERR_NOMEM;
	}
	*out = t;
	return MSGR_OK;
}

void
msgr_turns_free(struct msgr_turns *t)
{
	if (t == NULL)
		return;
	pthread_cond_destroy(&t->commit_cv);
	pthread_cond_destroy(&t->free_cv);
	pthread_mutex_destroy(&t->m);
	free(t);
}

void
msgr_turns_take(struct msgr_turns *t)
{
	pthread_mutex_lock(&t->m);
	t->ready++;
	while (t->busy)
		pthread_cond_wait(&t->free_cv, &t->m);
	t->ready--;
	t->busy = 1;
	pthread_mutex_unlock(&t->m);
}

/* Counts a commit just made (by the turn's holder) and wakes whoever waits for it. */
static void
counted(struct msgr_turns *t, msgr_result r, int give)
{
	pthread_mutex_lock(&t->m);
	t->commits++;
	if (r != MSGR_OK)
		t->failed = t->commits;
	if (give) {
		t->busy = 0;
		if (t->ready > 0)
			pthread_cond_signal(&t->free_cv);
	}
	pthread_cond_broadcast(&t->commit_cv);
	pthread_mutex_unlock(&t->m);
}

msgr_result
msgr_turns_pause(struct msgr_turns *t, msgr_turns_commit_fn commit, void *arg)
{
	unsigned long long need;
	msgr_result r;

	pthread_mutex_lock(&t->m);
	/* The next commit is the first to cover what the caller wrote. */
	need = t->commits + 1;
	if (t->ready > 0) {
		t->busy = 0;
		pthread_cond_signal(&t->free_cv);
		while (t->commits < need)
			pthread_cond_wait(&t->commit_cv, &t->m);
		/* Conservative: a failure of that commit or of a later one (the writes are gone
		 * either way once the one that covered them failed). */
		r = t->failed >= need ? MSGR_ERR_STORE : MSGR_OK;
		pthread_mutex_unlock(&t->m);
		return r;
	}
	pthread_mutex_unlock(&t->m);
	r = commit(arg);
	counted(t, r, 1);
	return r;
}

msgr_result
msgr_turns_commit(struct msgr_turns *t, msgr_turns_commit_fn commit, void *arg)
{
	msgr_result r = commit(arg);

	counted(t, r, 0);
	return r;
}

msgr_result
msgr_turns_leave(struct msgr_turns *t, msgr_turns_commit_fn commit, void *arg)
{
	msgr_result r = commit(arg);

	counted(t, r, 1);
	return r;
}
