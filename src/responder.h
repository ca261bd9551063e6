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

#include "answerer.h"
#include "commit.h"
#include "config.h"
#include "fibers.h"
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

/* Fibers of the thread leading a worker's run (lib/fibers.h), each a worker of its own on
 * the run's store handle: the answers of that many conversations in flight at once. */
#define RESPONDER_FIBERS 8

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
	/* threads > 1 on SQLite: the thread leading a run works it as RESPONDER_FIBERS fibers,
	 * each a worker on own_store in turns (src/fcgi_work.c); the first is graph and worker
	 * above, the others' are opened on their first run. */
	int own_shared;                /* own_store shared in turns: fibers may work on it */
	struct work_fiber {
		struct responder *rs;
		struct msgr_graph *graph;  /* its own: one transfer at a time each */
		struct msgr_worker *worker;
		msgr_result rc;            /* MSGR_ERR_STORE: reopen the handle */
	} fibers[RESPONDER_FIBERS];
	long long fibers_end;          /* the run's end (monotonic ms) */
	int fibers_ending;             /* the first fiber's run is done: the others stop */
	struct msgr_fibers_keep keep;  /* the runs' Graph API connections, kept between runs */
	/* One run of fibers at a time on the host (src/fcgi_work.c): the lock file STATE-work.lock
	 * (-1: none, each process runs its own; -2: not opened yet) and, mapped from it, how
	 * many times a process came for the turn. */
	int host_fd;
	_Atomic unsigned long *host_asks;
	atomic_int serving;            /* request threads serving a request now */
};

/* One request's FastCGI request object and state, reused from request to request: the main
 * thread's one (threads = 1, plain CGI), or one of the pool's request objects (threads > 1),
 * whose answer may be written by the answerer thread while request threads serve others. */
struct rthread {
	struct responder *rs;
	unsigned index;
	FCGX_Request fr;
	struct msgr_request req;       /* reset each request; its body buffer is reused */
	unsigned long counter;         /* requests served, for request ids */
	/* the request in hand, for its answer and log line */
	char id[48];
	long long t0;                  /* monotonic ms at its start */
	struct msgr_respond_outcome oc;
	struct msgr_respond_pending pend;   /* its events went to the host committer */
	struct msgr_answerer_item wait;     /* ... and the answerer waits for its answer */
};

/* src/fcgi_serve.c: reads and handles one request. 0: answered and logged. 1 (only with
 * may_defer and rs->respond.send): its events went to the host committer, and
 * responder_answer writes the answer once the committer's is in t->pend.b. */
int responder_serve(struct rthread *t, const struct msgr_request_io *io, int may_defer);
/* src/fcgi_serve.c: the answer of a request responder_serve left, and its log line. lost:
 * the committer's answer never came (msgr_respond_end). */
void responder_answer(struct rthread *t, const struct msgr_request_io *io, int lost);

/* src/fcgi_io.c: plain CGI's environment and stdio as a request's transport (FastCGI's is
 * lib/fcgi_io.h). */
struct msgr_request_io fcgi_cgi_io(void);

/* src/fcgi_threads.c: threads > 1, until a stop signal. The exit status. */
int fcgi_serve_threads(struct responder *rs);

/* src/fcgi_work.c: the worker's turn once the answer has gone (within worker.budget_ms). */
void fcgi_after_response(struct responder *rs);
/* src/fcgi_work.c: frees what the worker's fibers hold, once no request thread runs. */
void fcgi_work_close(struct responder *rs);

#endif
