/* fcgi_pool.h — N request threads accepting on the FastCGI socket, and their stop.
 *
 * The responder (responder.threads > 1) and the simulator serve this way. Each thread waits in
 * accept with only MSGR_FCGI_WAKE_SIGNAL unblocked, serves what it accepted with every signal
 * blocked (so no request is cut), finishes it (the web server releases the client), then
 * runs the program's after-response work. A request the program keeps (its answer written
 * later by another thread) is finished by msgr_fcgi_pool_release, and the thread accepts on
 * a spare request object meanwhile. The calling thread waits for SIGTERM, SIGINT or
 * SIGUSR1 (Apache's graceful stop for mod_fcgid), or for a thread to have set *stop, then
 * wakes the threads still in accept until every one has left its loop; past grace_ms the
 * process exits (docs/responder.md "Threads and group commit", "Signals").
 *
 * The program installs a handler that does nothing for MSGR_FCGI_WAKE_SIGNAL, without
 * SA_RESTART, so a woken accept returns EINTR. Built into libmsgr_fcgi.a with lib/fcgi_io.c. */
#ifndef MSGR_FCGI_POOL_H
#define MSGR_FCGI_POOL_H

#include <signal.h>
#include <stdatomic.h>

#include <fcgiapp.h>

#define MSGR_FCGI_WAKE_SIGNAL SIGUSR2

struct msgr_fcgi_pool_state;

struct msgr_fcgi_pool {
	unsigned threads;
	/* The program's stop flag: set here on a stop signal or when the listening socket
	 * fails; the program may set it too. */
	atomic_int *stop;
	void *arg;
	/* Request objects beyond one per thread, for requests kept by serve (0: none kept). */
	unsigned spare;
	/* Request object i (i < threads + spare), initialised here (FCGX_InitRequest) and freed
	 * here. Without spares, object i is thread i's. */
	FCGX_Request *(*request)(void *arg, unsigned i);
	/* Serves the request thread i has accepted in fr. 0: answered, fr is finished here; 1:
	 * kept (only with spares), the program finishes it later with msgr_fcgi_pool_release
	 * and thread i accepts on another object meanwhile, waiting for one when none is free. */
	int (*serve)(void *arg, unsigned i, FCGX_Request *fr);
	/* After the answer has gone (FCGX_Finish_r), on thread i; on a thread of the pool's own,
	 * with i = threads, after msgr_fcgi_pool_nudge; NULL for nothing. */
	void (*after)(void *arg, unsigned i);
	/* Once the threads run, with how many; NULL for nothing. */
	void (*started)(void *arg, unsigned running);
	int slow_ms;             /* a stop longer than this logs where each thread is */
	int grace_ms;            /* a stop longer than this exits the process (_exit(0)) */
	const char *grace_note;  /* said in that log line: why exiting loses nothing */
	struct msgr_fcgi_pool_state *state;   /* private: the running pool's */
};

/* Blocks the stop signals and the wake signal in the calling thread (the request threads
 * inherit the mask), initialises libfcgi, starts the threads and serves until a stop.
 * 0 after a stop, 1 when no thread could start. *running (may be NULL): how many ran. */
int msgr_fcgi_pool_run(struct msgr_fcgi_pool *p, unsigned *running);

/* Finishes a request serve kept (libfcgi's flush of the answer, and the end of the exchange)
 * and gives its object back for a thread to accept on. Any thread, while the pool runs; a stop
 * waits for every kept request, up to grace_ms. */
void msgr_fcgi_pool_release(struct msgr_fcgi_pool *p, FCGX_Request *fr);

/* Has `after` run soon on the pool's own thread (started with spares), so work a kept request
 * left is done even when no request comes to run it. Any thread, while the pool runs and
 * before the caller's kept request is released (a stopping pool ends at the last release). */
void msgr_fcgi_pool_nudge(struct msgr_fcgi_pool *p);

#endif
