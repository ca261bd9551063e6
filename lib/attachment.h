/* attachment.h — an image, audio, video or file sent by URL goes by a reusable attachment id
 * instead: uploaded once (POST me/message_attachments), kept in the store's cache for
 * MSGR_ATTACHMENT_KEEP_MS, under the 90 days Facebook keeps it (docs/facebook.md "Attachment
 * upload"; docs/worker.md, step 4). */
#ifndef MSGR_ATTACHMENT_H
#define MSGR_ATTACHMENT_H

#include <stddef.h>
#include <jansson.h>

#include "calls.h"
#include "config.h"
#include "graph.h"
#include "pacing.h"
#include "result.h"
#include "store.h"

#define MSGR_ATTACHMENT_KEEP_MS (80LL * 24 * 3600 * 1000)
/* Bytes of a cache key: page, type and URL. */
#define MSGR_ATTACHMENT_KEY_MAX (MSGR_MAX_URL_BYTES + 160)

/* Where the ids are kept and how uploads are made. */
struct msgr_attachments {
	struct msgr_store *st;
	const struct msgr_caller *calls;
	struct msgr_pacer *pacer;        /* the page's: an upload is a call like a send */
	const struct msgr_connector *conn;
	long long now;
};

/* When *body (a Send API body) carries a reusable attachment by URL, replaces *body with a
 * copy that sends it by id, uploading it first unless its id is cached; key[MSGR_ATTACHMENT_
 * KEY_MAX] gets the cache key ("" when the body has no such attachment: unchanged). MSGR_OK;
 * the upload's result (res filled) when it fails; MSGR_ERR_NOMEM. */
msgr_result msgr_attachment_by_id(const struct msgr_attachments *a, json_t **body, char *key,
    struct msgr_graph_result *res);

/* Drops a cached id (a send with it was refused: it may have expired early). */
void msgr_attachment_forget(const struct msgr_attachments *a, const char *key);

#endif
