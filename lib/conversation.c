/* conversation.c — recording what an event says about its conversation (conversation.h). */
#include <string.h>

#include "conversation.h"

msgr_result
msgr_conversation_owner(struct msgr_store *st, const struct msgr_connector *c,
    const char *page_id, const char *user_id, const char *app)
{
	if (app == NULL || strcmp(app, c->app_id) == 0)
		return msgr_store_set_owner(st, page_id, user_id, MSGR_OWNER_US, NULL);
	return msgr_store_set_owner(st, page_id, user_id, MSGR_OWNER_APP, app);
}

/* The kinds a user's own action makes: they open the 24-hour window. */
static int
user_originated(const struct msgr_event *ev)
{
	switch (ev->kind) {
	case MSGR_EVENT_MESSAGE: case MSGR_EVENT_POSTBACK: case MSGR_EVENT_REFERRAL:
	case MSGR_EVENT_OPTIN: case MSGR_EVENT_REACTION: case MSGR_EVENT_MESSAGE_EDIT:
	case MSGR_EVENT_ACCOUNT_LINKING:
		return 1;
	default:
		return 0;
	}
}

/* Something on standby: another app holds the thread. Keep its id when a pass or a take told
 * which one. */
static msgr_result
record_standby(struct msgr_store *st, const char *page, const char *user)
{
	struct msgr_conversation cv;
	msgr_result rc;

	if ((rc = msgr_store_conversation(st, page, user, &cv)) != MSGR_OK)
		return rc;
	if (cv.owner != MSGR_OWNER_US)
		return MSGR_OK;
	return msgr_store_set_owner(st, page, user, MSGR_OWNER_STANDBY, NULL);
}

msgr_result
msgr_conversation_record(struct msgr_store *st, const struct msgr_connector *c,
    const struct msgr_event *ev)
{
	const char *page = ev->page_id, *user = ev->user_id;
	msgr_result rc;

	if (user[0] == '\0')
		return MSGR_OK;
	if (user_originated(ev) && ev->timestamp > 0 &&
	    (rc = msgr_store_user_wrote(st, page, user, ev->timestamp)) != MSGR_OK)
		return rc;
	switch (ev->kind) {
	case MSGR_EVENT_PASS_THREAD_CONTROL:
	case MSGR_EVENT_TAKE_THREAD_CONTROL:
		return msgr_conversation_owner(st, c, page, user, ev->new_owner_app_id);
	case MSGR_EVENT_ECHO:
		/* A person answering from the Page Inbox: shown by `msgrctl status`. */
		if (ev->app_id != NULL && strcmp(ev->app_id, MSGR_PAGE_INBOX_APP_ID) == 0)
			return msgr_store_human_answered(st, page, user, ev->timestamp);
		return MSGR_OK;
	default:
		break;
	}
	if (ev->standby)
		return record_standby(st, page, user);
	/* Anything on `messaging` from the user means the thread is ours again (Facebook
	 * releases an idle thread after 24 hours). */
	if (user_originated(ev))
		return msgr_conversation_owner(st, c, page, user, NULL);
	return MSGR_OK;
}
