/* plan.c — the answer to one event as typed Graph API calls, built from the bot's actions,
 * saved to and read from the outbox (plan.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "plan.h"

static const char *const kind_names[] = {
	[MSGR_PLAN_SEND] = "send",
	[MSGR_PLAN_PASS_THREAD] = "pass_thread_control",
	[MSGR_PLAN_TAKE_THREAD] = "take_thread_control",
	[MSGR_PLAN_UNREADABLE] = "unreadable",
};

const char *
msgr_plan_kind_name(enum msgr_plan_kind kind)
{
	if ((size_t)kind >= sizeof(kind_names) / sizeof(kind_names[0]))
		return "unreadable";
	return kind_names[kind];
}

void
msgr_plan_init(struct msgr_plan *p)
{
	memset(p, 0, sizeof(*p));
}

static void
item_clear(struct msgr_plan_item *it)
{
	json_decref(it->body);
	free(it->target);
	free(it->metadata);
	free(it->why);
	memset(it, 0, sizeof(*it));
}

void
msgr_plan_clear(struct msgr_plan *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		item_clear(&p->items[i]);
	free(p->items);
	msgr_plan_init(p);
}

/* A new zeroed item at the end of p, or NULL (out of memory, or past the outbox's bound: the
 * store would refuse the whole plan anyway). */
static struct msgr_plan_item *
item_new(struct msgr_plan *p)
{
	struct msgr_plan_item *v;
	size_t cap;

	if (p->n == p->cap) {
		cap = p->cap ? p->cap * 2 : 8;
		if ((v = realloc(p->items, cap * sizeof(*v))) == NULL)
			return NULL;
		p->items = v;
		p->cap = cap;
	}
	memset(&p->items[p->n], 0, sizeof(p->items[p->n]));
	p->items[p->n].seq = (int)p->n;
	return &p->items[p->n++];
}

/* strdup of s, NULL staying NULL; *ok cleared when a copy fails. */
static char *
dup_or_null(const char *s, int *ok)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*ok = 0;
	return d;
}

/* Appends a thread call (pass or take) with its strings copied. */
static msgr_result
add_thread(struct msgr_plan *p, enum msgr_plan_kind kind, const char *target,
    const char *metadata)
{
	struct msgr_plan_item *it = item_new(p);
	int ok = 1;

	if (it == NULL)
		return MSGR_ERR_NOMEM;
	it->kind = kind;
	it->target = dup_or_null(target, &ok);
	it->metadata = dup_or_null(metadata, &ok);
	return ok ? MSGR_OK : MSGR_ERR_NOMEM;
}

msgr_result
msgr_plan_pass(struct msgr_plan *p, const char *target, const char *metadata)
{
	return add_thread(p, MSGR_PLAN_PASS_THREAD, target, metadata);
}

/* One send call: the whole Send API body, checked by the message module. */
static msgr_result
add_send(struct msgr_plan *p, const struct msgr_connector *c, const struct msgr_event *ev,
    const json_t *message, const char *sender_action, const json_t *action, char *why,
    size_t whysz)
{
	struct msgr_message_request req;
	struct msgr_plan_item *it;
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
	if ((it = item_new(p)) == NULL) {
		json_decref(body);
		return MSGR_ERR_NOMEM;
	}
	it->kind = MSGR_PLAN_SEND;
	it->body = body;
	it->optional = sender_action != NULL;
	return MSGR_OK;
}

msgr_result
msgr_plan_message(struct msgr_plan *p, const struct msgr_connector *c,
    const struct msgr_event *ev, const json_t *action, char *why, size_t whysz)
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
		return add_send(p, c, ev, msg, NULL, action, why, whysz);
	if ((rc = msgr_message_split_text(text, MSGR_TEXT_MAX_CHARS, &parts, &n)) != MSGR_OK) {
		snprintf(why, whysz, "text could not be split: %s", msgr_strerror(rc));
		return rc;
	}
	for (i = 0; i < n && rc == MSGR_OK; i++) {
		json_t *part = i + 1 == n ? json_deep_copy(msg) : json_object();
		if (part == NULL || json_object_set_new(part, "text", json_string(parts[i])) != 0)
			rc = MSGR_ERR_NOMEM;
		else
			rc = add_send(p, c, ev, part, NULL, action, why, whysz);
		json_decref(part);
	}
	msgr_message_split_free(parts, n);
	return rc;
}

/* One action of the bot; why says what is wrong with it. */
static msgr_result
add_action(struct msgr_plan *p, const struct msgr_connector *c, const struct msgr_event *ev,
    const json_t *a, size_t i, char *why, size_t whysz)
{
	const char *kind = json_string_value(json_object_get(a, "action"));
	const char *meta = json_string_value(json_object_get(a, "metadata"));
	const char *target;

	if (kind == NULL)
		kind = "";
	if (strcmp(kind, "sender_action") == 0)
		return add_send(p, c, ev, NULL,
		    json_string_value(json_object_get(a, "sender_action")), a, why, whysz);
	if (strcmp(kind, "message") == 0)
		return msgr_plan_message(p, c, ev, a, why, whysz);
	if (strcmp(kind, "pass_thread_control") == 0) {
		target = json_string_value(json_object_get(a, "target"));
		return add_thread(p, MSGR_PLAN_PASS_THREAD, target ? target : "inbox", meta);
	}
	if (strcmp(kind, "take_thread_control") == 0)
		return add_thread(p, MSGR_PLAN_TAKE_THREAD, NULL, meta);
	snprintf(why, whysz, "action %zu: unknown action \"%.40s\"", i, kind);
	return MSGR_ERR_LIMIT;
}

msgr_result
msgr_plan_actions(struct msgr_plan *p, const struct msgr_connector *c,
    const struct msgr_event *ev, const json_t *actions, char *why, size_t whysz)
{
	size_t i;
	json_t *a;
	msgr_result rc;

	json_array_foreach(actions, i, a) {
		if ((rc = add_action(p, c, ev, a, i, why, whysz)) == MSGR_OK)
			continue;
		/* Name the action, unless the reason does already. */
		if (strncmp(why, "action ", 7) != 0) {
			char tmp[MSGR_MESSAGE_WHY_MAX];
			snprintf(tmp, sizeof(tmp), "%s", why);
			snprintf(why, whysz, "action %zu: %.200s", i, tmp);
		}
		return rc;
	}
	return MSGR_OK;
}

/* ---- the outbox ---- */

/* The outbox row of one item (plan.h gives the shapes); NULL when out of memory. */
static char *
item_text(const struct msgr_plan_item *it)
{
	json_t *j = NULL;
	char *text;

	switch (it->kind) {
	case MSGR_PLAN_SEND:
		j = json_pack("{s:s, s:O, s:b}", "call", "send", "body", it->body, "optional",
		    it->optional);
		break;
	case MSGR_PLAN_PASS_THREAD:
		j = json_pack("{s:s, s:s, s:s?}", "call", "pass_thread_control", "target",
		    it->target, "metadata", it->metadata);
		break;
	case MSGR_PLAN_TAKE_THREAD:
		j = json_pack("{s:s, s:s?}", "call", "take_thread_control", "metadata",
		    it->metadata);
		break;
	case MSGR_PLAN_UNREADABLE:
		break;
	}
	if (j == NULL)
		return NULL;
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return text;
}

msgr_result
msgr_plan_save(struct msgr_plan *p, struct msgr_store *st, int64_t job_id)
{
	size_t n = p->n, i;
	char **texts = NULL;
	int64_t *ids = NULL;
	msgr_result rc = MSGR_OK;

	if (n == 0)
		return MSGR_OK;
	texts = calloc(n, sizeof(*texts));
	ids = calloc(n, sizeof(*ids));
	if (texts == NULL || ids == NULL) {
		rc = MSGR_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((texts[i] = item_text(&p->items[i])) == NULL) {
			rc = MSGR_ERR_NOMEM;
			goto out;
		}
	}
	rc = msgr_store_outbox_put(st, job_id, (const char *const *)texts, n, ids);
	if (rc == MSGR_OK) {
		for (i = 0; i < n; i++) {
			p->items[i].outbox_id = ids[i];
			p->items[i].untried = 1;
		}
	} else if (rc == MSGR_ERR_DUPLICATE) {
		/* Planned by another process first: its plan is the one that may be half sent. */
		msgr_plan_clear(p);
		rc = msgr_plan_load(p, st, job_id);
	}
out:
	for (i = 0; texts != NULL && i < n; i++)
		free(texts[i]);
	free(texts);
	free(ids);
	return rc;
}

/* Types one outbox row: a row that is not a plan item of this build becomes UNREADABLE
 * (the job fails when its turn comes, with what was wrong). */
static msgr_result
item_read(struct msgr_plan_item *it, const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	const char *call = json_string_value(json_object_get(j, "call"));
	const json_t *body = json_object_get(j, "body");
	const char *target = json_string_value(json_object_get(j, "target"));
	char why[128];
	int ok = 1;

	it->kind = MSGR_PLAN_UNREADABLE;
	if (j == NULL || !json_is_object(j)) {
		snprintf(why, sizeof(why), "unreadable outbox item");
	} else if (call != NULL && strcmp(call, "send") == 0 && json_is_object(body)) {
		it->kind = MSGR_PLAN_SEND;
		it->body = json_incref((json_t *)body);
		it->optional = json_is_true(json_object_get(j, "optional"));
	} else if (call != NULL && strcmp(call, "pass_thread_control") == 0 && target != NULL) {
		it->kind = MSGR_PLAN_PASS_THREAD;
		it->target = dup_or_null(target, &ok);
	} else if (call != NULL && strcmp(call, "take_thread_control") == 0) {
		it->kind = MSGR_PLAN_TAKE_THREAD;
	} else if (call != NULL && (strcmp(call, "send") == 0 ||
	    strcmp(call, "pass_thread_control") == 0)) {
		snprintf(why, sizeof(why), "unreadable outbox item");
	} else {
		snprintf(why, sizeof(why), "unknown planned call \"%.40s\"", call ? call : "");
	}
	if (it->kind == MSGR_PLAN_UNREADABLE)
		it->why = dup_or_null(why, &ok);
	else
		it->metadata = dup_or_null(json_string_value(json_object_get(j, "metadata")), &ok);
	json_decref(j);
	return ok ? MSGR_OK : MSGR_ERR_NOMEM;
}

msgr_result
msgr_plan_load(struct msgr_plan *p, struct msgr_store *st, int64_t job_id)
{
	struct msgr_outbox_item *rows = NULL;
	struct msgr_plan_item *it;
	size_t n = 0, i;
	msgr_result rc;

	if ((rc = msgr_store_outbox_get(st, job_id, &rows, &n)) != MSGR_OK)
		return rc;
	for (i = 0; i < n && rc == MSGR_OK; i++) {
		if ((it = item_new(p)) == NULL) {
			rc = MSGR_ERR_NOMEM;
			break;
		}
		it->seq = rows[i].seq;
		it->outbox_id = rows[i].id;
		it->done = rows[i].done;
		rc = item_read(it, rows[i].request);
	}
	msgr_store_outbox_free(rows, n);
	return rc;
}
