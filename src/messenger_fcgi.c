/* messenger_fcgi.c — the webhook responder: main, signals and the one-request loops
 * (docs/responder.md says how to run and test it).
 *
 * Speaks FastCGI when fd 0 is a listening socket (mod_fcgid, lighttpd, spawn-fcgi and
 * `cgi-fcgi -start` hand it one; several processes may share it) and plain CGI otherwise.
 * The config is loaded once before serving; the store is opened once and kept. Each request
 * is handled by lib/respond.c: read with bounds, routed by path, verified, its events
 * stored in one transaction, and only then answered 200. responder.threads = N > 1
 * (FastCGI only) runs N request threads (src/fcgi_threads.c) whose events share
 * transactions through the group commit; after each answer the worker may run
 * (src/fcgi_work.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "http.h"
#include "log.h"
#include "options.h"
#include "responder.h"

#define PROG "messenger.fcgi"

/* ---- signals (docs/responder.md "Signals") ---- */

static void
on_stop(int sig)
{
	(void)sig;
	atomic_store(&responder_stop, 1);
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
	if (sigaction(SIGALRM, &sa, NULL) != 0 || sigaction(MSGR_FCGI_WAKE_SIGNAL, &sa, NULL) != 0)
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

/* ---- the ways to run ---- */

/* threads = 1: the accept loop in the main thread, stop signals handled by on_stop. */
static int
serve_fastcgi(struct responder *rs, struct rthread *t)
{
	struct msgr_request_io io;
	int rc;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&t->fr, 0, 0) != 0) {
		msgr_log(MSGR_LOG_ERROR, "FastCGI initialisation failed");
		return 1;
	}
	io = msgr_fcgi_io(&t->fr);
	for (;;) {
		if (atomic_load(&responder_stop))
			break;
		if ((rc = msgr_fcgi_accept(&t->fr)) < 0)
			break;   /* shutdown pending, or the listening socket failed */
		if (rc > 0)
			continue;   /* cut short and answered */
		block_stops(1);
		(void)responder_serve(t, &io, 0);
		/* Releases the web server (and Facebook) before any further work. */
		msgr_fcgi_finish(&t->fr);
		/* A stop asked for now is served first: the pool and cron pick the work up. */
		fcgi_after_response(rs);
		block_stops(0);
	}
	FCGX_Free(&t->fr, 1);
	msgr_log(MSGR_LOG_INFO, "stopping after %lu requests", t->counter);
	return 0;
}

static int
serve_cgi(struct responder *rs, struct rthread *t)
{
	struct msgr_request_io io = fcgi_cgi_io();

	block_stops(1);
	(void)responder_serve(t, &io, 0);
	/* The web server ends the exchange when stdout closes. */
	close(STDOUT_FILENO);
	/* Only after a request that stored events (docs/worker.md): a scanner's 404, 403 or 405
	 * must not open the store, nor hold the process for a bot's timeout. */
	if (atomic_load(&rs->work_pending))
		fcgi_after_response(rs);
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
		struct msgr_request_io io = fcgi_cgi_io();

		(void)msgr_respond_status(&io, 500);
	}
}

/* One committer for the host's responders (lib/hostcommit.h), SQLite only: a plain CGI
 * process uses it when it is there but never becomes it (it ends after one request). */
static void
host_commit(struct responder *rs, int cgi)
{
	struct msgr_hostcommit_options ho;
	msgr_result rc;

	if (!rs->cfg->responder.host_commit || (rs->store_opt.backend != NULL &&
	    strcmp(rs->store_opt.backend, "sqlite") != 0))
		return;
	memset(&ho, 0, sizeof(ho));
	ho.store = &rs->store_opt;
	ho.may_serve = !cgi;
	/* The committer may wait the busy timeout for the lock, then the fsync. */
	ho.timeout_ms = rs->store_opt.busy_timeout_ms + 2000;
	rc = msgr_hostcommit_open(&ho, &rs->host);
	if (rc == MSGR_ERR_TOOBIG)
		msgr_log(MSGR_LOG_INFO, "state path too long for the host committer's socket: "
		    "this process stores alone");
	else if (rc != MSGR_OK)
		msgr_log(MSGR_LOG_WARN, "host committer unavailable: %s", msgr_strerror(rc));
	else
		msgr_commit_set_relay(rs->commit, msgr_hostcommit_relay, rs->host);
}

/* The config, the number of request threads and the store behind the group commit, once
 * per process. 0, or 1 when the process cannot serve (each fault logged). */
static int
configure(struct responder *rs, int cgi)
{
	char *errors = NULL;
	const char *path = msgr_config_default_path();
	msgr_result rc;

	if ((rc = msgr_config_load(path, &rs->cfg, &errors)) != MSGR_OK) {
		report_config(path, errors, rc, cgi);
		free(errors);
		rs->cfg = NULL;
		return 1;
	}
	free(errors);
	msgr_log_set_level((enum msgr_log_level)rs->cfg->log_level);
	/* A config others can read with secrets in it: said at every start, where admins look. */
	(void)msgr_config_exposure(rs->cfg, log_exposure, NULL);
	/* Plain CGI is one request per process: threads would have nothing to share. */
	rs->threads = cgi ? 1 : rs->cfg->responder.threads;
	if (rs->threads < 1)
		rs->threads = 1;
	rs->pid = (unsigned long)getpid();
	msgr_options_store(rs->cfg, &rs->store_opt);
	if ((rc = msgr_commit_open(&rs->store_opt, &rs->commit)) != MSGR_OK) {
		msgr_log(MSGR_LOG_ERROR, "cannot start: %s", msgr_strerror(rc));
		return 1;
	}
	host_commit(rs, cgi);
	msgr_respond_init(&rs->respond, rs->cfg, rs->commit, rs->threads > 1);
	/* Opened once and kept; when it cannot be opened now, POSTs get 503 and each request
	 * tries again (a fault a retry can cure: docs/responder.md "How it runs"). A CGI
	 * process opens it only for a request that stores. */
	if (!cgi)
		(void)msgr_commit_prepare(rs->commit);
	return 0;
}

int
main(int argc, char **argv)
{
	struct responder rs;
	struct rthread one;            /* the request state of threads = 1 and of plain CGI */
	int cgi, status = 1, mu_ok = 0;

	(void)argc;
	ensure_std_fds();
	msgr_log_init(argv[0] ? argv[0] : PROG, MSGR_LOG_INFO);
	memset(&rs, 0, sizeof(rs));
	rs.host_fd = -2;
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
	/* libcurl once per process, before any thread exists (lib/http.h). */
	if (msgr_http_global_init() != MSGR_OK) {
		msgr_log(MSGR_LOG_ERROR, "libcurl cannot start");
		goto out;
	}
	/* jansson seeds its hash function on first use; done here, before any thread runs. */
	json_object_seed(0);
	if (configure(&rs, cgi) != 0)
		goto out;

	if (cgi)
		status = serve_cgi(&rs, &one);
	else if (rs.threads == 1)
		status = serve_fastcgi(&rs, &one);
	else
		status = fcgi_serve_threads(&rs);
out:
	fcgi_work_close(&rs);
	msgr_worker_close(rs.worker);
	msgr_graph_close(rs.graph);
	msgr_http_global_cleanup();
	if (rs.own_store != NULL)
		msgr_store_close(rs.own_store);
	msgr_hostcommit_close(rs.host);
	msgr_commit_close(rs.commit);
	if (rs.cfg != NULL)
		msgr_config_free(rs.cfg);
	msgr_request_free(&one.req);
	if (mu_ok)
		pthread_mutex_destroy(&rs.work_mu);
	msgr_log_clear_secrets();
	return status;
}
