/* fibers.c — many jobs on one thread, each on a stack of its own (fibers.h). */
#define _GNU_SOURCE   /* pthread_setname_np */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "clock.h"
#include "fibers.h"
#include "log.h"

/* The sanitizers and valgrind follow a switch of stacks only when told of it: without that,
 * AddressSanitizer reports the other stack's frames as overflows, ThreadSanitizer mixes the
 * fibers' histories, and valgrind takes the switch for a huge frame. */
#if defined(__SANITIZE_ADDRESS__)
#define FIBERS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBERS_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define FIBERS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FIBERS_TSAN 1
#endif
#endif
#ifdef FIBERS_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef FIBERS_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define FIBERS_VALGRIND 1
#endif
#endif

/* The switch of stacks. glibc's swapcontext saves and restores the signal mask, a system
 * call each way: about 18 an answer of the drain, on a virtual machine whose system calls
 * cost more than the switch itself. A fiber never changes the signal mask, so on x86-64 the
 * switch is the few instructions below: the registers a call must preserve pushed on the
 * stack being left, the stack pointer swapped. Elsewhere, under AddressSanitizer (which
 * follows getcontext and setcontext, see switch_ctx) and where the stack being left is
 * checked by the processor (shadow stacks, __CET__), ucontext as before. */
#if defined(__x86_64__) && !defined(FIBERS_ASAN) && !(defined(__CET__) && (__CET__ & 2))
#define FIBERS_SWITCH_ASM 1
#endif

#ifdef FIBERS_SWITCH_ASM
/* Saves rbp, rbx, r12 to r15, the SSE and x87 control words on the running stack, stores its
 * pointer in *from, and resumes the stack to, whose top holds the same (as saved here, or as
 * prepare lays out a new fiber's), returning to its caller, or to entry at a fiber's start. */
void fibers_switch(void **from, void *to) __asm__("msgr_fibers_switch_x86_64");
__asm__(
    ".pushsection .text\n"   /* and back after: the compiler keeps its own section */
    ".p2align 4\n"
    ".type msgr_fibers_switch_x86_64, @function\n"
    "msgr_fibers_switch_x86_64:\n"
    "\tpushq %rbp\n"
    "\tpushq %rbx\n"
    "\tpushq %r12\n"
    "\tpushq %r13\n"
    "\tpushq %r14\n"
    "\tpushq %r15\n"
    "\tsubq $8, %rsp\n"
    "\tstmxcsr (%rsp)\n"
    "\tfnstcw 4(%rsp)\n"
    "\tmovq %rsp, (%rdi)\n"
    "\tmovq %rsi, %rsp\n"
    "\tldmxcsr (%rsp)\n"
    "\tfldcw 4(%rsp)\n"
    "\taddq $8, %rsp\n"
    "\tpopq %r15\n"
    "\tpopq %r14\n"
    "\tpopq %r13\n"
    "\tpopq %r12\n"
    "\tpopq %rbx\n"
    "\tpopq %rbp\n"
    "\tret\n"
    ".size msgr_fibers_switch_x86_64, .-msgr_fibers_switch_x86_64\n"
    ".popsection\n");

/* What the switch restores, below the address it returns to. */
#define SWITCH_FRAME_WORDS 7
typedef struct {
	void *sp;
} fiber_ctx;
#else
typedef ucontext_t fiber_ctx;
#endif

/* The longest the loop waits without looking at the run's stop. */
#define IDLE_LOOK_MS 1000

struct msgr_fiber {
	fiber_ctx ctx;
	void (*fn)(void *);
	void *arg;
	unsigned char *map;            /* the stack's mapping, its guard page first */
	size_t map_size;
	int started, done;
	struct msgr_fiber *next;       /* in the ready queue or a wait queue */
	CURL *easy;                    /* its transfer on the multi handle, if any */
	CURLcode result;
	int transfer_done;
	long long wake_at;             /* asleep until then (monotonic ms); 0: not asleep */
	int stoppable;                 /* the run's stop ends the sleep */
	int offload_done;              /* its msgr_fiber_offload came back */
	alignas(max_align_t) unsigned char local[MSGR_FIBER_LOCAL_SIZE];
	unsigned vg_stack;
	void *asan_fake;
	void *tsan;
};

/* The thread a fiber hands a blocking call to (msgr_fiber_offload), one call at a time. */
struct offload {
	pthread_t tid;
	int started;
	pthread_mutex_t m;
	pthread_cond_t cv;
	msgr_result (*fn)(void *);
	void *arg;
	msgr_result r;
	int pending, quit;
	atomic_int finished;           /* set by the thread, taken by the loop */
	int pipe[2];                   /* a byte each time: wakes the loop's poll */
	int busy;                      /* a fiber's call is there */
	struct msgr_fiber *waiter;
	struct msgr_fiber_queue slot;  /* fibers waiting for the thread */
};

/* A call the loop makes before it waits (msgr_fiber_before_idle). */
struct idle_hook {
	void (*fn)(void *);
	void *arg;
};

struct msgr_fibers {
	fiber_ctx main;
	struct msgr_fiber *fibers;
	size_t n, alive;
	struct msgr_fiber *current;    /* the fiber running; NULL in the loop */
	struct msgr_fiber_queue ready;
	unsigned n_ready;
	CURLM *multi;
	unsigned transfers;            /* on the multi handle */
	unsigned sleepers;
	atomic_int *stop;
	struct offload off;
	struct idle_hook hooks[MSGR_FIBER_IDLE_HOOKS];  /* msgr_fiber_before_idle */
	size_t n_hooks;
	const void *main_bottom;       /* the loop's stack, for AddressSanitizer */
	size_t main_size;
	void *main_tsan;
};

/* The run the calling thread is in, if any. */
static _Thread_local struct msgr_fibers *here;

/* ---- switching ---- */

static void
fatal_switch(void)
{
	/* swapcontext fails only on a context it was not given by getcontext: a bug here. */
	msgr_log(MSGR_LOG_ERROR, "fibers: cannot switch stacks: %s", strerror(errno));
	abort();
}

/* Saves the running context in from and runs to; returns when from is run again. Under
 * AddressSanitizer without swapcontext, whose interceptor warns on every run that it may
 * report falsely (the switches here are annotated, so it need not): the same switch made
 * of getcontext and setcontext, which it leaves alone. */
static int
switch_ctx(fiber_ctx *from, fiber_ctx *to)
{
#if defined(FIBERS_SWITCH_ASM)
	fibers_switch(&from->sp, to->sp);
	return 0;
#elif defined(FIBERS_ASAN)
	volatile int back = 0;

	if (getcontext(from) != 0)
		return -1;
	if (back)
		return 0;
	back = 1;
	return setcontext(to);
#else
	return swapcontext(from, to);
#endif
}

/* From the loop into fiber f, until it waits or ends. */
static void
enter(struct msgr_fibers *fs, struct msgr_fiber *f)
{
	long pg = sysconf(_SC_PAGESIZE);
#ifdef FIBERS_ASAN
	void *fake = NULL;

	__sanitizer_start_switch_fiber(&fake, f->map + pg, f->map_size - (size_t)pg);
#else
	(void)pg;
#endif
#ifdef FIBERS_TSAN
	__tsan_switch_to_fiber(f->tsan, 0);
#endif
	fs->current = f;
	if (switch_ctx(&fs->main, &f->ctx) != 0)
		fatal_switch();
#ifdef FIBERS_ASAN
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
	fs->current = NULL;
}

/* From fiber f back to the loop; returns when the loop enters f again (never when f has
 * ended). */
static void
leave(struct msgr_fibers *fs, struct msgr_fiber *f)
{
#ifdef FIBERS_ASAN
	__sanitizer_start_switch_fiber(f->done ? NULL : &f->asan_fake, fs->main_bottom,
	    fs->main_size);
#endif
#ifdef FIBERS_TSAN
	__tsan_switch_to_fiber(fs->main_tsan, 0);
#endif
	if (switch_ctx(&f->ctx, &fs->main) != 0)
		fatal_switch();
#ifdef FIBERS_ASAN
	__sanitizer_finish_switch_fiber(f->asan_fake, &fs->main_bottom, &fs->main_size);
#endif
}

/* Where every fiber starts: makecontext passes no pointer portably, the run knows which. */
static void
entry(void)
{
	struct msgr_fibers *fs = here;
	struct msgr_fiber *f = fs->current;

#ifdef FIBERS_ASAN
	__sanitizer_finish_switch_fiber(NULL, &fs->main_bottom, &fs->main_size);
#endif
	f->fn(f->arg);
	f->done = 1;
	leave(fs, f);
}

/* ---- queues ---- */

static void
push(struct msgr_fiber_queue *q, struct msgr_fiber *f)
{
	f->next = NULL;
	if (q->tail != NULL)
		q->tail->next = f;
	else
		q->head = f;
	q->tail = f;
}

static struct msgr_fiber *
pop(struct msgr_fiber_queue *q)
{
	struct msgr_fiber *f = q->head;

	if (f != NULL) {
		q->head = f->next;
		if (q->head == NULL)
			q->tail = NULL;
		f->next = NULL;
	}
	return f;
}

static void
make_ready(struct msgr_fibers *fs, struct msgr_fiber *f)
{
	push(&fs->ready, f);
	fs->n_ready++;
}

/* ---- what a fiber calls ---- */

int
msgr_fiber_active(void)
{
	return here != NULL && here->current != NULL;
}

unsigned
msgr_fiber_runnable(void)
{
	return msgr_fiber_active() ? here->n_ready : 0;
}

void *
msgr_fiber_local(void)
{
	return msgr_fiber_active() ? here->current->local : NULL;
}

void
msgr_fiber_wait(struct msgr_fiber_queue *q)
{
	struct msgr_fibers *fs = here;
	struct msgr_fiber *f;

	if (fs == NULL || (f = fs->current) == NULL)
		return;
	push(q, f);
	leave(fs, f);
}

unsigned
msgr_fiber_wake(struct msgr_fiber_queue *q, int all)
{
	struct msgr_fiber *f;
	unsigned n = 0;

	if (here == NULL)
		return 0;
	while ((f = pop(q)) != NULL) {
		make_ready(here, f);
		n++;
		if (!all)
			break;
	}
	return n;
}

CURLcode
msgr_fiber_perform(CURL *easy)
{
	struct msgr_fibers *fs = here;
	struct msgr_fiber *f;
	CURLMcode mc;

	if (fs == NULL || (f = fs->current) == NULL)
		return curl_easy_perform(easy);
	if (curl_easy_setopt(easy, CURLOPT_PRIVATE, (void *)f) != CURLE_OK)
		return CURLE_FAILED_INIT;
	if ((mc = curl_multi_add_handle(fs->multi, easy)) != CURLM_OK)
		return mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
	f->easy = easy;
	f->transfer_done = 0;
	fs->transfers++;
	while (!f->transfer_done)
		leave(fs, f);
	f->easy = NULL;
	return f->result;
}

void
msgr_fiber_sleep(long long ms, int stoppable)
{
	struct msgr_fibers *fs = here;
	struct msgr_fiber *f;
	struct timespec ts;

	if (ms <= 0)
		return;
	if (fs == NULL || (f = fs->current) == NULL) {
		ts.tv_sec = (time_t)(ms / 1000);
		ts.tv_nsec = (long)(ms % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stoppable)
			;
		return;
	}
	if (stoppable && fs->stop != NULL && atomic_load(fs->stop))
		return;
	f->wake_at = msgr_clock_mono_ms() + ms;
	f->stoppable = stoppable;
	fs->sleepers++;
	while (f->wake_at != 0)
		leave(fs, f);
}

static void *
offload_thread(void *arg)
{
	struct offload *o = arg;
	msgr_result (*fn)(void *);
	void *a;
	msgr_result r;
	ssize_t w;

	pthread_mutex_lock(&o->m);
	for (;;) {
		while (!o->pending && !o->quit)
			pthread_cond_wait(&o->cv, &o->m);
		if (!o->pending)
			break;
		fn = o->fn;
		a = o->arg;
		pthread_mutex_unlock(&o->m);
		r = fn(a);
		pthread_mutex_lock(&o->m);
		o->r = r;
		o->pending = 0;
		atomic_store(&o->finished, 1);
		/* A full pipe already wakes the loop. */
		do
			w = write(o->pipe[1], "x", 1);
		while (w < 0 && errno == EINTR);
	}
	pthread_mutex_unlock(&o->m);
	return NULL;
}

static int
offload_start(struct offload *o)
{
	int i;

	if (pipe(o->pipe) != 0)
		return -1;
	for (i = 0; i < 2; i++) {
		if (fcntl(o->pipe[i], F_SETFL, O_NONBLOCK) != 0 ||
		    fcntl(o->pipe[i], F_SETFD, FD_CLOEXEC) != 0)
			goto no_thread;
	}
	if (pthread_mutex_init(&o->m, NULL) != 0)
		goto no_thread;
	if (pthread_cond_init(&o->cv, NULL) != 0)
		goto no_cv;
	if (pthread_create(&o->tid, NULL, offload_thread, o) != 0)
		goto no_create;
	(void)pthread_setname_np(o->tid, "msgr-sync");
	o->started = 1;
	return 0;
no_create:
	pthread_cond_destroy(&o->cv);
no_cv:
	pthread_mutex_destroy(&o->m);
no_thread:
	close(o->pipe[0]);
	close(o->pipe[1]);
	return -1;
}

static void
offload_stop(struct offload *o)
{
	if (!o->started)
		return;
	pthread_mutex_lock(&o->m);
	o->quit = 1;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->m);
	pthread_join(o->tid, NULL);
	pthread_cond_destroy(&o->cv);
	pthread_mutex_destroy(&o->m);
	close(o->pipe[0]);
	close(o->pipe[1]);
	o->started = 0;
}

/* The offloaded call that came back, its fiber made ready. */
static void
offload_collect(struct msgr_fibers *fs)
{
	struct offload *o = &fs->off;
	char drain[64];

	if (!o->started || !atomic_load(&o->finished))
		return;
	while (read(o->pipe[0], drain, sizeof(drain)) > 0)
		;
	atomic_store(&o->finished, 0);
	if (o->waiter != NULL) {
		o->waiter->offload_done = 1;
		make_ready(fs, o->waiter);
		o->waiter = NULL;
	}
}

msgr_result
msgr_fiber_offload(msgr_result (*fn)(void *), void *arg)
{
	struct msgr_fibers *fs = here;
	struct offload *o;
	struct msgr_fiber *f;
	msgr_result r;

	if (fs == NULL || (f = fs->current) == NULL)
		return fn(arg);
	o = &fs->off;
	/* Without a thread for it, the call blocks the run, as it would have anyway. */
	if (!o->started && offload_start(o) != 0)
		return fn(arg);
	while (o->busy)
		msgr_fiber_wait(&o->slot);
	o->busy = 1;
	o->waiter = f;
	f->offload_done = 0;
	pthread_mutex_lock(&o->m);
	o->fn = fn;
	o->arg = arg;
	o->pending = 1;
	pthread_cond_signal(&o->cv);
	pthread_mutex_unlock(&o->m);
	while (!f->offload_done)
		leave(fs, f);
	pthread_mutex_lock(&o->m);
	r = o->r;
	pthread_mutex_unlock(&o->m);
	o->busy = 0;
	msgr_fiber_wake(&o->slot, 0);
	return r;
}

int
msgr_fiber_before_idle(void (*fn)(void *), void *arg)
{
	struct msgr_fibers *fs = here;
	size_t i;

	if (fs == NULL || fs->current == NULL || fn == NULL)
		return -1;
	for (i = 0; i < fs->n_hooks; i++)
		if (fs->hooks[i].fn == fn && fs->hooks[i].arg == arg)
			return 0;
	if (fs->n_hooks == MSGR_FIBER_IDLE_HOOKS)
		return -1;
	fs->hooks[fs->n_hooks].fn = fn;
	fs->hooks[fs->n_hooks].arg = arg;
	fs->n_hooks++;
	return 0;
}

/* ---- the loop ---- */

/* The hooks asked for since the last wait, each called once (a hook may ask again). */
static void
before_idle(struct msgr_fibers *fs)
{
	size_t i, n = fs->n_hooks;
	struct idle_hook now[MSGR_FIBER_IDLE_HOOKS];

	memcpy(now, fs->hooks, n * sizeof(now[0]));
	fs->n_hooks = 0;
	for (i = 0; i < n; i++)
		now[i].fn(now[i].arg);
}

/* The transfers that ended: their fibers made ready. */
static void
collect(struct msgr_fibers *fs)
{
	struct msgr_fiber *f;
	CURLMsg *m;
	CURLcode r;
	CURL *easy;
	char *p;
	int left;

	while ((m = curl_multi_info_read(fs->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		easy = m->easy_handle;
		r = m->data.result;
		p = NULL;
		if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p) != CURLE_OK)
			p = NULL;
		/* m is freed by the removal. */
		curl_multi_remove_handle(fs->multi, easy);
		fs->transfers--;
		if ((f = (struct msgr_fiber *)(void *)p) != NULL && f->easy == easy) {
			f->result = r;
			f->transfer_done = 1;
			make_ready(fs, f);
		}
	}
}

/* Sleepers whose time came (all the stoppable ones once the run's stop is set) made ready;
 * the time to the next one's, IDLE_LOOK_MS at most. */
static long long
wake_sleepers(struct msgr_fibers *fs)
{
	long long now = msgr_clock_mono_ms(), next = IDLE_LOOK_MS, left;
	int stop = fs->stop != NULL && atomic_load(fs->stop);
	size_t i;

	for (i = 0; i < fs->n && fs->sleepers > 0; i++) {
		struct msgr_fiber *f = &fs->fibers[i];

		if (f->wake_at == 0)
			continue;
		left = f->wake_at - now;
		if (left <= 0 || (stop && f->stoppable)) {
			f->wake_at = 0;
			fs->sleepers--;
			make_ready(fs, f);
		} else if (left < next) {
			next = left;
		}
	}
	return next;
}

/* Nothing ready: waits for a transfer, an offloaded call, a sleeper's time or the stop (a
 * signal ends the wait early). */
static void
idle(struct msgr_fibers *fs, long long wait_ms)
{
	struct curl_waitfd wfd = { 0, CURL_WAIT_POLLIN, 0 };
	struct pollfd pfd = { -1, POLLIN, 0 };
	int offloaded = fs->off.busy && fs->off.waiter != NULL;

	if (fs->n_ready > 0)
		return;
	if (offloaded && atomic_load(&fs->off.finished))
		return;
	wfd.fd = pfd.fd = offloaded ? fs->off.pipe[0] : -1;
	if (fs->transfers > 0) {
		/* curl_multi_poll also wakes for libcurl's own timers. */
		(void)curl_multi_poll(fs->multi, offloaded ? &wfd : NULL, offloaded ? 1 : 0,
		    (int)wait_ms, NULL);
		return;
	}
	(void)poll(&pfd, offloaded ? 1 : 0, (int)wait_ms);
}

static void
release(struct msgr_fiber *f)
{
	if (f->map == NULL)
		return;
#ifdef FIBERS_VALGRIND
	VALGRIND_STACK_DEREGISTER(f->vg_stack);
#endif
#ifdef FIBERS_TSAN
	if (f->tsan != NULL)
		__tsan_destroy_fiber(f->tsan);
	f->tsan = NULL;
#endif
	munmap(f->map, f->map_size);
	f->map = NULL;
}

/* f's context set to run entry on its stack (the mapping above the guard page pg). */
static int
start_ctx(struct msgr_fiber *f, long pg)
{
#ifdef FIBERS_SWITCH_ASM
	uintptr_t top = ((uintptr_t)(f->map + f->map_size)) & ~(uintptr_t)15;
	void **sp = (void **)(top - 16);
	uint32_t mxcsr;
	uint16_t fcw;

	/* entry starts as if called: its return address (none: it never returns) 8 bytes off
	 * a 16-byte boundary. Below the address the switch returns to (entry), the registers
	 * it restores: zero, and the control words the loop runs with. */
	sp[1] = NULL;
	sp[0] = (void *)(uintptr_t)entry;
	sp -= SWITCH_FRAME_WORDS;
	memset(sp, 0, SWITCH_FRAME_WORDS * sizeof(*sp));
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fcw));
	memcpy(sp, &mxcsr, sizeof(mxcsr));
	memcpy((unsigned char *)sp + 4, &fcw, sizeof(fcw));
	f->ctx.sp = sp;
	(void)pg;
	return 0;
#else
	if (getcontext(&f->ctx) != 0)
		return -1;
	f->ctx.uc_stack.ss_sp = f->map + pg;
	f->ctx.uc_stack.ss_size = f->map_size - (size_t)pg;
	f->ctx.uc_link = NULL;
	makecontext(&f->ctx, entry, 0);
	return 0;
#endif
}

static msgr_result
prepare(struct msgr_fiber *f, void (*fn)(void *), void *arg)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t size = (size_t)MSGR_FIBER_STACK_KB * 1024 + (size_t)pg;
	void *map;

	memset(f, 0, sizeof(*f));
	f->fn = fn;
	f->arg = arg;
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
	    -1, 0);
	if (map == MAP_FAILED)
		return MSGR_ERR_NOMEM;
	f->map = map;
	f->map_size = size;
	if (mprotect(f->map, (size_t)pg, PROT_NONE) != 0 || start_ctx(f, pg) != 0) {
		release(f);
		return MSGR_ERR_NOMEM;
	}
#ifdef FIBERS_VALGRIND
	f->vg_stack = VALGRIND_STACK_REGISTER(f->map + pg, f->map + size);
#endif
#ifdef FIBERS_TSAN
	f->tsan = __tsan_create_fiber(0);
#endif
	return MSGR_OK;
}

msgr_result
msgr_fibers_run(size_t n, void (*fn)(void *), void *const *args, atomic_int *stop)
{
	return msgr_fibers_run_kept(NULL, n, fn, args, stop);
}

void
msgr_fibers_keep_free(struct msgr_fibers_keep *keep)
{
	if (keep == NULL)
		return;
	curl_multi_cleanup(keep->multi);
	keep->multi = NULL;
}

msgr_result
msgr_fibers_run_kept(struct msgr_fibers_keep *keep, size_t n, void (*fn)(void *),
    void *const *args, atomic_int *stop)
{
	struct msgr_fibers fs;
	struct msgr_fiber *f;
	msgr_result rc = MSGR_OK;
	long long wait_ms;
	size_t i;
	int running;

	if (n == 0 || n > MSGR_FIBERS_MAX || fn == NULL || here != NULL)
		return MSGR_ERR_INVALID;
	memset(&fs, 0, sizeof(fs));
	fs.stop = stop;
	if ((fs.fibers = calloc(n, sizeof(*fs.fibers))) == NULL)
		return MSGR_ERR_NOMEM;
	/* Every fiber's connection kept between its calls: by default libcurl keeps 4 a
	 * transfer in flight when one ends, and with many fibers and few transfers at that
	 * moment the others' idle connections would be closed. */
	fs.multi = keep != NULL && keep->multi != NULL ? keep->multi : curl_multi_init();
	if (fs.multi == NULL ||
	    curl_multi_setopt(fs.multi, CURLMOPT_MAXCONNECTS, (long)(2 * n)) != CURLM_OK) {
		if (keep == NULL || keep->multi == NULL)
			curl_multi_cleanup(fs.multi);
		free(fs.fibers);
		return MSGR_ERR_NOMEM;
	}
	for (i = 0; i < n; i++) {
		if ((rc = prepare(&fs.fibers[i], fn, args != NULL ? args[i] : NULL)) != MSGR_OK)
			break;
	}
	if (rc != MSGR_OK) {
		while (i > 0)
			release(&fs.fibers[--i]);
		goto out;
	}
	fs.n = fs.alive = n;
#ifdef FIBERS_TSAN
	fs.main_tsan = __tsan_get_current_fiber();
#endif
	for (i = 0; i < n; i++)
		make_ready(&fs, &fs.fibers[i]);
	here = &fs;
	while (fs.alive > 0) {
		while ((f = pop(&fs.ready)) != NULL) {
			fs.n_ready--;
			enter(&fs, f);
			if (f->done) {
				release(f);
				fs.alive--;
			}
		}
		if (fs.alive == 0)
			break;
		/* The transfers just added start here; the ones that ended are collected. */
		if (fs.transfers > 0) {
			(void)curl_multi_perform(fs.multi, &running);
			collect(&fs);
		}
		offload_collect(&fs);
		wait_ms = wake_sleepers(&fs);
		if (fs.n_ready > 0)
			continue;
		before_idle(&fs);
		if (fs.n_ready > 0)
			continue;
		if (fs.transfers == 0 && fs.sleepers == 0 && !fs.off.busy) {
			/* Every fiber left waits in a queue for one of the others. */
			msgr_log(MSGR_LOG_ERROR, "fibers: %zu of %zu wait for each other: stopped",
			    fs.alive, fs.n);
			rc = MSGR_ERR_IO;
			break;
		}
		idle(&fs, wait_ms);
		if (fs.transfers > 0) {
			(void)curl_multi_perform(fs.multi, &running);
			collect(&fs);
		}
		offload_collect(&fs);
	}
	here = NULL;
	offload_stop(&fs.off);
	for (i = 0; i < n; i++)
		release(&fs.fibers[i]);
out:
	/* Every transfer has ended: a kept handle holds only idle connections now. */
	if (keep != NULL)
		keep->multi = fs.multi;
	else
		curl_multi_cleanup(fs.multi);
	free(fs.fibers);
	return rc;
}
