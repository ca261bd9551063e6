/* messenger_fcgi.c — the webhook responder (SPEC.md "HTTP behaviour of the responder",
 * DESIGN.md steps 1-6).
 *
 * Speaks FastCGI when fd 0 is a listening socket (mod_fcgid, lighttpd, spawn-fcgi and
 * `cgi-fcgi -start` hand it one; several processes may share it) and plain CGI otherwise.
 * The config is loaded once before serving; the store is opened once and kept. A request is
 * read with bounds (request.c), routed by PATH_INFO, verified (GET: hub.verify_token; POST:
 * X-Hub-Signature-256 over the raw body), parsed into events and stored in one transaction;
 * only then is 200 sent. Nothing a request carries can end the process: a fault is logged
 * and answered (STYLE.md 4). docs/responder.md says how to run and test it.
 *
 * responder.threads = N > 1 (FastCGI only) runs N request threads, each with its own
 * FCGX_Request and request state, accepting on the shared socket; their events go through
 * one group commit per process (commit.c), so requests that arrive together share one
 * transaction and one fsync. The main thread then only waits for a stop signal. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "clock.h"
#include "commit.h"
#include "config.h"
#include "event.h"
#include "graph.h"
#include "intake.h"
#include "limits.h"
#include "log.h"
#include "options.h"
#include "request.h"
#include "result.h"
#include "signature.h"
#include "store.h"
#include "webhook.h"
#include "worker.h"

#define PROG "messenger.fcgi"

/* Set by SIGTERM, SIGINT and SIGUSR1 (Apache's graceful stop for mod_fcgid): by the handler
 * with one thread, by the main thread's sigtimedwait with several. A lock-free atomic is
 * both async-signal-safe and visible across threads. */
static atomic_int stop_requested;

/* Sent by the main thread to a request thread blocked in accept(2) once a stop is pending:
 * its handler does nothing, but accept returns EINTR (no SA_RESTART) and libfcgi, with the
 * shutdown pending, gives up. Only the listening socket's waiters get it: the signal stays
 * blocked in a thread while it serves a request, so no read or write of a request is cut. */
#define WAKE_SIGNAL SIGUSR2
/* A stop that takes longer says which threads it waits for, and where. */
#define SLOW_STOP_MS 1500
/* A stop never waits longer than this: libfcgi closes a connection gracefully, waiting up to
 * 2 s per read for the peer to hang up, and a busy pool can hold a thread there for seconds.
 * Past it the process exits anyway: every commit is atomic (a transaction is whole or not at
 * all) and a webhook not yet answered is sent again by Facebook and deduplicated. */
#define STOP_GRACE_MS 3000

/* What lives across requests: config and long-lived handles only (STYLE.md 4). Read-only
 * once the request threads run, except the worker's part, which work_mu guards. */
struct responder {
	struct msgr_config *cfg;
	struct msgr_store_options store_opt;
	struct msgr_commit *commit;    /* the store handle for intake, behind the group commit */
	struct msgr_webhook_limits lim;
	size_t max_body;
	int threads;                   /* request threads; 1: the accept loop in the main thread */
	/* The worker after the response (DESIGN.md step 7): one thread of the process at a time
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
};

/* One request thread: its FastCGI request and per-request state (STYLE.md 4). */
struct rthread {
	struct responder *rs;
	unsigned index;
	pthread_t tid;
	int started;
	FCGX_Request fr;
	struct msgr_request req;       /* reset each request; its body buffer is reused */
	unsigned long counter;         /* requests served, for request ids */
	atomic_int in_accept;          /* waiting for a connection: the stop wakes it */
	atomic_int finished;           /* left its loop */
	atomic_int phase;              /* enum phase: what a slow stop is waiting for */
};

/* Where a request thread is, for the log line of a stop that takes long. */
enum phase { PHASE_ACCEPT = 0, PHASE_SERVE, PHASE_FINISH, PHASE_AFTER };
static const char *const phase_names[] = { "accept", "serve", "finish", "after-response work" };

/* One request's outcome, for its log line. */
struct outcome {
	int status;
	const char *connector;         /* the path's connector id, or NULL */
	size_t stored, dup, quarantined, dropped;
	size_t group;                  /* requests whose events shared the transaction */
	int counts_of_group;           /* stored/dup are the group's (commit.c says when) */
	char note[160];                /* why, for anything but a plain success; already escaped */
};

/* ---- I/O: one handler, two transports ---- */

static const char *
fcgi_param(void *ctx, const char *name)
{
	FCGX_Request *r = ctx;

	return FCGX_GetParam(name, r->envp);
}

static long
fcgi_read(void *ctx, char *p, size_t n)
{
	FCGX_Request *r = ctx;
	int got;

	/* libfcgi counts in int; request.c asks for at most MSGR_REQUEST_CHUNK at a time. */
	if (n > MSGR_REQUEST_CHUNK)
		n = MSGR_REQUEST_CHUNK;
	got = FCGX_GetStr(p, (int)n, r->in);
	if (got <= 0 && FCGX_GetError(r->in) != 0)
		return -1;
	return got;
}

static int
fcgi_write(void *ctx, const char *p, size_t n)
{
	FCGX_Request *r = ctx;

	/* libfcgi counts in int: write in slices. */
	while (n > 0) {
		int k = n > MSGR_REQUEST_CHUNK ? MSGR_REQUEST_CHUNK : (int)n;

		if (FCGX_PutStr(p, k, r->out) != k)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static const char *
cgi_param(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

static long
cgi_read(void *ctx, char *p, size_t n)
{
	ssize_t got;

	(void)ctx;
	do
		got = read(STDIN_FILENO, p, n);
	while (got < 0 && errno == EINTR);
	return (long)got;
}

static int
cgi_write(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* ---- signals ---- */

static void
on_stop(int sig)
{
	(void)sig;
	atomic_store(&stop_requested, 1);
	/* libfcgi's accept loop gives up on EINTR once a shutdown is pending. */
	FCGX_ShutdownPending();
	/* A signal landing between the loop's check and accept(2) would not interrupt it:
	 * SIGALRM a second later does (alarm is async-signal-safe). */
	alarm(1);
}

static void
on_alarm(int sig)
{
	(void)sig;
}

static int
install_signals(void)
{
	struct sigaction sa;
	static const int stops[] = { SIGTERM, SIGINT, SIGUSR1 };
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocked accept must return so the process can exit. */
	sa.sa_flags = 0;
	sa.sa_handler = on_stop;
	for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		if (sigaction(stops[i], &sa, NULL) != 0)
			return -1;
	sa.sa_handler = on_alarm;
	if (sigaction(SIGALRM, &sa, NULL) != 0 || sigaction(WAKE_SIGNAL, &sa, NULL) != 0)
		return -1;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		return -1;
	return 0;
}

/* While a request is being served the stop signals wait, so it is finished, never cut. */
static void
block_stops(int block)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* ---- the store ---- */

static void
note_set(struct outcome *oc, const char *what, const char *untrusted, size_t len)
{
	char esc[96];

	if (untrusted == NULL)
		snprintf(oc->note, sizeof(oc->note), "%s", what);
	else
		snprintf(oc->note, sizeof(oc->note), "%s \"%s\"", what,
		    msgr_log_escape(esc, sizeof(esc), untrusted, len));
}

/* The intake's store step here: the group commit, so the rows share one transaction with
 * the requests of other threads that arrive meanwhile (lib/commit.h). */
struct post_store {
	struct responder *rs;
	struct msgr_commit_batch b;
	int called;
};

static msgr_result
commit_rows(void *arg, const struct msgr_intake *rows, size_t *n_new, size_t *n_dup)
{
	struct post_store *ps = arg;

	memset(&ps->b, 0, sizeof(ps->b));
	ps->b.ev = rows->events;
	ps->b.n = rows->n_events;
	ps->b.q = rows->quarantine;
	ps->b.nq = rows->n_quarantine;
	ps->called = 1;
	(void)msgr_commit_submit(ps->rs->commit, &ps->b);
	*n_new = ps->b.n_new;
	*n_dup = ps->b.n_dup;
	return ps->b.rc;
}

/* Why a commit failed, for the log line (the answer is 503 and Facebook retries). */
static void
note_commit_failed(struct outcome *oc, const struct msgr_commit_batch *b)
{
	if (b->unavailable)
		note_set(oc, "store unavailable", NULL, 0);
	else if (b->group == 0)
		snprintf(oc->note, sizeof(oc->note), "store: %s (with the commit ahead)",
		    msgr_strerror(b->rc));
	else
		snprintf(oc->note, sizeof(oc->note), "store: %s", msgr_strerror(b->rc));
}

/* ---- GET: subscription verification (GRAPH.md "Webhooks") ---- */

static int
handle_get(struct rthread *t, const struct msgr_connector *conn,
    const struct msgr_request_io *io, struct outcome *oc)
{
	struct msgr_request *r = &t->req;
	int ok;

	if (r->query_toobig) {
		note_set(oc, "query too long", NULL, 0);
		return 403;
	}
	ok = r->mode_p.present && !r->mode_p.bad && strcmp(r->hub_mode, "subscribe") == 0;
	if (!ok) {
		note_set(oc, "hub.mode not subscribe", NULL, 0);
		return 403;
	}
	/* Constant time: the verify token is a secret (STYLE.md 6). */
	if (!r->token_p.present || r->token_p.bad ||
	    !msgr_signature_equal(conn->webhook_token, r->hub_verify_token)) {
		note_set(oc, "wrong or missing hub.verify_token", NULL, 0);
		return 403;
	}
	if (!r->challenge_p.present || r->challenge_p.bad) {
		note_set(oc, "missing or oversized hub.challenge", NULL, 0);
		return 403;
	}
	oc->status = 200;
	if (msgr_request_respond(io, 200, "text/plain", NULL, r->hub_challenge,
	    r->challenge_p.len) != MSGR_OK)
		note_set(oc, "answer not written", NULL, 0);
	return 0;   /* answered */
}

/* ---- POST: events (docs/responder.md "Answers") ---- */

static int
handle_post(struct rthread *t, const struct msgr_connector *conn,
    const struct msgr_request_io *io, struct outcome *oc)
{
	struct responder *rs = t->rs;
	struct msgr_request *r = &t->req;
	struct msgr_intake_call call;
	struct msgr_intake_result res;
	struct post_store ps;
	const char *body;
	size_t len;
	msgr_result rc;

	memset(&ps, 0, sizeof(ps));
	ps.rs = rs;
	rc = msgr_request_read_body(r, io, rs->max_body);
	switch (rc) {
	case MSGR_OK:
		break;
	case MSGR_ERR_TOOBIG:
		note_set(oc, "body over max_body", NULL, 0);
		return 413;
	case MSGR_ERR_NOMEM:
		note_set(oc, "out of memory reading the body", NULL, 0);
		return 503;
	case MSGR_ERR_IO:
		note_set(oc, "body could not be read", NULL, 0);
		return 400;
	default:
		note_set(oc, r->content_length_bad ? "bad CONTENT_LENGTH" :
		    "body shorter than CONTENT_LENGTH", NULL, 0);
		return 400;
	}
	body = r->body.data ? r->body.data : "";
	len = r->body.len;

	/* Signature first, over the exact bytes received (STYLE.md 6); only then parse. */
	if (msgr_signature_verify(conn->secret, body, len,
	    r->has_signature ? r->signature : NULL) != MSGR_OK) {
		note_set(oc, r->has_signature ? "wrong signature" : "missing signature", NULL, 0);
		return 403;
	}

	call.cfg = rs->cfg;
	call.via = conn;
	call.lim = &rs->lim;
	call.flags = MSGR_INTAKE_LOG;
	call.store = commit_rows;
	call.store_arg = &ps;
	rc = msgr_intake_body(&call, body, len, &res);
	oc->dropped = res.dropped;
	if (ps.called)
		oc->group = ps.b.group;
	if (rc != MSGR_OK) {
		if (res.step == MSGR_INTAKE_PARSE)
			note_set(oc, "parse failed:", msgr_strerror(rc), strlen(msgr_strerror(rc)));
		else if (res.step == MSGR_INTAKE_ROUTE)
			note_set(oc, "out of memory", NULL, 0);
		else
			note_commit_failed(oc, &ps.b);
		return 503;
	}
	oc->stored = res.stored;
	oc->dup = res.duplicates;
	oc->quarantined = res.quarantined;
	if (ps.called)
		oc->counts_of_group = !ps.b.counts_exact;
	if (res.stored > 0)
		atomic_store(&rs->work_pending, 1);
	if (res.kind == MSGR_INTAKE_NOT_WEBHOOK)
		note_set(oc, "body quarantined:", res.why, strlen(res.why));
	else if (res.kind == MSGR_INTAKE_OTHER_OBJECT)
		/* Another product's webhook (instagram, ...) on this callback: not ours. */
		note_set(oc, "dropped object", res.object, strlen(res.object));
	else if (res.quarantined > 0) {
		snprintf(oc->note, sizeof(oc->note), "quarantined: ");
		msgr_log_escape(oc->note + strlen(oc->note), sizeof(oc->note) - strlen(oc->note),
		    res.why, strlen(res.why));
	}
	return 200;
}

/* ---- one request ---- */

static const char *
body_for(int status)
{
	switch (status) {
	case 200: return "EVENT_RECEIVED";
	case 400: return "Bad Request\n";
	case 403: return "Forbidden\n";
	case 404: return "Not Found\n";
	case 405: return "Method Not Allowed\n";
	case 413: return "Content Too Large\n";
	case 503: return "Service Unavailable\n";
	}
	return "Internal Server Error\n";
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)((t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000);
}

/* Reads, handles and answers one request, then writes its one log line. */
static void
serve(struct rthread *t, const struct msgr_request_io *io)
{
	struct responder *rs = t->rs;
	struct msgr_request *r = &t->req;
	const struct msgr_connector *conn = NULL;
	struct outcome oc;
	struct timespec t0;
	char id[48], meth[64], path[256], group[48];
	const char *extra = NULL;
	int status;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&oc, 0, sizeof(oc));
	t->counter++;
	/* Unique per process lifetime: pid-counter, or pid-thread-counter with several threads. */
	if (rs->threads > 1)
		snprintf(id, sizeof(id), "%lx-%x-%lx", (unsigned long)getpid(), t->index,
		    t->counter);
	else
		snprintf(id, sizeof(id), "%lx-%lx", (unsigned long)getpid(), t->counter);

	msgr_request_reset(r);
	msgr_request_read_head(r, io);
	if (!r->path_bad)
		conn = msgr_config_by_path(rs->cfg, r->path);
	if (conn == NULL) {
		status = 404;
	} else {
		oc.connector = conn->id;
		if (strcmp(r->method, "GET") == 0)
			status = handle_get(t, conn, io, &oc);
		else if (strcmp(r->method, "POST") == 0)
			status = handle_post(t, conn, io, &oc);
		else
			status = 405;
	}
	if (status != 0) {
		const char *body = body_for(status);

		if (status == 405)
			extra = "Allow: GET, POST\r\n";
		else if (status == 503)
			extra = "Retry-After: 1\r\n";
		oc.status = status;
		if (msgr_request_respond(io, status, "text/plain", extra, body, strlen(body))
		    != MSGR_OK && oc.note[0] == '\0')
			note_set(&oc, "answer not written", NULL, 0);
	}
	/* What a refused request still had to send is read and dropped (bounded) so the web
	 * server sees a whole exchange. */
	if (r->content_length_bad || (r->content_length > 0 &&
	    (unsigned long long)r->body.len < (unsigned long long)r->content_length))
		msgr_request_drain(io, MSGR_MAX_DRAIN_BYTES);
	/* With threads: how many requests shared the transaction, and whether stored/dup are
	 * this request's or (counts=group) the group's. */
	group[0] = '\0';
	if (rs->threads > 1 && oc.group > 0)
		snprintf(group, sizeof(group), " group=%zu%s", oc.group,
		    oc.counts_of_group ? " counts=group" : "");
	msgr_log(MSGR_LOG_INFO, "req=%s method=\"%s\" path=\"%s\" connector=%s status=%d "
	    "stored=%zu dup=%zu quarantined=%zu dropped=%zu ms=%ld%s%s%s%s", id,
	    msgr_log_escape(meth, sizeof(meth), r->method, strlen(r->method)),
	    msgr_log_escape(path, sizeof(path), r->path, strlen(r->path)),
	    oc.connector ? oc.connector : "-", oc.status, oc.stored, oc.dup, oc.quarantined,
	    oc.dropped, ms_since(&t0), group, oc.note[0] ? " note=\"" : "", oc.note,
	    oc.note[0] ? "\"" : "");
}

/* ---- after the answer ---- */

/* How often an idle responder still looks for due retries, when no new event came. */
#define WORK_POLL_MS 1000

/* The store handle the worker uses: with one thread, the commit's (borrowed: nothing else
 * runs); with several, its own, so the worker never holds up a group commit. */
static struct msgr_store *
work_store(struct responder *rs)
{
	msgr_result rc;

	if (rs->threads == 1)
		return msgr_commit_borrow(rs->commit);
	if (rs->own_store != NULL)
		return rs->own_store;
	rs->own_err[0] = '\0';
	rs->store_opt.errbuf = rs->own_err;
	rs->store_opt.errbufsz = sizeof(rs->own_err);
	rc = msgr_store_open(&rs->store_opt, &rs->own_store);
	if (rc != MSGR_OK) {
		rs->own_store = NULL;
		msgr_log(MSGR_LOG_WARN, "store %s cannot be opened for the worker: %s%s%s",
		    rs->store_opt.path, msgr_strerror(rc), rs->own_err[0] ? ": " : "", rs->own_err);
	}
	return rs->own_store;
}

/* Done with the handle; failed: it hit MSGR_ERR_STORE and is reopened on next use. */
static void
work_store_done(struct responder *rs, int failed)
{
	if (rs->threads == 1) {
		msgr_commit_giveback(rs->commit, failed);
		return;
	}
	if (failed && rs->own_store != NULL) {
		msgr_store_close(rs->own_store);
		rs->own_store = NULL;
	}
}

/* One worker run within cfg->worker.budget_ms (DESIGN.md step 7); work_mu is held. */
static void
work_once(struct responder *rs)
{
	struct msgr_graph_options gopt;
	struct msgr_worker_counts counts;
	struct msgr_store *st;
	char *errors = NULL;
	msgr_result rc;

	if (rs->graph == NULL) {
		msgr_options_graph(rs->cfg, &gopt);
		if ((rc = msgr_graph_open(&gopt, &rs->graph)) != MSGR_OK) {
			msgr_log(MSGR_LOG_ERROR, "graph client cannot start: %s", msgr_strerror(rc));
			return;
		}
	}
	if ((st = work_store(rs)) == NULL)
		return;
	if (rs->worker != NULL && rs->worker_store != st) {
		msgr_worker_close(rs->worker);
		rs->worker = NULL;
	}
	if (rs->worker == NULL) {
		rc = msgr_worker_open(rs->cfg, st, rs->graph, NULL, NULL, &rs->worker, &errors);
		if (rc != MSGR_OK) {
			msgr_log(MSGR_LOG_ERROR, "worker cannot start: %s %s", msgr_strerror(rc),
			    errors ? errors : "");
			free(errors);
			work_store_done(rs, 0);
			return;
		}
		rs->worker_store = st;
	}
	rc = msgr_worker_run(rs->worker, rs->cfg->worker.budget_ms, &counts);
	if (rc == MSGR_ERR_STORE) {
		/* Reopened on next use, as after a failed enqueue. */
		msgr_worker_close(rs->worker);
		rs->worker = NULL;
	}
	work_store_done(rs, rc == MSGR_ERR_STORE);
}

/* The worker runs here, after the web server has released Facebook's connection
 * (FCGX_Finish_r / stdout closed), within cfg->worker.budget_ms (DESIGN.md step 7).
 * budget_ms 0 leaves the work to `msgrctl worker` or `msgrctl drain`. It runs when a
 * request stored new events, or at most every WORK_POLL_MS for due retries, so a flood of
 * verifications or duplicates costs no extra transaction. With several threads one runs it
 * while the others keep answering; a thread finding it busy goes back to accept, and the
 * one working looks at work_pending again after it lets go, so no new event is left
 * waiting for the next request. Never once a stop is pending: the pool and cron take it. */
static void
after_response(struct responder *rs)
{
	long long now;

	if (rs->cfg == NULL || rs->cfg->worker.budget_ms <= 0)
		return;
	for (;;) {
		if (atomic_load(&stop_requested))
			return;
		if (pthread_mutex_trylock(&rs->work_mu) != 0)
			return;
		now = msgr_clock_mono_ms();
		if (atomic_exchange(&rs->work_pending, 0) || now - rs->last_work >= WORK_POLL_MS) {
			rs->last_work = now;
			work_once(rs);
		}
		pthread_mutex_unlock(&rs->work_mu);
		if (!atomic_load(&rs->work_pending))
			return;
	}
}

/* ---- the ways to run ---- */

static struct msgr_request_io
fcgi_io(FCGX_Request *fr)
{
	struct msgr_request_io io;

	io.ctx = fr;
	io.param = fcgi_param;
	io.read = fcgi_read;
	io.write = fcgi_write;
	return io;
}

/* threads = 1: the accept loop in the main thread, stop signals handled by on_stop. */
static int
serve_fastcgi(struct responder *rs, struct rthread *t)
{
	struct msgr_request_io io;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&t->fr, 0, 0) != 0) {
		msgr_log(MSGR_LOG_ERROR, "FastCGI initialisation failed");
		return 1;
	}
	io = fcgi_io(&t->fr);
	for (;;) {
		if (atomic_load(&stop_requested))
			break;
		if (FCGX_Accept_r(&t->fr) < 0)
			break;   /* shutdown pending, or the listening socket failed */
		block_stops(1);
		serve(t, &io);
		/* Releases the web server (and Facebook) before any further work. */
		FCGX_Finish_r(&t->fr);
		/* A stop asked for now is served first: the pool and cron pick the work up. */
		after_response(rs);
		block_stops(0);
	}
	FCGX_Free(&t->fr, 1);
	msgr_log(MSGR_LOG_INFO, "stopping after %lu requests", t->counter);
	return 0;
}

/* One request thread of threads > 1. Every signal with a handler is blocked here (the mask
 * is inherited from the main thread) except WAKE_SIGNAL while waiting in accept. */
static void *
request_thread(void *arg)
{
	struct rthread *t = arg;
	struct msgr_request_io io = fcgi_io(&t->fr);
	sigset_t wake;
	int rc;

	sigemptyset(&wake);
	sigaddset(&wake, WAKE_SIGNAL);
	for (;;) {
		if (atomic_load(&stop_requested))
			break;
		atomic_store(&t->phase, PHASE_ACCEPT);
		atomic_store(&t->in_accept, 1);
		pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
		rc = FCGX_Accept_r(&t->fr);
		pthread_sigmask(SIG_BLOCK, &wake, NULL);
		atomic_store(&t->in_accept, 0);
		if (rc < 0) {
			if (atomic_load(&stop_requested))
				break;
			if (rc == -EINTR)
				continue;   /* a wake or a stray signal, and no stop: accept again */
			/* The listening socket failed: the whole process stops, as one thread
			 * would (the web server starts another). */
			msgr_log(MSGR_LOG_ERROR, "thread %u: accept failed (%d): stopping", t->index,
			    rc);
			atomic_store(&stop_requested, 1);
			break;
		}
		atomic_store(&t->phase, PHASE_SERVE);
		serve(t, &io);
		atomic_store(&t->phase, PHASE_FINISH);
		FCGX_Finish_r(&t->fr);
		atomic_store(&t->phase, PHASE_AFTER);
		after_response(t->rs);
	}
	atomic_store(&t->finished, 1);
	return NULL;
}

/* threads > 1: N request threads; this thread waits for SIGTERM, SIGINT or SIGUSR1 with
 * sigtimedwait (they are blocked everywhere, so no handler runs mid-request), then wakes the
 * threads blocked in accept until each has finished the request it holds and left. */
static int
serve_threads(struct responder *rs)
{
	struct rthread *th = NULL;
	sigset_t stops, blocked;
	struct timespec tick = { 0, 200 * 1000000L }, pause = { 0, 20 * 1000000L };
	unsigned long served = 0;
	long long stop_at;
	int i, n = rs->threads, running = 0, left, err, status = 1, reported = 0;

	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGUSR1);
	blocked = stops;
	sigaddset(&blocked, SIGALRM);
	sigaddset(&blocked, WAKE_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &blocked, NULL);
	if (FCGX_Init() != 0) {
		msgr_log(MSGR_LOG_ERROR, "FastCGI initialisation failed");
		goto out;
	}
	if ((th = calloc((size_t)n, sizeof(*th))) == NULL) {
		msgr_log(MSGR_LOG_ERROR, "out of memory starting %d threads", n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		th[i].rs = rs;
		th[i].index = (unsigned)i;
		msgr_request_init(&th[i].req);
		/* Any EINTR ends the accept: libfcgi's own loop retries an interrupted accept
		 * unless it sees its shutdown flag, a plain static int it may never read again
		 * once inside; seen under load as a thread woken every 20 ms yet kept in accept
		 * for seconds after a stop. Whether to stop is decided here instead. */
		if (FCGX_InitRequest(&th[i].fr, 0, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
			msgr_log(MSGR_LOG_ERROR, "FastCGI initialisation failed");
			break;
		}
		if ((err = pthread_create(&th[i].tid, NULL, request_thread, &th[i])) != 0) {
			msgr_log(MSGR_LOG_ERROR, "cannot start request thread %d: error %d", i, err);
			FCGX_Free(&th[i].fr, 1);
			break;
		}
		th[i].started = 1;
		running++;
	}
	if (running == 0)
		goto out;
	if (running < n)
		msgr_log(MSGR_LOG_WARN, "serving with %d of %d threads", running, n);

	while (!atomic_load(&stop_requested)) {
		if (sigtimedwait(&stops, NULL, &tick) > 0)
			break;
	}
	atomic_store(&stop_requested, 1);
	/* libfcgi's accept gives up on EINTR once a shutdown is pending; the wake is repeated
	 * because a thread may be between its stop check and accept(2). */
	FCGX_ShutdownPending();
	stop_at = msgr_clock_mono_ms();
	do {
		int report = !reported && msgr_clock_mono_ms() - stop_at > SLOW_STOP_MS;

		left = 0;
		for (i = 0; i < n; i++) {
			if (!th[i].started || atomic_load(&th[i].finished))
				continue;
			left++;
			if (atomic_load(&th[i].in_accept))
				pthread_kill(th[i].tid, WAKE_SIGNAL);
			if (report)
				msgr_log(MSGR_LOG_WARN, "stopping: thread %d still in %s after %d ms", i,
				    phase_names[atomic_load(&th[i].phase)], SLOW_STOP_MS);
		}
		reported |= report;
		if (left > 0 && msgr_clock_mono_ms() - stop_at > STOP_GRACE_MS) {
			msgr_log(MSGR_LOG_WARN, "stopping: %d threads still busy after %d ms, exiting "
			    "anyway (whatever was not answered, Facebook sends again)", left,
			    STOP_GRACE_MS);
			_exit(0);
		}
		if (left > 0)
			nanosleep(&pause, NULL);
	} while (left > 0);
	status = 0;
out:
	for (i = 0; th != NULL && i < n; i++) {
		if (th[i].started) {
			pthread_join(th[i].tid, NULL);
			FCGX_Free(&th[i].fr, 1);
		}
		served += th[i].counter;
		msgr_request_free(&th[i].req);
	}
	free(th);
	if (status == 0)
		msgr_log(MSGR_LOG_INFO, "stopping after %lu requests (%d threads)", served, running);
	return status;
}

static int
serve_cgi(struct responder *rs, struct rthread *t)
{
	struct msgr_request_io io;

	io.ctx = NULL;
	io.param = cgi_param;
	io.read = cgi_read;
	io.write = cgi_write;
	block_stops(1);
	serve(t, &io);
	/* The web server ends the exchange when stdout closes. */
	close(STDOUT_FILENO);
	after_response(rs);
	return 0;
}

/* `cgi-fcgi -start` execs the responder with stdout and stderr closed: the next accepted
 * connection would then get fd 1 or 2 and every log line would be written into the FastCGI
 * stream. /dev/null holds those places instead (logs are then lost: docs/responder.md). */
static void
ensure_std_fds(void)
{
	int fd, nul;

	for (fd = STDOUT_FILENO; fd <= STDERR_FILENO; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if ((nul = open("/dev/null", O_WRONLY)) < 0)
			continue;
		if (nul != fd) {
			dup2(nul, fd);
			close(nul);
		}
	}
}

static void
log_exposure(void *arg, const char *text)
{
	(void)arg;
	msgr_log(MSGR_LOG_WARN, "%s", text);
}

/* Logs every fault of a config load, one line each; in CGI mode answers 500 too. */
static void
report_config(const char *path, const char *errors, msgr_result rc, int cgi)
{
	const char *p = errors, *nl;

	msgr_log(MSGR_LOG_ERROR, "config %s not loaded: %s", path, msgr_strerror(rc));
	while (p != NULL && *p != '\0') {
		nl = strchr(p, '\n');
		msgr_log(MSGR_LOG_ERROR, "%.*s", (int)(nl ? nl - p : (long)strlen(p)), p);
		p = nl ? nl + 1 : NULL;
	}
	if (cgi) {
		struct msgr_request_io io = { NULL, cgi_param, cgi_read, cgi_write };
		const char *body = body_for(500);

		msgr_request_respond(&io, 500, "text/plain", NULL, body, strlen(body));
	}
}

int
main(int argc, char **argv)
{
	struct responder rs;
	struct rthread one;            /* the request state of threads = 1 and of plain CGI */
	char *errors = NULL;
	const char *path;
	msgr_result rc;
	int cgi, status = 1, mu_ok = 0;

	(void)argc;
	ensure_std_fds();
	msgr_log_init(argv[0] ? argv[0] : PROG, MSGR_LOG_INFO);
	memset(&rs, 0, sizeof(rs));
	memset(&one, 0, sizeof(one));
	one.rs = &rs;
	msgr_request_init(&one.req);
	if (pthread_mutex_init(&rs.work_mu, NULL) != 0) {
		msgr_log(MSGR_LOG_ERROR, "cannot create a mutex");
		goto out;
	}
	mu_ok = 1;
	if (install_signals() != 0) {
		msgr_log(MSGR_LOG_ERROR, "cannot install signal handlers");
		goto out;
	}
	cgi = FCGX_IsCGI();
	if (msgr_graph_global_init() != MSGR_OK) {
		msgr_log(MSGR_LOG_ERROR, "libcurl cannot start");
		goto out;
	}
	/* jansson seeds its hash function on first use; done here, before any thread runs. */
	json_object_seed(0);

	path = msgr_config_default_path();
	rc = msgr_config_load(path, &rs.cfg, &errors);
	if (rc != MSGR_OK) {
		report_config(path, errors, rc, cgi);
		rs.cfg = NULL;
		goto out;
	}
	msgr_log_set_level((enum msgr_log_level)rs.cfg->log_level);
	/* A config others can read with secrets in it: said at every start, where admins look. */
	(void)msgr_config_exposure(rs.cfg, log_exposure, NULL);
	rs.max_body = rs.cfg->max_body ? rs.cfg->max_body : MSGR_MAX_BODY_DEFAULT;
	msgr_webhook_limits_default(&rs.lim);
	/* Plain CGI is one request per process: threads would have nothing to share. */
	rs.threads = cgi ? 1 : rs.cfg->responder.threads;
	if (rs.threads < 1)
		rs.threads = 1;
	msgr_options_store(rs.cfg, &rs.store_opt);
	if ((rc = msgr_commit_open(&rs.store_opt, &rs.commit)) != MSGR_OK) {
		msgr_log(MSGR_LOG_ERROR, "cannot start: %s", msgr_strerror(rc));
		goto out;
	}
	/* Opened once and kept; when it cannot be opened now, POSTs get 503 and each request
	 * tries again (SPEC.md: a fault a retry can cure). A CGI process opens it only for
	 * a request that stores. */
	if (!cgi)
		(void)msgr_commit_prepare(rs.commit);

	if (cgi)
		status = serve_cgi(&rs, &one);
	else if (rs.threads == 1)
		status = serve_fastcgi(&rs, &one);
	else
		status = serve_threads(&rs);
out:
	free(errors);
	msgr_worker_close(rs.worker);
	msgr_graph_close(rs.graph);
	msgr_graph_global_cleanup();
	if (rs.own_store != NULL)
		msgr_store_close(rs.own_store);
	msgr_commit_close(rs.commit);
	if (rs.cfg != NULL)
		msgr_config_free(rs.cfg);
	msgr_request_free(&one.req);
	if (mu_ok)
		pthread_mutex_destroy(&rs.work_mu);
	msgr_log_clear_secrets();
	return status;
}
