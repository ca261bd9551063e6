/* attachment.c — attachments sent by a reusable id, uploaded once (attachment.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attachment.h"
#include "log.h"

#define NS "attachment"   /* the cache's namespace; key "PAGE:TYPE:URL" */

static int
reusable_type(const char *type)
{
	return strcmp(type, "image") == 0 || strcmp(type, "audio") == 0 ||
	    strcmp(type, "video") == 0 || strcmp(type, "file") == 0;
}

/* The id of type/url: cached, or uploaded now and cached (*id malloc'd). */
static msgr_result
id_of(const struct msgr_attachments *a, const char *key, const char *type, const char *url,
    char **id, struct msgr_graph_result *res)
{
	struct msgr_call call = { .kind = MSGR_CALL_UPLOAD, .conn = a->conn, .type = type,
	    .url = url };
	msgr_result rc;

	rc = msgr_store_cache_get(a->st, NS, key, a->now, id);
	if (rc == MSGR_OK)
		return MSGR_OK;
	/* A cache that cannot be read is a miss: one upload more. */
	if (rc != MSGR_ERR_NOTFOUND)
		msgr_log(MSGR_LOG_WARN, "attachment cache: %s (%s)", msgr_strerror(rc),
		    msgr_store_errmsg(a->st));
	if ((rc = msgr_call_pace(a->calls, a->pacer)) != MSGR_OK ||
	    (rc = msgr_call_make(a->calls, &call, res)) != MSGR_OK)
		return rc;
	if ((*id = strdup(res->attachment_id)) == NULL)
		return MSGR_ERR_NOMEM;
	/* Not kept: the next send uploads it again, nothing worse. */
	if ((rc = msgr_store_cache_put(a->st, NS, key, *id, a->now + MSGR_ATTACHMENT_KEEP_MS)) !=
	    MSGR_OK)
		msgr_log(MSGR_LOG_WARN, "attachment id not cached: %s (%s)", msgr_strerror(rc),
		    msgr_store_errmsg(a->st));
	msgr_graph_result_clear(res);
	return MSGR_OK;
}

msgr_result
msgr_attachment_by_id(const struct msgr_attachments *a, json_t **body, char *key,
    struct msgr_graph_result *res)
{
	json_t *att = json_object_get(json_object_get(*body, "message"), "attachment");
	json_t *payload = json_object_get(att, "payload");
	const char *type = json_string_value(json_object_get(att, "type"));
	const char *url = json_string_value(json_object_get(payload, "url"));
	char *id = NULL;
	json_t *copy;
	msgr_result rc;

	key[0] = '\0';
	if (type == NULL || url == NULL || !json_is_true(json_object_get(payload, "is_reusable")) ||
	    !reusable_type(type))
		return MSGR_OK;
	snprintf(key, MSGR_ATTACHMENT_KEY_MAX, "%s:%s:%s", a->conn->page_id, type, url);
	if ((rc = id_of(a, key, type, url, &id, res)) != MSGR_OK)
		return rc;
	if ((copy = json_deep_copy(*body)) == NULL) {
		free(id);
		return MSGR_ERR_NOMEM;
	}
	payload = json_object_get(json_object_get(json_object_get(copy, "message"),
	    "attachment"), "payload");
	json_object_clear(payload);
	rc = json_object_set_new(payload, "attachment_id", json_string(id)) != 0 ? MSGR_ERR_NOMEM :
	    MSGR_OK;
	free(id);
	json_decref(*body);
	*body = copy;
	return rc;
}

void
msgr_attachment_forget(const struct msgr_attachments *a, const char *key)
{
	msgr_result rc;

	/* Left in place, the id is tried once more and refused again: log it, nothing more. */
	if ((rc = msgr_store_cache_del(a->st, NS, key)) != MSGR_OK)
		msgr_log(MSGR_LOG_WARN, "attachment id not dropped: %s (%s)", msgr_strerror(rc),
		    msgr_store_errmsg(a->st));
}
