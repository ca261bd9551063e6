/* ctl_thread.c — `msgrctl thread`: Conversation Routing (the handover protocol) by hand
 * (docs/facebook.md "Thread control", man/msgrctl.1): pass, take, release, request, extend,
 * owner, one row of `actions` each. What a call changes is also written to the store, so the
 * connector's own view of who owns the thread (and `msgrctl status`) stays true. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "id.h"
#include "ctl.h"
#include "msgrctl.h"

static const char *
owner_name(const struct msgr_connector *cn, const char *app)
{
	if (app == NULL || *app == '\0')
		return "nobody";
	if (strcmp(app, cn->app_id) == 0)
		return "this connector's app";
	if (strcmp(app, MSGR_PAGE_INBOX_APP_ID) == 0)
		return "the Page Inbox (a person)";
	return "another app";
}

/* Records the new owner of (page, psid) in the store; app (MSGR_OWNER_APP) may be this
 * connector's own app, which is MSGR_OWNER_US. */
static void
remember_owner(struct ctl *ctl, const struct msgr_connector *cn, const char *psid,
    enum msgr_owner owner, const char *app)
{
	struct msgr_store *st = NULL;

	if (owner == MSGR_OWNER_APP && strcmp(app, cn->app_id) == 0)
		owner = MSGR_OWNER_US;
	if (ctl_open_store(ctl, &st) != 0)
		return;
	if (msgr_store_set_owner(st, cn->page_id, psid, owner, app) != MSGR_OK)
		fprintf(stderr, "msgrctl thread: the store did not take the new owner: %s\n",
		    msgr_store_errmsg(st));
	msgr_store_close(st);
}

/* One `msgrctl thread` call: the options, checked. */
struct thread_req {
	const char *action, *id, *to, *target, *meta;
	long duration;                 /* 0: none given */
	const struct msgr_connector *cn;
	struct msgr_graph_auth a;
};

/* ---- the actions ---- */

static msgr_result
call_pass(struct msgr_graph *g, const struct thread_req *q, struct msgr_graph_result *res)
{
	return msgr_graph_pass_thread_control(g, &q->a, q->to, q->target, q->meta, res);
}

static msgr_result
call_take(struct msgr_graph *g, const struct thread_req *q, struct msgr_graph_result *res)
{
	return msgr_graph_take_thread_control(g, &q->a, q->to, q->meta, res);
}

static msgr_result
call_release(struct msgr_graph *g, const struct thread_req *q, struct msgr_graph_result *res)
{
	return msgr_graph_release_thread_control(g, &q->a, q->to, q->meta, res);
}

static msgr_result
call_request(struct msgr_graph *g, const struct thread_req *q, struct msgr_graph_result *res)
{
	return msgr_graph_request_thread_control(g, &q->a, q->to, q->meta, res);
}

static msgr_result
call_extend(struct msgr_graph *g, const struct thread_req *q, struct msgr_graph_result *res)
{
	return msgr_graph_extend_thread_control(g, &q->a, q->to, q->duration, res);
}

static msgr_result
call_owner(struct msgr_graph *g, const struct thread_req *q, struct msgr_graph_result *res)
{
	return msgr_graph_thread_owner(g, &q->a, q->cn->page_id, q->to, res);
}

static void
passed(struct ctl *ctl, const struct thread_req *q, const struct msgr_graph_result *res)
{
	(void)res;
	remember_owner(ctl, q->cn, q->to, MSGR_OWNER_APP,
	    strcmp(q->target, "inbox") == 0 ? MSGR_PAGE_INBOX_APP_ID : q->target);
}

static void
taken(struct ctl *ctl, const struct thread_req *q, const struct msgr_graph_result *res)
{
	(void)res;
	remember_owner(ctl, q->cn, q->to, MSGR_OWNER_US, NULL);
}

static void
released(struct ctl *ctl, const struct thread_req *q, const struct msgr_graph_result *res)
{
	(void)res;
	remember_owner(ctl, q->cn, q->to, MSGR_OWNER_RELEASED, NULL);
}

/* owner: prints who owns the thread, and the store learns it too. */
static void
owner_seen(struct ctl *ctl, const struct thread_req *q, const struct msgr_graph_result *res)
{
	printf("%s %s\n", res->owner_app_id[0] ? res->owner_app_id : "-",
	    owner_name(q->cn, res->owner_app_id));
	remember_owner(ctl, q->cn, q->to, res->owner_app_id[0] ? MSGR_OWNER_APP : MSGR_OWNER_US,
	    res->owner_app_id);
}

#define NEEDS_TARGET   0x1
#define NEEDS_DURATION 0x2

static const struct thread_action {
	const char *name;
	int needs;
	msgr_result (*call)(struct msgr_graph *, const struct thread_req *,
	    struct msgr_graph_result *);
	/* after a successful call: what the store learns (NULL: nothing) */
	void (*done)(struct ctl *, const struct thread_req *, const struct msgr_graph_result *);
	int prints;                    /* done prints the answer; else "NAME: done" */
} actions[] = {
	{ "pass", NEEDS_TARGET, call_pass, passed, 0 },
	{ "take", 0, call_take, taken, 0 },
	{ "release", 0, call_release, released, 0 },
	{ "request", 0, call_request, NULL, 0 },
	{ "extend", NEEDS_DURATION, call_extend, NULL, 0 },
	{ "owner", 0, call_owner, owner_seen, 1 },
	{ NULL, 0, NULL, NULL, 0 }
};

static const struct thread_action *
find_action(const char *name)
{
	const struct thread_action *t;

	for (t = actions; t->name != NULL; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

/* ---- the command ---- */

/* Reads the options into *q. -1: go on; otherwise the exit status. */
static int
parse_args(struct ctl *ctl, int argc, char **argv, struct thread_req *q)
{
	static const struct option opts[] = { CTL_COMMON_OPTS,
		{ "connector", required_argument, NULL, 'C' }, { "to", required_argument, NULL, 't' },
		{ "target", required_argument, NULL, 'T' },
		{ "metadata", required_argument, NULL, 'm' },
		{ "duration", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 } };
	char *end;
	int c, r;

	memset(q, 0, sizeof(*q));
	while ((c = getopt_long(argc, argv, CTL_COMMON_SHORT "C:t:T:m:d:", opts, NULL)) != -1) {
		switch (c) {
		case 'C': q->id = optarg; break;
		case 't': q->to = optarg; break;
		case 'T': q->target = optarg; break;
		case 'm': q->meta = optarg; break;
		case 'd':
			errno = 0;
			q->duration = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || q->duration < 1 || q->duration > 7L * 86400) {
				fprintf(stderr, "msgrctl thread: --duration takes 1 to 604800 seconds\n");
				return 1;
			}
			break;
		default:
			if ((r = ctl_option(ctl, c)) >= 0)
				return r;
		}
	}
	if (optind != argc - 1 || q->id == NULL || q->to == NULL) {
		fprintf(stderr, "msgrctl thread: an action, --connector and --to are needed\n");
		fprintf(stderr, "usage: msgrctl thread %s\n", ctl->cmd->usage);
		return 1;
	}
	q->action = argv[optind];
	return -1;
}

/* What can be said wrong before the config is read. 0 or 1. */
static int
check_args(const struct thread_req *q, const struct thread_action *act)
{
	if (!msgr_id_valid(q->to)) {
		fprintf(stderr, "msgrctl thread: --to must be a page-scoped user id (digits)\n");
		return 1;
	}
	if (act != NULL && (act->needs & NEEDS_TARGET) && (q->target == NULL ||
	    (strcmp(q->target, "inbox") != 0 && !msgr_id_valid(q->target)))) {
		fprintf(stderr, "msgrctl thread pass: --target inbox or an app id is needed\n");
		return 1;
	}
	if (act != NULL && (act->needs & NEEDS_DURATION) && q->duration == 0) {
		fprintf(stderr, "msgrctl thread extend: --duration SECONDS is needed\n");
		return 1;
	}
	return 0;
}

static int
cmd_thread(struct ctl *ctl, int argc, char **argv)
{
	const struct thread_action *act;
	struct thread_req q;
	struct msgr_graph *g = NULL;
	struct msgr_graph_result res;
	msgr_result rc;
	int r, ret = 1;

	if ((r = parse_args(ctl, argc, argv, &q)) >= 0)
		return r;
	act = find_action(q.action);
	if (check_args(&q, act))
		return 1;
	msgr_graph_result_init(&res);
	if (ctl_load(ctl))
		goto out;
	if ((q.cn = msgr_config_by_id(ctl->cfg, q.id)) == NULL) {
		fprintf(stderr, "msgrctl thread: no connector \"%.64s\"\n", q.id);
		goto out;
	}
	if (ctl_open_graph(ctl, &g))
		goto out;
	if (act == NULL) {
		fprintf(stderr, "msgrctl thread: unknown action \"%.20s\" (pass, take, release, "
		    "request, extend, owner)\n", q.action);
		goto out;
	}
	q.a.token = q.cn->call_token;
	q.a.app_secret = q.cn->secret;
	q.a.proof = q.cn->proof;
	if ((rc = act->call(g, &q, &res)) != MSGR_OK) {
		fprintf(stderr, "msgrctl thread %s: %s: (#%ld/%ld) %s\n", act->name,
		    msgr_strerror(rc), res.code, res.subcode,
		    res.message[0] ? res.message : res.transport_error);
		goto out;
	}
	if (act->done != NULL)
		act->done(ctl, &q, &res);
	if (!act->prints)
		printf("%s: done\n", act->name);
	ret = 0;
out:
	msgr_graph_result_clear(&res);
	msgr_graph_close(g);
	return ret;
}

/* ---- the table ---- */

const struct ctl_command ctl_thread_commands[] = {
	{ "thread", cmd_thread,
	  "pass|take|release|request|extend|owner --connector ID --to PSID [options]",
	  "Conversation Routing: pass, take, release, request, extend, show the owner",
	  "Calls the handover protocol for one conversation of the connector's page:\n"
	  "  pass     --target inbox|APP_ID [--metadata M]   give the thread to the Page Inbox\n"
	  "           (a person) or another app\n"
	  "  take     [--metadata M]   take the thread back (this app answers again)\n"
	  "  release  [--metadata M]   let go of the thread\n"
	  "  request  [--metadata M]   ask the owner for the thread\n"
	  "  extend   --duration S     keep the thread S more seconds\n"
	  "  owner                     print the app that owns the thread\n"
	  "The store's view of the owner follows each successful call.\n" },
	{ NULL, NULL, NULL, NULL, NULL }
};
