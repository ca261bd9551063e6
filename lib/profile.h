/* profile.h — the user's names for the bot ({first_name}, {last_name}), fetched from the Graph
 * API once per user and kept in the store's cache for MSGR_PROFILE_KEEP_MS, not longer:
 * profile_pic URLs expire (docs/facebook.md "Profile"). Names are a nicety: without them the
 * answer still goes. */
#ifndef MSGR_PROFILE_H
#define MSGR_PROFILE_H

#include "calls.h"
#include "config.h"
#include "store.h"

#define MSGR_PROFILE_NAME_MAX 256                     /* bytes of a name kept, NUL included */
#define MSGR_PROFILE_KEEP_MS  (7LL * 24 * 3600 * 1000)

/* Fills first and last with the names of psid on c's page ("" when unknown). From the cache,
 * else from the Graph API through calls: a permission error (100/2018247) or another permanent
 * refusal caches empty names; a transient failure leaves them empty this time only. Every
 * failure is logged and none stops the answer. */
void msgr_profile_names(struct msgr_store *st, const struct msgr_caller *calls,
    const struct msgr_connector *c, const char *psid, long long now,
    char first[MSGR_PROFILE_NAME_MAX], char last[MSGR_PROFILE_NAME_MAX]);

#endif
