/* messenger_fcgi.c — the webhook responder (SPEC.md "HTTP behaviour of the responder",
 * DESIGN.md steps 1-6).
 *
 * Speaks FastCGI when fd 0 is a listening socket (mod_fcgid, lighttpd, spawn-fcgi and
 * `cgi-fcgi -start` hand it one; several processes may share it) and plain CGI otherwise.
 * The config is loaded once before serving; the store is opened once and kept. A request is
 * read with bounds (request.c), routed by PATH_INFO, verified (GET: hub.verify_token; POST:
 * X-Hub-Signature-256 over the raw body), parsed into events and stored in one transaction;
 * only then is 200 sent. Nothing a request carries can end the process: a fault is logged
 * and answered (STYLE.md 4). docs/responder.md says how to run and test it. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <jansson.h>

#include "clock.h"
#include "config.h"
#include "event.h"
#include "graph.h"
#include "intake.h"
#include "limits.h"
#include "log.h"
#include "request.h"
#include "result.h"
#include "signature.h"
#include "store.h"
#include "webhook.h"
#include "worker.h"

#define PROG "messenger.fcgi"

/* Set by SIGTERM, SIGINT and SIGUSR1 (Apache's graceful stop for mod_fcgid). */
static volatile sig_atomic_t stop_requested;

/* What lives across requests: config and long-lived handles only (STYLE.md 4). */
struct responder {
	struct msgr_config *cfg;
	struct msgr_store_options store_opt;
	struct msgr_store *store;      /* NULL while it cannot be opened: POSTs get 503 */
	char store_err[256];           /* why the last open failed */
	struct msgr_request req;       /* reset each request; its body buffer is reused */
	struct msgr_webhook_limits lim;
	size_t max_body;
	unsigned long counter;         /* requests served, for request ids */
	/* The worker after each response (DESIGN.md step 7), opened on first use. */
	struct msgr_graph *graph;
	struct msgr_worker *worker;
	struct msgr_store *worker_store; /* the store handle the worker was opened on */
	int work_pending;              /* this request stored new events */
	long long last_work;           /* when the worker last ran (ms) */
};

/* One request's outcome, for its log line. */
struct outcome {
	int status;
	const char *connector;         /* the path's connector id, or NULL */
	size_t stored, dup, quarantined, dropped;
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
	stop_requested = 1;
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
	if (sigaction(SIGALRM, &sa, NULL) != 0)
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

/* The store, opened now if it could not be before (SPEC.md: 503 until it can). */
static struct msgr_store *
store_get(struct responder *rs)
{
	msgr_result rc;

	if (rs->store != NULL)
		return rs->store;
	rs->store_err[0] = '\0';
	rc = msgr_store_open(&rs->store_opt, &rs->store);
	if (rc != MSGR_OK) {
		rs->store = NULL;
		msgr_log(MSGR_LOG_WARN, "store %s cannot be opened: %s%s%s", rs->store_opt.path,
		    msgr_strerror(rc), rs->store_err[0] ? ": " : "", rs->store_err);
	}
	return rs->store;
}

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

/* Stores events and quarantine rows in one transaction; the answer follows from it. */
static int
enqueue(struct responder *rs, struct outcome *oc, const struct msgr_store_event *ev,
    size_t n, const struct msgr_store_quarantine *q, size_t nq)
{
	struct msgr_store *st;
	size_t n_new = 0, n_dup = 0;
	msgr_result rc;

	if (n == 0 && nq == 0)
		return 200;
	if ((st = store_get(rs)) == NULL) {
		note_set(oc, "store unavailable", NULL, 0);
		return 503;
	}
	rc = msgr_store_enqueue(st, ev, n, q, nq, &n_new, &n_dup);
	if (rc != MSGR_OK) {
		snprintf(oc->note, sizeof(oc->note), "store: %s", msgr_strerror(rc));
		msgr_log(MSGR_LOG_WARN, "store enqueue failed: %s (%s)", msgr_strerror(rc),
		    msgr_store_errmsg(st));
		/* A store that failed (not merely busy) is reopened on the next request: the
		 * fault may be a replaced or repaired file. */
		if (rc == MSGR_ERR_STORE) {
			msgr_store_close(st);
			rs->store = NULL;
		}
		return 503;
	}
	oc->stored = n_new;
	oc->dup = n_dup;
	if (n_new > 0)
		rs->work_pending = 1;
	oc->quarantined = nq;
	return 200;
}

/* ---- GET: subscription verification (GRAPH.md "Webhooks") ---- */

static int
handle_get(struct responder *rs, const struct msgr_connector *conn,
    const struct msgr_request_io *io, struct outcome *oc)
{
	struct msgr_request *r = &rs->req;
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

/* ---- POST: events (SPEC.md "HTTP behaviour", "Routing") ---- */

static int
store_batch(struct responder *rs, const struct msgr_connector *conn,
    struct msgr_webhook_batch *b, struct outcome *oc)
{
	struct msgr_intake in;
	int status = 503;

	if (msgr_intake_route(rs->cfg, conn, b, &in) != MSGR_OK) {
		note_set(oc, "out of memory", NULL, 0);
		goto out;
	}
	oc->dropped = in.dropped;
	if (in.dropped_page != NULL) {
		char esc[MSGR_MAX_ID_LEN * 4 + 8];

		msgr_log(MSGR_LOG_WARN, "connector %s: dropped %zu events of pages outside app %s"
		    " (first: page \"%s\")", conn->id, in.dropped, conn->app_id,
		    msgr_log_escape(esc, sizeof(esc), in.dropped_page, strlen(in.dropped_page)));
	}
	if (in.n_unknown > 0) {
		char esc[96];
		const char *k = in.unknown_key ? in.unknown_key : "";

		msgr_log(MSGR_LOG_WARN, "connector %s: kept %zu events of unknown kind (first key"
		    " \"%s\")", conn->id, in.n_unknown, msgr_log_escape(esc, sizeof(esc), k,
		    strlen(k)));
	}
	status = enqueue(rs, oc, in.events, in.n_events, in.quarantine, in.n_quarantine);
	if (status == 200 && in.n_quarantine > 0) {
		snprintf(oc->note, sizeof(oc->note), "quarantined: ");
		msgr_log_escape(oc->note + strlen(oc->note), sizeof(oc->note) - strlen(oc->note),
		    in.quarantine[0].reason, strlen(in.quarantine[0].reason));
	}
out:
	msgr_intake_free(&in);
	return status;
}

static int
handle_post(struct responder *rs, const struct msgr_connector *conn,
    const struct msgr_request_io *io, struct outcome *oc)
{
	struct msgr_request *r = &rs->req;
	struct msgr_webhook_batch batch;
	char why[200];
	const char *body;
	size_t len;
	msgr_result rc;
	int status;

	memset(&batch, 0, sizeof(batch));
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

	why[0] = '\0';
	rc = msgr_webhook_parse(body, len, &rs->lim, &batch, why, sizeof(why));
	if (rc == MSGR_ERR_PARSE || rc == MSGR_ERR_TOOBIG) {
		/* Signed but not a webhook: kept whole with the reason, never refused
		 * (a 4xx would get the webhook disabled: SPEC.md "HTTP behaviour"). */
		struct msgr_store_quarantine q;

		q.connector_id = conn->id;
		q.reason = why[0] ? why : msgr_strerror(rc);
		q.raw = body;
		q.raw_len = len;
		status = enqueue(rs, oc, NULL, 0, &q, 1);
		if (status == 200)
			note_set(oc, "body quarantined:", q.reason, strlen(q.reason));
		goto out;
	}
	if (rc != MSGR_OK) {
		note_set(oc, "parse failed:", msgr_strerror(rc), strlen(msgr_strerror(rc)));
		status = 503;
		goto out;
	}
	if (strcmp(batch.object, "page") != 0) {
		/* Another product's webhook (instagram, ...) on this callback: not ours. */
		note_set(oc, "dropped object", batch.object, strlen(batch.object));
		status = 200;
		goto out;
	}
	status = store_batch(rs, conn, &batch, oc);
out:
	msgr_webhook_batch_free(&batch);
	return status;
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
serve(struct responder *rs, const struct msgr_request_io *io)
{
	struct msgr_request *r = &rs->req;
	const struct msgr_connector *conn = NULL;
	struct outcome oc;
	struct timespec t0;
	char id[40], meth[64], path[256];
	const char *extra = NULL;
	int status;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&oc, 0, sizeof(oc));
	rs->counter++;
	snprintf(id, sizeof(id), "%lx-%lx", (unsigned long)getpid(), rs->counter);

	msgr_request_reset(r);
	msgr_request_read_head(r, io);
	if (!r->path_bad)
		conn = msgr_config_by_path(rs->cfg, r->path);
	if (conn == NULL) {
		status = 404;
	} else {
		oc.connector = conn->id;
		if (strcmp(r->method, "GET") == 0)
			status = handle_get(rs, conn, io, &oc);
		else if (strcmp(r->method, "POST") == 0)
			status = handle_post(rs, conn, io, &oc);
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
	msgr_log(MSGR_LOG_INFO, "req=%s method=\"%s\" path=\"%s\" connector=%s status=%d "
	    "stored=%zu dup=%zu quarantined=%zu dropped=%zu ms=%ld%s%s%s", id,
	    msgr_log_escape(meth, sizeof(meth), r->method, strlen(r->method)),
	    msgr_log_escape(path, sizeof(path), r->path, strlen(r->path)),
	    oc.connector ? oc.connector : "-", oc.status, oc.stored, oc.dup, oc.quarantined,
	    oc.dropped, ms_since(&t0), oc.note[0] ? " note=\"" : "", oc.note,
	    oc.note[0] ? "\"" : "");
}

/* ---- after the answer ---- */

/* How often an idle responder still looks for due retries, when no new event came. */
#define WORK_POLL_MS 1000


/* The worker runs here, after the web server has released Facebook's connection
 * (FCGX_Finish_r / stdout closed), within cfg->worker.budget_ms, on the same store handle
 * (DESIGN.md step 7). budget_ms 0 leaves the work to `msgrctl worker` or `msgrctl drain`. It
 * runs when this request stored new events, or at most every WORK_POLL_MS for due retries,
 * so a flood of verifications or duplicates costs no extra transaction. */
static void
run_after_response(struct responder *rs)
{
	struct msgr_graph_options gopt;
	struct msgr_worker_counts counts;
	struct msgr_store *st;
	char *errors = NULL;
	long long now = msgr_clock_mono_ms();
	msgr_result rc;

	if (rs->cfg == NULL || rs->cfg->worker.budget_ms <= 0)
		return;
	if (!rs->work_pending && now - rs->last_work < WORK_POLL_MS)
		return;
	rs->work_pending = 0;
	rs->last_work = now;
	if ((st = store_get(rs)) == NULL)
		return;
	if (rs->graph == NULL) {
		memset(&gopt, 0, sizeof(gopt));
		gopt.base_url = rs->cfg->graph.url;
		gopt.version = rs->cfg->graph.version;
		gopt.timeout_ms = rs->cfg->graph.timeout_ms;
		gopt.connect_timeout_ms = rs->cfg->graph.connect_timeout_ms;
		if ((rc = msgr_graph_open(&gopt, &rs->graph)) != MSGR_OK) {
			msgr_log(MSGR_LOG_ERROR, "graph client cannot start: %s", msgr_strerror(rc));
			return;
		}
	}
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
			return;
		}
		rs->worker_store = st;
	}
	rc = msgr_worker_run(rs->worker, rs->cfg->worker.budget_ms, &counts);
	if (rc == MSGR_ERR_STORE && rs->store == st) {
		/* Reopened on the next request, as after a failed enqueue. */
		msgr_worker_close(rs->worker);
		rs->worker = NULL;
		msgr_store_close(st);
		rs->store = NULL;
	}
}

/* ---- the two ways to run ---- */

static int
serve_fastcgi(struct responder *rs)
{
	FCGX_Request fr;
	struct msgr_request_io io;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&fr, 0, 0) != 0) {
		msgr_log(MSGR_LOG_ERROR, "FastCGI initialisation failed");
		return 1;
	}
	io.ctx = &fr;
	io.param = fcgi_param;
	io.read = fcgi_read;
	io.write = fcgi_write;
	for (;;) {
		if (stop_requested)
			break;
		if (FCGX_Accept_r(&fr) < 0)
			break;   /* shutdown pending, or the listening socket failed */
		block_stops(1);
		serve(rs, &io);
		/* Releases the web server (and Facebook) before any further work. */
		FCGX_Finish_r(&fr);
		/* A stop asked for now is served first: the pool and cron pick the work up. */
		if (!stop_requested)
			run_after_response(rs);
		block_stops(0);
	}
	FCGX_Free(&fr, 1);
	msgr_log(MSGR_LOG_INFO, "stopping after %lu requests", rs->counter);
	return 0;
}

static int
serve_cgi(struct responder *rs)
{
	struct msgr_request_io io;

	io.ctx = NULL;
	io.param = cgi_param;
	io.read = cgi_read;
	io.write = cgi_write;
	block_stops(1);
	serve(rs, &io);
	/* The web server ends the exchange when stdout closes. */
	close(STDOUT_FILENO);
	run_after_response(rs);
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
	char *errors = NULL;
	const char *path;
	msgr_result rc;
	int cgi, status = 1;

	(void)argc;
	ensure_std_fds();
	msgr_log_init(argv[0] ? argv[0] : PROG, MSGR_LOG_INFO);
	memset(&rs, 0, sizeof(rs));
	msgr_request_init(&rs.req);
	if (install_signals() != 0) {
		msgr_log(MSGR_LOG_ERROR, "cannot install signal handlers");
		goto out;
	}
	cgi = FCGX_IsCGI();
	if (msgr_graph_global_init() != MSGR_OK) {
		msgr_log(MSGR_LOG_ERROR, "libcurl cannot start");
		goto out;
	}

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
	rs.store_opt.path = rs.cfg->state.path;
	rs.store_opt.wal = rs.cfg->state.journal == MSGR_JOURNAL_WAL;
	rs.store_opt.sync_full = rs.cfg->state.sync == MSGR_SYNC_FULL;
	rs.store_opt.busy_timeout_ms = rs.cfg->state.busy_timeout_ms;
	rs.store_opt.readonly = 0;
	rs.store_opt.errbuf = rs.store_err;
	rs.store_opt.errbufsz = sizeof(rs.store_err);
	/* Opened once and kept; when it cannot be opened now, POSTs get 503 and each request
	 * tries again (SPEC.md: a fault a retry can cure). A CGI process opens it only for
	 * a request that stores. */
	if (!cgi)
		(void)store_get(&rs);

	status = cgi ? serve_cgi(&rs) : serve_fastcgi(&rs);
out:
	free(errors);
	msgr_worker_close(rs.worker);
	msgr_graph_close(rs.graph);
	msgr_graph_global_cleanup();
	if (rs.store != NULL)
		msgr_store_close(rs.store);
	if (rs.cfg != NULL)
		msgr_config_free(rs.cfg);
	msgr_request_free(&rs.req);
	msgr_log_clear_secrets();
	return status;
}
