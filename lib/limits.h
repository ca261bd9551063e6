/* limits.h — every input bound of the connector, named in one place.
 *
 * Wire and config input is checked against these before use. Platform limits of the Send
 * API (docs/facebook.md "Calls") live here too so the message builders, the stories validator and
 * the fake Graph API's documentation agree on one set of numbers. */
#ifndef MSGR_LIMITS_H
#define MSGR_LIMITS_H

/* --- webhook intake (docs/responder.md "Answers", docs/facebook.md "Webhooks") --- */
#define MSGR_MAX_BODY_DEFAULT     4194304u /* bytes; config max_body overrides; 413 above */
#define MSGR_MAX_BODY_CEILING     67108864u /* bytes; the most max_body may be set to */
#define MSGR_MAX_JSON_DEPTH       32       /* nesting of a webhook body; Facebook's is < 10 */
#define MSGR_MAX_ENTRIES          1000     /* entry[] of one delivery */
#define MSGR_MAX_EVENTS_PER_ENTRY 1000     /* messaging[] / standby[] of one entry */
#define MSGR_MAX_EVENTS_PER_BODY  1000     /* Facebook batches up to 1000 events */
#define MSGR_MAX_ATTACHMENTS      32       /* message.attachments[] */
#define MSGR_MAX_ID_LEN           64       /* page ids, PSIDs, app ids: digits only */
#define MSGR_MAX_MID_LEN          256      /* message ids */
#define MSGR_MAX_TEXT_BYTES       65536    /* message text as received (2000 chars sent, more received) */
#define MSGR_MAX_PAYLOAD_BYTES    4096     /* postback / quick-reply payload received */
#define MSGR_MAX_URL_BYTES        8192     /* attachment URLs */
#define MSGR_MAX_STRING_BYTES     65536    /* any other string field of an event */
#define MSGR_MAX_QUERY_BYTES      4096     /* QUERY_STRING of a verification GET */
#define MSGR_MAX_CHALLENGE_BYTES  1024     /* hub.challenge echoed back */
#define MSGR_MAX_PATH_BYTES       1024     /* PATH_INFO */

/* --- config --- */
#define MSGR_MAX_CONNECTORS       1024
#define MSGR_MAX_CONFIG_STRING    4096     /* any string value in the config */
#define MSGR_MAX_SECRET_FILE      4096     /* a file: secret */

/* --- Send API platform limits (docs/facebook.md "Calls") --- */
#define MSGR_TEXT_MAX_CHARS       2000
#define MSGR_QUICK_REPLIES_MAX    13
#define MSGR_QR_TITLE_MAX_CHARS   20
#define MSGR_PAYLOAD_MAX_CHARS    1000
#define MSGR_METADATA_MAX_CHARS   1000     /* "under 1000": at most 999 */
#define MSGR_BUTTONS_MAX          3
#define MSGR_BUTTON_TITLE_MAX_CHARS 20
#define MSGR_BUTTON_TEXT_MAX_CHARS  640
#define MSGR_CARDS_MAX            10
#define MSGR_CARD_TITLE_MAX_CHARS 80
#define MSGR_CARD_SUBTITLE_MAX_CHARS 80
#define MSGR_GREETING_MAX_CHARS   160
#define MSGR_MENU_ITEMS_MAX       20
#define MSGR_ICE_BREAKERS_MAX     4

/* --- outgoing I/O --- */
#define MSGR_MAX_GRAPH_REPLY      1048576  /* bytes of a Graph API answer */
#define MSGR_MAX_BOT_REPLY        1048576  /* bytes of a Bot API answer */

/* --- stories bot (lib/bot_stories.c, lib/fold.c) --- */
#define MSGR_MAX_FOLDED_BYTES     (4 * MSGR_MAX_TEXT_BYTES) /* folded text (NFKD may grow it) */
#define MSGR_MAX_STORIES_FILE     4194304  /* bytes of a stories file */
#define MSGR_MAX_STORIES          4096     /* stories of one file */
#define MSGR_MAX_STORY_TRIGGERS   1024     /* triggers (and, apart, payloads) of one story */
#define MSGR_MAX_STORY_ANSWERS    10       /* answers of one story: each sends 1+ messages */
#define MSGR_MAX_BOT_ACTIONS      64       /* actions returned for one event */
#define MSGR_MAX_BOT_ERRORS       65536    /* bytes of collected load errors */

/* --- webhook events (lib/event.c) --- */
#define MSGR_MAX_USER_REF_LEN     256      /* sender.user_ref / optin.user_ref (developer-chosen) */
#define MSGR_MAX_KEY_LEN          128      /* an unknown kind's key name */
#define MSGR_MAX_DELIVERY_MIDS    1000     /* delivery.mids[] */
#define MSGR_MAX_APP_ROLES        100      /* app_roles{} apps, and roles per app */

/* --- config (lib/config.c) --- */
#define MSGR_MAX_CONFIG_FILE      1048576  /* bytes of a config file (and of each @include) */
#define MSGR_MAX_CONFIG_ERRORS    100      /* faults listed by one load; the rest are counted */
#define MSGR_MAX_CONNECTOR_ID_LEN 64       /* connector id: [A-Za-z0-9_.-] */
#define MSGR_MAX_PROFILE_FIELDS   16       /* profile_fields of one connector */
#define MSGR_MAX_LOCALES          64       /* greeting / persistent_menu locales of one page */
#define MSGR_SEND_RATE_MAX        250      /* calls/s per page: under Facebook's 300 */
#define MSGR_BUSY_TIMEOUT_MAX_MS  3000     /* state.busy_timeout_ms: well inside Facebook's 5 s */
#define MSGR_MENU_TITLE_MAX_CHARS 30       /* persistent menu item title (Meta persistent-menu ref.) */
#define MSGR_MAX_SIM_PERSONAS     100      /* simulator.personas (docs/simulator.md) */
#define MSGR_SIM_PERSONA_NAME_MAX_CHARS 100 /* simulator.personas[].name */
#define MSGR_WHITELISTED_DOMAINS_MAX 50    /* whitelisted_domains (Meta messenger-profile ref.) */

/* --- responder (src/messenger_fcgi.c) --- */
#define MSGR_MAX_DRAIN_BYTES      8388608u /* bytes of a refused body read and discarded after
                                              the answer, so the server sees a whole exchange */

/* --- Bot API bot (lib/bot_api.c, docs/bot-api.md) --- */
#define MSGR_MAX_BOT_MESSAGES     10       /* messages[] of one Bot API reply */
#define MSGR_MAX_BOT_REPLY_DEPTH  32       /* JSON nesting of a Bot API reply */

/* --- responder threads and group commit (src/fcgi_threads.c, lib/commit.c) --- */
#define MSGR_RESPONDER_THREADS_MAX 64      /* responder.threads: request threads per process */

#endif
