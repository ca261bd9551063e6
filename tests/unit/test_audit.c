/* Unit tests: what `msgrctl check` warns about and what the config refuses for safety
 * (lib/audit.h, docs/deploy.md "Permissions"): weak secrets, "file:" secrets others could
 * replace, state and config files others can read or write, plain http:// off loopback. */
#include "unit.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "config.h"
#include "log.h"

#include "lsan_libconfig.h"

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/msgr-audit-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[256];

	(void)state;
	msgr_log_clear_secrets();
	snprintf(cmd, sizeof(cmd), "chmod -R u+w '%s'; rm -rf '%s'", dir, dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* dir/name holding text, with mode; its path (a static buffer per slot). */
static const char *
put(const char *name, const char *text, mode_t mode)
{
	static char paths[8][256];
	static int slot;
	char *p = paths[slot++ % 8];
	FILE *fp;

	snprintf(p, 256, "%s/%s", dir, name);
	fp = fopen(p, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

/* ---- weak secrets ---- */

static void
test_weak_secrets(void **state)
{
	static const char *const weak[] = {
		"hunter2",                              /* short */
		"my_verify_token",                      /* short too */
		"aaaaaaaaaaaaaaaaaaaaaaaa",             /* one character */
		"abababababababababababab",             /* two */
		"abcdefghijklmnopqrstuvwxyz",           /* a sequence */
		"12345678901234567890",                 /* a sequence */
		"my-verify-token-2024",                 /* common words */
		"replace-with-a-long-random-string",    /* examples/msgr.conf's placeholder */
		"MessengerWebhookSecret!",
		NULL };
	static const char *const strong[] = {
		"3f9c2a7e51b04d8c96a1e0f7b2c4d6e8",     /* openssl rand -hex 16 */
		"wh1-8c1f0e2d9a7b3c45",                 /* the integration tests' tokens */
		"botsecret-5d2f9a0c7e1b4d3a8f6c2e0b",
		"k7Qz-pL2x_Vb9mWc4RtY",
		"a long passphrase nobody would guess: violet kettle orbit",
		NULL };
	char why[96];
	size_t i;

	(void)state;
	for (i = 0; weak[i] != NULL; i++)
		if (msgr_audit_weak_secret(weak[i], why, sizeof(why)) == NULL)
			fail_msg("\"%s\" passed as a strong secret", weak[i]);
	for (i = 0; strong[i] != NULL; i++)
		if (msgr_audit_weak_secret(strong[i], why, sizeof(why)) != NULL)
			fail_msg("\"%s\" called weak: %s", strong[i], why);
	assert_non_null(msgr_audit_weak_secret("hunter2", why, sizeof(why)));
	assert_string_equal(why, "only 7 characters");
	assert_non_null(msgr_audit_weak_secret("my-verify-token-2024", why, sizeof(why)));
	assert_non_null(strstr(why, "common words"));
}

/* ---- file: secrets ---- */

static void
test_secret_path(void **state)
{
	char why[4352], sub[128], link[160], pub[128];
	const char *p;

	(void)state;
	p = put("ok.secret", "x", 0600);
	assert_int_equal(msgr_audit_secret_path(p, why, sizeof(why)), MSGR_OK);
	p = put("read.secret", "x", 0644);      /* readable: check's warning, not a refusal */
	assert_int_equal(msgr_audit_secret_path(p, why, sizeof(why)), MSGR_OK);
	p = put("group.secret", "x", 0660);     /* check's warning: umask 002, a group of one */
	assert_int_equal(msgr_audit_secret_path(p, why, sizeof(why)), MSGR_OK);
	p = put("world.secret", "x", 0602);
	assert_int_equal(msgr_audit_secret_path(p, why, sizeof(why)), MSGR_ERR_CONFIG);
	assert_string_equal(why, "is writable by everyone: chmod o-w it");

	/* A link into a folder everyone can write (not sticky): refused. */
	snprintf(pub, sizeof(pub), "%s/public", dir);
	assert_int_equal(mkdir(pub, 0700), 0);
	assert_int_equal(chmod(pub, 0777), 0);
	snprintf(sub, sizeof(sub), "%s/public/app.secret", dir);
	put("public/app.secret", "x", 0600);
	snprintf(link, sizeof(link), "%s/link.secret", dir);
	assert_int_equal(symlink(sub, link), 0);
	assert_int_equal(msgr_audit_secret_path(link, why, sizeof(why)), MSGR_ERR_CONFIG);
	assert_non_null(strstr(why, "symbolic link"));
	assert_non_null(strstr(why, pub));
	/* The same file reached directly: the config's folder is its owner's business. */
	assert_int_equal(msgr_audit_secret_path(sub, why, sizeof(why)), MSGR_OK);
	/* A link to a folder on the way counts as much. */
	snprintf(link, sizeof(link), "%s/pubdir", dir);
	assert_int_equal(symlink(pub, link), 0);
	snprintf(link, sizeof(link), "%s/pubdir/app.secret", dir);
	assert_int_equal(msgr_audit_secret_path(link, why, sizeof(why)), MSGR_ERR_CONFIG);
	/* Once the folder is its owner's alone, the link is fine. */
	assert_int_equal(chmod(pub, 0755), 0);
	assert_int_equal(msgr_audit_secret_path(link, why, sizeof(why)), MSGR_OK);
	/* Sticky (as /tmp): others cannot replace a file they do not own. */
	assert_int_equal(chmod(pub, 01777), 0);
	assert_int_equal(msgr_audit_secret_path(link, why, sizeof(why)), MSGR_OK);
	/* Missing: reading it says so, not this check. */
	snprintf(link, sizeof(link), "%s/none.secret", dir);
	assert_int_equal(msgr_audit_secret_path(link, why, sizeof(why)), MSGR_OK);
}

/* ---- the config: load-time refusals ---- */

static const char conf_head[] =
    "graph = { url = \"%s\"; };\n"
    "connectors = ( { id = \"a\"; path = \"/a\"; app_id = \"1\"; page_id = \"2\";\n"
    "  call_token = \"EAAtoken0123456789abcdef\"; webhook_token = \"%s\";\n"
    "  secret = \"%s\";\n"
    "  bot = { type = \"api\"; url = \"%s\"; secret = \"%s\"; }; } );\n";

/* Loads a config written from conf_head; NULL on success, else the faults (free()). */
static char *
load(const char *graph, const char *token, const char *secret, const char *bot_url,
    const char *bot_secret, struct msgr_config **out)
{
	char text[2048], *errors = NULL;
	struct msgr_config *cfg = NULL;
	const char *p;
	msgr_result rc;

	snprintf(text, sizeof(text), conf_head, graph, token, secret, bot_url, bot_secret);
	p = put("msgr.conf", text, 0600);
	rc = msgr_config_load(p, &cfg, &errors);
	if (out != NULL)
		*out = cfg;
	else
		msgr_config_free(cfg);
	if (rc == MSGR_OK) {
		assert_null(errors);
		return NULL;
	}
	assert_non_null(errors);
	return errors;
}

static void
test_config_refusals(void **state)
{
	static const char good_token[] = "3f9c2a7e51b04d8c96a1e0f7b2c4d6e8";
	static const char good_bot[] = "5d2f9a0c7e1b4d3a8f6c2e0b9a7c5e3f";
	char *errors, link[160], drop[160];

	(void)state;
	/* loopback http, https elsewhere: fine */
	errors = load("http://127.0.0.1:9", good_token, "appsecret", "http://localhost:9000/bot",
	    good_bot, NULL);
	if (errors != NULL)
		fail_msg("%s", errors);
	errors = load("https://graph.facebook.com", good_token, "appsecret",
	    "https://bot.example.com/hook", good_bot, NULL);
	if (errors != NULL)
		fail_msg("%s", errors);
	/* plain http to another host: the page token or people's messages in clear */
	errors = load("http://graph.example.com", good_token, "appsecret", "https://b.example/x",
	    good_bot, NULL);
	assert_non_null(errors);
	assert_non_null(strstr(errors, "'graph.url': http:// only to 127.0.0.1"));
	free(errors);
	errors = load("https://graph.facebook.com", good_token, "appsecret",
	    "http://bot.example.com/hook", good_bot, NULL);
	assert_non_null(errors);
	assert_non_null(strstr(errors, "'bot.url' in connector 'a': http:// only to 127.0.0.1"));
	free(errors);

	/* a file: secret others can write, or reached through a link into their folder */
	put("app.secret", "appsecret-from-a-file\n", 0602);
	errors = load("https://graph.facebook.com", good_token, "file:app.secret",
	    "https://b.example/x", good_bot, NULL);
	assert_non_null(errors);
	assert_non_null(strstr(errors, "app.secret is writable by everyone"));
	assert_null(strstr(errors, "appsecret-from-a-file"));
	free(errors);
	snprintf(drop, sizeof(drop), "%s/drop", dir);
	assert_int_equal(mkdir(drop, 0700), 0);
	assert_int_equal(chmod(drop, 0777), 0);
	put("drop/bot.secret", good_bot, 0600);
	snprintf(drop, sizeof(drop), "%s/drop/bot.secret", dir);
	snprintf(link, sizeof(link), "%s/bot.secret", dir);
	assert_int_equal(symlink(drop, link), 0);
	errors = load("https://graph.facebook.com", good_token, "appsecret",
	    "https://b.example/x", "file:bot.secret", NULL);
	assert_non_null(errors);
	assert_non_null(strstr(errors, "symbolic link"));
	free(errors);
}

/* ---- the config: check's warnings ---- */

struct seen {
	char text[4096];
	size_t n;
};

static void
collect(void *arg, const char *text)
{
	struct seen *s = arg;
	size_t len = strlen(s->text);

	snprintf(s->text + len, sizeof(s->text) - len, "%s\n", text);
	s->n++;
}

static void
test_config_warnings(void **state)
{
	static const char good_token[] = "3f9c2a7e51b04d8c96a1e0f7b2c4d6e8";
	static const char good_bot[] = "5d2f9a0c7e1b4d3a8f6c2e0b9a7c5e3f";
	struct msgr_config *cfg = NULL;
	struct seen s;
	char p[160], *errors;

	(void)state;
	errors = load("https://graph.facebook.com", good_token, "appsecret",
	    "https://b.example/x", good_bot, &cfg);
	if (errors != NULL)
		fail_msg("%s", errors);
	/* nothing to say: a private config, no state yet, strong secrets */
	memset(&s, 0, sizeof(s));
	assert_int_equal(msgr_audit_config(cfg, collect, &s), 0);
	/* the state file and its WAL readable by others */
	snprintf(p, sizeof(p), "%s/state.db", dir);
	put("state.db", "", 0644);
	put("state.db-wal", "", 0666);
	put("state.db-shm", "", 0600);
	memset(&s, 0, sizeof(s));
	assert_int_equal(msgr_audit_config(cfg, collect, &s), 2);
	assert_non_null(strstr(s.text, "state.db can be read by everyone"));
	assert_non_null(strstr(s.text, "state.db-wal can be read and written by everyone"));
	assert_null(strstr(s.text, "-shm"));
	assert_int_equal(chmod(p, 0600), 0);
	strcat(p, "-wal");
	assert_int_equal(chmod(p, 0600), 0);
	/* the config writable by its group, its folder by everyone */
	assert_int_equal(chmod(cfg->file, 0620), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(msgr_audit_config(cfg, collect, &s), 2);
	assert_non_null(strstr(s.text, "can be written by its group"));
	assert_non_null(strstr(s.text, "can be written by everyone"));
	assert_int_equal(chmod(dir, 0700), 0);
	msgr_config_free(cfg);

	/* a file: secret its group can write: said, not refused */
	put("bot.secret", good_bot, 0620);
	errors = load("https://graph.facebook.com", good_token, "appsecret",
	    "https://b.example/x", "file:bot.secret", &cfg);
	if (errors != NULL)
		fail_msg("%s", errors);
	memset(&s, 0, sizeof(s));
	assert_int_equal(msgr_audit_config(cfg, collect, &s), 1);
	assert_non_null(strstr(s.text, "bot.secret ('bot.secret' in connector 'a') can be written "
	    "by its group"));
	assert_null(strstr(s.text, good_bot));
	msgr_config_free(cfg);

	/* weak secrets: named by connector and key, never shown */
	errors = load("https://graph.facebook.com", "my-verify-token-2024", "appsecret",
	    "https://b.example/x", "hunter2hunter2", &cfg);
	if (errors != NULL)
		fail_msg("%s", errors);
	memset(&s, 0, sizeof(s));
	assert_int_equal(msgr_audit_config(cfg, collect, &s), 2);
	assert_non_null(strstr(s.text, "connector \"a\": webhook_token (the verify token) is easy "
	    "to guess (mostly common words"));
	assert_non_null(strstr(s.text, "connector \"a\": bot.secret is easy to guess (only 14 "
	    "characters)"));
	assert_null(strstr(s.text, "my-verify-token-2024"));
	assert_null(strstr(s.text, "hunter2"));
	msgr_config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_weak_secrets),
		cmocka_unit_test_setup_teardown(test_secret_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_warnings, setup, teardown),
	};

	msgr_log_init("test_audit", MSGR_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
