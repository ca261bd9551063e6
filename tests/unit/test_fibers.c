/* Unit tests: many jobs on one thread (lib/fibers.h): they run in turn where they wait, their
 * HTTP transfers are in flight together, a blocking call handed to the run's thread lets the
 * others go on, and a run whose fibers all wait on each other ends with an error. */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "fibers.h"

/* ---- switching, queues, local room ---- */

struct order {
	char log[64];
	size_t n;
	struct msgr_fiber_queue q;
	unsigned woke;                 /* what msgr_fiber_wake said */
	unsigned runnable_after;       /* msgr_fiber_runnable() right after the wake */
	int local_was_zero;
	void *locals[3];
};

static void
note(struct order *o, char c)
{
	if (o->n + 1 < sizeof(o->log))
		o->log[o->n++] = c;
}

static void
sleeper(void *arg)
{
	struct order *o = arg;
	unsigned char *local = msgr_fiber_local();
	size_t i, zero = 1;
	char me;

	for (i = 0; i < MSGR_FIBER_LOCAL_SIZE; i++)
		zero &= local[i] == 0;
	o->local_was_zero += (int)zero;
	/* Which fiber: the order they start in. */
	me = (char)('a' + (o->n < 3 ? o->n : 0));
	o->locals[me - 'a'] = local;
	memset(local, me, MSGR_FIBER_LOCAL_SIZE);
	note(o, me);
	/* a sleeps longest: the others go on meanwhile and end first. */
	msgr_fiber_sleep(me == 'a' ? 60 : me == 'b' ? 30 : 5, 0);
	note(o, (char)(me - 'a' + 'A'));
	assert_int_equal(((unsigned char *)msgr_fiber_local())[0], (unsigned char)me);
}

static void
test_fibers_take_turns_where_they_wait(void **state)
{
	struct order o;
	void *args[3] = { &o, &o, &o };

	(void)state;
	memset(&o, 0, sizeof(o));
	assert_int_equal(msgr_fibers_run(3, sleeper, args, NULL), MSGR_OK);
	/* Each ran until its sleep, then each woke in the order of its sleep's end. */
	assert_string_equal(o.log, "abcCBA");
	assert_int_equal(o.local_was_zero, 3);
	assert_ptr_not_equal(o.locals[0], o.locals[1]);
	assert_ptr_not_equal(o.locals[1], o.locals[2]);
	/* Not a fiber here. */
	assert_int_equal(msgr_fiber_active(), 0);
	assert_int_equal(msgr_fiber_runnable(), 0);
	assert_null(msgr_fiber_local());
	assert_int_equal(msgr_fiber_wake(&o.q, 1), 0);
}

static void
waiter_or_waker(void *arg)
{
	struct order *o = arg;

	if (o->n == 0) {
		note(o, 'w');
		msgr_fiber_wait(&o->q);        /* nothing else wakes it */
		note(o, 'W');
		return;
	}
	note(o, 'k');
	o->woke = msgr_fiber_wake(&o->q, 1);
	o->runnable_after = msgr_fiber_runnable();
	note(o, 'K');
}

static void
test_fibers_wait_and_wake(void **state)
{
	struct order o;
	void *args[2] = { &o, &o };

	(void)state;
	memset(&o, 0, sizeof(o));
	assert_int_equal(msgr_fibers_run(2, waiter_or_waker, args, NULL), MSGR_OK);
	/* The waker runs on after its wake; the woken one goes on once it waits or ends. */
	assert_string_equal(o.log, "wkKW");
	assert_int_equal(o.woke, 1);
	assert_int_equal(o.runnable_after, 1);
}

static void
waits_forever(void *arg)
{
	struct order *o = arg;

	note(o, 'w');
	msgr_fiber_wait(&o->q);
	note(o, 'X');                      /* never */
}

/* Fibers that all wait on each other: the run says so and ends, instead of hanging. */
static void
test_fibers_all_waiting_is_an_error(void **state)
{
	struct order o;
	void *args[2] = { &o, &o };

	(void)state;
	memset(&o, 0, sizeof(o));
	assert_int_equal(msgr_fibers_run(2, waits_forever, args, NULL), MSGR_ERR_IO);
	assert_string_equal(o.log, "ww");
}

/* ---- what a switch keeps ---- */

#define PINGS 2000

struct pingpong {
	struct msgr_fiber_queue q[2];
	uint64_t sum[2];
	double fsum[2];
	unsigned mxcsr_seen[2];        /* switches after which a fiber found its own mode */
	int turn_started;
};

/* Many values live across each switch (the compiler keeps them in the registers a call
 * must preserve): a switch that lost one changes the sums. */
static void
churn(uint64_t seed, uint64_t *sum, double *fsum, struct pingpong *p, int me)
{
	uint64_t a = seed, b = seed * 3 + 1, c = seed ^ 0x9e3779b97f4a7c15u, d = seed + 7,
	    e = ~seed, f = seed << 3, g = seed >> 2, h = seed * seed;
	double x = (double)seed, y = 0.5;
	int i;

	for (i = 0; i < PINGS; i++) {
		a ^= a << 13; a ^= a >> 7; a ^= a << 17;
		b += a; c ^= b; d += c * 5; e -= d; f ^= e >> 3; g += f; h ^= g + (uint64_t)i;
		x = x * 0.999 + (double)(h & 0xff);
		y += x / 1024.0;
		if (p != NULL) {
			msgr_fiber_wake(&p->q[1 - me], 0);
			if (i + 1 < PINGS || me == 0)
				msgr_fiber_wait(&p->q[me]);
		}
	}
	*sum = a + b + c + d + e + f + g + h;
	*fsum = x + y;
}

#if defined(__x86_64__)
static unsigned
mxcsr_get(void)
{
	unsigned v;

	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}

static void
mxcsr_set(unsigned v)
{
	__asm__ volatile("ldmxcsr %0" : : "m"(v));
}
#define MXCSR_DOWN 0x2000u          /* rounding: toward minus infinity */
#endif

static void
pinger(void *arg)
{
	struct pingpong *p = arg;
	int me = p->turn_started++;

	churn((uint64_t)(me + 1) * 1000003u, &p->sum[me], &p->fsum[me], p, me);
	msgr_fiber_wake(&p->q[1 - me], 0);
}

#if defined(__x86_64__)
/* The first fiber rounds down, the second keeps the loop's mode; they hand over to each
 * other and each looks at its SSE control word after every switch (no arithmetic meanwhile:
 * the compiler assumes the default mode for it). */
static void
rounder(void *arg)
{
	struct pingpong *p = arg;
	int me = p->turn_started++, i;

	if (me == 0)
		mxcsr_set(mxcsr_get() | MXCSR_DOWN);
	for (i = 0; i < 100; i++) {
		msgr_fiber_wake(&p->q[1 - me], 0);
		msgr_fiber_wait(&p->q[me]);
		if (((mxcsr_get() & MXCSR_DOWN) != 0) == (me == 0))
			p->mxcsr_seen[me]++;
	}
	/* Left rounding down: the loop's own word comes back with the switch to it. */
	msgr_fiber_wake(&p->q[1 - me], 1);
}

static void
test_fibers_switch_keeps_control_words(void **state)
{
	struct pingpong p;
	void *args[2] = { &p, &p };

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(msgr_fibers_run(2, rounder, args, NULL), MSGR_OK);
	assert_int_equal(p.mxcsr_seen[0], 100);
	assert_int_equal(p.mxcsr_seen[1], 100);
	assert_true((mxcsr_get() & MXCSR_DOWN) == 0);
}
#endif

/* Two fibers hand over to each other 2,000 times each: what each computes is what it
 * computes alone. */
static void
test_fibers_switch_keeps_registers(void **state)
{
	struct pingpong p;
	void *args[2] = { &p, &p };
	uint64_t want[2];
	double fwant[2];
	int i;

	(void)state;
	memset(&p, 0, sizeof(p));
	for (i = 0; i < 2; i++)
		churn((uint64_t)(i + 1) * 1000003u, &want[i], &fwant[i], NULL, i);
	assert_int_equal(msgr_fibers_run(2, pinger, args, NULL), MSGR_OK);
	for (i = 0; i < 2; i++) {
		assert_true(p.sum[i] == want[i]);
		assert_true(p.fsum[i] == fwant[i]);
	}
}

static void
deep(unsigned depth, volatile unsigned char *acc)
{
	volatile unsigned char frame[512];

	frame[0] = (unsigned char)depth;
	frame[511] = (unsigned char)(depth >> 1);
	*acc = (unsigned char)(*acc + frame[0] + frame[511]);
	if (depth > 0)
		deep(depth - 1, acc);
	if (depth % 256 == 0)
		msgr_fiber_sleep(1, 0);
}

static void
deep_fiber(void *arg)
{
	volatile unsigned char acc = 0;

	/* About 600 KB of the 1 MB stack, with switches from deep in it. */
	deep(1024, &acc);
	*(unsigned *)arg = acc;
}

static void
test_fibers_deep_stacks(void **state)
{
	unsigned got[2] = { 1, 2 };
	void *args[2] = { &got[0], &got[1] };
	volatile unsigned char want = 0;

	(void)state;
	for (unsigned d = 0; d <= 1024; d++)
		want = (unsigned char)(want + (unsigned char)d + (unsigned char)(d >> 1));
	assert_int_equal(msgr_fibers_run(2, deep_fiber, args, NULL), MSGR_OK);
	assert_int_equal(got[0], want);
	assert_int_equal(got[1], want);
}

static void
nested(void *arg)
{
	msgr_result *r = arg;

	*r = msgr_fibers_run(1, nested, arg, NULL);
}

static void
test_fibers_bounds(void **state)
{
	void *args[MSGR_FIBERS_MAX + 1] = { 0 };
	msgr_result inner = MSGR_OK;
	void *one[1] = { &inner };

	(void)state;
	assert_int_equal(msgr_fibers_run(0, nested, args, NULL), MSGR_ERR_INVALID);
	assert_int_equal(msgr_fibers_run(MSGR_FIBERS_MAX + 1, nested, args, NULL),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_fibers_run(1, NULL, args, NULL), MSGR_ERR_INVALID);
	/* A fiber cannot start a run of its own. */
	assert_int_equal(msgr_fibers_run(1, nested, one, NULL), MSGR_OK);
	assert_int_equal(inner, MSGR_ERR_INVALID);
}

/* ---- hooks before the loop waits ---- */

struct hooked {
	int calls;
	int ready_when_called;         /* a fiber was still to run when the hook ran */
	int step;                      /* how far the fibers are */
	int asked;
};

static void
hook(void *arg)
{
	struct hooked *h = arg;

	h->calls++;
	if (h->step == 1)
		h->ready_when_called = 1;
}

static void
hook_other(void *arg)
{
	(void)arg;
}

static void
asks_hook(void *arg)
{
	struct hooked *h = arg;

	if (h->asked++ == 0) {
		/* Asked twice, called once; the table holds MSGR_FIBER_IDLE_HOOKS. */
		assert_int_equal(msgr_fiber_before_idle(hook, h), 0);
		assert_int_equal(msgr_fiber_before_idle(hook, h), 0);
		assert_int_equal(msgr_fiber_before_idle(hook_other, (char *)h + 1), 0);
		assert_int_equal(msgr_fiber_before_idle(hook_other, (char *)h + 2), 0);
		assert_int_equal(msgr_fiber_before_idle(hook_other, (char *)h + 3), 0);
		assert_int_equal(msgr_fiber_before_idle(hook_other, (char *)h + 4), -1);
		h->step = 1;
		return;                /* the second fiber is still to run: no call yet */
	}
	h->step = 2;
	msgr_fiber_sleep(5, 0);        /* now the loop waits: the hook first */
	assert_int_equal(h->calls, 1);
}

static void
test_fibers_before_idle(void **state)
{
	struct hooked h;
	void *args[2] = { &h, &h };

	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(msgr_fibers_run(2, asks_hook, args, NULL), MSGR_OK);
	assert_int_equal(h.calls, 1);
	assert_int_equal(h.ready_when_called, 0);
	assert_int_equal(msgr_fiber_before_idle(hook, &h), -1);   /* not a fiber */
}

/* ---- the stop ---- */

enum role { STOPPER, STOPPABLE, WHOLE };

struct stopping {
	atomic_int stop;
	long long slept[3];
};

struct part {
	struct stopping *s;
	enum role role;
};

static void
stop_or_sleep(void *arg)
{
	struct part *p = arg;
	long long t0 = msgr_clock_mono_ms();

	switch (p->role) {
	case STOPPER:
		msgr_fiber_sleep(20, 0);
		atomic_store(&p->s->stop, 1);
		break;
	case STOPPABLE:
		msgr_fiber_sleep(60000, 1);    /* cut short by the stop */
		break;
	case WHOLE:
		msgr_fiber_sleep(150, 0);      /* lasts its whole time */
		break;
	}
	p->s->slept[p->role] = msgr_clock_mono_ms() - t0;
}

static void
test_fibers_stop_ends_stoppable_sleeps(void **state)
{
	struct stopping s;
	struct part parts[3] = { { &s, STOPPER }, { &s, STOPPABLE }, { &s, WHOLE } };
	void *args[3] = { &parts[0], &parts[1], &parts[2] };

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(msgr_fibers_run(3, stop_or_sleep, args, &s.stop), MSGR_OK);
	assert_true(s.slept[STOPPABLE] >= 20 && s.slept[STOPPABLE] < 30000);
	assert_true(s.slept[WHOLE] >= 150);
	/* Stopped already: a stoppable sleep does not begin. */
	s.slept[STOPPABLE] = -1;
	assert_int_equal(msgr_fibers_run(1, stop_or_sleep, &args[1], &s.stop), MSGR_OK);
	assert_true(s.slept[STOPPABLE] >= 0 && s.slept[STOPPABLE] < 30000);
}

/* ---- a blocking call handed to the run's thread ---- */

struct offloaded {
	int next_role;                 /* the first fiber offloads, the second runs meanwhile */
	atomic_int other_ran;          /* set by the other fiber while the call blocks */
	pthread_t loop;
	int on_other_thread;
	int saw_other;
	msgr_result r;
};

/* Blocks until the other fiber has run (5 s at most): only possible if the run goes on. */
static msgr_result
blocking(void *arg)
{
	struct offloaded *o = arg;
	struct timespec ts = { 0, 1000000 };
	int i;

	o->on_other_thread = !pthread_equal(pthread_self(), o->loop);
	for (i = 0; i < 5000 && !atomic_load(&o->other_ran); i++)
		nanosleep(&ts, NULL);
	o->saw_other = atomic_load(&o->other_ran);
	return o->saw_other ? MSGR_OK : MSGR_ERR_IO;
}

static void
offloader_or_other(void *arg)
{
	struct offloaded *o = arg;

	if (o->next_role++ == 0) {
		o->r = msgr_fiber_offload(blocking, o);
		return;
	}
	msgr_fiber_sleep(10, 0);
	atomic_store(&o->other_ran, 1);
}

static void
test_fibers_offload_lets_the_others_go_on(void **state)
{
	struct offloaded o;
	void *args[2] = { &o, &o };

	(void)state;
	memset(&o, 0, sizeof(o));
	o.loop = pthread_self();
	assert_int_equal(msgr_fibers_run(2, offloader_or_other, args, NULL), MSGR_OK);
	assert_true(o.on_other_thread);
	assert_true(o.saw_other);
	assert_int_equal(o.r, MSGR_OK);
	/* Outside a fiber it is a plain call, on this thread. */
	memset(&o, 0, sizeof(o));
	o.loop = pthread_self();
	atomic_store(&o.other_ran, 1);
	assert_int_equal(msgr_fiber_offload(blocking, &o), MSGR_OK);
	assert_false(o.on_other_thread);
}

/* ---- transfers in flight together ---- */

enum { CLIENTS = 4 };

/* A peer that answers nobody until CLIENTS requests are in (then "together"), or after 2 s
 * ("alone"): one transfer at a time would get "alone" every time. */
struct peer {
	int lfd;
	unsigned short port;
	pthread_t tid;
};

static void *
peer_main(void *arg)
{
	struct peer *p = arg;
	int fds[CLIENTS], n, i;
	long long end = msgr_clock_mono_ms() + 2000;
	char buf[2048];
	const char *body;
	char reply[256];

	for (n = 0; n < CLIENTS; n++)
		fds[n] = -1;
	for (n = 0; n < CLIENTS;) {
		struct timeval tv = { 0, 50000 };
		fd_set rd;

		FD_ZERO(&rd);
		FD_SET(p->lfd, &rd);
		if (select(p->lfd + 1, &rd, NULL, NULL, &tv) > 0) {
			fds[n] = accept(p->lfd, NULL, NULL);
			/* The request, read whole (it is small and comes at once). */
			if (fds[n] >= 0 && recv(fds[n], buf, sizeof(buf), 0) > 0)
				n++;
		}
		if (msgr_clock_mono_ms() > end)
			break;
	}
	body = n == CLIENTS ? "together" : "alone";
	snprintf(reply, sizeof(reply), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s", strlen(body), body);
	for (i = 0; i < CLIENTS; i++) {
		if (fds[i] < 0)
			continue;
		(void)send(fds[i], reply, strlen(reply), MSG_NOSIGNAL);
		close(fds[i]);
	}
	/* Late ones (one at a time) are answered "alone" as they come. */
	for (; n < CLIENTS && msgr_clock_mono_ms() < end + 30000; n++) {
		int fd = accept(p->lfd, NULL, NULL);

		if (fd < 0)
			break;
		(void)recv(fd, buf, sizeof(buf), 0);
		(void)send(fd, reply, strlen(reply), MSG_NOSIGNAL);
		close(fd);
	}
	return NULL;
}

/* A listening socket on a free port of 127.0.0.1: its descriptor, the port in *port. */
static int
listen_loopback(unsigned short *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void
peer_start(struct peer *p)
{
	p->lfd = listen_loopback(&p->port);
	assert_int_equal(pthread_create(&p->tid, NULL, peer_main, p), 0);
}

struct client {
	unsigned short port;
	char got[32];
	size_t len;
	CURLcode rc;
};

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct client *c = arg;
	size_t k = size * n;

	if (k > sizeof(c->got) - 1 - c->len)
		k = sizeof(c->got) - 1 - c->len;
	memcpy(c->got + c->len, data, k);
	c->len += k;
	return size * n;
}

static void
fetch(void *arg)
{
	struct client *c = arg;
	char url[64];
	CURL *e = curl_easy_init();

	assert_non_null(e);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)c->port);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 20000L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	c->rc = msgr_fiber_perform(e);
	curl_easy_cleanup(e);
}

static void
test_fibers_transfers_in_flight_together(void **state)
{
	struct client c[CLIENTS];
	void *args[CLIENTS];
	struct peer p;
	int i;

	(void)state;
	assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	peer_start(&p);
	memset(c, 0, sizeof(c));
	for (i = 0; i < CLIENTS; i++) {
		c[i].port = p.port;
		args[i] = &c[i];
	}
	assert_int_equal(msgr_fibers_run(CLIENTS, fetch, args, NULL), MSGR_OK);
	assert_int_equal(pthread_join(p.tid, NULL), 0);
	close(p.lfd);
	for (i = 0; i < CLIENTS; i++) {
		assert_int_equal(c[i].rc, CURLE_OK);
		assert_string_equal(c[i].got, "together");
	}
	/* Outside a fiber, a transfer is the caller's alone. */
	peer_start(&p);
	memset(&c[0], 0, sizeof(c[0]));
	c[0].port = p.port;
	fetch(&c[0]);
	assert_int_equal(c[0].rc, CURLE_OK);
	assert_string_equal(c[0].got, "alone");
	for (i = 1; i < CLIENTS; i++) {
		/* The peer waits for the rest: give it them, one at a time. */
		memset(&c[i], 0, sizeof(c[i]));
		c[i].port = p.port;
		fetch(&c[i]);
	}
	assert_int_equal(pthread_join(p.tid, NULL), 0);
	close(p.lfd);
	curl_global_cleanup();
}

/* A peer that keeps its connections open (HTTP/1.1 keep-alive), answers "ok" to each request
 * and counts the connections it accepted, until it has served `want` requests (20 s at
 * most) and then, while `linger`, until each connection is closed by the client. */
struct kpeer {
	int lfd;
	unsigned short port;
	pthread_t tid;
	int want, accepts, served;
};

static void *
kpeer_main(void *arg)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	struct kpeer *p = arg;
	struct pollfd pf[5];
	long long end = msgr_clock_mono_ms() + 20000;
	char buf[2048];
	int fds[4], nfd = 0, i, fd;
	ssize_t k;

	while (p->served < p->want && msgr_clock_mono_ms() < end) {
		pf[0].fd = p->lfd;
		pf[0].events = POLLIN;
		for (i = 0; i < nfd; i++) {
			pf[i + 1].fd = fds[i];
			pf[i + 1].events = POLLIN;
		}
		if (poll(pf, (nfds_t)nfd + 1, 100) <= 0)
			continue;
		for (i = nfd - 1; i >= 0; i--) {
			if (!(pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if ((k = recv(fds[i], buf, sizeof(buf), 0)) > 0) {
				(void)send(fds[i], reply, strlen(reply), MSG_NOSIGNAL);
				p->served++;
			} else {
				close(fds[i]);
				fds[i] = fds[--nfd];
			}
		}
		if ((pf[0].revents & POLLIN) && nfd < 4 && (fd = accept(p->lfd, NULL, NULL)) >= 0) {
			fds[nfd++] = fd;
			p->accepts++;
		}
	}
	for (i = 0; i < nfd; i++)
		close(fds[i]);
	return NULL;
}

static void
kpeer_start(struct kpeer *p, int want)
{
	memset(p, 0, sizeof(*p));
	p->want = want;
	p->lfd = listen_loopback(&p->port);
	assert_int_equal(pthread_create(&p->tid, NULL, kpeer_main, p), 0);
}

/* Two runs given one kept handle: the second run's transfer goes on the connection the first
 * left open (one accepted); two runs of their own connect twice. */
static void
test_fibers_kept_connections(void **state)
{
	struct msgr_fibers_keep keep = { NULL };
	struct client c;
	void *args[1] = { &c };
	struct kpeer p;
	int run;

	(void)state;
	assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	kpeer_start(&p, 2);
	for (run = 0; run < 2; run++) {
		memset(&c, 0, sizeof(c));
		c.port = p.port;
		assert_int_equal(msgr_fibers_run_kept(&keep, 1, fetch, args, NULL), MSGR_OK);
		assert_int_equal(c.rc, CURLE_OK);
		assert_string_equal(c.got, "ok");
	}
	msgr_fibers_keep_free(&keep);
	assert_null(keep.multi);
	assert_int_equal(pthread_join(p.tid, NULL), 0);
	close(p.lfd);
	assert_int_equal(p.served, 2);
	assert_int_equal(p.accepts, 1);

	kpeer_start(&p, 2);
	for (run = 0; run < 2; run++) {
		memset(&c, 0, sizeof(c));
		c.port = p.port;
		assert_int_equal(msgr_fibers_run(1, fetch, args, NULL), MSGR_OK);
		assert_int_equal(c.rc, CURLE_OK);
	}
	assert_int_equal(pthread_join(p.tid, NULL), 0);
	close(p.lfd);
	assert_int_equal(p.accepts, 2);
	curl_global_cleanup();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fibers_take_turns_where_they_wait),
		cmocka_unit_test(test_fibers_wait_and_wake),
		cmocka_unit_test(test_fibers_all_waiting_is_an_error),
		cmocka_unit_test(test_fibers_switch_keeps_registers),
#if defined(__x86_64__)
		cmocka_unit_test(test_fibers_switch_keeps_control_words),
#endif
		cmocka_unit_test(test_fibers_deep_stacks),
		cmocka_unit_test(test_fibers_bounds),
		cmocka_unit_test(test_fibers_before_idle),
		cmocka_unit_test(test_fibers_stop_ends_stoppable_sleeps),
		cmocka_unit_test(test_fibers_offload_lets_the_others_go_on),
		cmocka_unit_test(test_fibers_transfers_in_flight_together),
		cmocka_unit_test(test_fibers_kept_connections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
