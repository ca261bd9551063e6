/* Unit tests: config (lib/config.c) — every key, defaults, secrets, relative paths, and
 * every class of fault reported with file:line, all together, never quoting a secret. */
#include "unit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#include "lsan_libconfig.h"

/* ---- helpers ---- */

static char data_path_buf[4096];

/* tests/data/config/<name> */
static const char *
data_path(const char *name)
{
	snprintf(data_path_buf, sizeof(data_path_buf), "%s/config/%s", unit_data_dir(), name);
	return data_path_buf;
}

/* The absolute, resolved tests/data/config folder (what relative paths resolve against). */
static char *
data_dir_abs(void)
{
	char *d;

	snprintf(data_path_buf, sizeof(data_path_buf), "%s/config", unit_data_dir());
	d = realpath(data_path_buf, NULL);
	assert_non_null(d);
	return d;
}

static char tmpdir[64];

static int
setup_tmp(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/msgr-config-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_tmp(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes text into tmpdir/name; returns the path (static buffer per call site use). */
static const char *
write_tmp(const char *name, const char *text)
{
	static char path[4][256];
	static int slot;
	FILE *fp;
	char *p = path[slot++ % 4];

	snprintf(p, 256, "%s/%s", tmpdir, name);
	fp = fopen(p, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
	assert_int_equal(fclose(fp), 0);
	return p;
}

/* Loads path expecting failure; returns the error text (free it). */
static char *
load_fail(const char *path)
{
	struct msgr_config *cfg = (struct msgr_config *)1;
	char *errors = NULL;

	assert_int_equal(msgr_config_load(path, &cfg, &errors), MSGR_ERR_CONFIG);
	assert_null(cfg);
	assert_non_null(errors);
	return errors;
}

static struct msgr_config *
load_ok(const char *path)
{
	struct msgr_config *cfg = NULL;
	char *errors = NULL;
	msgr_result rc = msgr_config_load(path, &cfg, &errors);

	if (rc != MSGR_OK)
		fprintf(stderr, "# unexpected errors:\n%s", errors ? errors : "(none)\n");
	assert_int_equal(rc, MSGR_OK);
	assert_null(errors);
	assert_non_null(cfg);
	return cfg;
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return n;
}

/* Asserts errors has a line starting with "<path>:<line>: " and containing what. */
static void
assert_fault(const char *errors, const char *path, int line, const char *what)
{
	char prefix[512];
	const char *p = errors;

	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	while (p != NULL && *p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char one[2048];

		snprintf(one, sizeof(one), "%.*s", (int)len, p);
		if (strncmp(one, prefix, strlen(prefix)) == 0 && strstr(one, what) != NULL)
			return;
		p = eol ? eol + 1 : NULL;
	}
	fail_msg("no fault \"%s...%s\" in:\n%s", prefix, what, errors);
}

/* A valid connector, to build configs around one fault. */
#define CONN(id, path, app, page, extra) \
	"{ id = \"" id "\"; path = \"" path "\"; app_id = \"" app "\"; page_id = \"" page "\";\n" \
	"  call_token = \"ct-" id "-1234\"; webhook_token = \"wt-1234\"; secret = \"sec-1234\";\n" \
	"  bot = { type = \"stories\"; file = \"s.conf\"; }; " extra " }"

/* ---- tests ---- */

static void
test_full(void **state)
{
	struct msgr_config *cfg;
	const struct msgr_connector *c;
	char *dir = data_dir_abs(), expect[4200];

	(void)state;
	setenv("MSGR_TEST_CALL_TOKEN", "call-token-from-env", 1);
	cfg = load_ok(data_path("full.conf"));

	snprintf(expect, sizeof(expect), "%s/full.conf", dir);
	assert_string_equal(cfg->file, expect);
	assert_string_equal(cfg->dir, dir);
	assert_string_equal(cfg->graph.url, "http://127.0.0.1:8099");   /* trailing '/' dropped */
	assert_string_equal(cfg->graph.version, "v25.0");
	assert_int_equal(cfg->graph.timeout_ms, 8000);
	assert_int_equal(cfg->graph.connect_timeout_ms, 1500);
	snprintf(expect, sizeof(expect), "%s/var/state.db", dir);
	assert_string_equal(cfg->state.path, expect);
	assert_int_equal(cfg->state.journal, MSGR_JOURNAL_DELETE);
	assert_int_equal(cfg->state.sync, MSGR_SYNC_NORMAL);
	assert_int_equal(cfg->state.busy_timeout_ms, 1500);
	assert_int_equal(cfg->max_body, 1048576);
	assert_int_equal(cfg->log_level, MSGR_LOG_DEBUG);
	assert_int_equal(cfg->worker.budget_ms, 250);
	assert_int_equal(cfg->worker.lease_ms, 20000);
	assert_int_equal(cfg->worker.retry_max_s, 3600);
	assert_int_equal(cfg->worker.idle_ms, 100);
	assert_int_equal(cfg->n_connectors, 3);

	c = &cfg->connectors[0];
	assert_string_equal(c->id, "new_assistant");
	assert_string_equal(c->path, "/io/xxxx/new_assistant/messenger");
	assert_string_equal(c->app_id, "1234567890");
	assert_string_equal(c->page_id, "111111");
	assert_string_equal(c->call_token, "call-token-from-env");
	assert_string_equal(c->webhook_token, "verify-token-1");
	assert_string_equal(c->secret, "app-secret-from-file");    /* trailing newline dropped */
	/* appsecret_proof made once at load, from the secrets as read */
	{
		char proof[MSGR_SIGNATURE_HEX_LEN + 1];

		assert_int_equal(msgr_signature_hmac_hex("app-secret-from-file",
		    "call-token-from-env", strlen("call-token-from-env"), proof), MSGR_OK);
		assert_string_equal(c->proof, proof);
	}
	assert_int_equal(c->bot.type, MSGR_BOT_STORIES);
	snprintf(expect, sizeof(expect), "%s/stories.conf", dir);
	assert_string_equal(c->bot.file, expect);
	assert_string_equal(c->persona_id, "555");
	assert_int_equal(c->n_profile_fields, 2);
	assert_string_equal(c->profile_fields[0], "locale");
	assert_string_equal(c->profile_fields[1], "timezone");
	assert_int_equal(c->send_rate, 20);
	assert_int_equal(c->on_request_thread_control, MSGR_RTC_HONOUR);
	assert_int_equal(c->line, 9);
	assert_true(c->profile.present);
	assert_string_equal(c->profile.get_started, "GET_STARTED");
	assert_int_equal(c->profile.n_greeting, 2);
	assert_string_equal(c->profile.greeting[1].locale, "fr_FR");
	assert_string_equal(c->profile.greeting[1].text, "Bonjour {{user_first_name}} !");
	assert_int_equal(c->profile.n_ice_breakers, 1);
	assert_string_equal(c->profile.ice_breakers[0].question, "What can you do?");
	assert_string_equal(c->profile.ice_breakers[0].payload, "HELP");
	assert_int_equal(c->profile.n_menus, 1);
	assert_string_equal(c->profile.menus[0].locale, "default");
	assert_int_equal(c->profile.menus[0].n_items, 2);
	assert_string_equal(c->profile.menus[0].items[0].payload, "HELP");
	assert_null(c->profile.menus[0].items[0].url);
	assert_string_equal(c->profile.menus[0].items[1].title, "Website");
	assert_string_equal(c->profile.menus[0].items[1].url, "https://example.org");
	assert_null(c->profile.menus[0].items[1].payload);
	assert_int_equal(c->profile.n_whitelisted_domains, 1);
	assert_string_equal(c->profile.whitelisted_domains[0], "https://example.org");

	c = &cfg->connectors[1];
	assert_string_equal(c->id, "api.bot-2");
	assert_int_equal(c->bot.type, MSGR_BOT_API);
	assert_string_equal(c->bot.url, "http://127.0.0.1:9000/bot");
	assert_string_equal(c->bot.secret, "bot-secret-from-file");
	assert_int_equal(c->bot.timeout_ms, 3000);
	assert_int_equal(c->bot.events, (1UL << MSGR_EVENT_MESSAGE) | (1UL << MSGR_EVENT_POSTBACK) |
	    (1UL << MSGR_EVENT_DELIVERY));
	assert_false(c->profile.present);
	assert_null(c->persona_id);

	/* an absolute path stays as written */
	assert_string_equal(cfg->connectors[2].bot.file, "/etc/msgr/stories.conf");

	msgr_config_free(cfg);
	free(dir);
}

static void
test_defaults(void **state)
{
	struct msgr_config *cfg;
	const struct msgr_connector *c;
	char *dir = data_dir_abs(), expect[4200];

	(void)state;
	cfg = load_ok(data_path("minimal.conf"));
	assert_string_equal(cfg->graph.url, "https://graph.facebook.com");
	assert_string_equal(cfg->graph.version, "v26.0");
	assert_int_equal(cfg->graph.timeout_ms, 10000);
	assert_int_equal(cfg->graph.connect_timeout_ms, 3000);
	snprintf(expect, sizeof(expect), "%s/state.db", dir);
	assert_string_equal(cfg->state.path, expect);
	assert_int_equal(cfg->state.journal, MSGR_JOURNAL_WAL);
	assert_int_equal(cfg->state.sync, MSGR_SYNC_FULL);
	assert_int_equal(cfg->state.busy_timeout_ms, 2000);
	assert_int_equal(cfg->max_body, MSGR_MAX_BODY_DEFAULT);
	assert_int_equal(cfg->log_level, MSGR_LOG_INFO);
	assert_int_equal(cfg->worker.budget_ms, 1000);
	assert_int_equal(cfg->worker.lease_ms, 30000);
	assert_int_equal(cfg->worker.retry_max_s, 86400);
	assert_int_equal(cfg->worker.idle_ms, 500);
	assert_int_equal(cfg->worker.echo_wait_ms, MSGR_ECHO_WAIT_DEFAULT_MS);
	c = &cfg->connectors[0];
	assert_int_equal(c->send_rate, 50);
	assert_int_equal(c->on_request_thread_control, MSGR_RTC_IGNORE);
	assert_int_equal(c->bot.timeout_ms, 5000);
	assert_int_equal(c->bot.events, MSGR_BOT_EVENTS_DEFAULT);
	assert_true(c->bot.events & (1UL << MSGR_EVENT_ACCOUNT_LINKING));
	assert_false(c->bot.events & (1UL << MSGR_EVENT_DELIVERY));
	assert_null(c->persona_id);
	assert_int_equal(c->n_profile_fields, 0);
	assert_false(c->profile.present);
	msgr_config_free(cfg);
	free(dir);
}

static void
test_lookups(void **state)
{
	struct msgr_config *cfg;

	(void)state;
	setenv("MSGR_TEST_CALL_TOKEN", "call-token-from-env", 1);
	cfg = load_ok(data_path("full.conf"));
	assert_ptr_equal(msgr_config_by_path(cfg, "/io/xxxx/api_bot/messenger"), &cfg->connectors[1]);
	assert_null(msgr_config_by_path(cfg, "/io/xxxx/api_bot/messenger/"));
	assert_null(msgr_config_by_path(cfg, NULL));
	assert_ptr_equal(msgr_config_by_id(cfg, "other_app"), &cfg->connectors[2]);
	assert_null(msgr_config_by_id(cfg, "nope"));
	assert_ptr_equal(msgr_config_by_page(cfg, "1234567890", "222222"), &cfg->connectors[1]);
	/* routing stays within one app: page 111111 of app 999 does not exist */
	assert_null(msgr_config_by_page(cfg, "999", "111111"));
	assert_ptr_equal(msgr_config_by_page(cfg, "999", "111111000"), &cfg->connectors[2]);
	msgr_config_free(cfg);
}

static void
test_default_path(void **state)
{
	(void)state;
	setenv("MSGR_CONFIG", "/x/y.conf", 1);
	assert_string_equal(msgr_config_default_path(), "/x/y.conf");
	setenv("MSGR_CONFIG", "", 1);
	assert_string_equal(msgr_config_default_path(), MSGR_DEFAULT_CONFIG);
	unsetenv("MSGR_CONFIG");
	assert_string_equal(msgr_config_default_path(), MSGR_DEFAULT_CONFIG);
}

static void
test_env_secret_missing(void **state)
{
	char *e;

	(void)state;
	setenv("MSGR_TEST_CALL_TOKEN", "", 1);
	e = load_fail(data_path("full.conf"));
	assert_fault(e, data_path("full.conf"), 12, "environment variable MSGR_TEST_CALL_TOKEN is empty");
	assert_int_equal(count_lines(e), 1);
	free(e);
	unsetenv("MSGR_TEST_CALL_TOKEN");
	e = load_fail(data_path("full.conf"));
	assert_fault(e, data_path("full.conf"), 12, "'call_token' in connector 'new_assistant': "
	    "environment variable MSGR_TEST_CALL_TOKEN is not set");
	free(e);
}

static void
test_file_secrets(void **state)
{
	const char *p;
	char *e, text[4096], big[MSGR_MAX_SECRET_FILE + 2];
	struct msgr_config *cfg;

	(void)state;
	/* absolute, relative, CRLF ending */
	write_tmp("crlf.secret", "crlf-secret-value\r\n");
	snprintf(text, sizeof(text), "connectors = ( { id = \"a\"; path = \"/a\"; app_id = \"1\";\n"
	    " page_id = \"2\"; call_token = \"file:%s/crlf.secret\"; webhook_token = \"file:crlf.secret\";\n"
	    " secret = \"literal-secret\"; bot = { type = \"stories\"; file = \"s.conf\"; }; } );\n",
	    tmpdir);
	cfg = load_ok(write_tmp("ok.conf", text));
	assert_string_equal(cfg->connectors[0].call_token, "crlf-secret-value");
	assert_string_equal(cfg->connectors[0].webhook_token, "crlf-secret-value");
	assert_string_equal(cfg->connectors[0].secret, "literal-secret");
	msgr_config_free(cfg);

	/* empty, two lines, missing, too big: each names the file, all four reported */
	write_tmp("empty.secret", "\n");
	write_tmp("two.secret", "SecretLineOne\nSecretLineTwo\n");
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_tmp("big.secret", big);
	p = write_tmp("bad.conf",
	    "connectors = ( { id = \"a\"; path = \"/a\"; app_id = \"1\"; page_id = \"2\";\n"
	    "  call_token = \"file:empty.secret\";\n"
	    "  webhook_token = \"file:two.secret\";\n"
	    "  secret = \"file:none.secret\";\n"
	    "  bot = { type = \"api\"; url = \"http://127.0.0.1/\"; secret = \"file:big.secret\"; }; } );\n");
	e = load_fail(p);
	assert_int_equal(count_lines(e), 4);
	snprintf(text, sizeof(text), "secret file %s/empty.secret is empty", tmpdir);
	assert_fault(e, p, 2, text);
	snprintf(text, sizeof(text), "secret file %s/two.secret must hold one line", tmpdir);
	assert_fault(e, p, 3, text);
	snprintf(text, sizeof(text), "cannot read secret file %s/none.secret", tmpdir);
	assert_fault(e, p, 4, text);
	snprintf(text, sizeof(text), "secret file %s/big.secret is larger than", tmpdir);
	assert_fault(e, p, 5, text);
	assert_null(strstr(e, "SecretLine"));
	assert_null(strstr(e, "kkkk"));
	free(e);
}

static void
test_relative_include(void **state)
{
	struct msgr_config *cfg;
	char text[1024], expect[512];
	char *dir;

	(void)state;
	write_tmp("conn.inc", CONN("inc", "/inc", "5", "6", "") "\n");
	snprintf(text, sizeof(text), "state = { path = \"db/state.sqlite\"; };\n"
	    "connectors = (\n@include \"conn.inc\"\n);\n");
	/* loaded by a relative name from another working directory: paths follow the file */
	snprintf(expect, sizeof(expect), "%s/main.conf", tmpdir);
	write_tmp("main.conf", text);
	dir = getcwd(NULL, 0);
	assert_non_null(dir);
	assert_int_equal(chdir(tmpdir), 0);
	cfg = load_ok("main.conf");
	assert_int_equal(chdir(dir), 0);
	free(dir);
	dir = realpath(tmpdir, NULL);
	snprintf(expect, sizeof(expect), "%s/db/state.sqlite", dir);
	assert_string_equal(cfg->state.path, expect);
	snprintf(expect, sizeof(expect), "%s/s.conf", dir);
	assert_string_equal(cfg->connectors[0].bot.file, expect);
	assert_string_equal(cfg->connectors[0].id, "inc");
	msgr_config_free(cfg);

	/* a fault inside an @include names that file (openable from anywhere) and its line,
	 * and its integer literals are re-read there too */
	write_tmp("bad.inc", CONN("inc", "/inc", "5", "6", "\n  send_rate = 4294967346;") "\n");
	write_tmp("main2.conf", "connectors = (\n@include \"bad.inc\"\n);\n");
	{
		char *e, want[4200];

		snprintf(want, sizeof(want), "%s/main2.conf", tmpdir);
		e = load_fail(want);
		snprintf(want, sizeof(want), "%s/bad.inc", dir);
		assert_fault(e, want, 4, "'send_rate' in connector 'inc' must be between 1 and 250");
		assert_int_equal(count_lines(e), 1);
		free(e);
	}
	free(dir);
}

static void
test_three_faults_together(void **state)
{
	const char *p = data_path("three_faults.conf");
	char *e;

	(void)state;
	e = load_fail(p);
	assert_int_equal(count_lines(e), 3);
	assert_fault(e, p, 1, "'max_body' must be an integer, not a string");
	assert_fault(e, p, 5, "unknown key 'colour' in connector 'a'");
	assert_fault(e, p, 7, "'send_rate' in connector 'a' must be between 1 and 250");
	free(e);
}

static void
test_unknown_keys_everywhere(void **state)
{
	const char *p;
	char *e;

	(void)state;
	p = write_tmp("unknown.conf",
	    "grph = { };\n"
	    "graph = { urll = \"x\"; };\n"
	    "state = { jornal = \"wal\"; };\n"
	    "worker = { leese_ms = 1; };\n"
	    "connectors = ( " CONN("a", "/a", "1", "2",
	    "profile = { greetings = (); ice_breakers = ( { question = \"q\"; payload = \"p\"; "
	    "answer = \"x\"; } ); };") " );\n");
	e = load_fail(p);
	assert_fault(e, p, 1, "unknown key 'grph'");
	assert_fault(e, p, 2, "unknown key 'graph.urll'");
	assert_fault(e, p, 3, "unknown key 'state.jornal'");
	assert_fault(e, p, 4, "unknown key 'worker.leese_ms'");
	assert_fault(e, p, 7, "unknown key 'profile.greetings' in connector 'a'");
	assert_fault(e, p, 7, "unknown key 'profile.ice_breakers[1].answer' in connector 'a'");
	assert_int_equal(count_lines(e), 6);
	free(e);
}

static void
test_wrong_types(void **state)
{
	const char *p;
	char *e;

	(void)state;
	p = write_tmp("types.conf",
	    "graph = { timeout_ms = \"10s\"; url = 5; };\n"
	    "state = \"state.db\";\n"
	    "log_level = 1;\n"
	    "connectors = ( { id = 7; path = \"/a\"; app_id = 1; page_id = \"2\";\n"
	    "  call_token = true; webhook_token = \"w-1234\"; secret = \"s-1234\";\n"
	    "  bot = { type = \"api\"; url = \"https://x/\"; secret = \"b-1234\"; timeout_ms = 1.5;\n"
	    "          events = \"message\"; };\n"
	    "  send_rate = \"fast\"; profile_fields = ( 1 ); } );\n");
	e = load_fail(p);
	assert_fault(e, p, 1, "'graph.timeout_ms' must be an integer, not a string");
	assert_fault(e, p, 1, "'graph.url' must be a string, not an integer");
	assert_fault(e, p, 2, "'state' must be a group { ... }, not a string");
	assert_fault(e, p, 3, "'log_level' must be a string, not an integer");
	assert_fault(e, p, 4, "'id' in connector #1 must be a string, not an integer");
	assert_fault(e, p, 4, "'app_id' in connector #1 must be a string, not an integer");
	assert_fault(e, p, 5, "'call_token' in connector #1 must be a string, not a boolean");
	assert_fault(e, p, 6, "'bot.timeout_ms' in connector #1 must be an integer, not a float");
	assert_fault(e, p, 7, "'bot.events' in connector #1 must be a list ( ... ), not a string");
	assert_fault(e, p, 8, "'send_rate' in connector #1 must be an integer, not a string");
	assert_fault(e, p, 8, "'profile_fields' in connector #1 must hold strings, not an integer");
	free(e);
}

static void
test_duplicates(void **state)
{
	const char *p = data_path("duplicates.conf");
	char *e, want[8192];

	(void)state;
	e = load_fail(p);
	snprintf(want, sizeof(want), "duplicate path '/a' in connector 'b': connector 'a' (%s:2)", p);
	assert_fault(e, p, 5, want);
	snprintf(want, sizeof(want), "duplicate id 'a': the connector at %s:2 has it too", p);
	assert_fault(e, p, 8, want);
	snprintf(want, sizeof(want), "duplicate page_id '10' in connector 'a': connector 'a' (%s:2)", p);
	assert_fault(e, p, 8, want);
	assert_int_equal(count_lines(e), 3);
	free(e);
}

static void
test_app_group_and_no_secret_in_errors(void **state)
{
	const char *p = data_path("app_group.conf");
	char *e, want[8192];

	(void)state;
	e = load_fail(p);
	snprintf(want, sizeof(want), "connectors 'first' (%s:2) and 'second' share app_id 77 but not "
	    "its secret", p);
	assert_fault(e, p, 5, want);
	snprintf(want, sizeof(want), "connectors 'first' (%s:2) and 'second' share app_id 77 but not "
	    "its webhook_token", p);
	assert_fault(e, p, 5, want);
	assert_int_equal(count_lines(e), 2);
	assert_null(strstr(e, "App-Secret"));
	assert_null(strstr(e, "Verify-Token"));
	assert_null(strstr(e, "ct-first"));
	free(e);
}

static void
test_secret_never_in_errors(void **state)
{
	const char *p;
	char *e;

	(void)state;
	/* secrets in wrong shapes and places: the message names the key only */
	p = write_tmp("leak.conf",
	    "connectors = ( { id = \"a\"; path = \"/a\"; app_id = \"1\"; page_id = \"2\";\n"
	    "  call_token = \"TopSecretCallToken\"; webhook_token = \"env:TopSecret-Var\";\n"
	    "  secret = \"TopSecretAppSecret\"; token = \"TopSecretUnknown\";\n"
	    "  bot = { type = \"stories\"; file = \"s.conf\"; secret = \"TopSecretBot\"; }; },\n"
	    "  { id = \"b\"; path = \"/b\"; app_id = \"1\"; page_id = \"3\";\n"
	    "  call_token = \"TopSecretCallToken2\"; webhook_token = \"TopSecretVerify\";\n"
	    "  secret = \"TopSecretAppSecret2\"; bot = { type = \"stories\"; file = \"s\"; }; } );\n");
	e = load_fail(p);
	assert_fault(e, p, 2, "'webhook_token' in connector 'a': env: needs a variable name");
	assert_fault(e, p, 3, "unknown key 'token' in connector 'a'");
	assert_fault(e, p, 4, "'bot.secret' in connector 'a' applies only to bot type \"api\"");
	assert_fault(e, p, 5, "share app_id 1 but not its secret");
	assert_null(strstr(e, "TopSecret"));
	free(e);
}

static void
test_syntax_error(void **state)
{
	const char *p = data_path("syntax.conf");
	char *e;

	(void)state;
	e = load_fail(p);
	assert_fault(e, p, 4, "syntax error");
	assert_int_equal(count_lines(e), 1);
	free(e);
	/* a string right after the fault (libconfig leaks it: suppressed above) */
	p = write_tmp("syntax2.conf", "max_body = 2048;\nconnectors = 1 \"x\";\n");
	e = load_fail(p);
	assert_fault(e, p, 2, "syntax error");
	assert_int_equal(count_lines(e), 1);
	free(e);
	/* a missing file is a config error naming the file */
	e = load_fail(data_path("no-such.conf"));
	assert_non_null(strstr(e, "no-such.conf: cannot read: No such file"));
	free(e);
}

static void
test_bounds(void **state)
{
	char *text, *e, want[256];
	const char *p;
	size_t n = MSGR_MAX_CONFIG_STRING + 600;

	(void)state;
	text = malloc(n + 2048);
	assert_non_null(text);
	/* a string one byte over the bound */
	snprintf(text, n + 2048,
	    "max_body = 67108865;\n"
	    "state = { busy_timeout_ms = 5000; };\n"
	    "graph = { timeout_ms = 3000000000; };\n"
	    "worker = { budget_ms = -1; };\n"
	    "connectors = ( " CONN("a", "/a", "1", "2", "send_rate = 251;\n persona_id = \"%0*d\";")
	    " );\n", MSGR_MAX_CONFIG_STRING + 1, 7);
	p = write_tmp("bounds.conf", text);
	e = load_fail(p);
	assert_fault(e, p, 1, "'max_body' must be between 1024 and 67108864");
	assert_fault(e, p, 2, "'state.busy_timeout_ms' must be between 1 and 3000");
	/* libconfig wraps 3000000000 into a small int: the literal is re-read */
	assert_fault(e, p, 3, "'graph.timeout_ms' must be between 100 and 120000");
	assert_fault(e, p, 4, "'worker.budget_ms' must be between 0 and 60000");
	assert_fault(e, p, 7, "'send_rate' in connector 'a' must be between 1 and 250");
	snprintf(want, sizeof(want), "'persona_id' in connector 'a' is longer than %d bytes",
	    MSGR_MAX_CONFIG_STRING);
	assert_fault(e, p, 8, want);
	assert_int_equal(count_lines(e), 6);
	free(e);
	free(text);

	/* the edges themselves are fine */
	p = write_tmp("edges.conf", "max_body = 67108864; state = { busy_timeout_ms = 3000; };\n"
	    "connectors = ( " CONN("a", "/a", "1", "2", "send_rate = 250;") " );\n");
	{
		struct msgr_config *cfg = load_ok(p);
		assert_int_equal(cfg->max_body, MSGR_MAX_BODY_CEILING);
		assert_int_equal(cfg->connectors[0].send_rate, MSGR_SEND_RATE_MAX);
		msgr_config_free(cfg);
	}
}

static void
test_value_shapes(void **state)
{
	const char *p;
	char *e;

	(void)state;
	p = write_tmp("shapes.conf",
	    "connectors = (\n"
	    "{ id = \"bad id!\"; path = \"relative/path\"; app_id = \"12a\"; page_id = \"\";\n"
	    "  call_token = \"ct-1234\"; webhook_token = \"wt-1234\"; secret = \"sec-1234\";\n"
	    "  on_request_thread_control = \"obey\"; persona_id = \"p1\";\n"
	    "  bot = { type = \"api\"; url = \"ftp://x\"; secret = \"b-1234\"; events = ( \"mesage\" ); }; },\n"
	    "{ id = \"c\"; path = \"/c\"; app_id = \"3\"; page_id = \"4\";\n"
	    "  call_token = \"ct-1234\"; webhook_token = \"wt-1234\"; secret = \"sec-1234\"; } );\n");
	e = load_fail(p);
	assert_fault(e, p, 2, "'id' in connector #1 must be 1 to 64 characters");
	assert_fault(e, p, 2, "'path' in connector #1 must start with '/'");
	assert_fault(e, p, 2, "'app_id' in connector #1 must be digits only");
	assert_fault(e, p, 2, "'page_id' in connector #1 is empty");
	assert_fault(e, p, 4, "'on_request_thread_control' in connector #1 must be \"ignore\" or \"honour\"");
	assert_fault(e, p, 4, "'persona_id' in connector #1 must be digits only");
	assert_fault(e, p, 5, "'bot.url' in connector #1 must be an http:// or https:// URL");
	assert_fault(e, p, 5, "'bot.events' in connector #1: unknown event kind \"mesage\"");
	assert_fault(e, p, 6, "missing key 'bot' in connector 'c'");
	assert_int_equal(count_lines(e), 9);
	free(e);
}

static void
test_profile_limits(void **state)
{
	char text[4096], longgreet[200], longtitle[40];
	const char *p;
	char *e;

	(void)state;
	memset(longgreet, 'g', 161);
	longgreet[161] = '\0';
	memset(longtitle, 't', 31);
	longtitle[31] = '\0';
	snprintf(text, sizeof(text),
	    "connectors = ( " CONN("a", "/a", "1", "2",
	    "profile = {\n"
	    "  greeting = ( { locale = \"default\"; text = \"%s\"; },\n"
	    "               { locale = \"default\"; text = \"again\"; } );\n"
	    "  ice_breakers = ( { question = \"1\"; payload = \"1\"; }, { question = \"2\"; payload = \"2\"; },\n"
	    "                   { question = \"3\"; payload = \"3\"; }, { question = \"4\"; payload = \"4\"; },\n"
	    "                   { question = \"5\"; payload = \"5\"; } );\n"
	    "  persistent_menu = ( { locale = \"fr_FR\"; items = ( { title = \"%s\"; payload = \"P\"; },\n"
	    "                                                  { title = \"no action\"; } ); } );\n"
	    "  whitelisted_domains = ( \"http://insecure.example\" );\n"
	    "};") " );\n", longgreet, longtitle);
	p = write_tmp("profile.conf", text);
	e = load_fail(p);
	assert_fault(e, p, 4, "'profile.greeting[1].text' in connector 'a' is longer than 160 characters");
	assert_fault(e, p, 5, "'profile.greeting' in connector 'a': locale \"default\" appears twice");
	assert_fault(e, p, 6, "'profile.ice_breakers' in connector 'a' has 5 elements, at most 4");
	assert_fault(e, p, 9, "'profile.persistent_menu[1].items[1].title' in connector 'a' is longer than 30");
	assert_fault(e, p, 10, "'profile.persistent_menu[1].items[2]' in connector 'a' needs a payload or a url");
	assert_fault(e, p, 9, "'profile.persistent_menu' in connector 'a' needs an entry with locale \"default\"");
	assert_fault(e, p, 9, "'profile.persistent_menu' in connector 'a' needs 'profile.get_started'");
	assert_fault(e, p, 11, "'profile.whitelisted_domains' in connector 'a': element 1 must be an https:// URL");
	assert_int_equal(count_lines(e), 8);
	free(e);

	/* characters, not bytes: 160 two-byte characters fit */
	{
		char greet[400];
		struct msgr_config *cfg;
		int i;

		for (i = 0; i < 160; i++)
			memcpy(greet + 2 * i, "\xc3\xa9", 2);
		greet[320] = '\0';
		snprintf(text, sizeof(text), "connectors = ( " CONN("a", "/a", "1", "2",
		    "profile = { greeting = ( { locale = \"default\"; text = \"%s\"; } ); };") " );\n",
		    greet);
		cfg = load_ok(write_tmp("utf8.conf", text));
		assert_int_equal(strlen(cfg->connectors[0].profile.greeting[0].text), 320);
		msgr_config_free(cfg);
	}
}

static void
test_cross_limits(void **state)
{
	const char *p;
	char *e;

	(void)state;
	p = write_tmp("cross.conf",
	    "graph = { timeout_ms = 2000; connect_timeout_ms = 2500; };\n"
	    "worker = { lease_ms = 1500; };\n"
	    "connectors = ( { id = \"a\"; path = \"/a\"; app_id = \"1\"; page_id = \"2\";\n"
	    "  call_token = \"ct-1234\"; webhook_token = \"wt-1234\"; secret = \"sec-1234\";\n"
	    "  bot = { type = \"api\"; url = \"https://x/\"; secret = \"b-1234\"; }; } );\n");
	e = load_fail(p);
	assert_fault(e, p, 1, "'graph.connect_timeout_ms' (2500) must not exceed 'graph.timeout_ms' (2000)");
	assert_fault(e, p, 2, "'worker.lease_ms' (1500) must exceed 'graph.timeout_ms' (2000)");
	assert_fault(e, p, 3, "'bot.timeout_ms' in connector 'a' (5000) must be below 'worker.lease_ms' (1500)");
	assert_int_equal(count_lines(e), 3);
	free(e);

	/* The wait for an echo: 0 .. 600000. */
	p = write_tmp("echo.conf",
	    "worker = { echo_wait_ms = 600001; };\n"
	    "connectors = ( { id = \"a\"; path = \"/a\"; app_id = \"1\"; page_id = \"2\";\n"
	    "  call_token = \"ct-1234\"; webhook_token = \"wt-1234\"; secret = \"sec-1234\";\n"
	    "  bot = { type = \"api\"; url = \"https://x/\"; secret = \"b-1234\"; }; } );\n");
	e = load_fail(p);
	assert_fault(e, p, 1, "echo_wait_ms");
	assert_int_equal(count_lines(e), 1);
	free(e);
	{
		struct msgr_config *cfg;

		p = write_tmp("echo2.conf",
		    "worker = { echo_wait_ms = 0; };\n"
		    "connectors = ( { id = \"a\"; path = \"/a\"; app_id = \"1\"; page_id = \"2\";\n"
		    "  call_token = \"ct-1234\"; webhook_token = \"wt-1234\"; secret = \"sec-1234\";\n"
		    "  bot = { type = \"api\"; url = \"https://x/\"; secret = \"b-1234\"; }; } );\n");
		cfg = load_ok(p);
		assert_int_equal(cfg->worker.echo_wait_ms, 0);
		msgr_config_free(cfg);
	}

	/* no connectors at all */
	p = write_tmp("empty.conf", "connectors = ();\n");
	e = load_fail(p);
	assert_fault(e, p, 1, "'connectors' is empty");
	free(e);
	p = write_tmp("none.conf", "max_body = 2048;\n");
	e = load_fail(p);
	assert_non_null(strstr(e, "none.conf: missing key 'connectors'"));
	free(e);
}

static void
test_many_faults_capped(void **state)
{
	char *text, *e;
	size_t i, o = 0, cap = 64 * 1024;

	(void)state;
	text = malloc(cap);
	assert_non_null(text);
	for (i = 0; i < 150; i++)
		o += (size_t)snprintf(text + o, cap - o, "unknown_%zu = 1;\n", i);
	o += (size_t)snprintf(text + o, cap - o, "connectors = ( " CONN("a", "/a", "1", "2", "") " );\n");
	e = load_fail(write_tmp("many.conf", text));
	assert_int_equal(count_lines(e), MSGR_MAX_CONFIG_ERRORS + 1);
	assert_non_null(strstr(e, "50 more errors not shown"));
	free(e);
	free(text);
}

static void
test_secrets_redacted_in_log(void **state)
{
	struct msgr_config *cfg;
	char path[300], buf[4096];
	int fd, saved;
	ssize_t n;

	(void)state;
	setenv("MSGR_TEST_CALL_TOKEN", "call-token-from-env", 1);
	cfg = load_ok(data_path("full.conf"));
	snprintf(path, sizeof(path), "%s/log.txt", tmpdir);
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	assert_true(fd >= 0);
	saved = dup(STDERR_FILENO);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	msgr_log(MSGR_LOG_ERROR, "oops %s %s %s", cfg->connectors[0].call_token,
	    cfg->connectors[0].secret, cfg->connectors[1].bot.secret);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_null(strstr(buf, "call-token-from-env"));
	assert_null(strstr(buf, "app-secret-from-file"));
	assert_null(strstr(buf, "bot-secret-from-file"));
	assert_non_null(strstr(buf, "[redacted]"));
	msgr_config_free(cfg);
}

/* The example users copy must itself load (examples/msgr.conf). */
/* simulator = { ... } absent: off, the default URL, no clock, no personas. */
static void
test_simulator_defaults(void **state)
{
	struct msgr_config *cfg;

	(void)state;
	cfg = load_ok(data_path("minimal.conf"));
	assert_int_equal(cfg->simulator.enabled, 0);
	assert_string_equal(cfg->simulator.url, "http://127.0.0.1:8080");
	assert_null(cfg->simulator.clock_file);
	assert_null(cfg->simulator.personas);
	assert_int_equal(cfg->simulator.n_personas, 0);
	msgr_config_free(cfg);

	/* an empty group is the same */
	cfg = load_ok(write_tmp("sim-empty.conf", "simulator = { personas = ( ); };\n"
	    "connectors = ( " CONN("a", "/a", "1", "2", "") " );\n"));
	assert_int_equal(cfg->simulator.enabled, 0);
	assert_string_equal(cfg->simulator.url, "http://127.0.0.1:8080");
	assert_int_equal(cfg->simulator.n_personas, 0);
	msgr_config_free(cfg);
}

/* Every key; clock_file made absolute beside the config like state.path. */
static void
test_simulator_full(void **state)
{
	struct msgr_config *cfg;
	char expect[300];

	(void)state;
	cfg = load_ok(write_tmp("sim.conf",
	    "simulator = { enabled = true; url = \"http://127.0.0.1:8081/\"; clock_file = \"sim-clock\";\n"
	    "  personas = ( { id = \"7001\"; name = \"Lumi\"; picture = \"/_sim/static/lumi.svg\"; },\n"
	    "               { id = \"7002\"; name = \"Zoé\"; picture = \"https://example.org/z.png\"; } ); };\n"
	    "connectors = ( " CONN("a", "/a", "1", "2", "") " );\n"));
	assert_int_equal(cfg->simulator.enabled, 1);
	assert_string_equal(cfg->simulator.url, "http://127.0.0.1:8081");   /* trailing '/' dropped */
	snprintf(expect, sizeof(expect), "%s/sim-clock", tmpdir);
	assert_string_equal(cfg->simulator.clock_file, expect);
	assert_int_equal(cfg->simulator.n_personas, 2);
	assert_string_equal(cfg->simulator.personas[0].id, "7001");
	assert_string_equal(cfg->simulator.personas[0].name, "Lumi");
	assert_string_equal(cfg->simulator.personas[0].picture, "/_sim/static/lumi.svg");
	assert_string_equal(cfg->simulator.personas[1].name, "Zoé");
	assert_string_equal(cfg->simulator.personas[1].picture, "https://example.org/z.png");
	msgr_config_free(cfg);

	/* an absolute clock_file stays as written; enabled = false still reads the rest */
	cfg = load_ok(write_tmp("sim-abs.conf",
	    "simulator = { enabled = false; url = \"http://[::1]/sim/\"; clock_file = \"/var/tmp/clock\"; };\n"
	    "connectors = ( " CONN("a", "/a", "1", "2", "") " );\n"));
	assert_int_equal(cfg->simulator.enabled, 0);
	assert_string_equal(cfg->simulator.url, "http://[::1]/sim");
	assert_string_equal(cfg->simulator.clock_file, "/var/tmp/clock");
	msgr_config_free(cfg);
}

/* simulator.url: http:// on a loopback host only, whatever else curl would take. */
static void
test_simulator_url(void **state)
{
	static const char *const good[] = { "http://127.0.0.1", "http://127.0.0.1:8080",
		"http://localhost:9/x/y", "http://LOCALHOST", "http://[::1]:8080/", NULL };
	static const char *const bad[] = { "https://127.0.0.1:8080", "http://example.org",
		"http://10.0.0.1:8080", "http://127.0.0.1.example.org", "http://localhost.example",
		"http://user@127.0.0.1", "http://127.0.0.1\\\\@example.org", "http://127.0.0.1:0",
		"http://127.0.0.1:99999", "http://127.0.0.1/?x=1", "http://127.0.0.1/#top",
		"http:/127.0.0.1", "http:///127.0.0.1", "HTTP://127.0.0.1", "ftp://127.0.0.1",
		"127.0.0.1:8080", "http://", "http://[::2]", "http://[::1%25lo]", NULL };
	char text[1024];
	const char *p;
	char *e;
	int i;

	(void)state;
	for (i = 0; good[i] != NULL; i++) {
		struct msgr_config *cfg;

		snprintf(text, sizeof(text), "simulator = { enabled = true; url = \"%s\"; };\n"
		    "connectors = ( " CONN("a", "/a", "1", "2", "") " );\n", good[i]);
		cfg = load_ok(write_tmp("sim-good.conf", text));
		assert_int_equal(strncmp(cfg->simulator.url, good[i], strlen(cfg->simulator.url)), 0);
		msgr_config_free(cfg);
	}
	for (i = 0; bad[i] != NULL; i++) {
		snprintf(text, sizeof(text), "connectors = ( " CONN("a", "/a", "1", "2", "") " );\n"
		    "simulator = { enabled = %s;\n  url = \"%s\"; };\n", i % 2 ? "true" : "false",
		    bad[i]);
		p = write_tmp("sim-bad.conf", text);
		e = load_fail(p);
		assert_fault(e, p, 5, "'simulator.url' must be http:// on 127.0.0.1, localhost or "
		    "[::1]: the simulator is for this machine only");
		assert_int_equal(count_lines(e), 1);
		free(e);
	}
}

/* Each fault of the group, all at once, named by key and line. */
static void
test_simulator_faults(void **state)
{
	char text[2048], longname[128];
	const char *p;
	char *e;

	(void)state;
	memset(longname, 'n', 101);
	longname[101] = '\0';
	snprintf(text, sizeof(text),
	    "simulator = { enabled = 1; colour = \"blue\"; clock_file = 5;\n"
	    "  personas = ( { id = \"p1\"; name = \"Lumi\"; picture = \"lumi.svg\"; },\n"
	    "               { id = \"7\"; name = \"%s\"; picture = \"/x.svg\"; mood = \"ok\"; },\n"
	    "               { id = \"7\"; name = \"\"; },\n"
	    "               \"Lumi\" ); };\n"
	    "connectors = ( " CONN("a", "/a", "1", "2", "") " );\n", longname);
	p = write_tmp("sim-faults.conf", text);
	e = load_fail(p);
	assert_fault(e, p, 1, "'simulator.enabled' must be a boolean (true or false), not an integer");
	assert_fault(e, p, 1, "unknown key 'simulator.colour'");
	assert_fault(e, p, 1, "'simulator.clock_file' must be a string, not an integer");
	assert_fault(e, p, 2, "'simulator.personas[1].id' must be digits only, at most 64 of them");
	assert_fault(e, p, 2, "'simulator.personas[1].picture' must be an http:// or https:// URL, "
	    "or a path starting with '/'");
	assert_fault(e, p, 3, "'simulator.personas[2].name' is longer than 100 characters");
	assert_fault(e, p, 3, "unknown key 'simulator.personas[2].mood'");
	assert_fault(e, p, 4, "'simulator.personas[3].name' is empty");
	assert_fault(e, p, 4, "missing key 'simulator.personas[3].picture'");
	assert_fault(e, p, 4, "'simulator.personas[3].id' \"7\" is already the id of "
	    "'simulator.personas[2]'");
	assert_fault(e, p, 5, "'simulator.personas[4]' must be a group { ... }, not a string");
	assert_int_equal(count_lines(e), 11);
	free(e);

	p = write_tmp("sim-type.conf", "simulator = true;\n"
	    "connectors = ( " CONN("a", "/a", "1", "2", "") " );\n");
	e = load_fail(p);
	assert_fault(e, p, 1, "'simulator' must be a group { ... }, not a boolean");
	free(e);
	p = write_tmp("sim-list.conf", "simulator = { personas = { id = \"1\"; }; };\n"
	    "connectors = ( " CONN("a", "/a", "1", "2", "") " );\n");
	e = load_fail(p);
	assert_fault(e, p, 1, "'simulator.personas' must be a list ( ... ), not a group");
	free(e);
}

static void
test_example_config(void **state)
{
	struct msgr_config *cfg;
	char path[4200];

	(void)state;
	snprintf(path, sizeof(path), "%s/../../examples/msgr.conf", unit_data_dir());
	cfg = load_ok(path);
	assert_int_equal(cfg->n_connectors, 1);
	assert_int_equal(cfg->connectors[0].bot.type, MSGR_BOT_STORIES);
	assert_true(cfg->connectors[0].profile.present);
	msgr_config_free(cfg);
}

static void
test_bad_arguments(void **state)
{
	struct msgr_config *cfg = NULL;
	char *errors = NULL;

	(void)state;
	assert_int_equal(msgr_config_load(NULL, &cfg, &errors), MSGR_ERR_INVALID);
	assert_int_equal(msgr_config_load(data_path("minimal.conf"), NULL, NULL), MSGR_ERR_INVALID);
	/* errors may be NULL */
	assert_int_equal(msgr_config_load(data_path("three_faults.conf"), &cfg, NULL), MSGR_ERR_CONFIG);
	assert_null(cfg);
	msgr_config_free(NULL);
}

struct exposure { int n; char last[1024]; };

static void
on_exposed(void *arg, const char *text)
{
	struct exposure *e = arg;

	e->n++;
	snprintf(e->last, sizeof(e->last), "%s", text);
}

/* A config readable by others that holds a secret inline, and a readable file: secret, are
 * reported (never the value); mode 600 files are not. */
static void
test_exposure(void **state)
{
	struct msgr_config *cfg;
	struct exposure e;
	const char *conf, *tok;
	char path[300];

	(void)state;
	tok = write_tmp("tok.secret", "EAAfilesecret0123456789\n");
	conf = write_tmp("exposed.conf",
	    "connectors = ( { id = \"a\"; path = \"/a\"; app_id = \"1\"; page_id = \"2\";\n"
	    "  call_token = \"file:tok.secret\"; webhook_token = \"verifyTOKENinline\";\n"
	    "  secret = \"appSECRETinline\"; bot = { type = \"stories\"; file = \"s.conf\"; }; } );\n");
	assert_int_equal(chmod(tok, 0600), 0);
	assert_int_equal(chmod(conf, 0600), 0);
	cfg = load_ok(conf);
	memset(&e, 0, sizeof(e));
	assert_int_equal(msgr_config_exposure(cfg, on_exposed, &e), 0);
	assert_int_equal(e.n, 0);

	assert_int_equal(chmod(conf, 0644), 0);
	assert_int_equal(msgr_config_exposure(cfg, on_exposed, &e), 1);   /* one per file */
	assert_non_null(strstr(e.last, "exposed.conf is readable by everyone"));
	assert_non_null(strstr(e.last, "holds secrets inline"));
	assert_null(strstr(e.last, "SECRETinline"));
	assert_null(strstr(e.last, "TOKENinline"));

	assert_int_equal(chmod(conf, 0600), 0);
	assert_int_equal(chmod(tok, 0640), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(msgr_config_exposure(cfg, on_exposed, &e), 1);
	snprintf(path, sizeof(path), "%s/tok.secret", tmpdir);
	assert_non_null(strstr(e.last, path));
	assert_non_null(strstr(e.last, "readable by its group"));
	assert_non_null(strstr(e.last, "call_token"));
	assert_null(strstr(e.last, "EAAfilesecret"));
	msgr_config_free(cfg);
}

/* state.backend and state.conninfo (docs/configuration.md "state"): PostgreSQL is chosen by
 * name and needs a conninfo, a secret like any other (env:, file:, never in a message). */
static void
test_state_backend(void **state)
{
	struct msgr_config *cfg;
	const char *p;
	char *e;

	(void)state;
	assert_int_equal(setenv("MSGR_UT_PG", "host=/run/pg dbname=msgr user=msgr"
	    " password=Pg-Secret-9", 1), 0);
	p = write_tmp("pg.conf", "state = { backend = \"postgresql\"; conninfo = \"env:MSGR_UT_PG\";"
	    " busy_timeout_ms = 1000; };\nconnectors = ( " CONN("a", "/a", "1", "2", "") " );\n");
	cfg = load_ok(p);
	assert_int_equal(cfg->state.backend, MSGR_BACKEND_POSTGRESQL);
	assert_string_equal(cfg->state.conninfo, getenv("MSGR_UT_PG"));
	assert_int_equal(cfg->state.busy_timeout_ms, 1000);
	msgr_config_free(cfg);
	p = write_tmp("sq.conf", "state = { backend = \"sqlite\"; };\nconnectors = ( "
	    CONN("a", "/a", "1", "2", "") " );\n");
	cfg = load_ok(p);
	assert_int_equal(cfg->state.backend, MSGR_BACKEND_SQLITE);
	assert_null(cfg->state.conninfo);
	msgr_config_free(cfg);

	p = write_tmp("pg-faults.conf", "state = { backend = \"postgresql\"; };\n"
	    "connectors = ( " CONN("a", "/a", "1", "2", "") " );\n");
	e = load_fail(p);
	assert_fault(e, p, 1, "'state.backend' = \"postgresql\" needs 'state.conninfo'");
	free(e);
	p = write_tmp("pg-faults.conf", "state = {\n backend = \"mysql\";\n"
	    " conninfo = \"password=Pg-Secret-9\"; };\n"
	    "connectors = ( " CONN("a", "/a", "1", "2", "") " );\n");
	e = load_fail(p);
	assert_fault(e, p, 2, "'state.backend' must be \"sqlite\" or \"postgresql\"");
	assert_fault(e, p, 3, "'state.conninfo' is for backend = \"postgresql\"");
	assert_null(strstr(e, "Pg-Secret-9"));
	free(e);
	p = write_tmp("pg-faults.conf", "state = { backend = \"postgresql\";"
	    " conninfo = \"env:MSGR_UT_PG_UNSET\"; };\n"
	    "connectors = ( " CONN("a", "/a", "1", "2", "") " );\n");
	e = load_fail(p);
	assert_fault(e, p, 1, "MSGR_UT_PG_UNSET is not set");
	assert_int_equal(count_lines(e), 1);
	free(e);
	unsetenv("MSGR_UT_PG");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_default_path),
		cmocka_unit_test(test_env_secret_missing),
		cmocka_unit_test_setup_teardown(test_file_secrets, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_relative_include, setup_tmp, teardown_tmp),
		cmocka_unit_test(test_three_faults_together),
		cmocka_unit_test_setup_teardown(test_unknown_keys_everywhere, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_wrong_types, setup_tmp, teardown_tmp),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_app_group_and_no_secret_in_errors),
		cmocka_unit_test_setup_teardown(test_secret_never_in_errors, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_syntax_error, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_bounds, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_value_shapes, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_profile_limits, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_cross_limits, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_many_faults_capped, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_secrets_redacted_in_log, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_exposure, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_simulator_defaults, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_simulator_full, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_simulator_url, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_simulator_faults, setup_tmp, teardown_tmp),
		cmocka_unit_test(test_example_config),
		cmocka_unit_test_setup_teardown(test_state_backend, setup_tmp, teardown_tmp),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
