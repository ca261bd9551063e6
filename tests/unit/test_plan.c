/* Unit tests: the plan (lib/plan.h): the bot's actions as typed Graph calls, every message
 * checked first; the outbox written once and read back typed, rows of any build included. */
#include "unit.h"

#include <dirent.h>
#include <unistd.h>

#include "clock.h"
#include "plan.h"
#include "store.h"

struct fx {
	char dir[64];
	char path[128];
	struct msgr_store *st;
	struct msgr_connector conn;
	struct msgr_event ev;
	struct msgr_plan plan;
	int64_t job_id;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct msgr_store_options o;
	struct msgr_store_event e;
	struct msgr_job job;
	size_t nn = 0, nd = 0;

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/msgr-plan-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
	memset(&o, 0, sizeof(o));
	o.path = f->path;
	o.wal = 1;
	if (msgr_store_open(&o, &f->st) != MSGR_OK)
		return -1;
	memset(&e, 0, sizeof(e));
	e.connector_id = "c1";
	e.page_id = "222";
	e.user_id = "333";
	e.key = "k1";
	e.raw = "{}";
	e.timestamp = 1000;
	if (msgr_store_enqueue(f->st, &e, 1, NULL, 0, &nn, &nd) != MSGR_OK ||
	    msgr_store_claim(f->st, "w", msgr_clock_wall_ms() + 1000, 30000, &job) != MSGR_OK)
		return -1;
	f->job_id = job.id;
	msgr_job_clear(&job);
	f->conn.id = (char *)"c1";
	f->conn.app_id = (char *)"111";
	f->conn.page_id = (char *)"222";
	f->ev.kind = MSGR_EVENT_MESSAGE;
	strcpy(f->ev.page_id, "222");
	strcpy(f->ev.user_id, "333");
	f->ev.sender_id = "333";
	f->ev.timestamp = 1000;
	msgr_plan_init(&f->plan);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	msgr_plan_clear(&f->plan);
	msgr_store_close(f->st);
	unit_rmdir_all(f->dir);
	free(f);
	return 0;
}

static msgr_result
plan_of(struct fx *f, const char *actions_json, char *why, size_t whysz)
{
	json_t *a = json_loads(actions_json, 0, NULL);
	msgr_result rc;

	assert_non_null(a);
	rc = msgr_plan_actions(&f->plan, &f->conn, &f->ev, a, why, whysz);
	json_decref(a);
	return rc;
}

static const char *
text_of(const struct msgr_plan_item *it)
{
	return json_string_value(json_object_get(json_object_get(it->body, "message"), "text"));
}

/* Every kind of action becomes its call, in order, sender actions optional. */
static void
test_actions(void **state)
{
	struct fx *f = *state;
	char why[256] = "";

	assert_int_equal(plan_of(f, "[{\"action\":\"sender_action\",\"sender_action\":\"mark_seen\"},"
	    "{\"action\":\"message\",\"message\":{\"text\":\"Hi\"},\"messaging_type\":\"RESPONSE\"},"
	    "{\"action\":\"pass_thread_control\",\"target\":\"inbox\",\"metadata\":\"why\"},"
	    "{\"action\":\"pass_thread_control\"},"
	    "{\"action\":\"take_thread_control\"}]", why, sizeof(why)), MSGR_OK);
	assert_int_equal(f->plan.n, 5);
	assert_int_equal(f->plan.items[0].kind, MSGR_PLAN_SEND);
	assert_true(f->plan.items[0].optional);
	assert_string_equal(json_string_value(json_object_get(f->plan.items[0].body,
	    "sender_action")), "mark_seen");
	assert_int_equal(f->plan.items[1].kind, MSGR_PLAN_SEND);
	assert_false(f->plan.items[1].optional);
	assert_string_equal(text_of(&f->plan.items[1]), "Hi");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    f->plan.items[1].body, "recipient"), "id")), "333");
	assert_int_equal(f->plan.items[2].kind, MSGR_PLAN_PASS_THREAD);
	assert_string_equal(f->plan.items[2].target, "inbox");
	assert_string_equal(f->plan.items[2].metadata, "why");
	assert_string_equal(f->plan.items[3].target, "inbox");    /* the default target */
	assert_null(f->plan.items[3].metadata);
	assert_int_equal(f->plan.items[4].kind, MSGR_PLAN_TAKE_THREAD);
	assert_int_equal(f->plan.items[4].seq, 4);
	assert_string_equal(msgr_plan_kind_name(MSGR_PLAN_SEND), "send");
	assert_string_equal(msgr_plan_kind_name(MSGR_PLAN_PASS_THREAD), "pass_thread_control");
	assert_string_equal(msgr_plan_kind_name(MSGR_PLAN_TAKE_THREAD), "take_thread_control");
}

/* A refused or unknown action names itself; the caller drops the whole plan. */
static void
test_refused(void **state)
{
	struct fx *f = *state;
	char why[256] = "";

	assert_int_equal(plan_of(f, "[{\"action\":\"message\",\"message\":{\"text\":\"ok\"},"
	    "\"messaging_type\":\"RESPONSE\"},{\"action\":\"dance\"}]", why, sizeof(why)),
	    MSGR_ERR_LIMIT);
	assert_string_equal(why, "action 1: unknown action \"dance\"");
	msgr_plan_clear(&f->plan);
	assert_int_equal(plan_of(f, "[{\"action\":\"message\",\"messaging_type\":\"RESPONSE\"}]",
	    why, sizeof(why)), MSGR_ERR_LIMIT);
	assert_string_equal(why, "action 0: message action without a message object");
	msgr_plan_clear(&f->plan);
	assert_int_not_equal(plan_of(f, "[{\"action\":\"message\",\"message\":{\"text\":\"\"},"
	    "\"messaging_type\":\"RESPONSE\"}]", why, sizeof(why)), MSGR_OK);
	assert_memory_equal(why, "action 0: ", 10);
}

/* A text over 2000 characters goes as several messages cut at word boundaries, the quick
 * replies on the last (docs/sending.md "Splitting long text"). */
static void
test_long_text_split(void **state)
{
	struct fx *f = *state;
	char *actions = malloc(8000), *text = malloc(4000), why[256] = "";
	size_t i;

	assert_non_null(actions);
	assert_non_null(text);
	for (i = 0; i < 500; i++)
		memcpy(text + 5 * i, "word ", 5);
	text[2499] = '\0';
	snprintf(actions, 8000, "[{\"action\":\"message\",\"messaging_type\":\"RESPONSE\","
	    "\"message\":{\"text\":\"%s\",\"quick_replies\":[{\"content_type\":\"text\","
	    "\"title\":\"Yes\",\"payload\":\"Y\"}]}}]", text);
	assert_int_equal(plan_of(f, actions, why, sizeof(why)), MSGR_OK);
	assert_int_equal(f->plan.n, 2);
	assert_true(strlen(text_of(&f->plan.items[0])) <= 2000);
	assert_null(json_object_get(json_object_get(f->plan.items[0].body, "message"),
	    "quick_replies"));
	assert_non_null(json_object_get(json_object_get(f->plan.items[1].body, "message"),
	    "quick_replies"));
	free(actions);
	free(text);
}

/* Saved once with each row's id; read back typed, as it was. */
static void
test_save_load(void **state)
{
	struct fx *f = *state;
	struct msgr_plan back;
	char why[256] = "";
	size_t i;

	assert_int_equal(msgr_plan_load(&f->plan, f->st, f->job_id), MSGR_ERR_NOTFOUND);
	assert_int_equal(plan_of(f, "[{\"action\":\"sender_action\",\"sender_action\":\"typing_on\"},"
	    "{\"action\":\"message\",\"message\":{\"text\":\"Hi\"},\"messaging_type\":\"RESPONSE\"},"
	    "{\"action\":\"pass_thread_control\",\"target\":\"123\",\"metadata\":\"m\"},"
	    "{\"action\":\"take_thread_control\"}]", why, sizeof(why)), MSGR_OK);
	assert_int_equal(msgr_plan_save(&f->plan, f->st, f->job_id), MSGR_OK);
	for (i = 0; i < f->plan.n; i++)
		assert_true(f->plan.items[i].outbox_id > 0);
	assert_int_equal(msgr_store_outbox_done(f->st, f->plan.items[0].outbox_id, NULL), MSGR_OK);
	msgr_plan_init(&back);
	assert_int_equal(msgr_plan_load(&back, f->st, f->job_id), MSGR_OK);
	assert_int_equal(back.n, 4);
	for (i = 0; i < back.n; i++) {
		assert_int_equal(back.items[i].kind, f->plan.items[i].kind);
		assert_int_equal(back.items[i].seq, (int)i);
		assert_int_equal(back.items[i].outbox_id, f->plan.items[i].outbox_id);
		assert_int_equal(back.items[i].done, i == 0);
		assert_int_equal(back.items[i].optional, f->plan.items[i].optional);
	}
	assert_true(json_equal(back.items[1].body, f->plan.items[1].body));
	assert_string_equal(back.items[2].target, "123");
	assert_string_equal(back.items[2].metadata, "m");
	assert_null(back.items[3].metadata);
	msgr_plan_clear(&back);

	/* A second save finds the first plan, which may be half sent, and takes it. */
	msgr_plan_clear(&f->plan);
	assert_int_equal(msgr_plan_pass(&f->plan, "999", NULL), MSGR_OK);
	assert_int_equal(msgr_plan_save(&f->plan, f->st, f->job_id), MSGR_OK);
	assert_int_equal(f->plan.n, 4);
	assert_int_equal(f->plan.items[0].done, 1);
	assert_string_equal(f->plan.items[2].target, "123");
}

/* Rows this build cannot carry out are kept in their place and fail the job when reached. */
static void
test_unreadable_rows(void **state)
{
	struct fx *f = *state;
	const char *rows[5] = {
		("{\"call\":\"send\",\"body\":{\"recipient\":{\"id\":\"333\"},\"sender_action\":"
		"\"mark_seen\"},\"optional\":true}"),
		"not json",
		"{\"call\":\"fax\"}",
		"{\"call\":\"send\"}",
		"{\"call\":\"pass_thread_control\",\"target\":\"inbox\",\"metadata\":null}",
	};

	assert_int_equal(msgr_store_outbox_put(f->st, f->job_id, rows, 5, NULL), MSGR_OK);
	assert_int_equal(msgr_plan_load(&f->plan, f->st, f->job_id), MSGR_OK);
	assert_int_equal(f->plan.n, 5);
	assert_int_equal(f->plan.items[0].kind, MSGR_PLAN_SEND);
	assert_true(f->plan.items[0].optional);
	assert_int_equal(f->plan.items[1].kind, MSGR_PLAN_UNREADABLE);
	assert_string_equal(f->plan.items[1].why, "unreadable outbox item");
	assert_int_equal(f->plan.items[2].kind, MSGR_PLAN_UNREADABLE);
	assert_string_equal(f->plan.items[2].why, "unknown planned call \"fax\"");
	assert_int_equal(f->plan.items[3].kind, MSGR_PLAN_UNREADABLE);
	assert_string_equal(f->plan.items[3].why, "unreadable outbox item");
	assert_int_equal(f->plan.items[4].kind, MSGR_PLAN_PASS_THREAD);
	assert_null(f->plan.items[4].metadata);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_actions),
		T(test_refused),
		T(test_long_text_split),
		T(test_save_load),
		T(test_unreadable_rows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
