/* Unit tests: the request reader (lib/request.c) — bounded reading of the head and the body,
 * percent-decoding of the query and of REQUEST_URI, CONTENT_LENGTH, and every refusal the
 * responder answers (docs/responder.md "Answers"), driven through a fake struct
 * msgr_request_io instead of libfcgi or CGI's stdio. */
#include <limits.h>

#include "unit.h"
#include "request.h"

/* ---- a fake transport ---- */

struct fake {
	const char *names[8];
	const char *values[8];
	const char *body;             /* what the client sends */
	size_t body_len;
	size_t pos;
	size_t slice;                 /* at most this many bytes per read (0: as asked) */
	int fail_read;                /* reads fail once fail_after bytes were given */
	size_t fail_after;
	size_t reads;                 /* read calls made */
	char out[4096];               /* what was written */
	size_t out_len;
	int fail_write;               /* the nth write fails (1-based; 0: never) */
	int writes;
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
	size_t left = f->body_len - f->pos;

	f->reads++;
	if (f->fail_read && f->pos >= f->fail_after)
		return -1;
	if (n > left)
		n = left;
	if (f->slice > 0 && n > f->slice)
		n = f->slice;
	memcpy(p, f->body + f->pos, n);
	f->pos += n;
	return (long)n;
}

static int
fake_write(void *ctx, const char *p, size_t n)
{
	struct fake *f = ctx;

	if (f->fail_write > 0 && ++f->writes == f->fail_write)
		return -1;
	assert_true(f->out_len + n < sizeof(f->out));
	memcpy(f->out + f->out_len, p, n);
	f->out_len += n;
	f->out[f->out_len] = '\0';
	return 0;
}

static struct msgr_request_io
io_of(struct fake *f)
{
	struct msgr_request_io io = { .ctx = f, .param = fake_param, .read = fake_read,
	    .write = fake_write };

	return io;
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

/* A request read from a fake with the given parameters; the caller frees it. */
static void
head(struct msgr_request *r, struct fake *f)
{
	struct msgr_request_io io = io_of(f);

	msgr_request_init(r);
	msgr_request_read_head(r, &io);
}

/* ---- the query ---- */

static void
test_query_decodes(void **state)
{
	struct msgr_request r;

	(void)state;
	msgr_request_init(&r);
	msgr_request_parse_query(&r,
	    "hub.mode=subscribe&hub.verify_token=a+b%20c%2Bd&hub.challenge=%41%7a%25");
	assert_true(r.mode_p.present && !r.mode_p.bad);
	assert_string_equal(r.hub_mode, "subscribe");
	assert_int_equal(r.mode_p.len, 9);
	/* '+' is a space in a query, %2B a plus */
	assert_string_equal(r.hub_verify_token, "a b c+d");
	assert_int_equal(r.token_p.len, 7);
	assert_string_equal(r.hub_challenge, "Az%");
	assert_int_equal(r.challenge_p.len, 3);
	msgr_request_free(&r);
}

static void
test_query_keys(void **state)
{
	struct msgr_request r;

	(void)state;
	msgr_request_init(&r);
	/* an encoded key is the same key; other keys, and keys too long to be hub.*, are skipped;
	 * a key without '=' has an empty value */
	msgr_request_parse_query(&r, "x=1&hub%2Emode=subscribe&"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=2&&hub.challenge");
	assert_true(r.mode_p.present && !r.mode_p.bad);
	assert_string_equal(r.hub_mode, "subscribe");
	assert_true(r.challenge_p.present && !r.challenge_p.bad);
	assert_int_equal(r.challenge_p.len, 0);
	assert_false(r.token_p.present);
	msgr_request_free(&r);
}

static void
test_query_bad_percent_stays(void **state)
{
	struct msgr_request r;

	(void)state;
	msgr_request_init(&r);
	/* '%' without two hex digits stays as it is, as browsers and servers do */
	msgr_request_parse_query(&r, "hub.challenge=%zz%4%");
	assert_true(r.challenge_p.present && !r.challenge_p.bad);
	assert_string_equal(r.hub_challenge, "%zz%4%");
	msgr_request_free(&r);
}

static void
test_query_refusals(void **state)
{
	struct msgr_request r;
	char qs[MSGR_MAX_CHALLENGE_BYTES + 64];

	(void)state;
	msgr_request_init(&r);
	/* repeated: which one did Facebook mean? */
	msgr_request_parse_query(&r, "hub.mode=subscribe&hub.mode=subscribe");
	assert_true(r.mode_p.present && r.mode_p.bad);
	/* a NUL byte can never be part of the right token */
	msgr_request_parse_query(&r, "hub.verify_token=ab%00cd");
	assert_true(r.token_p.present && r.token_p.bad);
	assert_string_equal(r.hub_verify_token, "");
	/* a challenge one byte over its bound is refused, never cut */
	snprintf(qs, sizeof(qs), "hub.challenge=");
	memset(qs + strlen(qs), 'x', MSGR_MAX_CHALLENGE_BYTES + 1);
	qs[14 + MSGR_MAX_CHALLENGE_BYTES + 1] = '\0';
	msgr_request_parse_query(&r, qs);
	assert_true(r.challenge_p.present && r.challenge_p.bad);
	assert_string_equal(r.hub_challenge, "");
	/* exactly at the bound it fits */
	msgr_request_reset(&r);
	qs[14 + MSGR_MAX_CHALLENGE_BYTES] = '\0';
	msgr_request_parse_query(&r, qs);
	assert_true(r.challenge_p.present && !r.challenge_p.bad);
	assert_int_equal(r.challenge_p.len, MSGR_MAX_CHALLENGE_BYTES);
	msgr_request_free(&r);
}

/* ---- the head ---- */

static void
test_head_fields(void **state)
{
	struct fake f = { 0 };
	struct msgr_request r;

	(void)state;
	set(&f, "REQUEST_METHOD", "POST");
	set(&f, "PATH_INFO", "/io/x/messenger");
	set(&f, "QUERY_STRING", "hub.mode=subscribe");
	set(&f, "HTTP_X_HUB_SIGNATURE_256", "sha256=00");
	set(&f, "CONTENT_LENGTH", "17");
	head(&r, &f);
	assert_string_equal(r.method, "POST");
	assert_string_equal(r.path, "/io/x/messenger");
	assert_false(r.path_bad);
	assert_string_equal(r.hub_mode, "subscribe");
	assert_true(r.has_signature);
	assert_string_equal(r.signature, "sha256=00");
	assert_int_equal(r.content_length, 17);
	assert_false(r.content_length_bad);
	msgr_request_free(&r);
}

static void
test_head_absent(void **state)
{
	struct fake f = { 0 };
	struct msgr_request r;

	(void)state;
	head(&r, &f);
	assert_string_equal(r.method, "");
	assert_string_equal(r.path, "");
	assert_false(r.path_bad);
	assert_false(r.query_toobig);
	assert_false(r.has_signature);
	/* no CONTENT_LENGTH: the length is unknown (the body is read to its end) */
	assert_int_equal(r.content_length, -1);
	assert_false(r.content_length_bad);
	msgr_request_free(&r);
}

static void
test_head_refusals(void **state)
{
	static char longpath[MSGR_MAX_PATH_BYTES + 2], longquery[MSGR_MAX_QUERY_BYTES + 2];
	char longsig[MSGR_REQUEST_SIGNATURE_MAX + 2];
	struct fake f = { 0 };
	struct msgr_request r;

	(void)state;
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[0] = '/';
	memset(longquery, 'q', sizeof(longquery) - 1);
	memset(longsig, 's', sizeof(longsig) - 1);
	longsig[sizeof(longsig) - 1] = '\0';
	set(&f, "REQUEST_METHOD", "AVERYLONGMETHODNAME");
	set(&f, "PATH_INFO", longpath);
	set(&f, "QUERY_STRING", longquery);
	set(&f, "HTTP_X_HUB_SIGNATURE_256", longsig);
	head(&r, &f);
	assert_string_equal(r.method, "?");         /* no such method: 405 */
	assert_true(r.path_bad);                    /* matches no connector: 404 */
	assert_true(r.query_toobig);                /* 403, never parsed */
	assert_false(r.mode_p.present);
	assert_false(r.has_signature);              /* 403 */
	msgr_request_free(&r);
}

static void
test_head_path_from_uri(void **state)
{
	struct fake f = { 0 };
	struct msgr_request r;

	(void)state;
	/* no PATH_INFO: REQUEST_URI's path, decoded ('+' stays), without SCRIPT_NAME */
	set(&f, "PATH_INFO", "");
	set(&f, "REQUEST_URI", "/cgi/messenger.fcgi/io/a%20b+c?hub.mode=x");
	set(&f, "SCRIPT_NAME", "/cgi/messenger.fcgi");
	head(&r, &f);
	assert_string_equal(r.path, "/io/a b+c");
	assert_false(r.path_bad);
	msgr_request_free(&r);

	/* SCRIPT_NAME not ending at a '/' boundary of the path is not stripped */
	memset(&f, 0, sizeof(f));
	set(&f, "REQUEST_URI", "/cgi/messenger.fcgix/io");
	set(&f, "SCRIPT_NAME", "/cgi/messenger.fcgi");
	head(&r, &f);
	assert_string_equal(r.path, "/cgi/messenger.fcgix/io");
	msgr_request_free(&r);

	/* SCRIPT_NAME the whole path (mounted at "/"): the whole path is the connector's */
	memset(&f, 0, sizeof(f));
	set(&f, "REQUEST_URI", "/io/x/messenger");
	set(&f, "SCRIPT_NAME", "/io/x/messenger");
	head(&r, &f);
	assert_string_equal(r.path, "/io/x/messenger");
	msgr_request_free(&r);

	/* a NUL byte decoded from the path matches nothing */
	memset(&f, 0, sizeof(f));
	set(&f, "REQUEST_URI", "/io/x%00/messenger");
	head(&r, &f);
	assert_true(r.path_bad);
	assert_string_equal(r.path, "");
	msgr_request_free(&r);
}

static void
test_content_length(void **state)
{
	static const struct {
		const char *text;
		long long value;
		int bad;
	} cases[] = {
		{ "", -1, 0 },
		{ "0", 0, 0 },
		{ "4194304", 4194304, 0 },
		{ "007", 7, 0 },
		{ "99999999999999999999999", LLONG_MAX, 0 },   /* still a count: over any bound */
		{ "-1", -1, 1 },
		{ "+1", -1, 1 },
		{ " 1", -1, 1 },
		{ "1 ", -1, 1 },
		{ "12abc", -1, 1 },
		{ "0x10", -1, 1 },
		{ "abc", -1, 1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake f = { 0 };
		struct msgr_request r;

		set(&f, "CONTENT_LENGTH", cases[i].text);
		head(&r, &f);
		assert_int_equal(r.content_length_bad, cases[i].bad);
		if (!cases[i].bad)
			assert_true(r.content_length == cases[i].value);
		msgr_request_free(&r);
	}
}

static void
test_reset_clears(void **state)
{
	struct fake f = { 0 };
	struct msgr_request r;
	struct msgr_request_io io;

	(void)state;
	set(&f, "REQUEST_METHOD", "POST");
	set(&f, "PATH_INFO", "/p");
	set(&f, "QUERY_STRING", "hub.mode=subscribe");
	set(&f, "CONTENT_LENGTH", "3");
	f.body = "abc";
	f.body_len = 3;
	head(&r, &f);
	io = io_of(&f);
	assert_int_equal(msgr_request_read_body(&r, &io, 100), MSGR_OK);
	msgr_request_reset(&r);
	assert_string_equal(r.method, "");
	assert_string_equal(r.path, "");
	assert_false(r.mode_p.present);
	assert_string_equal(r.hub_mode, "");
	assert_int_equal(r.content_length, -1);
	assert_int_equal(r.body.len, 0);
	msgr_request_free(&r);
}

/* ---- the body ---- */

static void
test_body_exact(void **state)
{
	static char big[3 * MSGR_REQUEST_CHUNK + 5];
	char cl[32];
	struct fake f = { 0 };
	struct msgr_request r;
	struct msgr_request_io io;

	(void)state;
	memset(big, 'b', sizeof(big));
	snprintf(cl, sizeof(cl), "%zu", sizeof(big));
	set(&f, "CONTENT_LENGTH", cl);
	f.body = big;
	f.body_len = sizeof(big);
	f.slice = 1000;                              /* the transport gives less than asked */
	head(&r, &f);
	io = io_of(&f);
	assert_int_equal(msgr_request_read_body(&r, &io, sizeof(big)), MSGR_OK);
	assert_int_equal(r.body.len, sizeof(big));
	assert_memory_equal(r.body.data, big, sizeof(big));
	/* exactly CONTENT_LENGTH bytes are read, not what may follow */
	assert_int_equal(f.pos, sizeof(big));
	msgr_request_free(&r);
}

static void
test_body_reads_no_more_than_content_length(void **state)
{
	struct fake f = { 0 };
	struct msgr_request r;
	struct msgr_request_io io;

	(void)state;
	set(&f, "CONTENT_LENGTH", "4");
	f.body = "abcdEXTRA";
	f.body_len = 9;
	head(&r, &f);
	io = io_of(&f);
	assert_int_equal(msgr_request_read_body(&r, &io, 100), MSGR_OK);
	assert_int_equal(r.body.len, 4);
	assert_memory_equal(r.body.data, "abcd", 4);
	assert_int_equal(f.pos, 4);
	msgr_request_free(&r);
}

/* No CONTENT_LENGTH (nginx with request buffering off, a chunked body): the body is what
 * the stream holds, to its end, in whatever slices it comes. */
static void
test_body_without_length(void **state)
{
	static char big[3 * MSGR_REQUEST_CHUNK + 5];
	struct fake f = { 0 };
	struct msgr_request r;
	struct msgr_request_io io;

	(void)state;
	memset(big, 'c', sizeof(big));
	f.body = big;
	f.body_len = sizeof(big);
	f.slice = 777;
	head(&r, &f);
	assert_int_equal(r.content_length, -1);
	io = io_of(&f);
	assert_int_equal(msgr_request_read_body(&r, &io, sizeof(big)), MSGR_OK);
	assert_int_equal(r.body.len, sizeof(big));
	assert_memory_equal(r.body.data, big, sizeof(big));
	assert_false(r.body_left);
	msgr_request_free(&r);

	/* an empty CONTENT_LENGTH is no count either */
	memset(&f, 0, sizeof(f));
	set(&f, "CONTENT_LENGTH", "");
	f.body = "{\"object\":\"page\"}";
	f.body_len = 17;
	head(&r, &f);
	io = io_of(&f);
	assert_int_equal(msgr_request_read_body(&r, &io, 100), MSGR_OK);
	assert_int_equal(r.body.len, 17);
	msgr_request_free(&r);

	/* no body at all: the stream ends at once */
	memset(&f, 0, sizeof(f));
	f.body = "";
	head(&r, &f);
	io = io_of(&f);
	assert_int_equal(msgr_request_read_body(&r, &io, 100), MSGR_OK);
	assert_int_equal(r.body.len, 0);
	assert_int_equal(f.reads, 1);
	msgr_request_free(&r);
}

/* Without a count, max_body still holds: 413, nothing kept, the rest left to drain; a
 * transport failure is IO. */
static void
test_body_without_length_refusals(void **state)
{
	static char big[2 * MSGR_REQUEST_CHUNK];
	struct fake f = { 0 };
	struct msgr_request r;
	struct msgr_request_io io;

	(void)state;
	memset(big, 'd', sizeof(big));
	f.body = big;
	f.body_len = sizeof(big);
	head(&r, &f);
	io = io_of(&f);
	assert_int_equal(msgr_request_read_body(&r, &io, 1000), MSGR_ERR_TOOBIG);
	assert_int_equal(r.body.len, 0);
	assert_true(r.body_left);
	assert_true(f.pos < sizeof(big));
	msgr_request_free(&r);

	memset(&f, 0, sizeof(f));
	f.body = big;
	f.body_len = sizeof(big);
	f.slice = 100;
	f.fail_read = 1;
	f.fail_after = 300;
	head(&r, &f);
	io = io_of(&f);
	assert_int_equal(msgr_request_read_body(&r, &io, sizeof(big)), MSGR_ERR_IO);
	assert_int_equal(r.body.len, 0);
	msgr_request_free(&r);
}

static void
test_body_too_big_refused_before_reading(void **state)
{
	struct fake f = { 0 };
	struct msgr_request r;
	struct msgr_request_io io;

	(void)state;
	set(&f, "CONTENT_LENGTH", "101");
	f.body = "x";
	f.body_len = 1;
	head(&r, &f);
	io = io_of(&f);
	assert_int_equal(msgr_request_read_body(&r, &io, 100), MSGR_ERR_TOOBIG);
	assert_int_equal(f.reads, 0);
	assert_int_equal(r.body.len, 0);
	msgr_request_free(&r);

	/* a count past long long is over any max_body too */
	memset(&f, 0, sizeof(f));
	set(&f, "CONTENT_LENGTH", "99999999999999999999999");
	head(&r, &f);
	io = io_of(&f);
	assert_int_equal(msgr_request_read_body(&r, &io, 100), MSGR_ERR_TOOBIG);
	assert_int_equal(f.reads, 0);
	msgr_request_free(&r);
}

static void
test_body_refusals(void **state)
{
	struct fake f = { 0 };
	struct msgr_request r;
	struct msgr_request_io io;

	(void)state;
	/* not a count: 400 */
	set(&f, "CONTENT_LENGTH", "12abc");
	head(&r, &f);
	io = io_of(&f);
	assert_int_equal(msgr_request_read_body(&r, &io, 100), MSGR_ERR_INVALID);
	assert_int_equal(f.reads, 0);
	msgr_request_free(&r);

	/* the body ends before CONTENT_LENGTH: a truncated request, 400, nothing kept */
	memset(&f, 0, sizeof(f));
	set(&f, "CONTENT_LENGTH", "10");
	f.body = "short";
	f.body_len = 5;
	head(&r, &f);
	io = io_of(&f);
	assert_int_equal(msgr_request_read_body(&r, &io, 100), MSGR_ERR_INVALID);
	assert_int_equal(r.body.len, 0);
	msgr_request_free(&r);

	/* the transport fails mid-body: IO, nothing kept */
	memset(&f, 0, sizeof(f));
	set(&f, "CONTENT_LENGTH", "10");
	f.body = "0123456789";
	f.body_len = 10;
	f.slice = 4;
	f.fail_read = 1;
	f.fail_after = 4;
	head(&r, &f);
	io = io_of(&f);
	assert_int_equal(msgr_request_read_body(&r, &io, 100), MSGR_ERR_IO);
	assert_int_equal(r.body.len, 0);
	msgr_request_free(&r);
}

static void
test_drain_bounded(void **state)
{
	static char rest[3 * MSGR_REQUEST_CHUNK];
	struct fake f = { 0 };
	struct msgr_request_io io;

	(void)state;
	f.body = rest;
	f.body_len = sizeof(rest);
	io = io_of(&f);
	assert_int_equal(msgr_request_drain(&io, MSGR_REQUEST_CHUNK + 10), MSGR_REQUEST_CHUNK + 10);
	assert_int_equal(f.pos, MSGR_REQUEST_CHUNK + 10);
	/* the end of the body ends it early */
	assert_int_equal(msgr_request_drain(&io, sizeof(rest)), sizeof(rest) -
	    MSGR_REQUEST_CHUNK - 10);
	assert_int_equal(msgr_request_drain(&io, 10), 0);
}

/* ---- answers ---- */

static void
test_respond(void **state)
{
	struct fake f = { 0 };
	struct msgr_request_io io = io_of(&f);

	(void)state;
	assert_int_equal(msgr_request_respond(&io, 405, "text/plain", "Allow: GET, POST\r\n",
	    "no", 2), MSGR_OK);
	assert_string_equal(f.out, "Status: 405 Method Not Allowed\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 2\r\n"
	    "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n"
	    "Allow: GET, POST\r\n\r\nno");

	memset(&f, 0, sizeof(f));
	io = io_of(&f);
	assert_int_equal(msgr_request_respond(&io, 200, "text/plain", NULL, "", 0), MSGR_OK);
	assert_string_equal(f.out, "Status: 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 0\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n"
	    "\r\n");
}

static void
test_respond_failures(void **state)
{
	char extra[600];
	struct fake f = { 0 };
	struct msgr_request_io io = io_of(&f);

	(void)state;
	f.fail_write = 1;
	assert_int_equal(msgr_request_respond(&io, 200, "text/plain", NULL, "x", 1), MSGR_ERR_IO);
	memset(&f, 0, sizeof(f));
	f.fail_write = 2;                            /* the head goes, the body does not */
	io = io_of(&f);
	assert_int_equal(msgr_request_respond(&io, 200, "text/plain", NULL, "x", 1), MSGR_ERR_IO);
	/* a head that does not fit is refused whole, nothing written */
	memset(&f, 0, sizeof(f));
	io = io_of(&f);
	memset(extra, 'h', sizeof(extra) - 1);
	extra[sizeof(extra) - 1] = '\0';
	assert_int_equal(msgr_request_respond(&io, 200, "text/plain", extra, "x", 1),
	    MSGR_ERR_INVALID);
	assert_int_equal(f.out_len, 0);
}

static void
test_reasons(void **state)
{
	(void)state;
	assert_string_equal(msgr_request_reason(200), "OK");
	assert_string_equal(msgr_request_reason(400), "Bad Request");
	assert_string_equal(msgr_request_reason(403), "Forbidden");
	assert_string_equal(msgr_request_reason(404), "Not Found");
	assert_string_equal(msgr_request_reason(405), "Method Not Allowed");
	assert_string_equal(msgr_request_reason(413), "Content Too Large");
	assert_string_equal(msgr_request_reason(500), "Internal Server Error");
	assert_string_equal(msgr_request_reason(503), "Service Unavailable");
	assert_string_equal(msgr_request_reason(418), "Error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_decodes),
		cmocka_unit_test(test_query_keys),
		cmocka_unit_test(test_query_bad_percent_stays),
		cmocka_unit_test(test_query_refusals),
		cmocka_unit_test(test_head_fields),
		cmocka_unit_test(test_head_absent),
		cmocka_unit_test(test_head_refusals),
		cmocka_unit_test(test_head_path_from_uri),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_reset_clears),
		cmocka_unit_test(test_body_exact),
		cmocka_unit_test(test_body_reads_no_more_than_content_length),
		cmocka_unit_test(test_body_without_length),
		cmocka_unit_test(test_body_without_length_refusals),
		cmocka_unit_test(test_body_too_big_refused_before_reading),
		cmocka_unit_test(test_body_refusals),
		cmocka_unit_test(test_drain_bounded),
		cmocka_unit_test(test_respond),
		cmocka_unit_test(test_respond_failures),
		cmocka_unit_test(test_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
