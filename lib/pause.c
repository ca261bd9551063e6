/* pause.c — pauses of sending: when to wait, when to probe, when a pause ends (pause.h). */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "pause.h"
#include "signature.h"

/* A short, stable, non-secret name for a token: whether the token changed since a pause.
 * "" when it cannot be made (then a new token is only noticed by a probe). */
static void
token_fingerprint(const char *token, char out[17])
{
	if (msgr_signature_sha256_hex(token, strlen(token), 8, out) != MSGR_OK)
		out[0] = '\0';
}

static void
log_store_failure(struct msgr_store *st, const char *id, msgr_result rc)
{
	msgr_log(MSGR_LOG_ERROR, "pause of %s: the store failed: %s (%s)", id, msgr_strerror(rc),
	    msgr_store_errmsg(st));
}

/* One scope: MSGR_OK when not paused or when this call is its probe, `paused` when it must
 * wait, or the store's error. A connector pause whose token changed ends here. */
static msgr_result
check_one(struct msgr_store *st, const struct msgr_connector *c, enum msgr_pause_scope scope,
    const char *id, long long now, msgr_result paused)
{
	struct msgr_pause p;
	char fp[17];
	msgr_result rc;

	rc = msgr_store_pause_get(st, scope, id, &p);
	if (rc == MSGR_ERR_NOTFOUND)
		return MSGR_OK;
	if (rc != MSGR_OK)
		return rc;
	if (scope == MSGR_PAUSE_CONNECTOR) {
		token_fingerprint(c->call_token, fp);
		if (p.token_fp[0] != '\0' && strcmp(p.token_fp, fp) != 0) {
			msgr_log(MSGR_LOG_INFO, "connector=%s: token changed, sending resumes",
			    c->id);
			return msgr_store_pause_clear(st, scope, id);
		}
	}
	if (p.probe_at > now)
		return paused;
	/* This call is the probe; the next one is a whole period away. */
	return msgr_store_pause_probe(st, scope, id, now + MSGR_PAUSE_PROBE_MS);
}

msgr_result
msgr_pause_check(struct msgr_store *st, const struct msgr_connector *c, const char *page_id,
    long long now)
{
	msgr_result rc;

	/* Nothing paused, the common case: one look instead of two. */
	if ((rc = msgr_store_pause_any(st, c->id, page_id)) == MSGR_ERR_NOTFOUND)
		return MSGR_OK;
	if (rc != MSGR_OK)
		return rc;
	if ((rc = check_one(st, c, MSGR_PAUSE_CONNECTOR, c->id, now, MSGR_ERR_PAUSE_CONNECTOR)) !=
	    MSGR_OK)
		return rc;
	return check_one(st, c, MSGR_PAUSE_PAGE, page_id, now, MSGR_ERR_PAUSE_PAGE);
}

msgr_result
msgr_pause_start(struct msgr_store *st, const struct msgr_connector *c, const char *page_id,
    msgr_result rc, const struct msgr_graph_result *res, long long now)
{
	struct msgr_pause p;
	msgr_result r;

	memset(&p, 0, sizeof(p));
	snprintf(p.reason, sizeof(p.reason), "(#%ld/%ld) %.200s", res->code, res->subcode,
	    res->message);
	p.since = now;
	p.probe_at = now + MSGR_PAUSE_PROBE_MS;
	if (rc == MSGR_ERR_PAUSE_CONNECTOR) {
		p.scope = MSGR_PAUSE_CONNECTOR;
		snprintf(p.id, sizeof(p.id), "%s", c->id);
		token_fingerprint(c->call_token, p.token_fp);
		msgr_log(MSGR_LOG_ERROR, "connector=%s paused: token refused %s", c->id, p.reason);
	} else {
		p.scope = MSGR_PAUSE_PAGE;
		snprintf(p.id, sizeof(p.id), "%s", page_id);
		msgr_log(MSGR_LOG_ERROR, "page=%s paused: %s", page_id, p.reason);
	}
	/* A pause that is not recorded pauses nothing: say so, and let the caller stop. */
	if ((r = msgr_store_pause_set(st, &p)) != MSGR_OK)
		log_store_failure(st, p.id, r);
	return r;
}

/* Ends the pause of one scope when there is one. */
static msgr_result
end_one(struct msgr_store *st, enum msgr_pause_scope scope, const char *id)
{
	msgr_result rc = msgr_store_pause_get(st, scope, id, NULL);

	if (rc == MSGR_ERR_NOTFOUND)
		return MSGR_OK;
	if (rc == MSGR_OK) {
		msgr_log(MSGR_LOG_INFO, "%s=%s: sending works again, pause ended",
		    msgr_pause_scope_name(scope), id);
		rc = msgr_store_pause_clear(st, scope, id);
	}
	if (rc != MSGR_OK)
		log_store_failure(st, id, rc);
	return rc;
}

msgr_result
msgr_pause_end(struct msgr_store *st, const struct msgr_connector *c, const char *page_id)
{
	msgr_result rc;

	if ((rc = end_one(st, MSGR_PAUSE_CONNECTOR, c->id)) != MSGR_OK)
		return rc;
	return end_one(st, MSGR_PAUSE_PAGE, page_id);
}
