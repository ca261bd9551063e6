/* profile.c — the user's names, fetched once and cached (profile.h). */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "log.h"
#include "profile.h"

#define NS "profile"   /* the cache's namespace; key "PAGE:PSID" */

/* The profile from the Graph API as a JSON object to cache, or NULL when nothing should be
 * cached (a transient failure: next time may work). */
static json_t *
fetch(const struct msgr_caller *calls, const struct msgr_connector *c, const char *psid)
{
	struct msgr_call call = { .kind = MSGR_CALL_PROFILE, .conn = c, .psid = psid };
	struct msgr_graph_result res;
	json_t *j = NULL;
	msgr_result rc;

	msgr_graph_result_init(&res);
	rc = msgr_call_make(calls, &call, &res);
	if (rc == MSGR_OK && json_is_object(res.json)) {
		j = json_incref(res.json);
	} else if (res.profile_permission || rc == MSGR_ERR_PERMANENT) {
		j = json_object();
		msgr_log(MSGR_LOG_WARN, "profile connector=%s: %s (names left empty)", c->id,
		    res.message);
	} else {
		msgr_log(MSGR_LOG_WARN, "profile connector=%s: %s, answering without names", c->id,
		    msgr_strerror(rc));
	}
	msgr_graph_result_clear(&res);
	return j;
}

/* Keeps j under key; a cache that cannot take it only costs a fetch next time. */
static void
keep(struct msgr_store *st, const char *key, const json_t *j, long long now)
{
	char *text = json_dumps(j, JSON_COMPACT);
	msgr_result rc;

	if (text == NULL)
		return;
	if ((rc = msgr_store_cache_put(st, NS, key, text, now + MSGR_PROFILE_KEEP_MS)) != MSGR_OK)
		msgr_log(MSGR_LOG_WARN, "profile not cached: %s (%s)", msgr_strerror(rc),
		    msgr_store_errmsg(st));
	free(text);
}

void
msgr_profile_names(struct msgr_store *st, const struct msgr_caller *calls,
    const struct msgr_connector *c, const char *psid, long long now,
    char first[MSGR_PROFILE_NAME_MAX], char last[MSGR_PROFILE_NAME_MAX])
{
	char key[MSGR_MAX_ID_LEN * 2 + 2];
	char *cached = NULL;
	const char *f = NULL, *l = NULL;
	json_t *j = NULL;
	msgr_result rc;

	first[0] = last[0] = '\0';
	if (psid == NULL || psid[0] == '\0')
		return;
	snprintf(key, sizeof(key), "%s:%s", c->page_id, psid);
	rc = msgr_store_cache_get(st, NS, key, now, &cached);
	if (rc == MSGR_OK && cached != NULL) {
		j = json_loads(cached, 0, NULL);
	} else {
		/* A cache that cannot be read is a miss: the names are fetched again. */
		if (rc != MSGR_ERR_NOTFOUND)
			msgr_log(MSGR_LOG_WARN, "profile cache: %s (%s)", msgr_strerror(rc),
			    msgr_store_errmsg(st));
		if ((j = fetch(calls, c, psid)) != NULL)
			keep(st, key, j, now);
	}
	if (j != NULL) {
		f = json_string_value(json_object_get(j, "first_name"));
		l = json_string_value(json_object_get(j, "last_name"));
	}
	snprintf(first, MSGR_PROFILE_NAME_MAX, "%s", f ? f : "");
	snprintf(last, MSGR_PROFILE_NAME_MAX, "%s", l ? l : "");
	json_decref(j);
	free(cached);
}
