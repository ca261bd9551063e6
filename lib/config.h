/* config.h — the configuration file (SPEC.md "Configuration"), loaded once before serving.
 *
 * libconfig syntax. msgr_config_load collects every fault and reports them together, one
 * per line as "FILE:LINE: what is wrong" (unknown keys by name, duplicate ids, paths and
 * page ids naming both entries, app_id groups that disagree on secret or webhook_token).
 * Secrets may be written "env:NAME" or "file:PATH"; they are resolved at load and
 * registered with msgr_log_add_secret so they never reach a log. Relative paths are made
 * relative to the config file's folder. */
#ifndef MSGR_CONFIG_H
#define MSGR_CONFIG_H

#include <stddef.h>
#include "result.h"

/* Bot API event kinds delivered by default (SPEC.md "Bots"). Bit i is enum msgr_event_kind i. */
enum msgr_bot_type { MSGR_BOT_STORIES = 0, MSGR_BOT_API };
enum msgr_journal { MSGR_JOURNAL_WAL = 0, MSGR_JOURNAL_DELETE };
enum msgr_sync { MSGR_SYNC_FULL = 0, MSGR_SYNC_NORMAL };
enum msgr_rtc_policy { MSGR_RTC_IGNORE = 0, MSGR_RTC_HONOUR };

struct msgr_bot_config {
	enum msgr_bot_type type;
	char *file;            /* stories: absolute path of the stories file */
	char *url;             /* api: where events are POSTed */
	char *secret;          /* api: X-Msgr-Signature key */
	int timeout_ms;        /* api: default 5000 */
	unsigned long events;  /* api: bit mask of enum msgr_event_kind delivered */
};

struct msgr_locale_text { char *locale; char *text; };
struct msgr_menu_item { char *title; char *payload; char *url; };
struct msgr_menu { char *locale; struct msgr_menu_item *items; size_t n_items; };
struct msgr_ice_breaker { char *question; char *payload; };

/* profile = { ... } of a connector, pushed by `msgrctl profile` (issue 6). */
struct msgr_profile_config {
	int present;
	char *get_started;
	struct msgr_locale_text *greeting; size_t n_greeting;
	struct msgr_ice_breaker *ice_breakers; size_t n_ice_breakers;
	struct msgr_menu *menus; size_t n_menus;
	char **whitelisted_domains; size_t n_whitelisted_domains;
};

struct msgr_connector {
	char *id;
	char *path;            /* matched exactly against PATH_INFO */
	char *app_id;
	char *page_id;
	char *call_token;      /* page access token: secret */
	char *webhook_token;   /* verify token: secret */
	char *secret;          /* app secret: secret */
	struct msgr_bot_config bot;
	char *persona_id;      /* optional, NULL when unset */
	char **profile_fields; size_t n_profile_fields;   /* beyond first/last name, profile_pic */
	int send_rate;         /* Send API calls per second for this page; default 50 */
	enum msgr_rtc_policy on_request_thread_control;
	struct msgr_profile_config profile;
	int line;              /* where the entry starts in the file, for messages */
};

struct msgr_config {
	char *file;            /* absolute path of the file loaded */
	char *dir;             /* its folder */
	struct { char *url; char *version; int timeout_ms; int connect_timeout_ms; } graph;
	struct { char *path; enum msgr_journal journal; enum msgr_sync sync; int busy_timeout_ms; } state;
	size_t max_body;
	int log_level;         /* enum msgr_log_level; default INFO */
	struct {
		int budget_ms;     /* work after each response, at most; default 1000 */
		int lease_ms;      /* a claim's lease; default 30000 */
		int retry_max_s;   /* give up retrying after; default 86400 */
		int idle_ms;       /* msgrctl worker: sleep when idle; default 500 */
	} worker;
	struct msgr_connector *connectors;
	size_t n_connectors;
};

/* Where the config is read from: $MSGR_CONFIG, else the built-in MSGR_DEFAULT_CONFIG. */
const char *msgr_config_default_path(void);

/* Loads and validates path. On success *out is a new config (msgr_config_free) and
 * MSGR_OK is returned. On failure returns MSGR_ERR_CONFIG (or MSGR_ERR_NOMEM) and, when
 * errors is not NULL, sets *errors to a malloc'd text of one fault per line. */
msgr_result msgr_config_load(const char *path, struct msgr_config **out, char **errors);
void msgr_config_free(struct msgr_config *cfg);

/* The connector whose path equals path_info, or NULL. */
const struct msgr_connector *msgr_config_by_path(const struct msgr_config *cfg,
    const char *path_info);
const struct msgr_connector *msgr_config_by_id(const struct msgr_config *cfg, const char *id);
/* The connector of page_id within app_id (routing: SPEC.md "Routing"), or NULL. */
const struct msgr_connector *msgr_config_by_page(const struct msgr_config *cfg,
    const char *app_id, const char *page_id);

#endif
