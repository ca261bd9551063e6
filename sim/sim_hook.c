/* sim_hook.c — webhook events built, signed, posted and recorded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "event.h"
#include "limits.h"
#include "log.h"
#include "signature.h"
#include "sim_hook.h"

/* ---- reading the page's request ---- */

/* The string field name of body: NULL with err filled when it is missing (and required), not
 * a string, empty, or over max bytes. */
static const char *
field(const json_t *body, const char *name, size_t max, int required, char *err, size_t errsz)
{
	const json_t *v = json_object_get(body, name);
	const char *s = json_string_value(v);

	if (v == NULL && !required)
		return NULL;
	if (s == NULL || s[0] == '\0') {
		snprintf(err, errsz, "%s: a non-empty string is needed", name);
		return NULL;
	}
	if (strlen(s) > max) {
		snprintf(err, errsz, "%s: at most %zu bytes", name, max);
		return NULL;
	}
	return s;
}

static int
is_http_url(const char *u)
{
	return u != NULL && (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) &&
	    strlen(u) > 8;
}

/* Facebook's reaction name of an emoji. */
static const char *
reaction_name(const char *emoji)
{
	static const struct { const char *emoji, *name; } map[] = {
		{ "\xe2\x9d\xa4", "love" }, { "\xf0\x9f\x91\x8d", "like" },
		{ "\xf0\x9f\x98\x86", "smile" }, { "\xf0\x9f\x98\x82", "smile" },
		{ "\xf0\x9f\x98\xae", "wow" }, { "\xf0\x9f\x98\xa2", "sad" },
		{ "\xf0\x9f\x98\xa0", "angry" }
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strncmp(emoji, map[i].emoji, strlen(map[i].emoji)) == 0)
			return map[i].name;
	return "other";
}

/* app_id as Facebook writes it in events: a number (strings are taken by the parser too). */
static json_t *
app_id_json(const char *app_id)
{
	if (strlen(app_id) <= 15 && app_id[0] != '0')
		return json_integer(strtoll(app_id, NULL, 10));
	return json_string(app_id);
}

/* ---- events ---- */

/* {sender, recipient, timestamp} of an event from the person (from_page 0) or the page. */
static json_t *
envelope(struct sim_world *w, int page, int user, int from_page, long long now)
{
	char psid[SIM_PSID_LEN + 1];
	const char *pid = w->pages[page].conn->page_id;

	sim_world_psid(w, page, user, psid);
	return json_pack("{s:{s:s}, s:{s:s}, s:I}", "sender", "id", from_page ? pid : psid,
	    "recipient", "id", from_page ? psid : pid, "timestamp", (json_int_t)now);
}

/* The payload a Get Started tap carries: the messenger profile's (set through the Graph
 * API, else the config's), else Facebook's usual GET_STARTED. */
static const char *
get_started_payload(struct sim_world *w, int page)
{
	const char *p = json_string_value(json_object_get(json_object_get(
	    w->pages[page].profile, "get_started"), "payload"));

	if (p == NULL)
		p = w->pages[page].conn->profile.get_started;
	return p ? p : "GET_STARTED";
}

/* Locked. Builds the event of one person's action and its conversation item, and records
 * what it says (the window, edits). *event and *item are new references; mid (when the
 * event has one) is filled. MSGR_OK; MSGR_ERR_INVALID with err; MSGR_ERR_NOMEM. */
static msgr_result
person_event(struct sim_world *w, int page, int user, const json_t *body, json_t **event,
    json_t **item, char mid[SIM_MID_MAX + 1], char *err, size_t errsz)
{
	struct sim_conv *c = sim_world_conv(w, page, user);
	const char *type = json_string_value(json_object_get(body, "type"));
	long long now = sim_world_now_ms(w);
	const char *text, *payload, *title, *ref, *tmid, *emoji, *action, *url;
	json_t *ev = NULL, *it = NULL, *what = NULL;
	const char *key = NULL, *kind = NULL;
	int from_person = 1;

	*event = *item = NULL;
	mid[0] = '\0';
	err[0] = '\0';
	if (c == NULL)
		return MSGR_ERR_NOMEM;
	if (type == NULL) {
		snprintf(err, errsz, "type: a string is needed");
		return MSGR_ERR_INVALID;
	}
	sim_world_mid(w, "m_", mid);
	if (strcmp(type, "text") == 0) {
		if ((text = field(body, "text", MSGR_MAX_TEXT_BYTES, 1, err, errsz)) == NULL)
			goto bad;
		key = "message", kind = "text";
		what = json_pack("{s:s, s:s}", "mid", mid, "text", text);
		it = json_pack("{s:s, s:s}", "mid", mid, "text", text);
	} else if (strcmp(type, "quick_reply") == 0) {
		if ((text = field(body, "text", MSGR_MAX_TEXT_BYTES, 1, err, errsz)) == NULL ||
		    (payload = field(body, "payload", MSGR_MAX_PAYLOAD_BYTES, 1, err, errsz)) == NULL)
			goto bad;
		key = "message", kind = "quick_reply";
		what = json_pack("{s:s, s:s, s:{s:s}}", "mid", mid, "text", text, "quick_reply",
		    "payload", payload);
		it = json_pack("{s:s, s:s, s:s}", "mid", mid, "text", text, "payload", payload);
	} else if (strcmp(type, "postback") == 0 || strcmp(type, "get_started") == 0) {
		if (type[0] == 'g') {
			title = "Get Started";
			payload = get_started_payload(w, page);
		} else if ((title = field(body, "title", MSGR_MAX_STRING_BYTES, 1, err, errsz)) ==
		    NULL || (payload = field(body, "payload", MSGR_MAX_PAYLOAD_BYTES, 1, err,
		    errsz)) == NULL) {
			goto bad;
		}
		key = "postback", kind = "postback";
		what = json_pack("{s:s, s:s, s:s}", "mid", mid, "title", title, "payload", payload);
		it = json_pack("{s:s, s:s, s:s}", "mid", mid, "title", title, "payload", payload);
	} else if (strcmp(type, "referral") == 0 || strcmp(type, "optin") == 0) {
		if ((ref = field(body, "ref", MSGR_MAX_USER_REF_LEN, 1, err, errsz)) == NULL)
			goto bad;
		mid[0] = '\0';
		key = kind = type[0] == 'r' ? "referral" : "optin";
		what = type[0] == 'r' ? json_pack("{s:s, s:s, s:s}", "ref", ref, "source",
		    "SHORTLINK", "type", "OPEN_THREAD") : json_pack("{s:s}", "ref", ref);
		it = json_pack("{s:s}", "ref", ref);
	} else if (strcmp(type, "reaction") == 0) {
		if ((tmid = field(body, "mid", MSGR_MAX_MID_LEN, 1, err, errsz)) == NULL ||
		    (emoji = field(body, "emoji", 64, 1, err, errsz)) == NULL)
			goto bad;
		action = json_string_value(json_object_get(body, "action"));
		if (action == NULL)
			action = "react";
		if (strcmp(action, "react") != 0 && strcmp(action, "unreact") != 0) {
			snprintf(err, errsz, "action: react or unreact");
			goto bad;
		}
		mid[0] = '\0';
		key = kind = "reaction";
		what = json_pack("{s:s, s:s, s:s, s:s}", "reaction", reaction_name(emoji), "emoji",
		    emoji, "action", action, "mid", tmid);
		it = json_pack("{s:s, s:s, s:s}", "emoji", emoji, "action", action, "target_mid",
		    tmid);
	} else if (strcmp(type, "edit") == 0) {
		json_int_t n;

		if ((tmid = field(body, "mid", MSGR_MAX_MID_LEN, 1, err, errsz)) == NULL ||
		    (text = field(body, "text", MSGR_MAX_TEXT_BYTES, 1, err, errsz)) == NULL)
			goto bad;
		/* num_edit counts the edits of that message (Facebook's dedup needs it to grow). */
		n = json_integer_value(json_object_get(c->edits, tmid)) + 1;
		if (json_object_size(c->edits) < SIM_ITEMS_MAX &&
		    json_object_set_new(c->edits, tmid, json_integer(n)) != 0)
			goto nomem;
		mid[0] = '\0';
		key = "message_edit", kind = "edit";
		what = json_pack("{s:s, s:s, s:I}", "mid", tmid, "text", text, "num_edit", n);
		it = json_pack("{s:s, s:s}", "target_mid", tmid, "text", text);
	} else if (strcmp(type, "read") == 0) {
		mid[0] = '\0';
		from_person = 0;
		key = kind = "read";
		what = json_pack("{s:I}", "watermark", (json_int_t)now);
		it = json_object();
	} else if (strcmp(type, "delivery") == 0) {
		mid[0] = '\0';
		from_person = 0;
		key = kind = "delivery";
		what = c->last_page_mid[0] ? json_pack("{s:[s], s:I}", "mids", c->last_page_mid,
		    "watermark", (json_int_t)now) : json_pack("{s:I}", "watermark", (json_int_t)now);
		it = json_object();
	} else if (strcmp(type, "image") == 0) {
		if ((url = field(body, "url", MSGR_MAX_URL_BYTES, 1, err, errsz)) == NULL)
			goto bad;
		if (!is_http_url(url)) {
			snprintf(err, errsz, "url: an http(s) URL is needed");
			goto bad;
		}
		key = "message", kind = "attachment";
		what = json_pack("{s:s, s:[{s:s, s:{s:s}}]}", "mid", mid, "attachments", "type",
		    "image", "payload", "url", url);
		it = json_pack("{s:s, s:s}", "mid", mid, "url", url);
	} else {
		snprintf(err, errsz, "type: unknown \"%.40s\"", type);
		goto bad;
	}
	if (what == NULL || it == NULL)
		goto nomem;
	ev = envelope(w, page, user, 0, now);
	if (ev == NULL || json_object_set_new(ev, key, what) != 0)
		goto nomem_ev;
	what = NULL;
	if (json_object_set_new(it, "from", json_string("user")) != 0 ||
	    json_object_set_new(it, "kind", json_string(kind)) != 0 ||
	    json_object_set_new(it, "ts", json_integer(now)) != 0 ||
	    json_object_set_new(it, "webhook", json_null()) != 0)
		goto nomem_ev;
	/* Facebook's window opens with what the person does, not with receipts (the
	 * connector's worker counts the same kinds: lib/worker.c user_originated). */
	if (from_person && now > c->last_user_ms)
		c->last_user_ms = now;
	*event = ev;
	*item = it;
	return MSGR_OK;
nomem_ev:
	json_decref(ev);
nomem:
	json_decref(what);
	json_decref(it);
	snprintf(err, errsz, "out of memory");
	return MSGR_ERR_NOMEM;
bad:
	json_decref(what);
	json_decref(it);
	return MSGR_ERR_INVALID;
}

/* ---- posting ---- */

/* One POST's outcome. */
struct posted {
	long long hook;     /* the record's id */
	long status;        /* the connector's HTTP status; 0 when not reached */
	size_t events;
	char error[256];     /* curl's words (host and port at most) */
};

/* Locked. Sets the item's "webhook" to {id, status[, error]} (status < 0: null, pending). */
static void
mark_item(struct sim_world *w, const json_t *held, long long hook, long status,
    const char *error)
{
	long long seq = json_integer_value(json_object_get(held, "item"));
	json_t *it;

	if (seq <= 0)
		return;
	it = sim_world_item(w, (int)json_integer_value(json_object_get(held, "page")),
	    (int)json_integer_value(json_object_get(held, "user")), seq);
	if (it != NULL)
		json_object_set_new(it, "webhook", json_pack("{s:I, s:o, s:s*}", "id",
		    (json_int_t)hook, "status", status < 0 ? json_null() : json_integer(status),
		    "error", error && error[0] ? error : NULL));
}

/* POSTs body (signed with sig) to the hook connector of page; records it. The items of
 * members (held entries) are marked with the webhook. */
static void
post_body(struct sim_ctx *cx, int page, const char *body, size_t len, const char *sig,
    size_t events, int redelivery, const json_t *members, struct posted *out)
{
	struct sim_world *w = cx->w;
	const struct msgr_connector *h = w->pages[page].hook;
	struct msgr_http_request rq;
	struct msgr_http_response rs;
	char url[MSGR_MAX_CONFIG_STRING * 2 + 2], sighdr[MSGR_SIGNATURE_HEADER_LEN + 32];
	const char *headers[2];
	long long t0;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->events = events;
	snprintf(url, sizeof(url), "%s%s", cx->cfg->simulator.url, h->path);
	snprintf(sighdr, sizeof(sighdr), "X-Hub-Signature-256: %s", sig);
	headers[0] = "Content-Type: application/json";
	headers[1] = sighdr;

	sim_world_lock(w);
	out->hook = sim_world_hook_begin(w, page, body, len, events, redelivery);
	for (i = 0; i < json_array_size(members); i++)
		mark_item(w, json_array_get(members, i), out->hook, -1, NULL);
	if (!redelivery) {
		/* Kept for redeliver: the same bytes and signature. */
		char *copy = malloc(len + 1);

		if (copy != NULL) {
			memcpy(copy, body, len);
			copy[len] = '\0';
			free(w->last.body);
			w->last.body = copy;
			w->last.len = len;
			snprintf(w->last.signature, sizeof(w->last.signature), "%s", sig);
			w->last.page = page;
			w->last.events = events;
		}
	}
	sim_world_unlock(w);

	memset(&rq, 0, sizeof(rq));
	memset(&rs, 0, sizeof(rs));
	rq.method = "POST";
	rq.url = url;
	rq.headers = headers;
	rq.n_headers = 2;
	rq.body = body;
	rq.body_len = len;
	t0 = msgr_clock_mono_ms();
	if (cx->http == NULL) {
		snprintf(out->error, sizeof(out->error), "no HTTP client");
	} else if (msgr_http_perform(cx->http, &rq, &rs) != MSGR_OK) {
		snprintf(out->error, sizeof(out->error), "the POST could not be made");
	} else if (!rs.transport_ok) {
		snprintf(out->error, sizeof(out->error), "%s", rs.error);
	} else {
		out->status = rs.status;
	}

	sim_world_lock(w);
	sim_world_hook_end(w, out->hook, out->status, (long)(msgr_clock_mono_ms() - t0));
	for (i = 0; i < json_array_size(members); i++)
		mark_item(w, json_array_get(members, i), out->hook, out->status, out->error);
	sim_world_unlock(w);
	msgr_log(MSGR_LOG_INFO, "webhook id=%lld connector=%s events=%zu status=%ld%s%s%s",
	    out->hook, h->id, events, out->status, out->error[0] ? " error=\"" : "", out->error,
	    out->error[0] ? "\"" : "");
}

/* The webhook body of members (held entries of one app), each page's events in one entry.
 * A new reference, or NULL when out of memory. */
static json_t *
webhook_body(struct sim_world *w, const json_t *members, long long now)
{
	json_t *entries = json_array(), *body;
	size_t i, k;

	if (entries == NULL)
		return NULL;
	for (i = 0; i < json_array_size(members); i++) {
		const json_t *m = json_array_get(members, i);
		int page = (int)json_integer_value(json_object_get(m, "page"));
		const char *pid = w->pages[page].conn->page_id;
		const char *arr = json_is_true(json_object_get(m, "standby")) ? "standby" :
		    "messaging";
		json_t *entry = NULL, *list;

		for (k = 0; k < json_array_size(entries) && entry == NULL; k++)
			if (strcmp(json_string_value(json_object_get(json_array_get(entries, k), "id")),
			    pid) == 0)
				entry = json_array_get(entries, k);
		if (entry == NULL) {
			entry = json_pack("{s:s, s:I}", "id", pid, "time", (json_int_t)now);
			if (json_array_append_new(entries, entry) != 0)
				goto nomem;
		}
		if ((list = json_object_get(entry, arr)) == NULL) {
			list = json_array();
			if (json_object_set_new(entry, arr, list) != 0)
				goto nomem;
		}
		if (json_array_append(list, json_object_get(m, "event")) != 0)
			goto nomem;
	}
	body = json_pack("{s:s, s:o}", "object", "page", "entry", entries);
	return body;
nomem:
	json_decref(entries);
	return NULL;
}

/* Posts list (held entries: {page, user, standby, event, item}), one webhook per app in the
 * order the apps first appear. Returns [{webhook, status, events[, error]}], NULL when out
 * of memory; *first (when not NULL) is the first POST's outcome. */
static json_t *
post_list(struct sim_ctx *cx, const json_t *list, struct posted *first)
{
	struct sim_world *w = cx->w;
	size_t n = json_array_size(list), i, j;
	json_t *results = json_array();
	char *done = calloc(n + 1, 1);

	if (first != NULL) {
		memset(first, 0, sizeof(*first));
		snprintf(first->error, sizeof(first->error), "out of memory");
	}
	if (results == NULL || done == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		int page = (int)json_integer_value(json_object_get(json_array_get(list, i), "page"));
		const struct msgr_connector *h = w->pages[page].hook;
		json_t *members, *body = NULL;
		char sig[MSGR_SIGNATURE_HEADER_LEN + 1];
		char *text = NULL;
		struct posted p;

		if (done[i])
			continue;
		members = json_array();
		for (j = i; members != NULL && j < n; j++) {
			const json_t *m = json_array_get(list, j);

			if (!done[j] && w->pages[json_integer_value(json_object_get(m, "page"))].hook ==
			    h) {
				done[j] = 1;
				if (json_array_append(members, (json_t *)m) != 0)
					break;
			}
		}
		if (members != NULL) {
			long long now;

			sim_world_lock(w);
			now = sim_world_now_ms(w);
			sim_world_unlock(w);
			body = webhook_body(w, members, now);
		}
		/* Facebook writes every non-ASCII character as \uXXXX. */
		if (body != NULL)
			text = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
		if (text == NULL || msgr_signature_format(h->secret, text, strlen(text), sig) !=
		    MSGR_OK) {
			free(text);
			json_decref(body);
			json_decref(members);
			goto fail;
		}
		post_body(cx, page, text, strlen(text), sig, json_array_size(members), 0, members, &p);
		if (first != NULL && i == 0)
			*first = p;
		json_array_append_new(results, json_pack("{s:I, s:I, s:I, s:s*}", "webhook",
		    (json_int_t)p.hook, "status", (json_int_t)p.status, "events",
		    (json_int_t)p.events, "error", p.error[0] ? p.error : NULL));
		free(text);
		json_decref(body);
		json_decref(members);
	}
	free(done);
	return results;
fail:
	free(done);
	json_decref(results);
	return NULL;
}

/* A held entry for list posting. */
static json_t *
held(int page, int user, int standby, json_t *event, long long item)
{
	return json_pack("{s:i, s:i, s:b, s:o, s:I}", "page", page, "user", user, "standby",
	    standby, "event", event, "item", (json_int_t)item);
}

/* Posts one event now (its reference is taken) and answers as /_sim/api/event does. */
static json_t *
post_one(struct sim_ctx *cx, int page, int user, int standby, json_t *event, long long item,
    const char *mid)
{
	json_t *list = json_array(), *results, *ans = NULL;
	struct posted p;

	if (list == NULL || json_array_append_new(list, held(page, user, standby, event, item)) !=
	    0) {
		json_decref(list);
		return NULL;
	}
	results = post_list(cx, list, &p);
	if (results != NULL)
		ans = json_pack("{s:I, s:I, s:s*, s:b, s:s*}", "status", (json_int_t)p.status,
		    "webhook", (json_int_t)p.hook, "mid", mid && mid[0] ? mid : NULL, "batched", 0,
		    "error", p.error[0] ? p.error : NULL);
	json_decref(results);
	json_decref(list);
	return ans;
}

static json_t *
error_json(int *status, int code, const char *text)
{
	*status = code;
	return json_pack("{s:s}", "error", text);
}

json_t *
sim_hook_user_event(struct sim_ctx *cx, int page, int user, const json_t *body, int *status)
{
	struct sim_world *w = cx->w;
	json_t *event = NULL, *item = NULL;
	char mid[SIM_MID_MAX + 1], err[160];
	long long seq;
	int standby;
	msgr_result rc;

	*status = 200;
	sim_world_lock(w);
	rc = person_event(w, page, user, body, &event, &item, mid, err, sizeof(err));
	if (rc != MSGR_OK) {
		sim_world_unlock(w);
		return rc == MSGR_ERR_NOMEM ? NULL : error_json(status, 400, err);
	}
	standby = strcmp(sim_world_owner(w, page, sim_world_conv(w, page, user)),
	    w->pages[page].conn->app_id) != 0;
	seq = sim_world_add_item(w, page, user, item);
	if (w->batch_on) {
		json_t *ans = NULL;

		/* Held until a flush posts them together (Facebook batches up to 1000). */
		if (json_array_size(w->held) >= SIM_HELD_MAX) {
			sim_world_unlock(w);
			json_decref(event);
			return error_json(status, 400, "too many events held: flush first");
		}
		if (json_array_append_new(w->held, held(page, user, standby, event, seq)) == 0)
			ans = json_pack("{s:n, s:n, s:s*, s:b}", "status", "webhook", "mid",
			    mid[0] ? mid : NULL, "batched", 1);
		sim_world_unlock(w);
		return ans;
	}
	sim_world_unlock(w);
	return post_one(cx, page, user, standby, event, seq, mid);
}

/* Locked. A thread control event to the connector's app, and the owner item. */
static msgr_result
owner_change(struct sim_world *w, int page, int user, const char *kind, json_t *what,
    const char *text, const char *label, json_t **event)
{
	json_t *ev = envelope(w, page, user, 0, sim_world_now_ms(w));

	*event = NULL;
	if (ev == NULL || what == NULL || json_object_set_new(ev, kind, what) != 0) {
		json_decref(ev);
		json_decref(what);
		return MSGR_ERR_NOMEM;
	}
	if (sim_world_add_item(w, page, user, json_pack("{s:s, s:s, s:s, s:s}", "from", "system",
	    "kind", "owner", "text", text, "owner", label)) == 0) {
		json_decref(ev);
		return MSGR_ERR_NOMEM;
	}
	*event = ev;
	return MSGR_OK;
}

json_t *
sim_hook_inbox(struct sim_ctx *cx, int page, int user, const json_t *body, int *status)
{
	struct sim_world *w = cx->w;
	const char *action = json_string_value(json_object_get(body, "action"));
	const char *app = w->pages[page].conn->app_id;
	struct sim_conv *c;
	json_t *event = NULL;
	char mid[SIM_MID_MAX + 1], err[160];
	int standby = 0;
	msgr_result rc;

	*status = 200;
	mid[0] = '\0';
	if (action == NULL || (strcmp(action, "take") != 0 && strcmp(action, "reply") != 0 &&
	    strcmp(action, "release") != 0))
		return error_json(status, 400, "action: take, reply or release");
	sim_world_lock(w);
	if ((c = sim_world_conv(w, page, user)) == NULL) {
		sim_world_unlock(w);
		return NULL;
	}
	if (strcmp(action, "take") == 0) {
		rc = owner_change(w, page, user, "take_thread_control", json_pack("{s:s, s:o, s:s}",
		    "previous_owner_app_id", sim_world_owner(w, page, c), "new_owner_app_id",
		    app_id_json(MSGR_PAGE_INBOX_APP_ID), "metadata", "Page Inbox"),
		    "Page Inbox took the thread", "inbox", &event);
		snprintf(c->owner, sizeof(c->owner), "%s", MSGR_PAGE_INBOX_APP_ID);
	} else if (strcmp(action, "release") == 0) {
		rc = owner_change(w, page, user, "pass_thread_control", json_pack("{s:o, s:s, s:s}",
		    "previous_owner_app_id", app_id_json(MSGR_PAGE_INBOX_APP_ID), "new_owner_app_id",
		    app, "metadata", "Page Inbox"), "Page Inbox passed the thread back to the bot",
		    "bot", &event);
		c->owner[0] = '\0';
	} else {
		const char *text = field(body, "text", MSGR_MAX_TEXT_BYTES, 1, err, sizeof(err));
		json_t *msg;

		if (text == NULL) {
			sim_world_unlock(w);
			return error_json(status, 400, err);
		}
		/* A person at the page answers: shown in the chat, echoed to the connector with
		 * the Page Inbox's app id (lib/worker.c records it as a human answering). */
		sim_world_mid(w, "m_", mid);
		msg = json_pack("{s:s}", "text", text);
		rc = MSGR_ERR_NOMEM;
		if (msg != NULL && sim_world_add_item(w, page, user, json_pack("{s:s, s:s, s:O, s:n, "
		    "s:n, s:n, s:n, s:s, s:n}", "from", "page", "mid", mid, "message", msg,
		    "messaging_type", "tag", "notification_type", "persona", "by", "inbox",
		    "graph")) != 0) {
			snprintf(c->last_page_mid, sizeof(c->last_page_mid), "%s", mid);
			standby = strcmp(sim_world_owner(w, page, c), app) != 0;
			event = envelope(w, page, user, 1, sim_world_now_ms(w));
			if (event != NULL && json_object_set_new(event, "message", json_pack(
			    "{s:b, s:o, s:s, s:s}", "is_echo", 1, "app_id",
			    app_id_json(MSGR_PAGE_INBOX_APP_ID), "mid", mid, "text", text)) == 0)
				rc = MSGR_OK;
		}
		json_decref(msg);
		if (!w->echoes && rc == MSGR_OK) {
			/* Echoes off: the person's answer is shown, nothing is posted. */
			sim_world_unlock(w);
			json_decref(event);
			return json_pack("{s:n, s:n, s:s, s:b}", "status", "webhook", "mid", mid,
			    "batched", 0);
		}
	}
	sim_world_unlock(w);
	if (rc != MSGR_OK) {
		json_decref(event);
		return NULL;
	}
	return post_one(cx, page, user, standby, event, 0, mid);
}

json_t *
sim_hook_flush(struct sim_ctx *cx)
{
	struct sim_world *w = cx->w;
	json_t *list, *results, *ans;
	struct posted first;

	sim_world_lock(w);
	list = w->held;
	w->held = json_array();
	if (w->held == NULL) {
		w->held = list;
		sim_world_unlock(w);
		return NULL;
	}
	sim_world_unlock(w);
	results = post_list(cx, list, &first);
	/* status and webhook: the first POST's, as /_sim/api/event answers (null: none). */
	ans = json_pack("{s:I, s:o, s:o, s:o}", "posted", (json_int_t)json_array_size(list),
	    "status", json_array_size(list) ? json_integer(first.status) : json_null(), "webhook",
	    json_array_size(list) ? json_integer(first.hook) : json_null(), "webhooks", results);
	json_decref(list);
	return ans;
}

json_t *
sim_hook_redeliver(struct sim_ctx *cx, int *status)
{
	struct sim_world *w = cx->w;
	struct posted p;
	char *body = NULL, sig[sizeof(w->last.signature)];
	size_t len = 0, events = 0;
	int page;

	*status = 200;
	sim_world_lock(w);
	page = w->last.page;
	if (page >= 0 && (body = malloc(w->last.len + 1)) != NULL) {
		memcpy(body, w->last.body, w->last.len + 1);
		len = w->last.len;
		events = w->last.events;
		memcpy(sig, w->last.signature, sizeof(sig));
	}
	sim_world_unlock(w);
	if (page < 0)
		return error_json(status, 400, "no webhook was posted yet");
	if (body == NULL)
		return NULL;
	post_body(cx, page, body, len, sig, events, 1, NULL, &p);
	free(body);
	return json_pack("{s:I, s:I, s:s*}", "status", (json_int_t)p.status, "webhook",
	    (json_int_t)p.hook, "error", p.error[0] ? p.error : NULL);
}

/* The attachments[] of an echo for the attachment the page sent: media as
 * {type, payload{url}} (an uploaded id turned back into its URL), templates as sent. */
static json_t *
echo_attachments(struct sim_world *w, const json_t *att)
{
	const char *type = json_string_value(json_object_get(att, "type"));
	const json_t *pl = json_object_get(att, "payload");
	const char *url = json_string_value(json_object_get(pl, "url"));
	const char *aid = json_string_value(json_object_get(pl, "attachment_id"));

	if (type != NULL && strcmp(type, "template") == 0)
		return json_pack("[{s:s, s:O}]", "type", type, "payload", pl);
	if (url == NULL && aid != NULL)
		url = json_string_value(json_object_get(json_object_get(w->uploads, aid), "url"));
	return json_pack("[{s:s, s:{s:s}}]", "type", type ? type : "file", "payload", "url",
	    url ? url : "");
}

msgr_result
sim_hook_defer_echo(struct sim_ctx *cx, int page, int user, const json_t *message,
    const char *app_id, const char *mid)
{
	struct sim_world *w = cx->w;
	static const char *const copied[] = { "text", "quick_replies", "metadata", "sticker_id" };
	json_t *ev, *m, *att;
	size_t i;
	int standby;

	if (!w->echoes)
		return MSGR_OK;
	if (cx->deferred == NULL && (cx->deferred = json_array()) == NULL)
		return MSGR_ERR_NOMEM;
	ev = envelope(w, page, user, 1, sim_world_now_ms(w));
	m = json_pack("{s:b, s:o, s:s}", "is_echo", 1, "app_id", app_id_json(app_id), "mid", mid);
	if (ev == NULL || m == NULL)
		goto nomem;
	for (i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
		json_t *v = json_object_get(message, copied[i]);

		if (v != NULL && json_object_set(m, copied[i], v) != 0)
			goto nomem;
	}
	if ((att = json_object_get(message, "attachment")) != NULL &&
	    json_object_set_new(m, "attachments", echo_attachments(w, att)) != 0)
		goto nomem;
	if (json_object_set_new(ev, "message", m) != 0) {
		m = NULL;
		goto nomem;
	}
	standby = strcmp(sim_world_owner(w, page, sim_world_conv(w, page, user)),
	    w->pages[page].conn->app_id) != 0;
	if (json_array_append_new(cx->deferred, held(page, user, standby, ev, 0)) != 0)
		return MSGR_ERR_NOMEM;
	return MSGR_OK;
nomem:
	json_decref(ev);
	json_decref(m);
	return MSGR_ERR_NOMEM;
}

void
sim_hook_run_deferred(struct sim_ctx *cx)
{
	json_t *results;

	if (cx->deferred == NULL || json_array_size(cx->deferred) == 0)
		return;
	results = post_list(cx, cx->deferred, NULL);
	json_decref(results);
	json_array_clear(cx->deferred);
}
