/* id.h — what a Facebook id looks like, and the one id every connector knows.
 *
 * Facebook gives apps, pages, users (PSIDs) and personas decimal ids, sent as JSON strings or
 * numbers (docs/events.md "Entries"); the config, the webhook parser, the Send API body and the bots
 * all check them by this one rule. */
#ifndef MSGR_ID_H
#define MSGR_ID_H

#include <stddef.h>

#include "limits.h"

/* The app id of the Page Inbox: the owner of a thread a person took over, the target of
 * "inbox" in a handover (docs/bot-api.md "The reply"). Public so a program (the
 * simulator, a test) names it the same way. */
#define MSGR_PAGE_INBOX_APP_ID "263902037430900"

/* 1 when n > 0 and each of s[0..n) is a decimal digit. */
int msgr_id_digits(const char *s, size_t n);

/* 1 when s is an id: 1 to MSGR_MAX_ID_LEN decimal digits. */
int msgr_id_valid(const char *s);

/* 1 when s is a thread-control target: "inbox" (the Page Inbox) or an app id. */
int msgr_id_target(const char *s);

#endif
