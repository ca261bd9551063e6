/* answerer.c — one thread waiting for many answers (answerer.h).
 *
 * Each item's fd is armed EPOLLONESHOT with the item as its data: one event per item, and the
 * connection, kept for the next request, stays in the set disarmed until it carries another
 * (re-armed with EPOLL_CTL_MOD: one system call per request; a new connection needs ADD). A
 * closed fd leaves the set by itself. The pending items are a list in the order added, so the
 * ones past their deadline are at its head. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "answerer.h"
#include "clock.h"

/* The longest epoll_wait: deadlines are looked at, and a stop seen, at least this often. */
#define TICK_MS 100
#define EVENTS  64

struct msgr_answerer {
	int epfd;
	msgr_answerer_fn done;
	void *arg;
	pthread_t tid;
	pthread_mutex_t mu;
	struct msgr_answerer_item *head, *tail;
	unsigned n;
	int stopping;
};

static void
unlink_item(struct msgr_answerer *a, struct msgr_answerer_item *it)
{
	if (it->prev != NULL)
		it->prev->next = it->next;
	else
		a->head = it->next;
	if (it->next != NULL)
		it->next->prev = it->prev;
	else
		a->tail = it->prev;
	it->prev = it->next = NULL;
	it->listed = 0;
	a->n--;
}

/* Takes it off the list if it is still there: 1 when this caller is the one to complete it. */
static int
take(struct msgr_answerer *a, struct msgr_answerer_item *it)
{
	int mine;

	pthread_mutex_lock(&a->mu);
	mine = it->listed;
	if (mine)
		unlink_item(a, it);
	pthread_mutex_unlock(&a->mu);
	return mine;
}

/* The items past their deadline, off the list, chained by next. */
static struct msgr_answerer_item *
take_late(struct msgr_answerer *a, long long now)
{
	struct msgr_answerer_item *late = NULL, *last = NULL, *it;

	pthread_mutex_lock(&a->mu);
	while ((it = a->head) != NULL && it->deadline <= now) {
		unlink_item(a, it);
		if (last != NULL)
			last->next = it;
		else
			late = it;
		last = it;
	}
	pthread_mutex_unlock(&a->mu);
	return late;
}

int
msgr_answerer_wait_ms(long long deadline, long long now)
{
	if (deadline <= now)
		return 0;
	return deadline - now < TICK_MS ? (int)(deadline - now) : TICK_MS;
}

/* How long to wait for events: until the first deadline, at most TICK_MS; -1 to end. */
static int
wait_ms(struct msgr_answerer *a, long long now)
{
	int ms = TICK_MS;

	pthread_mutex_lock(&a->mu);
	if (a->head == NULL && a->stopping)
		ms = -1;
	else if (a->head != NULL)
		ms = msgr_answerer_wait_ms(a->head->deadline, now);
	pthread_mutex_unlock(&a->mu);
	return ms;
}

static void *
answerer_thread(void *arg)
{
	struct msgr_answerer *a = arg;
	struct epoll_event ev[EVENTS];
	struct msgr_answerer_item *late, *next;
	int i, n, ms;

	for (;;) {
		if ((ms = wait_ms(a, msgr_clock_mono_ms())) == -1)
			break;
		n = epoll_wait(a->epfd, ev, EVENTS, ms);
		for (i = 0; i < n; i++) {
			struct msgr_answerer_item *it = ev[i].data.ptr;

			if (take(a, it))
				a->done(a->arg, it, 0);
		}
		for (late = take_late(a, msgr_clock_mono_ms()); late != NULL; late = next) {
			next = late->next;
			late->next = NULL;
			a->done(a->arg, late, 1);
		}
	}
	return NULL;
}

msgr_result
msgr_answerer_start(msgr_answerer_fn done, void *arg, struct msgr_answerer **out)
{
	struct msgr_answerer *a;
	sigset_t all, old;
	int err;

	if (out == NULL || done == NULL)
		return MSGR_ERR_INVALID;
	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return MSGR_ERR_NOMEM;
	a->done = done;
	a->arg = arg;
	if ((a->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		free(a);
		return MSGR_ERR_IO;
	}
	if (pthread_mutex_init(&a->mu, NULL) != 0) {
		close(a->epfd);
		free(a);
		return MSGR_ERR_NOMEM;
	}
	/* No signal is for this thread: the stops go to the program's main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&a->tid, NULL, answerer_thread, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		pthread_mutex_destroy(&a->mu);
		close(a->epfd);
		free(a);
		return MSGR_ERR_IO;
	}
	*out = a;
	return MSGR_OK;
}

msgr_result
msgr_answerer_add(struct msgr_answerer *a, struct msgr_answerer_item *it)
{
	struct epoll_event ev;
	int fd;

	if (a == NULL || it == NULL || it->fd < 0)
		return MSGR_ERR_IO;
	/* Listed before it is armed: its event may come at once, on the other thread, which may
	 * complete it and let its owner reuse it; so nothing of it is read once it is armed
	 * (the fd is read before: the kernel's hand-over through epoll is no ordering
	 * ThreadSanitizer can see, the list's mutex is). */
	fd = it->fd;
	pthread_mutex_lock(&a->mu);
	it->next = NULL;
	it->prev = a->tail;
	if (a->tail != NULL)
		a->tail->next = it;
	else
		a->head = it;
	a->tail = it;
	it->listed = 1;
	a->n++;
	pthread_mutex_unlock(&a->mu);
	ev.events = EPOLLIN | EPOLLONESHOT;
	ev.data.ptr = it;
	if (epoll_ctl(a->epfd, EPOLL_CTL_MOD, fd, &ev) == 0 ||
	    (errno == ENOENT && epoll_ctl(a->epfd, EPOLL_CTL_ADD, fd, &ev) == 0))
		return MSGR_OK;
	/* Not armed, so no event names it; it may have been timed out meanwhile, though. */
	return take(a, it) ? MSGR_ERR_IO : MSGR_OK;
}

unsigned
msgr_answerer_pending(struct msgr_answerer *a)
{
	unsigned n;

	if (a == NULL)
		return 0;
	pthread_mutex_lock(&a->mu);
	n = a->n;
	pthread_mutex_unlock(&a->mu);
	return n;
}

void
msgr_answerer_stop(struct msgr_answerer *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = 1;
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->tid, NULL);
	pthread_mutex_destroy(&a->mu);
	close(a->epfd);
	free(a);
}
