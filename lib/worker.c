/* worker.c — claim a conversation's next event, record what it says, run the bot, send the
 * answers, record the outcome, retry what can be retried (worker.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bot.h"
#include "clock.h"
#include "event.h"
#include "log.h"
#include "message.h"
#include "pause.h"
#include "worker.h"

/* Finished jobs are kept this long so their keys keep deduplicating redeliveries
 * (Facebook retries for hours at most: GRAPH.md "Webhooks"). */
#define KEEP_DONE_MS      (7LL * 24 * 3600 * 1000)
#define PURGE_EVERY_MS    (10LL * 60 * 1000)
/* Profiles are fetched once per user and kept this long (profile_pic URLs expire). */
#define PROFILE_KEEP_MS   (7LL * 24 * 3600 * 1000)
/* Attachment ids live 90 days at Facebook (GRAPH.md); reuse them for less. */
#define ATTACHMENT_KEEP_MS (80LL * 24 * 3600 * 1000)
#define NAME_MAX_BYTES    256
/* Claims of one event that ended without a finish or a retry: each was a process that died
 * holding it (a crash, an OOM kill). Past this many the event is given up, so one poisonous
 * event cannot take the pool down for ever. */
#define MAX_DEATHS        3

struct conn_rt {
	const struct msgr_connector *conn;
	struct msgr_bot *bot;          /* opened on first use */
	double tokens;                 /* send pacing: a token bucket per page */
	long long refill_at;
};

struct msgr_worker {
	const struct msgr_config *cfg;
	struct msgr_store *st;
	struct msgr_graph *g;
	char owner[128];
	struct msgr_worker_hooks hooks;
	struct msgr_caller calls;      /* the client g, or hooks.graph in Facebook's place */
	int own_clock;                 /* the store stamps with hooks.now_ms: undone at close */
	struct conn_rt *rt;
	long long last_purge;
	unsigned long long rng;
};

/* ---- clock, randomness ---- */

static long long
default_now(void *arg)
{
	(void)arg;
	return msgr_clock_wall_ms();
}

static double
default_random(void *arg)
{
	struct msgr_worker *w = arg;

	/* xorshift64*: jitter only needs to differ between processes, not to be secret. */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return (double)((w->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static long long
now_ms(struct msgr_worker *w)
{
	return w->hooks.now_ms(w->hooks.arg);
}

static double
random01(struct msgr_worker *w)
{
	return w->hooks.random01 ? w->hooks.random01(w->hooks.arg) : default_random(w);
}

long long
msgr_worker_backoff_ms(int attempt, double r, long long hint_ms)
{
	long long d = MSGR_RETRY_FIRST_MS;
	int i;

	for (i = 0; i < attempt && d < MSGR_RETRY_CAP_MS; i++)
		d *= 2;
	if (d > MSGR_RETRY_CAP_MS)
		d = MSGR_RETRY_CAP_MS;
	if (r < 0 || r >= 1)
		r = 0.5;
	/* "Full jitter" in the upper half: spreads processes apart, never retries at once. */
	d = d / 2 + (long long)((double)(d / 2) * r);
	if (hint_ms > d)
		d = hint_ms < MSGR_RETRY_CAP_MS ? hint_ms : MSGR_RETRY_CAP_MS;
	return d;
}

/* ---- open, close ---- */

msgr_result
msgr_worker_open(const struct msgr_config *cfg, struct msgr_store *st, struct msgr_graph *g,
    const char *owner, const struct msgr_worker_hooks *hooks, struct msgr_worker **out,
    char **errors)
{
	struct msgr_worker *w;
	char host[64] = "host";
	size_t i;

	*out = NULL;
	if (errors != NULL)
		*errors = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return MSGR_ERR_NOMEM;
	if (cfg->n_connectors > 0 &&
	    (w->rt = calloc(cfg->n_connectors, sizeof(*w->rt))) == NULL) {
		free(w);
		return MSGR_ERR_NOMEM;
	}
	w->cfg = cfg;
	w->st = st;
	w->g = g;
	for (i = 0; i < cfg->n_connectors; i++) {
		w->rt[i].conn = &cfg->connectors[i];
		w->rt[i].tokens = cfg->connectors[i].send_rate;
	}
	if (hooks != NULL)
		w->hooks = *hooks;
	if (w->hooks.now_ms == NULL) {
		w->hooks.now_ms = default_now;
	} else {
		/* Rows are stamped with the time the worker decides by. */
		struct msgr_clock clock = { w->hooks.now_ms, w->hooks.arg };
		msgr_store_set_clock(st, &clock);
		w->own_clock = 1;
	}
	w->calls.g = g;
	w->calls.hook = w->hooks.graph;
	w->calls.arg = w->hooks.arg;
	w->rng = (unsigned long long)default_now(NULL) ^ ((unsigned long long)getpid() << 32)
	    ^ (unsigned long long)(uintptr_t)w;
	if (w->rng == 0)
		w->rng = 88172645463325252ULL;
	if (owner != NULL)
		snprintf(w->owner, sizeof(w->owner), "%s", owner);
	else {
		gethostname(host, sizeof(host) - 1);
		host[sizeof(host) - 1] = '\0';
		snprintf(w->owner, sizeof(w->owner), "%s:%ld:%08llx", host, (long)getpid(),
		    (unsigned long long)(w->rng & 0xffffffffULL));
	}
	*out = w;
	return MSGR_OK;
}

void
msgr_worker_close(struct msgr_worker *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->cfg->n_connectors; i++)
		msgr_bot_close(w->rt[i].bot);
	if (w->own_clock)
		msgr_store_set_clock(w->st, NULL);
	free(w->rt);
	free(w);
}

static struct conn_rt *
runtime_of(struct msgr_worker *w, const struct msgr_connector *c)
{
	return &w->rt[c - w->cfg->connectors];
}

/* ---- small helpers ---- */

/* Who holds the thread when app holds it: this connector's own app is "us". */
static msgr_result
set_owner(struct msgr_worker *w, const struct msgr_connector *c, const char *page,
    const char *user, const char *app)
{
	if (app == NULL || strcmp(app, c->app_id) == 0)
		return msgr_store_set_owner(w->st, page, user, MSGR_OWNER_US, NULL);
	return msgr_store_set_owner(w->st, page, user, MSGR_OWNER_APP, app);
}

static int
user_originated(const struct msgr_event *ev)
{
	switch (ev->kind) {
	case MSGR_EVENT_MESSAGE: case MSGR_EVENT_POSTBACK: case MSGR_EVENT_REFERRAL:
	case MSGR_EVENT_OPTIN: case MSGR_EVENT_REACTION: case MSGR_EVENT_MESSAGE_EDIT:
	case MSGR_EVENT_ACCOUNT_LINKING:
		return 1;
	default:
		return 0;
	}
}

/* Step 1 of a job: what the event says about the conversation, recorded before any answer
 * (idempotent: a job run twice records the same). SPEC.md "Handover protocol". */
static msgr_result
record_event(struct msgr_worker *w, const struct msgr_connector *c, const struct msgr_event *ev)
{
	const char *page = ev->page_id, *user = ev->user_id;
	msgr_result rc = MSGR_OK;

	if (user[0] == '\0')
		return MSGR_OK;
	if (user_originated(ev) && ev->timestamp > 0 &&
	    (rc = msgr_store_user_wrote(w->st, page, user, ev->timestamp)) != MSGR_OK)
		return rc;
	switch (ev->kind) {
	case MSGR_EVENT_PASS_THREAD_CONTROL:
	case MSGR_EVENT_TAKE_THREAD_CONTROL:
		return set_owner(w, c, page, user, ev->new_owner_app_id);
	case MSGR_EVENT_ECHO:
		/* A person answering from the Page Inbox: shown by `msgrctl status`. */
		if (ev->app_id != NULL && strcmp(ev->app_id, MSGR_PAGE_INBOX_APP_ID) == 0)
			rc = msgr_store_human_answered(w->st, page, user, ev->timestamp);
		return rc;
	default:
		break;
	}
	if (ev->standby) {
		/* Another app owns the thread; keep its id if a pass or take told us which. */
		struct msgr_conversation cv;
		if ((rc = msgr_store_conversation(w->st, page, user, &cv)) != MSGR_OK)
			return rc;
		if (cv.owner == MSGR_OWNER_US)
			rc = msgr_store_set_owner(w->st, page, user, MSGR_OWNER_STANDBY, NULL);
		return rc;
	}
	/* Anything on `messaging` from the user means the thread is ours again (Facebook
	 * releases an idle thread after 24 hours). */
	if (user_originated(ev))
		rc = set_owner(w, c, page, user, NULL);
	return rc;
}

/* The user's names for the bot, fetched once and cached (SPEC.md "Sending"). A permission
 * error caches empty names; a transient one leaves them empty this time only. */
static void
profile_names(struct msgr_worker *w, const struct msgr_connector *c, const char *psid,
    char first[NAME_MAX_BYTES], char last[NAME_MAX_BYTES])
{
	struct msgr_call call = { .kind = MSGR_CALL_PROFILE, .conn = c, .psid = psid };
	struct msgr_graph_result res;
	char key[MSGR_MAX_ID_LEN * 2 + 2];
	char *cached = NULL;
	json_t *j = NULL;
	const char *f = NULL, *l = NULL;
	long long now = now_ms(w);

	first[0] = last[0] = '\0';
	if (psid == NULL || psid[0] == '\0')
		return;
	snprintf(key, sizeof(key), "%s:%s", c->page_id, psid);
	msgr_graph_result_init(&res);
	if (msgr_store_cache_get(w->st, "profile", key, now, &cached) == MSGR_OK && cached) {
		j = json_loads(cached, 0, NULL);
	} else {
		msgr_result rc = msgr_call_make(&w->calls, &call, &res);
		if (rc == MSGR_OK && json_is_object(res.json)) {
			j = json_incref(res.json);
		} else if (res.profile_permission || rc == MSGR_ERR_PERMANENT) {
			j = json_object();
			msgr_log(MSGR_LOG_WARN, "profile connector=%s: %s (names left empty)",
			    c->id, res.message);
		} else {
			msgr_log(MSGR_LOG_WARN, "profile connector=%s: %s, answering without names",
			    c->id, msgr_strerror(rc));
		}
		if (j != NULL) {
			char *text = json_dumps(j, JSON_COMPACT);
			if (text != NULL)
				msgr_store_cache_put(w->st, "profile", key, text, now + PROFILE_KEEP_MS);
			free(text);
		}
	}
	if (j != NULL) {
		f = json_string_value(json_object_get(j, "first_name"));
		l = json_string_value(json_object_get(j, "last_name"));
	}
	snprintf(first, NAME_MAX_BYTES, "%s", f ? f : "");
	snprintf(last, NAME_MAX_BYTES, "%s", l ? l : "");
	json_decref(j);
	msgr_graph_result_clear(&res);
	free(cached);
}

/* ---- the plan: bot actions -> Graph calls, written to the outbox once ---- */

/* Appends one plan item. */
static msgr_result
plan_add(json_t *plan, json_t *item)
{
	if (item == NULL)
		return MSGR_ERR_NOMEM;
	if (json_array_append_new(plan, item) != 0)
		return MSGR_ERR_NOMEM;
	return MSGR_OK;
}

/* One send call: the whole Send API body, checked by the message module. */
static msgr_result
plan_send(json_t *plan, const struct msgr_connector *c, const struct msgr_event *ev,
    const json_t *message, const char *sender_action, const json_t *action,
    char *why, size_t whysz)
{
	struct msgr_message_request req;
	json_t *body = NULL;
	msgr_result rc;

	memset(&req, 0, sizeof(req));
	if (ev->user_ref != NULL && (ev->sender_id == NULL || ev->sender_id[0] == '\0'))
		req.user_ref = ev->user_ref;     /* checkbox optin: answer to user_ref */
	else
		req.recipient_id = ev->user_id;
	req.persona_id = c->persona_id;
	req.message = message;
	req.sender_action = sender_action;
	if (action != NULL) {
		req.messaging_type = json_string_value(json_object_get(action, "messaging_type"));
		req.tag = json_string_value(json_object_get(action, "tag"));
		req.notification_type =
		    json_string_value(json_object_get(action, "notification_type"));
	}
	if (req.user_ref != NULL && sender_action != NULL)
		return MSGR_OK;   /* no sender actions to a user_ref: there is no thread yet */
	if ((rc = msgr_message_request(&req, &body, why, whysz)) != MSGR_OK)
		return rc;
	return plan_add(plan, json_pack("{s:s, s:o, s:b}", "call", "send", "body", body,
	    "optional", sender_action != NULL));
}

/* A message action: text over the limit is split at word boundaries (SPEC.md "Sending"),
 * quick replies riding on the last part. */
static msgr_result
plan_message(json_t *plan, const struct msgr_connector *c, const struct msgr_event *ev,
    const json_t *action, char *why, size_t whysz)
{
	const json_t *msg = json_object_get(action, "message");
	const char *text = json_string_value(json_object_get(msg, "text"));
	size_t chars = 0, n = 0, i;
	char **parts = NULL;
	msgr_result rc;

	if (!json_is_object(msg)) {
		snprintf(why, whysz, "message action without a message object");
		return MSGR_ERR_LIMIT;
	}
	if (text == NULL || msgr_message_utf8_chars(text, &chars) != MSGR_OK ||
	    chars <= MSGR_TEXT_MAX_CHARS)
		return plan_send(plan, c, ev, msg, NULL, action, why, whysz);
	if ((rc = msgr_message_split_text(text, MSGR_TEXT_MAX_CHARS, &parts, &n)) != MSGR_OK) {
		snprintf(why, whysz, "text could not be split: %s", msgr_strerror(rc));
		return rc;
	}
	for (i = 0; i < n && rc == MSGR_OK; i++) {
		json_t *part = i + 1 == n ? json_deep_copy(msg) : json_object();
		if (part == NULL || json_object_set_new(part, "text", json_string(parts[i])) != 0)
			rc = MSGR_ERR_NOMEM;
		else
			rc = plan_send(plan, c, ev, part, NULL, action, why, whysz);
		json_decref(part);
	}
	msgr_message_split_free(parts, n);
	return rc;
}

/* Turns the bot's actions into Graph calls. Everything is checked before anything is stored:
 * one invalid message means none of the answer is sent (SPEC.md "Bots"). */
static msgr_result
plan_actions(json_t *plan, const struct msgr_connector *c, const struct msgr_event *ev,
    const json_t *actions, char *why, size_t whysz)
{
	size_t i;
	json_t *a;
	msgr_result rc = MSGR_OK;

	json_array_foreach(actions, i, a) {
		const char *kind = json_string_value(json_object_get(a, "action"));
		const char *meta = json_string_value(json_object_get(a, "metadata"));

		if (kind == NULL)
			kind = "";
		if (strcmp(kind, "sender_action") == 0)
			rc = plan_send(plan, c, ev, NULL,
			    json_string_value(json_object_get(a, "sender_action")), a, why, whysz);
		else if (strcmp(kind, "message") == 0)
			rc = plan_message(plan, c, ev, a, why, whysz);
		else if (strcmp(kind, "pass_thread_control") == 0) {
			const char *target = json_string_value(json_object_get(a, "target"));
			rc = plan_add(plan, json_pack("{s:s, s:s, s:s?}", "call",
			    "pass_thread_control", "target", target ? target : "inbox",
			    "metadata", meta));
		} else if (strcmp(kind, "take_thread_control") == 0)
			rc = plan_add(plan, json_pack("{s:s, s:s?}", "call", "take_thread_control",
			    "metadata", meta));
		else {
			snprintf(why, whysz, "action %zu: unknown action \"%.40s\"", i, kind);
			rc = MSGR_ERR_LIMIT;
		}
		if (rc != MSGR_OK) {
			if (strncmp(why, "action ", 7) != 0) {
				char tmp[MSGR_MESSAGE_WHY_MAX];
				snprintf(tmp, sizeof(tmp), "%s", why);
				snprintf(why, whysz, "action %zu: %.200s", i, tmp);
			}
			return rc;
		}
	}
	return MSGR_OK;
}

/* Does the bot hear of this event? Never of echoes or standby (SPEC.md "Processing rules");
 * a Bot API bot of the kinds its connector lists, the stories bot of the answerable ones. */
static int
asks_bot(const struct msgr_connector *c, const struct msgr_event *ev)
{
	if (ev->standby || ev->kind == MSGR_EVENT_ECHO)
		return 0;
	if (c->bot.type == MSGR_BOT_API)
		return (c->bot.events >> ev->kind) & 1UL;
	return msgr_event_answerable(ev);
}

/* What this job must do, as a JSON array of calls; empty when it only records. */
static msgr_result
make_plan(struct msgr_worker *w, const struct msgr_connector *c, const struct msgr_event *ev,
    json_t **plan_out, char *why, size_t whysz)
{
	struct msgr_bot_input in;
	struct conn_rt *rt = runtime_of(w, c);
	char first[NAME_MAX_BYTES], last[NAME_MAX_BYTES];
	json_t *plan, *actions = NULL;
	char *errors = NULL;
	msgr_result rc = MSGR_OK;

	*plan_out = NULL;
	if ((plan = json_array()) == NULL)
		return MSGR_ERR_NOMEM;

	/* Another app asks for the thread: honour it or not, per connector (SPEC.md). */
	if (ev->kind == MSGR_EVENT_REQUEST_THREAD_CONTROL && !ev->standby &&
	    c->on_request_thread_control == MSGR_RTC_HONOUR &&
	    ev->requested_owner_app_id != NULL && ev->user_id[0] != '\0') {
		rc = plan_add(plan, json_pack("{s:s, s:s, s:s?}", "call", "pass_thread_control",
		    "target", ev->requested_owner_app_id, "metadata", ev->metadata));
		goto out;
	}
	if (!asks_bot(c, ev))
		goto out;
	if (rt->bot == NULL) {
		if ((rc = msgr_bot_open(c, &rt->bot, &errors)) != MSGR_OK) {
			snprintf(why, whysz, "bot of connector %s cannot open: %s", c->id,
			    errors ? errors : msgr_strerror(rc));
			rc = MSGR_ERR_TRANSIENT;   /* a fixed file or a restarted bot cures it */
			goto out;
		}
	}
	profile_names(w, c, ev->sender_id, first, last);
	memset(&in, 0, sizeof(in));
	in.conn = c;
	in.ev = ev;
	in.first_name = first;
	in.last_name = last;
	if ((rc = msgr_bot_answer(rt->bot, &in, &actions)) != MSGR_OK) {
		/* The bot's own reason (a refused reply names the message and the limit) is what
		 * `msgrctl status` shows among the recent failures. */
		const char *detail = msgr_bot_last_error(rt->bot);
		snprintf(why, whysz, "bot: %s%s%s", msgr_strerror(rc), detail[0] ? ": " : "", detail);
		goto out;
	}
	rc = plan_actions(plan, c, ev, actions, why, whysz);
out:
	free(errors);
	json_decref(actions);
	if (rc != MSGR_OK) {
		json_decref(plan);
		return rc;
	}
	*plan_out = plan;
	return MSGR_OK;
}

/* ---- sending ---- */

/* Waits for a send token of this page (SPEC.md: paced far under Facebook's 300/s). The bucket
 * is per process; rates add up over a pool (docs/worker.md). */
static void
pace(struct msgr_worker *w, struct conn_rt *rt)
{
	int rate = rt->conn->send_rate > 0 ? rt->conn->send_rate : 50;
	long long now = msgr_clock_mono_ms();

	if (rt->refill_at == 0)
		rt->refill_at = now;
	rt->tokens += (double)(now - rt->refill_at) * rate / 1000.0;
	if (rt->tokens > rate)
		rt->tokens = rate;
	rt->refill_at = now;
	if (rt->tokens < 1.0) {
		long long wait = (long long)((1.0 - rt->tokens) * 1000.0 / rate) + 1;
		struct timespec ts = { (time_t)(wait / 1000), (long)(wait % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		rt->tokens = 1.0;
		rt->refill_at = msgr_clock_mono_ms();
	}
	rt->tokens -= 1.0;
	(void)w;
}

/* A message with an attachment given by URL is sent by a reusable attachment id, uploaded
 * once and cached (SPEC.md "Sending"). *body_io may be replaced by a copy that uses the id. */
static msgr_result
use_attachment_id(struct msgr_worker *w, struct conn_rt *rt, json_t **body_io, char *key,
    size_t keysz, struct msgr_graph_result *res)
{
	json_t *att = json_object_get(json_object_get(*body_io, "message"), "attachment");
	json_t *payload = json_object_get(att, "payload");
	const char *type = json_string_value(json_object_get(att, "type"));
	const char *url = json_string_value(json_object_get(payload, "url"));
	struct msgr_call call = { .kind = MSGR_CALL_UPLOAD, .conn = rt->conn, .type = type,
	    .url = url };
	char *id = NULL;
	json_t *copy;
	msgr_result rc = MSGR_OK;

	key[0] = '\0';
	if (type == NULL || url == NULL || !json_is_true(json_object_get(payload, "is_reusable")))
		return MSGR_OK;
	if (strcmp(type, "image") && strcmp(type, "audio") && strcmp(type, "video") &&
	    strcmp(type, "file"))
		return MSGR_OK;
	snprintf(key, keysz, "%s:%s:%s", rt->conn->page_id, type, url);
	if (msgr_store_cache_get(w->st, "attachment", key, now_ms(w), &id) != MSGR_OK) {
		free(id);
		id = NULL;
		pace(w, rt);
		rc = msgr_call_make(&w->calls, &call, res);
		if (rc != MSGR_OK)
			return rc;
		if ((id = strdup(res->attachment_id)) == NULL)
			return MSGR_ERR_NOMEM;
		msgr_store_cache_put(w->st, "attachment", key, id, now_ms(w) + ATTACHMENT_KEEP_MS);
		msgr_graph_result_clear(res);
	}
	if ((copy = json_deep_copy(*body_io)) == NULL) {
		free(id);
		return MSGR_ERR_NOMEM;
	}
	payload = json_object_get(json_object_get(json_object_get(copy, "message"),
	    "attachment"), "payload");
	json_object_clear(payload);
	if (json_object_set_new(payload, "attachment_id", json_string(id)) != 0)
		rc = MSGR_ERR_NOMEM;
	free(id);
	json_decref(*body_io);
	*body_io = copy;
	return rc;
}

/* Runs one plan item. MSGR_OK when done (message_id filled for sends). */
static msgr_result
run_item(struct msgr_worker *w, struct conn_rt *rt, const struct msgr_event *ev,
    const json_t *item, struct msgr_graph_result *res, char *why, size_t whysz)
{
	const struct msgr_connector *c = rt->conn;
	struct msgr_call gc = { .conn = c, .psid = ev->user_id };
	const char *call = json_string_value(json_object_get(item, "call"));
	const char *meta = json_string_value(json_object_get(item, "metadata"));
	msgr_result rc;

	if (call == NULL)
		call = "";
	if (strcmp(call, "send") == 0) {
		json_t *body = json_incref(json_object_get(item, "body"));
		char key[MSGR_MAX_URL_BYTES + 160];

		if (json_object_get(body, "message") != NULL) {
			/* The window, checked where the send happens: a retried answer may be late. */
			struct msgr_conversation cv;
			const char *mt = json_string_value(json_object_get(body, "messaging_type"));
			const char *tag = json_string_value(json_object_get(body, "tag"));
			if (json_object_get(json_object_get(body, "recipient"), "user_ref") == NULL &&
			    ((rc = msgr_store_conversation(w->st, ev->page_id, ev->user_id, &cv)) !=
			    MSGR_OK || (rc = msgr_message_window_check(now_ms(w), cv.last_user_ts > 0 ?
			    cv.last_user_ts : ev->timestamp, mt, tag, why, whysz)) != MSGR_OK)) {
				json_decref(body);
				return rc;
			}
		}
		rc = use_attachment_id(w, rt, &body, key, sizeof(key), res);
		if (rc == MSGR_OK) {
			pace(w, rt);
			gc.kind = MSGR_CALL_SEND;
			gc.body = body;
			rc = msgr_call_make(&w->calls, &gc, res);
			if (rc == MSGR_ERR_PERMANENT && key[0] != '\0') {
				/* The cached id may have expired: upload again, once. */
				msgr_store_cache_del(w->st, "attachment", key);
				json_decref(body);
				body = json_incref(json_object_get(item, "body"));
				msgr_graph_result_clear(res);
				rc = use_attachment_id(w, rt, &body, key, sizeof(key), res);
				if (rc == MSGR_OK) {
					pace(w, rt);
					gc.body = body;
					rc = msgr_call_make(&w->calls, &gc, res);
				}
			}
		}
		json_decref(body);
		return rc;
	}
	if (strcmp(call, "pass_thread_control") == 0) {
		const char *target = json_string_value(json_object_get(item, "target"));
		pace(w, rt);
		gc.kind = MSGR_CALL_PASS_THREAD;
		gc.target = target;
		gc.metadata = meta;
		rc = msgr_call_make(&w->calls, &gc, res);
		if (rc == MSGR_OK)
			rc = set_owner(w, c, ev->page_id, ev->user_id,
			    strcmp(target, "inbox") == 0 ? MSGR_GRAPH_INBOX_APP_ID : target);
		return rc;
	}
	if (strcmp(call, "take_thread_control") == 0) {
		pace(w, rt);
		gc.kind = MSGR_CALL_TAKE_THREAD;
		gc.metadata = meta;
		rc = msgr_call_make(&w->calls, &gc, res);
		if (rc == MSGR_OK)
			rc = set_owner(w, c, ev->page_id, ev->user_id, NULL);
		return rc;
	}
	snprintf(why, whysz, "unknown planned call \"%.40s\"", call);
	return MSGR_ERR_PERMANENT;
}

/* ---- one job ---- */

/* Puts the job back for a later try, or gives up once retry_max_s has passed since it came. */
static msgr_result
retry_or_give_up(struct msgr_worker *w, const struct msgr_job *job, const char *why,
    long long hint_ms, struct msgr_worker_counts *counts)
{
	long long now = now_ms(w);
	long long delay;
	char note[400];

	if (now - job->received_at > (long long)w->cfg->worker.retry_max_s * 1000) {
		snprintf(note, sizeof(note), "gave up after %d tries: %s", job->attempts + 1, why);
		msgr_log(MSGR_LOG_ERROR, "job=%lld connector=%s %s", (long long)job->id,
		    job->connector_id, note);
		counts->failed++;
		return msgr_store_finish(w->st, job->id, w->owner, MSGR_JOB_FAILED, note);
	}
	delay = msgr_worker_backoff_ms(job->attempts, random01(w), hint_ms);
	msgr_log(MSGR_LOG_WARN, "job=%lld connector=%s retry in %lld ms: %s", (long long)job->id,
	    job->connector_id, delay, why);
	counts->retried++;
	return msgr_store_retry(w->st, job->id, w->owner, now + delay, why);
}

static msgr_result
fail_job(struct msgr_worker *w, const struct msgr_job *job, const char *why,
    struct msgr_worker_counts *counts)
{
	msgr_log(MSGR_LOG_ERROR, "job=%lld connector=%s failed: %s", (long long)job->id,
	    job->connector_id, why);
	counts->failed++;
	return msgr_store_finish(w->st, job->id, w->owner, MSGR_JOB_FAILED, why);
}

static msgr_result
store_plan(struct msgr_worker *w, const struct msgr_job *job, const json_t *plan)
{
	size_t n = json_array_size(plan), i;
	char **texts;
	msgr_result rc = MSGR_OK;

	if (n == 0)
		return MSGR_OK;
	if ((texts = calloc(n, sizeof(*texts))) == NULL)
		return MSGR_ERR_NOMEM;
	for (i = 0; i < n && rc == MSGR_OK; i++)
		if ((texts[i] = json_dumps(json_array_get(plan, i), JSON_COMPACT)) == NULL)
			rc = MSGR_ERR_NOMEM;
	if (rc == MSGR_OK)
		rc = msgr_store_outbox_put(w->st, job->id, (const char *const *)texts, n);
	for (i = 0; i < n; i++)
		free(texts[i]);
	free(texts);
	return rc == MSGR_ERR_DUPLICATE ? MSGR_OK : rc;
}

static msgr_result
work_job(struct msgr_worker *w, struct msgr_job *job, struct msgr_worker_counts *counts)
{
	const struct msgr_connector *c = msgr_config_by_id(w->cfg, job->connector_id);
	struct msgr_event ev;
	struct msgr_outbox_item *items = NULL;
	struct msgr_graph_result res;
	struct conn_rt *rt;
	char why[MSGR_MESSAGE_WHY_MAX] = "";
	json_t *plan = NULL;
	size_t n = 0, i;
	msgr_result rc;
	int evok = 0, did_send = 0;

	msgr_graph_result_init(&res);
	memset(&ev, 0, sizeof(ev));
	if (c == NULL) {
		rc = msgr_store_finish(w->st, job->id, w->owner, MSGR_JOB_SKIPPED,
		    "connector no longer configured");
		goto out;
	}
	rt = runtime_of(w, c);
	if (job->claims - 1 - job->attempts >= MAX_DEATHS) {
		char note[128];

		snprintf(note, sizeof(note), "given up: a worker died %d times working this event",
		    job->claims - 1 - job->attempts);
		rc = fail_job(w, job, note, counts);
		goto out;
	}
	if ((rc = msgr_event_parse_text(job->raw, strlen(job->raw), job->page_id, job->standby,
	    &ev, why, sizeof(why))) != MSGR_OK) {
		rc = fail_job(w, job, why, counts);
		goto out;
	}
	evok = 1;
	if ((rc = record_event(w, c, &ev)) != MSGR_OK)
		goto out;

	/* The plan is made once: a job resumed after a crash or a retry finds it in the outbox
	 * and goes on from the first call not yet done. */
	rc = msgr_store_outbox_get(w->st, job->id, &items, &n);
	if (rc == MSGR_ERR_NOTFOUND) {
		rc = make_plan(w, c, &ev, &plan, why, sizeof(why));
		if (rc == MSGR_ERR_TRANSIENT) {
			rc = retry_or_give_up(w, job, why, 0, counts);
			goto out;
		}
		if (rc != MSGR_OK) {
			rc = fail_job(w, job, why, counts);
			goto out;
		}
		if (json_array_size(plan) == 0) {
			rc = msgr_store_finish(w->st, job->id, w->owner, MSGR_JOB_DONE,
			    asks_bot(c, &ev) ? "no answer" : "recorded");
			goto out;
		}
		if ((rc = store_plan(w, job, plan)) != MSGR_OK ||
		    (rc = msgr_store_outbox_get(w->st, job->id, &items, &n)) != MSGR_OK)
			goto out;
	} else if (rc != MSGR_OK)
		goto out;

	for (i = 0; i < n; i++) {
		json_t *item;
		long long t0;

		if (items[i].done)
			continue;
		rc = msgr_pause_check(w->st, c, job->page_id, now_ms(w));
		if (rc == MSGR_ERR_PAUSE_CONNECTOR || rc == MSGR_ERR_PAUSE_PAGE) {
			rc = msgr_store_retry(w->st, job->id, w->owner, now_ms(w) + MSGR_PAUSE_WAIT_MS,
			    rc == MSGR_ERR_PAUSE_PAGE ? "page paused" : "connector paused");
			counts->retried++;
			goto out;
		}
		if (rc != MSGR_OK)
			goto out;
		/* Each call starts with a whole lease ahead (lease_ms > graph timeout, checked at
		 * config load), so no other process can take the job while a call is in flight. */
		if ((rc = msgr_store_renew(w->st, job->id, w->owner, now_ms(w),
		    w->cfg->worker.lease_ms)) != MSGR_OK)
			goto out;
		if ((item = json_loads(items[i].request, 0, NULL)) == NULL) {
			rc = fail_job(w, job, "unreadable outbox item", counts);
			goto out;
		}
		why[0] = '\0';
		t0 = msgr_clock_mono_ms();
		rc = run_item(w, rt, &ev, item, &res, why, sizeof(why));
		msgr_log(rc == MSGR_OK ? MSGR_LOG_INFO : MSGR_LOG_WARN,
		    "send job=%lld connector=%s call=%s item=%d status=%s code=%ld/%ld mid=%s ms=%lld",
		    (long long)job->id, c->id,
		    json_string_value(json_object_get(item, "call")), items[i].seq,
		    rc == MSGR_OK ? "ok" : msgr_strerror(rc), res.code, res.subcode,
		    res.message_id[0] ? res.message_id : "-", msgr_clock_mono_ms() - t0);
		if (rc == MSGR_OK) {
			/* Recorded in the step that learned it succeeded: never sent twice. */
			rc = msgr_store_outbox_done(w->st, items[i].id,
			    res.message_id[0] ? res.message_id : NULL);
			counts->sent++;
			json_decref(item);
			msgr_graph_result_clear(&res);
			if (rc != MSGR_OK)
				goto out;
			/* The first call that goes through ends the pauses (a probe does that), so
			 * the rest of the probe's own answer does not wait for the next probe. */
			if (!did_send && (rc = msgr_pause_end(w->st, c, job->page_id)) != MSGR_OK)
				goto out;
			did_send = 1;
			continue;
		}
		if (why[0] == '\0' && !res.transport_ok && res.transport_error[0])
			snprintf(why, sizeof(why), "no answer: %.120s", res.transport_error);
		else if (why[0] == '\0')
			snprintf(why, sizeof(why), "(#%ld/%ld) %.200s", res.code, res.subcode,
			    res.message[0] ? res.message : msgr_strerror(rc));
		if (rc == MSGR_ERR_PERMANENT && json_is_true(json_object_get(item, "optional"))) {
			/* A typing indicator refused is no reason to drop the answer. */
			json_decref(item);
			msgr_graph_result_clear(&res);
			rc = msgr_store_outbox_done(w->st, items[i].id, NULL);
			if (rc != MSGR_OK)
				goto out;
			continue;
		}
		json_decref(item);
		switch (rc) {
		case MSGR_ERR_TRANSIENT:
			rc = retry_or_give_up(w, job, why, res.usage.retry_after_ms, counts);
			break;
		case MSGR_ERR_PAUSE_CONNECTOR:
		case MSGR_ERR_PAUSE_PAGE:
			if ((rc = msgr_pause_start(w->st, c, job->page_id, rc, &res, now_ms(w))) !=
			    MSGR_OK)
				break;
			rc = msgr_store_retry(w->st, job->id, w->owner, now_ms(w) + MSGR_PAUSE_WAIT_MS,
			    why);
			counts->retried++;
			break;
		case MSGR_ERR_NOMEM:
		case MSGR_ERR_BUSY:
		case MSGR_ERR_STORE:
			rc = retry_or_give_up(w, job, why, 0, counts);
			break;
		default:
			rc = fail_job(w, job, why, counts);
			break;
		}
		goto out;
	}
	rc = msgr_store_finish(w->st, job->id, w->owner, MSGR_JOB_DONE, NULL);
out:
	msgr_graph_result_clear(&res);
	msgr_store_outbox_free(items, n);
	json_decref(plan);
	if (evok)
		msgr_event_clear(&ev);
	/* Another process took the job over (our lease lapsed): its outcome stands. */
	return rc == MSGR_ERR_NOTFOUND ? MSGR_OK : rc;
}

msgr_result
msgr_worker_run(struct msgr_worker *w, long long budget_ms, struct msgr_worker_counts *counts)
{
	struct msgr_worker_counts local;
	struct msgr_job job;
	long long start = msgr_clock_mono_ms(), now;
	msgr_result rc = MSGR_OK;

	if (counts == NULL)
		counts = &local;
	memset(counts, 0, sizeof(*counts));
	memset(&job, 0, sizeof(job));
	now = now_ms(w);
	if (now - w->last_purge > PURGE_EVERY_MS) {
		w->last_purge = now;
		if (msgr_store_purge(w->st, now - KEEP_DONE_MS, NULL) != MSGR_OK)
			msgr_log(MSGR_LOG_WARN, "purge of old jobs failed: %s",
			    msgr_store_errmsg(w->st));
	}
	for (;;) {
		if (budget_ms > 0 && msgr_clock_mono_ms() - start >= budget_ms)
			break;
		rc = msgr_store_claim(w->st, w->owner, now_ms(w), w->cfg->worker.lease_ms, &job);
		if (rc == MSGR_ERR_EMPTY) {
			rc = MSGR_OK;
			break;
		}
		if (rc != MSGR_OK)
			break;
		counts->jobs++;
		rc = work_job(w, &job, counts);
		msgr_job_clear(&job);
		if (rc != MSGR_OK)
			break;
	}
	if (rc != MSGR_OK)
		msgr_log(MSGR_LOG_WARN, "worker stopped: %s (%s)", msgr_strerror(rc),
		    msgr_store_errmsg(w->st));
	return rc;
}
