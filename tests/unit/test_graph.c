/* Unit tests: graph — the pure classification (every code of docs/facebook.md "Errors"), argument
 * checks, and the libcurl client against tests/fake_graph.py started as a subprocess. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "graph.h"
#include "id.h"
#include "log.h"
#include "signature.h"

#define PAGE_ID    "1111"
#define APP_ID     "9999"
#define PAGE_TOKEN "EAAGpagetoken1111xyz"
#define APP_SECRET "appsecret9999abc"
#define PSID       "5550001"

/* ---- classification table ---- */

struct class_row {
	int transport_ok;
	long http;
	long code;
	long subcode;
	msgr_result want;
};

static const struct class_row class_rows[] = {
	/* transport: network errors, timeouts, answers over the cap */
	{ 0, 0, 0, 0, MSGR_ERR_TRANSIENT },
	{ 0, 200, 0, 0, MSGR_ERR_TRANSIENT },
	/* no Graph error: by status */
	{ 1, 200, 0, 0, MSGR_OK },
	{ 1, 204, 0, 0, MSGR_OK },
	{ 1, 500, 0, 0, MSGR_ERR_TRANSIENT },
	{ 1, 502, 0, 0, MSGR_ERR_TRANSIENT },
	{ 1, 503, 0, 0, MSGR_ERR_TRANSIENT },
	{ 1, 504, 0, 0, MSGR_ERR_TRANSIENT },
	{ 1, 408, 0, 0, MSGR_ERR_TRANSIENT },
	{ 1, 429, 0, 0, MSGR_ERR_TRANSIENT },
	{ 1, 302, 0, 0, MSGR_ERR_TRANSIENT },
	{ 1, 400, 0, 0, MSGR_ERR_PERMANENT },
	{ 1, 403, 0, 0, MSGR_ERR_PERMANENT },
	{ 1, 404, 0, 0, MSGR_ERR_PERMANENT },
	/* temporary, throttled */
	{ 1, 500, 1, 0, MSGR_ERR_TRANSIENT },
	{ 1, 503, 2, 0, MSGR_ERR_TRANSIENT },
	{ 1, 400, 4, 0, MSGR_ERR_TRANSIENT },
	{ 1, 400, 17, 0, MSGR_ERR_TRANSIENT },
	{ 1, 400, 32, 0, MSGR_ERR_TRANSIENT },
	{ 1, 400, 341, 0, MSGR_ERR_TRANSIENT },
	{ 1, 400, 368, 0, MSGR_ERR_TRANSIENT },
	{ 1, 400, 613, 0, MSGR_ERR_TRANSIENT },
	{ 1, 400, 1200, 0, MSGR_ERR_TRANSIENT },
	{ 1, 400, 80006, 0, MSGR_ERR_TRANSIENT },
	/* the code decides, never the status: a throttle on a 200, a permanent on a 500 */
	{ 1, 200, 613, 0, MSGR_ERR_TRANSIENT },
	{ 1, 500, 100, 0, MSGR_ERR_PERMANENT },
	{ 1, 503, 551, 0, MSGR_ERR_PERMANENT },
	{ 1, 500, 190, 0, MSGR_ERR_PAUSE_CONNECTOR },
	/* outside the window, can't receive, unavailable */
	{ 1, 400, 10, 2018278, MSGR_ERR_PERMANENT },
	{ 1, 400, 10, 2018065, MSGR_ERR_PERMANENT },
	{ 1, 400, 10, 2534022, MSGR_ERR_PERMANENT },
	{ 1, 400, 10, 2018108, MSGR_ERR_PERMANENT },
	{ 1, 400, 551, 0, MSGR_ERR_PERMANENT },
	{ 1, 400, 200, 1545041, MSGR_ERR_PERMANENT },
	{ 1, 400, 100, 0, MSGR_ERR_PERMANENT },
	{ 1, 400, 100, 2018001, MSGR_ERR_PERMANENT },
	{ 1, 400, 100, 2018247, MSGR_ERR_PERMANENT },
	/* pause */
	{ 1, 400, 10, 1893063, MSGR_ERR_PAUSE_PAGE },
	{ 1, 400, 104, 0, MSGR_ERR_PAUSE_CONNECTOR },
	{ 1, 401, 190, 0, MSGR_ERR_PAUSE_CONNECTOR },
	{ 1, 400, 190, 463, MSGR_ERR_PAUSE_CONNECTOR },
	/* subscribe, unknown codes, code 10 without a known subcode */
	{ 1, 400, 2200, 0, MSGR_ERR_PERMANENT },
	{ 1, 400, 12345, 0, MSGR_ERR_PERMANENT },
	{ 1, 400, 10, 0, MSGR_ERR_PERMANENT },
	{ 1, 400, -1, 0, MSGR_ERR_PERMANENT },
};

static void
test_classify_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(class_rows) / sizeof(class_rows[0]); i++) {
		const struct class_row *r = &class_rows[i];
		msgr_result got = msgr_graph_classify(r->transport_ok, r->http, r->code, r->subcode);

		if (got != r->want)
			fail_msg("row %zu: transport %d http %ld code %ld/%ld: got %s, want %s", i,
			    r->transport_ok, r->http, r->code, r->subcode, msgr_strerror(got),
			    msgr_strerror(r->want));
	}
}

static void
test_profile_permission(void **state)
{
	(void)state;
	assert_true(msgr_graph_is_profile_permission(100, 2018247));
	assert_false(msgr_graph_is_profile_permission(100, 2018001));
	assert_false(msgr_graph_is_profile_permission(10, 2018247));
	assert_false(msgr_graph_is_profile_permission(100, 0));
}

/* ---- argument checks (no server) ---- */

static void
test_open_rejects(void **state)
{
	struct msgr_graph *g = NULL;
	struct msgr_graph_options o = { "ftp://graph.example", "v26.0", 1000, 500, 0, NULL };

	(void)state;
	assert_int_equal(msgr_graph_open(&o, &g), MSGR_ERR_INVALID);
	assert_null(g);
	o.base_url = "https://graph.facebook.com?x=1";
	assert_int_equal(msgr_graph_open(&o, &g), MSGR_ERR_INVALID);
	o.base_url = "https://graph.facebook.com/";
	o.version = "26.0";
	assert_int_equal(msgr_graph_open(&o, &g), MSGR_ERR_INVALID);
	o.version = "v26.0/../x";
	assert_int_equal(msgr_graph_open(&o, &g), MSGR_ERR_INVALID);
	o.version = "v26.0";
	assert_int_equal(msgr_graph_open(&o, &g), MSGR_OK);
	assert_non_null(g);
	msgr_graph_close(g);
}

static void
test_call_rejects(void **state)
{
	struct msgr_graph *g = NULL;
	/* Nothing is listening on port 9 of loopback: if a check failed to refuse, the call
	 * would come back TRANSIENT instead of INVALID. */
	struct msgr_graph_options o = { "http://127.0.0.1:9", "v26.0", 1000, 500, 0, NULL };
	struct msgr_graph_auth a = { PAGE_TOKEN, APP_SECRET, NULL };
	struct msgr_graph_auth crlf = { "tok\r\nX-Evil: 1", APP_SECRET, NULL };
	struct msgr_graph_auth nosecret = { PAGE_TOKEN, "", NULL };
	struct msgr_graph_param tok = { "access_token", PAGE_TOKEN };
	struct msgr_graph_param proof = { "appsecret_proof", "00" };
	struct msgr_graph_result res;
	const char *bad_field[] = { "Locale" };

	(void)state;
	msgr_graph_result_init(&res);
	assert_int_equal(msgr_graph_open(&o, &g), MSGR_OK);
	assert_int_equal(msgr_graph_call(g, "GET", "../me", NULL, 0, &a, NULL, &res),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_graph_call(g, "GET", "/me", NULL, 0, &a, NULL, &res),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_graph_call(g, "GET", "me?x=1", NULL, 0, &a, NULL, &res),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_graph_call(g, "PUT", "me", NULL, 0, &a, NULL, &res),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_graph_call(g, "GET", "me", &tok, 1, &a, NULL, &res),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_graph_call(g, "GET", "me", &proof, 1, &a, NULL, &res),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_graph_call(g, "GET", "me", NULL, 0, &crlf, NULL, &res),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_graph_call(g, "GET", "me", NULL, 0, &nosecret, NULL, &res),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_graph_sender_action(g, &a, PSID, "dance", NULL, &res),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_graph_sender_action(g, &a, "12a", "typing_on", NULL, &res),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_graph_upload_attachment(g, &a, "sticker", "https://x.example/a",
	    &res), MSGR_ERR_INVALID);
	assert_int_equal(msgr_graph_upload_attachment(g, &a, "image", "file:///etc/passwd", &res),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_graph_profile(g, &a, PSID, bad_field, 1, &res), MSGR_ERR_INVALID);
	assert_int_equal(msgr_graph_pass_thread_control(g, &a, PSID, "somewhere", NULL, &res),
	    MSGR_ERR_INVALID);
	assert_int_equal(msgr_graph_extend_thread_control(g, &a, PSID, 0, &res), MSGR_ERR_INVALID);
	assert_int_equal(msgr_graph_app_subscribe(g, "12x", APP_SECRET, "https://h/x", "vt",
	    "messages", &res), MSGR_ERR_INVALID);
	/* and the network is reached once arguments are right: refused -> transient */
	assert_int_equal(msgr_graph_sender_action(g, &a, PSID, "typing_on", NULL, &res),
	    MSGR_ERR_TRANSIENT);
	assert_int_equal(res.transport_ok, 0);
	assert_true(res.transport_error[0] != '\0');
	msgr_graph_result_clear(&res);
	msgr_graph_close(g);
}

/* ---- the fake Graph API ---- */

struct fake {
	pid_t pid;
	int port;
	char dir[64];
	char cfg[128];
	char portfile[128];
	char base[64];
};

static struct fake fk;
static struct msgr_graph *gr;
static const struct msgr_graph_auth auth = { PAGE_TOKEN, APP_SECRET, NULL };

static int
fake_start(int port)
{
	char fake_path[1024], portarg[16];
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	FILE *f;
	int i, devnull;

	snprintf(fake_path, sizeof(fake_path), "%s/../fake_graph.py", unit_data_dir());
	snprintf(portarg, sizeof(portarg), "%d", port);
	unlink(fk.portfile);
	fk.pid = fork();
	if (fk.pid < 0)
		return -1;
	if (fk.pid == 0) {
		devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 1);
		execlp("python3", "python3", fake_path, "--config", fk.cfg, "--port-file",
		    fk.portfile, "--port", portarg, "--version", "v26.0", (char *)NULL);
		_exit(127);
	}
	/* Wait (bounded: 10 s) for the port file, written atomically by the fake. */
	for (i = 0; i < 200; i++) {
		if ((f = fopen(fk.portfile, "r")) != NULL) {
			int ok = fscanf(f, "%d", &fk.port) == 1;

			fclose(f);
			if (ok && fk.port > 0) {
				snprintf(fk.base, sizeof(fk.base), "http://127.0.0.1:%d", fk.port);
				return 0;
			}
		}
		nanosleep(&ts, NULL);
	}
	return -1;
}

static void
fake_stop(void)
{
	int st;

	if (fk.pid > 0) {
		kill(fk.pid, SIGTERM);
		waitpid(fk.pid, &st, 0);
		fk.pid = 0;
	}
}

static int
group_setup(void **state)
{
	FILE *f;
	struct msgr_graph_options o = { NULL, "v26.0", 1500, 1000, 1048576, NULL };

	(void)state;
	if (msgr_graph_global_init() != MSGR_OK)
		return -1;
	snprintf(fk.dir, sizeof(fk.dir), "/tmp/msgr_graph_XXXXXX");
	if (mkdtemp(fk.dir) == NULL)
		return -1;
	snprintf(fk.cfg, sizeof(fk.cfg), "%s/fake.json", fk.dir);
	snprintf(fk.portfile, sizeof(fk.portfile), "%s/port", fk.dir);
	if ((f = fopen(fk.cfg, "w")) == NULL)
		return -1;
	fprintf(f, "{\"pages\": {\"" PAGE_ID "\": {\"token\": \"" PAGE_TOKEN "\", \"app_id\": \""
	    APP_ID "\", \"app_secret\": \"" APP_SECRET "\"}},"
	    " \"apps\": {\"" APP_ID "\": \"" APP_SECRET "\"},"
	    " \"users\": {\"" PSID "\": {\"first_name\": \"Zo\\u00e9\", \"last_name\": \"Martin\"}},"
	    " \"require_proof\": true}\n");
	fclose(f);
	if (fake_start(0) != 0)
		return -1;
	o.base_url = fk.base;
	return msgr_graph_open(&o, &gr) == MSGR_OK ? 0 : -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	msgr_graph_close(gr);
	fake_stop();
	unlink(fk.cfg);
	unlink(fk.portfile);
	rmdir(fk.dir);
	msgr_graph_global_cleanup();
	return 0;
}

struct ctl_buf {
	char data[1 << 20];
	size_t len;
};

static size_t
ctl_write(char *p, size_t size, size_t n, void *ud)
{
	struct ctl_buf *b = ud;
	size_t k = size * n;

	if (b->len + k >= sizeof(b->data))
		return 0;
	memcpy(b->data + b->len, p, k);
	b->len += k;
	b->data[b->len] = '\0';
	return k;
}

/* A control call to /_fake/...; returns the parsed JSON answer (or NULL). */
static json_t *
ctl(const char *method, const char *what, const char *body)
{
	static struct ctl_buf b;
	char url[256];
	CURL *c = curl_easy_init();
	json_t *j = NULL;

	if (c == NULL)
		return NULL;
	b.len = 0;
	b.data[0] = '\0';
	snprintf(url, sizeof(url), "%s/_fake/%s", fk.base, what);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ctl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "{}");
	if (curl_easy_perform(c) == CURLE_OK)
		j = json_loadb(b.data, b.len, 0, NULL);
	curl_easy_cleanup(c);
	return j;
}

static void
ctl_ok(const char *what, const char *body)
{
	json_t *j = ctl("POST", what, body);

	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "ok")));
	json_decref(j);
}

static json_t *
text_request(const char *text)
{
	return json_pack("{s:{s:s}, s:s, s:{s:s}}", "recipient", "id", PSID,
	    "messaging_type", "RESPONSE", "message", "text", text);
}

static void
test_send_success(void **state)
{
	struct msgr_graph_result res;
	json_t *req = text_request("Hello Zoé");
	json_t *ur = json_pack("{s:{s:s}, s:s, s:{s:s}}", "recipient", "user_ref", "ref-abc",
	    "messaging_type", "RESPONSE", "message", "text", "thanks");

	(void)state;
	msgr_graph_result_init(&res);
	assert_int_equal(msgr_graph_send(gr, &auth, req, &res), MSGR_OK);
	assert_int_equal(res.http_status, 200);
	assert_true(strncmp(res.message_id, "m_", 2) == 0);
	assert_string_equal(res.recipient_id, PSID);
	/* docs/facebook.md: no recipient_id for a user_ref send */
	assert_int_equal(msgr_graph_send(gr, &auth, ur, &res), MSGR_OK);
	assert_true(res.message_id[0] != '\0');
	assert_string_equal(res.recipient_id, "");
	/* a sender action gets only recipient_id */
	assert_int_equal(msgr_graph_sender_action(gr, &auth, PSID, "typing_on", NULL, &res),
	    MSGR_OK);
	assert_string_equal(res.recipient_id, PSID);
	assert_string_equal(res.message_id, "");
	msgr_graph_result_clear(&res);
	json_decref(req);
	json_decref(ur);
}

static void
test_fake_refusals(void **state)
{
	struct msgr_graph_result res;
	struct msgr_graph_auth wrong_secret = { PAGE_TOKEN, "not-the-secret", NULL };
	struct msgr_graph_auth unknown = { "EAAunknowntoken", APP_SECRET, NULL };
	char *longtext = malloc(2002);
	json_t *req;

	(void)state;
	assert_non_null(longtext);
	memset(longtext, 'a', 2001);
	longtext[2001] = '\0';
	msgr_graph_result_init(&res);
	req = text_request("hi");
	/* a wrong proof: 100, permanent */
	assert_int_equal(msgr_graph_send(gr, &wrong_secret, req, &res), MSGR_ERR_PERMANENT);
	assert_int_equal(res.code, 100);
	assert_non_null(strstr(res.message, "appsecret_proof"));
	/* a proof given by the caller is the one sent: made beforehand, it passes; a wrong one is
	 * refused as a wrong secret is */
	{
		char made[MSGR_SIGNATURE_HEX_LEN + 1];
		struct msgr_graph_auth given = { PAGE_TOKEN, APP_SECRET, made };

		assert_int_equal(msgr_signature_hmac_hex(APP_SECRET, PAGE_TOKEN,
		    strlen(PAGE_TOKEN), made), MSGR_OK);
		assert_int_equal(msgr_graph_send(gr, &given, req, &res), MSGR_OK);
		made[0] = made[0] == '0' ? '1' : '0';
		assert_int_equal(msgr_graph_send(gr, &given, req, &res), MSGR_ERR_PERMANENT);
		assert_int_equal(res.code, 100);
	}
	/* an unknown token: 190 pauses the connector */
	assert_int_equal(msgr_graph_send(gr, &unknown, req, &res), MSGR_ERR_PAUSE_CONNECTOR);
	assert_int_equal(res.code, 190);
	assert_null(strstr(res.message, "EAAunknowntoken"));
	json_decref(req);
	/* over 2000 characters */
	req = text_request(longtext);
	assert_int_equal(msgr_graph_send(gr, &auth, req, &res), MSGR_ERR_PERMANENT);
	assert_int_equal(res.code, 100);
	assert_int_equal(res.http_status, 400);
	assert_true(res.fbtrace_id[0] != '\0');
	json_decref(req);
	/* retired tag */
	req = json_pack("{s:{s:s}, s:s, s:s, s:{s:s}}", "recipient", "id", PSID,
	    "messaging_type", "MESSAGE_TAG", "tag", "ACCOUNT_UPDATE", "message", "text", "x");
	assert_int_equal(msgr_graph_send(gr, &auth, req, &res), MSGR_ERR_PERMANENT);
	assert_int_equal(res.code, 100);
	json_decref(req);
	msgr_graph_result_clear(&res);
	free(longtext);
}

struct mode_row {
	const char *mode;
	msgr_result want;
	int transport_ok;
	long code;
	long subcode;
};

static void
test_failure_modes(void **state)
{
	static const struct mode_row rows[] = {
		{ "500", MSGR_ERR_TRANSIENT, 1, 0, 0 },
		{ "unknown", MSGR_ERR_TRANSIENT, 1, 1, 0 },
		{ "service", MSGR_ERR_TRANSIENT, 1, 2, 0 },
		{ "rate", MSGR_ERR_TRANSIENT, 1, 613, 0 },
		{ "rate_80006", MSGR_ERR_TRANSIENT, 1, 80006, 0 },
		{ "permanent", MSGR_ERR_PERMANENT, 1, 551, 1545041 },
		{ "window", MSGR_ERR_PERMANENT, 1, 10, 2018278 },
		{ "token", MSGR_ERR_PAUSE_CONNECTOR, 1, 190, 460 },
		{ "restricted", MSGR_ERR_PAUSE_PAGE, 1, 10, 1893063 },
		{ "close", MSGR_ERR_TRANSIENT, 0, 0, 0 },
		{ "html", MSGR_ERR_TRANSIENT, 1, 0, 0 },
		{ "big", MSGR_ERR_TRANSIENT, 0, 0, 0 },
	};
	struct msgr_graph_result res;
	json_t *req = text_request("hello");
	char body[128];
	size_t i;

	(void)state;
	msgr_graph_result_init(&res);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		/* count 2 for "close": libcurl re-sends once on a fresh connection when a reused one
		 * dies before any answer byte (its stale keep-alive rule), so both must close. */
		snprintf(body, sizeof(body), "{\"mode\": \"%s\", \"count\": %d, \"path\": "
		    "\"/messages\", \"mib\": 2}", rows[i].mode, strcmp(rows[i].mode, "close") ? 1 : 2);
		ctl_ok("fail", body);
		if (msgr_graph_send(gr, &auth, req, &res) != rows[i].want ||
		    res.transport_ok != rows[i].transport_ok || res.code != rows[i].code ||
		    res.subcode != rows[i].subcode)
			fail_msg("mode %s: %s transport %d code %ld/%ld", rows[i].mode,
			    msgr_strerror(res.rc), res.transport_ok, res.code, res.subcode);
		/* the next call goes through: the handle recovers from every failure */
		if (msgr_graph_send(gr, &auth, req, &res) != MSGR_OK)
			fail_msg("after %s: %s (%s)", rows[i].mode, msgr_strerror(res.rc),
			    res.transport_error);
	}
	msgr_graph_result_clear(&res);
	json_decref(req);
}

static void
test_hang_times_out(void **state)
{
	struct msgr_graph_result res;
	json_t *req = text_request("are you there?");
	struct timespec t0, t1;
	double ms;

	(void)state;
	msgr_graph_result_init(&res);
	ctl_ok("fail", "{\"mode\": \"hang\", \"count\": 1, \"seconds\": 20}");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(msgr_graph_send(gr, &auth, req, &res), MSGR_ERR_TRANSIENT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1000.0 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	/* the client's timeout is 1500 ms */
	assert_true(ms >= 1000.0);
	assert_true(ms < 5000.0);
	assert_int_equal(res.transport_ok, 0);
	ctl_ok("clear_fail", NULL);
	assert_int_equal(msgr_graph_send(gr, &auth, req, &res), MSGR_OK);
	msgr_graph_result_clear(&res);
	json_decref(req);
}

static void
test_upload_and_reuse(void **state)
{
	struct msgr_graph_result res;
	json_t *req;
	char id[MSGR_MAX_ID_LEN + 1];

	(void)state;
	msgr_graph_result_init(&res);
	assert_int_equal(msgr_graph_upload_attachment(gr, &auth, "image",
	    "https://picsum.example/cat.jpg", &res), MSGR_OK);
	assert_true(res.attachment_id[0] != '\0');
	memcpy(id, res.attachment_id, sizeof(id));
	req = json_pack("{s:{s:s}, s:s, s:{s:{s:s, s:{s:s}}}}", "recipient", "id", PSID,
	    "messaging_type", "RESPONSE", "message", "attachment", "type", "image", "payload",
	    "attachment_id", id);
	assert_int_equal(msgr_graph_send(gr, &auth, req, &res), MSGR_OK);
	json_decref(req);
	/* an id the fake never issued is refused (Facebook: expired after 90 days) */
	req = json_pack("{s:{s:s}, s:s, s:{s:{s:s, s:{s:s}}}}", "recipient", "id", PSID,
	    "messaging_type", "RESPONSE", "message", "attachment", "type", "image", "payload",
	    "attachment_id", "123456");
	assert_int_equal(msgr_graph_send(gr, &auth, req, &res), MSGR_ERR_PERMANENT);
	assert_int_equal(res.code, 100);
	json_decref(req);
	msgr_graph_result_clear(&res);
}

static void
test_profile(void **state)
{
	struct msgr_graph_result res;
	const char *locale[] = { "locale" };

	(void)state;
	msgr_graph_result_init(&res);
	assert_int_equal(msgr_graph_profile(gr, &auth, PSID, NULL, 0, &res), MSGR_OK);
	assert_string_equal(json_string_value(json_object_get(res.json, "first_name")), "Zoé");
	assert_string_equal(json_string_value(json_object_get(res.json, "last_name")), "Martin");
	assert_non_null(json_object_get(res.json, "profile_pic"));
	assert_int_equal(res.profile_permission, 0);
	/* locale needs a permission the page lacks: reported apart, so the caller falls back */
	assert_int_equal(msgr_graph_profile(gr, &auth, PSID, locale, 1, &res), MSGR_ERR_PERMANENT);
	assert_int_equal(res.code, 100);
	assert_int_equal(res.subcode, 2018247);
	assert_int_equal(res.profile_permission, 1);
	msgr_graph_result_clear(&res);
}

static void
test_thread_control(void **state)
{
	struct msgr_graph_result res;
	json_t *req = text_request("still there?");

	(void)state;
	msgr_graph_result_init(&res);
	assert_int_equal(msgr_graph_thread_owner(gr, &auth, PAGE_ID, PSID, &res), MSGR_OK);
	assert_string_equal(res.owner_app_id, APP_ID);
	assert_int_equal(msgr_graph_pass_thread_control(gr, &auth, PSID, "inbox", "to a human",
	    &res), MSGR_OK);
	assert_true(json_is_true(json_object_get(res.json, "success")));
	assert_int_equal(msgr_graph_thread_owner(gr, &auth, PAGE_ID, PSID, &res), MSGR_OK);
	assert_string_equal(res.owner_app_id, MSGR_PAGE_INBOX_APP_ID);
	/* not the owner any more: the send is refused (code 10, permanent) */
	assert_int_equal(msgr_graph_send(gr, &auth, req, &res), MSGR_ERR_PERMANENT);
	assert_int_equal(res.code, 10);
	assert_int_equal(msgr_graph_request_thread_control(gr, &auth, PSID, "please", &res),
	    MSGR_OK);
	assert_int_equal(msgr_graph_take_thread_control(gr, &auth, PSID, "back", &res), MSGR_OK);
	assert_int_equal(msgr_graph_thread_owner(gr, &auth, PAGE_ID, PSID, &res), MSGR_OK);
	assert_string_equal(res.owner_app_id, APP_ID);
	assert_int_equal(msgr_graph_extend_thread_control(gr, &auth, PSID, 3600, &res), MSGR_OK);
	assert_int_equal(msgr_graph_release_thread_control(gr, &auth, PSID, NULL, &res), MSGR_OK);
	assert_int_equal(msgr_graph_send(gr, &auth, req, &res), MSGR_OK);
	msgr_graph_result_clear(&res);
	json_decref(req);
}

static void
test_usage_headers(void **state)
{
	struct msgr_graph_result res;

	(void)state;
	msgr_graph_result_init(&res);
	assert_int_equal(msgr_graph_sender_action(gr, &auth, PSID, "mark_seen", NULL, &res),
	    MSGR_OK);
	assert_int_equal(res.usage.app_pct, -1);
	assert_int_equal(res.usage.retry_after_ms, 0);
	ctl_ok("usage", "{\"app\": {\"call_count\": 42, \"total_time\": 10, \"total_cputime\": 5},"
	    " \"page\": {\"call_count\": 7, \"total_time\": 3, \"total_cputime\": 1},"
	    " \"buc\": {\"" PAGE_ID "\": [{\"type\": \"pages\", \"call_count\": 95,"
	    " \"total_cputime\": 3, \"total_time\": 4, \"estimated_time_to_regain_access\": 5}]}}");
	assert_int_equal(msgr_graph_sender_action(gr, &auth, PSID, "mark_seen", NULL, &res),
	    MSGR_OK);
	assert_int_equal(res.usage.app_pct, 42);
	assert_int_equal(res.usage.page_pct, 7);
	assert_int_equal(res.usage.buc_pct, 95);
	assert_int_equal(res.usage.retry_after_ms, 5 * 60000);
	ctl_ok("usage", "{}");
	msgr_graph_result_clear(&res);
}

static void
test_subscriptions(void **state)
{
	struct msgr_graph_result res;
	char cb[256];
	json_t *data, *prof;
	const char *gs[] = { "greeting" };

	(void)state;
	msgr_graph_result_init(&res);
	snprintf(cb, sizeof(cb), "%s/_fake/callback?token=verify-me", fk.base);
	/* the callback does not echo the challenge for a wrong verify token: 2200 */
	assert_int_equal(msgr_graph_app_subscribe(gr, APP_ID, APP_SECRET, cb, "wrong", "messages",
	    &res), MSGR_ERR_PERMANENT);
	assert_int_equal(res.code, 2200);
	assert_non_null(strstr(res.message, "Callback verification failed"));
	assert_int_equal(msgr_graph_app_subscribe(gr, APP_ID, APP_SECRET, cb, "verify-me",
	    "messages,messaging_postbacks", &res), MSGR_OK);
	assert_int_equal(msgr_graph_app_subscriptions(gr, APP_ID, APP_SECRET, &res), MSGR_OK);
	data = json_object_get(res.json, "data");
	assert_int_equal(json_array_size(data), 1);
	assert_true(json_is_true(json_object_get(json_array_get(data, 0), "active")));
	/* an app call with the page token is refused */
	assert_int_equal(msgr_graph_call(gr, "GET", APP_ID "/subscriptions", NULL, 0, &auth, NULL,
	    &res), MSGR_ERR_PERMANENT);
	assert_int_equal(msgr_graph_page_subscribe(gr, &auth, PAGE_ID,
	    "messages,messaging_postbacks,standby", &res), MSGR_OK);
	assert_int_equal(msgr_graph_page_subscribed_apps(gr, &auth, PAGE_ID, &res), MSGR_OK);
	assert_int_equal(json_array_size(json_object_get(res.json, "data")), 1);
	assert_int_equal(msgr_graph_page_subscribe(gr, &auth, PAGE_ID, "messages,telepathy",
	    &res), MSGR_ERR_PERMANENT);
	/* messenger profile */
	prof = json_pack("{s:{s:s}, s:[{s:s, s:s}]}", "get_started", "payload", "GET_STARTED",
	    "greeting", "locale", "default", "text", "Hi {{user_first_name}}!");
	assert_int_equal(msgr_graph_messenger_profile_set(gr, &auth, prof, &res), MSGR_OK);
	assert_string_equal(json_string_value(json_object_get(res.json, "result")), "success");
	json_decref(prof);
	prof = json_pack("{s:[{s:s, s:[{s:s, s:s, s:s}]}]}", "persistent_menu", "locale",
	    "default", "call_to_actions", "type", "postback", "title", "Help", "payload", "HELP");
	assert_int_equal(msgr_graph_messenger_profile_set(gr, &auth, prof, &res), MSGR_OK);
	json_decref(prof);
	assert_int_equal(msgr_graph_messenger_profile_delete(gr, &auth, gs, 1, &res), MSGR_OK);
	msgr_graph_result_clear(&res);
}

/* Runs last among the fake tests: every call so far must have carried the token in the
 * Authorization header only, with a right proof unless the test meant otherwise. */
static void
test_token_never_in_url(void **state)
{
	json_t *v, *calls, *c;
	size_t i, n_bearer = 0;
	const char *q;

	(void)state;
	v = ctl("GET", "violations", NULL);
	assert_non_null(v);
	assert_int_equal(json_array_size(json_object_get(v, "violations")), 0);
	json_decref(v);
	calls = ctl("GET", "calls", NULL);
	assert_non_null(calls);
	assert_true(json_array_size(json_object_get(calls, "calls")) > 20);
	json_array_foreach(json_object_get(calls, "calls"), i, c) {
		json_t *query = json_object_get(c, "query");

		if (json_is_true(json_object_get(c, "bearer")))
			n_bearer++;
		assert_null(json_object_get(query, "access_token"));
		q = json_string_value(json_object_get(c, "proof"));
		/* only test_fake_refusals sent a wrong proof on purpose */
		if (q != NULL && strcmp(q, "ok") != 0)
			assert_string_equal(q, "bad");
	}
	assert_int_equal(n_bearer, json_array_size(json_object_get(calls, "calls")));
	json_decref(calls);
}

/* Nothing this module writes to the log holds the token, the secret or the proof. */
static void
test_no_secret_in_log(void **state)
{
	char path[128], buf[65536], proof[MSGR_SIGNATURE_HEX_LEN + 1];
	struct msgr_graph_result res;
	json_t *req = text_request("log me");
	int fd, saved;
	ssize_t n;

	(void)state;
	msgr_graph_result_init(&res);
	msgr_log_set_level(MSGR_LOG_DEBUG);
	snprintf(path, sizeof(path), "%s/log", fk.dir);
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	assert_true(fd >= 0);
	saved = dup(2);
	dup2(fd, 2);
	msgr_graph_send(gr, &auth, req, &res);
	ctl_ok("fail", "{\"mode\": \"token\", \"count\": 1}");
	msgr_graph_send(gr, &auth, req, &res);
	ctl_ok("fail", "{\"mode\": \"close\", \"count\": 1}");
	msgr_graph_send(gr, &auth, req, &res);
	msgr_graph_app_subscriptions(gr, APP_ID, APP_SECRET, &res);
	dup2(saved, 2);
	close(saved);
	msgr_log_set_level(MSGR_LOG_INFO);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "me/messages"));
	assert_null(strstr(buf, PAGE_TOKEN));
	assert_null(strstr(buf, APP_SECRET));
	assert_int_equal(msgr_signature_hmac_hex(APP_SECRET, PAGE_TOKEN, strlen(PAGE_TOKEN), proof),
	    MSGR_OK);
	assert_null(strstr(buf, proof));
	assert_null(strstr(res.message, APP_SECRET));
	assert_null(strstr(res.transport_error, PAGE_TOKEN));
	msgr_graph_result_clear(&res);
	json_decref(req);
}

/* Stop the fake: connections are refused (transient); start it again on the same port: the
 * same handle works again. Runs last: it restarts the fake with fresh state. */
static void
test_refused_then_back(void **state)
{
	struct msgr_graph_result res;
	json_t *req = text_request("anyone?");
	int port = fk.port;

	(void)state;
	msgr_graph_result_init(&res);
	fake_stop();
	assert_int_equal(msgr_graph_send(gr, &auth, req, &res), MSGR_ERR_TRANSIENT);
	assert_int_equal(res.transport_ok, 0);
	assert_int_equal(res.http_status, 0);
	assert_int_equal(fake_start(port), 0);
	assert_int_equal(fk.port, port);
	assert_int_equal(msgr_graph_send(gr, &auth, req, &res), MSGR_OK);
	assert_true(res.message_id[0] != '\0');
	msgr_graph_result_clear(&res);
	json_decref(req);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_classify_table),
		cmocka_unit_test(test_profile_permission),
		cmocka_unit_test(test_open_rejects),
		cmocka_unit_test(test_call_rejects),
	};
	const struct CMUnitTest live[] = {
		cmocka_unit_test(test_send_success),
		cmocka_unit_test(test_fake_refusals),
		cmocka_unit_test(test_failure_modes),
		cmocka_unit_test(test_hang_times_out),
		cmocka_unit_test(test_upload_and_reuse),
		cmocka_unit_test(test_profile),
		cmocka_unit_test(test_thread_control),
		cmocka_unit_test(test_usage_headers),
		cmocka_unit_test(test_subscriptions),
		cmocka_unit_test(test_token_never_in_url),
		cmocka_unit_test(test_no_secret_in_log),
		cmocka_unit_test(test_refused_then_back),
	};
	int failed;

	signal(SIGPIPE, SIG_IGN);
	failed = cmocka_run_group_tests_name("graph", pure, NULL, NULL);
	failed += cmocka_run_group_tests_name("graph against the fake", live, group_setup,
	    group_teardown);
	return failed;
}
