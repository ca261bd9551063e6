/* sim_transcript.c — transcripts built from conversations, replayed and compared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "sim_hook.h"
#include "sim_transcript.h"

#define DIFF_MAX 65536   /* bytes of a replay's diff text */

/* ---- normalising what the page sent ---- */

/* Locked. The URL an upload id was made from, or NULL. */
static const char *
upload_url(struct sim_world *w, const json_t *id)
{
	char buf[32];
	const char *s = json_string_value(id);

	if (s == NULL && json_is_integer(id)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(id));
		s = buf;
	}
	return s ? json_string_value(json_object_get(json_object_get(w->uploads, s), "url")) :
	    NULL;
}

/* Locked. payload with each attachment_id (its own, and its elements') written as the URL
 * it was uploaded from, and is_reusable dropped. Changed in place. */
static void
ids_to_urls(struct sim_world *w, json_t *payload)
{
	json_t *els = json_object_get(payload, "elements");
	const char *url;
	size_t i;

	json_object_del(payload, "is_reusable");
	if ((url = upload_url(w, json_object_get(payload, "attachment_id"))) != NULL) {
		json_object_del(payload, "attachment_id");
		json_object_set_new(payload, "url", json_string(url));
	}
	for (i = 0; i < json_array_size(els); i++)
		ids_to_urls(w, json_array_get(els, i));
}

/* Locked. A message as a transcript keeps it (a new reference, NULL when out of memory). */
static json_t *
normalise(struct sim_world *w, const json_t *msg)
{
	static const char *const kept[] = { "text", "quick_replies", "sticker_id", "attachment" };
	json_t *out = json_object(), *att;
	size_t i;

	for (i = 0; out != NULL && i < sizeof(kept) / sizeof(kept[0]); i++) {
		json_t *v = json_object_get(msg, kept[i]);

		if (v != NULL && json_object_set_new(out, kept[i], json_deep_copy(v)) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	if ((att = json_object_get(out, "attachment")) != NULL)
		ids_to_urls(w, json_object_get(att, "payload"));
	return out;
}

/* A bot's message item (not a person's answer from the Page Inbox, not an action). */
static int
is_bot_message(const json_t *it)
{
	const char *from = json_string_value(json_object_get(it, "from"));
	const char *by = json_string_value(json_object_get(it, "by"));

	return from != NULL && strcmp(from, "page") == 0 && json_object_get(it, "message") &&
	    (by == NULL || strcmp(by, "bot") == 0);
}

/* The person's step an item records, as the body of /_sim/api/event; NULL for none. */
static json_t *
user_step(const json_t *it)
{
	const char *kind = json_string_value(json_object_get(it, "kind"));
#define F(name) json_object_get(it, name)

	if (kind == NULL)
		return NULL;
	if (strcmp(kind, "text") == 0)
		return json_pack("{s:s, s:O}", "type", "text", "text", F("text"));
	if (strcmp(kind, "quick_reply") == 0)
		return json_pack("{s:s, s:O, s:O}", "type", "quick_reply", "text", F("text"),
		    "payload", F("payload"));
	if (strcmp(kind, "postback") == 0)
		return json_pack("{s:s, s:O, s:O}", "type", "postback", "title", F("title"),
		    "payload", F("payload"));
	if (strcmp(kind, "referral") == 0 || strcmp(kind, "optin") == 0)
		return json_pack("{s:s, s:O}", "type", kind, "ref", F("ref"));
	if (strcmp(kind, "reaction") == 0)
		return json_pack("{s:s, s:O, s:O, s:O}", "type", "reaction", "mid", F("target_mid"),
		    "emoji", F("emoji"), "action", F("action"));
	if (strcmp(kind, "edit") == 0)
		return json_pack("{s:s, s:O, s:O}", "type", "edit", "mid", F("target_mid"), "text",
		    F("text"));
	if (strcmp(kind, "read") == 0 || strcmp(kind, "delivery") == 0)
		return json_pack("{s:s}", "type", kind);
	if (strcmp(kind, "attachment") == 0)
		return json_pack("{s:s, s:O}", "type", "image", "url", F("url"));
#undef F
	return NULL;
}

json_t *
sim_transcript_build(struct sim_world *w, int page, int user)
{
	json_t *steps = json_array(), *answers = NULL, *t = NULL;
	struct sim_conv *c;
	size_t i;

	if (steps == NULL)
		return NULL;
	sim_world_lock(w);
	if ((c = sim_world_conv(w, page, user)) == NULL)
		goto out;
	for (i = 0; i < json_array_size(c->items); i++) {
		const json_t *it = json_array_get(c->items, i);
		const char *from = json_string_value(json_object_get(it, "from"));
		json_t *step;

		if (is_bot_message(it)) {
			if (answers == NULL && ((answers = json_array()) == NULL ||
			    json_array_append_new(steps, json_pack("{s:O}", "page", answers)) != 0))
				goto out;
			if (json_array_append_new(answers, normalise(w, json_object_get(it,
			    "message"))) != 0)
				goto out;
		} else if (from != NULL && strcmp(from, "user") == 0 &&
		    (step = user_step(it)) != NULL) {
			json_decref(answers);
			answers = NULL;
			if (json_array_append_new(steps, json_pack("{s:o}", "user", step)) != 0)
				goto out;
		}
	}
	t = json_pack("{s:i, s:s, s:s, s:O}", "version", 1, "connector",
	    w->pages[page].conn->id, "user_name", w->users[user].name, "steps", steps);
out:
	sim_world_unlock(w);
	json_decref(answers);
	json_decref(steps);
	return t;
}

/* ---- replay ---- */

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The bot's messages to user on page after seq since, normalised: waits until at least
 * want arrived and SIM_REPLAY_QUIET_MS pass without another, or wait_ms. */
static json_t *
wait_answers(struct sim_ctx *cx, int page, int user, long long since, size_t want,
    long wait_ms)
{
	long long start = msgr_clock_mono_ms(), changed = start;
	size_t seen = 0;
	json_t *got = NULL;

	for (;;) {
		struct sim_conv *c;
		long long now;
		size_t i;

		sleep_ms(50);
		json_decref(got);
		if ((got = json_array()) == NULL)
			return NULL;
		sim_world_lock(cx->w);
		c = sim_world_conv(cx->w, page, user);
		for (i = 0; c != NULL && i < json_array_size(c->items); i++) {
			const json_t *it = json_array_get(c->items, i);

			if (json_integer_value(json_object_get(it, "seq")) > since &&
			    is_bot_message(it))
				json_array_append_new(got, normalise(cx->w, json_object_get(it,
				    "message")));
		}
		sim_world_unlock(cx->w);
		now = msgr_clock_mono_ms();
		if (json_array_size(got) != seen) {
			seen = json_array_size(got);
			changed = now;
		}
		if ((seen >= want && now - changed >= SIM_REPLAY_QUIET_MS) ||
		    now - start >= wait_ms || cx->stopping())
			return got;
	}
}

static void
dump_into(struct msgr_buf *d, const json_t *v)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;

	msgr_buf_puts(d, s ? s : "nothing");
	free(s);
}

/* Adds "step N: expected E / got G" for each message of the step that differs. */
static void
compare(struct sim_world *w, struct msgr_buf *diff, size_t step, const json_t *want,
    const json_t *got)
{
	size_t n = json_array_size(want) > json_array_size(got) ? json_array_size(want) :
	    json_array_size(got), k;

	for (k = 0; k < n; k++) {
		json_t *e = NULL;
		const json_t *g = json_array_get(got, k);

		if (json_array_get(want, k) != NULL) {
			sim_world_lock(w);
			e = normalise(w, json_array_get(want, k));
			sim_world_unlock(w);
		}
		if (!json_equal(e, (json_t *)g)) {
			msgr_buf_printf(diff, "step %zu: expected ", step);
			dump_into(diff, e);
			msgr_buf_puts(diff, " / got ");
			dump_into(diff, g);
			msgr_buf_puts(diff, "\n");
		}
		json_decref(e);
	}
}

/* The transcript's shape: version 1, a known connector, steps of {user} or {page}. *page is
 * the connector's page. 0, or -1 with err. */
static int
check_transcript(struct sim_world *w, const json_t *t, int *page, char *err, size_t errsz)
{
	const char *conn = json_string_value(json_object_get(t, "connector"));
	const json_t *steps = json_object_get(t, "steps");
	size_t i;

	*page = -1;
	if (!json_is_object(t) || json_integer_value(json_object_get(t, "version")) != 1) {
		snprintf(err, errsz, "version: 1 is needed");
		return -1;
	}
	for (i = 0; conn != NULL && i < w->n_pages; i++)
		if (strcmp(w->pages[i].conn->id, conn) == 0)
			*page = (int)i;
	if (*page < 0) {
		snprintf(err, errsz, "connector: not a connector of the config");
		return -1;
	}
	if (!json_is_array(steps) || json_array_size(steps) > SIM_REPLAY_STEPS_MAX) {
		snprintf(err, errsz, "steps: an array of at most %d steps is needed",
		    SIM_REPLAY_STEPS_MAX);
		return -1;
	}
	for (i = 0; i < json_array_size(steps); i++) {
		const json_t *s = json_array_get(steps, i);

		if (json_object_size(s) != 1 || (!json_is_object(json_object_get(s, "user")) &&
		    !json_is_array(json_object_get(s, "page")))) {
			snprintf(err, errsz, "steps[%zu]: {\"user\": {...}} or {\"page\": [...]}", i);
			return -1;
		}
	}
	return 0;
}

json_t *
sim_transcript_replay(struct sim_ctx *cx, const json_t *t, long wait_ms, int *status)
{
	struct sim_world *w = cx->w;
	const json_t *steps = json_object_get(t, "steps");
	const char *name = json_string_value(json_object_get(t, "user_name"));
	struct msgr_buf diff;
	char err[160];
	size_t n = json_array_size(steps), i = 0;
	int page, user, batching;
	msgr_result rc;
	json_t *ans = NULL;

	*status = 400;
	if (check_transcript(w, t, &page, err, sizeof(err)) != 0)
		return json_pack("{s:s}", "error", err);
	sim_world_lock(w);
	batching = w->batch_on;
	rc = batching ? MSGR_OK : sim_world_add_user(w, name, &user);
	sim_world_unlock(w);
	if (batching)
		return json_pack("{s:s}", "error", "batching is on: the answers would never come");
	if (rc != MSGR_OK)
		return json_pack("{s:s}", "error", rc == MSGR_ERR_LIMIT ? "too many users" :
		    "user_name: a name of 1 to 100 printable characters is needed");
	msgr_buf_init(&diff, DIFF_MAX);
	while (i < n) {
		const json_t *step = json_array_get(steps, i);
		const json_t *next = json_array_get(steps, i + 1);
		const json_t *want = json_object_get(step, "page");
		size_t shown = i + 1;
		long long since;
		json_t *got, *res = NULL;

		sim_world_lock(w);
		since = w->seq;
		sim_world_unlock(w);
		if (want == NULL) {
			int st = 0;

			/* The person's step, then the page's answer to it (the next step, if any). */
			res = sim_hook_user_event(cx, page, user, json_object_get(step, "user"), &st);
			if (res == NULL)
				goto out;
			if (st != 200) {
				msgr_buf_printf(&diff, "step %zu: refused: %s\n", shown,
				    json_string_value(json_object_get(res, "error")));
				json_decref(res);
				i++;
				continue;
			}
			json_decref(res);
			want = json_object_get(next, "page");
			if (want != NULL) {
				shown = i + 2;
				i++;
			}
		}
		i++;
		if ((got = wait_answers(cx, page, user, since, json_array_size(want),
		    wait_ms)) == NULL)
			goto out;
		compare(w, &diff, shown, want, got);
		json_decref(got);
	}
	*status = 200;
	ans = json_pack("{s:b, s:I, s:s, s:s}", "ok", diff.len == 0, "steps", (json_int_t)n,
	    "diff", diff.data ? diff.data : "", "user", w->users[user].key);
out:
	msgr_buf_free(&diff);
	return ans;
}
