/* responder.h — what the files of the responder program share: src/messenger_fcgi.c (main,
 * signals, the one-request loops), src/fcgi_serve.c (one request), src/fcgi_io.c (plain CGI),
 * src/fcgi_threads.c (request threads, on lib/fcgi_pool.h), src/fcgi_work.c (the worker after
 * the answer). The request handling itself is the library's (lib/respond.h). Private to the
 * program. */
#ifndef MSGR_RESPONDER_H
#define MSGR_RESPONDER_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include <fcgiapp.h>

#include "commit.h"
#include "config.h"
#include "fcgi_io.h"
#include "fcgi_pool.h"
#include "graph.h"
#include "hostcommit.h"
#include "request.h"
#include "respond.h"
#include "store.h"
#include "worker.h"

/* Set by SIGTERM, SIGINT and SIGUSR1 (Apache's graceful stop for mod_fcgid): by the handler
 * with one thread, by the main thread's sigtimedwait with several. A lock-free atomic is
 * both async-signal-safe and visible across threads. */
extern atomic_int responder_stop;

/* Threads of a process that work the worker's run beside the one leading it. */
#define RESPONDER_HELPERS 3

/* What lives across requests: config and long-lived handles only, so a request allocates
 * nothing that outlives it. Read-only once the request threads run, except the worker's
 * part, which work_mu guards. */
struct responder {
	struct msgr_config *cfg;
	struct msgr_store_options store_opt;
	struct msgr_commit *commit;    /* the store handle for intake, behind the group commit */
	struct msgr_hostcommit *host;  /* the host's committer, the group commit's relay */
	struct msgr_respond respond;   /* what the request handler reads */
	int threads;                   /* request threads; 1: the accept loop in the main thread */
	unsigned long pid;             /* this process's, for request ids: one syscall fewer each */
	/* The worker after the response (docs/worker.md): one thread of the process at a time
	 * runs it, so the others keep answering; opened on first use. */
	pthread_mutex_t work_mu;
	atomic_int work_pending;       /* a request stored new events since the worker started */
	long long last_work;           /* when the worker last ran (ms) */
	struct msgr_graph *graph;
	struct msgr_worker *worker;
	struct msgr_store *worker_store; /* the store handle the worker was opened on */
	struct msgr_store *own_store;  /* threads > 1: the worker's own handle (the commit's is
	                                  the leaders'); threads == 1 borrows the commit's */
	char own_err[256];
	/* threads > 1 on SQLite: RESPONDER_HELPERS threads of the process, started on its first
	 * run, work each run beside the leader on the same handle, in turns (src/fcgi_work.c). */
	int own_shared;                /* own_store shared in turns: helpers may work on it */
	struct work_helper {
		struct responder *rs;
		pthread_t tid;
		int started;
		unsigned long seen;        /* the last run it took part in (help_gen) */
		struct msgr_graph *graph;  /* its own: a curl handle is one thread's */
		struct msgr_worker *worker;
	} helpers[RESPONDER_HELPERS];
	int helpers_ok;                /* help_mu and its conditions initialised */
	int help_refused;              /* a helper's thread could not start: no more tries */
	pthread_mutex_t help_mu;       /* guards the help_ fields below */
	pthread_cond_t help_go;        /* a run begins (help_gen moves), its leader is done, or
	                                  help_stop; on CLOCK_MONOTONIC */
	pthread_cond_t help_done;      /* help_busy reached 0 */
	unsigned long help_gen;        /* runs begun */
	unsigned help_busy;            /* helpers still working the current run */
	long long help_began;          /* when the current run began (monotonic ms) */
	int help_ending;               /* the current run's leader is done */
	int help_failed;               /* a helper's run hit MSGR_ERR_STORE: reopen the handle */
	int help_stop;
	atomic_int serving;            /* request threads serving a request now */
};

/* One request thread (or the main thread's one request): its FastCGI request and
 * per-request state, reused from request to request. */
struct rthread {
	struct responder *rs;
	unsigned index;
	FCGX_Request fr;
	struct msgr_request req;       /* reset each request; its body buffer is reused */
	unsigned long counter;         /* requests served, for request ids */
};

/* src/messenger_fcgi.c: reads, handles and answers one request, then logs its line. */
void responder_serve(struct rthread *t, const struct msgr_request_io *io);

/* src/fcgi_io.c: plain CGI's environment and stdio as a request's transport (FastCGI's is
 * lib/fcgi_io.h). */
struct msgr_request_io fcgi_cgi_io(void);

/* src/fcgi_threads.c: threads > 1, until a stop signal. The exit status. */
int fcgi_serve_threads(struct responder *rs);

/* src/fcgi_work.c: the worker's turn once the answer has gone (within worker.budget_ms). */
void fcgi_after_response(struct responder *rs);
/* src/fcgi_work.c: the helpers' lock and conditions, before any thread runs (without them
 * the worker runs as before, one thread of each process); fcgi_work_close ends their threads
 * and frees what they hold, once no request thread runs. */
void fcgi_work_init(struct responder *rs);
void fcgi_work_close(struct responder *rs);

#endif
