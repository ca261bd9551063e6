/* Unit tests: the intake pipeline (lib/intake.h) — a signed body in, rows stored or the body
 * quarantined, counts out — with a recording store step, and once against a real store.
 * The answers it leads to are docs/responder.md "Answers"; `msgrctl replay` is the
 * MSGR_INTAKE_WHOLE caller. */
#include "unit.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "intake.h"
#include "store.h"

/* Two apps: 77 with pages 1 and 2, 88 with page 3. */
static const char conf_text[] =
	"state = { path = \"state.db\"; };\n"
	"connectors = (\n"
	"  { id = \"first\"; path = \"/1\"; app_id = \"77\"; page_id = \"1\";\n"
	"    call_token = \"ct-1\"; webhook_token = \"Verify-Token-77\"; secret = \"App-Secret-77\";\n"
	"    bot = { type = \"stories\"; file = \"s.conf\"; }; },\n"
	"  { id = \"second\"; path = \"/2\"; app_id = \"77\"; page_id = \"2\";\n"
	"    call_token = \"ct-2\"; webhook_token = \"Verify-Token-77\"; secret = \"App-Secret-77\";\n"
	"    bot = { type = \"stories\"; file = \"s.conf\"; }; },\n"
	"  { id = \"other\"; path = \"/3\"; app_id = \"88\"; page_id = \"3\";\n"
	"    call_token = \"ct-3\"; webhook_token = \"Verify-Token-88\"; secret = \"App-Secret-88\";\n"
	"    bot = { type = \"stories\"; file = \"s.conf\"; }; } );\n";

struct fx {
	char dir[64];
	struct msgr_config *cfg;
};

/* The store step, recording what it was given. */
struct rec {
	int calls;
	msgr_result rc;               /* what it answers */
	size_t dups;                  /* of the events, this many were already stored */
	size_t n_events, n_quarantine;
	char conn[8][16];             /* connector of each event */
	char qconn[4][16];
	char qreason[4][200];
	char qraw[4][128];
};

static msgr_result
record(void *arg, const struct msgr_intake *rows, size_t *n_new, size_t *n_dup)
{
	struct rec *r = arg;
	size_t i;

	r->calls++;
	r->n_events = rows->n_events;
	r->n_quarantine = rows->n_quarantine;
	assert_true(rows->n_events > 0 || rows->n_quarantine > 0);   /* never called empty */
	for (i = 0; i < rows->n_events && i < 8; i++)
		snprintf(r->conn[i], sizeof(r->conn[i]), "%s", rows->events[i].connector_id);
	for (i = 0; i < rows->n_quarantine && i < 4; i++) {
		snprintf(r->qconn[i], sizeof(r->qconn[i]), "%s", rows->quarantine[i].connector_id);
		snprintf(r->qreason[i], sizeof(r->qreason[i]), "%s", rows->quarantine[i].reason);
		snprintf(r->qraw[i], sizeof(r->qraw[i]), "%.*s",
		    (int)rows->quarantine[i].raw_len, rows->quarantine[i].raw);
	}
	if (r->rc != MSGR_OK)
		return r->rc;
	*n_new = rows->n_events - r->dups;
	*n_dup = r->dups;
	return MSGR_OK;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[128], *errors = NULL;
	FILE *fp;

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/msgr-intake-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/msgr.conf", f->dir);
	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	fputs(conf_text, fp);
	fclose(fp);
	chmod(path, 0600);
	if (msgr_config_load(path, &f->cfg, &errors) != MSGR_OK) {
		fprintf(stderr, "config: %s\n", errors ? errors : "?");
		free(errors);
		return -1;
	}
	free(errors);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	msgr_config_free(f->cfg);
	unit_rmdir_all(f->dir);
	free(f);
	return 0;
}

/* A text message from user 500 to page `page`, with mid `mid`. */
static void
msg_event(char *out, size_t outsz, const char *page, const char *mid)
{
	snprintf(out, outsz, "{\"sender\":{\"id\":\"500\"},\"recipient\":{\"id\":\"%s\"},"
	    "\"timestamp\":1700000000123,\"message\":{\"mid\":\"%s\",\"text\":\"hi\"}}", page, mid);
}

static void
entry(char *out, size_t outsz, const char *page, const char *events)
{
	snprintf(out, outsz, "{\"id\":\"%s\",\"time\":1700000000123,\"messaging\":[%s]}", page,
	    events);
}

static msgr_result
run(struct fx *f, const char *via, unsigned flags, struct rec *r, const char *body,
    struct msgr_intake_result *res)
{
	struct msgr_intake_call call;

	memset(&call, 0, sizeof(call));
	call.cfg = f->cfg;
	call.via = msgr_config_by_id(f->cfg, via);
	assert_non_null(call.via);
	call.flags = flags;
	call.store = r != NULL ? record : NULL;
	call.store_arg = r;
	return msgr_intake_body(&call, body, strlen(body), res);
}

/* ---- the tests ---- */

/* Entries go to the connector of their page within the posting connector's app; another
 * app's page is dropped, however the body is signed. */
static void
test_routes_within_the_app(void **state)
{
	struct fx *f = *state;
	struct msgr_intake_result res;
	struct rec r = { 0 };
	char e1[256], e2[256], e3[256], x1[320], x2[320], x3[320], body[1200];

	msg_event(e1, sizeof(e1), "1", "m_a");
	msg_event(e2, sizeof(e2), "2", "m_b");
	msg_event(e3, sizeof(e3), "3", "m_c");
	entry(x1, sizeof(x1), "1", e1);
	entry(x2, sizeof(x2), "2", e2);
	entry(x3, sizeof(x3), "3", e3);
	snprintf(body, sizeof(body), "{\"object\":\"page\",\"entry\":[%s,%s,%s]}", x1, x2, x3);
	assert_int_equal(run(f, "first", 0, &r, body, &res), MSGR_OK);
	assert_int_equal(res.kind, MSGR_INTAKE_WEBHOOK);
	assert_false(res.refused);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.n_events, 2);
	assert_string_equal(r.conn[0], "first");
	assert_string_equal(r.conn[1], "second");
	assert_int_equal(res.stored, 2);
	assert_int_equal(res.duplicates, 0);
	assert_int_equal(res.quarantined, 0);
	assert_int_equal(res.dropped, 1);
	assert_int_equal(res.routed, 2);
	assert_string_equal(res.object, "page");
	assert_string_equal(res.why, "");
}

static void
test_counts_duplicates(void **state)
{
	struct fx *f = *state;
	struct msgr_intake_result res;
	struct rec r = { 0 };
	char e1[256], e2[256], both[520], x[700], body[800];

	msg_event(e1, sizeof(e1), "1", "m_a");
	msg_event(e2, sizeof(e2), "1", "m_b");
	snprintf(both, sizeof(both), "%s,%s", e1, e2);
	entry(x, sizeof(x), "1", both);
	snprintf(body, sizeof(body), "{\"object\":\"page\",\"entry\":[%s]}", x);
	r.dups = 1;
	assert_int_equal(run(f, "first", 0, &r, body, &res), MSGR_OK);
	assert_int_equal(res.stored, 1);
	assert_int_equal(res.duplicates, 1);
}

/* Signed but not JSON: the whole body in quarantine with its reason, under the path's
 * connector, and the request still counts as taken (200). */
static void
test_not_a_webhook_quarantined_whole(void **state)
{
	struct fx *f = *state;
	struct msgr_intake_result res;
	struct rec r = { 0 };

	assert_int_equal(run(f, "second", 0, &r, "this is not json", &res), MSGR_OK);
	assert_int_equal(res.kind, MSGR_INTAKE_NOT_WEBHOOK);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.n_events, 0);
	assert_int_equal(r.n_quarantine, 1);
	assert_string_equal(r.qconn[0], "second");
	assert_string_equal(r.qraw[0], "this is not json");
	assert_true(res.why[0] != '\0');
	assert_string_equal(r.qreason[0], res.why);
	assert_int_equal(res.quarantined, 1);
	assert_int_equal(res.stored, 0);
}

static void
test_other_object_dropped(void **state)
{
	struct fx *f = *state;
	struct msgr_intake_result res;
	struct rec r = { 0 };

	assert_int_equal(run(f, "first", 0, &r, "{\"object\":\"instagram\",\"entry\":[]}", &res),
	    MSGR_OK);
	assert_int_equal(res.kind, MSGR_INTAKE_OTHER_OBJECT);
	assert_string_equal(res.object, "instagram");
	assert_int_equal(r.calls, 0);
	assert_false(res.refused);
	assert_int_equal(res.stored + res.quarantined + res.dropped, 0);
}

/* A malformed event beside a good one: both stored in one call, the bad one in quarantine. */
static void
test_malformed_part_beside_good(void **state)
{
	struct fx *f = *state;
	struct msgr_intake_result res;
	struct rec r = { 0 };
	char e1[256], both[600], x[800], body[900];

	msg_event(e1, sizeof(e1), "1", "m_good");
	snprintf(both, sizeof(both), "%s,{\"sender\":{\"id\":\"500\"},\"recipient\":{\"id\":\"1\"},"
	    "\"timestamp\":1700000000123,\"message\":{\"mid\":12345,\"text\":\"x\"}}", e1);
	entry(x, sizeof(x), "1", both);
	snprintf(body, sizeof(body), "{\"object\":\"page\",\"entry\":[%s]}", x);
	assert_int_equal(run(f, "first", 0, &r, body, &res), MSGR_OK);
	assert_int_equal(res.kind, MSGR_INTAKE_WEBHOOK);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.n_events, 1);
	assert_int_equal(r.n_quarantine, 1);
	assert_string_equal(r.qconn[0], "first");
	assert_int_equal(res.stored, 1);
	assert_int_equal(res.quarantined, 1);
	assert_string_equal(res.why, r.qreason[0]);
	assert_true(res.why[0] != '\0');
}

/* Events only of pages outside the app: nothing to store, no transaction at all. */
static void
test_nothing_to_store(void **state)
{
	struct fx *f = *state;
	struct msgr_intake_result res;
	struct rec r = { 0 };
	char e3[256], x3[320], body[400];

	msg_event(e3, sizeof(e3), "3", "m_c");
	entry(x3, sizeof(x3), "3", e3);
	snprintf(body, sizeof(body), "{\"object\":\"page\",\"entry\":[%s]}", x3);
	assert_int_equal(run(f, "first", 0, &r, body, &res), MSGR_OK);
	assert_int_equal(r.calls, 0);
	assert_int_equal(res.dropped, 1);
	assert_int_equal(res.stored, 0);
}

/* The store step fails: its error comes back, nothing counted as stored. */
static void
test_store_failure(void **state)
{
	struct fx *f = *state;
	struct msgr_intake_result res;
	struct rec r = { 0 };
	char e1[256], e3[256], both[660], x1[320], x3[320], body[800];

	msg_event(e1, sizeof(e1), "1", "m_a");
	msg_event(e3, sizeof(e3), "3", "m_c");
	entry(x1, sizeof(x1), "1", e1);
	entry(x3, sizeof(x3), "3", e3);
	snprintf(both, sizeof(both), "%s,%s", x1, x3);
	snprintf(body, sizeof(body), "{\"object\":\"page\",\"entry\":[%s]}", both);
	r.rc = MSGR_ERR_BUSY;
	assert_int_equal(run(f, "first", 0, &r, body, &res), MSGR_ERR_BUSY);
	assert_int_equal(res.step, MSGR_INTAKE_STORE);
	assert_int_equal(res.stored + res.duplicates + res.quarantined, 0);
	assert_int_equal(res.dropped, 1);
	/* the same for a body that was to be quarantined */
	memset(&r, 0, sizeof(r));
	r.rc = MSGR_ERR_STORE;
	assert_int_equal(run(f, "first", 0, &r, "nope", &res), MSGR_ERR_STORE);
	assert_int_equal(res.step, MSGR_INTAKE_STORE);
	assert_int_equal(res.quarantined, 0);
}

/* `msgrctl replay`: only a wholly good body is stored; anything else stays where it is,
 * with the reason. */
static void
test_whole_only(void **state)
{
	struct fx *f = *state;
	struct msgr_intake_result res;
	struct rec r = { 0 };
	char e1[256], both[600], x[800], body[900];

	assert_int_equal(run(f, "first", MSGR_INTAKE_WHOLE, &r, "still not json", &res), MSGR_OK);
	assert_true(res.refused);
	assert_int_equal(res.kind, MSGR_INTAKE_NOT_WEBHOOK);
	assert_true(res.why[0] != '\0');
	assert_int_equal(r.calls, 0);

	assert_int_equal(run(f, "first", MSGR_INTAKE_WHOLE, &r,
	    "{\"object\":\"instagram\",\"entry\":[]}", &res), MSGR_OK);
	assert_true(res.refused);
	assert_string_equal(res.why, "object \"instagram\" is not a Messenger page");
	assert_int_equal(r.calls, 0);

	msg_event(e1, sizeof(e1), "1", "m_good");
	snprintf(both, sizeof(both), "%s,{\"sender\":{\"id\":\"500\"},\"recipient\":{\"id\":\"1\"},"
	    "\"timestamp\":1700000000123,\"message\":{\"mid\":12345,\"text\":\"x\"}}", e1);
	entry(x, sizeof(x), "1", both);
	snprintf(body, sizeof(body), "{\"object\":\"page\",\"entry\":[%s]}", x);
	assert_int_equal(run(f, "first", MSGR_INTAKE_WHOLE, &r, body, &res), MSGR_OK);
	assert_true(res.refused);
	assert_true(res.why[0] != '\0');
	assert_int_equal(r.calls, 0);

	/* wholly good: stored as the responder would */
	msg_event(e1, sizeof(e1), "2", "m_fine");
	entry(x, sizeof(x), "2", e1);
	snprintf(body, sizeof(body), "{\"object\":\"page\",\"entry\":[%s]}", x);
	assert_int_equal(run(f, "first", MSGR_INTAKE_WHOLE, &r, body, &res), MSGR_OK);
	assert_false(res.refused);
	assert_int_equal(r.calls, 1);
	assert_string_equal(r.conn[0], "second");
	assert_int_equal(res.stored, 1);
}

/* No store step: a dry run says what would be stored. */
static void
test_dry_run(void **state)
{
	struct fx *f = *state;
	struct msgr_intake_result res;
	char e1[256], x[320], body[400];

	msg_event(e1, sizeof(e1), "1", "m_a");
	entry(x, sizeof(x), "1", e1);
	snprintf(body, sizeof(body), "{\"object\":\"page\",\"entry\":[%s]}", x);
	assert_int_equal(run(f, "first", MSGR_INTAKE_WHOLE, NULL, body, &res), MSGR_OK);
	assert_int_equal(res.routed, 1);
	assert_int_equal(res.stored, 0);
}

/* The plain store step: one transaction on a real store, a redelivery counted as such. */
static void
test_real_store(void **state)
{
	struct fx *f = *state;
	struct msgr_store_options o;
	struct msgr_store *st = NULL;
	struct msgr_intake_call call;
	struct msgr_intake_result res;
	char path[128], e1[256], x[320], body[400];

	snprintf(path, sizeof(path), "%s/state.db", f->dir);
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.busy_timeout_ms = 2000;
	assert_int_equal(msgr_store_open(&o, &st), MSGR_OK);
	msg_event(e1, sizeof(e1), "1", "m_real");
	entry(x, sizeof(x), "1", e1);
	snprintf(body, sizeof(body), "{\"object\":\"page\",\"entry\":[%s]}", x);
	memset(&call, 0, sizeof(call));
	call.cfg = f->cfg;
	call.via = msgr_config_by_id(f->cfg, "first");
	call.store = msgr_intake_store;
	call.store_arg = st;
	assert_int_equal(msgr_intake_body(&call, body, strlen(body), &res), MSGR_OK);
	assert_int_equal(res.stored, 1);
	assert_int_equal(msgr_intake_body(&call, body, strlen(body), &res), MSGR_OK);
	assert_int_equal(res.stored, 0);
	assert_int_equal(res.duplicates, 1);
	assert_int_equal(msgr_intake_body(&call, "[1", 2, &res), MSGR_OK);
	assert_int_equal(res.kind, MSGR_INTAKE_NOT_WEBHOOK);
	assert_int_equal(res.quarantined, 1);
	msgr_store_close(st);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_routes_within_the_app),
		T(test_counts_duplicates),
		T(test_not_a_webhook_quarantined_whole),
		T(test_other_object_dropped),
		T(test_malformed_part_beside_good),
		T(test_nothing_to_store),
		T(test_store_failure),
		T(test_whole_only),
		T(test_dry_run),
		T(test_real_store),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
