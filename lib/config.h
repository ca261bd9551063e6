/* config.h — the configuration file (docs/configuration.md), loaded once before serving.
 *
 * libconfig syntax. msgr_config_load collects every fault and reports them together, one
 * per line as "FILE:LINE: what is wrong" (unknown keys by name, duplicate ids, paths and
 * page ids naming both entries, app_id groups that disagree on secret or webhook_token);
 * a fault of the whole file (cannot read it, no connectors) is "FILE: what is wrong". No
 * message ever holds a secret's value. Secrets may be written "env:NAME" or "file:PATH";
 * they are resolved at load and registered with msgr_log_add_secret so they never reach a
 * log. Relative paths (state.path, bot.file, file: secrets, @include) are made relative to
 * the config file's folder. docs/configuration.md lists every key with its default and
 * bounds; the defaults are repeated beside each field below. */
#ifndef MSGR_CONFIG_H
#define MSGR_CONFIG_H

#include <stddef.h>
#include "event.h"
#include "result.h"
#include "signature.h"

/* Bot API event kinds delivered by default (docs/bot-api.md "Event types"). Bit i is enum
 * msgr_event_kind i. */
#define MSGR_BOT_EVENTS_DEFAULT \
	((1UL << MSGR_EVENT_MESSAGE) | (1UL << MSGR_EVENT_POSTBACK) | \
	 (1UL << MSGR_EVENT_REFERRAL) | (1UL << MSGR_EVENT_OPTIN) | \
	 (1UL << MSGR_EVENT_REACTION) | (1UL << MSGR_EVENT_MESSAGE_EDIT) | \
	 (1UL << MSGR_EVENT_ACCOUNT_LINKING))

/* worker.echo_wait_ms when the config does not say. Facebook's echo of a message follows
 * its call within about a second, later when the echo's own delivery had to be retried (our
 * responders restarting after the very kill that left the call unknown). */
#define MSGR_ECHO_WAIT_DEFAULT_MS 10000

enum msgr_bot_type { MSGR_BOT_STORIES = 0, MSGR_BOT_API };
enum msgr_journal { MSGR_JOURNAL_WAL = 0, MSGR_JOURNAL_DELETE };
enum msgr_sync { MSGR_SYNC_FULL = 0, MSGR_SYNC_NORMAL };
enum msgr_store_backend { MSGR_BACKEND_SQLITE = 0, MSGR_BACKEND_POSTGRESQL };
enum msgr_rtc_policy { MSGR_RTC_IGNORE = 0, MSGR_RTC_HONOUR };

struct msgr_bot_config {
	enum msgr_bot_type type;
	char *file;            /* stories: absolute path of the stories file (required) */
	char *url;             /* api: where events are POSTed, http:// or https:// (required) */
	char *secret;          /* api: X-Msgr-Signature key: secret (required) */
	int timeout_ms;        /* api: default 5000, 100..60000 */
	unsigned long events;  /* api: bit mask of enum msgr_event_kind delivered;
	                          default MSGR_BOT_EVENTS_DEFAULT (stories: 0, unused) */
};

struct msgr_locale_text { char *locale; char *text; };
/* simulator.personas[]: a persona the simulator's fake Graph API knows (docs/simulator.md). */
struct msgr_sim_persona { char *id; char *name; char *picture; };
struct msgr_menu_item { char *title; char *payload; char *url; };
struct msgr_menu { char *locale; struct msgr_menu_item *items; size_t n_items; };
struct msgr_ice_breaker { char *question; char *payload; };

/* profile = { ... } of a connector, pushed by `msgrctl profile`. */
struct msgr_profile_config {
	int present;           /* 1 when the connector has a profile group */
	char *get_started;     /* payload, NULL when unset; needed by persistent_menu */
	struct msgr_locale_text *greeting; size_t n_greeting;
	struct msgr_ice_breaker *ice_breakers; size_t n_ice_breakers;
	struct msgr_menu *menus; size_t n_menus;
	char **whitelisted_domains; size_t n_whitelisted_domains;
};

struct msgr_connector {
	char *id;              /* [A-Za-z0-9_.-], at most MSGR_MAX_CONNECTOR_ID_LEN; unique */
	char *path;            /* matched exactly against PATH_INFO; starts with '/'; unique */
	char *app_id;          /* digits, at most MSGR_MAX_ID_LEN */
	char *page_id;         /* digits, at most MSGR_MAX_ID_LEN; unique */
	char *call_token;      /* page access token: secret */
	char *webhook_token;   /* verify token: secret */
	char *secret;          /* app secret: secret */
	/* appsecret_proof, hex HMAC-SHA256(secret, call_token), made at load for every Graph
	 * call (msgr_graph_auth.proof); "" when either is missing. Derived from secrets: wiped. */
	char proof[MSGR_SIGNATURE_HEX_LEN + 1];
	struct msgr_bot_config bot;
	char *persona_id;      /* optional digits, NULL when unset */
	char **profile_fields; size_t n_profile_fields;   /* beyond first/last name, profile_pic */
	int send_rate;         /* Send API calls per second for this page; default 50,
	                          1..MSGR_SEND_RATE_MAX */
	enum msgr_rtc_policy on_request_thread_control; /* default MSGR_RTC_IGNORE */
	struct msgr_profile_config profile;
	int line;              /* where the entry starts in the file, for messages */
};

/* Where a secret came from, for msgr_config_exposure: the file holding it inline (the config
 * or a file it @includes), or its "file:" path. what names the key, never the value. */
struct msgr_secret_source {
	char *path;
	int is_inline;
	char *what;
};

struct msgr_config {
	char *file;            /* absolute path of the file loaded */
	char *dir;             /* its folder */
	struct {
		char *url;         /* default "https://graph.facebook.com", no trailing '/' */
		char *version;     /* default "v26.0" ("vN.N") */
		int timeout_ms;    /* a whole call; default 10000, 100..120000 */
		int connect_timeout_ms; /* default 3000 (or timeout_ms when lower), 100..timeout_ms */
	} graph;
	struct {
		char *path;        /* absolute; default "state.db" beside the config */
		enum msgr_journal journal; /* default WAL */
		enum msgr_sync sync;       /* default FULL */
		int busy_timeout_ms;       /* default 2000, 1..MSGR_BUSY_TIMEOUT_MAX_MS */
		enum msgr_store_backend backend; /* default SQLITE (path, journal, sync);
		                                    POSTGRESQL: conninfo */
		char *conninfo;    /* backend postgresql (required there, refused otherwise):
		                      libpq's connection string or URI; secret */
	} state;
	size_t max_body;       /* default MSGR_MAX_BODY_DEFAULT, 1024..MSGR_MAX_BODY_CEILING */
	int log_level;         /* enum msgr_log_level; default INFO */
	struct {
		int budget_ms;     /* work after each response, at most; default 1000, 0..60000
		                      (0: the responder never works; drain/worker do) */
		int lease_ms;      /* a claim's lease; default 30000, 1000..3600000, and above
		                      graph.timeout_ms and every api bot's timeout_ms */
		int retry_max_s;   /* give up retrying after; default 86400, 60..604800 */
		int idle_ms;       /* msgrctl worker: sleep when idle; default 500, 10..60000 */
		int echo_wait_ms;  /* a message whose call's outcome is unknown is repeated only
		                      when its echo (lib/echo.h) has not come this long after
		                      the call; default MSGR_ECHO_WAIT_DEFAULT_MS, 0..600000
		                      (0: repeated at once) */
	} worker;
	struct {
		int threads;       /* request threads per FastCGI process; default 1,
		                      1..MSGR_RESPONDER_THREADS_MAX (plain CGI: always 1) */
		int host_commit;   /* default 1: the host's responders store through one
		                      committer (SQLite only; docs/responder.md) */
	} responder;
	struct {
		int enabled;       /* default 0: the simulator's paths answer 404 */
		char *url;         /* the web server it lives behind; default
		                      "http://127.0.0.1:8080", http:// on a loopback host only,
		                      no trailing '/' */
		char *clock_file;  /* absolute, NULL when unset (the clock control is off) */
		struct msgr_sim_persona *personas; /* known to the fake Graph API */
		size_t n_personas;
	} simulator;
	struct msgr_connector *connectors;
	size_t n_connectors;
	struct msgr_secret_source *secret_sources;
	size_t n_secret_sources;
};

/* Where the config is read from: $MSGR_CONFIG when set and non-empty, else the built-in
 * MSGR_DEFAULT_CONFIG (the Makefile's SYSCONFDIR/messenger-fcgi/msgr.conf). */
const char *msgr_config_default_path(void);

/* Loads and validates path. On success *out is a new config (msgr_config_free), *errors
 * (when errors is not NULL) NULL, and MSGR_OK is returned. On failure *out is NULL and
 * MSGR_ERR_CONFIG (or MSGR_ERR_NOMEM, MSGR_ERR_INVALID for a NULL argument) is returned;
 * when errors is not NULL, *errors is a malloc'd text of one fault per line, each ending in
 * '\n' (at most MSGR_MAX_CONFIG_ERRORS lines, then one line counting the rest). */
msgr_result msgr_config_load(const char *path, struct msgr_config **out, char **errors);
/* Frees cfg (NULL is fine); secret values are wiped first. */
void msgr_config_free(struct msgr_config *cfg);

/* Secrets others can read: for each file that holds a secret (the config with a secret
 * written inline, a "file:" secret) and that group or others may read, calls warn once with
 * a one-line text naming the file and the key (never the value). Returns how many. Both
 * `msgrctl check` and the responder's start-up report them. */
size_t msgr_config_exposure(const struct msgr_config *cfg,
    void (*warn)(void *arg, const char *text), void *arg);

/* The connector whose path equals path_info, or NULL. */
const struct msgr_connector *msgr_config_by_path(const struct msgr_config *cfg,
    const char *path_info);
const struct msgr_connector *msgr_config_by_id(const struct msgr_config *cfg, const char *id);
/* The connector of page_id within app_id (routing: docs/responder.md "Paths: PATH_INFO"), or
 * NULL. */
const struct msgr_connector *msgr_config_by_page(const struct msgr_config *cfg,
    const char *app_id, const char *page_id);

#endif
