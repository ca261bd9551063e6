/* ctl_thread.c — `msgrctl thread`: Conversation Routing (the handover protocol) by hand
 * (SPEC.md "Handover protocol"): pass, take, release, request, extend, owner. What a call
 * changes is also written to the store, so the connector's own view of who owns the thread
 * (and `msgrctl status`) stays true. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "msgrctl.h"

static const char *
owner_name(const struct msgr_connector *cn, const char *app)
{
	if (app == NULL || *app == '\0')
		return "nobody";
	if (strcmp(app, cn->app_id) == 0)
		return "this connector's app";
	if (strcmp(app, MSGR_GRAPH_INBOX_APP_ID) == 0)
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

int
cmd_thread(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTS,
		{ "connector", required_argument, NULL, 'C' }, { "to", required_argument, NULL, 't' },
		{ "target", required_argument, NULL, 'T' },
		{ "metadata", required_argument, NULL, 'm' },
		{ "duration", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 } };
	const char *id = NULL, *to = NULL, *target = NULL, *meta = NULL, *action;
	const struct msgr_connector *cn;
	struct msgr_graph *g = NULL;
	struct msgr_graph_result res;
	struct msgr_graph_auth a;
	long duration = 0;
	char *end;
	msgr_result rc;
	int c, r, ret = 1;

	msgr_graph_result_init(&res);
	while ((c = getopt_long(argc, argv, CTL_COMMON_SHORT "C:t:T:m:d:", opts, NULL)) != -1) {
		switch (c) {
		case 'C': id = optarg; break;
		case 't': to = optarg; break;
		case 'T': target = optarg; break;
		case 'm': meta = optarg; break;
		case 'd':
			errno = 0;
			duration = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || duration < 1 || duration > 7L * 86400) {
				fprintf(stderr, "msgrctl thread: --duration takes 1 to 604800 seconds\n");
				return 1;
			}
			break;
		default:
			if ((r = ctl_option(ctl, c)) >= 0)
				return r;
		}
	}
	if (optind != argc - 1 || id == NULL || to == NULL) {
		fprintf(stderr, "msgrctl thread: an action, --connector and --to are needed\n");
		fprintf(stderr, "usage: msgrctl thread %s\n", ctl->cmd->usage);
		return 1;
	}
	action = argv[optind];
	if (!msgr_config_is_id(to)) {
		fprintf(stderr, "msgrctl thread: --to must be a page-scoped user id (digits)\n");
		return 1;
	}
	if (strcmp(action, "pass") == 0 && (target == NULL ||
	    (strcmp(target, "inbox") != 0 && !msgr_config_is_id(target)))) {
		fprintf(stderr, "msgrctl thread pass: --target inbox or an app id is needed\n");
		return 1;
	}
	if (strcmp(action, "extend") == 0 && duration == 0) {
		fprintf(stderr, "msgrctl thread extend: --duration SECONDS is needed\n");
		return 1;
	}
	if (ctl_load(ctl))
		goto out;
	if ((cn = msgr_config_by_id(ctl->cfg, id)) == NULL) {
		fprintf(stderr, "msgrctl thread: no connector \"%.64s\"\n", id);
		goto out;
	}
	if (ctl_open_graph(ctl, &g))
		goto out;
	a.token = cn->call_token;
	a.app_secret = cn->secret;
	if (strcmp(action, "pass") == 0)
		rc = msgr_graph_pass_thread_control(g, &a, to, target, meta, &res);
	else if (strcmp(action, "take") == 0)
		rc = msgr_graph_take_thread_control(g, &a, to, meta, &res);
	else if (strcmp(action, "release") == 0)
		rc = msgr_graph_release_thread_control(g, &a, to, meta, &res);
	else if (strcmp(action, "request") == 0)
		rc = msgr_graph_request_thread_control(g, &a, to, meta, &res);
	else if (strcmp(action, "extend") == 0)
		rc = msgr_graph_extend_thread_control(g, &a, to, duration, &res);
	else if (strcmp(action, "owner") == 0)
		rc = msgr_graph_thread_owner(g, &a, cn->page_id, to, &res);
	else {
		fprintf(stderr, "msgrctl thread: unknown action \"%.20s\" (pass, take, release, "
		    "request, extend, owner)\n", action);
		goto out;
	}
	if (rc != MSGR_OK) {
		fprintf(stderr, "msgrctl thread %s: %s: (#%ld/%ld) %s\n", action, msgr_strerror(rc),
		    res.code, res.subcode, res.message[0] ? res.message : res.transport_error);
		goto out;
	}
	if (strcmp(action, "owner") == 0) {
		printf("%s %s\n", res.owner_app_id[0] ? res.owner_app_id : "-",
		    owner_name(cn, res.owner_app_id));
		remember_owner(ctl, cn, to, res.owner_app_id[0] ? MSGR_OWNER_APP : MSGR_OWNER_US,
		    res.owner_app_id);
	} else {
		if (strcmp(action, "pass") == 0)
			remember_owner(ctl, cn, to, MSGR_OWNER_APP,
			    strcmp(target, "inbox") == 0 ? MSGR_GRAPH_INBOX_APP_ID : target);
		else if (strcmp(action, "take") == 0)
			remember_owner(ctl, cn, to, MSGR_OWNER_US, NULL);
		else if (strcmp(action, "release") == 0)
			remember_owner(ctl, cn, to, MSGR_OWNER_RELEASED, NULL);
		printf("%s: done\n", action);
	}
	ret = 0;
out:
	msgr_graph_result_clear(&res);
	msgr_graph_close(g);
	msgr_graph_global_cleanup();
	return ret;
}
