/* fuzz_config — libFuzzer target for the configuration loader (msgr_config_load: libconfig's
 * parser, then lib/config.c's checks of every key, bound, secret and uniqueness rule).
 *
 * The bytes are written as msgr.conf in a private temporary folder that also holds
 * secrets/app.secret (a "file:" secret that exists) and the environment holds
 * MSGR_FUZZ_SECRET (an "env:" secret that resolves); both hold canary values. Invariants:
 *   - the result is MSGR_OK, MSGR_ERR_CONFIG or MSGR_ERR_NOMEM; OK gives a config and no
 *     error text, CONFIG an error text of whole non-empty lines and no config;
 *   - no error text and no exposure warning ever holds a canary secret (config.h: "No
 *     message ever holds a secret's value"), unless the input writes the canary itself;
 *   - a loaded config keeps its promises: at least one connector, every bound of config.h
 *     (max_body, timeouts, send_rate...), ids, paths and page ids unique (each connector is
 *     found by its own path, id and page), digits-only app and page ids, secrets non-empty;
 *   - loading twice gives the same result and the same text.
 * Inputs holding "@include" are skipped: an include reads another file of the machine,
 * which is outside what the input says (and /dev/zero would never end). stdin is /dev/null,
 * so a "file:/dev/stdin" secret reads nothing instead of waiting.
 *
 * libconfig 1.5 leaks the string token that follows a syntax error (see lib/lsan_libconfig.h); the
 * same LeakSanitizer suppression, by library name only, keeps the report to our own leaks.
 * A broken invariant aborts, which libFuzzer (and tests/fuzz/driver.c) report as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "limits.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "lsan_libconfig.h"

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "fuzz_config: invariant failed at line %d: %s\n", __LINE__, #cond); \
		abort(); \
	} \
} while (0)

#define CANARY_FILE "canary-file-secret-7f3a9c"
#define CANARY_ENV  "canary-env-secret-41d2e8"

static char dir[64], file[128], secrets[128], secret_file[160];

static void
cleanup(void)
{
	unlink(file);
	unlink(secret_file);
	rmdir(secrets);
	rmdir(dir);
}

static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");
	FILE *f;

	if (dir[0] != '\0')
		return;
	snprintf(dir, sizeof(dir), "%s/fuzz_config.XXXXXX",
	    tmp != NULL && *tmp != '\0' && strlen(tmp) < 32 ? tmp : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(file, sizeof(file), "%s/msgr.conf", dir);
	snprintf(secrets, sizeof(secrets), "%s/secrets", dir);
	snprintf(secret_file, sizeof(secret_file), "%s/app.secret", secrets);
	CHECK(mkdir(secrets, 0700) == 0);
	CHECK((f = fopen(secret_file, "w")) != NULL);
	CHECK(fputs(CANARY_FILE "\n", f) >= 0 && fclose(f) == 0);
	atexit(cleanup);
	CHECK(setenv("MSGR_FUZZ_SECRET", CANARY_ENV, 1) == 0);
	CHECK(freopen("/dev/null", "r", stdin) != NULL);
	msgr_log_set_level(MSGR_LOG_ERROR);
}

static int
has_include(const uint8_t *data, size_t size)
{
	size_t i;

	for (i = 0; i + 8 <= size; i++)
		if (data[i] == '@' && memcmp(data + i, "@include", 8) == 0)
			return 1;
	return 0;
}

/* 1 when the input itself writes a canary (say as a key name, which an error may quote):
 * then no text is checked for it. */
static int canary_in_input;

static int
contains(const uint8_t *data, size_t size, const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i + n <= size; i++)
		if (memcmp(data + i, s, n) == 0)
			return 1;
	return 0;
}

static void
no_canary(const char *text)
{
	if (canary_in_input)
		return;
	CHECK(strstr(text, CANARY_FILE) == NULL);
	CHECK(strstr(text, CANARY_ENV) == NULL);
}

static void
check_errors(const char *errors)
{
	const char *p, *nl;

	CHECK(errors != NULL && errors[0] != '\0');
	no_canary(errors);
	for (p = errors; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		CHECK(nl != NULL);      /* every fault is a whole line */
		CHECK(nl > p);          /* and not an empty one */
	}
}

static int
digits(const char *s, size_t max)
{
	size_t n = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++, n++)
		if (*s < '0' || *s > '9')
			return 0;
	return n <= max;
}

static void
warn(void *arg, const char *text)
{
	(void)arg;
	CHECK(text != NULL && strchr(text, '\n') == NULL);
	no_canary(text);
}

/* simulator.url is on this machine whatever the text: its host, read here without libcurl
 * (lib/config.c decides with curl's parser), is a loopback name, with nothing before it
 * that a parser could take for a user. */
static void
check_simulator(const struct msgr_config *cfg)
{
	const char *u = cfg->simulator.url, *h;
	size_t i, j, n;

	CHECK(cfg->simulator.enabled == 0 || cfg->simulator.enabled == 1);
	CHECK(u != NULL && strncmp(u, "http://", 7) == 0);
	CHECK(strpbrk(u, "@?#") == NULL);
	h = u + 7;
	if (h[0] == '[')
		CHECK(strncmp(h, "[::1]", 5) == 0 && (h[5] == '\0' || h[5] == ':' || h[5] == '/'));
	else {
		n = strcspn(h, ":/\\");
		CHECK((n == 9 && strncmp(h, "127.0.0.1", 9) == 0) ||
		    (n == 9 && strncasecmp(h, "localhost", 9) == 0));
	}
	CHECK(u[strlen(u) - 1] != '/');
	CHECK(cfg->simulator.clock_file == NULL || cfg->simulator.clock_file[0] == '/');
	CHECK(cfg->simulator.n_personas <= MSGR_MAX_SIM_PERSONAS);
	CHECK((cfg->simulator.n_personas == 0) == (cfg->simulator.personas == NULL));
	for (i = 0; i < cfg->simulator.n_personas; i++) {
		const struct msgr_sim_persona *p = &cfg->simulator.personas[i];

		CHECK(digits(p->id, MSGR_MAX_ID_LEN));
		CHECK(p->name != NULL && p->name[0] != '\0');
		CHECK(p->picture != NULL && (p->picture[0] == '/' ||
		    strncmp(p->picture, "http://", 7) == 0 || strncmp(p->picture, "https://", 8) == 0));
		for (j = 0; j < i; j++)
			CHECK(strcmp(cfg->simulator.personas[j].id, p->id) != 0);
	}
}

static void
check_config(const struct msgr_config *cfg)
{
	const struct msgr_connector *c;
	size_t i;

	CHECK(cfg->file != NULL && cfg->file[0] == '/');
	CHECK(cfg->dir != NULL && cfg->dir[0] == '/');
	CHECK(cfg->graph.url != NULL && cfg->graph.version != NULL);
	CHECK(cfg->graph.timeout_ms >= 100 && cfg->graph.timeout_ms <= 120000);
	CHECK(cfg->graph.connect_timeout_ms >= 100 &&
	    cfg->graph.connect_timeout_ms <= cfg->graph.timeout_ms);
	CHECK(cfg->state.path != NULL && cfg->state.path[0] == '/');
	CHECK(cfg->state.busy_timeout_ms >= 1 &&
	    cfg->state.busy_timeout_ms <= MSGR_BUSY_TIMEOUT_MAX_MS);
	CHECK(cfg->max_body >= 1024 && cfg->max_body <= MSGR_MAX_BODY_CEILING);
	CHECK(cfg->worker.budget_ms >= 0 && cfg->worker.budget_ms <= 60000);
	CHECK(cfg->worker.lease_ms >= 1000 && cfg->worker.lease_ms <= 3600000);
	CHECK(cfg->worker.lease_ms > cfg->graph.timeout_ms);
	CHECK(cfg->worker.retry_max_s >= 60 && cfg->worker.retry_max_s <= 604800);
	CHECK(cfg->worker.idle_ms >= 10 && cfg->worker.idle_ms <= 60000);
	CHECK(cfg->n_connectors >= 1 && cfg->n_connectors <= MSGR_MAX_CONNECTORS);
	for (i = 0; i < cfg->n_connectors; i++) {
		c = &cfg->connectors[i];
		CHECK(c->id != NULL && c->id[0] != '\0' &&
		    strlen(c->id) <= MSGR_MAX_CONNECTOR_ID_LEN);
		CHECK(c->path != NULL && c->path[0] == '/');
		CHECK(digits(c->app_id, MSGR_MAX_ID_LEN) && digits(c->page_id, MSGR_MAX_ID_LEN));
		CHECK(c->persona_id == NULL || digits(c->persona_id, MSGR_MAX_ID_LEN));
		CHECK(c->call_token != NULL && c->call_token[0] != '\0');
		CHECK(c->webhook_token != NULL && c->webhook_token[0] != '\0');
		CHECK(c->secret != NULL && c->secret[0] != '\0');
		CHECK(c->send_rate >= 1 && c->send_rate <= MSGR_SEND_RATE_MAX);
		CHECK(c->n_profile_fields <= MSGR_MAX_PROFILE_FIELDS);
		if (c->bot.type == MSGR_BOT_STORIES) {
			CHECK(c->bot.file != NULL && c->bot.file[0] == '/');
		} else {
			CHECK(c->bot.type == MSGR_BOT_API);
			CHECK(c->bot.url != NULL && (strncmp(c->bot.url, "http://", 7) == 0 ||
			    strncmp(c->bot.url, "https://", 8) == 0));
			CHECK(c->bot.secret != NULL && c->bot.secret[0] != '\0');
			CHECK(c->bot.timeout_ms >= 100 && c->bot.timeout_ms <= 60000);
			CHECK(c->bot.timeout_ms < cfg->worker.lease_ms);
		}
		/* unique: each connector is the one found by its own keys */
		CHECK(msgr_config_by_path(cfg, c->path) == c);
		CHECK(msgr_config_by_id(cfg, c->id) == c);
		CHECK(msgr_config_by_page(cfg, c->app_id, c->page_id) == c);
	}
	check_simulator(cfg);
	(void)msgr_config_exposure(cfg, warn, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msgr_config *cfg = (struct msgr_config *)1, *cfg2 = NULL;
	char *errors = (char *)1, *errors2 = NULL;
	msgr_result rc, rc2;
	FILE *f;

	setup();
	if (has_include(data, size))
		return 0;
	canary_in_input = contains(data, size, CANARY_FILE) || contains(data, size, CANARY_ENV);
	f = fopen(file, "wb");
	CHECK(f != NULL);
	CHECK(fwrite(data, 1, size, f) == size);
	CHECK(fclose(f) == 0);

	rc = msgr_config_load(file, &cfg, &errors);
	CHECK(rc == MSGR_OK || rc == MSGR_ERR_CONFIG || rc == MSGR_ERR_NOMEM);
	if (rc == MSGR_OK) {
		CHECK(cfg != NULL && errors == NULL);
		check_config(cfg);
	} else {
		CHECK(cfg == NULL);
		if (rc == MSGR_ERR_CONFIG)
			check_errors(errors);
	}
	msgr_log_clear_secrets();

	rc2 = msgr_config_load(file, &cfg2, &errors2);
	if (rc != MSGR_ERR_NOMEM && rc2 != MSGR_ERR_NOMEM) {
		CHECK(rc2 == rc);
		CHECK((errors == NULL) == (errors2 == NULL));
		CHECK(errors == NULL || strcmp(errors, errors2) == 0);
	}
	msgr_config_free(cfg2);
	msgr_config_free(cfg);
	free(errors);
	free(errors2);
	msgr_log_clear_secrets();
	return 0;
}
