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
 * Nothing of it is linked into the responder: it links libmsgr_fcgi.a and libmsgr.a only. */
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
#include "fcgi_pool.h"
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
#define SLOW_STOP_MS 1500       /* a stop longer than this says where threads are */
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
	FCGX_Request fr;
	struct sim_req req;
	struct sim_ctx cx;
	unsigned long counter;
};

static void
on_signal(int sig)
{
	(void)sig;
}

/* Where a request goes, once it is known to be the simulator's to answer. */
static void
dispatch(struct sim_ctx *cx)
{
	struct sim_req *r = cx->req;
	const char *sub = r->path + 5;      /* after "/_sim" */

	if (strcmp(sub, "/") == 0 || strncmp(sub, "/static/", 8) == 0) {
		if (strcmp(r->head.method, "GET") != 0) {
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
	if (r->head.content_length > 0 && (unsigned long long)r->head.body.len <
	    (unsigned long long)r->head.content_length)
		msgr_request_drain(&r->io, DRAIN_MAX);
	msgr_log(MSGR_LOG_INFO, "req=%lx-%x-%lx method=\"%s\" path=\"%s\" status=%d ms=%lld%s%s%s",
	    (unsigned long)getpid(), t->index, t->counter,
	    msgr_log_escape(meth, sizeof(meth), r->head.method, strlen(r->head.method)),
	    msgr_log_escape(path, sizeof(path), r->path, strlen(r->path)), r->status,
	    msgr_clock_mono_ms() - t0, r->note[0] ? " note=\"" : "",
	    r->note[0] ? msgr_log_escape(note, sizeof(note), r->note, strlen(r->note)) : "",
	    r->note[0] ? "\"" : "");
}

static FCGX_Request *
thread_request(void *arg, unsigned i)
{
	struct sim_thread *th = arg;

	return &th[i].fr;
}

static int
thread_serve(void *arg, unsigned i, FCGX_Request *fr)
{
	struct sim_thread *th = arg;

	(void)fr;
	serve(&th[i]);
	return 0;
}

/* The answer goes before any webhook it causes (an echo follows a send). */
static void
thread_after(void *arg, unsigned i)
{
	struct sim_thread *th = arg;

	sim_hook_run_deferred(&th[i].cx);
}

static void
threads_started(void *arg, unsigned running)
{
	struct sim_server *srv = ((struct sim_thread *)arg)[0].srv;

	msgr_log(MSGR_LOG_INFO, "simulator %s: %u threads, msgrctl %s, page %s",
	    srv->w ? "on" : "off (every path answers 404)", running, srv->msgrctl, srv->webdir);
}

/* Sets up the threads' state, serves on lib/fcgi_pool.h until a stop, then frees it. */
static int
run(struct sim_server *srv)
{
	struct sim_thread *th;
	struct msgr_http_options hopt;
	struct msgr_fcgi_pool pool;
	int i, status;

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
	}
	/* The state is for development only: a stop past the grace loses nothing that matters. */
	pool = (struct msgr_fcgi_pool){ .threads = SIM_THREADS, .stop = &stop_requested,
	    .arg = th, .request = thread_request, .serve = thread_serve, .after = thread_after,
	    .started = threads_started, .slow_ms = SLOW_STOP_MS, .grace_ms = STOP_GRACE_MS };
	status = msgr_fcgi_pool_run(&pool, NULL);
	for (i = 0; i < SIM_THREADS; i++) {
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
	if (sigaction(MSGR_FCGI_WAKE_SIGNAL, &sa, NULL) != 0)
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
