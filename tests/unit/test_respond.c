/* Unit tests: one webhook request end to end (lib/respond.h) — the answers of
 * docs/responder.md "Answers" through a fake transport, the events in a real store behind
 * the group commit, and the request's log line. */
#include "unit.h"
#include "unit_sqlite.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commit.h"
#include "config.h"
#include "log.h"
#include "respond.h"
#include "signature.h"

static const char conf_text[] =
	"max_body = 2048;\n"
	"connectors = (\n"
	"  { id = \"first\"; path = \"/hook/1\"; app_id = \"77\"; page_id = \"1\";\n"
	"    call_token = \"ct-1\"; webhook_token = \"Verify-Token-77\"; secret = \"App-Secret-77\";\n"
	"    bot = { type = \"stories\"; file = \"s.conf\"; }; } );\n";

static const char event_body[] =
	"{\"object\":\"page\",\"entry\":[{\"id\":\"1\",\"time\":1700000000123,\"messaging\":["
	"{\"sender\":{\"id\":\"500\"},\"recipient\":{\"id\":\"1\"},\"timestamp\":1700000000123,"
	"\"message\":{\"mid\":\"m_respond\",\"text\":\"hi\"}}]}]}";

struct fx {
	char dir[64];
	struct msgr_config *cfg;
	struct msgr_commit *commit;
	struct msgr_respond rs;
	struct msgr_request req;
};

/* ---- a fake transport ---- */

struct fake {
	const char *names[8];
	const char *values[8];
	const char *body;
	size_t body_len, pos;
	char out[8192];
	size_t out_len;
	char cl[32], sig[MSGR_SIGNATURE_HEADER_LEN + 1];
};

static const char *
fake_param(void *ctx, const char *name)
{
	struct fake *f = ctx;
	size_t i;

	for (i = 0; i < 8 && f->names[i] != NULL; i++)
		if (strcmp(f->names[i], name) == 0)
			return f->values[i];
	return NULL;
}

static long
fake_read(void *ctx, char *p, size_t n)
{
	struct fake *f = ctx;

	if (n > f->body_len - f->pos)
		n = f->body_len - f->pos;
	memcpy(p, f->body + f->pos, n);
	f->pos += n;
	return (long)n;
}

static int
fake_write(void *ctx, const char *p, size_t n)
{
	struct fake *f = ctx;

	assert_true(f->out_len + n < sizeof(f->out));
	memcpy(f->out + f->out_len, p, n);
	f->out_len += n;
	f->out[f->out_len] = '\0';
	return 0;
}

static void
set(struct fake *f, const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < 8 && f->names[i] != NULL; i++)
		;
	assert_true(i < 8);
	f->names[i] = name;
	f->values[i] = value;
}

/* A POST of body to path, signed with secret (NULL: unsigned). */
static void
post(struct fake *f, const char *path, const char *body, const char *secret)
{
	memset(f, 0, sizeof(*f));
	set(f, "REQUEST_METHOD", "POST");
	set(f, "PATH_INFO", path);
	snprintf(f->cl, sizeof(f->cl), "%zu", strlen(body));
	set(f, "CONTENT_LENGTH", f->cl);
	if (secret != NULL) {
		assert_int_equal(msgr_signature_format(secret, body, strlen(body), f->sig), MSGR_OK);
		set(f, "HTTP_X_HUB_SIGNATURE_256", f->sig);
	}
	f->body = body;
	f->body_len = strlen(body);
}

static void
get(struct fake *f, const char *path, const char *query)
{
	memset(f, 0, sizeof(*f));
	set(f, "REQUEST_METHOD", "GET");
	set(f, "PATH_INFO", path);
	set(f, "QUERY_STRING", query);
}

static void
respond(struct fx *x, struct fake *f, struct msgr_respond_outcome *oc)
{
	struct msgr_request_io io = { .ctx = f, .param = fake_param, .read = fake_read,
	    .write = fake_write };

	msgr_respond(&x->rs, &x->req, &io, oc);
}

/* The answer's status line and body. */
static void
assert_answer(const struct fake *f, const char *status_line, const char *body)
{
	const char *end = strstr(f->out, "\r\n\r\n");

	assert_true(strncmp(f->out, status_line, strlen(status_line)) == 0);
	assert_non_null(end);
	assert_string_equal(end + 4, body);
}

/* ---- fixture ---- */

static int
setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct msgr_store_options o;
	char path[128], db[128], *errors = NULL;
	FILE *fp;

	if (x == NULL)
		return -1;
	snprintf(x->dir, sizeof(x->dir), "/tmp/msgr-respond-XXXXXX");
	if (mkdtemp(x->dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/msgr.conf", x->dir);
	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	fputs(conf_text, fp);
	fclose(fp);
	chmod(path, 0600);
	if (msgr_config_load(path, &x->cfg, &errors) != MSGR_OK) {
		fprintf(stderr, "config: %s\n", errors ? errors : "?");
		free(errors);
		return -1;
	}
	free(errors);
	snprintf(db, sizeof(db), "%s/state.db", x->dir);
	memset(&o, 0, sizeof(o));
	o.path = db;
	o.wal = 1;
	o.busy_timeout_ms = 2000;
	if (msgr_commit_open(&o, &x->commit) != MSGR_OK)
		return -1;
	msgr_respond_init(&x->rs, x->cfg, x->commit, 0);
	msgr_request_init(&x->req);
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *x = *state;
	struct dirent *d;
	DIR *dir;
	char p[512];

	msgr_request_free(&x->req);
	msgr_commit_close(x->commit);
	msgr_config_free(x->cfg);
	if ((dir = opendir(x->dir)) != NULL) {
		while ((d = readdir(dir)) != NULL) {
			if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", x->dir, d->d_name);
			unlink(p);
		}
		closedir(dir);
	}
	rmdir(x->dir);
	free(x);
	return 0;
}

/* ---- the tests ---- */

static void
test_init(void **state)
{
	struct fx *x = *state;

	assert_int_equal(x->rs.max_body, 2048);
	assert_ptr_equal(x->rs.cfg, x->cfg);
	assert_true(x->rs.lim.max_entries > 0);
}

static void
test_get_verification(void **state)
{
	struct fx *x = *state;
	struct msgr_respond_outcome oc;
	struct fake f;

	get(&f, "/hook/1", "hub.mode=subscribe&hub.verify_token=Verify-Token-77&hub.challenge=4242");
	respond(x, &f, &oc);
	assert_int_equal(oc.status, 200);
	assert_string_equal(oc.connector, "first");
	assert_answer(&f, "Status: 200 OK\r\n", "4242");

	get(&f, "/hook/1", "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=4242");
	respond(x, &f, &oc);
	assert_int_equal(oc.status, 403);
	assert_string_equal(oc.note, "wrong or missing hub.verify_token");
	assert_answer(&f, "Status: 403 Forbidden\r\n", "Forbidden\n");

	get(&f, "/hook/1", "hub.mode=unsubscribe&hub.verify_token=Verify-Token-77&hub.challenge=1");
	respond(x, &f, &oc);
	assert_int_equal(oc.status, 403);
	assert_string_equal(oc.note, "hub.mode not subscribe");

	get(&f, "/hook/1", "hub.mode=subscribe&hub.verify_token=Verify-Token-77");
	respond(x, &f, &oc);
	assert_int_equal(oc.status, 403);
	assert_string_equal(oc.note, "missing or oversized hub.challenge");
}

static void
test_path_and_method(void **state)
{
	struct fx *x = *state;
	struct msgr_respond_outcome oc;
	struct fake f;

	get(&f, "/hook/2", "hub.mode=subscribe");
	respond(x, &f, &oc);
	assert_int_equal(oc.status, 404);
	assert_null(oc.connector);
	assert_answer(&f, "Status: 404 Not Found\r\n", "Not Found\n");

	get(&f, "/hook/1", "");
	f.values[0] = "DELETE";
	respond(x, &f, &oc);
	assert_int_equal(oc.status, 405);
	assert_non_null(strstr(f.out, "\r\nAllow: GET, POST\r\n"));
}

static void
test_post_stored_once(void **state)
{
	struct fx *x = *state;
	struct msgr_respond_outcome oc;
	struct fake f;

	post(&f, "/hook/1", event_body, "App-Secret-77");
	respond(x, &f, &oc);
	assert_int_equal(oc.status, 200);
	assert_answer(&f, "Status: 200 OK\r\n", "EVENT_RECEIVED");
	assert_int_equal(oc.stored, 1);
	assert_int_equal(oc.dup, 0);
	assert_int_equal(oc.group, 1);
	assert_string_equal(oc.note, "");
	/* a redelivery: 200 again, nothing new */
	post(&f, "/hook/1", event_body, "App-Secret-77");
	respond(x, &f, &oc);
	assert_int_equal(oc.status, 200);
	assert_int_equal(oc.stored, 0);
	assert_int_equal(oc.dup, 1);
}

static void
test_post_signature_refused(void **state)
{
	struct fx *x = *state;
	struct msgr_respond_outcome oc;
	struct fake f;

	post(&f, "/hook/1", event_body, "another secret");
	respond(x, &f, &oc);
	assert_int_equal(oc.status, 403);
	assert_string_equal(oc.note, "wrong signature");
	assert_int_equal(oc.stored, 0);
	post(&f, "/hook/1", event_body, NULL);
	respond(x, &f, &oc);
	assert_int_equal(oc.status, 403);
	assert_string_equal(oc.note, "missing signature");
	/* nothing of either was stored: the signed one now is new */
	post(&f, "/hook/1", event_body, "App-Secret-77");
	respond(x, &f, &oc);
	assert_int_equal(oc.stored, 1);
}

static void
test_post_body_refusals(void **state)
{
	static char big[3000];
	struct fx *x = *state;
	struct msgr_respond_outcome oc;
	struct fake f;

	memset(big, 'x', sizeof(big) - 1);
	post(&f, "/hook/1", big, "App-Secret-77");
	respond(x, &f, &oc);
	assert_int_equal(oc.status, 413);
	assert_string_equal(oc.note, "body over max_body");
	assert_int_equal(f.pos, f.body_len);      /* the rest read and dropped */

	post(&f, "/hook/1", event_body, "App-Secret-77");
	f.values[2] = "12x";
	respond(x, &f, &oc);
	assert_int_equal(oc.status, 400);
	assert_string_equal(oc.note, "bad CONTENT_LENGTH");

	post(&f, "/hook/1", event_body, "App-Secret-77");
	f.body_len = 10;                           /* the client stops early */
	respond(x, &f, &oc);
	assert_int_equal(oc.status, 400);
	assert_string_equal(oc.note, "body shorter than CONTENT_LENGTH");
}

static void
test_post_not_a_webhook(void **state)
{
	struct fx *x = *state;
	struct msgr_respond_outcome oc;
	struct fake f;

	post(&f, "/hook/1", "this is not json", "App-Secret-77");
	respond(x, &f, &oc);
	assert_int_equal(oc.status, 200);
	assert_int_equal(oc.quarantined, 1);
	assert_true(strncmp(oc.note, "body quarantined: \"", 19) == 0);

	post(&f, "/hook/1", "{\"object\":\"instagram\",\"entry\":[]}", "App-Secret-77");
	respond(x, &f, &oc);
	assert_int_equal(oc.status, 200);
	assert_string_equal(oc.note, "dropped object \"instagram\"");
	assert_int_equal(oc.stored + oc.quarantined, 0);
}

static void
test_post_store_unavailable(void **state)
{
	struct fx *x = *state;
	struct msgr_store_options o;
	struct msgr_commit *c = NULL;
	struct msgr_respond rs;
	struct msgr_respond_outcome oc;
	struct msgr_request_io io;
	struct fake f;
	char db[160];

	snprintf(db, sizeof(db), "%s/missing/state.db", x->dir);
	memset(&o, 0, sizeof(o));
	o.path = db;
	assert_int_equal(msgr_commit_open(&o, &c), MSGR_OK);
	msgr_respond_init(&rs, x->cfg, c, 0);
	post(&f, "/hook/1", event_body, "App-Secret-77");
	/* Designated: an op added to the struct later starts out NULL here too. */
	io = (struct msgr_request_io){ .ctx = &f, .param = fake_param, .read = fake_read,
	    .write = fake_write };
	msgr_respond(&rs, &x->req, &io, &oc);
	assert_int_equal(oc.status, 503);
	assert_string_equal(oc.note, "store unavailable");
	assert_non_null(strstr(f.out, "\r\nRetry-After: 1\r\n"));
	msgr_commit_close(c);
}

static void
test_status_answer(void **state)
{
	struct fake f;
	struct msgr_request_io io = { .ctx = &f, .param = fake_param, .read = fake_read,
	    .write = fake_write };

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(msgr_respond_status(&io, 500), MSGR_OK);
	assert_answer(&f, "Status: 500 Internal Server Error\r\n", "Internal Server Error\n");
}

/* The log line, read back from stderr: the request's counts, never the query. */
static void
test_log_line(void **state)
{
	struct fx *x = *state;
	struct msgr_respond_outcome oc;
	struct fake f;
	char path[128], *text;
	int saved, fd;

	snprintf(path, sizeof(path), "%s/log", x->dir);
	get(&f, "/hook/1", "hub.mode=subscribe&hub.verify_token=Verify-Token-77&hub.challenge=7");
	respond(x, &f, &oc);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
	msgr_log_init("test_respond", MSGR_LOG_INFO);
	msgr_respond_log(&x->rs, &x->req, &oc, "abc-1", 3);
	x->rs.grouped = 1;
	oc.group = 2;
	oc.counts_of_group = 1;
	msgr_respond_log(&x->rs, &x->req, &oc, "abc-2", 3);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	text = unit_read_file(path, NULL);
	assert_non_null(text);
	assert_non_null(strstr(text, "req=abc-1 method=\"GET\" path=\"/hook/1\" connector=first "
	    "status=200 stored=0 dup=0 quarantined=0 dropped=0 ms=3\n"));
	assert_non_null(strstr(text, "req=abc-2 "));
	assert_non_null(strstr(text, " ms=3 group=2 counts=group\n"));
	assert_null(strstr(text, "Verify-Token"));
	free(text);
}

/* ---- answers written later (msgr_respond_begin / msgr_respond_end) ---- */

static long long
events_in(const struct fx *x)
{
	char db[128];

	snprintf(db, sizeof(db), "%s/state.db", x->dir);
	return unit_sqlite_count(db, "SELECT count(*) FROM events");
}

/* A send step that takes the rows and stores nothing, or refuses them. */
struct sent {
	int calls, refuse;
	size_t n, nq;
	char first_key[64];
};

static msgr_result
fake_send(void *arg, const struct msgr_commit_batch *b, void **call)
{
	struct sent *s = arg;

	s->calls++;
	if (s->refuse)
		return MSGR_ERR_IO;
	s->n = b->n;
	s->nq = b->nq;
	snprintf(s->first_key, sizeof(s->first_key), "%s", b->n > 0 ? b->ev[0].key : "");
	*call = s;
	return MSGR_OK;
}

/* The rows of every POST go to s (refused when refuse). */
static void
send_to(struct fx *x, struct sent *s, int refuse)
{
	memset(s, 0, sizeof(*s));
	s->refuse = refuse;
	x->rs.send = fake_send;
	x->rs.send_arg = s;
}

static int
begin(struct fx *x, struct fake *f, struct msgr_respond_outcome *oc,
    struct msgr_respond_pending *p)
{
	struct msgr_request_io io = { .ctx = f, .param = fake_param, .read = fake_read,
	    .write = fake_write };

	return msgr_respond_begin(&x->rs, &x->req, &io, oc, p);
}

/* The signed event's POST, begun. */
static int
begin_event(struct fx *x, struct fake *f, struct msgr_respond_outcome *oc,
    struct msgr_respond_pending *p)
{
	post(f, "/hook/1", event_body, "App-Secret-77");
	return begin(x, f, oc, p);
}

static void
end(struct fx *x, struct fake *f, struct msgr_respond_outcome *oc,
    struct msgr_respond_pending *p, int lost)
{
	struct msgr_request_io io = { .ctx = f, .param = fake_param, .read = fake_read,
	    .write = fake_write };

	msgr_respond_end(&x->rs, &x->req, &io, oc, p, lost);
}

/* Nothing is written until the commit's answer is in; then 200 with its counts. */
static void
test_deferred_answer(void **state)
{
	struct fx *x = *state;
	struct msgr_respond_outcome oc;
	struct msgr_respond_pending p;
	struct sent s;
	struct fake f;

	send_to(x, &s, 0);
	assert_int_equal(begin_event(x, &f, &oc, &p), 1);
	assert_int_equal(f.out_len, 0);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.nq, 0);
	assert_true(s.first_key[0] != '\0');
	assert_ptr_equal(p.call, &s);
	assert_null(p.b.ev);
	/* the committer's answer: stored, in a group of 3 */
	p.b.rc = MSGR_OK;
	p.b.n_new = 1;
	p.b.n_dup = 0;
	p.b.group = 3;
	p.b.counts_exact = 1;
	end(x, &f, &oc, &p, 0);
	assert_int_equal(oc.status, 200);
	assert_answer(&f, "Status: 200 OK\r\n", "EVENT_RECEIVED");
	assert_int_equal(oc.stored, 1);
	assert_int_equal(oc.dup, 0);
	assert_int_equal(oc.group, 3);
	assert_int_equal(oc.counts_of_group, 0);
	assert_string_equal(oc.connector, "first");
	/* the answers that need no store are written at once, as before */
	get(&f, "/hook/1", "hub.mode=subscribe&hub.verify_token=Verify-Token-77&hub.challenge=42");
	assert_int_equal(begin(x, &f, &oc, &p), 0);
	assert_answer(&f, "Status: 200 OK\r\n", "42");
	post(&f, "/hook/1", event_body, "another secret");
	assert_int_equal(begin(x, &f, &oc, &p), 0);
	assert_int_equal(oc.status, 403);
	assert_int_equal(s.calls, 1);
	/* msgr_respond never leaves a request unanswered: the rows go to the commit, and find
	 * nothing stored before (the deferred answer was the committer's word alone) */
	post(&f, "/hook/1", event_body, "App-Secret-77");
	respond(x, &f, &oc);
	assert_int_equal(oc.status, 200);
	assert_int_equal(oc.stored, 1);
	assert_int_equal(s.calls, 1);
}

/* The committer's failure is a 503 saying why; a group's counts are said to be the group's. */
static void
test_deferred_failed(void **state)
{
	struct fx *x = *state;
	struct msgr_respond_outcome oc;
	struct msgr_respond_pending p;
	struct sent s;
	struct fake f;

	send_to(x, &s, 0);
	assert_int_equal(begin_event(x, &f, &oc, &p), 1);
	p.b.rc = MSGR_ERR_BUSY;
	p.b.group = 2;
	end(x, &f, &oc, &p, 0);
	assert_int_equal(oc.status, 503);
	assert_non_null(strstr(f.out, "\r\nRetry-After: 1\r\n"));
	assert_int_equal(oc.stored, 0);
	assert_non_null(strstr(oc.note, "store:"));

	assert_int_equal(begin_event(x, &f, &oc, &p), 1);
	p.b.rc = MSGR_OK;
	p.b.n_new = 4;
	p.b.n_dup = 1;
	p.b.group = 5;
	p.b.counts_exact = 0;
	end(x, &f, &oc, &p, 0);
	assert_int_equal(oc.status, 200);
	assert_int_equal(oc.stored, 4);
	assert_int_equal(oc.dup, 1);
	assert_int_equal(oc.counts_of_group, 1);
}

/* Lost (the committer's connection broke): the body goes through the commit here, once. */
static void
test_deferred_lost(void **state)
{
	struct fx *x = *state;
	struct msgr_respond_outcome oc;
	struct msgr_respond_pending p;
	struct sent s;
	struct fake f;

	send_to(x, &s, 0);
	assert_int_equal(begin_event(x, &f, &oc, &p), 1);
	end(x, &f, &oc, &p, 1);
	assert_int_equal(oc.status, 200);
	assert_answer(&f, "Status: 200 OK\r\n", "EVENT_RECEIVED");
	assert_int_equal(oc.stored, 1);
	assert_int_equal(s.calls, 1);
	assert_int_equal(events_in(x), 1);
	/* lost again after the committer did store it: found by key, not stored twice */
	assert_int_equal(begin_event(x, &f, &oc, &p), 1);
	end(x, &f, &oc, &p, 1);
	assert_int_equal(oc.status, 200);
	assert_int_equal(oc.stored, 0);
	assert_int_equal(oc.dup, 1);
	assert_int_equal(events_in(x), 1);
}

/* A send step that refuses (no committer): stored through the commit and answered at once. */
static void
test_send_refused(void **state)
{
	struct fx *x = *state;
	struct msgr_respond_outcome oc;
	struct msgr_respond_pending p;
	struct sent s;
	struct fake f;

	send_to(x, &s, 1);
	assert_int_equal(begin_event(x, &f, &oc, &p), 0);
	assert_int_equal(s.calls, 1);
	assert_int_equal(oc.status, 200);
	assert_int_equal(oc.stored, 1);
	assert_answer(&f, "Status: 200 OK\r\n", "EVENT_RECEIVED");
	assert_int_equal(events_in(x), 1);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_init),
		T(test_get_verification),
		T(test_path_and_method),
		T(test_post_stored_once),
		T(test_post_signature_refused),
		T(test_post_body_refusals),
		T(test_post_not_a_webhook),
		T(test_post_store_unavailable),
		cmocka_unit_test(test_status_answer),
		T(test_log_line),
		T(test_deferred_answer),
		T(test_deferred_failed),
		T(test_deferred_lost),
		T(test_send_refused),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
