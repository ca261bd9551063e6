/* ctl_setup.c — msgrctl's Facebook set-up commands, subscribe and profile (man/msgrctl.1),
 * and their table.
 *
 * subscribe registers the webhook of each app and subscribes each page (docs/deploy.md);
 * profile pushes a connector's `profile` group with POST me/messenger_profile
 * (docs/configuration.md "profile"). Output is for a person or a cron mail: one line per
 * Graph API call on stdout, failures on stderr with Facebook's own text. No
 * token, secret, verify token or app token is ever printed: Facebook's texts pass through
 * msgr_log_escape before they are shown, which replaces every secret the config registered
 * at load (lib/log.h), behind lib/graph's own redaction. The profile's limits are the
 * config's (lib/config.c checks them at load, so `msgrctl check` reports them too); its
 * body is built by msgr_message_profile (lib/message.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libconfig.h>

#include "log.h"
#include "message.h"
#include "msgrctl.h"
#include "url.h"

static int cmd_subscribe(struct ctl *, int, char **);
static int cmd_profile(struct ctl *, int, char **);

/* Page webhook fields subscribed by default: every kind the connector parses
 * (docs/events.md "Kinds and fields", Meta's webhook fields reference for the page object). */
static const char *const default_fields[] = {
	"messages", "messaging_postbacks", "messaging_optins", "message_deliveries",
	"message_reads", "messaging_referrals", "message_echoes", "messaging_handovers",
	"standby", "message_reactions", "message_edits", "messaging_account_linking",
	"messaging_policy_enforcement", NULL
};

/* The Messenger profile fields this program manages (docs/facebook.md "Messenger profile"),
 * in the order msgrctl names them. */
#define PROFILE_FIELDS 5
static const char *const profile_fields[PROFILE_FIELDS + 1] = {
	"get_started", "greeting", "ice_breakers", "persistent_menu", "whitelisted_domains", NULL
};

#define FIELDS_MAX       32      /* names in --fields */
#define FIELDS_BYTES     1024    /* the whole --fields list */
#define BASE_BYTES       2048    /* --url BASE; BASE + a path stays under MSGR_MAX_URL_BYTES */
#define SHOWN_BYTES      1024    /* Facebook's text as printed */

/* ---- what is printed ---- */

/* Why a call failed, as Facebook said it (or the transport's reason). */
static const char *
why_failed(char *dst, size_t dstsz, const struct msgr_graph_result *res)
{
	char raw[sizeof(res->message) + sizeof(res->user_msg) + 16];

	if (!res->transport_ok)
		snprintf(raw, sizeof(raw), "no answer from the Graph API: %s",
		    res->transport_error[0] ? res->transport_error : msgr_strerror(res->rc));
	else if (res->code != 0 && res->message[0] != '\0')
		snprintf(raw, sizeof(raw), "%s%s%s", res->message,
		    res->user_msg[0] ? " — " : "", res->user_msg);
	else if (res->code != 0)
		snprintf(raw, sizeof(raw), "Graph API error %ld/%ld", res->code, res->subcode);
	else if (res->http_status != 0 && (res->http_status < 200 || res->http_status > 299))
		snprintf(raw, sizeof(raw), "HTTP %ld without a Graph API error", res->http_status);
	else
		snprintf(raw, sizeof(raw), "%s", msgr_strerror(res->rc));
	return msgr_log_escape(dst, dstsz, raw, strlen(raw));
}

static int
flush_out(const char *cmd)
{
	if (fflush(stdout) != 0) {
		fprintf(stderr, "msgrctl %s: cannot write: %s\n", cmd, strerror(errno));
		return 1;
	}
	return 0;
}

/* ---- subscribe: arguments ---- */

/* BASE is where Facebook reaches the responder: https://host[:port][/prefix]; the callback
 * of an app is BASE + its first connector's path. Facebook calls https callbacks only (Meta's
 * webhooks guide); plain http is allowed on a loopback host, for tests. No user:password@,
 * query or fragment: they would land in every callback and in this program's output. */
static int
check_base(const char *url, char *out, size_t outsz, char *why, size_t whysz)
{
	size_t n = strlen(url);
	const char *bad = NULL;

	if (n == 0 || n >= outsz) {
		snprintf(why, whysz, "empty or longer than %zu bytes", outsz - 1);
		return 1;
	}
	switch (msgr_url_check(url, MSGR_URL_HTTPS | MSGR_URL_HTTP_LOOPBACK | MSGR_URL_PLAIN)) {
	case MSGR_URL_OK:
		break;
	case MSGR_URL_ERR_SCHEME:
		bad = "not an https:// URL";
		break;
	case MSGR_URL_ERR_LENGTH:
	case MSGR_URL_ERR_CHAR:
		bad = "no spaces, '?', '#', '@' or non-ASCII bytes allowed";
		break;
	case MSGR_URL_ERR_NO_HOST:
		bad = "no host";
		break;
	case MSGR_URL_ERR_HOST:
		bad = "Facebook calls https:// callbacks only (http:// is accepted for 127.0.0.1, "
		    "for tests)";
		break;
	case MSGR_URL_ERR_NOMEM:
		bad = "out of memory";
		break;
	default:
		bad = "not a URL curl can parse";
		break;
	}
	if (bad != NULL) {
		snprintf(why, whysz, "%s", bad);
		return 1;
	}
	memcpy(out, url, n + 1);
	while (n > 0 && out[n - 1] == '/')   /* the connector's path brings its own '/' */
		out[--n] = '\0';
	return 0;
}

/* 1 when the comma-separated list holds name. */
static int
field_listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while ((p = strstr(p, name)) != NULL) {
		if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return 1;
		p += n;
	}
	return 0;
}

/* --fields a,b,c: names of page webhook fields, [a-z_], no repeats. */
static int
check_fields(const char *list, char *out, size_t outsz, size_t *count, char *why, size_t whysz)
{
	const char *p = list;
	size_t n = 0;

	if (strlen(list) >= outsz || *list == '\0') {
		snprintf(why, whysz, "empty or longer than %zu bytes", outsz - 1);
		return 1;
	}
	while (*p != '\0') {
		size_t len = strcspn(p, ","), i;
		const char *q;

		if (len == 0 || len > 64) {
			snprintf(why, whysz, "an empty or over-long name");
			return 1;
		}
		for (i = 0; i < len; i++)
			if (!((p[i] >= 'a' && p[i] <= 'z') || p[i] == '_')) {
				snprintf(why, whysz, "\"%.*s\" is not a field name (a-z and _)",
				    (int)(len > 40 ? 40 : len), p);
				return 1;
			}
		for (q = list; q < p; q += strcspn(q, ",") + 1)
			if (strcspn(q, ",") == len && strncmp(q, p, len) == 0) {
				snprintf(why, whysz, "\"%.*s\" is listed twice", (int)len, p);
				return 1;
			}
		if (++n > FIELDS_MAX) {
			snprintf(why, whysz, "more than %d fields", FIELDS_MAX);
			return 1;
		}
		p += len;
		if (*p == ',' && *++p == '\0') {
			snprintf(why, whysz, "a trailing comma");
			return 1;
		}
	}
	memcpy(out, list, strlen(list) + 1);
	*count = n;
	return 0;
}

static void
default_field_list(char *out, size_t outsz, size_t *count)
{
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; default_fields[i] != NULL; i++) {
		int w = snprintf(out + len, outsz - len, "%s%s", i ? "," : "", default_fields[i]);

		if (w < 0 || (size_t)w >= outsz - len)
			break;
		len += (size_t)w;
	}
	*count = i;
}

/* 1 when every name of the comma list want is in have (a JSON array of strings, or of
 * {"name": ...} objects as GET /{app-id}/subscriptions returns them). */
static int
has_fields(const json_t *have, const char *want)
{
	const char *p = want;

	while (*p != '\0') {
		size_t len = strcspn(p, ","), i;
		int found = 0;

		for (i = 0; i < json_array_size(have) && !found; i++) {
			const json_t *f = json_array_get(have, i);
			const char *name = json_is_string(f) ? json_string_value(f) :
			    json_string_value(json_object_get(f, "name"));

			found = name != NULL && strlen(name) == len && strncmp(name, p, len) == 0;
		}
		if (!found)
			return 0;
		p += len;
		if (*p == ',')
			p++;
	}
	return 1;
}

/* ---- subscribe: the calls ---- */

struct sub_run {
	struct ctl *ctl;
	struct msgr_graph *g;
	char base[BASE_BYTES];     /* --url, validated, no trailing '/' */
	char fields[FIELDS_BYTES]; /* comma-separated */
	size_t n_fields;
	int check;                 /* --check: look first, repair only what is missing */
	int failed;
};

/* POST /{app-id}/subscriptions for app of connector first (docs/facebook.md
 * "Subscriptions"). Facebook GETs the callback during the call: 2200 when the responder did
 * not answer the challenge. 0 on success. */
static int
register_app(struct sub_run *r, const struct msgr_connector *first, const char *callback,
    const char *what)
{
	struct msgr_graph_result res;
	char why[SHOWN_BYTES], esc[BASE_BYTES + MSGR_MAX_PATH_BYTES];
	int ret = 1;

	msgr_graph_result_init(&res);
	msgr_log_escape(esc, sizeof(esc), callback, strlen(callback));
	if (msgr_graph_app_subscribe(r->g, first->app_id, first->secret, callback,
	    first->webhook_token, r->fields, &res) == MSGR_OK) {
		printf("app %s: webhook %s %s (%zu fields)\n", first->app_id, esc, what, r->n_fields);
		ret = 0;
	} else {
		fprintf(stderr, "msgrctl subscribe: app %s: webhook %s not registered: %s\n",
		    first->app_id, esc, why_failed(why, sizeof(why), &res));
		r->failed = 1;
	}
	msgr_graph_result_clear(&res);
	return ret;
}

/* The app's page subscription as GET /{app-id}/subscriptions lists it, or NULL. */
static const json_t *
page_subscription(const json_t *answer)
{
	const json_t *data = json_object_get(answer, "data");
	size_t i;

	for (i = 0; i < json_array_size(data); i++) {
		const json_t *s = json_array_get(data, i);

		if (json_is_string(json_object_get(s, "object")) &&
		    strcmp(json_string_value(json_object_get(s, "object")), "page") == 0)
			return s;
	}
	return NULL;
}

/* --check for one app: active with our callback and fields -> nothing to do; missing,
 * inactive or short of fields -> registered again; another callback -> reported only (it may
 * be a developer's tunnel: moving it is `subscribe` without --check). 0 when all is well. */
static int
check_app(struct sub_run *r, const struct msgr_connector *first, const char *callback)
{
	struct msgr_graph_result res;
	const json_t *s;
	const char *cb;
	char why[SHOWN_BYTES], esc[BASE_BYTES + MSGR_MAX_PATH_BYTES];
	int ret = 1;

	msgr_graph_result_init(&res);
	if (msgr_graph_app_subscriptions(r->g, first->app_id, first->secret, &res) != MSGR_OK) {
		fprintf(stderr, "msgrctl subscribe: app %s: cannot read the subscriptions: %s\n",
		    first->app_id, why_failed(why, sizeof(why), &res));
		r->failed = 1;
		goto out;
	}
	s = page_subscription(res.json);
	cb = s != NULL ? json_string_value(json_object_get(s, "callback_url")) : NULL;
	if (s == NULL) {
		printf("app %s: webhook missing\n", first->app_id);
		ret = register_app(r, first, callback, "registered");
	} else if (cb == NULL || strcmp(cb, callback) != 0) {
		fprintf(stderr, "msgrctl subscribe: app %s: webhook goes to %s, not %s "
		    "(left as it is; `msgrctl subscribe --url` without --check moves it)\n",
		    first->app_id, msgr_log_escape(why, sizeof(why), cb ? cb : "(none)",
		    strlen(cb ? cb : "(none)")),
		    msgr_log_escape(esc, sizeof(esc), callback, strlen(callback)));
		r->failed = 1;
	} else if (!json_is_true(json_object_get(s, "active"))) {
		printf("app %s: webhook inactive\n", first->app_id);
		ret = register_app(r, first, callback, "registered again");
	} else if (!has_fields(json_object_get(s, "fields"), r->fields)) {
		printf("app %s: webhook lacks some of the %zu fields\n", first->app_id, r->n_fields);
		ret = register_app(r, first, callback, "registered again");
	} else {
		printf("app %s: webhook %s active\n", first->app_id,
		    msgr_log_escape(esc, sizeof(esc), callback, strlen(callback)));
		ret = 0;
	}
out:
	msgr_graph_result_clear(&res);
	return ret;
}

/* POST /{page-id}/subscribed_apps with the page token. */
static void
subscribe_page(struct sub_run *r, const struct msgr_connector *c, const char *what)
{
	struct msgr_graph_auth a = { c->call_token, c->secret, c->proof };
	struct msgr_graph_result res;
	char why[SHOWN_BYTES];

	msgr_graph_result_init(&res);
	if (msgr_graph_page_subscribe(r->g, &a, c->page_id, r->fields, &res) == MSGR_OK)
		printf("page %s (connector %s): %s\n", c->page_id, c->id, what);
	else {
		fprintf(stderr, "msgrctl subscribe: page %s (connector %s): not subscribed: %s\n",
		    c->page_id, c->id, why_failed(why, sizeof(why), &res));
		r->failed = 1;
	}
	msgr_graph_result_clear(&res);
}

/* --check for one page: GET /{page-id}/subscribed_apps lists the app with our fields. */
static void
check_page(struct sub_run *r, const struct msgr_connector *c)
{
	struct msgr_graph_auth a = { c->call_token, c->secret, c->proof };
	struct msgr_graph_result res;
	const json_t *data, *app = NULL;
	char why[SHOWN_BYTES];
	size_t i;

	msgr_graph_result_init(&res);
	if (msgr_graph_page_subscribed_apps(r->g, &a, c->page_id, &res) != MSGR_OK) {
		fprintf(stderr, "msgrctl subscribe: page %s (connector %s): cannot read its "
		    "subscribed apps: %s\n", c->page_id, c->id,
		    why_failed(why, sizeof(why), &res));
		r->failed = 1;
		goto out;
	}
	data = json_object_get(res.json, "data");
	for (i = 0; i < json_array_size(data) && app == NULL; i++) {
		const json_t *id = json_object_get(json_array_get(data, i), "id");

		if (json_is_string(id) && strcmp(json_string_value(id), c->app_id) == 0)
			app = json_array_get(data, i);
	}
	if (app == NULL) {
		printf("page %s (connector %s): not subscribed\n", c->page_id, c->id);
		subscribe_page(r, c, "subscribed");
	} else if (!has_fields(json_object_get(app, "subscribed_fields"), r->fields)) {
		printf("page %s (connector %s): lacks some of the %zu fields\n", c->page_id, c->id,
		    r->n_fields);
		subscribe_page(r, c, "subscribed again");
	} else
		printf("page %s (connector %s): subscribed\n", c->page_id, c->id);
out:
	msgr_graph_result_clear(&res);
}

/* The options into r: base, fields, check. -1 when they are good, else the exit code. */
static int
subscribe_options(struct ctl *ctl, int argc, char **argv, struct sub_run *r)
{
	static const struct option opts[] = { CTL_COMMON_OPTS,
		{ "url", required_argument, NULL, 'u' }, { "fields", required_argument, NULL, 'f' },
		{ "check", no_argument, NULL, 'k' }, { NULL, 0, NULL, 0 } };
	const char *url = NULL, *flist = NULL;
	char why[256], esc[128];
	int c, rc;

	while ((c = getopt_long(argc, argv, CTL_COMMON_SHORT "u:f:k", opts, NULL)) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 'f': flist = optarg; break;
		case 'k': r->check = 1; break;
		default:
			if ((rc = ctl_option(ctl, c)) >= 0)
				return rc;
		}
	}
	if (ctl_too_many(ctl, argc, argv))
		return 1;
	if (url == NULL) {
		fprintf(stderr, "msgrctl subscribe: --url BASE is needed (where Facebook reaches "
		    "the responder, e.g. https://example.org/cgi-bin/messenger.fcgi)\n");
		return 1;
	}
	if (check_base(url, r->base, sizeof(r->base), why, sizeof(why))) {
		fprintf(stderr, "msgrctl subscribe: --url \"%s\": %s\n",
		    msgr_log_escape(esc, sizeof(esc), url, strlen(url)), why);
		return 1;
	}
	if (flist == NULL)
		default_field_list(r->fields, sizeof(r->fields), &r->n_fields);
	else if (check_fields(flist, r->fields, sizeof(r->fields), &r->n_fields, why,
	    sizeof(why))) {
		fprintf(stderr, "msgrctl subscribe: --fields: %s\n", why);
		return 1;
	}
	/* The echoes are what settles a call a kill left of unknown outcome (docs/worker.md
	 * "The call in flight at a kill"): said, not refused, as the choice is the admin's. */
	if (!field_listed(r->fields, "message_echoes"))
		fprintf(stderr, "msgrctl subscribe: warning: without message_echoes a message whose "
		    "call a kill interrupted is sent again, possibly twice\n");
	return -1;
}

/* One app: its webhook at BASE + the path of first, its first connector in config order,
 * then the page of every connector of the app. */
static void
subscribe_app(struct sub_run *r, const struct msgr_connector *first)
{
	const struct msgr_config *cfg = r->ctl->cfg;
	char callback[BASE_BYTES + MSGR_MAX_PATH_BYTES];
	size_t j;
	int bad;

	snprintf(callback, sizeof(callback), "%s%s", r->base, first->path);
	bad = r->check ? check_app(r, first, callback) :
	    register_app(r, first, callback, "registered");
	for (j = (size_t)(first - cfg->connectors); j < cfg->n_connectors; j++) {
		const struct msgr_connector *cn = &cfg->connectors[j];

		if (strcmp(cn->app_id, first->app_id) != 0)
			continue;
		if (bad && !r->check) {
			/* a page subscribed to an app whose webhook failed would look done */
			fprintf(stderr, "msgrctl subscribe: page %s (connector %s): skipped, "
			    "app %s has no webhook\n", cn->page_id, cn->id, cn->app_id);
			continue;
		}
		if (r->check)
			check_page(r, cn);
		else
			subscribe_page(r, cn, "subscribed");
	}
}

static int
cmd_subscribe(struct ctl *ctl, int argc, char **argv)
{
	struct sub_run r;
	size_t i, j;
	int rc, seen;

	memset(&r, 0, sizeof(r));
	if ((rc = subscribe_options(ctl, argc, argv, &r)) >= 0)
		return rc;
	if (ctl_load(ctl) || ctl_open_graph(ctl, &r.g))
		return 1;
	r.ctl = ctl;
	/* One webhook per app (docs/facebook.md "Subscriptions": one callback per app and
	 * object): the first connector of each app_id, in config order, gives the callback
	 * path; its siblings' pages are routed by page id behind it (lib/intake.h). */
	for (i = 0; i < ctl->cfg->n_connectors; i++) {
		for (j = 0, seen = 0; j < i && !seen; j++)
			seen = strcmp(ctl->cfg->connectors[j].app_id,
			    ctl->cfg->connectors[i].app_id) == 0;
		if (!seen)
			subscribe_app(&r, &ctl->cfg->connectors[i]);
	}
	msgr_graph_close(r.g);
	if (flush_out("subscribe"))
		return 1;
	return r.failed ? 1 : 0;
}

/* ---- profile ---- */

/* --delete a,b: names among profile_fields. The names point into buf. */
static int
parse_delete(char *buf, const char **names, size_t *n, char *why, size_t whysz)
{
	char *save = NULL, *tok;
	size_t i, k;

	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; profile_fields[i] != NULL; i++)
			if (strcmp(tok, profile_fields[i]) == 0)
				break;
		if (profile_fields[i] == NULL) {
			snprintf(why, whysz, "\"%.40s\" is not one of get_started, greeting, "
			    "ice_breakers, persistent_menu, whitelisted_domains", tok);
			return 1;
		}
		for (k = 0; k < *n; k++)
			if (strcmp(names[k], tok) == 0) {
				snprintf(why, whysz, "\"%s\" is listed twice", tok);
				return 1;
			}
		names[(*n)++] = profile_fields[i];
	}
	if (*n == 0) {
		snprintf(why, whysz, "no field named");
		return 1;
	}
	return 0;
}

/* Ends a line of output with " a, b, c". */
static void
put_names(const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		printf("%s %s", i ? "," : "", names[i]);
	putchar('\n');
}

/* Pushes (or deletes) one connector's profile. 0 on success. */
static int
profile_one(struct msgr_graph *g, const struct msgr_connector *c,
    const char *const *del, size_t n_del)
{
	struct msgr_graph_auth a = { c->call_token, c->secret, c->proof };
	struct msgr_graph_result res;
	json_t *body = NULL;
	const char *set[PROFILE_FIELDS];
	char why[SHOWN_BYTES];
	int ret = 1;
	size_t i, n_set = 0;

	msgr_graph_result_init(&res);
	if (n_del > 0) {
		if (msgr_graph_messenger_profile_delete(g, &a, del, n_del, &res) != MSGR_OK)
			goto failed;
		printf("connector %s (page %s): profile fields deleted:", c->id, c->page_id);
		put_names(del, n_del);
		ret = 0;
		goto out;
	}
	if ((body = msgr_message_profile(&c->profile, why, sizeof(why))) == NULL) {
		fprintf(stderr, "msgrctl profile: connector %s: %s\n", c->id, why);
		goto out;
	}
	if (json_object_size(body) == 0) {
		printf("connector %s (page %s): profile group is empty, nothing sent\n", c->id,
		    c->page_id);
		ret = 0;
		goto out;
	}
	if (msgr_graph_messenger_profile_set(g, &a, body, &res) != MSGR_OK)
		goto failed;
	for (i = 0; profile_fields[i] != NULL; i++)
		if (json_object_get(body, profile_fields[i]) != NULL)
			set[n_set++] = profile_fields[i];
	printf("connector %s (page %s): profile set:", c->id, c->page_id);
	put_names(set, n_set);
	ret = 0;
	goto out;
failed:
	fprintf(stderr, "msgrctl profile: connector %s (page %s): %s\n", c->id, c->page_id,
	    why_failed(why, sizeof(why), &res));
out:
	json_decref(body);
	msgr_graph_result_clear(&res);
	return ret;
}

static int
cmd_profile(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { CTL_COMMON_OPTS,
		{ "connector", required_argument, NULL, 'C' },
		{ "delete", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 } };
	const char *id = NULL, *del[PROFILE_FIELDS];
	char delbuf[256], why[256], esc[128];
	struct msgr_graph *g = NULL;
	size_t n_del = 0, i, done = 0;
	int c, rc, failed = 0, deleting = 0;

	while ((c = getopt_long(argc, argv, CTL_COMMON_SHORT "C:d:", opts, NULL)) != -1) {
		switch (c) {
		case 'C': id = optarg; break;
		case 'd':
			if (strlen(optarg) >= sizeof(delbuf)) {
				fprintf(stderr, "msgrctl profile: --delete: too long\n");
				return 1;
			}
			memcpy(delbuf, optarg, strlen(optarg) + 1);
			deleting = 1;
			break;
		default:
			if ((rc = ctl_option(ctl, c)) >= 0)
				return rc;
		}
	}
	if (ctl_too_many(ctl, argc, argv))
		return 1;
	if (deleting && parse_delete(delbuf, del, &n_del, why, sizeof(why))) {
		fprintf(stderr, "msgrctl profile: --delete: %s\n", why);
		return 1;
	}
	if (ctl_load(ctl))
		return 1;
	if (id != NULL && msgr_config_by_id(ctl->cfg, id) == NULL) {
		fprintf(stderr, "msgrctl profile: no connector \"%s\"\n",
		    msgr_log_escape(esc, sizeof(esc), id, strlen(id)));
		return 1;
	}
	if (ctl_open_graph(ctl, &g))
		return 1;
	for (i = 0; i < ctl->cfg->n_connectors; i++) {
		const struct msgr_connector *cn = &ctl->cfg->connectors[i];

		if (id != NULL ? strcmp(cn->id, id) != 0 : !cn->profile.present)
			continue;
		if (!cn->profile.present && n_del == 0) {
			fprintf(stderr, "msgrctl profile: connector %s has no profile group "
			    "(docs/configuration.md \"profile\")\n", cn->id);
			failed = 1;
			continue;
		}
		done++;
		if (profile_one(g, cn, del, n_del))
			failed = 1;
	}
	if (done == 0 && !failed) {
		fprintf(stderr, "msgrctl profile: no connector has a profile group\n");
		failed = 1;
	}
	msgr_graph_close(g);
	if (flush_out("profile"))
		return 1;
	return failed;
}

/* ---- the table ---- */

const struct ctl_command ctl_setup_commands[] = {
	{ "subscribe", cmd_subscribe, "--url BASE [--fields LIST] [--check]",
	  "register the webhooks and subscribe the pages",
	  "For each distinct app_id: registers the webhook (POST /APP/subscriptions with the app\n"
	  "token, object page, verify token = the app's webhook_token) at BASE followed by the\n"
	  "path of the app's FIRST connector in the config; Facebook checks it at once with a\n"
	  "verification GET, so the responder must already answer there. Then subscribes each\n"
	  "page of the app (POST /PAGE/subscribed_apps with its page token). One line per call;\n"
	  "Facebook's error text (e.g. \"(#2200) Callback verification failed\") on failure, exit 1.\n\n"
	  "  --url BASE     where Facebook reaches the responder, e.g.\n"
	  "                 https://example.org/cgi-bin/messenger.fcgi (https://; http:// only for\n"
	  "                 127.0.0.1)\n"
	  "  --fields LIST  comma-separated webhook fields (default: messages, messaging_postbacks,\n"
	  "                 messaging_optins, message_deliveries, message_reads, messaging_referrals,\n"
	  "                 message_echoes, messaging_handovers, standby, message_reactions,\n"
	  "                 message_edits, messaging_account_linking, messaging_policy_enforcement)\n"
	  "  --check        only read each webhook and page subscription; register again what is\n"
	  "                 missing, inactive or short of fields (for cron). A webhook pointing\n"
	  "                 elsewhere is reported, not moved. Exit 0 when all is well or repaired.\n" },
	{ "profile", cmd_profile, "[--connector ID] [--delete FIELD,...]",
	  "push the Messenger profile (get started, greeting, menu, ...)",
	  "Sends each connector's profile group (get_started, greeting, ice_breakers,\n"
	  "persistent_menu, whitelisted_domains) with POST me/messenger_profile. Facebook's limits\n"
	  "are checked when the config is read (as by `msgrctl check`): over one, nothing is sent\n"
	  "and the limit is named. Fields absent from the group are left as they are at Facebook.\n\n"
	  "  --connector ID        only this connector (default: every one with a profile group)\n"
	  "  --delete FIELD,...    remove these fields instead (DELETE me/messenger_profile)\n" },
	{ NULL, NULL, NULL, NULL, NULL }
};
