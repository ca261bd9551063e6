/* sim_api.c — the page's JSON API: each path read, checked and answered. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "log.h"
#include "message.h"
#include "sim_api.h"
#include "sim_clock.h"
#include "sim_hook.h"
#include "sim_run.h"
#include "sim_transcript.h"

#define NOTE_MAX 300         /* bytes of msgrctl's output shown in a conversation note */
#define FAIL_COUNT_MAX 1000000

/* ---- reading the request ---- */

/* The body as a JSON object ({} when empty). NULL after answering 400/413. */
static json_t *
body_object(struct sim_ctx *cx)
{
	struct sim_req *r = cx->req;
	json_t *j = NULL;
	char why[128];
	msgr_result rc = sim_req_read_body(r, SIM_API_BODY_MAX);

	if (rc == MSGR_ERR_TOOBIG) {
		sim_req_error(r, 413, "the body is over 1 MiB");
		return NULL;
	}
	if (rc != MSGR_OK) {
		sim_req_error(r, 400, "the body could not be read");
		return NULL;
	}
	if (r->head.body.len == 0)
		return json_object();
	if (msgr_event_json_load(r->head.body.data, r->head.body.len, SIM_JSON_DEPTH, &j, why,
	    sizeof(why)) != MSGR_OK || !json_is_object(j)) {
		json_decref(j);
		sim_req_error(r, 400, "the body is not a JSON object");
		return NULL;
	}
	return j;
}

/* The page and user named by page / user (of the body, else of the query). 0, or -1 after
 * answering 400/404. */
static int
page_user(struct sim_ctx *cx, const json_t *body, int *page, int *user)
{
	const char *p = json_string_value(json_object_get(body, "page"));
	const char *u = json_string_value(json_object_get(body, "user"));

	if (p == NULL)
		p = sim_req_query(cx->req, "page");
	if (u == NULL)
		u = sim_req_query(cx->req, "user");
	if (p == NULL || u == NULL) {
		sim_req_error(cx->req, 400, "page and user are needed");
		return -1;
	}
	sim_world_lock(cx->w);
	*page = sim_world_page_by_id(cx->w, p);
	*user = sim_world_user_by_key(cx->w, u);
	sim_world_unlock(cx->w);
	if (*page < 0) {
		sim_req_error(cx->req, 404, "unknown page");
		return -1;
	}
	if (*user < 0) {
		sim_req_error(cx->req, 404, "unknown user");
		return -1;
	}
	return 0;
}

/* The query's number name, lo to hi, dflt when absent; -1 after answering 400 with what. */
static long long
query_number(struct sim_ctx *cx, const char *name, long long lo, long long hi, long long dflt,
    const char *what)
{
	const char *s = sim_req_query(cx->req, name);
	char *end, why[96];
	long long v;

	if (s == NULL || s[0] == '\0')
		return dflt;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi) {
		snprintf(why, sizeof(why), "%s: %s", name, what);
		sim_req_error(cx->req, 400, why);
		return -1;
	}
	return v;
}

/* ?since=SEQ: 0 when absent; -1 after answering 400. */
static long long
since_of(struct sim_ctx *cx)
{
	return query_number(cx, "since", 0, LLONG_MAX, 0, "a seq number is needed");
}

/* ?wait_ms=N of a replay (each step's longest wait): SIM_REPLAY_WAIT_MS when absent; -1 after
 * answering 400. */
static long
replay_wait_of(struct sim_ctx *cx)
{
	char what[48];

	snprintf(what, sizeof(what), "%d to %d is needed", SIM_REPLAY_WAIT_MIN,
	    SIM_REPLAY_WAIT_MAX);
	return (long)query_number(cx, "wait_ms", SIM_REPLAY_WAIT_MIN, SIM_REPLAY_WAIT_MAX,
	    SIM_REPLAY_WAIT_MS, what);
}

/* Answers j (taken) with status, or 500 when it is NULL (out of memory). */
static void
reply(struct sim_ctx *cx, int status, json_t *j)
{
	const char *err = json_string_value(json_object_get(j, "error"));

	if (j == NULL) {
		sim_req_error(cx->req, 500, "out of memory");
		return;
	}
	if (err != NULL)
		snprintf(cx->req->note, sizeof(cx->req->note), "%s", err);
	sim_req_json(cx->req, status, j);
	json_decref(j);
}

/* ---- msgrctl ---- */

/* out as valid UTF-8 text, secrets replaced: msgrctl prints none, this is the second line of
 * defence (and a cut may have split a character). A new string or NULL. */
static char *
shown_output(struct sim_world *w, struct msgr_buf *out)
{
	char *s = out->data ? out->data : "";
	size_t i;

	if (msgr_message_utf8_chars(s, NULL) != MSGR_OK)
		for (i = 0; s[i]; i++)
			if ((unsigned char)s[i] >= 0x80)
				s[i] = '?';
	return sim_world_redact(w, s);
}

/* Runs msgrctl -c CONFIG args...; *exit_status and the output shown. NULL when it could
 * not run (after answering). */
static char *
run_ctl(struct sim_ctx *cx, const char *const *args, size_t n, int *exit_status)
{
	char *argv[16];
	struct msgr_buf out;
	char *text = NULL;
	size_t i;

	if (n + 4 > sizeof(argv) / sizeof(argv[0]))
		return NULL;
	argv[0] = (char *)cx->msgrctl;
	argv[1] = "-c";
	argv[2] = cx->cfg->file;
	for (i = 0; i < n; i++)
		argv[3 + i] = (char *)args[i];
	argv[3 + n] = NULL;
	if (sim_run(argv, SIM_RUN_TIMEOUT_MS, &out, exit_status) != MSGR_OK) {
		sim_req_error(cx->req, 500, "msgrctl could not be started (MSGRCTL)");
		msgr_buf_free(&out);
		return NULL;
	}
	if ((text = shown_output(cx->w, &out)) == NULL)
		sim_req_error(cx->req, 500, "out of memory");
	msgr_buf_free(&out);
	return text;
}

static void
api_page_send(struct sim_ctx *cx, const json_t *body)
{
	const char *text = json_string_value(json_object_get(body, "text"));
	const json_t *tagv = json_object_get(body, "tag");
	const char *args[12];
	char psid[SIM_PSID_LEN + 1], note[NOTE_MAX + 32];
	char *out;
	size_t n = 0, keep;
	int page, user, status = -1;

	if (page_user(cx, body, &page, &user) != 0)
		return;
	if (text == NULL || text[0] == '\0' || strlen(text) > MSGR_MAX_TEXT_BYTES) {
		sim_req_error(cx->req, 400, "text: a non-empty string is needed");
		return;
	}
	if (tagv != NULL && !json_is_null(tagv) && (!json_is_string(tagv) ||
	    strcmp(json_string_value(tagv), "HUMAN_AGENT") != 0)) {
		sim_req_error(cx->req, 400, "tag: only HUMAN_AGENT");
		return;
	}
	sim_world_lock(cx->w);
	sim_world_psid(cx->w, page, user, psid);
	sim_world_unlock(cx->w);
	args[n++] = "send";
	args[n++] = "--connector";
	args[n++] = cx->w->pages[page].conn->id;
	args[n++] = "--to";
	args[n++] = psid;
	if (json_is_string(tagv)) {
		args[n++] = "--tag";
		args[n++] = "HUMAN_AGENT";
		args[n++] = "--type";
		args[n++] = "MESSAGE_TAG";
	}
	args[n++] = "--";            /* a text starting with '-' is still the text */
	args[n++] = text;
	if ((out = run_ctl(cx, args, n, &status)) == NULL)
		return;
	/* What the connector said, beside the chat: its first NOTE_MAX bytes, cut between two
	 * characters (out is valid UTF-8) and without the last line's end. */
	keep = strlen(out);
	if (keep > NOTE_MAX) {
		keep = NOTE_MAX;
		while (keep > 0 && ((unsigned char)out[keep] & 0xC0) == 0x80)
			keep--;
	}
	while (keep > 0 && out[keep - 1] == '\n')
		keep--;
	snprintf(note, sizeof(note), "msgrctl send: %.*s", (int)keep, out);
	sim_world_lock(cx->w);
	sim_world_add_item(cx->w, page, user, json_pack("{s:s, s:s, s:s}", "from", "system",
	    "kind", "note", "text", note));
	sim_world_unlock(cx->w);
	reply(cx, 200, json_pack("{s:b, s:i, s:s}", "ok", status == 0, "exit", status, "output",
	    out));
	free(out);
}

static void
api_queue(struct sim_ctx *cx)
{
	static const char *const args[] = { "status" };
	int status = -1;
	char *out = run_ctl(cx, args, 1, &status);

	if (out == NULL)
		return;
	reply(cx, 200, json_pack("{s:s, s:i}", "text", out, "exit", status));
	free(out);
}

/* ---- the rest ---- */

static void
api_users(struct sim_ctx *cx, const json_t *body)
{
	const json_t *nv = json_object_get(body, "name");
	json_t *j = NULL;
	msgr_result rc;
	int idx = -1;

	if (nv != NULL && !json_is_null(nv) && !json_is_string(nv)) {
		sim_req_error(cx->req, 400, "name: a string is needed");
		return;
	}
	sim_world_lock(cx->w);
	rc = sim_world_add_user(cx->w, json_string_value(nv), &idx);
	if (rc == MSGR_OK)
		j = sim_world_user_json(cx->w, idx);
	sim_world_unlock(cx->w);
	if (rc == MSGR_ERR_LIMIT)
		sim_req_error(cx->req, 400, "too many users");
	else if (rc != MSGR_OK)
		sim_req_error(cx->req, 400, "name: 1 to 100 printable characters, no space at "
		    "either end");
	else
		reply(cx, 200, j);
}

static void
api_fail(struct sim_ctx *cx, const json_t *body)
{
	const json_t *mv = json_object_get(body, "mode"), *cv = json_object_get(body, "count");
	char buf[32];
	const char *name = json_string_value(mv);
	json_int_t count = 1;
	int mode;

	/* 613 may come as a number or as text. */
	if (json_is_integer(mv)) {
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(mv));
		name = buf;
	}
	if ((mode = sim_fail_parse(name)) < 0) {
		sim_req_error(cx->req, 400, "mode: 613, 10, 190, 551, 500, hang or none");
		return;
	}
	/* none clears whatever count comes with it. */
	if (mode != SIM_FAIL_NONE && cv != NULL && (!json_is_integer(cv) ||
	    (count = json_integer_value(cv)) < 1 || count > FAIL_COUNT_MAX)) {
		sim_req_error(cx->req, 400, "count: 1 to 1000000");
		return;
	}
	sim_world_lock(cx->w);
	cx->w->fail = (enum sim_fail)mode;
	cx->w->fail_left = mode == SIM_FAIL_NONE ? 0 : (long)count;
	sim_world_unlock(cx->w);
	reply(cx, 200, json_pack("{s:s?, s:I}", "mode", sim_fail_name((enum sim_fail)mode),
	    "remaining", mode == SIM_FAIL_NONE ? (json_int_t)0 : count));
}

static void
api_batch(struct sim_ctx *cx, const json_t *body)
{
	const json_t *on = json_object_get(body, "on");
	json_t *flushed = NULL;
	size_t pending;

	if (!json_is_boolean(on)) {
		sim_req_error(cx->req, 400, "on: true or false");
		return;
	}
	sim_world_lock(cx->w);
	cx->w->batch_on = json_is_true(on);
	sim_world_unlock(cx->w);
	/* Off: what is held goes now (nothing is left behind a switch nobody watches). */
	if (!json_is_true(on) && (flushed = sim_hook_flush(cx)) == NULL) {
		sim_req_error(cx->req, 500, "out of memory");
		return;
	}
	sim_world_lock(cx->w);
	pending = json_array_size(cx->w->held);
	sim_world_unlock(cx->w);
	reply(cx, 200, json_pack("{s:b, s:I, s:o*}", "on", json_is_true(on), "pending",
	    (json_int_t)pending, "flushed", flushed));
}

static json_t *
clock_json(struct sim_world *w)
{
	json_t *j;

	sim_world_lock(w);
	j = json_pack("{s:I, s:I, s:b}", "offset_s", (json_int_t)w->offset_s, "now_ms",
	    (json_int_t)sim_world_now_ms(w), "enabled", w->cfg->simulator.clock_file != NULL);
	sim_world_unlock(w);
	return j;
}

static void
api_clock(struct sim_ctx *cx, const json_t *body)
{
	struct sim_world *w = cx->w;
	const json_t *adv = json_object_get(body, "advance_s");
	long long next;
	msgr_result rc = MSGR_OK;

	if (json_is_true(json_object_get(body, "reset"))) {
		next = 0;
	} else if (json_is_integer(adv) && json_integer_value(adv) >= 0 &&
	    json_integer_value(adv) <= SIM_CLOCK_MAX_OFFSET_S) {
		next = -1;
	} else {
		sim_req_error(cx->req, 400, "advance_s (0 to a year, in seconds) or reset: true");
		return;
	}
	sim_world_lock(w);
	if (next < 0)
		next = w->offset_s + json_integer_value(adv);
	if (next > SIM_CLOCK_MAX_OFFSET_S) {
		sim_world_unlock(w);
		sim_req_error(cx->req, 400, "the clock goes at most a year ahead");
		return;
	}
	/* The file first: the connector and Facebook's side move together or not at all. */
	if (w->cfg->simulator.clock_file != NULL)
		rc = sim_clock_write(w->cfg->simulator.clock_file, next);
	if (rc == MSGR_OK)
		w->offset_s = next;
	sim_world_unlock(w);
	if (rc != MSGR_OK) {
		sim_req_error(cx->req, 500, "simulator.clock_file could not be written");
		return;
	}
	reply(cx, 200, clock_json(w));
}

static void
api_echoes(struct sim_ctx *cx, const json_t *body)
{
	const json_t *on = json_object_get(body, "on");

	if (!json_is_boolean(on)) {
		sim_req_error(cx->req, 400, "on: true or false");
		return;
	}
	sim_world_lock(cx->w);
	cx->w->echoes = json_is_true(on);
	sim_world_unlock(cx->w);
	reply(cx, 200, json_pack("{s:b}", "echoes", json_is_true(on)));
}

/* ---- dispatch ---- */

static void
wrong_method(struct sim_ctx *cx, const char *allow)
{
	char hdr[32];
	const char *body = "{\"error\":\"method not allowed\"}";

	snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
	snprintf(cx->req->note, sizeof(cx->req->note), "method not allowed");
	sim_req_respond(cx->req, 405, "application/json", hdr, body, strlen(body));
}

static void
serve_get(struct sim_ctx *cx, const char *sub)
{
	long long since;
	int page, user;

	if (strcmp(sub, "world") == 0) {
		reply(cx, 200, sim_world_json(cx->w));
	} else if (strcmp(sub, "conversation") == 0) {
		if (page_user(cx, NULL, &page, &user) == 0 && (since = since_of(cx)) >= 0)
			reply(cx, 200, sim_world_conv_json(cx->w, page, user, since));
	} else if (strcmp(sub, "log") == 0) {
		if ((since = since_of(cx)) >= 0)
			reply(cx, 200, sim_world_log_json(cx->w, since));
	} else if (strcmp(sub, "queue") == 0) {
		api_queue(cx);
	} else if (strcmp(sub, "transcript") == 0) {
		if (page_user(cx, NULL, &page, &user) == 0)
			reply(cx, 200, sim_transcript_build(cx->w, page, user));
	}
}

static void
serve_post(struct sim_ctx *cx, const char *sub, json_t *body)
{
	int page, user, status = 200;

	if (strcmp(sub, "users") == 0) {
		api_users(cx, body);
	} else if (strcmp(sub, "event") == 0) {
		if (page_user(cx, body, &page, &user) == 0) {
			json_t *ans = sim_hook_user_event(cx, page, user, body, &status);

			reply(cx, status, ans);
		}
	} else if (strcmp(sub, "inbox") == 0) {
		if (page_user(cx, body, &page, &user) == 0) {
			json_t *ans = sim_hook_inbox(cx, page, user, body, &status);

			reply(cx, status, ans);
		}
	} else if (strcmp(sub, "page_send") == 0) {
		api_page_send(cx, body);
	} else if (strcmp(sub, "fail") == 0) {
		api_fail(cx, body);
	} else if (strcmp(sub, "redeliver") == 0) {
		json_t *ans = sim_hook_redeliver(cx, &status);

		reply(cx, status, ans);
	} else if (strcmp(sub, "batch") == 0) {
		api_batch(cx, body);
	} else if (strcmp(sub, "batch/flush") == 0) {
		reply(cx, 200, sim_hook_flush(cx));
	} else if (strcmp(sub, "clock") == 0) {
		api_clock(cx, body);
	} else if (strcmp(sub, "replay") == 0) {
		long wait_ms = replay_wait_of(cx);
		json_t *ans;

		if (wait_ms > 0) {
			ans = sim_transcript_replay(cx, body, wait_ms, &status);
			reply(cx, status, ans);
		}
	} else if (strcmp(sub, "echoes") == 0) {
		api_echoes(cx, body);
	}
}

void
sim_api_serve(struct sim_ctx *cx, const char *sub)
{
	static const char *const gets[] = { "world", "conversation", "log", "queue", "transcript",
		NULL };
	static const char *const posts[] = { "users", "event", "inbox", "page_send", "fail",
		"redeliver", "batch", "batch/flush", "clock", "replay", "echoes", NULL };
	const char *m = cx->req->head.method;
	json_t *body;
	size_t i;
	int is_get = 0, is_post = 0;

	for (i = 0; gets[i] != NULL; i++)
		is_get |= strcmp(sub, gets[i]) == 0;
	for (i = 0; posts[i] != NULL; i++)
		is_post |= strcmp(sub, posts[i]) == 0;
	if (!is_get && !is_post) {
		sim_req_error(cx->req, 404, "no such path");
		return;
	}
	if (is_get) {
		if (strcmp(m, "GET") != 0)
			wrong_method(cx, "GET");
		else
			serve_get(cx, sub);
		return;
	}
	if (strcmp(m, "POST") != 0) {
		wrong_method(cx, "POST");
		return;
	}
	if ((body = body_object(cx)) == NULL)
		return;
	serve_post(cx, sub, body);
	json_decref(body);
}
