/* sim_world.h — what the simulator remembers: pages, users, conversations, the logs of
 * webhooks and Graph API calls, thread owners, uploads, the failure to inject, held events
 * and the clock offset (docs/simulator.md).
 *
 * One world per process, shared by every request thread under one mutex. The state is for
 * development only and is lost on restart (the clock offset excepted: it is read back from
 * simulator.clock_file). Whoever holds the mutex holds it briefly: never across a webhook
 * POST, a Graph API answer held open by the "hang" failure, or a msgrctl run.
 *
 * Functions marked "locked" expect the caller to hold the mutex (sim_world_lock); the
 * others take it themselves. Every json_t * handed out by a "locked" function stays owned
 * by the world and is valid only while the mutex is held; answers leave the world as text
 * or as deep copies. */
#ifndef SIM_WORLD_H
#define SIM_WORLD_H

#include <pthread.h>
#include <stddef.h>

#include <jansson.h>

#include "config.h"
#include "limits.h"
#include "result.h"

#define SIM_USERS_MAX     100     /* simulated users */
#define SIM_ITEMS_MAX     1000    /* items kept per conversation (the oldest go first) */
#define SIM_LOG_MAX       500     /* webhook records and Graph call records kept, each */
#define SIM_BODY_KEEP     65536   /* bytes of a body or answer kept in a record */
#define SIM_HELD_MAX      MSGR_MAX_EVENTS_PER_BODY /* events held while batching */
#define SIM_UPLOADS_MAX   10000   /* attachment ids remembered */
#define SIM_NAME_MAX      100     /* bytes of a user's name */
#define SIM_PSID_LEN      16      /* digits of a simulated PSID */
#define SIM_MID_MAX       63      /* bytes of an id the simulator makes (mids, uploads) */

/* The failure the next Graph calls get (POST /_sim/api/fail). */
enum sim_fail {
	SIM_FAIL_NONE = 0, SIM_FAIL_613, SIM_FAIL_10, SIM_FAIL_190, SIM_FAIL_551, SIM_FAIL_500,
	SIM_FAIL_HANG
};

struct sim_user {
	char key[16];                  /* "u1", "u2", ... */
	char name[SIM_NAME_MAX + 1];
	char first[SIM_NAME_MAX + 1];
	char last[SIM_NAME_MAX + 1];
	unsigned no;                   /* 1, 2, ...: the PSID and the avatar come from it */
};

/* One person talking to one page. */
struct sim_conv {
	json_t *items;                 /* ITEM objects, seq order */
	char owner[MSGR_MAX_ID_LEN + 1]; /* the thread owner's app id; "" = the connector's app */
	int typing;
	long long seen_watermark;
	long long last_user_ms;        /* the person's last message (Facebook's window) */
	char last_page_mid[MSGR_MAX_MID_LEN + 1]; /* for delivery receipts */
	json_t *edits;                 /* mid -> times edited */
};

struct sim_page {
	const struct msgr_connector *conn;
	/* The first connector of the same app in config order: Facebook keeps one callback per
	 * app, so every webhook of the app goes to its path, signed with the app's secret. */
	const struct msgr_connector *hook;
	json_t *profile;               /* messenger profile set through the Graph API */
	json_t *subscribed;            /* subscribed_apps: app id -> fields */
	struct sim_conv **convs;       /* [SIM_USERS_MAX], each made on first use */
};

/* The last webhook posted, for POST /_sim/api/redeliver (same bytes, same signature). The
 * signature is never shown. */
struct sim_last_hook {
	char *body;
	size_t len;
	char signature[80];
	int page;                      /* the page whose hook connector it went to; -1: none */
	size_t events;
};

struct sim_world {
	pthread_mutex_t mu;
	const struct msgr_config *cfg;
	struct sim_page *pages;
	size_t n_pages;
	struct sim_user users[SIM_USERS_MAX];
	size_t n_users;
	long long seq;                 /* the last seq given (items and records share it) */
	unsigned long long ids;        /* mids and other ids made so far */
	long long offset_s;            /* the clock offset */
	enum sim_fail fail;
	long fail_left;
	int batch_on;
	json_t *held;                  /* [{page, user, standby, event, item}] */
	int echoes;
	json_t *hooks;                 /* webhook records */
	json_t *calls;                 /* Graph call records */
	json_t *uploads;               /* attachment id -> {type, url, page} */
	json_t *subscriptions;         /* app id -> {object, callback_url, fields, active} */
	struct sim_last_hook last;
};

/* Builds the world of cfg (kept by pointer): a page per connector, two users, the clock
 * offset read back from clock_file. MSGR_OK; MSGR_ERR_NOMEM. */
msgr_result sim_world_open(const struct msgr_config *cfg, struct sim_world **out);
void sim_world_close(struct sim_world *w);

void sim_world_lock(struct sim_world *w);
void sim_world_unlock(struct sim_world *w);

/* ---- locked ---- */

long long sim_world_next_seq(struct sim_world *w);
/* A new unique id: prefix, 16 random hex digits, a counter ("m_" for mids). */
void sim_world_mid(struct sim_world *w, const char *prefix, char out[SIM_MID_MAX + 1]);
/* Facebook's "now" in ms: real time plus the offset. */
long long sim_world_now_ms(const struct sim_world *w);

int sim_world_page_by_id(const struct sim_world *w, const char *page_id);   /* index or -1 */
int sim_world_user_by_key(const struct sim_world *w, const char *key);      /* index or -1 */
/* The user whose PSID on page is psid, or -1. */
int sim_world_user_by_psid(const struct sim_world *w, int page, const char *psid);
/* The PSID of user on page (SIM_PSID_LEN digits; PSIDs are page-scoped). */
void sim_world_psid(const struct sim_world *w, int page, int user,
    char out[SIM_PSID_LEN + 1]);
/* Adds a user named name (NULL: the next name of a fixed list). MSGR_OK with *idx;
 * MSGR_ERR_LIMIT when SIM_USERS_MAX are there; MSGR_ERR_INVALID for a bad name. */
msgr_result sim_world_add_user(struct sim_world *w, const char *name, int *idx);
/* The conversation of user with page, made on first use; NULL when out of memory. */
struct sim_conv *sim_world_conv(struct sim_world *w, int page, int user);
/* The app id that owns the thread (the connector's when nobody else does). */
const char *sim_world_owner(const struct sim_world *w, int page, const struct sim_conv *c);
/* Appends item (its reference is taken) to the conversation, giving it "seq" and, unless
 * it has one, "ts"; drops the oldest item past SIM_ITEMS_MAX. Returns the seq, or 0 when
 * out of memory (the item is dropped). */
long long sim_world_add_item(struct sim_world *w, int page, int user, json_t *item);
/* The item of seq in the conversation, or NULL. */
json_t *sim_world_item(struct sim_world *w, int page, int user, long long seq);
/* The profile picture of a user, a path under /_sim/static/. */
void sim_world_avatar(const struct sim_user *u, char *out, size_t outsz);

/* Records a webhook about to be posted (body kept up to SIM_BODY_KEEP). Returns its seq
 * (its id), 0 when out of memory. */
long long sim_world_hook_begin(struct sim_world *w, int page, const char *body, size_t len,
    size_t events, int redelivery);
/* The connector's answer: status (0: not reached) and the duration. */
void sim_world_hook_end(struct sim_world *w, long long seq, long status, long ms);
/* Records a Graph call (rec: its reference is taken; gets "seq", "id" and "ts"). Returns
 * the seq, 0 when out of memory. */
long long sim_world_call_add(struct sim_world *w, json_t *rec);

/* body (len bytes) as a record keeps it: a JSON string of its first SIM_BODY_KEEP bytes (cut
 * on a character boundary, "... (cut)" added) with every secret of the config replaced; a
 * text that is not UTF-8 is kept as "(not UTF-8)". NULL when out of memory. */
json_t *sim_world_kept_text(const struct sim_world *w, const char *body, size_t len);
/* A copy of text with every secret of the config (tokens, app secrets, verify tokens)
 * replaced by "[redacted]"; NULL when out of memory. What is recorded goes through it. */
char *sim_world_redact(const struct sim_world *w, const char *text);

/* ---- answers (each takes the mutex and returns a new JSON value, NULL when out of
 * memory) ---- */

json_t *sim_world_json(struct sim_world *w);
json_t *sim_world_user_json(const struct sim_world *w, int user);   /* locked */
/* GET /_sim/api/conversation; NULL when out of memory. */
json_t *sim_world_conv_json(struct sim_world *w, int page, int user, long long since);
/* GET /_sim/api/log. */
json_t *sim_world_log_json(struct sim_world *w, long long since);

/* The failure's name as the API writes it ("613", ..., "hang"), NULL for none. */
const char *sim_fail_name(enum sim_fail f);
/* The failure named s, or -1. "none" is SIM_FAIL_NONE. */
int sim_fail_parse(const char *s);

#endif
