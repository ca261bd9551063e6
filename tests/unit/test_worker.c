/* Unit tests: the worker (lib/worker.h) through struct msgr_worker_hooks: a temp SQLite
 * store, a clock the tests move and a fake Facebook answering every Graph API call, so each
 * rule of docs/worker.md is checked call by call: per-conversation order, retry with backoff,
 * permanent failures recorded, pauses (190, 10/1893063) and their probes, the messaging window,
 * the outbox's exactly-once marks. And the backoff itself (exponential, jittered, capped, first
 * retry within 2 s). */
#include "unit.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "event.h"
#include "log.h"
#include "pacing.h"
#include "store.h"
#include "worker.h"
#include "unit_sqlite.h"

static void
test_first_retry_within_two_seconds(void **state)
{
	double r;

	(void)state;
	for (r = 0.0; r < 1.0; r += 0.05) {
		long long d = msgr_worker_backoff_ms(0, r, 0);
		assert_true(d >= MSGR_RETRY_FIRST_MS / 2);
		assert_true(d <= 2000);
	}
}

static void
test_grows_exponentially_then_caps(void **state)
{
	long long prev = 0, d;
	int a;

	(void)state;
	/* With the same jitter draw, each try waits twice the one before until the cap. */
	for (a = 0; a < 40; a++) {
		d = msgr_worker_backoff_ms(a, 0.999, 0);
		assert_true(d <= MSGR_RETRY_CAP_MS);
		if (prev * 2 <= MSGR_RETRY_CAP_MS / 2)
			assert_true(d >= prev * 2 - 2);
		assert_true(d >= prev);
		prev = d;
	}
	assert_true(prev >= MSGR_RETRY_CAP_MS * 99 / 100);
	/* a huge attempt count does not overflow */
	assert_true(msgr_worker_backoff_ms(1 << 30, 0.5, 0) <= MSGR_RETRY_CAP_MS);
}

static void
test_jitter_spreads(void **state)
{
	(void)state;
	/* The draw moves the delay within [d/2, d]: two processes rarely retry together. */
	assert_int_equal(msgr_worker_backoff_ms(3, 0.0, 0), 4000);
	assert_true(msgr_worker_backoff_ms(3, 0.99, 0) > 7900);
	/* a draw outside [0, 1) is taken as the middle */
	assert_int_equal(msgr_worker_backoff_ms(3, 7.0, 0), 6000);
	assert_int_equal(msgr_worker_backoff_ms(3, -1.0, 0), 6000);
}

static void
test_hint_raises_but_is_capped(void **state)
{
	(void)state;
	/* A usage header's time to regain access wins when longer... */
	assert_int_equal(msgr_worker_backoff_ms(0, 0.5, 60000), 60000);
	/* ...never shortens the backoff... */
	assert_int_equal(msgr_worker_backoff_ms(3, 0.0, 10), 4000);
	/* ...and never waits past the cap. */
	assert_int_equal(msgr_worker_backoff_ms(0, 0.5, 3600000), MSGR_RETRY_CAP_MS);
}

/* ---- the worker against a fake Facebook ---- */

#define PAGE   "222"
#define U1     "333"
#define U2     "444"
#define T0     1800000000000LL          /* the fake clock's start (2027) */
#define HOUR   3600000LL
#define MAX_CALLS 64
#define MAX_SCRIPT 16

/* One call the worker made, as the fake saw it. */
struct seen {
	enum msgr_call_kind kind;
	char to[80];          /* the recipient, or the psid of a thread call or a profile */
	char what[160];       /* a message's text, "[mark_seen]", "[image URL]", "[attachment ID]",
	                         a pass's target, an upload's URL */
	char token[32];       /* the page token it carried */
	char meta[1100];      /* a message's metadata ("" none) */
	long long lease;      /* a message's: its event's lease in the store as it left */
};

/* The answer to give to the next call of a kind: a Graph error (code, subcode), a network
 * failure (code -1), or success (code 0). */
struct answer {
	enum msgr_call_kind kind;
	long code;
	long subcode;
	long long retry_after_ms;
};

struct fx {
	char dir[64];
	char path[128];
	char stories[512];
	struct msgr_store *st;
	struct msgr_config cfg;
	struct msgr_connector conn;
	struct msgr_worker *w;
	long long now;
	double draw;                    /* what random01 returns */
	struct seen calls[MAX_CALLS];
	size_t n_calls;
	struct answer script[MAX_SCRIPT];
	size_t n_script;
	int next_id;
	long long call_ms;              /* how long each call takes on the fake clock */
};

static long long
fake_now(void *arg)
{
	struct fx *f = arg;
	return f->now;
}

static double
fake_random(void *arg)
{
	struct fx *f = arg;
	return f->draw;
}

/* Queues the answer for the next call of kind (calls of other kinds are answered OK). */
static void
script(struct fx *f, enum msgr_call_kind kind, long code, long subcode)
{
	assert_true(f->n_script < MAX_SCRIPT);
	f->script[f->n_script].kind = kind;
	f->script[f->n_script].code = code;
	f->script[f->n_script].subcode = subcode;
	f->script[f->n_script].retry_after_ms = 0;
	f->n_script++;
}

static void
describe(const struct msgr_call *call, struct seen *s)
{
	const json_t *b = call->body;
	const json_t *msg = json_object_get(b, "message");
	const json_t *att = json_object_get(msg, "attachment");
	const char *t;

	s->kind = call->kind;
	snprintf(s->token, sizeof(s->token), "%s", call->conn->call_token);
	switch (call->kind) {
	case MSGR_CALL_SEND:
		t = json_string_value(json_object_get(json_object_get(b, "recipient"), "id"));
		snprintf(s->to, sizeof(s->to), "%s", t ? t : "?");
		if ((t = json_string_value(json_object_get(b, "sender_action"))) != NULL)
			snprintf(s->what, sizeof(s->what), "[%s]", t);
		else if ((t = json_string_value(json_object_get(msg, "text"))) != NULL)
			snprintf(s->what, sizeof(s->what), "%s", t);
		else if ((t = json_string_value(json_object_get(json_object_get(att, "payload"),
		    "attachment_id"))) != NULL)
			snprintf(s->what, sizeof(s->what), "[attachment %s]", t);
		else
			snprintf(s->what, sizeof(s->what), "[other]");
		t = json_string_value(json_object_get(msg, "metadata"));
		snprintf(s->meta, sizeof(s->meta), "%s", t ? t : "");
		break;
	case MSGR_CALL_PASS_THREAD:
		snprintf(s->to, sizeof(s->to), "%s", call->psid);
		snprintf(s->what, sizeof(s->what), "%s", call->target);
		break;
	case MSGR_CALL_UPLOAD:
		snprintf(s->what, sizeof(s->what), "%s %s", call->type, call->url);
		break;
	case MSGR_CALL_TAKE_THREAD:
	case MSGR_CALL_PROFILE:
		snprintf(s->to, sizeof(s->to), "%s", call->psid);
		break;
	}
}

/* Facebook, as the worker's hook: records the call, answers from the script or with success. */
static msgr_result
fake_graph(void *arg, const struct msgr_call *call, struct msgr_graph_result *res)
{
	struct fx *f = arg;
	struct answer a = { call->kind, 0, 0, 0 };
	size_t i;

	assert_true(f->n_calls < MAX_CALLS);
	describe(call, &f->calls[f->n_calls++]);
	if (call->kind == MSGR_CALL_SEND && json_object_get(call->body, "message") != NULL) {
		char q[256];

		/* A message's in-flight mark is committed before it leaves, and with it the
		 * renewal before it, if one was made. */
		snprintf(q, sizeof(q), "SELECT lease_until FROM events WHERE state = 0 AND"
		    " user_id = '%s'", f->calls[f->n_calls - 1].to);
		f->calls[f->n_calls - 1].lease = unit_sqlite_count(f->path, q);
	}
	f->now += f->call_ms;
	for (i = 0; i < f->n_script; i++) {
		if (f->script[i].kind == call->kind) {
			a = f->script[i];
			memmove(&f->script[i], &f->script[i + 1],
			    (f->n_script - i - 1) * sizeof(f->script[0]));
			f->n_script--;
			break;
		}
	}
	if (a.code < 0) {
		snprintf(res->transport_error, sizeof(res->transport_error), "connection refused");
		return res->rc = msgr_graph_classify(0, 0, 0, 0);
	}
	res->transport_ok = 1;
	if (a.code > 0) {
		res->http_status = 400;
		res->code = a.code;
		res->subcode = a.subcode;
		res->usage.retry_after_ms = a.retry_after_ms;
		snprintf(res->message, sizeof(res->message), "fake error %ld", a.code);
		return res->rc = msgr_graph_classify(1, 400, a.code, a.subcode);
	}
	res->http_status = 200;
	f->next_id++;
	switch (call->kind) {
	case MSGR_CALL_SEND:
		snprintf(res->message_id, sizeof(res->message_id), "m_%d", f->next_id);
		break;
	case MSGR_CALL_UPLOAD:
		snprintf(res->attachment_id, sizeof(res->attachment_id), "%d", 9000 + f->next_id);
		break;
	case MSGR_CALL_PROFILE:
		res->json = json_pack("{s:s, s:s}", "first_name", "Ana", "last_name", "Lima");
		break;
	default:
		res->json = json_pack("{s:b}", "success", 1);
		break;
	}
	return res->rc = MSGR_OK;
}

/* The fixture's clock, randomness and Facebook, for a worker of f's. */
static void
fake_hooks(struct fx *f, struct msgr_worker_hooks *h)
{
	memset(h, 0, sizeof(*h));
	h->now_ms = fake_now;
	h->random01 = fake_random;
	h->graph = fake_graph;
	h->arg = f;
}

static int
worker_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct msgr_store_options o;
	struct msgr_worker_hooks h;
	char *errors = NULL;

	if (f == NULL)
		return -1;
	msgr_log_init("test_worker", MSGR_LOG_ERROR);
	snprintf(f->dir, sizeof(f->dir), "/tmp/msgr-worker-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
	snprintf(f->stories, sizeof(f->stories), "%s/worker/stories.conf", unit_data_dir());
	memset(&o, 0, sizeof(o));
	o.path = f->path;
	o.wal = 1;
	o.busy_timeout_ms = 2000;
	if (msgr_store_open(&o, &f->st) != MSGR_OK)
		return -1;
	f->conn.id = (char *)"c1";
	f->conn.path = (char *)"/c1";
	f->conn.app_id = (char *)"111";
	f->conn.page_id = (char *)PAGE;
	f->conn.call_token = (char *)"token-one";
	f->conn.webhook_token = (char *)"verify";
	f->conn.secret = (char *)"app-secret";
	f->conn.bot.type = MSGR_BOT_STORIES;
	f->conn.bot.file = f->stories;
	f->conn.send_rate = 50;
	f->cfg.connectors = &f->conn;
	f->cfg.n_connectors = 1;
	f->cfg.worker.lease_ms = 30000;
	f->cfg.worker.retry_max_s = 86400;
	f->now = T0;
	f->draw = 0.0;
	fake_hooks(f, &h);
	if (msgr_worker_open(&f->cfg, f->st, NULL, "test:1", &h, &f->w, &errors) != MSGR_OK) {
		free(errors);
		return -1;
	}
	*state = f;
	return 0;
}

static int
worker_teardown(void **state)
{
	struct fx *f = *state;
	struct dirent *d;
	DIR *dir;
	char p[512];

	msgr_worker_close(f->w);
	msgr_store_close(f->st);
	if ((dir = opendir(f->dir)) != NULL) {
		while ((d = readdir(dir)) != NULL) {
			if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", f->dir, d->d_name);
			unlink(p);
		}
		closedir(dir);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Queues one event (its own transaction, so ids follow call order). raw is the messaging
 * object; key its dedup identity. */
static void
put_raw(struct fx *f, enum msgr_event_kind kind, const char *user, int standby, long long ts,
    const char *key, const char *raw)
{
	struct msgr_store_event e;
	size_t nn = 0, nd = 0;

	memset(&e, 0, sizeof(e));
	e.connector_id = "c1";
	e.page_id = PAGE;
	e.user_id = user;
	e.kind = (int)kind;
	e.standby = standby;
	e.timestamp = ts;
	e.key = key;
	e.raw = raw;
	assert_int_equal(msgr_store_enqueue(f->st, &e, 1, NULL, 0, &nn, &nd), MSGR_OK);
	assert_int_equal(nn, 1);
}

/* A text message from user at ts. */
static void
put_text(struct fx *f, const char *user, long long ts, const char *mid, const char *text)
{
	char raw[512];

	snprintf(raw, sizeof(raw), "{\"sender\":{\"id\":\"%s\"},\"recipient\":{\"id\":\"" PAGE "\"},"
	    "\"timestamp\":%lld,\"message\":{\"mid\":\"%s\",\"text\":\"%s\"}}", user, ts, mid, text);
	put_raw(f, MSGR_EVENT_MESSAGE, user, 0, ts, mid, raw);
}

/* Runs the worker until nothing is due; returns its counts. */
static struct msgr_worker_counts
run(struct fx *f)
{
	struct msgr_worker_counts c;

	assert_int_equal(msgr_worker_run(f->w, 0, &c), MSGR_OK);
	return c;
}

static struct msgr_store_stats
stats(struct fx *f)
{
	struct msgr_store_stats s;

	assert_int_equal(msgr_store_stats(f->st, f->now, &s), MSGR_OK);
	return s;
}

/* The texts (and sender actions, attachments) sent to user, in order, joined by " | ". */
static const char *
sent_to(struct fx *f, const char *user)
{
	static char out[1024];
	size_t i;

	out[0] = '\0';
	for (i = 0; i < f->n_calls; i++) {
		if (f->calls[i].kind != MSGR_CALL_SEND || strcmp(f->calls[i].to, user) != 0)
			continue;
		if (out[0] != '\0')
			strncat(out, " | ", sizeof(out) - strlen(out) - 1);
		strncat(out, f->calls[i].what, sizeof(out) - strlen(out) - 1);
	}
	return out;
}

static size_t
count_calls(struct fx *f, enum msgr_call_kind kind)
{
	size_t i, n = 0;

	for (i = 0; i < f->n_calls; i++)
		n += f->calls[i].kind == kind;
	return n;
}

/* The one recent failure line; asserts there is exactly one. */
static void
assert_failure(struct fx *f, const char *part)
{
	char **lines = NULL;
	size_t n = 0;

	assert_int_equal(msgr_store_recent_failures(f->st, 10, &lines, &n), MSGR_OK);
	assert_int_equal(n, 1);
	if (strstr(lines[0], part) == NULL)
		fail_msg("failure \"%s\" does not say \"%s\"", lines[0], part);
	msgr_store_lines_free(lines, n);
}

#define SEEN_TYPING "[mark_seen] | [typing_on] | "

/* Each conversation's events are answered in their timestamp order (not the order they were
 * stored), each once, and one conversation does not wait for another. */
static void
test_order_per_conversation(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_counts c;
	struct msgr_store_stats s;

	put_text(f, U1, T0 - 2000, "m-u1-late", "what");
	put_text(f, U1, T0 - 3000, "m-u1-early", "hello");
	put_text(f, U2, T0 - 2500, "m-u2", "hello");
	c = run(f);
	assert_int_equal(c.jobs, 3);
	assert_int_equal(c.sent, 9);
	assert_int_equal(c.retried + c.failed, 0);
	assert_string_equal(sent_to(f, U1),
	    SEEN_TYPING "Hello Ana!" " | " SEEN_TYPING "Sorry?");
	assert_string_equal(sent_to(f, U2), SEEN_TYPING "Hello Ana!");
	/* The profile is fetched once per user and then read from the cache. */
	assert_int_equal(count_calls(f, MSGR_CALL_PROFILE), 2);
	s = stats(f);
	assert_int_equal(s.done, 3);
	assert_int_equal(s.pending, 0);
	/* Nothing is sent twice: a second run finds nothing to do. */
	c = run(f);
	assert_int_equal(c.jobs, 0);
	assert_int_equal(f->n_calls, 11);
}

/* A transient failure puts the job back with exponential backoff (1 s x 2^attempt, jitter in
 * [d/2, d]: the draw 0 gives d/2), and the retry sends only what was not sent yet. */
static void
test_transient_retried_with_backoff(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_counts c;
	struct msgr_store_stats s;

	put_text(f, U1, T0 - 1000, "m1", "hello");
	script(f, MSGR_CALL_SEND, 0, 0);        /* mark_seen */
	script(f, MSGR_CALL_SEND, 0, 0);        /* typing_on */
	script(f, MSGR_CALL_SEND, 2, 0);        /* the message: "service unavailable" */
	script(f, MSGR_CALL_SEND, -1, 0);       /* then no answer at all */
	c = run(f);
	assert_int_equal(c.jobs, 1);
	assert_int_equal(c.retried, 1);
	assert_int_equal(c.sent, 2);
	s = stats(f);
	assert_int_equal(s.pending, 1);
	assert_int_equal(s.retrying, 1);
	assert_int_equal(s.waiting, 1);
	/* First retry after 500 ms: not a millisecond before. */
	f->now += 499;
	assert_int_equal(run(f).jobs, 0);
	f->now += 1;
	c = run(f);
	assert_int_equal(c.jobs, 1);
	assert_int_equal(c.retried, 1);
	/* Second retry after 1 s. */
	f->now += 999;
	assert_int_equal(run(f).jobs, 0);
	f->now += 1;
	c = run(f);
	assert_int_equal(c.jobs, 1);
	assert_int_equal(c.sent, 1);
	assert_string_equal(sent_to(f, U1),
	    SEEN_TYPING "Hello Ana!" " | " "Hello Ana!" " | " "Hello Ana!");
	s = stats(f);
	assert_int_equal(s.done, 1);
	assert_int_equal(s.pending, 0);
}

/* The usage headers' time to regain access lengthens the wait; a job older than
 * worker.retry_max_s is given up instead of retried. */
static void
test_retry_hint_and_give_up(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_counts c;

	put_text(f, U1, T0 - 1000, "m1", "hello");
	script(f, MSGR_CALL_SEND, 613, 0);      /* rate limited: access back in a minute */
	f->script[0].retry_after_ms = 60000;
	c = run(f);
	assert_int_equal(c.retried, 1);
	f->now += 59999;
	assert_int_equal(run(f).jobs, 0);
	f->now += 1;
	script(f, MSGR_CALL_SEND, 2, 0);
	c = run(f);
	assert_int_equal(c.retried, 1);
	/* A day and a second after it came, the next transient failure gives it up. */
	f->now = T0 + 86401000;
	script(f, MSGR_CALL_SEND, 2, 0);
	c = run(f);
	assert_int_equal(c.jobs, 1);
	assert_int_equal(c.failed, 1);
	assert_int_equal(stats(f).failed, 1);
	assert_failure(f, "gave up after 3 tries: (#2/0) fake error 2");
}

/* A permanent refusal fails the job with Facebook's words and is never retried; a refused
 * sender action does not fail the answer. */
static void
test_permanent_recorded(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_counts c;

	put_text(f, U1, T0 - 1000, "m1", "hello");
	script(f, MSGR_CALL_SEND, 100, 0);      /* mark_seen refused */
	script(f, MSGR_CALL_SEND, 0, 0);        /* typing_on */
	script(f, MSGR_CALL_SEND, 551, 0);      /* the message: "person isn't available" */
	c = run(f);
	assert_int_equal(c.jobs, 1);
	assert_int_equal(c.failed, 1);
	assert_int_equal(c.retried, 0);
	assert_int_equal(stats(f).failed, 1);
	assert_int_equal(stats(f).pending, 0);
	assert_failure(f, "c1 kind=0 (#551/0) fake error 551");
	f->now += HOUR;
	assert_int_equal(run(f).jobs, 0);
	assert_int_equal(count_calls(f, MSGR_CALL_SEND), 3);

	/* The same refusal of the typing indicator alone: the answer still goes. */
	put_text(f, U2, T0 - 1000, "m2", "hello");
	script(f, MSGR_CALL_SEND, 0, 0);
	script(f, MSGR_CALL_SEND, 100, 0);
	c = run(f);
	assert_int_equal(c.failed, 0);
	assert_int_equal(stats(f).done, 1);
	assert_string_equal(sent_to(f, U2), SEEN_TYPING "Hello Ana!");
}

static void
assert_paused(struct fx *f, enum msgr_pause_scope scope, const char *id, const char *reason)
{
	struct msgr_pause *rows = NULL;
	size_t n = 0;

	assert_int_equal(msgr_store_pause_list(f->st, 10, &rows, &n), MSGR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].scope, scope);
	assert_string_equal(rows[0].id, id);
	assert_string_equal(rows[0].reason, reason);
	free(rows);
}

static void
assert_not_paused(struct fx *f)
{
	struct msgr_pause *rows = NULL;
	size_t n = 1;

	assert_int_equal(msgr_store_pause_list(f->st, 10, &rows, &n), MSGR_OK);
	assert_int_equal(n, 0);
	free(rows);
}

/* 190 pauses the connector: its jobs wait (5 s between looks) without a call, until its
 * token changes in the config; the queue is kept. */
static void
test_190_pauses_connector_until_token_changes(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_counts c;

	put_text(f, U1, T0 - 1000, "m1", "hello");
	script(f, MSGR_CALL_SEND, 190, 0);
	c = run(f);
	assert_int_equal(c.retried, 1);
	assert_int_equal(c.sent, 0);
	assert_paused(f, MSGR_PAUSE_CONNECTOR, "c1", "(#190/0) fake error 190");
	assert_int_equal(stats(f).pending, 1);
	f->now += 4999;
	assert_int_equal(run(f).jobs, 0);
	/* Looked at again after 5 s: still paused, nothing is called. */
	f->now += 1;
	c = run(f);
	assert_int_equal(c.jobs, 1);
	assert_int_equal(c.retried, 1);
	assert_int_equal(count_calls(f, MSGR_CALL_SEND), 1);
	/* A new token in the config ends the pause at the next look. */
	f->conn.call_token = (char *)"token-two";
	f->now += 5000;
	c = run(f);
	assert_int_equal(c.jobs, 1);
	assert_int_equal(c.sent, 3);
	assert_not_paused(f);
	assert_int_equal(stats(f).done, 1);
	assert_string_equal(f->calls[f->n_calls - 1].token, "token-two");
}

/* Without a new token, one job probes every 10 minutes; a probe that goes through ends the
 * pause. */
static void
test_190_probe_after_ten_minutes(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_counts c;

	put_text(f, U1, T0 - 1000, "m1", "hello");
	script(f, MSGR_CALL_SEND, 190, 0);
	run(f);
	/* Looked at every 5 s, no call until the probe is due. */
	f->now = T0 + 10 * 60000 - 1;
	c = run(f);
	assert_int_equal(c.jobs, 1);
	assert_int_equal(count_calls(f, MSGR_CALL_SEND), 1);
	f->now += 5000;
	script(f, MSGR_CALL_SEND, 190, 0);
	c = run(f);
	assert_int_equal(count_calls(f, MSGR_CALL_SEND), 2);      /* the probe, refused */
	assert_int_equal(c.retried, 1);
	assert_paused(f, MSGR_PAUSE_CONNECTOR, "c1", "(#190/0) fake error 190");
	/* The next probe goes through: the pause ends and the whole answer goes. */
	f->now += 10 * 60000;
	c = run(f);
	assert_int_equal(c.sent, 3);
	assert_not_paused(f);
	assert_int_equal(stats(f).done, 1);
}

/* 10/1893063 pauses the page, probed every 10 minutes; the probe's success ends it. */
static void
test_page_restricted_pauses_page(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_counts c;

	put_text(f, U1, T0 - 1000, "m1", "hello");
	put_text(f, U2, T0 - 1000, "m2", "hello");
	script(f, MSGR_CALL_SEND, 10, 1893063);
	c = run(f);
	assert_paused(f, MSGR_PAUSE_PAGE, PAGE, "(#10/1893063) fake error 10");
	/* The other conversation of the page waits too, without a call. */
	assert_int_equal(c.jobs, 2);
	assert_int_equal(c.retried, 2);
	assert_int_equal(count_calls(f, MSGR_CALL_SEND), 1);
	f->now += 5000;
	c = run(f);
	assert_int_equal(c.jobs, 2);
	assert_int_equal(count_calls(f, MSGR_CALL_SEND), 1);
	/* The probe, 10 minutes on, goes through: the pause ends for both. */
	f->now = T0 + 10 * 60000;
	c = run(f);
	assert_int_equal(c.sent, 6);
	assert_not_paused(f);
	assert_int_equal(stats(f).done, 2);
}

/* A message goes only within 24 hours of the user's last message, checked when it is sent:
 * outside, it fails locally as Facebook would refuse it; sender actions are not messages. */
static void
test_window(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_counts c;

	put_text(f, U1, T0 - 25 * HOUR, "m1", "hello");
	c = run(f);
	assert_int_equal(c.failed, 1);
	assert_string_equal(sent_to(f, U1), "[mark_seen] | [typing_on]");
	assert_failure(f, "outside the 24-hour messaging window (last user message 25 h ago)");

	/* Just inside when it came, past it at the retry: refused then. */
	put_text(f, U2, T0 - 24 * HOUR + 1000, "m2", "hello");
	script(f, MSGR_CALL_SEND, 0, 0);
	script(f, MSGR_CALL_SEND, 0, 0);
	script(f, MSGR_CALL_SEND, 2, 0);
	c = run(f);
	assert_int_equal(c.retried, 1);
	f->now += 2000;
	c = run(f);
	assert_int_equal(c.failed, 1);
	assert_string_equal(sent_to(f, U2), SEEN_TYPING "Hello Ana!");
	assert_int_equal(stats(f).failed, 2);
}

/* The lease is renewed before a call only when what is left of it would not cover the call's
 * whole timeout and a second more: nobody can take the job over before the call ends. */
static void
test_lease_renewed_when_short(void **state)
{
	struct fx *f = *state;
	long long t1;

	/* Quick calls: the message leaves under the claim's own lease. */
	f->cfg.graph.timeout_ms = 5000;
	f->call_ms = 1000;
	put_text(f, U1, T0 - 1000, "m1", "hello");
	assert_int_equal(run(f).sent, 3);
	assert_string_equal(sent_to(f, U1), SEEN_TYPING "Hello Ana!");
	assert_int_equal(f->calls[f->n_calls - 1].lease, T0 + 30000);
	/* Slow calls (profile, seen, typing: 9 s each): at the message 3 s of the lease are
	 * left, less than its timeout and a second: renewed from then. */
	f->call_ms = 9000;
	t1 = f->now;
	put_text(f, U2, t1 - 1000, "m2", "hello");
	assert_int_equal(run(f).sent, 3);
	assert_string_equal(sent_to(f, U2), SEEN_TYPING "Hello Ana!");
	assert_int_equal(f->calls[f->n_calls - 1].lease, t1 + 27000 + 30000);
}

/* The outbox: a plan is made once and each call marked done as Facebook confirms it, so a
 * job taken over after its worker died sends only what was not confirmed, without asking the
 * bot again. */
static void
test_exactly_once_marks(void **state)
{
	struct fx *f = *state;
	const char *plan[2] = {
		"{\"call\":\"send\",\"body\":{\"recipient\":{\"id\":\"" U1 "\"},"
		"\"messaging_type\":\"RESPONSE\",\"message\":{\"text\":\"planned 1\"}},"
		"\"optional\":false}",
		"{\"call\":\"send\",\"body\":{\"recipient\":{\"id\":\"" U1 "\"},"
		"\"messaging_type\":\"RESPONSE\",\"message\":{\"text\":\"planned 2\"}},"
		"\"optional\":false}",
	};
	struct msgr_outbox_item *it = NULL;
	struct msgr_job job;
	size_t n = 0, i;
	int64_t next;

	put_text(f, U1, T0 - 1000, "m1", "hello");
	/* A worker that died after Facebook confirmed the first call. */
	assert_int_equal(msgr_store_claim(f->st, "dead:1", f->now, 30000, &job), MSGR_OK);
	assert_int_equal(msgr_store_outbox_put(f->st, job.id, plan, 2, NULL), MSGR_OK);
	assert_int_equal(msgr_store_outbox_get(f->st, job.id, &it, &n), MSGR_OK);
	assert_int_equal(msgr_store_outbox_done(f->st, it[0].id, "m_before"), MSGR_OK);
	msgr_store_outbox_free(it, n);
	/* Its lease runs out; this worker takes the job over. */
	assert_int_equal(run(f).jobs, 0);
	f->now += 30000;
	assert_int_equal(run(f).sent, 1);
	assert_string_equal(sent_to(f, U1), "planned 2");
	assert_int_equal(count_calls(f, MSGR_CALL_PROFILE), 0);   /* the bot was not asked */
	assert_int_equal(msgr_store_outbox_get(f->st, job.id, &it, &n), MSGR_OK);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++)
		assert_int_equal(it[i].done, 1);
	msgr_store_outbox_free(it, n);
	next = job.id + 1;
	msgr_job_clear(&job);

	/* A plan of its own: every call is marked done as it is confirmed. */
	put_text(f, U2, T0 - 1000, "m2", "hello");
	script(f, MSGR_CALL_SEND, 0, 0);
	script(f, MSGR_CALL_SEND, 2, 0);
	run(f);
	assert_int_equal(msgr_store_outbox_get(f->st, next, &it, &n), MSGR_OK);
	assert_int_equal(n, 3);
	assert_int_equal(it[0].done, 1);
	assert_int_equal(it[1].done, 0);
	assert_int_equal(it[2].done, 0);
	msgr_store_outbox_free(it, n);
}

/* ---- the call in flight at a kill: echo tags (lib/echo.h) ---- */

/* The job of a text from user, claimed by a worker that then died, with a plan of two
 * messages (the second with the bot's metadata "bm") whose first call left: its outcome is
 * unknown. ids get the outbox rows. */
static void
died_in_flight(struct fx *f, const char *user, const char *mid, int64_t ids[2])
{
	char p0[256], p1[256];
	const char *plan[2] = { p0, p1 };
	struct msgr_job job;
	int tries = 0;

	snprintf(p0, sizeof(p0), "{\"call\":\"send\",\"body\":{\"recipient\":{\"id\":\"%s\"},"
	    "\"messaging_type\":\"RESPONSE\",\"message\":{\"text\":\"planned 1\"}},"
	    "\"optional\":false}", user);
	snprintf(p1, sizeof(p1), "{\"call\":\"send\",\"body\":{\"recipient\":{\"id\":\"%s\"},"
	    "\"messaging_type\":\"RESPONSE\",\"message\":{\"text\":\"planned 2\","
	    "\"metadata\":\"bm\"}},\"optional\":false}", user);
	put_text(f, user, T0 - 1000, mid, "hello");
	assert_int_equal(msgr_store_claim(f->st, "dead:1", f->now, 30000, &job), MSGR_OK);
	assert_int_equal(msgr_store_outbox_put(f->st, job.id, plan, 2, ids), MSGR_OK);
	assert_int_equal(msgr_store_outbox_attempt(f->st, ids[0], &tries), MSGR_OK);
	assert_int_equal(tries, 1);
	msgr_job_clear(&job);
}

/* Facebook's echo of a message the page sent to user, by app, with metadata. */
static void
put_echo(struct fx *f, const char *user, const char *mid, const char *app, const char *meta)
{
	char raw[1024];

	snprintf(raw, sizeof(raw), "{\"sender\":{\"id\":\"" PAGE "\"},\"recipient\":{\"id\":"
	    "\"%s\"},\"timestamp\":%lld,\"message\":{\"is_echo\":true,\"app_id\":%s,"
	    "\"mid\":\"%s\",\"metadata\":\"%s\",\"text\":\"planned 1\"}}", user, T0, app, mid,
	    meta);
	put_raw(f, MSGR_EVENT_ECHO, user, 0, T0, mid, raw);
}

static struct msgr_outbox_flight
flight(struct fx *f, int64_t id)
{
	struct msgr_outbox_flight fl;

	assert_int_equal(msgr_store_outbox_flight(f->st, id, &fl), MSGR_OK);
	return fl;
}

/* The dead worker's call went through: its echo, queued behind the job, names the outbox row,
 * so the row is marked done and only the rest of the plan is sent, each message tagged. */
static void
test_echo_proves_call_in_flight(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_counts c;
	int64_t ids[2];
	char meta[64];

	f->cfg.worker.echo_wait_ms = 200;
	died_in_flight(f, U1, "m1", ids);
	snprintf(meta, sizeof(meta), "msgr:o=%lld:1", (long long)ids[0]);
	put_echo(f, U1, "m-echo-1", "111", meta);
	f->now += 30000;   /* the dead worker's lease runs out */
	c = run(f);
	assert_int_equal(c.echoed, 1);
	assert_int_equal(c.repeated, 0);
	assert_int_equal(c.sent, 1);
	assert_string_equal(sent_to(f, U1), "planned 2");
	snprintf(meta, sizeof(meta), "msgr:o=%lld:1|bm", (long long)ids[1]);
	assert_string_equal(f->calls[0].meta, meta);
	assert_int_equal(flight(f, ids[0]).done, 1);
	assert_int_equal(flight(f, ids[1]).done, 1);
	assert_int_equal(flight(f, ids[1]).tries, 1);
	assert_int_equal(stats(f).done, 2);   /* the job and its echo */
}

/* No echo: sent again, the double risked counted. A page whose echoes were never seen is not
 * waited for (message_echoes is not subscribed). On one whose echoes arrive, the echo is
 * awaited until worker.echo_wait_ms after the call: 2 s in place, then the job is put back
 * until the time is up; an echo that comes meanwhile still proves the call. */
static void
test_no_echo_repeats(void **state)
{
	struct fx *f = *state;
	struct msgr_store_echo e;
	struct msgr_worker_counts c;
	long long t;
	int64_t ids[2];
	char meta[64];

	f->cfg.worker.echo_wait_ms = 60000;
	died_in_flight(f, U1, "m1", ids);
	f->now += 30000;
	t = msgr_clock_mono_ms();
	c = run(f);
	assert_true(msgr_clock_mono_ms() - t < 1000);
	assert_int_equal(c.echoed, 0);
	assert_int_equal(c.repeated, 1);
	assert_string_equal(sent_to(f, U1), "planned 1 | planned 2");
	/* The repeat is the row's second try, and says so. */
	snprintf(meta, sizeof(meta), "msgr:o=%lld:2", (long long)ids[0]);
	assert_string_equal(f->calls[0].meta, meta);
	assert_int_equal(flight(f, ids[0]).tries, 2);

	/* The page's echoes arrive (a person's, from the Page Inbox): now it is waited for. */
	memset(&e, 0, sizeof(e));
	snprintf(e.mid, sizeof(e.mid), "m-inbox");
	snprintf(e.page_id, sizeof(e.page_id), PAGE);
	snprintf(e.user_id, sizeof(e.user_id), U1);
	assert_int_equal(msgr_store_echo_put(f->st, &e), MSGR_OK);
	died_in_flight(f, U2, "m2", ids);
	f->now += 30000;
	t = msgr_clock_mono_ms();
	c = run(f);
	assert_true(msgr_clock_mono_ms() - t >= 2000);
	assert_int_equal(c.retried, 1);           /* put back until 60 s after the call */
	assert_int_equal(c.repeated, 0);
	assert_string_equal(sent_to(f, U2), "");
	/* Its echo comes meanwhile: the job, due again, sends only the rest. */
	snprintf(meta, sizeof(meta), "msgr:o=%lld:1", (long long)ids[0]);
	put_echo(f, U2, "m-echo-u2", "111", meta);
	f->now += 29000;
	c = run(f);
	assert_int_equal(c.echoed, 1);
	assert_int_equal(c.repeated, 0);
	assert_string_equal(sent_to(f, U2), "planned 2");

	/* None comes: sent again once the wait is over. */
	died_in_flight(f, "555", "m3", ids);
	f->now += 30000;
	c = run(f);
	assert_int_equal(c.retried, 1);
	f->now += 29000;
	c = run(f);
	assert_int_equal(c.echoed, 0);
	assert_int_equal(c.repeated, 1);
	assert_string_equal(sent_to(f, "555"), "planned 1 | planned 2");
}

/* Echoes that prove nothing: another app's (a person typing a tag in the Page Inbox), one of
 * another conversation, one naming a try never made, one naming an unknown row. */
static void
test_forged_echo_ignored(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_counts c;
	int64_t ids[2], other[2];
	char meta[64];

	f->cfg.worker.echo_wait_ms = 100;
	died_in_flight(f, U1, "m1", ids);
	died_in_flight(f, U2, "m2", other);
	snprintf(meta, sizeof(meta), "msgr:o=%lld:1", (long long)ids[0]);
	put_echo(f, U1, "e-other-app", "999", meta);
	put_echo(f, U2, "e-other-user", "111", meta);
	snprintf(meta, sizeof(meta), "msgr:o=%lld:2", (long long)ids[0]);
	put_echo(f, U1, "e-future-try", "111", meta);
	put_echo(f, U1, "e-unknown-row", "111", "msgr:o=987654:1");
	put_echo(f, U1, "e-look-alike", "111", "msgr:o=0:1");
	f->now += 30000;
	c = run(f);
	assert_int_equal(c.echoed, 0);
	assert_int_equal(c.repeated, 2);
	assert_string_equal(sent_to(f, U1), "planned 1 | planned 2");
	assert_string_equal(sent_to(f, U2), "planned 1 | planned 2");
}

/* Marks as calls go: a call refused with an answer is known not sent (settled, no wait on the
 * retry); a call without an answer stays in flight, so the retry looks for its echo. */
static void
test_in_flight_marks(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_counts c;
	int64_t ids[2];
	char meta[64];

	f->cfg.worker.echo_wait_ms = 100;
	died_in_flight(f, U1, "m1", ids);
	f->now += 30000;
	script(f, MSGR_CALL_SEND, 2, 0);        /* the repeat: refused, transient */
	c = run(f);
	assert_int_equal(c.repeated, 1);
	assert_int_equal(c.retried, 1);
	assert_int_equal(flight(f, ids[0]).inflight, 0);
	assert_int_equal(flight(f, ids[0]).tries, 2);
	f->now += 10000;
	script(f, MSGR_CALL_SEND, -1, 0);       /* the next: no answer */
	c = run(f);
	assert_int_equal(c.repeated, 0);        /* the refusal was known: nothing risked */
	assert_int_equal(c.retried, 1);
	assert_int_equal(flight(f, ids[0]).inflight, 1);
	assert_int_equal(flight(f, ids[0]).tries, 3);
	/* Its echo came after all: the retry sends only the rest. */
	snprintf(meta, sizeof(meta), "msgr:o=%lld:3", (long long)ids[0]);
	put_echo(f, U1, "m-echo-3", "111", meta);
	f->now += 20000;
	f->n_calls = 0;
	c = run(f);
	assert_int_equal(c.echoed, 1);
	assert_string_equal(sent_to(f, U1), "planned 2");
	assert_int_equal(flight(f, ids[0]).done, 1);
}

/* An event whose worker died three times holding it is given up (a crash, an OOM kill). */
static void
test_given_up_after_three_deaths(void **state)
{
	struct fx *f = *state;
	struct msgr_job job;
	int i;

	put_text(f, U1, T0 - 1000, "m1", "hello");
	for (i = 0; i < 3; i++) {
		assert_int_equal(msgr_store_claim(f->st, "dead:1", f->now, 30000, &job), MSGR_OK);
		msgr_job_clear(&job);
		f->now += 30000;
	}
	assert_int_equal(run(f).failed, 1);
	assert_int_equal(f->n_calls, 0);
	assert_failure(f, "given up: a worker died 3 times working this event");
}

/* An attachment sent by URL is uploaded once and sent by its id from then on. */
static void
test_attachment_uploaded_once(void **state)
{
	struct fx *f = *state;

	put_text(f, U1, T0 - 2000, "m1", "picture");
	put_text(f, U2, T0 - 1000, "m2", "picture");
	assert_int_equal(run(f).sent, 6);
	assert_int_equal(count_calls(f, MSGR_CALL_UPLOAD), 1);
	assert_int_equal(f->calls[3].kind, MSGR_CALL_UPLOAD);      /* after profile, seen, typing */
	assert_string_equal(f->calls[3].what, "image https://example.org/cat.png");
	assert_string_equal(sent_to(f, U1), SEEN_TYPING "[attachment 9004]");
	assert_string_equal(sent_to(f, U2), SEEN_TYPING "[attachment 9004]");
}

static struct msgr_conversation
conversation(struct fx *f, const char *user)
{
	struct msgr_conversation cv;

	assert_int_equal(msgr_store_conversation(f->st, PAGE, user, &cv), MSGR_OK);
	return cv;
}

/* A handover passes the thread to the Page Inbox after the answer; what then arrives on
 * standby is recorded, never answered, until the user writes on messaging again. */
static void
test_handover_and_standby(void **state)
{
	struct fx *f = *state;
	struct msgr_conversation cv;
	char raw[512];

	put_text(f, U1, T0 - 3000, "m1", "human");
	assert_int_equal(run(f).sent, 4);
	assert_int_equal(count_calls(f, MSGR_CALL_PASS_THREAD), 1);
	assert_string_equal(f->calls[f->n_calls - 1].what, "inbox");
	cv = conversation(f, U1);
	assert_int_equal(cv.owner, MSGR_OWNER_APP);
	assert_string_equal(cv.owner_app, "263902037430900");
	assert_int_equal(cv.owner_at, T0);
	assert_int_equal(cv.last_user_ts, T0 - 3000);
	snprintf(raw, sizeof(raw), "{\"sender\":{\"id\":\"" U1 "\"},\"recipient\":{\"id\":\"" PAGE
	    "\"},\"timestamp\":%lld,\"message\":{\"mid\":\"m2\",\"text\":\"hello\"}}", T0 - 2000);
	put_raw(f, MSGR_EVENT_MESSAGE, U1, 1, T0 - 2000, "m2", raw);
	assert_int_equal(run(f).sent, 0);
	/* The Page Inbox keeps the thread; the user's message still counts for the window. */
	cv = conversation(f, U1);
	assert_int_equal(cv.owner, MSGR_OWNER_APP);
	assert_int_equal(cv.last_user_ts, T0 - 2000);
	/* A person answers from the Page Inbox: an echo with its app id. */
	snprintf(raw, sizeof(raw), "{\"sender\":{\"id\":\"" PAGE "\"},\"recipient\":{\"id\":\""
	    U1 "\"},\"timestamp\":%lld,\"message\":{\"is_echo\":true,"
	    "\"app_id\":263902037430900,\"mid\":\"m-echo\",\"text\":\"Hi, Bea here\"}}",
	    T0 - 1500);
	put_raw(f, MSGR_EVENT_ECHO, U1, 0, T0 - 1500, "m-echo", raw);
	assert_int_equal(run(f).sent, 0);
	assert_int_equal(conversation(f, U1).human_ts, T0 - 1500);
	/* On messaging again: the thread is this app's, and the bot answers. */
	put_text(f, U1, T0 - 1000, "m3", "hello");
	assert_int_equal(run(f).sent, 3);
	assert_int_equal(conversation(f, U1).owner, MSGR_OWNER_US);
	assert_int_equal(stats(f).done, 4);
	/* Standby from a user whose thread owner is unknown: another app has it. */
	snprintf(raw, sizeof(raw), "{\"sender\":{\"id\":\"" U2 "\"},\"recipient\":{\"id\":\"" PAGE
	    "\"},\"timestamp\":%lld,\"message\":{\"mid\":\"m4\",\"text\":\"hello\"}}", T0 - 500);
	put_raw(f, MSGR_EVENT_MESSAGE, U2, 1, T0 - 500, "m4", raw);
	assert_int_equal(run(f).sent, 0);
	assert_int_equal(conversation(f, U2).owner, MSGR_OWNER_STANDBY);
}

/* Calls of a page are paced by a token bucket of send_rate a second: a full bucket goes at
 * once, the next call waits for its token. */
static void
test_pacing(void **state)
{
	struct msgr_pacer p;
	long long t0;
	int i;

	(void)state;
	msgr_pacer_init(&p, 2);
	t0 = msgr_clock_mono_ms();
	for (i = 0; i < 3; i++)
		msgr_pacer_wait(&p);
	/* Two tokens in the bucket, the third comes 500 ms after the first. */
	assert_true(msgr_clock_mono_ms() - t0 >= 499);
	assert_true(msgr_clock_mono_ms() - t0 < 3000);
	msgr_pacer_init(&p, 0);
	assert_int_equal(p.rate, MSGR_PACING_DEFAULT_RATE);
}

/* ---- a text sent by hand (msgrctl send) through the worker's path ---- */

struct sent_ids {
	char ids[8][32];
	size_t n;
};

static void
note_sent(void *arg, const char *message_id)
{
	struct sent_ids *s = arg;

	assert_true(s->n < 8);
	snprintf(s->ids[s->n++], sizeof(s->ids[0]), "%s", message_id);
}

static msgr_result
send_text(struct fx *f, const char *user, const char *text, const char *type,
    const char *tag, struct msgr_worker_text *t, struct sent_ids *ids)
{
	struct msgr_graph_result res;
	msgr_result rc;

	memset(t, 0, sizeof(*t));
	memset(ids, 0, sizeof(*ids));
	t->conn = &f->conn;
	t->psid = user;
	t->text = text;
	t->messaging_type = type;
	t->tag = tag;
	t->sent = note_sent;
	t->arg = ids;
	msgr_graph_result_init(&res);
	rc = msgr_worker_send_text(f->w, t, &res);
	if (t->step == MSGR_WORKER_SEND_CALL && rc != MSGR_OK)
		assert_int_equal(res.rc, rc);
	msgr_graph_result_clear(&res);
	return rc;
}

/* A short text goes as one message, without its surrounding whitespace; a long one split at
 * word boundaries, as a bot's would be; each message id is handed back. */
static void
test_send_text(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_text t;
	struct sent_ids ids;
	char long_text[4500];
	size_t i, at = 0;

	assert_int_equal(send_text(f, U1, "  Hello from ops \n", NULL, NULL, &t, &ids), MSGR_OK);
	assert_string_equal(sent_to(f, U1), "Hello from ops");
	assert_int_equal(ids.n, 1);
	assert_string_equal(ids.ids[0], "m_1");

	for (i = 0; i < 500; i++)
		at += (size_t)snprintf(long_text + at, sizeof(long_text) - at, "%sword%04zu",
		    i ? " " : "", i);
	f->n_calls = 0;
	assert_int_equal(send_text(f, U2, long_text, NULL, NULL, &t, &ids), MSGR_OK);
	assert_int_equal(count_calls(f, MSGR_CALL_SEND), 3);      /* 4,499 characters */
	assert_int_equal(ids.n, 3);
	for (i = 0; i < f->n_calls; i++)
		assert_int_equal(strncmp(f->calls[i].what, i == 0 ? "word0000 " : "word", 4), 0);
	/* nothing was queued or recorded: there is no event to answer */
	assert_int_equal(stats(f).pending, 0);
}

/* Refused before anything goes: an empty text, a retired tag, a recipient that is not an id. */
static void
test_send_text_refused(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_text t;
	struct sent_ids ids;

	assert_int_equal(send_text(f, U1, "   ", NULL, NULL, &t, &ids), MSGR_ERR_INVALID);
	assert_int_equal(t.step, MSGR_WORKER_SEND_BUILD);
	assert_string_equal(t.why, "the text cannot be sent: invalid value");
	assert_int_not_equal(send_text(f, U1, "x", "MESSAGE_TAG", "ACCOUNT_UPDATE", &t, &ids),
	    MSGR_OK);
	assert_int_equal(t.step, MSGR_WORKER_SEND_BUILD);
	assert_non_null(strstr(t.why, "2026"));
	assert_int_not_equal(send_text(f, "12ab", "x", NULL, NULL, &t, &ids), MSGR_OK);
	assert_int_equal(t.step, MSGR_WORKER_SEND_BUILD);
	assert_non_null(strstr(t.why, "recipient.id"));
	/* one digit past the longest id: refused for its recipient the same way */
	assert_int_not_equal(send_text(f, "12345678901234567890123456789012345678901234567890"
	    "123456789012345", "x", NULL, NULL, &t, &ids), MSGR_OK);
	assert_non_null(strstr(t.why, "recipient.id"));
	assert_int_equal(f->n_calls, 0);
	assert_int_equal(ids.n, 0);
}

/* The window as the worker judges it: the store knows the user wrote 30 hours ago, so only
 * HUMAN_AGENT goes; a user the store does not know is not held against the sender. */
static void
test_send_text_window(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_text t;
	struct sent_ids ids;

	assert_int_equal(msgr_store_user_wrote(f->st, PAGE, U1, T0 - 30 * HOUR), MSGR_OK);
	assert_int_equal(send_text(f, U1, "Late answer", NULL, NULL, &t, &ids),
	    MSGR_ERR_PERMANENT);
	assert_int_equal(t.step, MSGR_WORKER_SEND_WINDOW);
	assert_non_null(strstr(t.why, "window"));
	assert_int_equal(f->n_calls, 0);
	assert_int_equal(send_text(f, U1, "A person answers", "MESSAGE_TAG", "HUMAN_AGENT", &t,
	    &ids), MSGR_OK);
	assert_string_equal(sent_to(f, U1), "A person answers");
	assert_int_equal(send_text(f, U2, "Hi", NULL, NULL, &t, &ids), MSGR_OK);
	assert_string_equal(sent_to(f, U2), "Hi");
}

/* Facebook refuses: its answer comes back, and the parts after it are not sent. */
static void
test_send_text_facebook_refuses(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_text t;
	struct sent_ids ids;

	script(f, MSGR_CALL_SEND, 551, 0);
	assert_int_equal(send_text(f, U1, "again", NULL, NULL, &t, &ids), MSGR_ERR_PERMANENT);
	assert_int_equal(t.step, MSGR_WORKER_SEND_CALL);
	assert_int_equal(ids.n, 0);
}

/* A worker opened without a store only sends: nothing is known of the user, and it works no
 * events. */
static void
test_send_text_without_store(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_hooks h;
	struct msgr_worker *w = NULL;
	struct msgr_worker_text t;
	struct msgr_graph_result res;
	struct msgr_worker_counts c;

	memset(&h, 0, sizeof(h));
	h.graph = fake_graph;
	h.arg = f;
	assert_int_equal(msgr_worker_open(&f->cfg, NULL, NULL, "test:2", &h, &w, NULL), MSGR_OK);
	memset(&t, 0, sizeof(t));
	t.conn = &f->conn;
	t.psid = U1;
	t.text = "hello";
	msgr_graph_result_init(&res);
	assert_int_equal(msgr_worker_send_text(w, &t, &res), MSGR_OK);
	msgr_graph_result_clear(&res);
	assert_string_equal(sent_to(f, U1), "hello");
	assert_int_equal(msgr_worker_run(w, 0, &c), MSGR_ERR_STORE);
	msgr_worker_close(w);
}

/* n events of user "555" finished 8 days before the fake clock (a day past the week kept). */
static void
put_finished(struct fx *f, int n, const char *prefix)
{
	char key[64], sql[256];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s-%d", prefix, i);
		put_raw(f, MSGR_EVENT_MESSAGE, "555", 0, f->now - 9 * 24 * HOUR, key, "{}");
	}
	snprintf(sql, sizeof(sql), "UPDATE events SET state = 1, finished_at = %lld"
	    " WHERE user_id = '555'; DELETE FROM convq WHERE user_id = '555'",
	    f->now - 8 * 24 * HOUR);
	assert_int_equal(unit_sqlite_exec(f->path, sql), SQLITE_OK);
}

static long long
count_finished(struct fx *f)
{
	return unit_sqlite_count(f->path, "SELECT count(*) FROM events WHERE user_id = '555'");
}

/* A week's finished jobs go 250 at a time, 50 ms of the clock apart at least: at a run's
 * start and between its jobs, never all in one long transaction; then not again for ten
 * minutes. */
static void
test_purge_in_batches(void **state)
{
	struct fx *f = *state;

	put_finished(f, 600, "old");
	run(f);
	assert_int_equal(count_finished(f), 350);
	run(f);
	assert_int_equal(count_finished(f), 350);   /* the next batch is not due yet */
	/* Between the jobs of a run: each job's calls move the clock past the next step. */
	put_text(f, U1, T0 - 2000, "m-u1", "hello");
	put_text(f, U2, T0 - 1000, "m-u2", "hello");
	f->call_ms = 60;
	assert_int_equal(run(f).jobs, 2);
	assert_int_equal(count_finished(f), 0);
	assert_string_not_equal(sent_to(f, U1), "");
	assert_string_not_equal(sent_to(f, U2), "");
	/* A purge that came back short is over until ten minutes later. */
	put_finished(f, 10, "later");
	f->now += 60000;
	run(f);
	assert_int_equal(count_finished(f), 10);
	f->now += 10 * 60000;
	run(f);
	assert_int_equal(count_finished(f), 0);
}

/* A worker pacing with another (a team's) leaves the purge to it: one pace for the team. */
static void
test_purge_left_to_the_first(void **state)
{
	struct fx *f = *state;
	struct msgr_worker_hooks h;
	struct msgr_worker *w2 = NULL;
	struct msgr_worker_counts c;

	fake_hooks(f, &h);
	assert_int_equal(msgr_worker_open(&f->cfg, f->st, NULL, "test:2", &h, &w2, NULL), MSGR_OK);
	assert_int_equal(msgr_worker_pace_with(w2, f->w), MSGR_OK);
	put_finished(f, 300, "old");
	assert_int_equal(msgr_worker_run(w2, 0, &c), MSGR_OK);
	assert_int_equal(count_finished(f), 300);
	run(f);
	assert_int_equal(count_finished(f), 50);
	msgr_worker_close(w2);
}

#define W(fn) cmocka_unit_test_setup_teardown(fn, worker_setup, worker_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_retry_within_two_seconds),
		cmocka_unit_test(test_grows_exponentially_then_caps),
		cmocka_unit_test(test_jitter_spreads),
		cmocka_unit_test(test_hint_raises_but_is_capped),
		W(test_order_per_conversation),
		W(test_transient_retried_with_backoff),
		W(test_retry_hint_and_give_up),
		W(test_permanent_recorded),
		W(test_190_pauses_connector_until_token_changes),
		W(test_190_probe_after_ten_minutes),
		W(test_page_restricted_pauses_page),
		W(test_window),
		W(test_lease_renewed_when_short),
		W(test_exactly_once_marks),
		W(test_echo_proves_call_in_flight),
		W(test_no_echo_repeats),
		W(test_forged_echo_ignored),
		W(test_in_flight_marks),
		W(test_given_up_after_three_deaths),
		W(test_attachment_uploaded_once),
		W(test_handover_and_standby),
		cmocka_unit_test(test_pacing),
		W(test_send_text),
		W(test_send_text_refused),
		W(test_send_text_window),
		W(test_send_text_facebook_refuses),
		W(test_send_text_without_store),
		W(test_purge_in_batches),
		W(test_purge_left_to_the_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
