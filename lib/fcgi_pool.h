/* fcgi_pool.h — N request threads accepting on the FastCGI socket, and their stop.
 *
 * The responder (responder.threads > 1) and the simulator serve this way. Each thread waits in
 * accept with only MSGR_FCGI_WAKE_SIGNAL unblocked, serves what it accepted with every signal
 * blocked (so no request is cut), finishes it (the web server releases the client), then
 * runs the program's after-response work. The calling thread waits for SIGTERM, SIGINT or
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

struct msgr_fcgi_pool {
	unsigned threads;
	/* The program's stop flag: set here on a stop signal or when the listening socket
	 * fails; the program may set it too. */
	atomic_int *stop;
	void *arg;
	/* Thread i's request, initialised here (FCGX_InitRequest) and freed here. */
	FCGX_Request *(*request)(void *arg, unsigned i);
	/* Serves the request thread i has accepted. */
	void (*serve)(void *arg, unsigned i, FCGX_Request *fr);
	/* After the answer has gone (FCGX_Finish_r); NULL for nothing. */
	void (*after)(void *arg, unsigned i);
	/* Once the threads run, with how many; NULL for nothing. */
	void (*started)(void *arg, unsigned running);
	int slow_ms;             /* a stop longer than this logs where each thread is */
	int grace_ms;            /* a stop longer than this exits the process (_exit(0)) */
	const char *grace_note;  /* said in that log line: why exiting loses nothing */
};

/* Blocks the stop signals and the wake signal in the calling thread (the request threads
 * inherit the mask), initialises libfcgi, starts the threads and serves until a stop.
 * 0 after a stop, 1 when no thread could start. *running (may be NULL): how many ran. */
int msgr_fcgi_pool_run(const struct msgr_fcgi_pool *p, unsigned *running);

#endif
