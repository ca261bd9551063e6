/* sim_main.c — simulator.fcgi: the Messenger simulator's FastCGI program
 * (docs/simulator.md).
 *
 * Started by the web server (lighttpd: lighttpd/simulator.conf, one process, bin-path) on
 * an inherited listening socket, with the connector's config ($MSGR_CONFIG). It runs
 * SIM_THREADS request threads, each with its own FCGX_Request and HTTP client, sharing one
 * world (sim_world.h) under a mutex; a thread held by a slow thing (a "hang" failure, a
 * webhook POST, a msgrctl run, a replay) holds only itself. With simulator.enabled false
 * every request is answered 404 and nothing else runs; a request that did not reach the
 * web server on a loopback address gets 403. One log line per request on stderr.
 *
 * Nothing of it is linked into the responder: it links libmsgr.a only. */
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
#include "config.h"
#include "http.h"
#include "log.h"
#include "sim_api.h"
#include "sim_ctx.h"
#include "sim_graph.h"
#include "sim_hook.h"
#include "sim_req.h"
#include "sim_run.h"
#include "sim_static.h"
#include "sim_world.h"

#define PROG "simulator.fcgi"
#define SIM_THREADS 16          /* request threads: a few may wait (hang, replay, POSTs) */
#define WAKE_SIGNAL SIGUSR2     /* wakes a thread blocked in accept at a stop */
#define STOP_GRACE_MS 3000      /* a stop waits this long for busy threads, then exits */
#define DRAIN_MAX (8 * 1024 * 1024) /* bytes of an unread body read and dropped */
#define HOOK_TIMEOUT_MS 10000   /* a webhook POST (the connector answers once stored) */
#define HOOK_REPLY_MAX 65536    /* bytes of the connector's answer kept */

static atomic_int stop_requested;

static int
stopping(void)
{
	return atomic_load(&stop_requested);
}

/* Read-only once the threads run. */
struct sim_server {
	const struct msgr_config *cfg;
	struct sim_world *w;           /* NULL when the simulator is off */
	char msgrctl[SIM_FILE_PATH_MAX];
	char webdir[SIM_FILE_PATH_MAX];
};

struct sim_thread {
	struct sim_server *srv;
	unsigned index;
	pthread_t tid;
	int started;
	FCGX_Request fr;
	struct sim_req req;
	struct sim_ctx cx;
	unsigned long counter;
	atomic_int in_accept;
	atomic_int finished;
};

static void
on_signal(int sig)
{
	(void)sig;
}

/* Reads and drops what is left of a body a handler did not read, so the web server sees a
 * whole exchange. */
static void
drain(struct sim_req *r)
{
	char chunk[16384];
	size_t total = 0;
	int got;

	while (total < DRAIN_MAX && (got = FCGX_GetStr(chunk, (int)sizeof(chunk), r->fr->in)) > 0)
		total += (size_t)got;
}

/* Where a request goes, once it is known to be the simulator's to answer. */
static void
dispatch(struct sim_ctx *cx)
{
	struct sim_req *r = cx->req;
	const char *sub = r->path + 5;      /* after "/_sim" */

	if (strcmp(sub, "/") == 0 || strncmp(sub, "/static/", 8) == 0) {
		if (strcmp(r->method, "GET") != 0) {
			sim_req_respond(r, 405, "application/json", "Allow: GET\r\n",
			    "{\"error\":\"method not allowed\"}", 30);
			return;
		}
		sim_static_serve(cx, sub[1] == '\0' ? NULL : sub + 8);
	} else if (strncmp(sub, "/graph/", 7) == 0 || strcmp(sub, "/graph") == 0) {
		sim_graph_serve(cx, sub + 6);
	} else if (strncmp(sub, "/api/", 5) == 0) {
		sim_api_serve(cx, sub + 5);
	} else {
		sim_req_error(r, 404, "no such path");
	}
}

static void
serve(struct sim_thread *t)
{
	struct sim_server *srv = t->srv;
	struct sim_req *r = &t->req;
	long long t0 = msgr_clock_mono_ms();
	char meth[48], path[256], note[200];

	t->counter++;
	sim_req_begin(r, &t->fr);
	if (srv->w == NULL || r->path_bad || strncmp(r->path, "/_sim/", 6) != 0) {
		/* Off (or not ours): as if the paths did not exist. */
		sim_req_respond(r, 404, "text/plain", NULL, "Not Found\n", 10);
	} else if (!sim_req_loopback(r)) {
		sim_req_error(r, 403, "the simulator answers on a loopback address only");
	} else {
		dispatch(&t->cx);
	}
	if (r->content_length > 0 && (unsigned long long)r->body.len <
	    (unsigned long long)r->content_length)
		drain(r);
	msgr_log(MSGR_LOG_INFO, "req=%lx-%x-%lx method=\"%s\" path=\"%s\" status=%d ms=%lld%s%s%s",
	    (unsigned long)getpid(), t->index, t->counter,
	    msgr_log_escape(meth, sizeof(meth), r->method, strlen(r->method)),
	    msgr_log_escape(path, sizeof(path), r->path, strlen(r->path)), r->status,
	    msgr_clock_mono_ms() - t0, r->note[0] ? " note=\"" : "",
	    r->note[0] ? msgr_log_escape(note, sizeof(note), r->note, strlen(r->note)) : "",
	    r->note[0] ? "\"" : "");
}

static void *
request_thread(void *arg)
{
	struct sim_thread *t = arg;
	sigset_t wake;
	int rc;

	sigemptyset(&wake);
	sigaddset(&wake, WAKE_SIGNAL);
	while (!stopping()) {
		atomic_store(&t->in_accept, 1);
		pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
		rc = FCGX_Accept_r(&t->fr);
		pthread_sigmask(SIG_BLOCK, &wake, NULL);
		atomic_store(&t->in_accept, 0);
		if (rc < 0) {
			if (stopping())
				break;
			if (rc == -EINTR)
				continue;
			msgr_log(MSGR_LOG_ERROR, "thread %u: accept failed (%d): stopping", t->index, rc);
			atomic_store(&stop_requested, 1);
			break;
		}
		serve(t);
		/* The answer goes before any webhook it causes (an echo follows a send). */
		FCGX_Finish_r(&t->fr);
		sim_hook_run_deferred(&t->cx);
	}
	atomic_store(&t->finished, 1);
	return NULL;
}

/* Starts the threads, waits for a stop signal, then for the threads (bounded). */
static int
run(struct sim_server *srv)
{
	struct sim_thread *th;
	struct msgr_http_options hopt;
	sigset_t stops, blocked;
	struct timespec tick = { 0, 200 * 1000000L }, pause = { 0, 20 * 1000000L };
	long long stop_at;
	int i, running = 0, left, status = 1;

	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGUSR1);
	blocked = stops;
	sigaddset(&blocked, WAKE_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &blocked, NULL);
	if (FCGX_Init() != 0) {
		msgr_log(MSGR_LOG_ERROR, "FastCGI initialisation failed");
		return 1;
	}
	if ((th = calloc(SIM_THREADS, sizeof(*th))) == NULL) {
		msgr_log(MSGR_LOG_ERROR, "out of memory starting the threads");
		return 1;
	}
	memset(&hopt, 0, sizeof(hopt));
	hopt.timeout_ms = HOOK_TIMEOUT_MS;
	hopt.connect_timeout_ms = 3000;
	hopt.max_reply = HOOK_REPLY_MAX;
	/* Facebook's webhook user agent. */
	hopt.user_agent = "facebookexternalua";
	for (i = 0; i < SIM_THREADS; i++) {
		struct sim_thread *t = &th[i];
		int err;

		t->srv = srv;
		t->index = (unsigned)i;
		sim_req_init(&t->req);
		t->cx.w = srv->w;
		t->cx.cfg = srv->cfg;
		t->cx.req = &t->req;
		t->cx.msgrctl = srv->msgrctl;
		t->cx.webdir = srv->webdir;
		t->cx.stopping = stopping;
		if (srv->w != NULL && msgr_http_open(&hopt, &t->cx.http) != MSGR_OK)
			msgr_log(MSGR_LOG_WARN, "thread %d: no HTTP client: webhooks will fail", i);
		if (FCGX_InitRequest(&t->fr, 0, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
			msgr_log(MSGR_LOG_ERROR, "FastCGI initialisation failed");
			break;
		}
		if ((err = pthread_create(&t->tid, NULL, request_thread, t)) != 0) {
			msgr_log(MSGR_LOG_ERROR, "cannot start request thread %d: error %d", i, err);
			FCGX_Free(&t->fr, 1);
			break;
		}
		t->started = 1;
		running++;
	}
	if (running > 0) {
		msgr_log(MSGR_LOG_INFO, "simulator %s: %d threads, msgrctl %s, page %s",
		    srv->w ? "on" : "off (every path answers 404)", running, srv->msgrctl,
		    srv->webdir);
		while (!stopping())
			if (sigtimedwait(&stops, NULL, &tick) > 0)
				break;
		atomic_store(&stop_requested, 1);
		FCGX_ShutdownPending();
		stop_at = msgr_clock_mono_ms();
		do {
			left = 0;
			for (i = 0; i < SIM_THREADS; i++) {
				if (!th[i].started || atomic_load(&th[i].finished))
					continue;
				left++;
				if (atomic_load(&th[i].in_accept))
					pthread_kill(th[i].tid, WAKE_SIGNAL);
			}
			if (left > 0 && msgr_clock_mono_ms() - stop_at > STOP_GRACE_MS) {
				/* The state is for development only: nothing is lost that matters. */
				msgr_log(MSGR_LOG_WARN, "stopping: %d threads still busy after %d ms, "
				    "exiting anyway", left, STOP_GRACE_MS);
				_exit(0);
			}
			if (left > 0)
				nanosleep(&pause, NULL);
		} while (left > 0);
		status = 0;
	}
	for (i = 0; i < SIM_THREADS; i++) {
		if (th[i].started) {
			pthread_join(th[i].tid, NULL);
			FCGX_Free(&th[i].fr, 1);
		}
		msgr_http_close(th[i].cx.http);
		json_decref(th[i].cx.deferred);
		sim_req_free(&th[i].req);
	}
	free(th);
	msgr_log(MSGR_LOG_INFO, "stopped");
	return status;
}

static int
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;     /* no SA_RESTART: a blocked accept returns EINTR */
	if (sigaction(WAKE_SIGNAL, &sa, NULL) != 0)
		return -1;
	sa.sa_handler = SIG_IGN;
	return sigaction(SIGPIPE, &sa, NULL);
}

/* path from the environment variable env, else beside the binary. */
static int
locate(char *out, size_t outsz, const char *env, const char *rel)
{
	const char *v = getenv(env);

	if (v != NULL && v[0] != '\0') {
		if (strlen(v) >= outsz)
			return -1;
		snprintf(out, outsz, "%s", v);
		return 0;
	}
	return sim_run_beside(rel, out, outsz) == MSGR_OK ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct sim_server srv;
	struct msgr_config *cfg = NULL;
	char *errors = NULL;
	const char *path;
	msgr_result rc;
	int status = 1;

	(void)argc;
	msgr_log_init(argv[0] ? argv[0] : PROG, MSGR_LOG_INFO);
	memset(&srv, 0, sizeof(srv));
	if (FCGX_IsCGI()) {
		msgr_log(MSGR_LOG_ERROR, "no FastCGI socket on fd 0: start it from the web server "
		    "(lighttpd/simulator.conf)");
		return 1;
	}
	if (install_signals() != 0 || msgr_http_global_init() != MSGR_OK) {
		msgr_log(MSGR_LOG_ERROR, "cannot start (signals or libcurl)");
		return 1;
	}
	/* jansson seeds its hash function on first use: done here, before any thread runs. */
	json_object_seed(0);
	path = msgr_config_default_path();
	if ((rc = msgr_config_load(path, &cfg, &errors)) != MSGR_OK) {
		const char *p = errors;

		msgr_log(MSGR_LOG_ERROR, "config %s not loaded: %s", path, msgr_strerror(rc));
		while (p != NULL && *p != '\0') {
			const char *nl = strchr(p, '\n');

			msgr_log(MSGR_LOG_ERROR, "%.*s", (int)(nl ? nl - p : (long)strlen(p)), p);
			p = nl ? nl + 1 : NULL;
		}
		goto out;
	}
	srv.cfg = cfg;
	if (locate(srv.msgrctl, sizeof(srv.msgrctl), "MSGRCTL", "../bin/msgrctl") != 0 ||
	    locate(srv.webdir, sizeof(srv.webdir), "MSGR_SIM_WEB", "../web/simulator") != 0) {
		msgr_log(MSGR_LOG_ERROR, "cannot find msgrctl or the page's folder");
		goto out;
	}
	if (cfg->simulator.enabled && sim_world_open(cfg, &srv.w) != MSGR_OK) {
		msgr_log(MSGR_LOG_ERROR, "out of memory");
		goto out;
	}
	status = run(&srv);
out:
	sim_world_close(srv.w);
	free(errors);
	msgr_config_free(cfg);
	msgr_http_global_cleanup();
	msgr_log_clear_secrets();
	return status;
}
